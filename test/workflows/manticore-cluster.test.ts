/** manticore-cluster sequencing on the time-skipping test server: survey, decision, approvals, one bootstrap. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../activities';
import { startRun } from '../../client/runbooks';
import { decideUpdate, RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { BootstrapRecord, LAST_BOOTSTRAP_MEMO } from '../../workflows/galera-decision';
import type { ManticoreClusterResult } from '../../workflows/manticore-cluster';
import { Call, FakeHosts, Reply, simSeconds } from '../helpers/fake-hosts';
import { testConfig, testSettings } from '../helpers/settings';
import { advanceUntil, endRuns, eventually, RunHandle, timeSkippingEnv, whenIdle, withActivities, withWorkflow } from '../helpers/temporal';

const U = '2aa9bd5f-4d0c-11ee-8f2f-7a3b0bd5b6d2';
const SQL = 'mysql -h 127.0.0.1 -P 9306';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await timeSkippingEnv();
});
after(async () => {
  await env?.teardown();
});

function withRun(hosts: FakeHosts, input: Record<string, unknown>, body: (h: RunHandle) => Promise<void>) {
  return withWorkflow(env, { workflowType: 'manticoreCluster', workflowId: 'manticore-cluster/posts', input, activities: hosts.activities() }, body);
}

const cluster = (nodes: string[]) => ({ nodes, sqlHost: '127.0.0.1', sqlPort: 9306, unit: 'manticore', grastatePath: '/var/lib/manticore/posts/grastate.dat', logPath: '/var/log/manticore/searchd.log' });
const input = (nodes = ['mc-a', 'mc-b', 'mc-c'], extra: Record<string, unknown> = {}) => ({ cluster: 'posts', settings: testSettings('manticore-cluster', { manticore: { clusters: { posts: cluster(nodes) } }, ...extra }) });
const state = (h: { query: (q: typeof stateQuery) => Promise<RunState> }) => h.query(stateQuery);

const active: Reply = { stdout: 'active\n' };
const inactive: Reply = { stdout: 'inactive\n', exitCode: 3 };
const failed: Reply = { stdout: 'failed\n', exitCode: 3 };
const grastate = (seqno: number, safe: 0 | 1): Reply => ({ stdout: `# GALERA saved state\nversion: 2.1\nuuid:    ${U}\nseqno:   ${seqno}\nsafe_to_bootstrap: ${safe}\n` });
const status = (st: 'primary' | 'non-primary', size: number, nodeState: string, committed: number, view: string): Reply => ({
  stdout:
    `Counter\tValue\ncluster_posts_state_uuid\t${U}\ncluster_posts_status\t${st}\ncluster_posts_size\t${size}\ncluster_posts_node_state\t${nodeState}\n` +
    `cluster_posts_last_committed\t${committed}\ncluster_posts_nodes_view\t${view}\n`,
});
const synced = (size: number, view = 'v-all') => status('primary', size, 'synced', 130, view);
const joining = (size: number) => status('primary', size, 'joining', 130, 'v-all');
const recovered = (seqno: number): Reply => ({ stdout: `[Sat Nov 22 04:00:00.000 2025] [1001] starting daemon\n[Sat Nov 22 04:10:03.123 2025] [1001] WSREP: Recovered position: ${U}:${seqno}\n` });

/** Scripts one node: is-active replies, grastate.dat, status replies, recovered position. */
function node(h: FakeHosts, n: string, s: { active: Reply[]; grastate: Reply; status?: Reply[]; log?: Reply }): FakeHosts {
  h.on(`${n}: systemctl is-active manticore`, ...s.active).on(`${n}: cat /var/lib/manticore/posts/grastate.dat`, s.grastate);
  if (s.status) h.on(`${n}: ${SQL}`, ...s.status);
  if (s.log) h.on(`${n}: cat /var/log/manticore/searchd.log`, s.log);
  return h.on(`${n}: systemctl start manticore`, {}).on(`${n}: manticore_new_cluster`, {});
}

/** What changed, in order ("host: line [first word of stdin]"); the survey's reads run in parallel and are not ordered. */
const describe = (c: Call) => `${c.host}: ${c.line}${c.stdin ? ` <${c.stdin.trim()}>` : ''}`;
const changes = (h: FakeHosts) => h.calls.filter((c) => /start|new_cluster|SET /.test(`${c.line} ${c.stdin ?? ''}`)).map(describe);
const onHost = (h: FakeHosts, n: string) => h.calls.filter((c) => c.host === n).map((c) => describe(c).slice(n.length + 2));
const STATUS = `${SQL} <SHOW STATUS LIKE 'cluster_posts_%'>`;

test('case 1: survey in parallel, start the stopped node, poll until synced (10 s apart), survey again: repaired', async () => {
  const hosts = new FakeHosts(env);
  node(hosts, 'mc-a', { active: [active], grastate: grastate(-1, 0), status: [synced(2), synced(3)] });
  node(hosts, 'mc-b', { active: [active], grastate: grastate(-1, 0), status: [synced(2), synced(3)] });
  node(hosts, 'mc-c', { active: [inactive, active], grastate: grastate(120, 0), status: [joining(3), joining(3), synced(3)] });
  await withRun(hosts, input(), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.match(r.summary, /recovered \(case 1\)/);
    const decision = r.state.steps.find((s) => s.name === 'decision: case 1');
    assert.match(decision?.reason ?? '', /mc-c was stopped gracefully and mc-a, mc-b form\(s\) the primary component/);
  });
  // The survey's first three commands are the three nodes' is-active, issued together.
  assert.deepEqual(hosts.calls.slice(0, 3).map((c) => c.host).sort(), ['mc-a', 'mc-b', 'mc-c']);
  assert.deepEqual(onHost(hosts, 'mc-c'), [
    'systemctl is-active manticore',
    'cat /var/lib/manticore/posts/grastate.dat',
    'systemctl start manticore',
    STATUS,
    STATUS,
    STATUS,
    'systemctl is-active manticore',
    'cat /var/lib/manticore/posts/grastate.dat',
    STATUS,
  ]);
  const c = hosts.calls.filter((x) => x.host === 'mc-c');
  assert.deepEqual([c[4].at - c[3].at, c[5].at - c[4].at].map(simSeconds), [10, 10]);
  assert.equal(hosts.notifications.length, 0);
});

test('case 3: the safe_to_bootstrap node first with manticore_new_cluster, primary, then the others one at a time, each synced', async () => {
  const hosts = new FakeHosts(env);
  node(hosts, 'mc-a', { active: [inactive, active], grastate: grastate(126, 0), status: [joining(2), synced(2), synced(3)] });
  node(hosts, 'mc-b', { active: [inactive, active], grastate: grastate(130, 1), status: [synced(1), synced(3)] });
  node(hosts, 'mc-c', { active: [inactive, active], grastate: grastate(124, 0), status: [synced(3)] });
  await withRun(hosts, input(), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.equal(r.state.steps.filter((s) => s.kind === 'approval').length, 0, 'case 3 is automatic by default');
  });
  assert.deepEqual(changes(hosts), ['mc-b: manticore_new_cluster', 'mc-a: systemctl start manticore', 'mc-c: systemctl start manticore']);
  // mc-a is synced (second poll, 10 s later) before mc-c starts.
  const lines = hosts.calls.map(describe);
  const startC = lines.indexOf('mc-c: systemctl start manticore');
  assert.deepEqual(lines.slice(lines.indexOf('mc-b: manticore_new_cluster'), startC), [
    'mc-b: manticore_new_cluster',
    `mc-b: ${STATUS}`,
    'mc-a: systemctl start manticore',
    `mc-a: ${STATUS}`,
    `mc-a: ${STATUS}`,
  ]);
});

test('case 3 with policy "approve": waits for an operator before manticore_new_cluster', async () => {
  const hosts = new FakeHosts(env);
  node(hosts, 'mc-a', { active: [inactive, inactive, active], grastate: grastate(126, 0), status: [synced(3)] });
  node(hosts, 'mc-b', { active: [inactive, inactive, active], grastate: grastate(130, 1), status: [synced(3)] });
  node(hosts, 'mc-c', { active: [inactive, inactive, active], grastate: grastate(124, 0), status: [synced(3)] });
  await withRun(hosts, input(undefined, { approvals: { 'manticore-cluster': { bootstrap: 'approve' } } }), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    assert.match(s.pending?.reason ?? '', /case 3: .*About to start mc-b as a new cluster \(manticore_new_cluster\)/);
    assert.deepEqual(changes(hosts), []);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    assert.equal(((await h.result()) as RunResult).outcome, 'repaired');
  });
  assert.deepEqual(changes(hosts), ['mc-b: manticore_new_cluster', 'mc-a: systemctl start manticore', 'mc-c: systemctl start manticore']);
});

test('case 5: always an approval (even with policy auto); rejected: nothing changes', async () => {
  const hosts = new FakeHosts(env);
  node(hosts, 'mc-a', { active: [failed], grastate: grastate(-1, 0), log: recovered(128) });
  node(hosts, 'mc-b', { active: [failed], grastate: grastate(-1, 0), log: recovered(128) });
  node(hosts, 'mc-c', { active: [active], grastate: grastate(-1, 0), status: [status('non-primary', 1, 'joining', 130, 'v-c')] });
  await withRun(hosts, input(undefined, { approvals: { 'manticore-cluster': { bootstrap: 'auto' } } }), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    assert.match(s.pending?.reason ?? '', /CONFIRM FIRST that the other nodes are really down/);
    assert.deepEqual(s.pending?.choices, ['mc-c']);
    await env.sleep('2h');
    assert.equal((await state(h)).status, 'awaiting-approval', 'no timeout approves');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'reject', by: 'bob', comment: 'mc-a is only partitioned' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.status, 'aborted');
    assert.equal(r.outcome, 'rejected');
  });
  assert.deepEqual(changes(hosts), []);
});

test('case 5 approved: survey again, pc.bootstrap on the survivor (SQL on stdin), then start the others one at a time', async () => {
  const hosts = new FakeHosts(env);
  node(hosts, 'mc-a', { active: [failed, failed, active], grastate: grastate(-1, 0), log: recovered(128), status: [synced(2), synced(3)] });
  node(hosts, 'mc-b', { active: [failed, failed, active], grastate: grastate(-1, 0), log: recovered(128), status: [synced(3)] });
  const np = status('non-primary', 1, 'joining', 130, 'v-c');
  node(hosts, 'mc-c', { active: [active], grastate: grastate(-1, 0), status: [np, np, {}, synced(1), synced(3)] });
  await withRun(hosts, input(), async (h) => {
    await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice', comment: 'mc-a and mc-b are powered off' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.ok(r.state.steps.some((s) => s.name === 'bootstrap recorded: mc-c'));
  });
  assert.deepEqual(changes(hosts), [
    `mc-c: ${SQL} <SET CLUSTER posts GLOBAL 'pc.bootstrap' = 1>`,
    'mc-a: systemctl start manticore',
    'mc-b: systemctl start manticore',
  ]);
  // The crashed nodes' recovered positions were read in each survey (twice: before and after the approval), never more.
  assert.equal(onHost(hosts, 'mc-a').filter((l) => l.includes('searchd.log')).length, 2);
});

test('case 6: the operator chooses among the freshest nodes; manticore_new_cluster --force on that node only', async () => {
  const hosts = new FakeHosts(env);
  node(hosts, 'mc-a', { active: [failed, failed, active], grastate: grastate(-1, 0), log: recovered(142), status: [synced(2), synced(3)] });
  node(hosts, 'mc-b', { active: [failed, failed, active], grastate: grastate(-1, 0), log: recovered(142), status: [synced(1), synced(3)] });
  node(hosts, 'mc-c', { active: [failed, failed, active], grastate: grastate(-1, 0), log: recovered(139), status: [synced(3)] });
  await withRun(hosts, input(), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    assert.deepEqual(s.pending?.choices, ['mc-a', 'mc-b']);
    assert.equal(s.pending?.proposal, 'mc-a');
    assert.match(s.pending?.evidence ?? '', /mc-c: position 139 \(recovered position\)/);
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice', choice: 'mc-c' }] }), (err: Error) => /not one of: mc-a, mc-b/.test(String((err.cause as Error | undefined)?.message)));
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice', choice: 'mc-b' }] });
    assert.equal(((await h.result()) as RunResult).outcome, 'repaired');
  });
  assert.deepEqual(changes(hosts), ['mc-b: manticore_new_cluster --force', 'mc-a: systemctl start manticore', 'mc-c: systemctl start manticore']);
});

test('case 7: the operator picks one group; pc.bootstrap in that group only; the other half is left alone', async () => {
  const hosts = new FakeHosts(env);
  const np = (c: number, v: string) => status('non-primary', 2, 'joining', c, v);
  const nodes = ['mc-a', 'mc-b', 'mc-c', 'mc-d'];
  node(hosts, 'mc-a', { active: [active], grastate: grastate(-1, 0), status: [np(130, 'ab')] });
  node(hosts, 'mc-b', { active: [active], grastate: grastate(-1, 0), status: [np(130, 'ab')] });
  node(hosts, 'mc-c', { active: [active], grastate: grastate(-1, 0), status: [np(129, 'cd'), np(129, 'cd'), {}, synced(2, 'cd')] });
  node(hosts, 'mc-d', { active: [active], grastate: grastate(-1, 0), status: [np(129, 'cd'), np(129, 'cd'), synced(2, 'cd')] });
  await withRun(hosts, input(nodes), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    assert.match(s.pending?.reason ?? '', /Pick ONE group \(choose a node of it\): \{mc-a, mc-b\} or \{mc-c, mc-d\}; never both/);
    assert.equal(s.pending?.proposal, 'mc-a');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'bob', choice: 'mc-c' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.match(r.summary, /\{mc-c, mc-d\} bootstrapped as the primary component; \{mc-a, mc-b\} left non-primary/);
  });
  assert.deepEqual(changes(hosts), [`mc-c: ${SQL} <SET CLUSTER posts GLOBAL 'pc.bootstrap' = 1>`]);
});

test('a failed bootstrap escalates; "retry" re-surveys and refuses a second bootstrap: manticore_new_cluster ran once', async () => {
  const hosts = new FakeHosts(env);
  node(hosts, 'mc-a', { active: [inactive], grastate: grastate(126, 0) });
  node(hosts, 'mc-b', { active: [inactive], grastate: grastate(130, 1) });
  node(hosts, 'mc-c', { active: [inactive], grastate: grastate(124, 0) });
  hosts.on('mc-b: manticore_new_cluster', { exitCode: 1, stderr: 'Job for manticore.service failed' });
  await withRun(hosts, input(), async (h) => {
    let s = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.match(s.pending?.reason ?? '', /exit code 1; the bootstrap is not repeated automatically/);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] });
    s = await eventually(() => state(h), (s) => s.status === 'escalated' && s.pending?.step === 'bootstrap');
    assert.match(s.pending?.reason ?? '', /refused: a second bootstrap in one incident \(mc-b was already bootstrapped by this run\)/);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] });
    s = await eventually(() => state(h), (s) => s.status === 'escalated' && s.steps.filter((st) => st.kind === 'escalation').length === 3);
    assert.equal(s.pending?.step, 'bootstrap');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'abort', by: 'alice' }] });
    assert.equal(((await h.result()) as RunResult).outcome, 'aborted-by-operator');
  });
  assert.deepEqual(changes(hosts), ['mc-b: manticore_new_cluster']);
});

test('the cluster changes while the operator decides: no bootstrap, escalation', async () => {
  const hosts = new FakeHosts(env);
  node(hosts, 'mc-a', { active: [failed, active], grastate: grastate(-1, 0), log: recovered(128), status: [synced(2)] });
  node(hosts, 'mc-b', { active: [failed], grastate: grastate(-1, 0), log: recovered(128) });
  node(hosts, 'mc-c', { active: [active], grastate: grastate(-1, 0), status: [status('non-primary', 1, 'joining', 130, 'v-c'), synced(2)] });
  await withRun(hosts, input(), async (h) => {
    await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    const s = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.match(s.pending?.reason ?? '', /the cluster changed while waiting for the approval; now: case 4/);
  });
  assert.deepEqual(changes(hosts), []);
});

test('an unreachable node: cannot decide, escalate with the reason, change nothing', async () => {
  const hosts = new FakeHosts(env);
  node(hosts, 'mc-a', { active: [inactive], grastate: grastate(126, 0) });
  node(hosts, 'mc-b', { active: [inactive], grastate: grastate(130, 1) });
  hosts.on('mc-c: systemctl is-active manticore', new Error('connect ECONNREFUSED 127.0.0.1:22'));
  await withRun(hosts, input(), async (h) => {
    // The read's retry pauses (1 s, 2 s) are simulated time: skip through them (on the real clock, 3 s).
    await advanceUntil(env, async () => (await state(h)).status === 'escalated', '10m', 1000);
    const s = await state(h);
    assert.equal(s.pending?.step, 'decide');
    assert.match(s.pending?.reason ?? '', /cannot decide: mc-c could not be reached \(could not run the command: .*ECONNREFUSED/);
  });
  assert.deepEqual(changes(hosts), []);
});

test('healthy: nothing to do, read-only; a bad cluster name or an unconfigured cluster fails before any command', async () => {
  const hosts = new FakeHosts(env);
  for (const n of ['mc-a', 'mc-b', 'mc-c']) node(hosts, n, { active: [active], grastate: grastate(-1, 0), status: [synced(3)] });
  await withRun(hosts, input(), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'nothing-to-do');
  });
  assert.deepEqual(changes(hosts), []);
  assert.equal(hosts.calls.length, 9);
  for (const bad of [{ ...input(), cluster: "posts'; DROP" }, { ...input(), cluster: 'other' }]) {
    const none = new FakeHosts(env);
    await withRun(none, bad, async (h) => {
      await assert.rejects(h.result(), (err: Error) => err instanceof WorkflowFailedError && /rejected|not configured/.test(String(err.cause?.message)));
    });
    assert.equal(none.calls.length, 0);
  }
});

// ---- position guard: never bootstrap below the position a previous run of the cluster bootstrapped from ----

const crashedAt = (h: FakeHosts, positions: Record<string, number>) => {
  for (const [n, seqno] of Object.entries(positions)) node(h, n, { active: [failed], grastate: grastate(-1, 0), log: recovered(seqno) });
  return h;
};

test('position guard: given the last bootstrap (position 142), a run refuses case 6 from position 125, says why, and "retry" refuses again', async () => {
  const last: BootstrapRecord = { uuid: U, seqno: 142, node: 'mc-b', at: '2026-12-01T10:00:00.000Z', workflowId: 'manticore-cluster/posts', runId: 'r1' };
  const hosts = crashedAt(new FakeHosts(env), { 'mc-a': 120, 'mc-b': 125, 'mc-c': 118 });
  await withRun(hosts, { ...input(), lastBootstrap: last }, async (h) => {
    let s = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.equal(s.pending?.step, 'decide');
    assert.match(s.pending?.reason ?? '', /^cannot decide: position guard: refused to bootstrap from mc-b \(position 125\): lower than position 142, from which manticore-cluster\/posts bootstrapped posts from mc-b at position 142 .*the transactions after that position would be lost/);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] });
    s = await eventually(() => state(h), (s) => s.status === 'escalated' && s.steps.filter((st) => st.kind === 'escalation').length === 2);
    assert.match(s.pending?.reason ?? '', /position guard: refused/);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'abort', by: 'alice' }] });
    const r = (await h.result()) as ManticoreClusterResult;
    assert.equal(r.outcome, 'aborted-by-operator');
    assert.deepEqual(r.lastBootstrap, last, 'a run that did not bootstrap carries the record forward');
  });
  assert.deepEqual(changes(hosts), []);
  // A record that is not one fails the run before any command.
  const none = new FakeHosts(env);
  await withRun(none, { ...input(), lastBootstrap: { ...last, seqno: 'high' } }, async (h) => {
    await assert.rejects(h.result(), (err: Error) => err instanceof WorkflowFailedError && /recorded Galera bootstrap has no valid seqno/.test(String(err.cause?.message)));
  });
  assert.equal(none.calls.length, 0);
});

test('position guard across runs: the bootstrap is in the memo before its command, startRun hands it on, a terminated run still carries it', async () => {
  let hosts = new FakeHosts(env);
  let memoAtBootstrap: unknown;
  const activities: Activities = {
    runCommand: async (req) => {
      if (req.argv[0] === 'manticore_new_cluster') memoAtBootstrap = (await env.client.workflow.getHandle(Context.current().info.workflowExecution?.workflowId ?? '').describe()).memo?.[LAST_BOOTSTRAP_MEMO];
      return hosts.activities().runCommand(req);
    },
    notify: async (n) => hosts.activities().notify(n),
  };
  const handle = () => env.client.workflow.getHandle('manticore-cluster/posts');
  await withActivities(env, activities, async (taskQueue) => {
    const config = testConfig({ service: { taskQueue }, manticore: { clusters: { posts: cluster(['mc-a', 'mc-b', 'mc-c']) } } });
    // Run 1: case 6, the operator approves mc-b (position 142): bootstrapped and recorded.
    crashedAt(hosts, { 'mc-a': 140, 'mc-b': 142, 'mc-c': 139 });
    for (const n of ['mc-a', 'mc-b', 'mc-c']) hosts.on(`${n}: systemctl is-active manticore`, failed, failed, active).on(`${n}: ${SQL}`, synced(3));
    assert.equal((await startRun(env.client, config, 'manticore-cluster', { cluster: 'posts' }, 'test')).started, true);
    await eventually(() => state(handle()), (s) => s.status === 'awaiting-approval');
    await handle().executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice', choice: 'mc-b' }] });
    const first = (await handle().result()) as ManticoreClusterResult;
    assert.equal(first.outcome, 'repaired');
    assert.deepEqual(changes(hosts)[0], 'mc-b: manticore_new_cluster --force');
    const { runId } = await handle().describe();
    assert.deepEqual(first.lastBootstrap, { uuid: U, seqno: 142, node: 'mc-b', at: first.lastBootstrap?.at, workflowId: 'manticore-cluster/posts', runId });
    assert.deepEqual(memoAtBootstrap, first.lastBootstrap, 'recorded in the memo before the bootstrap command ran');
    assert.ok(first.state.steps.some((st) => st.name === 'bootstrap recorded: mc-b' && /position 142 of cluster/.test(st.reason ?? '')));

    // Run 2: the data went back (positions 120-125): refused. An operator terminates it (the Web UI's button).
    hosts = crashedAt(new FakeHosts(env), { 'mc-a': 120, 'mc-b': 125, 'mc-c': 118 });
    await startRun(env.client, config, 'manticore-cluster', { cluster: 'posts' }, 'test');
    const s = await eventually(() => state(handle()), (s) => s.status === 'escalated');
    assert.match(s.pending?.reason ?? '', /position guard: refused to bootstrap from mc-b \(position 125\): lower than position 142/);
    // Once its escalation's notification is out: the test server keeps its clock locked for good after a run
    // is terminated with an activity in flight (helpers/temporal.ts, endRuns).
    await whenIdle(env, [handle()]);
    await handle().terminate('operator gave up on this run');

    // Run 3: learns run 1's bootstrap from run 2's memo, though run 2 has no result.
    hosts = crashedAt(new FakeHosts(env), { 'mc-a': 120, 'mc-b': 125, 'mc-c': 118 });
    await startRun(env.client, config, 'manticore-cluster', { cluster: 'posts' }, 'test');
    assert.deepEqual((await handle().describe()).memo?.[LAST_BOOTSTRAP_MEMO], first.lastBootstrap);
    await eventually(() => state(handle()), (s) => s.status === 'escalated' && /position guard: refused/.test(s.pending?.reason ?? ''));
    await endRuns(env, [handle()]);
    assert.deepEqual(changes(hosts), []);
  });
});
