/**
 * kust-replica end to end: alert -> HTTP API -> Temporal dev server -> worker -> SSH to the lab's
 * sshd nodes -> simulated tools; then the lab's state and command log say what really ran where.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRun } from '../../client/runbooks';
import { RunResult, stateQuery } from '../../workflows/definitions';
import { eventually } from '../helpers/temporal';
import { Service, startService } from '../helpers/service';

let svc: Service;
before(async () => {
  svc = await startService('kust-replfailed');
});
after(async () => {
  await svc?.stop();
});

const ALERT = '2 snmpexec_mon_cox_1_status - - - replfailed (first: 2023-05-10/10:08:27, last: 2023-05-10/11:34:02, total: 3406)';

function post(path: string, token: string, contentType: string, body: string) {
  return fetch(`${svc.apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
}

const srvOf = (name: string) => svc.lab.state().maps.cox.blocks.flatMap((b) => b.srvs).find((s) => s.name === name);

test('a check_mk alert through the API repairs cox-1 over SSH: ic map on the control node, clean on the slave host', async () => {
  assert.equal(srvOf('cox.vkt-4vm-879-standart-02.cox-1')?.repl, 'replfailed');
  const res = await post('/v1/alerts/checkmk', svc.tokens.webhook, 'text/plain', ALERT);
  assert.equal(res.status, 202);
  const body = (await res.json()) as { results: { workflowId: string; action: string }[] };
  assert.deepEqual(body.results.map((r) => [r.workflowId, r.action]), [['kust-replica/cox-1', 'started']]);

  const result = (await svc.client.workflow.getHandle('kust-replica/cox-1').result()) as RunResult;
  assert.equal(result.status, 'completed');
  assert.equal(result.outcome, 'repaired');
  assert.match(result.state.steps[1].output ?? '', /INFO: successfully started cox-1/);

  const log = svc.lab.log().map((e) => `${e.node}: ${e.tool} ${e.argv.join(' ')} -> ${e.exitCode}`);
  assert.deepEqual(log, ['vkt-control-01: ic map cox -> 0', 'vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1 -> 0']);
  assert.equal(srvOf('cox.vkt-4vm-879-standart-02.cox-1')?.repl, 'ok');
});

test('bad input is refused with a 4xx and starts nothing', async () => {
  const before = svc.lab.log().length;
  const cases: [string, string, string, number, RegExp][] = [
    ['/v1/alerts/checkmk', 'wrong-token-wrong-token', 'text/plain', 403, /invalid token/],
    ['/v1/alerts/checkmk', svc.tokens.webhook, 'application/json', 415, /text\/plain/],
    ['/v1/alerts/checkmk', svc.tokens.webhook, 'text/plain', 400, /line 1/],
    ['/v1/alerts/checkmk', svc.tokens.webhook, 'text/plain', 422, /nothing routable/],
  ];
  const bodies = [ALERT, ALERT, 'garbage', '2 some_unknown_check - all is lost'];
  for (const [i, [path, token, type, status, message]] of cases.entries()) {
    const res = await post(path, token, type, bodies[i]);
    assert.equal(res.status, status, `case ${i}`);
    assert.match(((await res.json()) as { error: string }).error, message);
  }
  // A hostile instance name never reaches a command line.
  const hostile = await post('/v1/runs', svc.tokens.operator, 'application/json', JSON.stringify({ runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1;reboot' } }));
  assert.equal(hostile.status, 400);
  assert.match(((await hostile.json()) as { error: string }).error, /instance "cox-1;reboot" rejected: contains shell metacharacter ;/);
  assert.equal(svc.lab.log().length, before);
});

test('a failing clean escalates; the operator retries through the API; a second trigger joins the open run', async () => {
  svc.lab.setState((s) => {
    s.maps.cox.blocks[1].srvs[1].repl = 'replfailed';
    s.faults.push({ tool: 'clean_kust_replica.sh', argsPrefix: ['cox-2'], failTimes: 1 });
  });
  const first = await startRun(svc.client, svc.config, 'kust-replica', { service: 'cox', instance: 'cox-2' }, 'test');
  assert.equal(first.started, true);
  const handle = svc.client.workflow.getHandle(first.workflowId);
  const escalated = await eventually(() => handle.query(stateQuery), (s) => s.status === 'escalated');
  assert.match(escalated.pending?.reason ?? '', /exit code 1/);

  const again = await startRun(svc.client, svc.config, 'kust-replica', { service: 'cox', instance: 'cox-2' }, 'test');
  assert.deepEqual(again, { workflowId: 'kust-replica/cox-2', started: false, signalled: true });
  await eventually(() => handle.query(stateQuery), (s) => s.seenAgain.count === 1);

  // alice's credential cannot decide as anybody else; the shared operator token cannot decide at all.
  const refused = await post(`/v1/runs/${first.workflowId}/decision`, svc.lab.operators.alice.token, 'application/json', JSON.stringify({ action: 'retry', by: 'mallory' }));
  assert.equal(refused.status, 403);
  const shared = await post(`/v1/runs/${first.workflowId}/decision`, svc.tokens.operator, 'application/json', JSON.stringify({ action: 'retry' }));
  assert.equal(shared.status, 403);
  assert.equal((await handle.query(stateQuery)).status, 'escalated', 'refused decisions changed nothing');
  const ok = await post(`/v1/runs/${first.workflowId}/decision`, svc.lab.operators.alice.token, 'application/json', JSON.stringify({ action: 'retry', by: 'alice' }));
  assert.equal(ok.status, 200);

  const result = (await handle.result()) as RunResult;
  assert.equal(result.outcome, 'repaired');
  const cleans = svc.lab.log().filter((e) => e.tool === 'clean_kust_replica.sh' && e.argv[0] === 'cox-2');
  assert.deepEqual(cleans.map((e) => [e.node, e.exitCode]), [
    ['vkt-4vm-879-standart-01', 1],
    ['vkt-4vm-879-standart-01', 0],
  ]);
  assert.equal(srvOf('cox.vkt-4vm-879-standart-01.cox-2')?.repl, 'ok');
});
