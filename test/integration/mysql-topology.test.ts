/**
 * mysql-topology end to end: check_mk alert -> HTTP API -> Temporal dev server -> worker -> SSH to the
 * lab's control node -> simulated orch_topo.sh / im_utils / kubectl; then the lab's state and command log
 * say what really ran. One lab for the file: each test reshapes the fleet from where the last one left it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadScenario } from '../../lab/scenario';
import { RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { eventually } from '../helpers/temporal';
import { Service, startService } from '../helpers/service';

let svc: Service;
before(async () => {
  // Short waits (the lab's pods advance one phase per kubectl call, not with time); every repeated alert
  // reaches the open fleet run; each test is a new incident seconds after the last repair (flap guard off).
  svc = await startService('mysql-broken-replica', {
    timers: { flapGuard: '1ms', mysqlPodPoll: '200ms', mysqlErrantRecheck: '200ms', mysqlRecheckRetry: '200ms' },
    intake: { seenAgainInterval: '1ms' },
  });
});
after(async () => {
  await svc?.stop();
});

const ALERT = "2 orch_topo_check - orch topology is BAD: see 'im_utils --check-orch' for details";
const FLEET = 'mysql-topology/fleet';
const replica = (ns: string) => `${ns}-mysql-mysql-cluster-im-db-mysql-1.mysql.${ns}:3306`;

function post(path: string, token: string, body: string, contentType = 'application/json') {
  return fetch(`${svc.apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
}
const alert = () => post('/v1/alerts/checkmk', svc.tokens.webhook, ALERT, 'text/plain');
/** A decision through the API with the token of the operator it names (alice or bob). */
const decide = (workflowId: string, decision: Record<string, string>) => post(`/v1/runs/${workflowId}/decide`, svc.lab.operators[decision.by as 'alice' | 'bob'].token, JSON.stringify(decision));
const stateOf = (workflowId: string) => svc.client.workflow.getHandle(workflowId).query(stateQuery);
/** The run's result, once the run exists (a cluster run is started by the fleet run a moment after the alert). */
const resultOf = async (workflowId: string) => {
  const h = svc.client.workflow.getHandle(workflowId);
  await eventually(() => h.describe().then(() => true, () => false), Boolean);
  return (await h.result()) as RunResult;
};
/** The lab's command log from entry `from` on: `<node>: <tool> <argv> -> <exit>`. */
const logFrom = (from: number) => svc.lab.log().slice(from).map((e) => [`${e.node}:`, e.tool, ...e.argv, '->', e.exitCode].join(' '));
const instance = (ns: string, i: number) => svc.lab.state().mysql.clusters[ns].instances[i];
const CHANGES = /im_utils --(reup-mysql-replica|orch-fix-errants)/;

test('broken replica in files: the fleet run starts mysql-topology/files, which re-seeds it, polls the pod to 5/5 Running and sees it replicating', async () => {
  assert.equal(instance('files', 1).marker, '-');
  const res = await alert();
  assert.equal(res.status, 202);
  const r = await resultOf(FLEET);
  assert.equal(r.outcome, 'repaired', r.summary);
  assert.match(r.summary, /files: broken replica files-mysql-mysql-cluster-im-db-mysql-1\.mysql\.files:3306 -> mysql-topology\/files: repaired/);
  assert.match(r.summary, /keycloak: healthy; store: healthy/);
  assert.equal((await resultOf('mysql-topology/files')).outcome, 'repaired');

  assert.deepEqual(logFrom(0), [
    'vkt-control-01: orch_topo.sh -> 0', // the fleet run
    'vkt-control-01: orch_topo.sh -> 0', // the cluster run re-reads before acting
    `vkt-control-01: im_utils --reup-mysql-replica ${replica('files')} -> 0`,
    'vkt-control-01: kubectl -n files get po -> 0', // 0/5 Pending
    'vkt-control-01: kubectl -n files get po -> 0', // 0/5 Init:0/2
    'vkt-control-01: kubectl -n files get po -> 0', // 2/5 Running
    'vkt-control-01: kubectl -n files get po -> 0', // 5/5 Running
    'vkt-control-01: orch_topo.sh -> 0',
  ]);
  assert.deepEqual([instance('files', 1).marker, instance('files', 1).status, instance('files', 1).errant], ['+', 'ok', false]);
});

test('two problems at once and a third broken later: errants fixed in keycloak; two masters in files escalate and change nothing; a repeated alert makes the fleet run read again and repair store', async () => {
  const twoMasters = loadScenario('mysql-two-masters').mysql.clusters.files;
  svc.lab.setState((s) => {
    s.mysql.clusters.files = twoMasters;
    Object.assign(s.mysql.clusters.keycloak.instances[1], { marker: '+', errant: true, errantFixFailures: 0, errantFixCalls: 0 });
  });
  const from = svc.lab.log().length;
  assert.equal((await alert()).status, 202);

  // files waits for an operator; keycloak is repaired meanwhile; the fleet run waits for both.
  const e = await eventually(() => stateOf('mysql-topology/files'), (s: RunState) => s.status === 'escalated');
  assert.match(e.pending?.reason ?? '', /cluster files: two masters; the runbook says escalate and change nothing/);
  assert.equal((await resultOf('mysql-topology/keycloak')).outcome, 'repaired');
  assert.equal(instance('keycloak', 1).errant, false);
  assert.equal((await stateOf(FLEET)).status, 'running');
  assert.deepEqual(
    logFrom(from).filter((l) => CHANGES.test(l)),
    [`vkt-control-01: im_utils --orch-fix-errants ${replica('keycloak')} -> 0`],
    'nothing that changes anything ran for files',
  );

  // store breaks while files is still escalated: the same alert again reaches the open fleet run.
  svc.lab.setState((s) => {
    Object.assign(s.mysql.clusters.store.instances[1], { marker: '+', errant: true, errantFixFailures: 0, errantFixCalls: 0 });
  });
  const again = await alert();
  assert.equal(again.status, 202);
  assert.equal((await resultOf('mysql-topology/store')).outcome, 'repaired');
  assert.equal(instance('store', 1).errant, false);
  assert.equal((await stateOf('mysql-topology/files')).status, 'escalated', 'the escalated cluster is left to its operator');

  // The operator aborts files (two masters need a human); the fleet run then reports every cluster.
  assert.equal((await decide('mysql-topology/files', { action: 'abort', by: 'alice', comment: 'fixing by hand' })).status, 200);
  const r = await resultOf(FLEET);
  assert.equal(r.outcome, 'escalated', r.summary);
  assert.match(r.summary, /files: two masters -> mysql-topology\/files: aborted-by-operator/);
  assert.match(r.summary, /keycloak: errant transactions on \S+ -> mysql-topology\/keycloak: repaired/);
  assert.match(r.summary, /store: errant transactions on \S+ -> mysql-topology\/store: repaired/);

  const log = logFrom(from);
  assert.deepEqual(
    log.filter((l) => CHANGES.test(l)),
    [`vkt-control-01: im_utils --orch-fix-errants ${replica('keycloak')} -> 0`, `vkt-control-01: im_utils --orch-fix-errants ${replica('store')} -> 0`],
  );
  assert.ok(log.every((l) => l.startsWith('vkt-control-01: ')), 'every command ran on the control node');
});
