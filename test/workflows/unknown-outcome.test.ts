/**
 * A changing command whose outcome is not known (lost worker, host unreachable, the journal cannot tell)
 * is never started twice on a guess: every later run of that step carries the same journal key, so the
 * host answers from its journal; only the operator's explicit `run-again` gives it a new key. Sequencing
 * on the time-skipping server: the commands, their keys, and the simulated time between them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { tntCleanExpected } from '../../parsers/output';
import { decideUpdate, RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { FakeHosts, simSeconds } from '../helpers/fake-hosts';
import { testSettings } from '../helpers/settings';
import { advanceUntil, eventually, RunHandle, useTimeSkippingEnv, withWorkflow } from '../helpers/temporal';

const MAP = `node cox-1 (2147483648 buckets)
  srv cox.vkt-4vm-879-standart-01.cox-1 10.32.0.1:2510 alive main
  srv cox.vkt-4vm-879-standart-02.cox-1 10.32.96.0:2510 alive slave
`;
const CLEAN_OK = `INFO: starting cox-1\nINFO: successfully started cox-1\n`;
const CLEAN = 'vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1';
const unknown = () => ApplicationFailure.create({ message: 'outcome unknown: the command (started 2026-12-02T01:00:00Z) is no longer running and left no exit status', type: 'Ssh:outcome-unknown', nonRetryable: true });

const testEnv = useTimeSkippingEnv();
const state = (h: RunHandle) => h.query(stateQuery) as Promise<RunState>;
const kust = (hosts: FakeHosts, body: (h: RunHandle) => Promise<void>) =>
  withWorkflow(testEnv(), { workflowType: 'kustReplica', workflowId: 'kust-replica/cox-1', input: { service: 'cox', instance: 'cox-1', settings: testSettings('kust-replica') }, activities: hosts.activities() }, body);
const keysOf = (hosts: FakeHosts, line: string) => hosts.calls.filter((c) => `${c.host}: ${c.line}` === line).map((c) => c.journal);

test('outcome unknown: escalates saying so; "retry" asks the journal again under the same key, never a new start', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', unknown(), { stdout: CLEAN_OK, recovered: "read from the host's journal" });
  await kust(hosts, async (h) => {
    const s = await eventually(() => state(h), (x) => x.status === 'escalated');
    assert.match(s.pending?.reason ?? '', /^outcome unknown: .*never started twice/);
    assert.match(s.pending?.evidence ?? '', /on vkt-4vm-879-standart-02, journal \S+, step started /);
    assert.deepEqual(s.pending?.choices, ['run-again']);
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [{ action: 'resolved', by: 'alice', choice: 'run-again' }] }), WorkflowUpdateFailedError);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.equal(r.state.steps.find((st) => st.name === 'clean the replica' && st.verdict === 'ok')?.recovered, "read from the host's journal");
  });
  const keys = keysOf(hosts, CLEAN);
  assert.equal(keys.length, 2);
  assert.match(keys[0] ?? '', /^[0-9a-f-]{36}\.2$/, 'run ID and step number');
  assert.equal(keys[1], keys[0], 'the retry carried the same key: the host refuses a second start');
  assert.deepEqual(keysOf(hosts, 'vkt-control-01: ic map cox'), [undefined], 'read-only commands have no journal');
});

test('"retry" with the choice run-again starts the command anew, under a new key', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', unknown(), { stdout: CLEAN_OK });
  await kust(hosts, async (h) => {
    await eventually(() => state(h), (x) => x.status === 'escalated');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice', choice: 'run-again', comment: 'checked the host: nothing ran' }] });
    assert.equal(((await h.result()) as RunResult).outcome, 'repaired');
  });
  const keys = keysOf(hosts, CLEAN);
  assert.equal(keys.length, 2);
  assert.notEqual(keys[1], keys[0]);
});

test('a transport failure is retried by the activity under one key (1, 2, 4, 8 s), then escalates as not known yet', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', new Error('connection reset by peer'));
  await kust(hosts, async (h) => {
    // The activity's retry pauses are simulated time: skip through them.
    await advanceUntil(testEnv(), async () => (await state(h)).status === 'escalated', '10m', 1000);
    const s = await state(h);
    assert.match(s.pending?.reason ?? '', /^outcome not known yet: connection reset by peer; on retry the host's journal is read first/);
    assert.deepEqual(s.pending?.choices, ['run-again']);
  });
  const keys = keysOf(hosts, CLEAN);
  assert.equal(keys.length, 5, 'five attempts');
  assert.equal(new Set(keys).size, 1, 'all under the same key');
  assert.deepEqual(hosts.gapsSeconds.slice(1), [1, 2, 4, 8]);
});

test('a settled failure (the command ran and failed) gives the operator\'s retry a new key: that retry is a real second run, as the procedure says', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: MAP }).on('clean_kust_replica.sh cox-1', { stdout: 'ERROR: cox-1 failed to start\n' }, { stdout: CLEAN_OK });
  await kust(hosts, async (h) => {
    const s = await eventually(() => state(h), (x) => x.status === 'escalated');
    assert.equal(s.pending?.choices, undefined, 'nothing unknown: no run-again choice');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] });
    assert.equal(((await h.result()) as RunResult).outcome, 'repaired');
  });
  const keys = keysOf(hosts, CLEAN);
  assert.equal(keys.length, 2);
  assert.notEqual(keys[1], keys[0]);
});

test('tarantool flip: an unknown first attempt is not flipped again after the pause; the same key asks the journal', async () => {
  const TMAP = `node badger-3 (2147483648 buckets)
  srv badger.vkt-4vm-675-standart-01.badger-3 10.32.0.1:3301 alive main
  srv badger.vkt-4vm-675-standart-02.badger-3 10.32.96.0:3301 alive slave
`;
  const SWAPPED = TMAP.replace('alive main', 'alive MAIN').replace('alive slave', 'alive main').replace('alive MAIN', 'alive slave');
  const CLEAN_TNT = `${tntCleanExpected('badger-3').join('\n')}\n`;
  const hosts = new FakeHosts(testEnv())
    .on('vkt-control-01: ic map badger', { stdout: TMAP })
    .on('ic map badger', { stdout: SWAPPED })
    .on('clean_tnt_replica.sh badger-3', { stdout: CLEAN_TNT })
    .on('systemctl is-active', { stdout: 'active\nactive\n' })
    .on('ic flip', unknown(), { stdout: 'INFO: badger-3 started\nOK\n', recovered: "read from the host's journal" })
    .on('systemctl restart', { stdout: '' });
  await withWorkflow(testEnv(), { workflowType: 'tarantoolReplica', workflowId: 'tarantool-replica/badger-3', input: { service: 'badger', instance: 'badger-3', settings: testSettings('tarantool-replica') }, activities: hosts.activities() }, async (h) => {
    // No decision is needed: awaiting the result skips the waits.
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired', r.summary);
  });
  const flips = hosts.calls.filter((c) => c.line.startsWith('ic flip'));
  assert.equal(flips.length, 2);
  assert.equal(flips[1].journal, flips[0].journal);
  assert.equal(simSeconds(flips[1].at - flips[0].at), 300, 'after the 5-minute retry pause');
  assert.notEqual(hosts.calls.find((c) => c.line.startsWith('clean_tnt'))?.journal, flips[0].journal, 'each step has its own key');
});
