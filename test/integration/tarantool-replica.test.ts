/**
 * tarantool-replica end to end: check_mk alert -> HTTP API -> Temporal dev server -> worker -> SSH to
 * the lab's sshd nodes -> simulated tools. The procedure's waits (10 s, 5 min) are 1 s here (config timers).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRun } from '../../client/runbooks';
import type { CommandLogEntry } from '../../lab/types';
import { RunResult, stateQuery } from '../../workflows/definitions';
import { eventually } from '../helpers/temporal';
import { Service, startService } from '../helpers/service';

const TIMERS = { tarantoolSettle: '1s', tarantoolBeforeFlip: '1s', tarantoolFlipRetry: '1s', tarantoolBeforeVerify: '1s' };
const S1 = 'vkt-4vm-675-standart-01';
const S2 = 'vkt-4vm-675-standart-02';

let svc: Service;
before(async () => {
  svc = await startService('tarantool-broken', { timers: TIMERS });
});
after(async () => {
  await svc?.stop();
});

function post(path: string, token: string, contentType: string, body: string) {
  return fetch(`${svc.apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
}

const block = (node: string) => svc.lab.state().maps.badger.blocks.find((b) => b.node === node);
const roles = (node: string) => block(node)?.srvs.map((s) => `${s.name} ${s.role} ${s.repl}`);
const line = (e: CommandLogEntry) => `${e.node}: ${e.tool} ${e.argv.join(' ')} -> ${e.exitCode}`;
/** Log entries from index `from` on. */
const logFrom = (from: number) => svc.lab.log().slice(from);
/** Milliseconds between the end of one logged command and the start of the next. */
const pause = (a: CommandLogEntry, b: CommandLogEntry) => Date.parse(b.time) - (b.durationMs ?? 0) - Date.parse(a.time);

test('the "replication status stopped" alert repairs badger-3: clean, units active, flip, roles swapped, former main restarted', async () => {
  assert.deepEqual(roles('badger-3'), ['badger.vkt-4vm-675-standart-01.badger-3 slave stopped', 'badger.vkt-4vm-675-standart-02.badger-3 main ok']);
  const alert = '2 tarantool_badger_3_rep1_master1 slave_lag=0.01s;500.0;1000.0 slave_lag=0.01s;500.0;1000.0 replication status stopped(!)';
  const res = await post('/v1/alerts/checkmk', svc.tokens.webhook, 'text/plain', alert);
  assert.equal(res.status, 202);
  const body = (await res.json()) as { results: { workflowId: string }[] };
  assert.deepEqual(body.results.map((r) => r.workflowId), ['tarantool-replica/badger-3']);

  const result = (await svc.client.workflow.getHandle('tarantool-replica/badger-3').result()) as RunResult;
  assert.equal(result.status, 'completed');
  assert.equal(result.outcome, 'repaired');

  const log = svc.lab.log();
  assert.deepEqual(log.map(line), [
    'vkt-control-01: ic map badger -> 0',
    `${S1}: clean_tnt_replica.sh badger-3 -> 0`,
    `${S1}: systemctl is-active tarantool@badger-3 badger-3 -> 0`,
    `${S1}: ic flip badger.vkt-4vm-675-standart-01.badger-3 -> 0`,
    `${S1}: ic map badger -> 0`,
    `${S2}: systemctl restart tarantool@badger-3 badger-3 -> 0`,
  ]);
  // The configured waits really separate the steps: settle, before the flip, before the check.
  for (const i of [1, 2, 3]) assert.ok(pause(log[i], log[i + 1]) >= 900, `pause after ${line(log[i])}: ${pause(log[i], log[i + 1])} ms`);
  assert.deepEqual(roles('badger-3'), ['badger.vkt-4vm-675-standart-01.badger-3 main ok', 'badger.vkt-4vm-675-standart-02.badger-3 slave ok']);
  for (const node of [S1, S2]) {
    const units = svc.lab.state().nodes[node].units;
    assert.deepEqual([units['tarantool@badger-3'].active, units['badger-3'].active], ['active', 'active'], node);
  }
});

test('the "problems on upstreams" alert, the flip failing once: the flip runs again after the retry wait and the run finishes', async () => {
  svc.lab.setState((s) => {
    s.maps.badger.blocks[0].srvs[0].repl = 'stopped';
    s.faults.push({ tool: 'ic', argsPrefix: ['flip'], failTimes: 1 });
  });
  const from = svc.lab.log().length;
  const res = await post('/v1/alerts/checkmk', svc.tokens.webhook, 'text/plain', '2 tarantool_badger_1_replication - - problems on upstreams:1');
  assert.equal(res.status, 202);
  const result = (await svc.client.workflow.getHandle('tarantool-replica/badger-1').result()) as RunResult;
  assert.equal(result.outcome, 'repaired');
  const log = logFrom(from);
  assert.deepEqual(log.map(line), [
    'vkt-control-01: ic map badger -> 0',
    `${S2}: clean_tnt_replica.sh badger-1 -> 0`,
    `${S2}: systemctl is-active tarantool@badger-1 badger-1 -> 0`,
    `${S2}: ic flip badger.vkt-4vm-675-standart-02.badger-1 -> 1`,
    `${S2}: ic flip badger.vkt-4vm-675-standart-02.badger-1 -> 0`,
    `${S2}: ic map badger -> 0`,
    `${S1}: systemctl restart tarantool@badger-1 badger-1 -> 0`,
  ]);
  assert.ok(pause(log[3], log[4]) >= 900, 'the retry waits');
  assert.deepEqual(roles('badger-1'), ['badger.vkt-4vm-675-standart-02.badger-1 main ok', 'badger.vkt-4vm-675-standart-01.badger-1 slave ok']);
});

test('a unit that dies after the clean: escalated at "both units active", no flip; the operator aborts through the API', async () => {
  // A fresh instance (a second run for badger-3 within the hour would meet the flapping guard first).
  svc.lab.setState((s) => {
    s.maps.badger.blocks.push({
      node: 'badger-5',
      buckets: 268435456,
      srvs: [
        { name: `badger.${S1}.badger-5`, addr: '10.32.0.1:2504', status: 'alive', role: 'slave', repl: 'stopped' },
        { name: `badger.${S2}.badger-5`, addr: '10.32.48.0:2504', status: 'alive', role: 'main', repl: 'ok' },
      ],
    });
    // Its IPROS unit crashes right after the clean script starts it.
    Object.assign(s.nodes[S1].units, { 'tarantool@badger-5': { active: 'active', enabled: true }, 'badger-5': { active: 'active', enabled: true, crashAfterStart: true } });
    Object.assign(s.nodes[S2].units, { 'tarantool@badger-5': { active: 'active', enabled: true }, 'badger-5': { active: 'active', enabled: true } });
  });
  const from = svc.lab.log().length;
  const run = await startRun(svc.client, svc.config, 'tarantool-replica', { service: 'badger', instance: 'badger-5' }, 'test');
  assert.deepEqual(run, { workflowId: 'tarantool-replica/badger-5', started: true });
  const handle = svc.client.workflow.getHandle(run.workflowId);
  const s = await eventually(() => handle.query(stateQuery), (st) => st.status === 'escalated');
  assert.equal(s.pending?.step, 'both units active', JSON.stringify(s.pending));
  assert.equal(s.pending?.reason, 'not active: badger-5: failed');
  // Longer than every configured wait: still nothing after the failed check.
  await new Promise((r) => setTimeout(r, 2500));
  assert.deepEqual(logFrom(from).map(line), [
    'vkt-control-01: ic map badger -> 0',
    `${S1}: clean_tnt_replica.sh badger-5 -> 0`,
    `${S1}: systemctl is-active tarantool@badger-5 badger-5 -> 3`,
  ]);
  const res = await post(`/v1/runs/${run.workflowId}/decision`, svc.lab.operators.alice.token, 'application/json', JSON.stringify({ action: 'abort', by: 'alice', comment: 'IPROS crashes' }));
  assert.equal(res.status, 200);
  const result = (await handle.result()) as RunResult;
  assert.equal(result.status, 'aborted');
  assert.equal(logFrom(from).length, 3);
  assert.deepEqual(roles('badger-5'), [`badger.${S1}.badger-5 slave ok`, `badger.${S2}.badger-5 main ok`]);
});
