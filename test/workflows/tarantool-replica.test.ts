/** tarantool-replica sequencing on the time-skipping test server: exact commands, hosts and the simulated time between them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideUpdate, RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { FakeHosts } from '../helpers/fake-hosts';
import { testSettings } from '../helpers/settings';
import { RunHandle, eventually, useTimeSkippingEnv, withWorkflow } from '../helpers/temporal';

// RUNBOOKS.md tarantool-replica step 1: tab-separated, trailing tabs on the node line.
const MAP =
  'node\tbadger-3\t(268435456 buckets)\t\t\t\n' +
  'srv\tbadger.vkt-4vm-675-standart-01.badger-3\t\t10.32.0.1:2502\talive\tslave\n' +
  'srv\tbadger.vkt-4vm-675-standart-02.badger-3\t\t10.32.48.0:2502\talive\tmain\n';
const MAP_SWAPPED = MAP.replace('alive\tslave', 'alive\tMAIN').replace('alive\tmain', 'alive\tslave').replace('MAIN', 'main');
const CLEAN_OK = [
  'INFO: stopping IPROS instance badger-3',
  'INFO: stopping tarantool instance tarantool@badger-3',
  'INFO: deleting /var/lib/tarantool/badger-3/00000000000000012345.snap',
  'INFO: starting tarantool instance tarantool@badger-3',
  'INFO: successfully started tarantool@badger-3',
  'INFO: waiting 10 seconds',
  'INFO: starting IPROS instance badger-3',
  'INFO: successfully started badger-3',
  '',
].join('\n');
const CLEAN_BAD = CLEAN_OK.replace('INFO: successfully started badger-3', 'ERROR: badger-3 failed to start');
const FLIP_OK = 'INFO: flip of badger-3 started\nOK\n';

const SLAVE = 'vkt-4vm-675-standart-01';
const MAIN = 'vkt-4vm-675-standart-02';
const CONTROL = 'vkt-control-01';
const STEPS = {
  map: `${CONTROL}: ic map badger`,
  clean: `${SLAVE}: clean_tnt_replica.sh badger-3`,
  active: `${SLAVE}: systemctl is-active tarantool@badger-3 badger-3`,
  flip: `${SLAVE}: ic flip badger.vkt-4vm-675-standart-01.badger-3`,
  verify: `${SLAVE}: ic map badger`,
  restart: `${MAIN}: systemctl restart tarantool@badger-3 badger-3`,
};

const testEnv = useTimeSkippingEnv();
const withRun = (hosts: FakeHosts, body: (h: RunHandle) => Promise<void>) =>
  withWorkflow(
    testEnv(),
    { workflowType: 'tarantoolReplica', workflowId: 'tarantool-replica/badger-3', input: { service: 'badger', instance: 'badger-3', settings: testSettings('tarantool-replica') }, activities: hosts.activities() },
    body,
  );

const state = (h: { query: (q: typeof stateQuery) => Promise<RunState> }) => h.query(stateQuery);

/** Lets the simulated clock run past every wait of the procedure, then expects an escalation at `step`. */
async function escalatedAt(h: RunHandle, step: string, minutes = 25): Promise<RunState> {
  await testEnv().sleep(`${minutes}m`);
  const s = await eventually(() => state(h), (s) => s.status === 'escalated');
  assert.equal(s.pending?.step, step);
  return s;
}

/** Nothing more runs while escalated (an hour of simulated time), then the operator aborts. */
async function abortAfterAnHour(h: RunHandle, hosts: FakeHosts): Promise<RunResult> {
  const calls = hosts.calls.length;
  await testEnv().sleep('1h');
  assert.equal((await state(h)).status, 'escalated');
  assert.equal(hosts.calls.length, calls, 'nothing runs while escalated');
  await h.executeUpdate(decideUpdate, { args: [{ action: 'abort', by: 'alice' }] });
  const r = (await h.result()) as RunResult;
  assert.equal(r.status, 'aborted');
  return r;
}

test('success: map, clean, [10 s] both units active, [5 min] flip, [5 min] roles swapped, restart of the former main', async () => {
  const hosts = new FakeHosts(testEnv())
    .on('ic map badger', { stdout: MAP }, { stdout: MAP_SWAPPED })
    .on('clean_tnt_replica.sh badger-3', { stdout: CLEAN_OK })
    .on('systemctl is-active', { stdout: 'active\nactive\n' })
    .on('ic flip', { stdout: FLIP_OK })
    .on('systemctl restart', { stdout: '' });
  await withRun(hosts, async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.status, 'completed');
    assert.equal(r.outcome, 'repaired');
    assert.deepEqual(r.state.steps.map((s) => [s.name, s.kind, s.host ?? '', s.verdict]), [
      ['find the slave and the main', 'command', CONTROL, 'ok'],
      ['clean the replica', 'command', SLAVE, 'ok'],
      ['let tarantool and IPROS settle', 'wait', '', 'done'],
      ['both units active', 'command', SLAVE, 'ok'],
      ['wait before the flip', 'wait', '', 'done'],
      ['flip the roles', 'command', SLAVE, 'ok'],
      ['wait before checking the roles', 'wait', '', 'done'],
      ['roles swapped', 'command', SLAVE, 'ok'],
      ['restart the former main', 'command', MAIN, 'ok'],
    ]);
  });
  assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.clean, STEPS.active, STEPS.flip, STEPS.verify, STEPS.restart]);
  assert.deepEqual(hosts.gapsSeconds, [0, 10, 300, 300, 0]);
  assert.equal(hosts.notifications.length, 0);
});

test('the flip fails once (no "started"/"OK"): 5 more minutes, the second flip succeeds and the run goes on', async () => {
  const hosts = new FakeHosts(testEnv())
    .on('ic map badger', { stdout: MAP }, { stdout: MAP_SWAPPED })
    .on('clean_tnt_replica.sh badger-3', { stdout: CLEAN_OK })
    .on('systemctl is-active', { stdout: 'active\nactive\n' })
    .on('ic flip', { stdout: 'ERROR: replication lag 812 s, not flipping\n' }, { stdout: FLIP_OK })
    .on('systemctl restart', { stdout: '' });
  await withRun(hosts, async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    const flips = r.state.steps.filter((s) => s.name === 'flip the roles');
    assert.deepEqual(flips.map((s) => s.verdict), ['failed', 'ok']);
    assert.match(flips[0].reason ?? '', /neither "started" nor "OK"/);
  });
  assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.clean, STEPS.active, STEPS.flip, STEPS.flip, STEPS.verify, STEPS.restart]);
  assert.deepEqual(hosts.gapsSeconds, [0, 10, 300, 300, 300, 0]);
  assert.equal(hosts.notifications.length, 0);
});

test('the flip fails twice: escalated after the second, nothing after it runs', async () => {
  const hosts = new FakeHosts(testEnv())
    .on('ic map badger', { stdout: MAP })
    .on('clean_tnt_replica.sh badger-3', { stdout: CLEAN_OK })
    .on('systemctl is-active', { stdout: 'active\nactive\n' })
    .on('ic flip', { exitCode: 1, stderr: 'ERROR: srv is not ready to become main\n' });
  await withRun(hosts, async (h) => {
    const s = await escalatedAt(h, 'flip the roles');
    assert.match(s.pending?.reason ?? '', /exit code 1/);
    assert.match(s.pending?.evidence ?? '', /not ready to become main/);
    await abortAfterAnHour(h, hosts);
  });
  assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.clean, STEPS.active, STEPS.flip, STEPS.flip]);
  assert.deepEqual(hosts.gapsSeconds, [0, 10, 300, 300]);
  assert.deepEqual(hosts.notifications.map((n) => n.kind), ['escalation', 'reminder', 'reminder']);
});

test('bad clean output: escalated at once, no settle wait, no flip', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map badger', { stdout: MAP }).on('clean_tnt_replica.sh badger-3', { stdout: CLEAN_BAD });
  await withRun(hosts, async (h) => {
    const s = await escalatedAt(h, 'clean the replica', 1);
    assert.match(s.pending?.reason ?? '', /line 5 of the last 5: expected "INFO: successfully started badger-3", got "ERROR: badger-3 failed to start"/);
    const r = await abortAfterAnHour(h, hosts);
    assert.deepEqual(r.state.steps.map((st) => st.name), ['find the slave and the main', 'clean the replica', 'escalated: clean the replica']);
  });
  assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.clean]);
  assert.deepEqual(hosts.gapsSeconds, [0]);
});

test('a unit not active after the settle wait (systemctl exits 3): escalated, no flip', async () => {
  const hosts = new FakeHosts(testEnv())
    .on('ic map badger', { stdout: MAP })
    .on('clean_tnt_replica.sh badger-3', { stdout: CLEAN_OK })
    .on('systemctl is-active', { exitCode: 3, stdout: 'active\nfailed\n' });
  await withRun(hosts, async (h) => {
    const s = await escalatedAt(h, 'both units active', 1);
    assert.equal(s.pending?.reason, 'not active: badger-3: failed');
    await abortAfterAnHour(h, hosts);
  });
  assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.clean, STEPS.active]);
  assert.deepEqual(hosts.gapsSeconds, [0, 10]);
});

test('roles not swapped after the flip: escalated, no restart; the operator\'s retry looks again and finishes', async () => {
  const hosts = new FakeHosts(testEnv())
    .on('ic map badger', { stdout: MAP }, { stdout: MAP }, { stdout: MAP_SWAPPED })
    .on('clean_tnt_replica.sh badger-3', { stdout: CLEAN_OK })
    .on('systemctl is-active', { stdout: 'active\nactive\n' })
    .on('ic flip', { stdout: FLIP_OK })
    .on('systemctl restart', { stdout: '' });
  await withRun(hosts, async (h) => {
    const s = await escalatedAt(h, 'roles swapped');
    assert.match(s.pending?.reason ?? '', /roles not swapped: main is badger\.vkt-4vm-675-standart-02\.badger-3/);
    const calls = hosts.calls.length;
    await testEnv().sleep('1h');
    assert.equal(hosts.calls.length, calls, 'no restart while escalated');
    assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.clean, STEPS.active, STEPS.flip, STEPS.verify]);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'bob' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
  });
  assert.deepEqual(hosts.sequence, [STEPS.map, STEPS.clean, STEPS.active, STEPS.flip, STEPS.verify, STEPS.verify, STEPS.restart]);
  assert.deepEqual(hosts.gapsSeconds.slice(0, 4), [0, 10, 300, 300]);
  assert.equal(hosts.gapsSeconds[5], 0);
});
