/** ctlr-replica and ctlr-roles sequencing on the time-skipping test server: exact commands, hosts, decisions. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { decideUpdate, RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { FakeHosts, Reply } from '../helpers/fake-hosts';
import { testSettings } from '../helpers/settings';
import { RunHandle, eventually, useTimeSkippingEnv, withWorkflow } from '../helpers/temporal';

const CONF_PATH = '/usr/local/etc/ctlr-1.conf';
const CHECK = '/usr/lib/check_mk_agent/local/ctlr_topo_check.sh';
const DEPLOYER = '/usr/local/bin/im_deployer';
const BIND = { vkt03: '10.32.88.0', vkt04: '10.32.96.0' } as const;

/** ctlr-1.conf as the lab (and a real node) has it; `cat` shows every line, the runbook reads the fgrep'd ones. */
const conf = (node: 'vkt03' | 'vkt04', main = 'vkt03.weave.local') => `# ctlr-1 configuration (managed by im_deployer)
ipros_instance ctlr-1
compot_bind ${BIND[node]}:4020
ipros_bind ${BIND[node]}:2410
data_dir /data/ctlr-1
ipros_clustered true
ipros_cluster_add vkt04.weave.local 10.32.96.0:2410
ipros_cluster_add vkt03.weave.local 10.32.88.0:2410
ipros_cluster_main ${main}
log_level info
`;
/** `ipros_cluster_show` answer: how vkt03 and vkt04 are tagged (seed 000 layout). */
const topo = (t03: string, t04: string) => ({ stdout: `vkt03.weave.local      10.32.88.0:2410  ${t03}\nvkt04.weave.local      10.32.96.0:2410  ${t04}\n` });
const CHECK_OK = { stdout: '0 ctlr_topo_check - ctlr topology is OK\n' };
const DEPLOYED = {
  stdout:
    '22 Nov 25 05:10:01 4242 | INFO | cmd/deployer/main.go:211 > ctlr replication update requested |\n' +
    '22 Nov 25 05:10:02 4242 | INFO | cmd/deployer/ctlr.go:160 > ctlr-1 is replicating from vkt03.weave.local |\n',
};
const DEPLOY_FAILED = {
  exitCode: 1,
  stdout: '22 Nov 25 05:10:01 4242 | INFO | cmd/deployer/main.go:211 > ctlr replication update requested |\n',
  stderr: '22 Nov 25 05:10:01 4242 | ERROR | cmd/deployer/ctlr.go:78 > no running ctlr main found to replicate from |\n',
};

const READS = [`vkt03: cat ${CONF_PATH}`, `vkt04: cat ${CONF_PATH}`, 'vkt03: nc 10.32.88.0 4020', 'vkt04: nc 10.32.96.0 4020'];

/** The scripted pair: both confs, one topology per node (replies in order), and the tools that change things. */
function pair(t03: Reply[], t04: Reply[], mains: [string, string] = ['vkt03.weave.local', 'vkt03.weave.local']) {
  return new FakeHosts(testEnv())
    .on(`vkt03: cat ${CONF_PATH}`, { stdout: conf('vkt03', mains[0]) })
    .on(`vkt04: cat ${CONF_PATH}`, { stdout: conf('vkt04', mains[1]) })
    .on('vkt03: nc 10.32.88.0 4020', ...t03)
    .on('vkt04: nc 10.32.96.0 4020', ...t04)
    .on('systemctl', {})
    .on('mv', {})
    .on('cp', {})
    .on('mkdir', {})
    .on('chown', {})
    .on(DEPLOYER, DEPLOYED)
    .on(CHECK, CHECK_OK);
}

const testEnv = useTimeSkippingEnv();
const withRun = (hosts: FakeHosts, workflow: 'ctlrReplica' | 'ctlrRoles', input: Record<string, unknown>, body: (h: RunHandle) => Promise<void>) =>
  withWorkflow(testEnv(), { workflowType: workflow, workflowId: `${workflow === 'ctlrReplica' ? 'ctlr-replica' : 'ctlr-roles'}/ctlr-1`, input, activities: hosts.activities() }, body);

const CTLR = { ctlr: { nodes: ['vkt03', 'vkt04'] } };
const replicaInput = (node: string, extra: Record<string, unknown> = {}) => ({ node, settings: testSettings('ctlr-replica', { ...CTLR, ...extra }) });
const rolesInput = () => ({ settings: testSettings('ctlr-roles', CTLR) });
const state = (h: { query: (q: typeof stateQuery) => Promise<RunState> }) => h.query(stateQuery);
const refused = (reason: RegExp) => (err: Error) => err instanceof WorkflowUpdateFailedError && reason.test(String(err.cause?.message));
/** `date +%Y%m%d_%H%M` of a test-server instant (UTC). */
const stampOf = (ms: number) => new Date(ms).toISOString().replace(/^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d).*$/, '$1$2$3_$4$5');
/** The commands that change something (everything but the reads, the check and the topology). */
const changes = (hosts: FakeHosts) => hosts.sequence.filter((l) => !/: (cat|nc|\/usr\/lib\/check_mk_agent)/.test(l));

test('ctlr-replica: vkt04 re-seeded in the order of the procedure, verified on the main vkt03', async () => {
  const hosts = pair([topo('self main', 'dead'), topo('self main', 'alive')], [topo('dead', 'self')]);
  await withRun(hosts, 'ctlrReplica', replicaInput('vkt04'), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.status, 'completed');
    assert.equal(r.outcome, 'repaired');
    assert.equal(r.state.target, 'ctlr-1');
    assert.ok(r.state.steps.every((s) => s.verdict === 'ok'));
  });
  const mv = hosts.calls.find((c) => c.line.startsWith('mv '));
  assert.ok(mv);
  const aside = hosts.calls[5].line.split(' ')[2];
  assert.match(aside, /^\/data\/ctlr-1\.\d{8}_\d{4}$/);
  assert.ok([stampOf(mv.at), stampOf(mv.at - 60_000)].includes(aside.slice('/data/ctlr-1.'.length)), `${aside} is the workflow's time`);
  assert.deepEqual(hosts.sequence, [
    ...READS,
    'vkt04: systemctl stop ctlr-1',
    `vkt04: mv /data/ctlr-1 ${aside}`,
    'vkt04: mkdir -p /data/ctlr-1/backup /data/ctlr-1/df /data/ctlr-1/log',
    'vkt04: chown -R quantum:quantum /data/ctlr-1/',
    `vkt04: ${DEPLOYER} --ctlr-repl --update`,
    'vkt04: systemctl disable ctlr-1',
    `vkt03: ${CHECK}`,
    'vkt03: nc 10.32.88.0 4020',
  ]);
  assert.deepEqual(
    hosts.calls.filter((c) => c.line.startsWith('nc ')).map((c) => c.stdin),
    ['ipros_cluster_show\n', 'ipros_cluster_show\n', 'ipros_cluster_show\n'],
  );
  assert.deepEqual(hosts.gapsSeconds, Array(11).fill(0));
  assert.equal(hosts.notifications.length, 0);
});

test('ctlr-replica: the broken controller refuses the connection (not running): still re-seeded', async () => {
  const hosts = pair([topo('self main', 'dead'), topo('self main', 'alive')], [{ exitCode: 1, stderr: 'nc: connect to 10.32.96.0 port 4020 (tcp) failed: Connection refused\n' }]);
  await withRun(hosts, 'ctlrReplica', replicaInput('vkt04'), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
  });
  assert.equal(changes(hosts).length, 6);
  assert.ok(changes(hosts).every((l) => l.startsWith('vkt04: ')));
});

test('ctlr-replica: the peer is not "self main": escalates, nothing runs on the broken node but the reads', async () => {
  const hosts = pair([topo('self', 'dead')], [topo('dead', 'self')]);
  await withRun(hosts, 'ctlrReplica', replicaInput('vkt04'), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.equal(s.pending?.step, 'check the main');
    assert.match(s.pending?.reason ?? '', /vkt03 must be "self main" and see vkt04 dead; it says "self"/);
    assert.match(s.pending?.evidence ?? '', /vkt03: topology\n {2}vkt03\.weave\.local 10\.32\.88\.0:2410 self\n/);
    await testEnv().sleep('2h');
    assert.equal((await state(h)).status, 'escalated', 'an escalation never finishes by itself');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'abort', by: 'alice', comment: 'no main at all' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.status, 'aborted');
  });
  assert.deepEqual(hosts.sequence, READS);
  assert.deepEqual(changes(hosts), []);
  assert.equal(hosts.notifications[0].kind, 'escalation');
});

test('ctlr-replica: the main already sees the replica alive: nothing to do, nothing changed', async () => {
  const hosts = pair([topo('self main', 'alive')], [topo('alive main', 'self')]);
  await withRun(hosts, 'ctlrReplica', replicaInput('vkt04'), async (h) => {
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'nothing-to-do');
    assert.match(r.summary, /vkt03 is the main and sees vkt04 alive/);
  });
  assert.deepEqual(hosts.sequence, READS);
});

test('ctlr-replica: im_deployer fails: escalates; retry runs only im_deployer again, then the rest', async () => {
  const hosts = pair([topo('self main', 'dead'), topo('self main', 'alive')], [topo('dead', 'self')]).on(DEPLOYER, DEPLOY_FAILED, DEPLOYED);
  await withRun(hosts, 'ctlrReplica', replicaInput('vkt04'), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.equal(s.pending?.step, 're-seed from the main');
    assert.match(s.pending?.reason ?? '', /exit code 1/);
    assert.match(s.pending?.evidence ?? '', /no running ctlr main found to replicate from/);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'bob' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
  });
  assert.deepEqual(
    changes(hosts).map((l) => l.replace(/ \/data\/ctlr-1\.\d{8}_\d{4}$/, ' <aside>')),
    [
      'vkt04: systemctl stop ctlr-1',
      'vkt04: mv /data/ctlr-1 <aside>',
      'vkt04: mkdir -p /data/ctlr-1/backup /data/ctlr-1/df /data/ctlr-1/log',
      'vkt04: chown -R quantum:quantum /data/ctlr-1/',
      `vkt04: ${DEPLOYER} --ctlr-repl --update`,
      `vkt04: ${DEPLOYER} --ctlr-repl --update`,
      'vkt04: systemctl disable ctlr-1',
    ],
  );
});

test('ctlr-replica: the alert is in fact a split brain: switches to ctlr-roles, keeps the proposed vkt03, demotes vkt04', async () => {
  const hosts = pair([topo('self main', 'dead')], [topo('dead', 'self main'), topo('dead', 'self main'), topo('alive main', 'self')]);
  // As in the original: the alert names vkt03 although two masters are the problem.
  await withRun(hosts, 'ctlrReplica', replicaInput('vkt03'), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    assert.deepEqual(
      s.steps.map((st) => [st.name, st.kind, st.verdict]),
      [
        ['read ctlr-1.conf on vkt03', 'command', 'ok'],
        ['read ctlr-1.conf on vkt04', 'command', 'ok'],
        ['topology from vkt03', 'command', 'ok'],
        ['topology from vkt04', 'command', 'ok'],
        ['two masters: continuing as ctlr-roles', 'note', 'done'],
        ['approval: choose the main to keep', 'approval', undefined],
      ],
    );
    assert.deepEqual(s.pending?.choices, ['vkt03', 'vkt04']);
    assert.equal(s.pending?.proposal, 'vkt03');
    assert.deepEqual(hosts.sequence, READS);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.equal(r.state.runbook, 'ctlr-replica');
    assert.match(r.summary, /vkt03 kept as the controller main; vkt04 demoted/);
  });
  const copy = hosts.calls.find((c) => c.line.startsWith('cp '))?.line.split(' ')[3] ?? '';
  assert.match(copy, /^\/data\/ctlr-1\.\d{8}_\d{4}$/);
  // After the approval both nodes are read again (still two masters), then vkt04 is demoted.
  assert.deepEqual(hosts.sequence.slice(4), [
    ...READS,
    'vkt04: systemctl stop ctlr-1',
    `vkt04: cp -rp /data/ctlr-1 ${copy}`,
    `vkt04: ${DEPLOYER} --ctlr-repl --update`,
    'vkt04: systemctl disable ctlr-1',
    `vkt04: ${CHECK}`,
    'vkt04: nc 10.32.96.0 4020',
  ]);
});

test('ctlr-roles: the operator keeps the proposed node; no timeout approves, reminders repeat', async () => {
  const hosts = pair([topo('self main', 'dead')], [topo('dead', 'self main'), topo('dead', 'self main'), topo('alive main', 'self')]);
  await withRun(hosts, 'ctlrRoles', rolesInput(), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    assert.equal(s.pending?.proposal, 'vkt03');
    assert.match(s.pending?.reason ?? '', /choose the node to KEEP as main \(vkt03 or vkt04\)/);
    assert.match(s.pending?.reason ?? '', /Proposal: keep vkt03\. .*Both ctlr-1\.conf files name vkt03\.weave\.local \(vkt03\) as ipros_cluster_main/);
    assert.match(s.pending?.reason ?? '', /Nothing the nodes report shows which one took the main role last/);
    assert.match(s.pending?.evidence ?? '', /vkt04: topology\n {2}vkt03\.weave\.local 10\.32\.88\.0:2410 dead\n {2}vkt04\.weave\.local 10\.32\.96\.0:2410 self main/);
    await testEnv().sleep('3h');
    assert.equal((await state(h)).status, 'awaiting-approval', 'no timeout approves');
    assert.equal(hosts.notifications[0].kind, 'approval');
    assert.ok(hosts.notifications.filter((n) => n.kind === 'reminder').length >= 10, 'a reminder every 15 simulated minutes');
    assert.deepEqual(hosts.sequence, READS);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice', comment: 'vkt03 was main before the incident' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.equal(r.state.steps.find((st) => st.kind === 'approval')?.by, 'alice');
  });
  assert.deepEqual(changes(hosts).map((l) => l.replace(/\.\d{8}_\d{4}$/, '.<ts>')), [
    'vkt04: systemctl stop ctlr-1',
    'vkt04: cp -rp /data/ctlr-1 /data/ctlr-1.<ts>',
    `vkt04: ${DEPLOYER} --ctlr-repl --update`,
    'vkt04: systemctl disable ctlr-1',
  ]);
  assert.deepEqual(hosts.sequence.slice(-2), [`vkt04: ${CHECK}`, 'vkt04: nc 10.32.96.0 4020']);
});

test('ctlr-roles: the operator chooses the other node: vkt04 kept, vkt03 demoted and verified from vkt03', async () => {
  const hosts = pair([topo('self main', 'dead'), topo('self main', 'dead'), topo('self', 'alive main')], [topo('dead', 'self main')]);
  await withRun(hosts, 'ctlrRoles', rolesInput(), async (h) => {
    await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    const rec = await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'bob', choice: 'vkt04', comment: 'vkt04 took over properly' }] });
    assert.equal(rec.accepted, true);
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    assert.match(r.summary, /vkt04 kept as the controller main; vkt03 demoted/);
    assert.deepEqual(r.state.decisions.map((d) => [d.action, d.by, d.choice]), [['approve', 'bob', 'vkt04']]);
  });
  assert.deepEqual(hosts.sequence.slice(8).map((l) => l.replace(/\.\d{8}_\d{4}$/, '.<ts>')), [
    'vkt03: systemctl stop ctlr-1',
    'vkt03: cp -rp /data/ctlr-1 /data/ctlr-1.<ts>',
    `vkt03: ${DEPLOYER} --ctlr-repl --update`,
    'vkt03: systemctl disable ctlr-1',
    `vkt03: ${CHECK}`,
    'vkt03: nc 10.32.88.0 4020',
  ]);
});

test('ctlr-roles: after the approval the pair is read again; vkt04 no longer "self main" (someone acted meanwhile): escalates, nothing demoted', async () => {
  const hosts = pair([topo('self main', 'dead')], [topo('dead', 'self main'), topo('alive main', 'self')]);
  await withRun(hosts, 'ctlrRoles', rolesInput(), async (h) => {
    await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    const s = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.equal(s.pending?.step, 'choose the main to keep');
    assert.match(s.pending?.reason ?? '', /the controllers changed while waiting for the decision \(vkt03 says self main, vkt04 says self\): nothing was demoted/);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'bob' }] });
    await eventually(() => state(h), (s) => s.status === 'escalated' && s.steps.filter((st) => st.kind === 'escalation').length === 2);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'resolved', by: 'bob', comment: 'vkt04 was demoted by hand' }] });
    assert.equal(((await h.result()) as RunResult).outcome, 'resolved-by-operator');
  });
  assert.deepEqual(changes(hosts), [], 'nothing demoted');
  assert.deepEqual(hosts.sequence, [...READS, ...READS, ...READS]);
});

test('ctlr-roles: a choice outside the pair is refused and changes nothing; a rejection ends the run untouched', async () => {
  const hosts = pair([topo('self main', 'dead')], [topo('dead', 'self main')]);
  await withRun(hosts, 'ctlrRoles', rolesInput(), async (h) => {
    await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice', choice: 'vkt05' }] }), refused(/choice "vkt05" is not one of: vkt03, vkt04/));
    await assert.rejects(h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] }), refused(/not a decision for a pending approval/));
    const s = await state(h);
    assert.equal(s.status, 'awaiting-approval');
    // Both refusals are in the run's record (the audit trail), and nothing else changed.
    assert.deepEqual(s.decisions.map((d) => [d.action, d.choice, d.accepted, d.step]), [
      ['approve', 'vkt05', false, 'choose the main to keep'],
      ['retry', undefined, false, 'choose the main to keep'],
    ]);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'reject', by: 'alice', comment: 'handling it by hand' }] });
    const r = (await h.result()) as RunResult;
    assert.equal(r.status, 'aborted');
    assert.equal(r.outcome, 'rejected');
  });
  assert.deepEqual(hosts.sequence, READS);
});

test('ctlr-roles: the demoted node does not see the kept main afterwards: escalated, nothing more runs', async () => {
  const hosts = pair([topo('self main', 'dead')], [topo('dead', 'self main'), topo('dead', 'self main'), topo('dead', 'self')]);
  await withRun(hosts, 'ctlrRoles', rolesInput(), async (h) => {
    await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    const s = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.equal(s.pending?.step, 'topology from vkt04');
    assert.match(s.pending?.reason ?? '', /vkt04 sees vkt03 as "dead", expected "alive main"/);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'abort', by: 'bob' }] });
    assert.equal(((await h.result()) as RunResult).status, 'aborted');
  });
  assert.equal(hosts.sequence.length, 14);
  assert.deepEqual(hosts.sequence.slice(-2), [`vkt04: ${CHECK}`, 'vkt04: nc 10.32.96.0 4020']);
});

test('ctlr-roles: ctlr_topo_check still BAD on the demoted node: escalated', async () => {
  const hosts = pair([topo('self main', 'dead')], [topo('dead', 'self main')]).on(CHECK, { stdout: '2 ctlr_topo_check - ctlr topology is BAD: ctlr replica has no active main, check ctlr logs on vkt03\n' });
  await withRun(hosts, 'ctlrRoles', rolesInput(), async (h) => {
    await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    const s = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.equal(s.pending?.step, 'check on vkt04');
    assert.match(s.pending?.reason ?? '', /ctlr_topo_check says: "?2 ctlr_topo_check - ctlr topology is BAD/);
  });
  assert.equal(hosts.sequence.at(-1), `vkt04: ${CHECK}`);
});

test('ctlr-roles: the configs disagree: no proposal; approving without a choice escalates; then a choice is needed', async () => {
  const hosts = pair([topo('self main', 'dead'), topo('self main', 'dead'), topo('self', 'alive main')], [topo('dead', 'self main')], ['vkt03.weave.local', 'vkt04.weave.local']);
  await withRun(hosts, 'ctlrRoles', rolesInput(), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    assert.equal(s.pending?.proposal, undefined);
    assert.match(s.pending?.reason ?? '', /No proposal\. .*do not agree on ipros_cluster \(vkt03: ipros_cluster_main vkt03\.weave\.local, vkt04: ipros_cluster_main vkt04\.weave\.local\)/);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    const e = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.equal(e.pending?.step, 'choose the main to keep');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] });
    await eventually(() => state(h), (s) => s.status === 'awaiting-approval');
    assert.deepEqual(hosts.sequence, READS);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice', choice: 'vkt04' }] });
    assert.equal(((await h.result()) as RunResult).outcome, 'repaired');
  });
  assert.equal(changes(hosts)[0], 'vkt03: systemctl stop ctlr-1');
});

test('ctlr-roles started without a split brain: escalates, changes nothing', async () => {
  const hosts = pair([topo('self main', 'dead')], [topo('dead', 'self')]);
  await withRun(hosts, 'ctlrRoles', rolesInput(), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.equal(s.pending?.step, 'two masters');
    assert.match(s.pending?.reason ?? '', /not a split brain \(vkt03 says self main, vkt04 says self\)/);
  });
  assert.deepEqual(hosts.sequence, READS);
});

test('garbled topology escalates; a node outside the pair or a missing pair fails before any command', async () => {
  const garbled = pair([{ stdout: 'vkt03.weave.local 10.32.88.0:2410 self main\nvkt09.weave.local 10.32.9.0:2410 dead\n' }], [topo('dead', 'self')]);
  await withRun(garbled, 'ctlrReplica', replicaInput('vkt04'), async (h) => {
    const s = await eventually(() => state(h), (s) => s.status === 'escalated');
    assert.equal(s.pending?.step, 'topology from vkt03');
    assert.match(s.pending?.reason ?? '', /the topology lists vkt03, vkt09, expected the pair vkt03, vkt04/);
  });
  assert.deepEqual(garbled.sequence, READS.slice(0, 3));

  for (const input of [replicaInput('vkt05'), replicaInput('vkt04;reboot'), { node: 'vkt04', settings: testSettings('ctlr-replica') }]) {
    const hosts = new FakeHosts(testEnv());
    await withRun(hosts, 'ctlrReplica', input, async (h) => {
      await assert.rejects(h.result(), (err: Error) => err instanceof WorkflowFailedError && /not one of the controller pair|rejected: contains shell metacharacter|pair is not configured/.test(String(err.cause?.message)));
    });
    assert.equal(hosts.calls.length, 0);
  }
});
