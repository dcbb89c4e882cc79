/**
 * The operator's side on the time-skipping test server: approval gates (allowed name, refused name,
 * reject, reminders, no timeout approves), decisions when none is pending, escalation decided by
 * signal, the flapping guard, dry runs, the escalation notification over real HTTP with a retry,
 * the state's next timer, and the timeline rebuilt from the event history.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { WorkflowHandle, WorkflowUpdateFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { describeRun, runHistory, timelineOf } from '../../client/history';
import { WORKFLOW_BUNDLER_OPTIONS } from '../../worker/bundle';
import { decideSignal, decideUpdate, RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { FakeHosts } from '../helpers/fake-hosts';
import { recordHistory } from '../helpers/histories';
import { testConfig, testSettings } from '../helpers/settings';
import { eventually, timeSkippingEnv } from '../helpers/temporal';

const MAP = `node cox-1 (2147483648 buckets)
  srv cox.vkt-4vm-879-standart-01.cox-1 10.32.0.1:2510 alive main
  srv cox.vkt-4vm-879-standart-02.cox-1 10.32.96.0:2510 alive slave
`;
const MAP_NO_SLAVE = `node cox-1 (2147483648 buckets)
  srv cox.vkt-4vm-879-standart-01.cox-1 10.32.0.1:2510 alive main
  srv cox.vkt-4vm-879-standart-02.cox-1 10.32.96.0:2510 dead main
`;
const CLEAN_OK = `INFO: deleting /data/cox-1/snap/000001.snap\nINFO: starting cox-1\nINFO: successfully started cox-1\n`;
const IC_MAP = 'vkt-control-01: ic map cox';
const CLEAN = 'vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1';

let env: TestWorkflowEnvironment;
let bundle: { code: string };
before(async () => {
  env = await timeSkippingEnv();
  const quiet = () => undefined;
  bundle = await bundleWorkflowCode({
    ...WORKFLOW_BUNDLER_OPTIONS,
    workflowsPath: require.resolve('./workflows'),
    logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: (m: string) => console.error(m) },
  });
});
after(async () => {
  await env?.teardown();
});

type Handle = WorkflowHandle;
let seq = 0;
async function withRun(
  hosts: FakeHosts,
  input: Record<string, unknown>,
  body: (h: Handle, id: string) => Promise<void>,
  opts: { workflow?: string; notify?: ReturnType<typeof createActivities>['notify'] } = {},
) {
  const taskQueue = `ops-${++seq}`;
  const activities = { ...hosts.activities(), ...(opts.notify ? { notify: opts.notify } : {}) };
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities });
  const workflowId = `kust-replica/cox-1-ops-${seq}`;
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(opts.workflow ?? 'kustReplica', { taskQueue, workflowId, args: [input] });
    try {
      await body(handle, workflowId);
    } finally {
      await recordHistory(handle);
      await handle.terminate('test finished').catch(() => undefined);
    }
  });
}

const input = (extra: Record<string, unknown> = {}, start: Record<string, unknown> = {}) => ({
  service: 'cox',
  instance: 'cox-1',
  settings: { ...testSettings('kust-replica', extra), ...start },
});
const approvalInput = (timers: Record<string, string> = {}) => input({ approvals: { 'kust-replica': { clean: 'approve' } }, timers });
const state = (h: Handle) => h.query(stateQuery);
const refused = (reason: RegExp) => (err: Error) => err instanceof WorkflowUpdateFailedError && reason.test(String(err.cause?.message));
/** History events that would record a decision (an accepted Update, a Signal). */
const decisionEvents = async (h: Handle) =>
  ((await h.fetchHistory()).events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionUpdateCompletedEventAttributes || e.workflowExecutionSignaledEventAttributes).length;
const minutesUntil = async (iso: string | undefined) => (Date.parse(iso ?? '') - (await env.currentTimeMs())) / 60_000;

test('approval gate: the approval notification, reminders every approvalReminder, no timeout approves; an allowed name approves (signal)', async () => {
  const hosts = new FakeHosts(env).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: CLEAN_OK });
  await withRun(hosts, approvalInput({ approvalReminder: '10m' }), async (h) => {
    // The reminder timer starts once the approval notification is out.
    const s = await eventually(() => state(h), (st) => st.status === 'awaiting-approval' && st.nextTimerAt !== undefined);
    assert.equal(s.pending?.kind, 'approval');
    assert.match(s.pending?.reason ?? '', /clean_kust_replica\.sh cox-1 on vkt-4vm-879-standart-02/);
    const firstReminderIn = await minutesUntil(s.nextTimerAt);
    assert.ok(firstReminderIn > 9.9 && firstReminderIn <= 10, `next reminder in ${firstReminderIn} min`);
    await env.sleep('25m');
    assert.equal((await state(h)).status, 'awaiting-approval', 'no timeout approves');
    assert.deepEqual(hosts.notifications.map((n) => n.kind), ['approval', 'reminder', 'reminder']);
    assert.match(hosts.notifications[1].text, /^\[STILL WAITING\] kust-replica\/cox-1-ops-\d+: clean the replica: run .*clean_kust_replica\.sh cox-1/);
    assert.deepEqual(hosts.sequence, [IC_MAP], 'nothing ran while waiting');
    await h.signal(decideSignal, { action: 'approve', by: 'alice', comment: 'go' });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    const gate = r.state.steps.find((st) => st.kind === 'approval');
    assert.deepEqual([gate?.verdict, gate?.by, gate?.comment], ['approved', 'alice', 'go']);
    assert.deepEqual(r.state.decisions.map((d) => [d.action, d.by, d.accepted]), [['approve', 'alice', true]]);
  });
  assert.deepEqual(hosts.sequence, [IC_MAP, CLEAN]);
});

test('approval gate: a name not on the approver list is refused (Update: an error to the caller; both recorded in the run) and changes nothing; reject ends the run', async () => {
  const hosts = new FakeHosts(env).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: CLEAN_OK });
  await withRun(hosts, approvalInput(), async (h) => {
    await eventually(() => state(h), (st) => st.status === 'awaiting-approval');
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'mallory' }] }), refused(/mallory is not on the approver list/));
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] }), refused(/"retry" is not a decision for a pending approval/));
    await h.signal(decideSignal, { action: 'approve', by: 'mallory' });
    // Every refusal is in the run's record (issue 15's audit trail), the Update's as well as the Signal's.
    const s = await eventually(() => state(h), (st) => st.decisions.length === 3);
    assert.equal(s.status, 'awaiting-approval');
    assert.deepEqual(s.decisions.map((d) => [d.action, d.by, d.accepted, d.refusal, d.step]), [
      ['approve', 'mallory', false, 'mallory is not on the approver list', 'clean the replica'],
      ['retry', 'alice', false, '"retry" is not a decision for a pending approval (expected approve | reject)', 'clean the replica'],
      ['approve', 'mallory', false, 'mallory is not on the approver list', 'clean the replica'],
    ]);
    assert.equal(s.steps.find((st) => st.kind === 'approval')?.verdict, undefined, 'the gate is still open');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'reject', by: 'bob', comment: 'not during the sale' }] });
    const r = (await h.result()) as RunResult;
    assert.deepEqual([r.status, r.outcome], ['aborted', 'rejected']);
    assert.match(r.summary, /bob rejected "clean the replica": not during the sale/);
  });
  assert.deepEqual(hosts.sequence, [IC_MAP], 'a rejected clean never runs');
});

test('a decision when none is pending is refused, recorded as refused, changes nothing else; waiting shows when the timer fires', async () => {
  const hosts = new FakeHosts(env).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: CLEAN_OK });
  let runId = '';
  await withRun(
    hosts,
    { instance: 'cox-1', settings: testSettings('kust-replica') },
    async (h, id) => {
      runId = id;
      const s = await eventually(() => state(h), (st) => st.status === 'waiting');
      assert.equal(s.currentStep, 'settle before the clean');
      const firesIn = await minutesUntil(s.nextTimerAt);
      assert.ok(firesIn > 59.9 && firesIn <= 60, `timer fires in ${firesIn} min`);
      assert.equal(s.nextTimerAt, s.steps.at(-1)?.until);
      await assert.rejects(h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] }), refused(/no decision is pending in this run/));
      await assert.rejects(h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] }), refused(/no decision is pending in this run/));
      // Both are in the run's record as refused (the audit trail); nothing else changed: still waiting, the same step.
      assert.equal(await decisionEvents(h), 4, "each refused Update: accepted, then completed with the refusal");
      const after = await state(h);
      assert.deepEqual([after.status, after.currentStep], ['waiting', 'settle before the clean']);
      assert.deepEqual(after.decisions.map((d) => [d.action, d.accepted, d.refusal]), [
        ['retry', false, 'no decision is pending in this run'],
        ['approve', false, 'no decision is pending in this run'],
      ]);
      const r = (await h.result()) as RunResult;
      assert.equal(r.outcome, 'repaired');

      // The timeline rebuilt from the event history alone.
      const t = timelineOf(h.workflowId, '', (await h.fetchHistory()).events ?? []);
      assert.equal(t.closed, true);
      assert.equal(t.outcome, 'repaired');
      const cmds = t.entries.filter((e) => e.kind === 'command');
      assert.deepEqual(cmds.map((e) => [e.host, (e.argv ?? []).join(' '), e.exitCode]), [
        ['vkt-control-01', 'ic map cox', 0],
        ['vkt-4vm-879-standart-02', 'clean_kust_replica.sh cox-1', 0],
      ]);
      const timer = t.entries.find((e) => e.kind === 'timer');
      assert.deepEqual([timer?.durationMs, timer?.timer], [3_600_000, 'fired']);
      assert.ok(Date.parse(cmds[1].at) - Date.parse(cmds[0].at) >= 3_600_000, 'the clean ran an hour after the look');
      assert.deepEqual(t.entries.filter((e) => e.kind === 'status').map((e) => e.status), ['waiting', 'running', 'completed']);
    },
    { workflow: 'opsWaitThenClean' },
  );
  assert.deepEqual(hosts.gapsSeconds, [3600]);
  // With no worker running any more: the history and the finished run's state still read.
  const h = await runHistory(env.client, runId);
  assert.deepEqual([h.closed, h.closeStatus, h.outcome, h.workflowType], [true, 'COMPLETED', 'repaired', 'opsWaitThenClean']);
  assert.deepEqual(h.entries.filter((e) => e.kind === 'command').map((e) => e.exitCode), [0, 0]);
  const d = await describeRun(env.client, runId);
  assert.deepEqual([d.temporalStatus, d.status, d.stateFrom, d.state?.outcome], ['COMPLETED', 'completed', 'result', 'repaired']);
});

test('escalation decided by the decision signal: a wrong verb is recorded as refused, resolved closes the run', async () => {
  const hosts = new FakeHosts(env).on('ic map cox', { stdout: MAP_NO_SLAVE });
  await withRun(hosts, input(), async (h) => {
    const s = await eventually(() => state(h), (st) => st.status === 'escalated' && st.nextTimerAt !== undefined);
    const reminderIn = await minutesUntil(s.nextTimerAt);
    assert.ok(reminderIn > 29.9 && reminderIn <= 30, `next reminder in ${reminderIn} min`);
    await h.signal(decideSignal, { action: 'approve', by: 'alice' });
    await eventually(() => state(h), (st) => st.decisions.length === 1);
    assert.equal((await state(h)).status, 'escalated');
    await h.signal(decideSignal, { action: 'resolved', by: 'bob', comment: 'fixed the map by hand' });
    const r = (await h.result()) as RunResult;
    assert.deepEqual([r.status, r.outcome], ['completed', 'resolved-by-operator']);
    assert.deepEqual(r.state.decisions.map((d) => [d.action, d.by, d.accepted]), [
      ['approve', 'alice', false],
      ['resolved', 'bob', true],
    ]);
  });
  assert.deepEqual(hosts.sequence, [IC_MAP]);
});

test('flapping guard: repaired 10 minutes ago -> escalates before the clean, changes nothing; retry acknowledges and repairs', async () => {
  const hosts = new FakeHosts(env).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: CLEAN_OK });
  const repairedAt = new Date((await env.currentTimeMs()) - 10 * 60_000).toISOString();
  await withRun(hosts, input({}, { recentRepairAt: repairedAt }), async (h) => {
    const s = await eventually(() => state(h), (st) => st.status === 'escalated');
    assert.equal(s.pending?.step, 'clean the replica');
    assert.equal(s.pending?.reason, `flapping guard: cox-1 was repaired at ${repairedAt}`);
    assert.deepEqual(hosts.sequence, [IC_MAP], 'nothing changed');
    assert.deepEqual(hosts.notifications.map((n) => [n.kind, n.reason]), [['escalation', `flapping guard: cox-1 was repaired at ${repairedAt}`]]);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice', comment: 'flapping understood' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.deepEqual(r.state.steps.map((st) => [st.name, st.verdict]), [
      ['find the slave', 'ok'],
      ['escalated: clean the replica', 'retry'],
      ['clean the replica', 'ok'],
    ]);
  });
  assert.deepEqual(hosts.sequence, [IC_MAP, CLEAN]);
});

test('flapping guard: abort stops the run without acting; a repair older than timers.flapGuard does not trigger it', async () => {
  const hosts = new FakeHosts(env).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: CLEAN_OK });
  const recent = new Date((await env.currentTimeMs()) - 20 * 60_000).toISOString();
  await withRun(hosts, input({ timers: { flapGuard: '30m' } }, { recentRepairAt: recent }), async (h) => {
    await eventually(() => state(h), (st) => st.status === 'escalated');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'abort', by: 'bob' }] });
    const r = (await h.result()) as RunResult;
    assert.deepEqual([r.status, r.outcome], ['aborted', 'aborted-by-operator']);
  });
  assert.deepEqual(hosts.sequence, [IC_MAP]);

  const later = new FakeHosts(env).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: CLEAN_OK });
  const old = new Date((await env.currentTimeMs()) - 31 * 60_000).toISOString();
  await withRun(later, input({ timers: { flapGuard: '30m' } }, { recentRepairAt: old }), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.equal(r.state.steps.filter((st) => st.kind === 'escalation').length, 0);
  });
  assert.deepEqual(later.sequence, [IC_MAP, CLEAN]);
  assert.equal(later.notifications.length, 0);
});

test('dry run: the read-only steps run for real, the clean is recorded with its exact command line and never runs', async () => {
  const hosts = new FakeHosts(env).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: CLEAN_OK });
  // An approval policy does not make a dry run wait, and a recent repair does not escalate it.
  const repairedAt = new Date((await env.currentTimeMs()) - 60_000).toISOString();
  await withRun(hosts, input({ approvals: { 'kust-replica': { clean: 'approve' } } }, { dryRun: true, recentRepairAt: repairedAt }), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.deepEqual([r.status, r.outcome], ['completed', 'dry-run']);
    assert.equal(r.state.dryRun, true);
    assert.deepEqual(r.state.steps.map((st) => [st.name, st.kind, st.host, st.verdict]), [
      ['find the slave', 'command', 'vkt-control-01', 'ok'],
      ['approval: clean the replica', 'approval', undefined, 'would-run'],
      ['clean the replica', 'command', 'vkt-4vm-879-standart-02', 'would-run'],
    ]);
    assert.equal(r.state.steps[2].command, `'clean_kust_replica.sh' 'cox-1'`);
    assert.match(r.summary, /dry run: stopped before "clean the replica", which would run 'clean_kust_replica\.sh' 'cox-1' on vkt-4vm-879-standart-02; nothing was changed/);
  });
  assert.deepEqual(hosts.sequence, [IC_MAP]);
  assert.equal(hosts.notifications.length, 0);
});

test('dry run: a failure that would escalate ends the run with what would have escalated, and pages nobody', async () => {
  const hosts = new FakeHosts(env).on('ic map cox', { stdout: MAP_NO_SLAVE });
  await withRun(hosts, input({}, { dryRun: true }), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.deepEqual([r.status, r.outcome], ['completed', 'dry-run']);
    assert.match(r.summary, /dry run: would escalate at "find the slave": .*no slave/);
    assert.equal(r.state.steps.at(-1)?.verdict, 'would-run');
    assert.match(r.state.steps.at(-1)?.output ?? '', /10\.32\.96\.0:2510 dead main/);
  });
  assert.equal(hosts.notifications.length, 0);
});

/** A local notification endpoint: the first POST gets a 500, the next ones 200. */
async function receiver(): Promise<{ url: string; posts: { status: number; body: Record<string, unknown>; contentType?: string }[]; close(): Promise<void> }> {
  const posts: { status: number; body: Record<string, unknown>; contentType?: string }[] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = posts.length === 0 ? 500 : 200;
      posts.push({ status, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, contentType: req.headers['content-type'] });
      res.writeHead(status).end(status === 200 ? 'ok' : 'try again');
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/hooks/medic`,
    posts,
    close: () => new Promise<void>((resolve) => srv.close(() => resolve())),
  };
}

test('escalation notification: JSON POST to the configured URL; a 500 is retried and the second POST carries every field', async () => {
  const hook = await receiver();
  try {
    const base = testConfig({ notifications: { url: hook.url }, service: { webUiUrl: 'http://ui.example:8233' } });
    const config = { ...base, api: { ...base.api, publicUrl: 'https://medic.example/console/' } };
    const { notify } = createActivities(config);
    const hosts = new FakeHosts(env).on('ic map cox', { stdout: MAP_NO_SLAVE });
    await withRun(
      hosts,
      input(),
      async (h, id) => {
        await eventually(() => state(h), (st) => st.status === 'escalated');
        await eventually(
          async () => {
            await env.sleep('10s');
            return hook.posts.length;
          },
          (n) => n >= 2,
        );
        assert.deepEqual(hook.posts.map((p) => p.status), [500, 200]);
        const { body, contentType } = hook.posts[1];
        assert.match(contentType ?? '', /^application\/json/);
        assert.deepEqual(hook.posts[0].body, body, 'the retry sends the same notification');
        assert.match(String(body.text), new RegExp(`^\\[ESCALATED\\] ${id}: find the slave: .*no slave`));
        assert.equal(body.kind, 'escalation');
        assert.equal(body.runId, id);
        assert.equal(body.runbook, 'kust-replica');
        assert.equal(body.target, 'cox-1');
        assert.equal(body.step, 'find the slave');
        assert.match(String(body.reason), /no slave/);
        assert.match(String(body.evidence), /\$ 'ic' 'map' 'cox' +\(on vkt-control-01, exit 0\)\n[\s\S]*10\.32\.96\.0:2510 dead main/);
        assert.equal(body.link, `https://medic.example/console/runs/${encodeURIComponent(id)}`, "the run's console page");
        assert.equal(body.temporalLink, `http://ui.example:8233/namespaces/default/workflows/${encodeURIComponent(id)}`);

        // The history shows one notification, delivered on its second attempt.
        const t = timelineOf(id, '', (await h.fetchHistory()).events ?? []);
        const sent = await eventually(
          async () => timelineOf(id, '', (await h.fetchHistory()).events ?? []).entries.filter((e) => e.kind === 'notification'),
          (ns) => ns.length === 1 && ns[0].endedAt !== undefined,
        );
        assert.deepEqual([sent[0].notification?.kind, sent[0].attempts, sent[0].notification?.delivered], ['escalation', 2, true]);
        assert.equal(t.closed, false);
        await h.executeUpdate(decideUpdate, { args: [{ action: 'abort', by: 'alice' }] });
        assert.equal(((await h.result()) as RunResult).outcome, 'aborted-by-operator');
      },
      { notify },
    );
  } finally {
    await hook.close();
  }
});

test('the state query of a run that waits for nothing reports no next timer', async () => {
  const hosts = new FakeHosts(env).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: CLEAN_OK });
  await withRun(hosts, input(), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    const s: RunState = await state(h);
    assert.equal(s.nextTimerAt, undefined);
    assert.equal(s.status, 'completed');
  });
});
