/**
 * Decisions with operator identity (workflows/decisions.ts, issue 15) on the time-skipping test server: a run
 * whose settings carry `identity` takes a decision only with a valid proof (an Ed25519 signature by the API's
 * key, made here with node:crypto exactly as the API makes it) for this run and the decision pending now;
 * everything else is recorded as refused and changes nothing. Per-gate approver lists. Every run here is
 * recorded for the replay test (scripts/record-histories.sh), so that this behaviour is guarded by replay too.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, KeyObject, sign } from 'node:crypto';
import { test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { decideSignal, decideUpdate, Decision, decisionPayload, DecisionProof, DecisionRecord, RunResult, RunSettings, RunState, stateQuery } from '../../workflows/definitions';
import { FakeHosts } from '../helpers/fake-hosts';
import { testSettings } from '../helpers/settings';
import { RunHandle, eventually, useTimeSkippingEnv, withWorkflow } from '../helpers/temporal';

const KUST_MAP = `node cox-1 (2147483648 buckets)
  srv cox.vkt-4vm-879-standart-01.cox-1 10.32.0.1:2510 alive main
  srv cox.vkt-4vm-879-standart-02.cox-1 10.32.96.0:2510 alive slave
`;
const KUST_MAP_NO_SLAVE = KUST_MAP.replace('alive slave', 'dead main');
const KUST_CLEAN_OK = `INFO: deleting /data/cox-1/snap/000001.snap\nINFO: starting cox-1\nINFO: successfully started cox-1\n`;
const IC_MAP = 'vkt-control-01: ic map cox';
const CLEAN = 'vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1';

const TNT_MAP =
  'node\tbadger-3\t(268435456 buckets)\t\t\t\n' +
  'srv\tbadger.vkt-4vm-675-standart-01.badger-3\t\t10.32.0.1:2502\talive\tslave\n' +
  'srv\tbadger.vkt-4vm-675-standart-02.badger-3\t\t10.32.48.0:2502\talive\tmain\n';
const TNT_MAP_SWAPPED = TNT_MAP.replace('alive\tslave', 'alive\tMAIN').replace('alive\tmain', 'alive\tslave').replace('MAIN', 'main');
const TNT_CLEAN_OK = [
  'INFO: stopping IPROS instance badger-3',
  'INFO: stopping tarantool instance tarantool@badger-3',
  'INFO: starting tarantool instance tarantool@badger-3',
  'INFO: successfully started tarantool@badger-3',
  'INFO: waiting 10 seconds',
  'INFO: starting IPROS instance badger-3',
  'INFO: successfully started badger-3',
  '',
].join('\n');
const TNT = {
  map: 'vkt-control-01: ic map badger',
  clean: 'vkt-4vm-675-standart-01: clean_tnt_replica.sh badger-3',
  active: 'vkt-4vm-675-standart-01: systemctl is-active tarantool@badger-3 badger-3',
  flip: 'vkt-4vm-675-standart-01: ic flip badger.vkt-4vm-675-standart-01.badger-3',
  verify: 'vkt-4vm-675-standart-01: ic map badger',
  restart: 'vkt-4vm-675-standart-02: systemctl restart tarantool@badger-3 badger-3',
};

/** The API's decision key (worker/decision-keys.ts) and another one that no run trusts. */
const apiKey = generateKeyPairSync('ed25519');
const otherKey = generateKeyPairSync('ed25519');
/** The raw 32-byte public key, base64 (the end of its SPKI DER), as settingsFor puts it into a run's settings. */
const rawPublicKey = (k: KeyObject) => k.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');

type Bare = Pick<Decision, 'action' | 'by' | 'choice' | 'comment'>;
/** Signs a decision as the API does: Ed25519 (node:crypto) over the UTF-8 of decisionPayload. */
function signed(d: Bare, p: Omit<DecisionProof, 'signature'>, key: KeyObject = apiKey.privateKey): Decision {
  const signature = sign(null, Buffer.from(decisionPayload(d, p), 'utf8'), key).toString('base64');
  return { ...d, proof: { ...p, signature } };
}

const testEnv = useTimeSkippingEnv();
const state = (h: RunHandle): Promise<RunState> => h.query(stateQuery);

/** A proof for the decision pending now in this run, through the console from 192.0.2.10 unless told otherwise. */
async function proven(h: RunHandle, d: Bare, over: Partial<Omit<DecisionProof, 'signature'>> = {}, key?: KeyObject): Promise<Decision> {
  const s = await state(h);
  assert.ok(s.pending, 'a decision is pending');
  return signed(d, { workflowId: h.workflowId, pendingSince: s.pending.since, via: 'console', source: '192.0.2.10', at: new Date(await testEnv().currentTimeMs()).toISOString(), ...over }, key);
}

const withIdentity = (settings: RunSettings, direct: 'refuse' | 'allow' = 'refuse', extra: Partial<RunSettings> = {}): RunSettings => ({
  ...settings,
  identity: { publicKeys: [rawPublicKey(apiKey.publicKey)], direct },
  ...extra,
});
const kustInput = (settings: RunSettings) => ({ service: 'cox', instance: 'cox-1', settings });
const kustApproval = (direct: 'refuse' | 'allow' = 'refuse') => kustInput(withIdentity(testSettings('kust-replica', { approvals: { 'kust-replica': { clean: 'approve' } } }), direct));
const withKust = (hosts: FakeHosts, input: unknown, body: (h: RunHandle) => Promise<void>) =>
  withWorkflow(testEnv(), { workflowType: 'kustReplica', workflowId: 'kust-replica/cox-1', input, activities: hosts.activities() }, body);

/** An Update the run refused, with this reason. */
const refused = (reason: RegExp) => (err: Error) => err instanceof WorkflowUpdateFailedError && reason.test(String(err.cause?.message));
/** The audit view of the decisions record. */
const audit = (ds: DecisionRecord[]) => ds.map((d) => ({ action: d.action, by: d.by, accepted: d.accepted, refusal: d.refusal, step: d.step, verified: d.verified, via: d.via, source: d.source }));
const refusedRecord = (action: string, by: string, step: string, refusal = 'identity not verified', extra: Partial<DecisionRecord> = {}) => ({ action, by, accepted: false, refusal, step, verified: false, via: 'direct', source: undefined, ...extra });

test('identity: an approval without a proof, by another key, for another run or altered after signing is refused and recorded; the run waits; a valid proof is accepted with the audit fields', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: KUST_MAP }).on('clean_kust_replica.sh cox-1', { stdout: KUST_CLEAN_OK });
  await withKust(hosts, kustApproval(), async (h) => {
    await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    const approve: Bare = { action: 'approve', by: 'alice', comment: 'go' };
    // Straight to Temporal, as the Web UI or `temporal workflow update` would send it.
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [approve] }), refused(/^identity not verified$/));
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [await proven(h, approve, {}, otherKey.privateKey)] }), refused(/^identity not verified$/));
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [await proven(h, approve, { workflowId: 'kust-replica/cox-2-1' })] }), refused(/^identity not verified$/));
    const forBob = { ...(await proven(h, approve)), by: 'bob' };
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [forBob] }), refused(/^identity not verified$/));
    // An hour later nothing has changed: still waiting, nothing ran but the map.
    await testEnv().sleep('1h');
    const waiting = await state(h);
    assert.equal(waiting.status, 'awaiting-approval');
    assert.deepEqual(hosts.sequence, [IC_MAP]);
    assert.deepEqual(audit(waiting.decisions), [
      refusedRecord('approve', 'alice', 'clean the replica'),
      refusedRecord('approve', 'alice', 'clean the replica'),
      refusedRecord('approve', 'alice', 'clean the replica'),
      refusedRecord('approve', 'bob', 'clean the replica'),
    ]);
    assert.ok(waiting.decisions.every((d) => !('proof' in d)), 'no proof is kept in the record');

    const approvedAt = await testEnv().currentTimeMs();
    const rec = await h.executeUpdate(decideUpdate, { args: [await proven(h, approve)] });
    assert.deepEqual(audit([rec]), [{ action: 'approve', by: 'alice', accepted: true, refusal: undefined, step: 'clean the replica', verified: true, via: 'console', source: '192.0.2.10' }]);
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.equal(r.state.steps.find((st) => st.kind === 'approval')?.by, 'alice');
    assert.equal(r.state.decisions.length, 5);
    assert.deepEqual(audit(r.state.decisions.slice(4)), audit([rec]));
    assert.ok(hosts.calls[1].at - approvedAt < 1000, `the clean ran ${hosts.calls[1].at - approvedAt} ms (simulated) after the approval`);
  });
  assert.deepEqual(hosts.sequence, [IC_MAP, CLEAN]);
});

test('identity: a valid proof of the first gate replayed at the second gate is refused; the second gate takes its own proof', async () => {
  const hosts = new FakeHosts(testEnv())
    .on('ic map badger', { stdout: TNT_MAP }, { stdout: TNT_MAP_SWAPPED })
    .on('clean_tnt_replica.sh badger-3', { stdout: TNT_CLEAN_OK })
    .on('systemctl is-active', { stdout: 'active\nactive\n' })
    .on('ic flip', { stdout: 'INFO: flip of badger-3 started\nOK\n' })
    .on('systemctl restart', { stdout: '' });
  const settings = withIdentity(testSettings('tarantool-replica', { approvals: { 'tarantool-replica': { clean: 'approve', flip: 'approve' } } }));
  await withWorkflow(testEnv(), { workflowType: 'tarantoolReplica', workflowId: 'tarantool-replica/badger-3', input: { service: 'badger', instance: 'badger-3', settings }, activities: hosts.activities() }, async (h) => {
    const first = await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    assert.equal(first.pending?.step, 'clean the replica');
    const approval = await proven(h, { action: 'approve', by: 'alice' });
    assert.equal((await h.executeUpdate(decideUpdate, { args: [approval] })).verified, true);
    // 10 s settle, the units' check, 5 min before the flip: then the second gate.
    await testEnv().sleep('6m');
    const second = await eventually(() => state(h), (s) => s.status === 'awaiting-approval' && s.pending?.step === 'flip the roles');
    assert.notEqual(second.pending?.since, first.pending?.since);
    assert.deepEqual(hosts.sequence, [TNT.map, TNT.clean, TNT.active]);
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [approval] }), refused(/^identity not verified$/));
    // The same, as a signal.
    await h.signal(decideSignal, approval);
    await testEnv().sleep('1h');
    const still = await state(h);
    assert.equal(still.status, 'awaiting-approval');
    assert.deepEqual(hosts.sequence, [TNT.map, TNT.clean, TNT.active]);
    assert.deepEqual(audit(still.decisions.slice(1)), [refusedRecord('approve', 'alice', 'flip the roles'), refusedRecord('approve', 'alice', 'flip the roles')]);

    const flipAt = await testEnv().currentTimeMs();
    assert.equal((await h.executeUpdate(decideUpdate, { args: [await proven(h, { action: 'approve', by: 'bob' }, { via: 'api', source: '127.0.0.1' })] })).accepted, true);
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.deepEqual(
      r.state.steps.filter((st) => st.kind === 'approval').map((st) => [st.name, st.verdict, st.by]),
      [
        ['approval: clean the replica', 'approved', 'alice'],
        ['approval: flip the roles', 'approved', 'bob'],
      ],
    );
    assert.deepEqual(audit(r.state.decisions).map((d) => [d.by, d.accepted, d.step, d.via, d.source]), [
      ['alice', true, 'clean the replica', 'console', '192.0.2.10'],
      ['alice', false, 'flip the roles', 'direct', undefined],
      ['alice', false, 'flip the roles', 'direct', undefined],
      ['bob', true, 'flip the roles', 'api', '127.0.0.1'],
    ]);
    const flip = hosts.calls.find((c) => `${c.host}: ${c.line}` === TNT.flip);
    assert.ok(flip && flip.at - flipAt < 1000, 'the flip ran right after its own approval');
  });
  assert.deepEqual(hosts.sequence, [TNT.map, TNT.clean, TNT.active, TNT.flip, TNT.verify, TNT.restart]);
});

test('identity: the Signal path records its refusals (no proof, another key) and takes a valid proof', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: KUST_MAP_NO_SLAVE });
  await withKust(hosts, kustInput(withIdentity(testSettings('kust-replica'))), async (h) => {
    await eventually(() => state(h), (s) => s.status === 'escalated');
    // `temporal workflow signal --name decision`: no proof.
    await h.signal(decideSignal, { action: 'abort', by: 'alice' });
    await h.signal(decideSignal, await proven(h, { action: 'abort', by: 'alice' }, {}, otherKey.privateKey));
    const s = await eventually(() => state(h), (s) => s.decisions.length === 2);
    assert.equal(s.status, 'escalated');
    assert.deepEqual(audit(s.decisions), [refusedRecord('abort', 'alice', 'find the slave'), refusedRecord('abort', 'alice', 'find the slave')]);

    await h.signal(decideSignal, await proven(h, { action: 'abort', by: 'bob', comment: 'by hand' }, { via: 'api', source: '127.0.0.1' }));
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'aborted-by-operator');
    assert.match(r.summary, /^bob aborted at "find the slave": by hand$/);
    assert.deepEqual(audit(r.state.decisions.slice(2)), [{ action: 'abort', by: 'bob', accepted: true, refusal: undefined, step: 'find the slave', verified: true, via: 'api', source: '127.0.0.1' }]);
  });
  assert.deepEqual(hosts.sequence, [IC_MAP]);
});

test('identity with direct "allow": a decision without a proof is taken as direct (verified false); the approver list still applies', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: KUST_MAP }).on('clean_kust_replica.sh cox-1', { stdout: KUST_CLEAN_OK });
  await withKust(hosts, kustApproval('allow'), async (h) => {
    await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'mallory' }] }), refused(/^mallory is not on the approver list$/));
    const rec = await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.deepEqual(audit(r.state.decisions), [
      refusedRecord('approve', 'mallory', 'clean the replica', 'mallory is not on the approver list'),
      { action: 'approve', by: 'alice', accepted: true, refusal: undefined, step: 'clean the replica', verified: false, via: 'direct', source: undefined },
    ]);
    assert.deepEqual(audit([rec]), audit(r.state.decisions.slice(1)));
  });
  assert.deepEqual(hosts.sequence, [IC_MAP, CLEAN]);
});

test('per-gate approvers: a gate named in stepApprovers takes only its own list, the other gates the runbook\'s', async () => {
  const hosts = new FakeHosts(testEnv())
    .on('ic map badger', { stdout: TNT_MAP }, { stdout: TNT_MAP_SWAPPED })
    .on('clean_tnt_replica.sh badger-3', { stdout: TNT_CLEAN_OK })
    .on('systemctl is-active', { stdout: 'active\nactive\n' })
    .on('ic flip', { stdout: 'INFO: flip of badger-3 started\nOK\n' })
    .on('systemctl restart', { stdout: '' });
  const settings = withIdentity(testSettings('tarantool-replica', { approvals: { 'tarantool-replica': { clean: 'approve', flip: 'approve' } } }), 'refuse', { stepApprovers: { flip: ['carol'] } });
  assert.deepEqual(settings.approvers, ['alice', 'bob']);
  await withWorkflow(testEnv(), { workflowType: 'tarantoolReplica', workflowId: 'tarantool-replica/badger-3', input: { service: 'badger', instance: 'badger-3', settings }, activities: hosts.activities() }, async (h) => {
    await eventually(() => state(h), (s) => s.pending?.step === 'clean the replica');
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [await proven(h, { action: 'approve', by: 'carol' })] }), refused(/^carol is not on the approver list$/));
    await h.executeUpdate(decideUpdate, { args: [await proven(h, { action: 'approve', by: 'alice' })] });
    await testEnv().sleep('6m');
    await eventually(() => state(h), (s) => s.pending?.step === 'flip the roles');
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [await proven(h, { action: 'approve', by: 'alice' })] }), refused(/^alice is not on the approver list$/));
    await h.executeUpdate(decideUpdate, { args: [await proven(h, { action: 'approve', by: 'carol' })] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.deepEqual(audit(r.state.decisions).map((d) => [d.by, d.step, d.accepted, d.refusal, d.verified]), [
      ['carol', 'clean the replica', false, 'carol is not on the approver list', true],
      ['alice', 'clean the replica', true, undefined, true],
      ['alice', 'flip the roles', false, 'alice is not on the approver list', true],
      ['carol', 'flip the roles', true, undefined, true],
    ]);
  });
  assert.deepEqual(hosts.sequence, [TNT.map, TNT.clean, TNT.active, TNT.flip, TNT.verify, TNT.restart]);
});

test('without identity (runs started before it existed): a decision needs no proof, refusals of an Update leave no record, per-gate approvers apply; a null signal is refused, not a stuck run', async () => {
  const hosts = new FakeHosts(testEnv()).on('ic map cox', { stdout: KUST_MAP }).on('clean_kust_replica.sh cox-1', { stdout: KUST_CLEAN_OK });
  const { identity: _identity, ...withoutIdentity } = testSettings('kust-replica', { approvals: { 'kust-replica': { clean: 'approve' } } });
  const settings: RunSettings = { ...withoutIdentity, stepApprovers: { clean: ['bob'] } };
  await withKust(hosts, kustInput(settings), async (h) => {
    await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] }), refused(/^alice is not on the approver list$/));
    // `temporal workflow signal --name decision --input null`
    await h.signal(decideSignal, null as unknown as Decision);
    const s = await eventually(() => state(h), (s) => s.decisions.length === 1);
    assert.equal(s.status, 'awaiting-approval');
    assert.deepEqual(s.decisions.map((d) => [d.accepted, d.refusal]), [[false, 'a decision is an object: {action, by, choice?, comment?}']]);
    const rec = await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'bob' }] });
    assert.deepEqual(Object.keys(rec).sort(), ['accepted', 'action', 'at', 'by'], 'no audit fields without identity');
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
  });
  assert.deepEqual(hosts.sequence, [IC_MAP, CLEAN]);
});
