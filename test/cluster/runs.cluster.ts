/**
 * Scale-out on the two-node cluster: 200 runs of two runbooks (kust-replica and tarantool-replica, distinct
 * targets, tarantool with its four durable waits) started through `medic api`, executed by three separate
 * `medic worker` processes. Every run must end repaired with exactly its command sequence on the hosts (the
 * bench tools' log), and the work must really be spread: the histories name more than one worker.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '@temporalio/client';
import { startRun } from '../../client/runbooks';
import { readBenchLog } from '../../lab/bench-tools';
import type { RunResult } from '../../workflows/definitions';
import { benchTarget, timers } from '../bench/harness';
import { kustCorrect, tarantoolCorrect } from '../helpers/bench-sequences';
import { runNode } from '../helpers/medic-cli';
import { activityWorkers, ClusterEnv, clusterEnv } from './harness';

let env: ClusterEnv;

before(async () => {
  env = await clusterEnv({ lab: { scenario: 'healthy', tools: 'bench', extraConfig: { timers: timers('2s') } } });
  await Promise.all([env.addWorker(), env.addWorker(), env.addWorker()]);
});
after(async () => env?.stop());

test('200 mixed runs over three worker processes on the cluster: all repaired, each command once, more than one worker did the work', { timeout: 10 * 60_000 }, async () => {
  const targets = Array.from({ length: 200 }, (_, i) => ({ runbook: i % 2 ? 'tarantool-replica' : 'kust-replica', ...benchTarget(i + 1, i % 2 ? 't' : 'k') }));
  let next = 0;
  // 20 POSTs in flight, as a burst of alerts would arrive.
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < targets.length) {
        const t = targets[next++];
        const r = await env.startRun(t.runbook, { service: t.service, instance: t.instance });
        assert.equal(r.status, 201, `${t.runbook}/${t.instance}: ${JSON.stringify(r.json)}`);
      }
    }),
  );
  const results = await Promise.all(targets.map((t) => env.client.workflow.getHandle(`${t.runbook}/${t.instance}`).result() as Promise<RunResult>));
  const notRepaired = targets.filter((_, i) => results[i].outcome !== 'repaired').map((t) => t.instance);
  assert.deepEqual(notRepaired, [], 'every run ends repaired');

  const calls = readBenchLog(env.lab.dir);
  const wrong = targets.filter((t) => !(t.runbook === 'kust-replica' ? kustCorrect : tarantoolCorrect)(calls, t.service, t.instance)).map((t) => t.instance);
  assert.deepEqual(wrong, [], 'every run did exactly its commands, in order, each once');
  assert.equal(calls.length, 100 * 2 + 100 * 6, 'nothing else ran on the hosts');

  const pids = new Set(env.workers.map((w) => w.child.pid));
  const seen = new Map<number, number>();
  for (const t of targets) for (const pid of await activityWorkers(env.client, `${t.runbook}/${t.instance}`)) seen.set(pid, (seen.get(pid) ?? 0) + 1);
  assert.ok([...seen.keys()].every((p) => pids.has(p)), `activities ran only on the three workers (${[...seen.keys()].join(', ')})`);
  assert.ok(seen.size > 1, `more than one worker executed activities (per worker: ${JSON.stringify(Object.fromEntries(seen))})`);
  console.log(`# activities per worker: ${[...seen.values()].join(' / ')}`);
});

test('medic setup on a new namespace, then a start at once: the start is accepted (setup waits until the frontend takes the search attributes)', { timeout: 2 * 60_000 }, async () => {
  const namespace = 'medic-fresh';
  const setup = await runNode(['setup', '--config', env.lab.configPath], { ...env.env, TEMPORAL_NAMESPACE: namespace });
  assert.equal(setup.code, 0, setup.stdout + setup.stderr);
  const client = new Client({ connection: env.client.connection, namespace });
  const t = benchTarget(1, 'fresh');
  const r = await startRun(client, env.config, 'kust-replica', t, 'test');
  assert.equal(r.started, true);
  await client.workflow.getHandle(`kust-replica/${t.instance}`).terminate('no worker polls this namespace; the start was the check');
});
