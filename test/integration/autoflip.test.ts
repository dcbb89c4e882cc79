/**
 * autoflip end to end: alerts -> HTTP API -> Temporal dev server (with its visibility store, so the
 * run really lists the open replication runs) -> worker -> SSH to the lab -> simulated `ic`.
 * Scenario autoflip-blocked-replfailed: map fate blocked AND its fate-1 replica broken.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { createRunActivities } from '../../activities';
import { startRun } from '../../client/runbooks';
import type { CommandLogEntry } from '../../lab/types';
import { RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { eventually } from '../helpers/temporal';
import { Service, startService } from '../helpers/service';

let svc: Service;
before(async () => {
  svc = await startService('autoflip-blocked-replfailed', {
    timers: { autoflipRetry: '1s', replicationPoll: '1s', replicationPollMax: '2s' },
    // The KUST repair waits for an operator before its clean, so the autoflip run finds it in progress.
    approvals: { 'kust-replica': { clean: 'approve' } },
  });
});
after(async () => {
  await svc?.stop();
});

function post(path: string, token: string, contentType: string, body: unknown) {
  return fetch(`${svc.apiUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
const alert = (lines: string) => post('/v1/alerts/checkmk', svc.tokens.webhook, 'text/plain', lines);
const decide = (id: string, action: string) => post(`/v1/runs/${id}/decision`, svc.lab.operators.alice.token, 'application/json', { action, by: 'alice' });
const state = (id: string): Promise<RunState> => svc.client.workflow.getHandle(id).query(stateQuery);
const result = async (id: string) => (await svc.client.workflow.getHandle(id).result()) as RunResult;
const line = (e: CommandLogEntry) => `${e.node}: ${e.tool} ${e.argv.join(' ')} -> ${e.exitCode}`;
const logFrom = (from: number) => svc.lab.log().slice(from).map(line);
const fate = () => svc.lab.state().maps.fate;

test('blocked with a KUST repair of fate-1 in progress: autoflip waits for it, then enables; the map ends enabled and healthy', async () => {
  assert.equal(fate().autoflip, 'blocked');
  const repl = await alert('2 snmpexec_mon_fate_1_status - - - replfailed (first: 2025-08-14/14:09:05, last: 2025-08-14/14:19:05, total: 600)');
  assert.equal(repl.status, 202);
  await eventually(() => state('kust-replica/fate-1'), (s) => s.status === 'awaiting-approval');

  const res = await alert('2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [fate]');
  assert.equal(res.status, 202);
  assert.deepEqual(((await res.json()) as { results: { workflowId: string }[] }).results.map((r) => r.workflowId), ['autoflip/fate']);
  const waiting = await eventually(() => state('autoflip/fate'), (s) => s.currentStep === 'wait for kust-replica/fate-1 to finish' && s.status === 'waiting');
  assert.equal(waiting.steps[0].name, 'autoflip blocked');
  // Several looks later, autoflip is still untouched.
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal((await state('autoflip/fate')).status, 'waiting');
  assert.ok(!svc.lab.log().some((e) => e.argv[0] === 'set_autoflip'), 'no set_autoflip while the repair is in progress');
  assert.equal(fate().autoflip, 'blocked');

  assert.equal((await decide('kust-replica/fate-1', 'approve')).status, 200);
  assert.equal((await result('kust-replica/fate-1')).outcome, 'repaired');
  const r = await result('autoflip/fate');
  assert.equal(r.status, 'completed');
  assert.equal(r.outcome, 'repaired');

  assert.deepEqual(logFrom(0), [
    'vkt-control-01: ic map fate -> 0', // kust-replica: find the slave
    'vkt-control-01: ic map fate -> 0', // autoflip: blocked?
    'onpremise: clean_kust_replica.sh fate-1 -> 0',
    'vkt-control-01: ic set_autoflip fate enable -> 0',
    'vkt-control-01: ic map fate -> 0',
  ]);
  assert.equal(fate().autoflip, 'enable');
  assert.deepEqual(fate().blocks[0].srvs.map((s) => `${s.name} ${s.status} ${s.role} ${s.repl}`), [
    'fate.onpremise.fate-1 alive slave ok',
    'fate.onpremise.fate-2 alive main ok',
  ]);
});

test('a two-map alert through the API starts one run per map: fate already enabled (nothing to do), cox blocked and enabled', async () => {
  svc.lab.setState((s) => {
    s.maps.cox.autoflip = 'blocked';
  });
  const from = svc.lab.log().length;
  const res = await post('/v1/runs', svc.tokens.operator, 'application/json', { runbook: 'autoflip', params: { maps: ['fate', 'cox'] } });
  assert.equal(res.status, 201);
  const body = (await res.json()) as { results: { workflowId: string; started: boolean }[] };
  assert.deepEqual(body.results.map((o) => [o.workflowId, o.started]), [
    ['autoflip/fate', true],
    ['autoflip/cox', true],
  ]);
  assert.equal((await result('autoflip/fate')).outcome, 'nothing-to-do');
  assert.equal((await result('autoflip/cox')).outcome, 'repaired');
  const log = logFrom(from);
  assert.deepEqual(log.filter((l) => l.includes(' fate')), ['vkt-control-01: ic map fate -> 0']);
  assert.deepEqual(log.filter((l) => l.includes(' cox')), ['vkt-control-01: ic map cox -> 0', 'vkt-control-01: ic set_autoflip cox enable -> 0', 'vkt-control-01: ic map cox -> 0']);
  assert.equal(svc.lab.state().maps.cox.autoflip, 'enable');
});

test('set_autoflip failing twice: the second try after the retry wait, then escalated with the map still blocked', async () => {
  svc.lab.setState((s) => {
    s.maps.badger.autoflip = 'blocked';
    s.faults.push({ tool: 'ic', argsPrefix: ['set_autoflip'], failTimes: 2 });
  });
  const from = svc.lab.log().length;
  const res = await alert('2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [badger]');
  assert.equal(res.status, 202);
  const s = await eventually(() => state('autoflip/badger'), (st) => st.status === 'escalated');
  assert.equal(s.pending?.step, 'enable autoflip');
  assert.match(s.pending?.reason ?? '', /exit code 1/);
  assert.deepEqual(logFrom(from), ['vkt-control-01: ic map badger -> 0', 'vkt-control-01: ic set_autoflip badger enable -> 1', 'vkt-control-01: ic set_autoflip badger enable -> 1']);
  const [first, second] = svc.lab.log().slice(from + 1);
  assert.ok(Date.parse(second.time) - (second.durationMs ?? 0) - Date.parse(first.time) >= 900, 'the retry waits timers.autoflipRetry');
  assert.equal(svc.lab.state().maps.badger.autoflip, 'blocked');
  assert.equal((await decide('autoflip/badger', 'abort')).status, 200);
  assert.equal((await result('autoflip/badger')).status, 'aborted');
});

test('a replication run started a moment ago is found by its ID even while the visibility list does not show it yet', async () => {
  // The list is eventually consistent (seconds on Elasticsearch); here it lags completely.
  const lagging = {
    workflow: {
      list: async function* () {
        return;
      },
      getHandle: (id: string) => svc.client.workflow.getHandle(id),
    },
  } as unknown as Client;
  const started = await startRun(svc.client, svc.config, 'kust-replica', { service: 'cox', instance: 'cox-1' }, 'test');
  assert.equal(started.started, true);
  try {
    const { runId } = await svc.client.workflow.getHandle(started.workflowId).describe();
    const runs = createRunActivities(lagging);
    assert.deepEqual(await runs.openReplicationRuns('cox'), [], 'the list alone misses it');
    assert.deepEqual(await runs.openReplicationRuns('cox', ['cox-1', 'cox-2', 'fate-1', 'cox-1; rm -rf /']), [{ workflowId: 'kust-replica/cox-1', runId, runbook: 'kust-replica', target: 'cox-1' }]);
    // The real client: the same run, once (list and direct look are merged).
    const real = await eventually(() => createRunActivities(svc.client).openReplicationRuns('cox', ['cox-1']), (r) => r.length > 0);
    assert.deepEqual(real, [{ workflowId: 'kust-replica/cox-1', runId, runbook: 'kust-replica', target: 'cox-1' }]);
  } finally {
    await svc.client.workflow.getHandle(started.workflowId).terminate('test finished');
  }
});
