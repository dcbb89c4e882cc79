/** kust-replica sequencing on the time-skipping test server: exact commands, hosts, waits and decisions. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Notification } from '../../activities';
import { decideUpdate, RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { FakeHosts } from '../helpers/fake-hosts';
import { testSettings } from '../helpers/settings';
import { RunHandle, eventually, useTimeSkippingEnv, withWorkflow } from '../helpers/temporal';

const MAP = `node cox-1 (2147483648 buckets)
  srv cox.vkt-4vm-879-standart-01.cox-1 10.32.0.1:2510 alive main
  srv cox.vkt-4vm-879-standart-02.cox-1 10.32.96.0:2510 alive slave
`;
const MAP_NO_SLAVE = `node cox-1 (2147483648 buckets)
  srv cox.vkt-4vm-879-standart-01.cox-1 10.32.0.1:2510 alive main
  srv cox.vkt-4vm-879-standart-02.cox-1 10.32.96.0:2510 dead main
`;
const CLEAN_OK = `INFO: deleting /data/cox-1/snap/000001.snap\nINFO: deleting /data/cox-1/xlog/000002.xlog\nINFO: starting cox-1\nINFO: successfully started cox-1\n`;
const CLEAN_BAD = `INFO: deleting /data/cox-1/snap/000001.snap\nINFO: starting cox-1\nERROR: cox-1 failed to start\n`;

const testEnv = useTimeSkippingEnv();
const withRun = (hosts: FakeHosts, input: Record<string, unknown>, body: (h: RunHandle) => Promise<void>) =>
  withWorkflow(testEnv(), { workflowType: 'kustReplica', workflowId: 'kust-replica/cox-1', input, activities: hosts.activities() }, body);

/** An Update refused by the run's validator, with this reason. */
const refused = (reason: RegExp) => (err: Error) => err instanceof WorkflowUpdateFailedError && reason.test(String(err.cause?.message));
const input = (extra: Record<string, unknown> = {}) => ({ service: 'cox', instance: 'cox-1', settings: testSettings('kust-replica', extra) });
const state = (h: { query: (q: typeof stateQuery) => Promise<RunState> }) => h.query(stateQuery);

test('success: ic map on the control node, then the clean script on the slave host, nothing else', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: CLEAN_OK });
  await withRun(hosts, input(), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.status, 'completed');
    assert.equal(r.outcome, 'repaired');
    assert.deepEqual(r.state.steps.map((s) => [s.name, s.host, s.verdict]), [
      ['find the slave', 'vkt-control-01', 'ok'],
      ['clean the replica', 'vkt-4vm-879-standart-02', 'ok'],
    ]);
  });
  assert.deepEqual(hosts.sequence, ['vkt-control-01: ic map cox', 'vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1']);
  assert.deepEqual(hosts.gapsSeconds, [0]);
  assert.equal(hosts.notifications.length, 0);
});

test('no slave in the map: escalates with the map as evidence, runs nothing on any replica; abort ends it', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: MAP_NO_SLAVE });
  await withRun(hosts, input(), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.equal(s.pending?.step, 'find the slave');
    assert.match(s.pending?.reason ?? '', /no slave/);
    assert.match(s.pending?.evidence ?? '', /10\.32\.96\.0:2510 dead main/);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'abort', by: 'alice', comment: 'checking by hand' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.status, 'aborted');
    assert.equal(r.outcome, 'aborted-by-operator');
    assert.match(r.summary, /alice aborted at "find the slave": checking by hand/);
  });
  assert.deepEqual(hosts.sequence, ['vkt-control-01: ic map cox']);
  assert.equal(hosts.notifications.length, 1);
  assert.equal(hosts.notifications[0].kind, 'escalation');
  assert.match(hosts.notifications[0].runId, /^kust-replica\/cox-1-\d+$/);
});

test('bad clean output: escalation, operator retry, the clean runs again and succeeds', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: CLEAN_BAD }, { stdout: CLEAN_OK });
  await withRun(hosts, input(), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.match(s.pending?.reason ?? '', /expected "INFO: starting cox-1", got "INFO: starting cox-1"|expected "INFO: successfully started cox-1", got "ERROR: cox-1 failed to start"/);
    // Refused decisions change nothing: an approval verb for an escalation, and a name not on the list.
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] }), refused(/not a decision for a pending escalation/));
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'mallory' }] }), refused(/mallory is not on the approver list/));
    assert.equal((await state(h)).status, 'escalated');
    const rec = await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'bob' }] });
    assert.equal(rec.accepted, true);
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.deepEqual(r.state.steps.map((st) => [st.name, st.verdict, st.by ?? '']), [
      ['find the slave', 'ok', ''],
      ['clean the replica', 'failed', ''],
      ['escalated: clean the replica', 'retry', 'bob'],
      ['clean the replica', 'ok', ''],
    ]);
    // The two refusals are in the run's record (the audit trail) before the accepted retry.
    assert.deepEqual(r.state.decisions.map((d) => [d.action, d.by, d.accepted]), [
      ['approve', 'alice', false],
      ['retry', 'mallory', false],
      ['retry', 'bob', true],
    ]);
  });
  assert.deepEqual(hosts.sequence, [
    'vkt-control-01: ic map cox',
    'vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1',
    'vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1',
  ]);
});

test('an escalation reminds every 30 simulated minutes and never finishes by itself; resolved closes it', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { exitCode: 1, stderr: 'cannot stop cox-1' });
  await withRun(hosts, input(), async (h) => {
    await eventually(() => state(h), (s) => s.status === 'escalated');
    const t0 = await testEnv().currentTimeMs();
    await testEnv().sleep('65m');
    const s = await state(h);
    assert.equal(s.status, 'escalated');
    assert.deepEqual(hosts.notifications.map((n) => n.kind), ['escalation', 'reminder', 'reminder']);
    assert.ok((await testEnv().currentTimeMs()) - t0 >= 65 * 60_000);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'resolved', by: 'alice', comment: 're-seeded by hand' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.status, 'completed');
    assert.equal(r.outcome, 'resolved-by-operator');
  });
  assert.equal(hosts.calls.length, 2);
});

test('approval policy "approve": waits for an operator before the clean, then runs it', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: CLEAN_OK });
  await withRun(hosts, input({ approvals: { 'kust-replica': { clean: 'approve' } } }), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    assert.match(s.pending?.reason ?? '', /clean_kust_replica\.sh cox-1 on vkt-4vm-879-standart-02/);
    assert.deepEqual(hosts.sequence, ['vkt-control-01: ic map cox']);
    await testEnv().sleep('3h');
    assert.equal((await state(h)).status, 'awaiting-approval', 'no timeout approves');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.equal(r.state.steps.find((st) => st.kind === 'approval')?.by, 'alice');
  });
  assert.deepEqual(hosts.sequence, ['vkt-control-01: ic map cox', 'vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1']);
});

test('an approval taken while its notification is still being delivered is acted on at once; the obsolete delivery is cancelled', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: CLEAN_OK });
  // The notification URL does not answer: the delivery hangs, heartbeating, until it is cancelled (or let go).
  let release = () => undefined as void;
  const undelivered = new Promise<void>((r) => (release = r));
  let attempts = 0;
  let cancelled = false;
  const notify = async () => {
    attempts++;
    const ctx = Context.current();
    const beat = setInterval(() => ctx.heartbeat(), 200);
    try {
      await Promise.race([undelivered, ctx.cancelled]);
      return { delivered: true };
    } catch (err) {
      cancelled = true;
      throw err;
    } finally {
      clearInterval(beat);
    }
  };
  await withWorkflow(testEnv(), { workflowType: 'kustReplica', workflowId: 'kust-replica/cox-1', input: input({ approvals: { 'kust-replica': { clean: 'approve' } } }), activities: { ...hosts.activities(), notify } }, async (h) => {
    try {
      await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
      await eventually(async () => attempts, (n) => n > 0);
      const approvedAt = await testEnv().currentTimeMs();
      await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] });
      // While a delivery hangs, the test server's clock stands still: a run that waits for it never ends.
      let guard: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => (guard = setTimeout(() => reject(new Error('the run did not end within 20 s (real) of the approval: it waits for the undelivered notification')), 20_000)));
      const r = (await Promise.race([h.result(), stuck]).finally(() => clearTimeout(guard))) as RunResult;
      assert.equal(r.outcome, 'repaired');
      assert.equal(hosts.calls.length, 2);
      // Not after the notification's 30 s timeout and its retries: right after the approval.
      assert.ok(hosts.calls[1].at - approvedAt < 1000, `the clean ran ${hosts.calls[1].at - approvedAt} ms (simulated) after the approval`);
      assert.equal(attempts, 1, 'delivered once, not retried');
      assert.ok(cancelled, 'the obsolete delivery was cancelled before the run closed');
    } finally {
      release();
    }
  });
});

test('a value that fails its allow-list pattern fails the run before any command', async () => {
  const hosts = new FakeHosts(testEnv());
  await withRun(hosts, { ...input(), service: 'cox;reboot', instance: 'cox;reboot-1' }, async (h) => {
    await assert.rejects(h.result(), (err: Error) => err instanceof WorkflowFailedError && /service .* rejected: contains shell metacharacter ;/.test(String(err.cause?.message)));
  });
  assert.equal(hosts.calls.length, 0);
});

test('test helpers: a run ended while its escalation notice is still being sent leaves the shared clock skipping', async () => {
  // The test server locks its clock for an activity and frees it in the run's next update, which a terminated
  // run refuses: withWorkflow (endRuns) must wait for the notify activity before it terminates the run.
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: MAP_NO_SLAVE });
  const slowNotify = { ...hosts.activities(), notify: async (n: Notification) => (await new Promise((r) => setTimeout(r, 300)), hosts.activities().notify(n)) };
  await withWorkflow(testEnv(), { workflowType: 'kustReplica', workflowId: 'kust-replica/cox-1', input: input(), activities: slowNotify }, async (h) => {
    await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.equal(hosts.notifications.length, 0, 'the notice is still being sent');
  });
  assert.equal(hosts.notifications.length, 1, 'the run was ended after its notice went out');
  const t0 = await testEnv().currentTimeMs();
  let timer: NodeJS.Timeout | undefined;
  const skipped = await Promise.race([testEnv().sleep('65m').then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 10_000)))]);
  clearTimeout(timer);
  assert.ok(skipped, '65 simulated minutes did not pass in 10 s: the clock no longer skips');
  assert.ok((await testEnv().currentTimeMs()) - t0 >= 65 * 60_000);
});
