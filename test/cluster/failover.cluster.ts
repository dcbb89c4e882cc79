/**
 * Failures on the two-node cluster, with the service as separate processes (three `medic worker`, one
 * `medic api`, all connected to node 1):
 *   - a worker SIGKILLed while runs sit in a durable wait: the other workers take the runs over (after the
 *     sticky timeout) and every run finishes with each command once;
 *   - a worker SIGKILLed while it runs a changing command on a host: the command finishes on the host, the
 *     next attempt on another worker reads its outcome from the host's journal, nothing runs twice;
 *   - node 2 (which no client talks to) SIGKILLed mid-run: its history shards move to node 1, the runs go on
 *     and finish; node 2 started again rejoins and takes shards back.
 * The figures (failover times) go to .data/figures/cluster-failover.json and the test output.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { temporal } from '@temporalio/proto';
import { holdBenchTool, readBenchLog } from '../../lab/bench-tools';
import type { RunResult } from '../../workflows/definitions';
import { benchTarget, stats, timers } from '../bench/harness';
import { kustCorrect, tarantoolCorrect } from '../helpers/bench-sequences';
import { recordFigures } from '../helpers/figures';
import { ClusterEnv, clusterEnv, until } from './harness';

const EventType = temporal.api.enums.v1.EventType;
const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
const figures: Record<string, number> = {};
const figure = (name: string, value: number) => {
  figures[name] = Math.round(value * 10) / 10;
  console.log(`# ${name}: ${figures[name]}`);
};

let env: ClusterEnv;

before(async () => {
  env = await clusterEnv({
    lab: {
      scenario: 'healthy',
      tools: 'bench',
      extraConfig: { timers: timers('3s'), ssh: { heartbeatTimeout: '2s' }, service: { stickyTimeout: '1s', workflowTaskTimeout: '3s' } },
    },
    // 16 shards: with two nodes each owns some of them (4 would leave node 2 none about one start in eight).
    cluster: { shards: 16 },
  });
  await Promise.all([env.addWorker(), env.addWorker(), env.addWorker()]);
});
after(async () => {
  recordFigures('cluster-failover', figures);
  await env?.stop();
});

async function startTarantool(prefix: string, n: number) {
  const targets = Array.from({ length: n }, (_, i) => benchTarget(i + 1, prefix));
  for (const t of targets) assert.equal((await env.startRun('tarantool-replica', t)).status, 201);
  return targets;
}

/** Each TIMER_FIRED of the run: how late it fired (ms past its start + duration), and when. */
async function timerLateness(workflowId: string): Promise<{ firedAt: number; lateMs: number }[]> {
  const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const started = new Map<string, number>();
  const out: { firedAt: number; lateMs: number }[] = [];
  for (const e of events) {
    if (e.eventType === EventType.EVENT_TYPE_TIMER_STARTED) {
      const a = e.timerStartedEventAttributes!;
      started.set(String(a.timerId), ms(e.eventTime) + ms(a.startToFireTimeout));
    } else if (e.eventType === EventType.EVENT_TYPE_TIMER_FIRED) {
      const due = started.get(String(e.timerFiredEventAttributes?.timerId));
      if (due !== undefined) out.push({ firedAt: ms(e.eventTime), lateMs: ms(e.eventTime) - due });
    }
  }
  return out;
}

test('a worker SIGKILLed while runs wait: the others finish every run, each command once', { timeout: 5 * 60_000 }, async () => {
  const targets = await startTarantool('w', 12);
  // All of them in their first wait (the clean is done, the is-active check comes after the wait).
  await until('every run in its first wait', () => readBenchLog(env.lab.dir).filter((c) => c.tool === 'clean_tnt_replica.sh').length, (n) => n === targets.length);
  const victim = env.workers.shift()!;
  const killedAt = Date.now();
  victim.child.kill('SIGKILL');
  await victim.exited;
  const results = await Promise.all(targets.map((t) => env.client.workflow.getHandle(`tarantool-replica/${t.instance}`).result() as Promise<RunResult>));
  assert.deepEqual(results.map((r) => r.outcome), targets.map(() => 'repaired'));
  const calls = readBenchLog(env.lab.dir);
  assert.deepEqual(targets.filter((t) => !tarantoolCorrect(calls, t.service, t.instance)).map((t) => t.instance), [], 'each command once, in order');
  // From each timer that fired after the kill to the run's next command on a host.
  const gaps: number[] = [];
  for (const t of targets) {
    for (const f of (await timerLateness(`tarantool-replica/${t.instance}`)).filter((x) => x.firedAt > killedAt)) {
      const next = calls.filter((c) => (c.argv.includes(t.instance) || c.argv.includes(t.service) || c.argv.some((a) => a.endsWith(`.${t.instance}`))) && c.startMs >= f.firedAt).sort((a, b) => a.startMs - b.startMs)[0];
      if (next) gaps.push(next.startMs - f.firedAt);
    }
  }
  assert.ok(gaps.length > 0, 'timers fired after the kill');
  const s = stats(gaps);
  figure('worker lost in a wait: timer to next command, p50 ms', s.p50);
  figure('worker lost in a wait: timer to next command, max ms', s.max);
  await env.addWorker();
});

test('a worker SIGKILLed inside a changing command: the command ends on the host, another worker reads its outcome from the journal', { timeout: 5 * 60_000 }, async () => {
  const t = benchTarget(1, 'c');
  const hold = holdBenchTool(env.lab.dir, 'clean_kust_replica.sh');
  assert.equal((await env.startRun('kust-replica', t)).status, 201);
  const id = `kust-replica/${t.instance}`;
  await until('the clean held on the host', () => hold.started(), Boolean);
  const identity = await until(
    'the worker running the clean',
    async () => ((await env.client.workflow.getHandle(id).describe()).raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'runCommand')?.lastWorkerIdentity ?? '',
    (x) => x !== '',
  );
  const pid = Number(identity.split('@')[0]);
  const victim = env.workers.find((w) => w.child.pid === pid);
  assert.ok(victim, `the clean runs on one of our workers (${identity})`);
  const killedAt = Date.now();
  victim.child.kill('SIGKILL');
  await victim.exited;
  env.workers.splice(env.workers.indexOf(victim), 1);
  hold.release();
  const r = (await env.client.workflow.getHandle(id).result()) as RunResult;
  figure('worker lost in a command: kill to finished run, s', (Date.now() - killedAt) / 1000);
  assert.equal(r.outcome, 'repaired', r.summary);
  assert.ok(kustCorrect(readBenchLog(env.lab.dir), t.service, t.instance), 'the clean ran once');
  assert.match(r.state.steps.find((s) => s.name === 'clean the replica')?.recovered ?? '', /journal/);
  await env.addWorker();
});

test('node 2 SIGKILLed mid-run: its shards move to node 1, the runs finish; restarted, it rejoins and serves shards again', { timeout: 8 * 60_000 }, async () => {
  const [node1, node2] = env.cluster.nodes;
  const owners = await until('node 2 owning shards', () => env.cluster.shardOwners(), (o) => Object.values(o).includes(node2.ip) && Object.keys(o).length === env.cluster.shards, 90_000);
  const onNode2 = Object.entries(owners).filter(([, ip]) => ip === node2.ip).length;
  console.log(`# shards before the kill: ${onNode2} of ${env.cluster.shards} on node 2`);
  const targets = await startTarantool('n', 30);
  await until('every run started', () => readBenchLog(env.lab.dir).filter((c) => c.tool === 'clean_tnt_replica.sh' && c.argv[0].startsWith('n')).length, (n) => n === targets.length);

  const killedAt = Date.now();
  await node2.kill();
  await until('all shards on node 1', () => env.cluster.shardOwners(), (o) => Object.values(o).every((ip) => ip === node1.ip), 120_000);
  figure('node lost: all shards on node 1 after, s', (Date.now() - killedAt) / 1000);

  const results = await Promise.all(targets.map((t) => env.client.workflow.getHandle(`tarantool-replica/${t.instance}`).result() as Promise<RunResult>));
  figure('node lost: every run finished after, s', (Date.now() - killedAt) / 1000);
  assert.deepEqual(results.map((r) => r.outcome), targets.map(() => 'repaired'));
  const calls = readBenchLog(env.lab.dir);
  assert.deepEqual(targets.filter((t) => !tarantoolCorrect(calls, t.service, t.instance)).map((t) => t.instance), [], 'each command once, in order');
  const late = (await Promise.all(targets.map((t) => timerLateness(`tarantool-replica/${t.instance}`)))).flat().filter((f) => f.firedAt > killedAt).map((f) => f.lateMs);
  const s = stats(late);
  figure('node lost: timers due after the kill, late p50 ms', s.p50);
  figure('node lost: timers due after the kill, late max ms', s.max);

  const restartAt = Date.now();
  await node2.start();
  figure('node restarted: frontend answers after, s', (Date.now() - restartAt) / 1000);
  await until('node 2 owning shards again', () => env.cluster.shardOwners(), (o) => Object.values(o).includes(node2.ip), 120_000);
  figure('node restarted: owns shards again after, s', (Date.now() - restartAt) / 1000);

  // And the cluster serves as before: ten more repairs.
  const more = Array.from({ length: 10 }, (_, i) => benchTarget(i + 1, 'r'));
  for (const t of more) assert.equal((await env.startRun('kust-replica', t)).status, 201);
  const after = await Promise.all(more.map((t) => env.client.workflow.getHandle(`kust-replica/${t.instance}`).result() as Promise<RunResult>));
  assert.deepEqual(after.map((r) => r.outcome), more.map(() => 'repaired'));
  const log = readBenchLog(env.lab.dir);
  assert.deepEqual(more.filter((t) => !kustCorrect(log, t.service, t.instance)).map((t) => t.instance), []);
});
