/**
 * ctlr-replica and ctlr-roles end to end: alert -> HTTP API -> Temporal dev server -> worker -> SSH to
 * the lab's vkt03 / vkt04 -> simulated controller; then the lab's topology and command log say what
 * really ran where. One lab for the file: each test reshapes the pair from where the last one left it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { topologyFrom } from '../../lab/tools/ctlr';
import { RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { eventually } from '../helpers/temporal';
import { Service, startService } from '../helpers/service';

let svc: Service;
before(async () => {
  // Each test is a new incident on the same pair seconds after the last repair: without a tiny
  // flapping-guard window every one would first escalate as "flapping" (that guard is tested elsewhere).
  svc = await startService('ctlr-dead-replica', { timers: { flapGuard: '1ms' } });
});
after(async () => {
  await svc?.stop();
});

const ALERT = (node: string) => `2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on ${node}`;
const line = (t03: string, t04: string) => `vkt03.weave.local      10.32.88.0:2410  ${t03}\nvkt04.weave.local      10.32.96.0:2410  ${t04}\n`;
/** The topology as the lab's controller on `node` reports it now. */
const topologyOn = (node: string) => topologyFrom(svc.lab.state(), node);
/** The lab's command log from entry `from` on, `<node>: <tool> <argv> -> <exit>`, with the date stamps as <ts>. */
const logFrom = (from: number) => svc.lab.log().slice(from).map((e) => `${e.node}: ${e.tool} ${e.argv.join(' ')} -> ${e.exitCode}`.replace(/\.\d{8}_\d{4}\b/g, '.<ts>'));
const READS = ['vkt03: cat /usr/local/etc/ctlr-1.conf -> 0', 'vkt04: cat /usr/local/etc/ctlr-1.conf -> 0', 'vkt03: nc 10.32.88.0 4020 -> 0', 'vkt04: nc 10.32.96.0 4020 -> 0'];

function post(path: string, token: string, body: string, contentType = 'application/json') {
  return fetch(`${svc.apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
}
const alert = (node: string) => post('/v1/alerts/checkmk', svc.tokens.webhook, ALERT(node), 'text/plain');
/** A decision through the API with the token of the operator it names (alice or bob). */
const decide = (workflowId: string, decision: Record<string, string>) => post(`/v1/runs/${workflowId}/decision`, svc.lab.operators[decision.by as 'alice' | 'bob'].token, JSON.stringify(decision));
const stateOf = (workflowId: string) => svc.client.workflow.getHandle(workflowId).query(stateQuery);
const resultOf = async (workflowId: string) => (await svc.client.workflow.getHandle(workflowId).result()) as RunResult;

test('dead replica on vkt04: the alert re-seeds vkt04 over SSH; vkt03 then reports it alive', async () => {
  assert.equal(topologyOn('vkt03'), line('self main', 'dead'));
  const res = await alert('vkt04');
  assert.equal(res.status, 202);
  // (the answer says `started: true` or `action: "started"`, depending on the intake's version)
  const body = (await res.json()) as { results: { workflowId: string; started?: boolean; action?: string }[] };
  assert.deepEqual(body.results.map((r) => [r.workflowId, r.started === true || r.action === 'started']), [['ctlr-replica/ctlr-1', true]]);

  const r = await resultOf('ctlr-replica/ctlr-1');
  assert.equal(r.outcome, 'repaired', r.summary);
  assert.deepEqual(logFrom(0), [
    ...READS,
    'vkt04: systemctl stop ctlr-1 -> 0',
    'vkt04: mv /data/ctlr-1 /data/ctlr-1.<ts> -> 0',
    'vkt04: mkdir -p /data/ctlr-1/backup /data/ctlr-1/df /data/ctlr-1/log -> 0',
    'vkt04: chown -R quantum:quantum /data/ctlr-1/ -> 0',
    'vkt04: im_deployer --ctlr-repl --update -> 0',
    'vkt04: systemctl disable ctlr-1 -> 0',
    'vkt03: ctlr_topo_check.sh  -> 0',
    'vkt03: nc 10.32.88.0 4020 -> 0',
  ]);
  assert.equal(svc.lab.log()[2].stdin, 'ipros_cluster_show\n');
  assert.equal(topologyOn('vkt03'), line('self main', 'alive'));
  const vkt04 = svc.lab.state().nodes.vkt04;
  const aside = svc.lab.log()[5].argv[1];
  assert.match(vkt04.files[`${aside}/df/ctlr-1.df`]?.content ?? '', /replica data of vkt04/, 'the old data was moved aside');
  assert.match(vkt04.files['/data/ctlr-1/df/ctlr-1.df']?.content ?? '', /^replica of vkt03\.weave\.local seeded/);
  assert.deepEqual(vkt04.units['ctlr-1'], { active: 'active', enabled: false });
});

test('split brain behind the same alert: the run switches to ctlr-roles, the operator approves the proposal, vkt04 is demoted', async () => {
  svc.lab.setState((s) => {
    s.ctlr!.nodes.vkt04.role = 'main';
  });
  assert.equal(topologyOn('vkt03'), line('self main', 'dead'));
  assert.equal(topologyOn('vkt04'), line('dead', 'self main'));
  const from = svc.lab.log().length;
  assert.equal((await alert('vkt03')).status, 202);
  const s = await eventually(() => stateOf('ctlr-replica/ctlr-1'), (s: RunState) => s.status === 'awaiting-approval');
  assert.equal(s.steps.find((st) => st.kind === 'note')?.name, 'two masters: continuing as ctlr-roles');
  assert.equal(s.pending?.proposal, 'vkt03');
  assert.deepEqual(s.pending?.choices, ['vkt03', 'vkt04']);
  assert.deepEqual(logFrom(from), READS, 'nothing changes before the operator decides');

  const refused = await decide('ctlr-replica/ctlr-1', { action: 'approve', by: 'alice', choice: 'vkt05' });
  assert.equal(refused.status, 409);
  assert.equal((await decide('ctlr-replica/ctlr-1', { action: 'approve', by: 'alice' })).status, 200);
  const r = await resultOf('ctlr-replica/ctlr-1');
  assert.equal(r.outcome, 'repaired', r.summary);
  // After the approval both nodes are read again: still two masters, so vkt04 is demoted.
  assert.deepEqual(logFrom(from), [
    ...READS,
    ...READS,
    'vkt04: systemctl stop ctlr-1 -> 0',
    'vkt04: cp -rp /data/ctlr-1 /data/ctlr-1.<ts> -> 0',
    'vkt04: im_deployer --ctlr-repl --update -> 0',
    'vkt04: systemctl disable ctlr-1 -> 0',
    'vkt04: ctlr_topo_check.sh  -> 0',
    'vkt04: nc 10.32.96.0 4020 -> 0',
  ]);
  assert.equal(topologyOn('vkt04'), line('alive main', 'self'));
  assert.equal(topologyOn('vkt03'), line('self main', 'alive'));
});

test('ctlr-roles by hand, the operator keeps vkt04; im_deployer fails once: escalated, retried, vkt03 demoted', async () => {
  svc.lab.setState((s) => {
    s.ctlr!.nodes.vkt04.role = 'main';
    s.faults.push({ tool: 'im_deployer', failTimes: 1 });
  });
  const from = svc.lab.log().length;
  const started = await post('/v1/runs', svc.tokens.operator, JSON.stringify({ runbook: 'ctlr-roles', params: {} }));
  assert.equal(started.status, 201);
  assert.equal(((await started.json()) as { workflowId: string }).workflowId, 'ctlr-roles/ctlr-1');
  await eventually(() => stateOf('ctlr-roles/ctlr-1'), (s: RunState) => s.status === 'awaiting-approval');
  assert.equal((await decide('ctlr-roles/ctlr-1', { action: 'approve', by: 'bob', choice: 'vkt04', comment: 'vkt04 took over properly' })).status, 200);

  const e = await eventually(() => stateOf('ctlr-roles/ctlr-1'), (s: RunState) => s.status === 'escalated');
  assert.equal(e.pending?.step, 're-seed from the kept main');
  assert.match(e.pending?.reason ?? '', /exit code 1/);
  assert.equal(svc.lab.state().nodes.vkt03.units['ctlr-1'].active, 'inactive');
  assert.equal((await decide('ctlr-roles/ctlr-1', { action: 'retry', by: 'alice' })).status, 200);

  const r = await resultOf('ctlr-roles/ctlr-1');
  assert.equal(r.outcome, 'repaired', r.summary);
  assert.match(r.summary, /vkt04 kept as the controller main; vkt03 demoted/);
  assert.deepEqual(logFrom(from), [
    ...READS,
    ...READS,
    'vkt03: systemctl stop ctlr-1 -> 0',
    'vkt03: cp -rp /data/ctlr-1 /data/ctlr-1.<ts> -> 0',
    'vkt03: im_deployer --ctlr-repl --update -> 1',
    'vkt03: im_deployer --ctlr-repl --update -> 0',
    'vkt03: systemctl disable ctlr-1 -> 0',
    'vkt03: ctlr_topo_check.sh  -> 0',
    'vkt03: nc 10.32.88.0 4020 -> 0',
  ]);
  assert.equal(topologyOn('vkt03'), line('self', 'alive main'));
  assert.equal(topologyOn('vkt04'), line('alive', 'self main'));
  const copy = svc.lab.log()[from + 9].argv[2];
  assert.match(svc.lab.state().nodes.vkt03.files[`${copy}/df/ctlr-1.df`]?.content ?? '', /main data of vkt03/, 'cp -rp kept the old data');
});

test('peer not main: the alert for vkt03 escalates (vkt04 is no main); nothing changes on vkt03', async () => {
  svc.lab.setState((s) => {
    s.ctlr!.nodes.vkt04.role = 'replica';
    s.ctlr!.nodes.vkt03.healthy = false;
  });
  const from = svc.lab.log().length;
  assert.equal((await alert('vkt03')).status, 202);
  const s = await eventually(() => stateOf('ctlr-replica/ctlr-1'), (s: RunState) => s.status === 'escalated');
  assert.equal(s.pending?.step, 'check the main');
  assert.match(s.pending?.reason ?? '', /vkt04 must be "self main"/);
  assert.equal((await decide('ctlr-replica/ctlr-1', { action: 'abort', by: 'alice', comment: 'no main: by hand' })).status, 200);
  assert.equal((await resultOf('ctlr-replica/ctlr-1')).status, 'aborted');
  assert.deepEqual(logFrom(from), READS);
  assert.deepEqual(svc.lab.state().nodes.vkt03.units['ctlr-1'], { active: 'active', enabled: false });
});
