/**
 * mysql-topology sequencing on the time-skipping test server: the fleet run reads orch_topo.sh, starts one
 * child run per cluster that needs anything and waits for them; each child re-reads and repairs or escalates.
 * Asserts the exact commands (with hosts and the run that issued them) and the simulated seconds between them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../activities';
import { decideUpdate, RunResult, RunState, seenAgainSignal, stateQuery } from '../../workflows/definitions';
import { FakeHosts, Reply, simSeconds } from '../helpers/fake-hosts';
import { recordHistory } from '../helpers/histories';
import { testSettings } from '../helpers/settings';
import { advance, advanceUntil, endRuns, eventually, timeSkippingEnv, withActivities } from '../helpers/temporal';

const CONTROL = 'vkt-control-01';
const ORCH = '/usr/local/bin/orch_topo.sh';
const CLUSTERS = ['files', 'keycloak', 'store'] as const;
type Ns = (typeof CLUSTERS)[number];

const pod = (ns: string, n: number) => `${ns}-mysql-mysql-cluster-im-db-mysql-${n}`;
const hp = (ns: string, n: number) => `${pod(ns, n)}.mysql.${ns}:3306`;
const line = (ns: string, n: number, marker: '' | '+' | '-', fields: string) => `${marker ? `${marker} ` : ''}${hp(ns, n)} (${pod(ns, n)}) [${fields}]`;
const MASTER = '0s,ok,8.0.27-18,rw,ROW,>>,GTID';
const REPLICA = '0s,ok,8.0.27-18,ro,ROW,>>,GTID';
const ERRANT = '0s,ok,8.0.27-18,ro,ROW,>>,GTID:errant';
const NONREPL = 'null,nonreplicating,8.0.27-18,ro,ROW,>>,GTID:errant';
const healthy = (ns: string) => [line(ns, 0, '', MASTER), line(ns, 1, '+', REPLICA)];
const errant = (ns: string) => [line(ns, 0, '', MASTER), line(ns, 1, '+', ERRANT)];
const broken = (ns: string) => [line(ns, 0, '', MASTER), line(ns, 1, '-', NONREPL)];
const reseeding = (ns: string) => [line(ns, 0, '', MASTER), line(ns, 1, '-', 'unknown,invalid,8.0.27-18,ro,ROW,>>,GTID')];
const twoMasters = (ns: string) => [line(ns, 0, '', MASTER), line(ns, 1, '', NONREPL)];
const noMaster = (ns: string) => [line(ns, 1, '', NONREPL)];
/** orch_topo.sh output: every cluster healthy unless given. */
const topo = (over: Partial<Record<Ns, string[]>> = {}) => `${CLUSTERS.flatMap((ns) => over[ns] ?? healthy(ns)).join('\n')}\n`;

const goLog = (level: string, where: string, msg: string) => `25 Feb 25 15:29:31 854622 | ${level} | ${where} > ${msg} |`;
const WEAVE = [goLog('WARN', 'pkg/weave/report.go:134', 'assuming weave is ready'), goLog('INFO', 'pkg/weave/weave.go:140', 'weave is ready'), goLog('WARN', 'pkg/weave/report.go:134', 'assuming weave is ready')];
const reupLog = (ns: string, n = 1) =>
  [...WEAVE, goLog('INFO', 'cmd/utils/main.go:497', `deleting pvc ${ns}:data-${pod(ns, n)}`), goLog('INFO', 'cmd/utils/main.go:499', `deleting pod ${ns}:${pod(ns, n)}`), ''].join('\n');
const FIX_LOG = [...WEAVE, goLog('INFO', 'cmd/utils/main.go:566', 'locating errant transactions'), goLog('INFO', 'cmd/utils/main.go:601', 'errant transactions fixed'), ''].join('\n');
/** `kubectl -n <ns> get po`; the replica's pod row is left out when status is undefined (just deleted). */
const pods = (ns: string, ready?: string, status?: string) =>
  [
    'NAME                                      READY   STATUS     RESTARTS   AGE',
    `${pod(ns, 0)}   5/5     Running    0          41d`,
    ...(status ? [`${pod(ns, 1)}   ${ready}     ${status}   0          45s`] : []),
    `${ns}-mysql-exporter-7d9f8b6c5-x2x4q      1/1     Running    0          41d`,
    '',
  ].join('\n');

const FIX = (ns: string) => `im_utils --orch-fix-errants ${hp(ns, 1)}`;
const REUP = (ns: string) => `im_utils --reup-mysql-replica ${hp(ns, 1)}`;
const KUBECTL = (ns: string) => `kubectl -n ${ns} get po`;
const on = (cmd: string) => `${CONTROL}: ${cmd}`;

/**
 * One test server for the file: the tests share its clock and run one after another. (Each test had a server of
 * its own while the cause of a stuck clock was unknown: a run terminated with its escalation's notify activity
 * still in flight leaked a lock in the server. endRuns in withFleet now waits for the runs to be idle first.)
 */
let env: TestWorkflowEnvironment;
before(async () => {
  env = await timeSkippingEnv();
});
after(async () => {
  await env?.teardown();
});

interface RunCall {
  run: string;
  line: string;
  at: number;
}

interface FakeOptions {
  /** Replies computed from a shared state (for concurrent runs), used instead of the script. */
  dynamic?: (line: string) => Reply | undefined;
}

/** The fake hosts, plus which run issued each command. */
function activities(hosts: FakeHosts, runCalls: RunCall[], opts: FakeOptions): Activities {
  const base = hosts.activities();
  return {
    ...base,
    runCommand: async (req) => {
      const info = Context.current().info;
      const line = req.argv.join(' ');
      // When the run issued the command (server time), not when this worker got to it.
      runCalls.push({ run: info.workflowExecution?.workflowId ?? '?', line, at: info.currentAttemptScheduledTimestampMs });
      const r = await base.runCommand(req);
      const d = opts.dynamic?.(line);
      if (d === undefined) return r;
      if (d instanceof Error) throw d;
      return { ...r, exitCode: d.exitCode ?? 0, stdout: d.stdout ?? '', stderr: d.stderr ?? '' };
    },
  };
}

/**
 * Concurrent runs: every gap at least what the procedure says. The clock moves in steps (advance), so a gap
 * can come out up to one step longer when another run's timer moved it while a command was in flight.
 */
function assertGapsAtLeast(calls: RunCall[], expected: number[]) {
  const gaps = gapsOf(calls);
  assert.equal(gaps.length, expected.length, `gaps ${JSON.stringify(gaps)}`);
  gaps.forEach((g, i) => assert.ok(g >= expected[i], `gap ${i}: ${g} s, expected at least ${expected[i]} s (all: ${JSON.stringify(gaps)})`));
}

type Handle = ReturnType<typeof env.client.workflow.getHandle>;
const childId = (ns: string) => `mysql-topology/${ns}`;
const runIdOf = (id: string) =>
  env.client.workflow
    .getHandle(id)
    .describe()
    .then(
      (d) => d.runId,
      (err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      },
    );

interface Fleet {
  handle: Handle;
  runCalls: RunCall[];
  /** This test's run of the cluster, once the fleet run has started it (the IDs are reused from test to test). */
  child(ns: string): Promise<Handle>;
  /** Whether the fleet run started a run for this cluster in this test. */
  hasChild(ns: string): Promise<boolean>;
}

let seq = 0;
async function withFleet(hosts: FakeHosts, body: (f: Fleet) => Promise<void>, opts: FakeOptions = {}) {
  ++seq;
  const runCalls: RunCall[] = [];
  const before = new Map<string, string | undefined>();
  for (const ns of CLUSTERS) before.set(ns, await runIdOf(childId(ns)));
  const hasChild = async (ns: string) => {
    const runId = await runIdOf(childId(ns));
    return runId !== undefined && runId !== before.get(ns);
  };
  const child = async (ns: string) => {
    await eventually(() => hasChild(ns), Boolean);
    return env.client.workflow.getHandle(childId(ns), await runIdOf(childId(ns)));
  };
  await withActivities(env, activities(hosts, runCalls, opts), async (taskQueue) => {
    const handle = await env.client.workflow.start('mysqlTopology', { taskQueue, workflowId: `mysql-topology/fleet-${seq}`, args: [{ settings: testSettings('mysql-topology') }] });
    try {
      await body({ handle, runCalls, child, hasChild });
    } finally {
      // A failed assertion must not leave runs behind that hold the shared clock: the fleet run and its
      // cluster runs (found in its history) are terminated once idle, the cluster runs first (endRuns).
      await recordHistory(handle);
      for (const ns of CLUSTERS) if (await hasChild(ns)) await recordHistory(env.client.workflow.getHandle(childId(ns)));
      await endRuns(env, [handle]);
    }
  });
}

const state = (h: Handle) => h.query(stateQuery) as Promise<RunState>;
/** The run's result, moving the clock in steps until it has one (see advance in helpers/temporal). */
const result = async (h: Handle) => {
  await advanceUntil(env, async () => (await h.describe()).status.name !== 'RUNNING');
  return (await h.result()) as RunResult;
};
const escalated = (h: Handle) => eventually(() => state(h), (s) => s.status === 'escalated');
/** Simulated seconds between the commands of one run. */
const gapsOf = (calls: RunCall[]) => calls.slice(1).map((c, i) => simSeconds(c.at - calls[i].at));
const ofRun = (calls: RunCall[], run: string) => calls.filter((c) => c.run === run);
const changing = (line: string) => line.startsWith('im_utils --reup') || line.startsWith('im_utils --orch-fix');
const fleetId = () => `mysql-topology/fleet-${seq}`;

test('healthy topology (a lagging and a downtimed replica included): one read, no child run, nothing done', async () => {
  const lagging = [line('store', 0, '', MASTER), line('store', 1, '+', '25s,lag,8.0.27-18,ro,ROW,>>,GTID,downtimed')];
  const hosts = new FakeHosts(env).on(ORCH, { stdout: topo({ store: lagging }) });
  await withFleet(hosts, async ({ handle: fleet, hasChild }) => {
    const r = await result(fleet);
    assert.equal(r.status, 'completed');
    assert.equal(r.outcome, 'nothing-to-do');
    assert.equal(r.summary, 'files: healthy; keycloak: healthy; store: healthy');
    for (const ns of CLUSTERS) assert.equal(await hasChild(ns), false, `no run for ${ns}`);
  });
  assert.deepEqual(hosts.sequence, [on(ORCH)]);
  assert.equal(hosts.notifications.length, 0);
});

test('errant transactions fixed at the first recheck: fix, wait 2 min, orch_topo.sh clean', async () => {
  const e = { stdout: topo({ files: errant('files') }) };
  const hosts = new FakeHosts(env).on(ORCH, e, e, { stdout: topo() }).on(FIX('files'), { stdout: FIX_LOG });
  await withFleet(hosts, async ({ handle: fleet, runCalls, child, hasChild }) => {
    const f = await result(fleet);
    assert.equal(f.outcome, 'repaired');
    assert.equal(f.summary, `files: errant transactions on ${hp('files', 1)} -> mysql-topology/files: repaired; keycloak: healthy; store: healthy`);
    assert.deepEqual(f.state.steps.map((s) => [s.kind, s.name, s.reason ?? '']), [
      ['command', 'read the topology', ''],
      ['note', 'started mysql-topology/files', `files: errant transactions on ${hp('files', 1)}`],
      ['note', 'waiting for the cluster runs', 'mysql-topology/files'],
    ]);
    const r = await result(await child('files'));
    assert.equal(r.outcome, 'repaired');
    assert.equal(r.state.target, 'files');
    assert.deepEqual(r.state.steps.map((s) => [s.kind, s.name, s.verdict]), [
      ['command', 'read the topology of files', 'ok'],
      ['command', `fix errant transactions on ${hp('files', 1)}`, 'ok'],
      ['wait', `${hp('files', 1)}: wait before the recheck`, 'done'],
      ['command', `check ${hp('files', 1)} is clean`, 'ok'],
    ]);
    assert.deepEqual(runCalls.map((c) => c.run), [fleetId(), 'mysql-topology/files', 'mysql-topology/files', 'mysql-topology/files']);
    for (const ns of ['keycloak', 'store']) assert.equal(await hasChild(ns), false);
  });
  assert.deepEqual(hosts.sequence, [on(ORCH), on(ORCH), on(FIX('files')), on(ORCH)]);
  assert.deepEqual(hosts.gapsSeconds, [0, 0, 120]);
});

test('errant transactions fixed after the retry: the retry runs the fix and the 2 min wait again (2 + 2 min)', async () => {
  const e = { stdout: topo({ files: errant('files') }) };
  const hosts = new FakeHosts(env).on(ORCH, e, e, e, { stdout: topo() }).on(FIX('files'), { stdout: FIX_LOG });
  await withFleet(hosts, async ({ handle: fleet, child }) => {
    assert.equal((await result(fleet)).outcome, 'repaired');
    const r = await result(await child('files'));
    assert.equal(r.outcome, 'repaired');
    assert.deepEqual(r.state.steps.map((s) => [s.kind, s.verdict]), [
      ['command', 'ok'],
      ['command', 'ok'],
      ['wait', 'done'],
      ['command', 'failed'],
      ['command', 'ok'],
      ['wait', 'done'],
      ['command', 'ok'],
    ]);
    assert.match(r.state.steps[3].reason ?? '', /still has errant transactions/);
  });
  assert.deepEqual(hosts.sequence, [on(ORCH), on(ORCH), on(FIX('files')), on(ORCH), on(FIX('files')), on(ORCH)]);
  assert.deepEqual(hosts.gapsSeconds, [0, 0, 120, 0, 120]);
  assert.equal(hosts.notifications.length, 0);
});

test('errant transactions never fixed: two (fix, 2 min, check) attempts, then escalation; retry runs the triple again; abort ends it', async () => {
  const hosts = new FakeHosts(env).on(ORCH, { stdout: topo({ files: errant('files') }) }).on(FIX('files'), { stdout: FIX_LOG });
  await withFleet(hosts, async ({ handle: fleet, child }) => {
    const h = await child('files');
    await advance(env, '10m');
    const s = await escalated(h);
    assert.equal(s.pending?.step, `fix errant transactions on ${hp('files', 1)}`);
    assert.equal(s.pending?.reason, `${hp('files', 1)} still has errant transactions (GTID:errant)`);
    assert.match(s.pending?.evidence ?? '', /GTID:errant\]/);
    assert.deepEqual(hosts.sequence, [on(ORCH), on(ORCH), on(FIX('files')), on(ORCH), on(FIX('files')), on(ORCH)]);
    assert.deepEqual(hosts.gapsSeconds, [0, 0, 120, 0, 120]);
    assert.deepEqual(hosts.notifications.map((n) => [n.kind, n.runId]), [['escalation', 'mysql-topology/files']]);
    assert.equal((await state(fleet)).status, 'running', 'the fleet run waits for its cluster runs');

    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] });
    await advance(env, '5m');
    assert.equal((await state(h)).status, 'escalated');
    assert.equal(hosts.calls.length, 8);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'abort', by: 'bob', comment: 'will look at the GTID sets' }] });
    const r = await result(h);
    assert.equal(r.status, 'aborted');
    assert.match(r.summary, /bob aborted at "fix errant transactions on files-mysql-mysql-cluster-im-db-mysql-1\.mysql\.files:3306"/);
    const f = await result(fleet);
    assert.equal(f.outcome, 'escalated');
    assert.equal(f.summary, `files: errant transactions on ${hp('files', 1)} -> mysql-topology/files: aborted-by-operator; keycloak: healthy; store: healthy`);
  });
  assert.deepEqual(hosts.sequence.slice(6), [on(FIX('files')), on(ORCH)]);
  assert.deepEqual(hosts.gapsSeconds.slice(6), [120]);
});

test('broken replica: reup on the control node, kubectl polled every 30 s until 5/5 Running, then the replica is + again', async () => {
  const b = { stdout: topo({ store: broken('store') }) };
  const hosts = new FakeHosts(env)
    .on(ORCH, b, b, { stdout: topo() })
    .on(REUP('store'), { stdout: reupLog('store') })
    .on(KUBECTL('store'), { stdout: pods('store') }, { stdout: pods('store', '0/5', 'Pending') }, { stdout: pods('store', '0/5', 'Init:0/2') }, { stdout: pods('store', '2/5', 'Running') }, { stdout: pods('store', '5/5', 'Running') });
  await withFleet(hosts, async ({ handle: fleet, child }) => {
    const f = await result(fleet);
    assert.equal(f.summary, `files: healthy; keycloak: healthy; store: broken replica ${hp('store', 1)} -> mysql-topology/store: repaired`);
    const r = await result(await child('store'));
    assert.equal(r.outcome, 'repaired');
    assert.equal(r.summary, `re-seeded ${hp('store', 1)}; replicating again`);
    const polls = r.state.steps.filter((s) => s.name === `wait for pod store/${pod('store', 1)} to be 5/5 Running`);
    assert.equal(polls.length, 5);
    assert.equal(r.state.steps.filter((s) => s.kind === 'wait').length, 5);
    assert.equal(r.state.steps.at(-1)?.name, `check ${hp('store', 1)} replicates`);
  });
  const k = on(KUBECTL('store'));
  assert.deepEqual(hosts.sequence, [on(ORCH), on(ORCH), on(REUP('store')), k, k, k, k, k, on(ORCH)]);
  assert.deepEqual(hosts.gapsSeconds, [0, 0, 30, 30, 30, 30, 30, 0]);
  assert.equal(hosts.notifications.length, 0);
});

test('broken replica whose pod never gets ready: polls every 30 s, escalates at the 30 min give-up; nothing more until an operator decides', async () => {
  const hosts = new FakeHosts(env)
    .on(ORCH, { stdout: topo({ files: broken('files') }) })
    .on(REUP('files'), { stdout: reupLog('files') })
    .on(KUBECTL('files'), { stdout: pods('files', '0/5', 'Init:0/2') });
  await withFleet(hosts, async ({ handle: fleet, child }) => {
    const h = await child('files');
    await advance(env, '40m');
    const s = await escalated(h);
    assert.equal(s.pending?.step, `wait for pod files/${pod('files', 1)} to be 5/5 Running`);
    assert.equal(s.pending?.reason, `pod ${pod('files', 1)} is not 5/5 Running after 30m (last: 0/5 Init:0/2)`);
    const reupAt = hosts.calls[2].at;
    const polls = hosts.calls.slice(3);
    assert.equal(polls.length, 60);
    assert.ok(polls.every((c) => c.line === KUBECTL('files') && c.host === CONTROL));
    const escalatedAfter = (polls[59].at - reupAt) / 1000;
    assert.ok(escalatedAfter >= 30 * 60 && escalatedAfter < 30 * 60 + 5, `escalated at the give-up time (${escalatedAfter} s after the reup)`);
    await advance(env, '2h');
    assert.equal(hosts.calls.length, 63, 'no polling while escalated');
    assert.equal((await state(h)).status, 'escalated');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'abort', by: 'alice' }] });
    assert.equal((await result(h)).status, 'aborted');
    assert.equal((await result(fleet)).outcome, 'escalated');
  });
  assert.deepEqual(hosts.sequence.slice(0, 3), [on(ORCH), on(ORCH), on(REUP('files'))]);
  assert.deepEqual(hosts.gapsSeconds, [0, 0, ...Array(60).fill(30)]);
  assert.ok(!hosts.sequence.slice(3).includes(on(ORCH)), 'no recheck of a replica whose pod is not ready');
});

test('broken replica not replicating at the recheck: one more orch_topo.sh after 2 min, then escalation', async () => {
  const b = { stdout: topo({ files: broken('files') }) };
  const hosts = new FakeHosts(env)
    .on(ORCH, b, b, { stdout: topo({ files: reseeding('files') }) })
    .on(REUP('files'), { stdout: reupLog('files') })
    .on(KUBECTL('files'), { stdout: pods('files', '5/5', 'Running') });
  await withFleet(hosts, async ({ child }) => {
    await advance(env, '10m');
    const s = await escalated(await child('files'));
    assert.equal(s.pending?.step, `check ${hp('files', 1)} replicates`);
    assert.equal(s.pending?.reason, `${hp('files', 1)} is still a broken replica (-): [unknown,invalid]`);
  });
  assert.deepEqual(hosts.sequence, [on(ORCH), on(ORCH), on(REUP('files')), on(KUBECTL('files')), on(ORCH), on(ORCH)]);
  assert.deepEqual(hosts.gapsSeconds, [0, 0, 30, 0, 120]);
});

test('a reup log that names another pod escalates before any polling', async () => {
  const hosts = new FakeHosts(env).on(ORCH, { stdout: topo({ files: broken('files') }) }).on(REUP('files'), { stdout: reupLog('files', 0) });
  await withFleet(hosts, async ({ child }) => {
    const s = await escalated(await child('files'));
    assert.equal(s.pending?.step, `re-seed ${hp('files', 1)}`);
    assert.equal(s.pending?.reason, `im_utils deleted pod files:${pod('files', 0)}, expected files:${pod('files', 1)}`);
  });
  assert.deepEqual(hosts.sequence, [on(ORCH), on(ORCH), on(REUP('files'))]);
});

test('two masters: that cluster escalates and nothing that changes anything runs; a retry re-reads and still changes nothing', async () => {
  const hosts = new FakeHosts(env).on(ORCH, { stdout: topo({ files: twoMasters('files') }) });
  await withFleet(hosts, async ({ handle: fleet, child }) => {
    const h = await child('files');
    const s = await escalated(h);
    assert.equal(s.pending?.step, 'read the topology of files');
    assert.equal(s.pending?.reason, 'cluster files: two masters; the runbook says escalate and change nothing');
    assert.match(s.pending?.evidence ?? '', /^files-mysql-mysql-cluster-im-db-mysql-1\.mysql\.files:3306 .*\[null,nonreplicating,/m);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] });
    await eventually(async () => ({ st: await state(h), n: hosts.calls.length }), (v) => v.st.status === 'escalated' && v.n === 3);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'resolved', by: 'alice', comment: 'demoted mysql-1 by hand' }] });
    assert.equal((await result(h)).outcome, 'resolved-by-operator');
    const f = await result(fleet);
    assert.equal(f.outcome, 'escalated');
    assert.equal(f.summary, 'files: two masters -> mysql-topology/files: resolved-by-operator; keycloak: healthy; store: healthy');
  });
  assert.deepEqual(hosts.sequence, [on(ORCH), on(ORCH), on(ORCH)]);
  assert.deepEqual(hosts.notifications.map((n) => n.kind), ['escalation', 'escalation']);
});

test('a replica without a master: that cluster escalates, nothing that changes anything runs', async () => {
  const hosts = new FakeHosts(env).on(ORCH, { stdout: topo({ keycloak: noMaster('keycloak') }) });
  await withFleet(hosts, async ({ handle: fleet, child }) => {
    const s = await escalated(await child('keycloak'));
    assert.equal(s.pending?.step, 'read the topology of keycloak');
    assert.equal(s.pending?.reason, 'cluster keycloak: a replica without a master; the runbook says escalate and change nothing');
    await advance(env, '65m');
    assert.equal((await state(await child('keycloak'))).status, 'escalated');
    assert.equal((await state(fleet)).status, 'running');
  });
  assert.deepEqual(hosts.sequence, [on(ORCH), on(ORCH)]);
  assert.deepEqual(hosts.notifications.map((n) => n.kind), ['escalation', 'reminder', 'reminder']);
});

/** A shared simulated fleet, so that concurrent children see one consistent topology. */
function simulatedFleet(start: { files: 'errant' | 'healthy'; keycloak: 'two-masters' | 'healthy'; store: 'broken' | 'errant' | 'healthy' }) {
  const s = { ...start, storePolls: 0 };
  const render = (ns: Ns) => {
    const v = s[ns];
    return v === 'errant' ? errant(ns) : v === 'broken' ? broken(ns) : v === 'two-masters' ? twoMasters(ns) : healthy(ns);
  };
  const dynamic = (l: string): Reply | undefined => {
    if (l === ORCH) return { stdout: topo({ files: render('files'), keycloak: render('keycloak'), store: s.store === 'broken' && s.storePolls > 0 ? reseeding('store') : render('store') }) };
    for (const ns of CLUSTERS) {
      if (l === FIX(ns)) {
        if (s[ns] === 'errant') s[ns] = 'healthy';
        return { stdout: FIX_LOG };
      }
    }
    if (l === REUP('store')) {
      s.storePolls = 1;
      return { stdout: reupLog('store') };
    }
    if (l === KUBECTL('store')) {
      const ready = ++s.storePolls > 3;
      if (ready) s.store = 'healthy';
      return { stdout: ready ? pods('store', '5/5', 'Running') : pods('store', '2/5', 'Running') };
    }
    return undefined;
  };
  return { state: s, dynamic };
}

test('three clusters, three problems in one run: each child acts on its own cluster; the escalated one stops nothing else', async () => {
  const sim = simulatedFleet({ files: 'errant', keycloak: 'two-masters', store: 'broken' });
  const hosts = new FakeHosts(env);
  await withFleet(
    hosts,
    async ({ handle: fleet, runCalls, child }) => {
      const files = await result(await child('files'));
      const store = await result(await child('store'));
      assert.equal(files.outcome, 'repaired');
      assert.equal(store.outcome, 'repaired');
      const k = await escalated(await child('keycloak'));
      assert.equal(k.pending?.reason, 'cluster keycloak: two masters; the runbook says escalate and change nothing');
      assert.equal((await state(fleet)).status, 'running');

      assert.deepEqual(ofRun(runCalls, fleetId()).map((c) => c.line), [ORCH]);
      const filesCalls = ofRun(runCalls, 'mysql-topology/files');
      assert.deepEqual(filesCalls.map((c) => c.line), [ORCH, FIX('files'), ORCH]);
      assertGapsAtLeast(filesCalls, [0, 120]);
      const storeCalls = ofRun(runCalls, 'mysql-topology/store');
      assert.deepEqual(storeCalls.map((c) => c.line), [ORCH, REUP('store'), KUBECTL('store'), KUBECTL('store'), KUBECTL('store'), ORCH]);
      assertGapsAtLeast(storeCalls, [0, 30, 30, 30, 0]);
      assert.deepEqual(ofRun(runCalls, 'mysql-topology/keycloak').map((c) => c.line), [ORCH]);
      assert.ok(!runCalls.some((c) => changing(c.line) && c.line.includes('keycloak')), 'nothing changes in the escalated cluster');
      assert.ok(hosts.calls.every((c) => c.host === CONTROL));

      await (await child('keycloak')).executeUpdate(decideUpdate, { args: [{ action: 'abort', by: 'alice' }] });
      const f = await result(fleet);
      assert.equal(f.outcome, 'escalated');
      assert.equal(
        f.summary,
        `files: errant transactions on ${hp('files', 1)} -> mysql-topology/files: repaired; ` +
          'keycloak: two masters -> mysql-topology/keycloak: aborted-by-operator; ' +
          `store: broken replica ${hp('store', 1)} -> mysql-topology/store: repaired`,
      );
      assert.deepEqual(f.state.steps.filter((s) => s.kind === 'note').map((s) => s.name), ['started mysql-topology/files', 'started mysql-topology/keycloak', 'started mysql-topology/store', 'waiting for the cluster runs']);
    },
    { dynamic: sim.dynamic },
  );
});

test('another alert while a cluster is escalated: the fleet run reads again and a cluster broken since gets its own run', async () => {
  const sim = simulatedFleet({ files: 'healthy', keycloak: 'two-masters', store: 'healthy' });
  const hosts = new FakeHosts(env);
  await withFleet(
    hosts,
    async ({ handle: fleet, runCalls, child }) => {
      await escalated(await child('keycloak'));
      sim.state.store = 'errant';
      await fleet.signal(seenAgainSignal, { source: 'checkmk', at: new Date().toISOString() });
      const store = await result(await child('store'));
      assert.equal(store.outcome, 'repaired');
      assert.equal((await state(await child('keycloak'))).status, 'escalated', 'the escalated cluster is still waiting');
      assert.deepEqual(ofRun(runCalls, fleetId()).map((c) => c.line), [ORCH, ORCH]);
      assert.deepEqual(ofRun(runCalls, 'mysql-topology/keycloak').map((c) => c.line), [ORCH], 'one run per cluster per fleet run');
      assert.deepEqual(ofRun(runCalls, 'mysql-topology/store').map((c) => c.line), [ORCH, FIX('store'), ORCH]);

      await (await child('keycloak')).executeUpdate(decideUpdate, { args: [{ action: 'resolved', by: 'bob' }] });
      const f = await result(fleet);
      assert.equal(f.summary, `files: healthy; keycloak: two masters -> mysql-topology/keycloak: resolved-by-operator; store: errant transactions on ${hp('store', 1)} -> mysql-topology/store: repaired`);
      assert.equal(f.state.seenAgain.count, 1);
    },
    { dynamic: sim.dynamic },
  );
});

test('the child re-reads before acting: a cluster that healed meanwhile needs nothing', async () => {
  const hosts = new FakeHosts(env).on(ORCH, { stdout: topo({ files: errant('files') }) }, { stdout: topo() });
  await withFleet(hosts, async ({ handle: fleet, child }) => {
    const f = await result(fleet);
    assert.equal(f.outcome, 'nothing-to-do');
    assert.equal(f.summary, `files: errant transactions on ${hp('files', 1)} -> mysql-topology/files: nothing-to-do; keycloak: healthy; store: healthy`);
    const r = await result(await child('files'));
    assert.equal(r.outcome, 'nothing-to-do');
    assert.equal(r.summary, 'cluster files is healthy at the re-read');
  });
  assert.deepEqual(hosts.sequence, [on(ORCH), on(ORCH)]);
});

test('output not understood: a line of no cluster escalates the fleet run; a garbled line of one cluster escalates only that cluster', async () => {
  const odd = `${topo()}Error: cannot reach orchestrator at http://orchestrator:3000\n`;
  const garbled = topo({ store: [...healthy('store'), `+ ${hp('store', 2)} (${pod('store', 2)}) [0s,ok,8.0.27-18,ro,ROW,>>,GTID`] });
  const hosts = new FakeHosts(env).on(ORCH, { stdout: odd }, { stdout: garbled });
  await withFleet(hosts, async ({ handle: fleet, child, hasChild }) => {
    const s = await escalated(fleet);
    assert.equal(s.pending?.step, 'read the topology');
    assert.equal(s.pending?.reason, 'orch_topo.sh output not understood: line 7: unrecognised topology line "Error: cannot reach orchestrator at http://orchestrator:3000"');
    for (const ns of CLUSTERS) assert.equal(await hasChild(ns), false, 'no cluster run before the topology is understood');
    await fleet.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] });
    const st = await escalated(await child('store'));
    assert.match(st.pending?.reason ?? '', /^cluster store: not understood: line 7: unrecognised topology line "\+ store-mysql-mysql-cluster-im-db-mysql-2\.mysql\.store:3306 .*; the runbook says escalate and change nothing$/);
    for (const ns of ['files', 'keycloak']) assert.equal(await hasChild(ns), false);
    assert.match((await state(fleet)).steps.find((x) => x.name === 'started mysql-topology/store')?.reason ?? '', /^store: not understood: line 7: unrecognised topology line/);
  });
  assert.deepEqual(hosts.sequence, [on(ORCH), on(ORCH), on(ORCH)]);
});

test('a cluster run for a namespace that fails its allow-list pattern fails before any command', async () => {
  const hosts = new FakeHosts(env);
  ++seq;
  await withActivities(env, hosts.activities(), async (taskQueue) => {
    const h = await env.client.workflow.start('mysqlTopologyCluster', { taskQueue, workflowId: `mysql-topology/bad-${seq}`, args: [{ namespace: 'files;reboot', settings: testSettings('mysql-topology') }] });
    try {
      await assert.rejects(h.result(), (err: Error) => err instanceof WorkflowFailedError && /namespace .* rejected: contains shell metacharacter ;/.test(String(err.cause?.message)));
    } finally {
      await endRuns(env, [h]);
    }
  });
  assert.equal(hosts.calls.length, 0);
});
