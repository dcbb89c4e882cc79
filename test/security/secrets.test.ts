/**
 * No secret in any recorded history, log line, API answer or error. The secrets: the SSH private key (the
 * file's text, its lines, the private key bytes), both API tokens, the operators' credentials, the API's
 * decision key, and the notification URL, which carries a webhook secret in its path and query (a real local
 * receiver listens there).
 *
 * The service runs as `npm start` runs it (node dist/worker/main.js, its own embedded Temporal, the lab's
 * sshd hosts), through runs that notify (the first POST fails and is retried), remind, are rejected,
 * approved, repaired, and fail their SSH connection three ways: a changed host key, a host that refuses
 * connections, a key file gone after the start. Then every line the service printed (the SDK's logger,
 * console output), the dev server's temporal.log, every run's event history, every API answer and every
 * notification body is searched for each secret in each encoded form (see secret-scan.ts).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import YAML from 'yaml';
import { labUp, LabHandle } from '../../lab/lab';
import type { RunState } from '../../workflows/definitions';
import { recordFigures } from '../helpers/figures';
import { freePort } from '../helpers/service';
import { eventually } from '../helpers/temporal';
import { apiCall, bearer } from './api-call';
import { Corpus, encodedForms, findSecrets, findSecretShapes, privateKeySecrets, Secret } from './secret-scan';
import { ServiceProcess, startServiceProcess } from './service-process';

const hex = (n: number) => randomBytes(n).toString('hex');
const TOKENS = { operator: `medic-operator-${hex(20)}`, webhook: `medic-webhook-${hex(20)}` };
const HOOK_PATH_SECRET = `T0HOOK${hex(12)}`;
const HOOK_QUERY_SECRET = `sig${hex(16)}`;

/** cox-1 and cox-2 as in kust-replfailed; cox-3 and cox-4 have their slaves on the hosts whose SSH fails. */
const SCENARIO = {
  description: 'security: four KUST replicas, three of them on hosts whose SSH connection fails',
  extends: 'kust-replfailed',
  maps: {
    cox: {
      blocks: [
        { node: 'cox-1', buckets: 2147483648, srvs: ['cox.vkt-4vm-879-standart-01.cox-1 10.32.0.1:2510 alive main', 'cox.vkt-4vm-879-standart-02.cox-1 10.32.96.0:2510 alive slave replfailed'] },
        { node: 'cox-2', buckets: 2147483648, srvs: ['cox.vkt-4vm-879-standart-02.cox-2 10.32.96.0:2511 alive main', 'cox.vkt-4vm-879-standart-01.cox-2 10.32.0.1:2511 alive slave replfailed'] },
        { node: 'cox-3', buckets: 2147483648, srvs: ['cox.vkt-4vm-879-standart-01.cox-3 10.32.0.1:2512 alive main', 'cox.vkt-4vm-675-standart-01.cox-3 10.32.0.2:2512 alive slave replfailed'] },
        { node: 'cox-4', buckets: 2147483648, srvs: ['cox.vkt-4vm-879-standart-01.cox-4 10.32.0.1:2513 alive main', 'cox.vkt-4vm-675-standart-02.cox-4 10.32.48.0:2513 alive slave replfailed'] },
      ],
    },
  },
};

interface Received {
  url: string;
  body: string;
  json: { kind?: string; runId?: string };
}

let scratch: string;
let lab: LabHandle;
let receiver: http.Server;
const received: Received[] = [];
let notificationUrl: string;
let vanishingKey: string;
let svc: ServiceProcess;
let connection: Connection | undefined;
let client: Client;
/** Every API answer the test got, for the scan. */
const answers: Corpus[] = [];

before(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'medic-secrets-'));
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ url: req.url ?? '', body, json: JSON.parse(body) as Received['json'] });
      // The first delivery fails: the retry (and its error) is part of what is recorded.
      res.writeHead(received.length === 1 ? 500 : 200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  notificationUrl = `http://127.0.0.1:${(receiver.address() as net.AddressInfo).port}/hooks/${HOOK_PATH_SECRET}/B0?sig=${HOOK_QUERY_SECRET}`;

  const scenario = path.join(scratch, 'security.json');
  writeFileSync(scenario, JSON.stringify(SCENARIO));
  lab = await labUp({ scenario });
  const doc = YAML.parse(readFileSync(lab.configPath, 'utf8')) as { [k: string]: unknown; inventory: { hosts: Record<string, { hostKey?: string; port: number; keyFile: string }> } };
  const hosts = doc.inventory.hosts;
  // cox-2's slave: the pinned key is another host's (as after a host key change).
  hosts['vkt-4vm-879-standart-01'].hostKey = hosts['vkt-4vm-879-standart-02'].hostKey;
  // cox-3's slave: nothing listens on its port.
  hosts['vkt-4vm-675-standart-01'].port = await freePort();
  // cox-4's slave: its own copy of the key, removed once the service runs.
  vanishingKey = path.join(scratch, 'vanishing_ed25519');
  copyFileSync(hosts['vkt-4vm-675-standart-02'].keyFile, vanishingKey);
  hosts['vkt-4vm-675-standart-02'].keyFile = vanishingKey;
  Object.assign(doc, {
    api: { ...(doc.api as object), webhookToken: TOKENS.webhook, operatorToken: TOKENS.operator },
    notifications: { url: notificationUrl },
    approvals: { 'kust-replica': { clean: 'approve' } },
    timers: { approvalReminder: '2s', escalationReminder: '2s', flapGuard: '0s' },
  });
  const configFile = path.join(scratch, 'medic.yaml');
  writeFileSync(configFile, YAML.stringify(doc));

  svc = await startServiceProcess(configFile, (doc.service as { dataDir: string }).dataDir);
  assert.ok(svc.apiUrl, `the service did not start:\n${svc.output()}`);
  rmSync(vanishingKey);
  connection = await Connection.connect({ address: svc.temporalAddress });
  client = new Client({ connection });
});
after(async () => {
  await connection?.close();
  await svc?.stop();
  await lab?.down();
  receiver?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A call with `token`, else the shared operator token (it reads and starts runs; decisions are the operators'). */
async function api(method: string, urlPath: string, opts: { token?: string; body?: unknown; contentType?: string } = {}) {
  const res = await apiCall(svc.apiUrl as string, method, urlPath, { authorization: bearer(opts.token ?? TOKENS.operator), body: opts.body, contentType: opts.contentType });
  answers.push({ where: `API ${method} ${urlPath} -> ${res.status}`, text: res.text });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(res.text) as Record<string, unknown>;
  } catch {
    // the metrics are text
  }
  return { status: res.status, json, text: res.text };
}
const runPath = (id: string) => `/v1/runs/${encodeURIComponent(id)}`;
/** The run's state as an operator sees it (GET /v1/runs/{id}), once it satisfies `ok`. */
async function stateWhen(id: string, ok: (s: RunState) => boolean): Promise<RunState> {
  const r = await eventually(() => api('GET', runPath(id)), (a) => a.status === 200 && ok(a.json.state as RunState), 60_000);
  return r.json.state as RunState;
}
const notificationsOf = (id: string, kind: string) => received.filter((n) => n.json.runId === id && n.json.kind === kind).length;
/** A decision with the credential of the operator its body names (alice or bob). */
async function decide(id: string, verb: string, body: { by: 'alice' | 'bob' } & Record<string, unknown>): Promise<void> {
  const r = await api('POST', `${runPath(id)}/${verb}`, { token: lab.operators[body.by].token, body });
  assert.equal(r.status, 200, `${verb} ${id}: ${r.text}`);
}

const ID = (n: number) => `kust-replica/cox-${n}`;
const outcomes: Record<string, string> = {};

test('runs that notify, remind, are rejected, approved, repaired and fail their SSH connection three ways', async () => {
  const cox1 = async () => {
    const alert = await api('POST', '/v1/alerts/checkmk', { token: TOKENS.webhook, body: '2 snmpexec_mon_cox_1_status - - - replfailed (total: 3406)', contentType: 'text/plain' });
    assert.equal(alert.status, 202, alert.text);
    await stateWhen(ID(1), (s) => s.status === 'awaiting-approval');
    // The approval request and at least one reminder.
    await eventually(async () => [notificationsOf(ID(1), 'approval'), notificationsOf(ID(1), 'reminder')], ([a, r]) => a >= 1 && r >= 1, 60_000);
    await decide(ID(1), 'reject', { by: 'alice', reason: 'not now' });
    outcomes.rejected = (await stateWhen(ID(1), (s) => s.status !== 'awaiting-approval' && s.outcome !== undefined)).outcome ?? '';
    const again = await api('POST', '/v1/runs', { body: { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1' } } });
    assert.equal(again.status, 201, again.text);
    await stateWhen(ID(1), (s) => s.status === 'awaiting-approval');
    await decide(ID(1), 'approve', { by: 'bob', comment: 'go' });
    outcomes.approved = (await stateWhen(ID(1), (s) => s.outcome !== undefined)).outcome ?? '';
  };
  /** Approve the clean; its SSH connection fails; answer the escalation with `verbs` in turn. */
  const failing = async (n: number, start: () => Promise<void>, reason: RegExp, verbs: string[]) => {
    await start();
    await stateWhen(ID(n), (s) => s.status === 'awaiting-approval');
    await decide(ID(n), 'decision', { action: 'approve', by: 'alice' });
    for (const [i, verb] of verbs.entries()) {
      await eventually(async () => notificationsOf(ID(n), 'escalation'), (c) => c >= i + 1, 60_000);
      const s = await stateWhen(ID(n), (st) => st.status === 'escalated');
      assert.match(s.pending?.reason ?? '', reason, ID(n));
      await decide(ID(n), 'decide', { action: verb, by: 'bob', comment: `${verb} after ${s.pending?.reason?.slice(0, 40)}` });
    }
    outcomes[ID(n)] = (await stateWhen(ID(n), (s) => s.outcome !== undefined)).outcome ?? '';
  };
  const startByApi = (n: number) => async () => {
    const r = await api('POST', '/v1/runs', { body: { runbook: 'kust-replica', params: { service: 'cox', instance: `cox-${n}` } } });
    assert.equal(r.status, 201, r.text);
  };
  const startByAlertmanager = async () => {
    const body = { version: '4', receiver: 'medic', status: 'firing', alerts: [{ status: 'firing', labels: { alertname: 'KustReplFailed', checkmk_line: '2 snmpexec_mon_cox_2_status - - - replfailed' }, startsAt: new Date().toISOString() }] };
    const r = await api('POST', '/v1/alerts/alertmanager', { token: TOKENS.webhook, body });
    assert.equal(r.status, 202, r.text);
  };
  await Promise.all([
    cox1(),
    failing(2, startByAlertmanager, /host key of vkt-4vm-879-standart-01 .* does not match the pinned key/, ['abort']),
    failing(3, startByApi(3), /cannot connect to vkt-4vm-675-standart-01/, ['resolved']),
    failing(4, startByApi(4), /cannot read the SSH key .*vanishing_ed25519/, ['retry', 'abort']),
  ]);
  assert.deepEqual(outcomes, { rejected: 'rejected', approved: 'repaired', [ID(2)]: 'aborted-by-operator', [ID(3)]: 'resolved-by-operator', [ID(4)]: 'aborted-by-operator' });
  assert.deepEqual(
    lab.log().map((e) => `${e.node}: ${path.basename(e.tool)} ${e.argv.join(' ')}`).filter((l) => l.includes('clean')),
    ['vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1'],
    'only the approved cox-1 clean reached a host',
  );
  assert.ok(received.slice(1).some((n) => n.body === received[0].body), 'the first notification (answered 500) was sent again');
  for (const n of received) assert.equal(n.url, `/hooks/${HOOK_PATH_SECRET}/B0?sig=${HOOK_QUERY_SECRET}`, 'notifications went to the secret URL');

  // Refused and failed calls: their errors are scanned too.
  assert.equal((await api('POST', `${runPath(ID(1))}/approve`, { token: `${TOKENS.operator}x`, body: { by: 'alice' } })).status, 403);
  assert.equal((await api('POST', `${runPath(ID(1))}/approve`, { token: TOKENS.webhook, body: { by: 'alice' } })).status, 403);
  assert.equal((await api('POST', `${runPath(ID(1))}/approve`, { body: { by: 'alice' } })).status, 403, 'the shared operator token cannot decide');
  assert.equal((await api('POST', `${runPath(ID(1))}/approve`, { token: `${lab.operators.alice.token}x`, body: { by: 'alice' } })).status, 403);
  assert.equal((await api('POST', `${runPath(ID(1))}/approve`, { token: lab.operators.carol.token, body: {} })).status, 403, 'a viewer cannot decide');
  assert.equal((await api('POST', `${runPath(ID(1))}/approve`, { token: lab.operators.bob.token, body: { by: 'alice' } })).status, 403, 'bob cannot decide as alice');
  assert.equal((await api('POST', '/v1/alerts/checkmk', { body: '2 snmpexec_mon_cox_1_status - - - replfailed', contentType: 'text/plain' })).status, 403);
  assert.equal((await api('POST', `${runPath(ID(3))}/decide`, { token: lab.operators.bob.token, body: { action: 'retry', by: 'bob' } })).status, 409);
  assert.equal((await api('POST', '/v1/runs', { body: '{"runbook": ', contentType: 'application/json' })).status, 400);
  assert.equal((await api('GET', runPath('kust-replica/cox-9'))).status, 404);
  for (const n of [1, 2, 3, 4]) assert.equal((await api('GET', `${runPath(ID(n))}/history`)).status, 200);
  assert.equal((await api('GET', '/v1/runs')).status, 200);
  assert.equal((await api('GET', '/metrics')).status, 200);
});

test('no secret in the service output, temporal.log, any run history, API answer or notification', async () => {
  // Every run of the namespace (cox-1 twice), each history in its binary form (payloads are JSON inside).
  const executions = await eventually(
    async () => {
      const list: { workflowId: string; runId: string }[] = [];
      for await (const wf of client.workflow.list()) list.push({ workflowId: wf.workflowId, runId: wf.runId });
      return list;
    },
    (l) => l.length === 5,
    30_000,
  );
  const histories: Corpus[] = [];
  let events = 0;
  for (const e of executions) {
    const h = await client.workflow.getHandle(e.workflowId, e.runId).fetchHistory();
    events += h.events?.length ?? 0;
    histories.push({ where: `history of ${e.workflowId} (${e.runId})`, text: Buffer.from(temporal.api.history.v1.History.encode(h).finish()).toString('latin1') });
  }
  await connection?.close();
  connection = undefined;
  // Stopped, so that the logs are complete.
  await svc.stop();
  const output = svc.output();
  const temporalLog = readFileSync(path.join(lab.dir, 'data', 'temporal.log'), 'utf8');
  const logs: Corpus[] = [
    { where: 'service output (stdout + stderr)', text: output },
    { where: 'temporal.log', text: temporalLog },
  ];
  const notifications: Corpus[] = received.map((n, i) => ({ where: `notification ${i + 1} (${n.json.kind} ${n.json.runId})`, text: n.body }));
  const keyFile = readFileSync(path.join(lab.dir, 'keys', 'id_ed25519'), 'utf8');
  const decisionKey = readFileSync(path.join(lab.dir, 'keys', 'decision-key.pem'), 'utf8');
  const decisionKeyBytes = Buffer.from(createPrivateKey(decisionKey).export({ format: 'jwk' }).d ?? '', 'base64url');
  assert.equal(decisionKeyBytes.length, 32);
  const secrets: Secret[] = [
    // The random ones also by any piece (a truncated echo is a leak too).
    { name: 'operator token', value: Buffer.from(TOKENS.operator), pieces: true },
    { name: 'webhook token', value: Buffer.from(TOKENS.webhook), pieces: true },
    ...Object.entries(lab.operators).map(([name, o]) => ({ name: `${name}'s credential`, value: Buffer.from(o.token), pieces: true })),
    { name: 'decision key (file)', value: Buffer.from(decisionKey), pieces: true },
    { name: 'decision key (private key bytes)', value: decisionKeyBytes, pieces: true },
    { name: 'notification URL', value: Buffer.from(notificationUrl) },
    { name: 'notification URL path secret', value: Buffer.from(HOOK_PATH_SECRET), pieces: true },
    { name: 'notification URL query secret', value: Buffer.from(HOOK_QUERY_SECRET), pieces: true },
    ...privateKeySecrets('SSH private key', keyFile),
  ];
  const corpora = [...logs, ...histories, ...answers, ...notifications];
  // What the scan looks at is real: the runs' errors are in the histories, the activity failures in the output.
  assert.match(output, /medic: API http:/);
  assert.match(output, /\{"audit":"decision",.*"operator":"bob",.*"outcome":"accepted"/, 'the audit lines (scanned too) are in the output');
  assert.ok(histories.some((h) => h.text.includes('does not match the pinned key')) && histories.some((h) => h.text.includes('cannot read the SSH key')));
  assert.match(output, /Activity failed/, 'the SDK logger printed the activity failures');
  const found = [...findSecrets(secrets, corpora), ...findSecretShapes(corpora).filter((f) => /^(PEM|OpenSSH|a bearer)/.test(f))];
  assert.deepEqual(found, []);

  const logLines = output.split('\n').length + temporalLog.split('\n').length;
  recordFigures('security', {
    'service log lines scanned (main.js output + temporal.log)': logLines,
    'runs (executions) whose history was scanned': executions.length,
    'history events scanned': events,
    'API answers scanned': answers.length,
    'notification bodies scanned': notifications.length,
    'secret values searched': secrets.length,
    'secret value x encoded form searches per corpus': secrets.reduce((n, s) => n + encodedForms(s.value).length, 0),
    'secrets found in histories, logs, answers and notifications': found.length,
  });
});
