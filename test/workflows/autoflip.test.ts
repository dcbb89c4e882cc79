/**
 * autoflip sequencing on the time-skipping test server: exact commands and simulated time. The test
 * server has no ListWorkflowExecutions, so the two run activities (open replication runs, a run's
 * outcome) are faked here and recorded in the same sequence as host "temporal".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunActivities, RunOutcome, RunRef } from '../../activities';
import { decideUpdate, RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { FakeHosts } from '../helpers/fake-hosts';
import { testSettings } from '../helpers/settings';
import { RunHandle, eventually, useTimeSkippingEnv, withWorkflow } from '../helpers/temporal';

// RUNBOOKS.md autoflip step 1 (blocked, [ALERT] wrapped, lastseen wrapped) and the enabled shape.
const BLOCKED = `autoflip:  disable  due  to  previous  autoflip  -  have  to  unset  manually
[ALERT]
node 01      (4294967296  buckets)
  srv  fate.onpremise.fate-1  10.32.0.1:2517  dead  slave  lastseen:
2025-08-14/14:09:05
  srv  fate.onpremise.fate-2  10.32.0.1:2553  alive  main
`;
const ENABLED = `autoflip:  enable
node  01    (4294967296  buckets)
  srv  fate.onpremise.fate-1    10.32.0.1:2517  alive  slave
  srv  fate.onpremise.fate-2    10.32.0.1:2553  alive  main
`;
const DISABLED_BY_HAND = ENABLED.replace('autoflip:  enable', 'autoflip:  disable');
const SET_OK = 'autoflip for map fate: enable\nOK\n';

const C = 'vkt-control-01';
const STEPS = {
  map: `${C}: ic map fate`,
  open: 'temporal: openReplicationRuns fate fate-1,fate-2',
  outcome: 'temporal: runOutcome kust-replica/fate-1',
  set: `${C}: ic set_autoflip fate enable`,
};

const KUST_RUN: RunRef = { workflowId: 'kust-replica/fate-1', runId: 'run-1', runbook: 'kust-replica', target: 'fate-1' };
const RUNNING: RunOutcome = { status: 'RUNNING' };
const done = (outcome: string, status = 'completed'): RunOutcome => ({ status: 'COMPLETED', result: { status, outcome, summary: `kust-replica ${outcome}` } });

/** Scripted answers of the run activities, recorded in the hosts' call list. */
function fakeRuns(hosts: FakeHosts, open: RunRef[][], outcomes: RunOutcome[]): RunActivities {
  const next = <T>(list: T[], fallback: T): T => (list.length > 1 ? (list.shift() as T) : (list[0] ?? fallback));
  return {
    openReplicationRuns: async (service, instances) => {
      hosts.calls.push({ host: 'temporal', line: `openReplicationRuns ${service} ${(instances ?? []).join(',')}`, at: await testEnv().currentTimeMs() });
      return next(open, []);
    },
    runOutcome: async ({ workflowId }) => {
      hosts.calls.push({ host: 'temporal', line: `runOutcome ${workflowId}`, at: await testEnv().currentTimeMs() });
      return next(outcomes, { status: 'NOT_FOUND' });
    },
  };
}

const testEnv = useTimeSkippingEnv();
const withRun = (hosts: FakeHosts, runs: RunActivities, body: (h: RunHandle) => Promise<void>) =>
  withWorkflow(
    testEnv(),
    { workflowType: 'autoflip', workflowId: 'autoflip/fate', input: { map: 'fate', settings: testSettings('autoflip') }, activities: { ...hosts.activities(), ...runs } },
    body,
  );

const state = (h: { query: (q: typeof stateQuery) => Promise<RunState> }) => h.query(stateQuery);

async function escalatedAt(h: RunHandle, step: string, minutes: number): Promise<RunState> {
  await testEnv().sleep(`${minutes}m`);
  const s = await eventually(() => state(h), (s) => s.status === 'escalated');
  assert.equal(s.pending?.step, step);
  return s;
}

test('already enabled: one ic map, outcome nothing-to-do, no look at replication, nothing changed', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map fate', { stdout: ENABLED });
  await withRun(hosts, fakeRuns(hosts, [[KUST_RUN]], [RUNNING]), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.status, 'completed');
    assert.equal(r.outcome, 'nothing-to-do');
  });
  assert.deepEqual(hosts.sequence, [STEPS.map]);
});

test('blocked, no replication problem: ic map, no open replication run, set_autoflip, ic map says enable', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map fate', { stdout: BLOCKED }, { stdout: ENABLED }).on('ic set_autoflip fate enable', { stdout: SET_OK });
  await withRun(hosts, fakeRuns(hosts, [[]], []), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.deepEqual(r.state.steps.map((s) => [s.name, s.host ?? '', s.verdict]), [
      ['autoflip blocked', C, 'ok'],
      ['enable autoflip', C, 'ok'],
      ['autoflip enabled', C, 'ok'],
    ]);
  });
  assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.open, STEPS.set, STEPS.map]);
  assert.deepEqual(hosts.gapsSeconds, [0, 0, 0]);
  assert.equal(hosts.notifications.length, 0);
});

test('a replication run of the service is open: wait for it (1, 2, 4 min between looks), enable only after it repaired', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map fate', { stdout: BLOCKED }, { stdout: ENABLED }).on('ic set_autoflip fate enable', { stdout: SET_OK });
  await withRun(hosts, fakeRuns(hosts, [[KUST_RUN]], [RUNNING, RUNNING, RUNNING, done('repaired')]), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    const wait = r.state.steps.find((s) => s.name === 'wait for kust-replica/fate-1 to finish');
    assert.equal(wait?.kind, 'wait');
    assert.equal(wait?.verdict, 'done');
  });
  assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.open, STEPS.outcome, STEPS.outcome, STEPS.outcome, STEPS.outcome, STEPS.set, STEPS.map]);
  assert.deepEqual(hosts.gapsSeconds, [0, 0, 60, 120, 240, 0, 0]);
});

test('the replication run ended aborted: escalated, autoflip untouched; retry looks again and, nothing open, enables', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map fate', { stdout: BLOCKED }, { stdout: ENABLED }).on('ic set_autoflip fate enable', { stdout: SET_OK });
  await withRun(hosts, fakeRuns(hosts, [[KUST_RUN], []], [RUNNING, { status: 'COMPLETED', result: { status: 'aborted', outcome: 'aborted-by-operator', summary: 'alice aborted' } }]), async (h) => {
    const s = await escalatedAt(h, 'replication repaired first', 5);
    assert.match(s.pending?.reason ?? '', /replication of fate was not repaired: kust-replica\/fate-1: aborted \(aborted-by-operator\)/);
    await testEnv().sleep('1h');
    assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.open, STEPS.outcome, STEPS.outcome], 'no set_autoflip while escalated');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice', comment: 'fate-1 re-seeded by hand' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
  });
  assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.open, STEPS.outcome, STEPS.outcome, STEPS.open, STEPS.set, STEPS.map]);
  assert.deepEqual(hosts.gapsSeconds.slice(0, 3), [0, 0, 60]);
});

test('set_autoflip fails twice: 1 min apart, then escalated; nothing else runs', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map fate', { stdout: BLOCKED }).on('ic set_autoflip fate enable', { exitCode: 1, stderr: 'ERROR: ctlr not reachable\n' });
  await withRun(hosts, fakeRuns(hosts, [[]], []), async (h) => {
    const s = await escalatedAt(h, 'enable autoflip', 5);
    assert.match(s.pending?.reason ?? '', /exit code 1/);
    assert.match(s.pending?.evidence ?? '', /ctlr not reachable/);
    await testEnv().sleep('1h');
    assert.equal((await state(h)).status, 'escalated');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'abort', by: 'bob' }] });
    assert.equal(((await h.result()) as RunResult).status, 'aborted');
  });
  assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.open, STEPS.set, STEPS.set]);
  assert.deepEqual(hosts.gapsSeconds, [0, 0, 60]);
  assert.deepEqual(hosts.notifications.map((n) => n.kind), ['escalation', 'reminder', 'reminder']);
});

test('the map still says blocked after set_autoflip: the retry runs set_autoflip and the check again, then it is enabled', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map fate', { stdout: BLOCKED }, { stdout: BLOCKED }, { stdout: ENABLED }).on('ic set_autoflip fate enable', { stdout: SET_OK });
  await withRun(hosts, fakeRuns(hosts, [[]], []), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.deepEqual(r.state.steps.filter((s) => s.name === 'autoflip enabled').map((s) => s.verdict), ['failed', 'ok']);
  });
  assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.open, STEPS.set, STEPS.map, STEPS.set, STEPS.map]);
  assert.deepEqual(hosts.gapsSeconds, [0, 0, 0, 60, 0]);
});

test('disabled without the "previous autoflip" reason (someone disabled it on purpose): escalated, never enabled', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map fate', { stdout: DISABLED_BY_HAND });
  await withRun(hosts, fakeRuns(hosts, [[]], []), async (h) => {
    const s = await escalatedAt(h, 'autoflip blocked', 1);
    assert.match(s.pending?.reason ?? '', /disabled, but not "due to previous autoflip - have to unset manually" \(no reason given\)/);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'resolved', by: 'alice' }] });
    assert.equal(((await h.result()) as RunResult).outcome, 'resolved-by-operator');
  });
  assert.deepEqual(hosts.sequence, [STEPS.map]);
});
