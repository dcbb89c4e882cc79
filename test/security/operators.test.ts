/**
 * Decisions are bound to the operator who sends them, against the service as `npm start` runs it (node
 * dist/worker/main.js, its embedded Temporal, the lab's sshd hosts) and real HTTP from several loopback
 * addresses (a reverse proxy on 127.0.0.5, somebody else on 127.0.0.6):
 *   - alice's credential cannot decide as bob (403) and the run is unchanged (still pending, no decision,
 *     no event); a viewer cannot decide; the shared operator token cannot; wrong or missing credentials 403/401;
 *   - the proxy's X-Forwarded-User is accepted from the configured proxy address only: from any other
 *     address it is refused, with or without a valid credential beside it, and authenticates nobody;
 *   - a decision without `by` is the caller's; it reaches the run signed by the API's decision key for the
 *     decision pending then, from the caller's address (the proxy's forwarded client behind the proxy);
 *   - one JSON audit line per decision and per refusal in the service's output: operator, source, time,
 *     run, pending step, action, outcome and reason, and no credential;
 *   - a decision sent to Temporal directly (the Temporal CLI's signal, an Update) is refused by the run as
 *     "identity not verified" (directDecisions: refuse, the default), recorded, and changes nothing else.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { runHistory } from '../../client/history';
import { labUp, LabHandle } from '../../lab/lab';
import { decideUpdate, decisionPayload, type Decision, type DecisionRecord, type RunResult, type RunState, stateQuery } from '../../workflows/definitions';
import { temporalBinaries } from '../../worker/binaries';
import { eventually, quietHistoryLength } from '../helpers/temporal';
import { ServiceProcess, startServiceProcess } from './service-process';

const PROXY = '127.0.0.5';
const ELSEWHERE = '127.0.0.6';
const RUN = 'kust-replica/cox-1';

let lab: LabHandle;
let svc: ServiceProcess;
let connection: Connection;
let client: Client;

before(async () => {
  lab = await labUp({
    scenario: 'kust-replfailed',
    extraConfig: { approvals: { 'kust-replica': { clean: 'approve' } }, timers: { flapGuard: '0s' }, api: { trustedProxies: [PROXY] } },
  });
  svc = await startServiceProcess(lab.configPath, path.join(lab.dir, 'data'));
  assert.ok(svc.apiUrl, `the service did not start:\n${svc.output()}`);
  connection = await Connection.connect({ address: svc.temporalAddress });
  client = new Client({ connection });
});
after(async () => {
  await connection?.close();
  await svc?.stop();
  await lab?.down();
});

interface Answer {
  status: number;
  json: Record<string, unknown>;
  text: string;
}
/** One HTTP call from `from` (a loopback address; default 127.0.0.1) with exactly these headers. */
function call(method: string, urlPath: string, opts: { headers?: Record<string, string>; body?: unknown; from?: string } = {}): Promise<Answer> {
  const url = new URL(urlPath, svc.apiUrl);
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method, localAddress: opts.from ?? '127.0.0.1', headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...opts.headers } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const runPath = (id: string, verb = '') => `/v1/runs/${encodeURIComponent(id)}${verb ? `/${verb}` : ''}`;
const handle = (id: string) => client.workflow.getHandle(id);
const state = (id: string): Promise<RunState> => handle(id).query(stateQuery);
const cleans = (instance: string) => lab.log().filter((e) => path.basename(e.tool) === 'clean_kust_replica.sh' && e.argv[0] === instance).length;
/** The service's audit lines so far. */
const auditLines = (): Record<string, unknown>[] =>
  svc
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{"audit":'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Starts a run of `instance` through the API as alice; resolves once it waits for approval. */
async function waitingRun(instance: string): Promise<RunState> {
  const started = await call('POST', '/v1/runs', { headers: bearer(lab.operators.alice.token), body: { runbook: 'kust-replica', params: { service: 'cox', instance } } });
  assert.equal(started.status, 201, started.text);
  return eventually(() => state(`kust-replica/${instance}`), (s) => s.status === 'awaiting-approval', 60_000);
}

/** The run is as it was: still waiting for the same approval, no decision recorded, no event added, no clean run. */
async function unchanged(id: string, was: { since: string; events: number; cleans: number }): Promise<void> {
  const s = await state(id);
  assert.equal(s.status, 'awaiting-approval');
  assert.equal(s.pending?.since, was.since);
  assert.deepEqual(s.decisions, []);
  assert.equal((await handle(id).fetchHistory()).events?.length, was.events, 'no event added');
  assert.equal(cleans(id.split('/')[1]), was.cleans, 'no clean ran');
}
let was: { since: string; events: number; cleans: number };

test("alice's credential cannot decide as bob; a viewer, the shared operator token, wrong and missing credentials cannot decide; the run is unchanged", async () => {
  const s = await waitingRun('cox-1');
  was = { since: s.pending?.since ?? '', events: await quietHistoryLength(handle(RUN)), cleans: cleans('cox-1') };
  const { alice, bob, carol } = lab.operators;
  const shared = (lab.config.api as { operatorToken: string }).operatorToken;
  const flipped = `${bob.token.slice(0, -1)}${bob.token.endsWith('A') ? 'B' : 'A'}`;
  const cases: [string, string, Parameters<typeof call>[2], number, RegExp][] = [
    ['alice as bob (approve)', 'approve', { headers: bearer(alice.token), body: { by: 'bob', comment: 'as bob' } }, 403, /^"by" must be you: you are alice; a decision is taken only as the operator who sends it$/],
    ['alice as bob (decision)', 'decision', { headers: bearer(alice.token), body: { action: 'approve', by: 'bob' } }, 403, /"by" must be you: you are alice/],
    ['alice as bob (reject)', 'reject', { headers: bearer(alice.token), body: { by: 'bob', reason: 'as bob' } }, 403, /"by" must be you: you are alice/],
    ['the viewer carol', 'approve', { headers: bearer(carol.token), body: {} }, 403, /^carol is a viewer: viewers cannot decide$/],
    ['the viewer carol as herself', 'approve', { headers: bearer(carol.token), body: { by: 'carol' } }, 403, /carol is a viewer/],
    ['the shared operator token', 'approve', { headers: bearer(shared), body: { by: 'alice' } }, 403, /shared operator token \(api\.operatorToken\) reads and starts runs only/],
    ["bob's credential with one character changed", 'approve', { headers: bearer(flipped), body: {} }, 403, /^invalid token$/],
    ["alice's credential hash as a credential", 'approve', { headers: bearer(String((lab.config.api as { operators: { alice: { credentialHash: string } } }).operators.alice.credentialHash)), body: {} }, 403, /^invalid token$/],
    ['no credential', 'approve', { body: { by: 'alice' } }, 401, /missing bearer token/],
    ["alice's credential as Basic", 'approve', { headers: { authorization: `Basic ${alice.token}` }, body: {} }, 401, /missing bearer token/],
  ];
  for (const [what, verb, opts, status, message] of cases) {
    const r = await call('POST', runPath(RUN, verb), opts);
    assert.equal(r.status, status, `${what}: ${r.text}`);
    assert.match(String(r.json.error), message, what);
  }
  // The viewer reads; the shared token reads; neither may change anything.
  assert.equal((await call('GET', runPath(RUN), { headers: bearer(carol.token) })).status, 200);
  assert.equal((await call('GET', '/metrics', { headers: bearer(carol.token) })).status, 200);
  assert.equal((await call('GET', runPath(RUN), { headers: bearer(shared) })).status, 200);
  const viewerStart = await call('POST', '/v1/runs', { headers: bearer(carol.token), body: { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-2' } } });
  assert.deepEqual([viewerStart.status, viewerStart.json.error], [403, 'carol is a viewer: viewers read, operators start runs and decide']);
  await unchanged(RUN, was);
});

test('the proxy user header: from the configured proxy address only; from any other address it is refused and authenticates nobody', async () => {
  const { alice } = lab.operators;
  const fromElsewhere: [string, Parameters<typeof call>[2]][] = [
    ['the header alone', { from: ELSEWHERE, headers: { 'x-forwarded-user': 'bob' }, body: {} }],
    ["the header beside alice's valid credential", { from: ELSEWHERE, headers: { 'x-forwarded-user': 'bob', ...bearer(alice.token) }, body: {} }],
    ['the header from 127.0.0.1', { headers: { 'x-forwarded-user': 'bob' }, body: {} }],
  ];
  for (const [what, opts] of fromElsewhere) {
    const r = await call('POST', runPath(RUN, 'approve'), opts);
    assert.equal(r.status, 403, `${what}: ${r.text}`);
    assert.match(String(r.json.error), /^the x-forwarded-user header is accepted only from a trusted proxy \(api\.trustedProxies\); refused from 127\.0\.0\.[16]$/, what);
  }
  const read = await call('GET', runPath(RUN), { from: ELSEWHERE, headers: { 'x-forwarded-user': 'carol' } });
  assert.equal(read.status, 403, 'not even reads');
  const unknown = await call('POST', runPath(RUN, 'approve'), { from: PROXY, headers: { 'x-forwarded-user': 'mallory' }, body: {} });
  assert.deepEqual([unknown.status, unknown.json.error], [403, "the proxy's x-forwarded-user names no operator (api.operators)"]);
  const viewer = await call('POST', runPath(RUN, 'approve'), { from: PROXY, headers: { 'x-forwarded-user': 'carol' }, body: {} });
  assert.deepEqual([viewer.status, viewer.json.error], [403, 'carol is a viewer: viewers cannot decide']);
  assert.equal((await call('GET', runPath(RUN), { from: PROXY, headers: { 'x-forwarded-user': 'carol' } })).status, 200, 'the proxy named a viewer: she reads');
  // Without the header, a request from the proxy is an ordinary one: its credential, or none.
  assert.equal((await call('GET', runPath(RUN), { from: PROXY })).status, 401);
  await unchanged(RUN, was);
});

/** The run's accepted decision as its history shows it (the decide Update's argument, proof included). */
async function decisionSent(id: string): Promise<Decision> {
  const h = await runHistory(client, id);
  const sent = h.entries.filter((e) => e.kind === 'decision' && e.accepted === true);
  assert.equal(sent.length, 1, JSON.stringify(h.entries.filter((e) => e.kind === 'decision')));
  return sent[0].decision as Decision;
}
/** Whether the proof verifies with the lab's decision public key (the .pub beside the key). */
function verifies(d: Decision): boolean {
  const pub = createPublicKey(readFileSync(path.join(lab.dir, 'keys', 'decision-key.pem.pub'), 'utf8'));
  const p = d.proof as NonNullable<Decision['proof']>;
  return verify(null, Buffer.from(decisionPayload(d, p), 'utf8'), pub, Buffer.from(p.signature, 'base64'));
}

test("a decision through the trusted proxy is the named operator's, from the forwarded client, signed for the pending decision", async () => {
  const r = await call('POST', runPath(RUN, 'approve'), { from: PROXY, headers: { 'x-forwarded-user': 'bob', 'x-forwarded-for': '198.51.100.7, 192.0.2.7' }, body: { comment: 'via SSO' } });
  assert.equal(r.status, 200, r.text);
  const rec = r.json as unknown as DecisionRecord;
  assert.deepEqual([rec.action, rec.by, rec.accepted, rec.comment], ['approve', 'bob', true, 'via SSO']);
  assert.equal(((await handle(RUN).result()) as RunResult).outcome, 'repaired');
  const d = await decisionSent(RUN);
  assert.deepEqual(
    { by: d.by, workflowId: d.proof?.workflowId, pendingSince: d.proof?.pendingSince, via: d.proof?.via, source: d.proof?.source },
    { by: 'bob', workflowId: RUN, pendingSince: was.since, via: 'api', source: '192.0.2.7' },
  );
  assert.equal(verifies(d), true, 'signed by the API decision key');
  assert.equal(verifies({ ...d, by: 'alice' }), false, 'the signature binds the operator');
});

test('a decision without "by" is the caller\'s, from its own address, signed', async () => {
  lab.setState((s) => {
    s.maps.cox.blocks[1].srvs[1].repl = 'replfailed';
  });
  const s = await waitingRun('cox-2');
  const r = await call('POST', runPath('kust-replica/cox-2', 'approve'), { headers: bearer(lab.operators.alice.token), body: { comment: 'go' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.json.by, r.json.accepted], ['alice', true]);
  assert.equal(((await handle('kust-replica/cox-2').result()) as RunResult).outcome, 'repaired');
  const d = await decisionSent('kust-replica/cox-2');
  assert.deepEqual([d.by, d.proof?.pendingSince, d.proof?.source, d.proof?.via], ['alice', s.pending?.since, '127.0.0.1', 'api']);
  assert.equal(verifies(d), true);
});

test('the audit: one JSON line per decision and per refusal with operator, source, time, run, pending step, action, outcome; no credential', async () => {
  const lines = await eventually(async () => auditLines(), (l) => l.filter((x) => x.outcome === 'accepted').length === 2, 10_000);
  const brief = (l: Record<string, unknown>) => [l.operator, l.source, l.run, l.step, l.action, l.outcome, l.via].join(' ');
  const step = 'clean the replica';
  assert.deepEqual(lines.map(brief), [
    `alice 127.0.0.1 ${RUN} ${step} approve refused api`,
    `alice 127.0.0.1 ${RUN} ${step} approve refused api`,
    `alice 127.0.0.1 ${RUN} ${step} reject refused api`,
    `carol 127.0.0.1 ${RUN} ${step} approve refused api`,
    `carol 127.0.0.1 ${RUN} ${step} approve refused api`,
    `carol 127.0.0.5 ${RUN} ${step} approve refused api`,
    `bob 192.0.2.7 ${RUN} ${step} approve accepted api`,
    `alice 127.0.0.1 kust-replica/cox-2 ${step} approve accepted api`,
  ]);
  assert.match(String(lines[0].reason), /"by" must be you: you are alice/);
  assert.match(String(lines[3].reason), /carol is a viewer/);
  for (const l of lines) {
    assert.ok(Math.abs(Date.parse(String(l.at)) - Date.now()) < 10 * 60_000, `a time: ${String(l.at)}`);
    assert.deepEqual(Object.keys(l).slice(0, 2), ['audit', 'at']);
  }
  const output = svc.output();
  for (const [name, o] of Object.entries(lab.operators)) assert.ok(!output.includes(o.token), `${name}'s credential in the output`);
  assert.ok(!output.includes((lab.config.api as { operatorToken: string }).operatorToken), 'the shared token in the output');
});

test('a decision sent to Temporal directly (`temporal workflow signal`, an Update without the API\'s proof) is refused as "identity not verified", recorded, and changes nothing else', async () => {
  const id = 'kust-replica/cox-3';
  // A third KUST block, cox-3, laid out as cox-1.
  lab.setState((st) => {
    st.maps.cox.blocks.push(JSON.parse(JSON.stringify(st.maps.cox.blocks[0]).replace(/cox-1/g, 'cox-3')) as (typeof st.maps.cox.blocks)[number]);
  });
  const s = await waitingRun('cox-3');
  const before = cleans('cox-3');
  // As an administrator with Temporal access would: the Temporal CLI, naming alice, who is an approver.
  execFileSync(temporalBinaries().cli, ['workflow', 'signal', '--address', svc.temporalAddress, '--workflow-id', id, '--name', 'decision', '--input', JSON.stringify({ action: 'approve', by: 'alice', comment: 'from the Web UI' })], { stdio: 'pipe' });
  await assert.rejects(handle(id).executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'bob' }] }), (err: Error) => /identity not verified/.test(`${err.message} ${(err as { cause?: Error }).cause?.message ?? ''}`));
  const after = await eventually(() => state(id), (st) => st.decisions.length === 2, 30_000);
  assert.deepEqual(
    after.decisions.map((d) => [d.action, d.by, d.accepted, d.refusal, d.verified, d.via, d.step]),
    [
      ['approve', 'alice', false, 'identity not verified', false, 'direct', 'clean the replica'],
      ['approve', 'bob', false, 'identity not verified', false, 'direct', 'clean the replica'],
    ],
  );
  assert.deepEqual([after.status, after.pending?.since], ['awaiting-approval', s.pending?.since], 'still waiting for the same approval');
  assert.equal(cleans('cox-3'), before, 'no clean ran');
  // The same approval through the API, as alice: accepted, signed.
  const ok = await call('POST', runPath(id, 'approve'), { headers: bearer(lab.operators.alice.token), body: {} });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(((await handle(id).result()) as RunResult).outcome, 'repaired');
});
