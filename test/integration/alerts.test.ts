/**
 * Alert intake end to end: a real Alertmanager sends its webhook to the service, which starts the
 * right run against the lab; resolved alerts are recorded; storms stay bounded; bad input starts
 * nothing; Temporal down means 5xx.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { RunResult, stateQuery } from '../../workflows/definitions';
import { decideSigned } from '../helpers/decide';
import { createApi } from '../../worker/api';
import { Alertmanager, startAlertmanager } from '../helpers/alertmanager';
import { Service, startService } from '../helpers/service';
import { eventually } from '../helpers/temporal';

let svc: Service;
let am: Alertmanager;
before(async () => {
  // The clean waits for an approval, so that a run stays open while duplicates and resolutions arrive.
  svc = await startService('kust-replfailed', { approvals: { 'kust-replica': { clean: 'approve' } }, intake: { seenAgainInterval: '1h' } });
  am = await startAlertmanager(`${svc.apiUrl}/v1/alerts/alertmanager`, svc.tokens.webhook);
});
after(async () => {
  await am?.stop();
  await svc?.stop();
});

const amPayload = (alerts: object[]) => ({
  version: '4',
  receiver: 'medic',
  status: 'firing',
  alerts,
  groupLabels: {},
  commonLabels: {},
  commonAnnotations: {},
  externalURL: 'http://127.0.0.1:9093',
  groupKey: '{}:{}',
  truncatedAlerts: 0,
});
const amAlert = (labels: Record<string, string>, annotations: Record<string, string> = {}, status = 'firing') => ({
  status,
  labels,
  annotations,
  startsAt: '2026-11-22T10:00:00Z',
  endsAt: '0001-01-01T00:00:00Z',
  generatorURL: '',
  fingerprint: 'abc123',
});
async function postAm(body: unknown, token = svc.tokens.webhook, type = 'application/json') {
  const res = await fetch(`${svc.apiUrl}/v1/alerts/alertmanager`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { error?: string; results?: { workflowId: string; action: string }[] } };
}

test('Alertmanager -> webhook: the check_mk line in an annotation starts kust-replica/cox-1; a storm of duplicates adds one event; resolution is recorded and the run finishes without touching the replica', async () => {
  await am.post([{ labels: { alertname: 'KustReplFailed', service: 'cox' }, annotations: { checkmk_line: '2 snmpexec_mon_cox_1_status - - - replfailed (first: 2023-05-10/10:08:27, last: 2023-05-10/11:34:02, total: 3406)' } }]);
  const handle = svc.client.workflow.getHandle('kust-replica/cox-1');
  const waiting = await eventually(() => handle.query(stateQuery).catch(() => undefined), (s) => s?.status === 'awaiting-approval', 30_000);
  assert.equal(waiting?.steps[0].host, 'vkt-control-01');

  // A storm: 2,000 duplicates straight to the webhook, 100 per payload.
  const dup = amAlert({ alertname: 'KustReplFailed', checkmk_line: '2 snmpexec_mon_cox_1_status - - - replfailed' });
  const actions = new Map<string, number>();
  for (let i = 0; i < 20; i++) {
    const r = await postAm(amPayload(Array.from({ length: 100 }, () => dup)));
    assert.equal(r.status, 202);
    for (const x of r.body.results ?? []) actions.set(x.action, (actions.get(x.action) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(actions), { joined: 1, 'joined-quietly': 1999 });
  const s = await handle.query(stateQuery);
  assert.equal(s.seenAgain.count, 1);
  // One "seen again" signal (and the workflow task that records it); nothing per duplicate.
  const events = (await svc.client.workflow.getHandle('kust-replica/cox-1').fetchHistory()).events ?? [];
  assert.equal(events.filter((e) => e.workflowExecutionSignaledEventAttributes).length, 1);
  assert.ok(events.length < 40, `history has ${events.length} events after 2,000 duplicates`);

  // The alert resolves in Alertmanager; the webhook records it on the run once.
  await am.post([{ labels: { alertname: 'KustReplFailed', service: 'cox' }, annotations: { checkmk_line: '2 snmpexec_mon_cox_1_status - - - replfailed (first: 2023-05-10/10:08:27, last: 2023-05-10/11:34:02, total: 3406)' }, endsAt: new Date(Date.now() - 1000).toISOString() }]);
  const resolved = await eventually(() => handle.query(stateQuery), (st) => st.alertResolved !== undefined, 30_000);
  assert.equal(resolved.alertResolved?.source, 'alertmanager');
  await decideSigned(svc.client, svc.config, handle.workflowId, { action: 'approve', by: 'alice' });
  const result = (await handle.result()) as RunResult;
  assert.equal(result.outcome, 'resolved-before-repair');
  assert.deepEqual(svc.lab.log().map((e) => `${e.node}: ${e.tool} ${e.argv.join(' ')}`), ['vkt-control-01: ic map cox']);
});

test('bad input: 4xx naming the problem, nothing started', async () => {
  const startedBefore = svc.lab.log().length;
  const good = amAlert({ alertname: 'X', runbook: 'kust-replica', service: 'cox', instance: 'cox-2' });
  const cases: [unknown, number, RegExp, string?, string?][] = [
    [amPayload([good]), 403, /invalid token/, 'not-the-token-at-all'],
    [amPayload([good]), 415, /application\/json/, undefined, 'text/plain'],
    ['{"version": "4", ', 400, /invalid JSON/],
    [{ ...amPayload([good]), version: '3' }, 400, /at version/],
    [{ ...amPayload([good]), surprise: '$(reboot)' }, 400, /surprise/],
    [amPayload([{ ...good, labels: { ...good.labels, 'bad-name;rm': 'x' } }]), 400, /labels\.bad-name;rm: Invalid key/],
    [amPayload([{ ...good, labels: { ...good.labels, service: 'cox\u0007' } }]), 400, /control characters/],
    [amPayload([{ ...good, labels: { ...good.labels, service: 'x'.repeat(5000) } }]), 400, /longer than 1024/],
    [amPayload([amAlert({ runbook: 'kust-replica', service: 'cox', instance: 'cox-2;reboot' })]), 422, /contains shell metacharacter ;/],
    [amPayload([amAlert({ runbook: 'kust-replica', service: '../../etc', instance: 'cox-2' })]), 422, /service .* rejected/],
    [amPayload([amAlert({ alertname: 'Unrelated' })]), 422, /no routing rule matches/],
    [amPayload([]), 400, /alerts/],
  ];
  for (const [i, [body, status, message, token, type]] of cases.entries()) {
    const r = await postAm(body, token ?? svc.tokens.webhook, type ?? 'application/json');
    assert.equal(r.status, status, `case ${i}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.error ?? '', message, `case ${i}`);
  }
  const big = await fetch(`${svc.apiUrl}/v1/alerts/alertmanager`, { method: 'POST', headers: { authorization: `Bearer ${svc.tokens.webhook}`, 'content-type': 'application/json' }, body: 'x'.repeat(5_000_000) });
  assert.equal(big.status, 413);
  assert.match(((await big.json()) as { error: string }).error, /body larger than 4194304 bytes/);
  await assert.rejects(svc.client.workflow.getHandle('kust-replica/cox-2').describe(), /not found/i);
  assert.equal(svc.lab.log().length, startedBefore);
});

test('a rule from the configuration routes by labels; a runbook label with its parameters works too', async () => {
  const { routeAlertmanager } = await import('../../client/intake');
  const rules = [{ match: { alertname: '~Kust.*', severity: 'critical' }, runbook: 'kust-replica', params: { service: '$labels.svc', instance: '$labels.inst' } }];
  const a = (labels: Record<string, string>) => ({ status: 'firing' as const, labels, annotations: {}, startsAt: '' });
  assert.deepEqual(routeAlertmanager(a({ alertname: 'KustBroken', severity: 'critical', svc: 'cox', inst: 'cox-1' }), rules), {
    ok: true,
    value: [{ runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1' } }],
  });
  assert.deepEqual(routeAlertmanager(a({ runbook: 'kust-replica', service: 'cox', instance: 'cox-3' }), rules), { ok: true, value: [{ runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-3' } }] });
  assert.deepEqual(routeAlertmanager(a({ check: 'snmpexec_mon_mon_cox_2_status' }), []), { ok: true, value: [{ runbook: 'kust-replica', params: { service: 'mon_cox', instance: 'mon_cox-2' } }] });
  const missing = routeAlertmanager(a({ alertname: 'KustBroken', severity: 'critical', svc: 'cox' }), rules);
  assert.equal(missing.ok, false);
});

test('Temporal unreachable: the webhook answers 503 so that Alertmanager retries', async () => {
  const dead = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
  const connection = Connection.lazy({ address: `127.0.0.1:${dead}` });
  const client = new Client({ connection });
  const api: http.Server = createApi(client, svc.config, svc.tokens);
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  try {
    const port = (api.address() as net.AddressInfo).port;
    const res = await fetch(`http://127.0.0.1:${port}/v1/alerts/checkmk`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svc.tokens.webhook}`, 'content-type': 'text/plain' },
      body: '2 snmpexec_mon_cox_2_status - - - replfailed',
    });
    assert.equal(res.status, 503);
    assert.match(((await res.json()) as { error: string }).error, /temporal/);
  } finally {
    api.close();
  }
});
