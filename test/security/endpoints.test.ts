/**
 * Every route of the HTTP API but /healthz refuses a missing or wrong credential and changes nothing,
 * against the real service (lab + dev server + worker + API) with one run waiting for an approval. The
 * operator routes take an operator's credential (alice's here); what each kind of caller may do (a viewer,
 * the shared operator token, an operator deciding as someone else) is checked route by route too.
 *
 * The web console's routes (worker/console) take a session cookie instead: without a valid session a page is
 * redirected to the login page and anything else gets 401, never content; a viewer's session cannot decide
 * and a form without the session's CSRF token is refused.
 *
 * The routes come from ROUTES (worker/api.ts); the router is also probed with every word that appears in a
 * string literal of worker/api.ts, worker/alerts.ts and worker/console/console.ts, under every method: without a
 * credential only the open routes (health check, login page, the console's script and stylesheet) may answer,
 * and with a credential exactly the routes of ROUTES for it must get past the check. A route added to the
 * router without a check, or without an entry in ROUTES, fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { stateQuery } from '../../workflows/definitions';
import { ROUTES } from '../../worker/api';
import { recordFigures } from '../helpers/figures';
import { Service, startService } from '../helpers/service';
import { eventually, quietHistoryLength } from '../helpers/temporal';
import { apiCall, bearer, consoleSession } from './api-call';

const RUN = 'kust-replica/cox-1';
const ID_FORMS = [encodeURIComponent(RUN), RUN];
/** What answers without any credential. */
const OPEN = ['GET /healthz', 'GET /console/login', 'POST /console/login', 'GET /console/static/console.js', 'GET /console/static/console.css'];
const FORM = 'application/x-www-form-urlencoded';
const ALERT_COX_1 = '2 snmpexec_mon_cox_1_status - - - replfailed (first: 2023-05-10/10:08:27, last: 2023-05-10/11:34:02, total: 3406)';

/** For each mutating route, a body that would change something if the credential check let it through. */
const BODIES: Record<string, { body: unknown; contentType?: string }> = {
  'POST /v1/runs': { body: { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-2' } } },
  'POST /v1/runs/{id}/approve': { body: { by: 'alice', comment: 'go' } },
  'POST /v1/runs/{id}/reject': { body: { by: 'alice', reason: 'no' } },
  'POST /v1/runs/{id}/decide': { body: { action: 'abort', by: 'alice' } },
  'POST /v1/runs/{id}/decision': { body: { action: 'approve', by: 'bob' } },
  'POST /v1/alerts/checkmk': { body: ALERT_COX_1, contentType: 'text/plain' },
  'POST /console/runs/{id}/decide': { body: 'action=approve&comment=go', contentType: FORM },
  'POST /console/logout': { body: '', contentType: FORM },
  // Right name and credential, but no login-form token: refused (the login route is open, its CSRF check is not).
  'POST /console/login': { body: 'name=alice&credential=(set-below)', contentType: FORM },
  'POST /v1/alerts/alertmanager': {
    body: {
      version: '4',
      receiver: 'medic',
      status: 'firing',
      alerts: [{ status: 'firing', labels: { alertname: 'KustReplFailed', checkmk_line: '2 snmpexec_mon_cox_2_status - - - replfailed' }, annotations: {}, startsAt: new Date().toISOString() }],
    },
  },
};
const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;

let svc: Service;
/** operator: alice's credential (role operator); webhook: the webhook token. */
let tokenOf: Record<'operator' | 'webhook', string>;
let before_: { historyLength: number; labLog: number; alerts: string };
let calls = 0;
let checked = 0;
const call = (method: string, urlPath: string, opts: Parameters<typeof apiCall>[3] = {}) => {
  calls++;
  return apiCall(svc.apiUrl, method, urlPath, opts);
};
const handle = () => svc.client.workflow.getHandle(RUN);
const historyLength = async () => (await handle().fetchHistory()).events?.length ?? 0;
const alertsMetric = async () =>
  (await call('GET', '/metrics', { authorization: bearer(tokenOf.operator) })).text
    .split('\n')
    .filter((l) => l.startsWith('medic_alerts_total'))
    .join('\n');

before(async () => {
  svc = await startService('kust-replfailed', { approvals: { 'kust-replica': { clean: 'approve' } }, timers: { flapGuard: '0s' } });
  tokenOf = { operator: svc.lab.operators.alice.token, webhook: svc.tokens.webhook };
  BODIES['POST /console/login'].body = new URLSearchParams({ name: 'alice', credential: tokenOf.operator }).toString();
  const started = await call('POST', '/v1/runs', { authorization: bearer(tokenOf.operator), body: { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1' } } });
  assert.equal(started.status, 201, started.text);
  await eventually(() => handle().query(stateQuery), (s) => s.status === 'awaiting-approval', 30_000);
  // Settled: the reminder timer started and the approval request (sent beside it) delivered; only a decision
  // moves it now.
  await eventually(() => handle().fetchHistory(), (hist) => (hist.events ?? []).some((e) => e.timerStartedEventAttributes != null), 30_000);
  const length = await quietHistoryLength(handle());
  before_ = { historyLength: length, labLog: svc.lab.log().length, alerts: await alertsMetric() };
});
after(async () => {
  await svc?.stop();
});

/** A concrete path of a route: `{id}` in each form the router takes (the console's links use the encoded one). */
const concrete = (p: string): string[] => (p.includes('{id}') ? (p.startsWith('/console') ? ID_FORMS.slice(0, 1) : ID_FORMS).map((id) => p.replace('{id}', id)) : [p]);
/** The console's refusal without a valid session: a redirect to the login page (pages) or 401. */
const toLogin = (a: { status: number; location?: string }) => a.status === 303 && (a.location ?? '').startsWith('/console/login');

/** Credentials that must be refused for a route needing `right`; `other` is the other kind of token. */
function badCredentials(right: string, other: string): { what: string; authorization?: string; query?: string; status: number }[] {
  const flipped = `${right.slice(0, -1)}${right.endsWith('0') ? '1' : '0'}`;
  return [
    { what: 'no Authorization header', status: 401 },
    { what: 'an empty Authorization header', authorization: '', status: 401 },
    { what: 'the right token with the Basic scheme', authorization: `Basic ${right}`, status: 401 },
    { what: 'Bearer and no token', authorization: 'Bearer ', status: 401 },
    { what: 'the right token followed by another word', authorization: `Bearer ${right} x`, status: 401 },
    { what: 'the right token in the query string only', query: `token=${encodeURIComponent(right)}`, status: 401 },
    { what: 'a wrong token of the same length', authorization: bearer(flipped), status: 403 },
    { what: 'a one-character token', authorization: bearer('x'), status: 403 },
    { what: 'the right token with one more character', authorization: bearer(`${right}x`), status: 403 },
    { what: 'the right token without its last character', authorization: bearer(right.slice(0, -1)), status: 403 },
    { what: 'the right token upper-cased', authorization: bearer(right.toUpperCase()), status: 403 },
    { what: 'the other kind of token', authorization: bearer(other), status: 403 },
  ];
}

test('ROUTES: every route but the open ones needs a credential, and every mutating route has a body here that would act', () => {
  assert.ok(ROUTES.length >= 21, `${ROUTES.length} routes`);
  for (const r of ROUTES) {
    if (r.token === 'none') assert.ok(OPEN.includes(key(r)), `${key(r)} is open: only ${OPEN.join(', ')} may be`);
    if (r.path.startsWith('/console') && r.token !== 'none') assert.equal(r.token, 'session', `${key(r)}: console routes take a session`);
    if (r.method !== 'GET') assert.ok(BODIES[key(r)], `no body for ${key(r)} in this test: add one that would change something`);
  }
});

test('every protected route refuses a missing, malformed or wrong token (401 / 403), the other kind of token too (403)', async () => {
  for (const r of ROUTES.filter((x) => x.token === 'operator' || x.token === 'webhook')) {
    const right = tokenOf[r.token as 'operator' | 'webhook'];
    const other = tokenOf[r.token === 'operator' ? 'webhook' : 'operator'];
    for (const p of concrete(r.path)) {
      for (const c of badCredentials(right, other)) {
        const body = BODIES[key(r)];
        const res = await call(r.method, c.query ? `${p}?${c.query}` : p, { authorization: c.authorization, body: body?.body, contentType: body?.contentType });
        assert.equal(res.status, c.status, `${r.method} ${p} with ${c.what}: ${res.status} ${res.text}`);
        assert.match(res.text, c.status === 401 ? /missing bearer token/ : /invalid token/, `${r.method} ${p} with ${c.what}`);
        assert.ok(!res.text.includes(right) && !res.text.includes(other), 'an error never echoes a token');
        checked++;
      }
    }
  }
  const health = await call('GET', '/healthz');
  assert.equal(health.status, 200, health.text);
  assert.equal(await alertsMetric(), before_.alerts, 'refused alert calls are not even counted as received');
});

let session: { cookie: string; csrf: string };
test("every console route refuses a missing, forged or ended session: a page goes to the login page, anything else gets 401, never content", async () => {
  session = await consoleSession(svc.apiUrl, 'alice', tokenOf.operator);
  const id = session.cookie.slice('medic_session='.length);
  const ended = await consoleSession(svc.apiUrl, 'bob', svc.lab.operators.bob.token);
  const out = await call('POST', '/console/logout', { cookie: ended.cookie, body: `csrf=${ended.csrf}`, contentType: FORM });
  assert.deepEqual([out.status, out.location], [303, '/console/login?out=1']);
  const flipped = `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`;
  const bad: { what: string; cookie?: string; authorization?: string }[] = [
    { what: 'no cookie' },
    { what: 'an empty session cookie', cookie: 'medic_session=' },
    { what: 'a made-up session ID', cookie: `medic_session=${'A'.repeat(43)}` },
    { what: "alice's session ID with one character changed", cookie: `medic_session=${flipped}` },
    { what: "alice's session ID under another cookie name", cookie: `medic_sessions=${id}` },
    { what: 'a session that logged out', cookie: ended.cookie },
    { what: "alice's credential as the session cookie", cookie: `medic_session=${tokenOf.operator}` },
    { what: "alice's credential as a bearer token", authorization: bearer(tokenOf.operator) },
    { what: 'the shared operator token', authorization: bearer(svc.tokens.operator) },
  ];
  for (const r of ROUTES.filter((x) => x.token === 'session')) {
    for (const p of concrete(r.path)) {
      for (const c of bad) {
        const body = BODIES[key(r)];
        const res = await call(r.method, p, { cookie: c.cookie, authorization: c.authorization, body: body?.body, contentType: body?.contentType });
        const what = `${r.method} ${p} with ${c.what}: ${res.status} ${res.text.slice(0, 200)}`;
        if (r.method === 'GET') {
          assert.ok(toLogin(res), what);
          assert.equal(res.text, '', 'a redirect and nothing else');
        } else {
          assert.equal(res.status, 401, what);
          assert.match(res.text, /Not signed in/, what);
        }
        assert.ok(!res.text.includes('cox-1') && !res.text.includes(tokenOf.operator), `no run data, no credential: ${what}`);
        checked++;
      }
    }
  }
  // With a session: a form without the session's token is refused, and a viewer's decision too (both 403).
  const decide = `/console/runs/${ID_FORMS[0]}/decide`;
  const noToken = await call('POST', decide, { cookie: session.cookie, body: 'action=approve', contentType: FORM });
  assert.equal(noToken.status, 403, noToken.text);
  assert.match(noToken.text, /CSRF check/);
  const carol = await consoleSession(svc.apiUrl, 'carol', svc.lab.operators.carol.token);
  const viewer = await call('POST', decide, { cookie: carol.cookie, body: `csrf=${carol.csrf}&action=approve`, contentType: FORM });
  assert.equal(viewer.status, 403, viewer.text);
  assert.match(viewer.text, /carol is a viewer: viewers cannot decide/);
  // The open login route: the right name and credential without the login form's token open no session.
  const login = await call('POST', '/console/login', { body: BODIES['POST /console/login'].body, contentType: FORM });
  assert.equal(login.status, 403, login.text);
  assert.deepEqual(login.setCookie, []);
  checked += 3;
});

/** A body no route accepts (415 once past the credential and role checks): the call itself changes nothing. */
const PROBE = { body: '{}', contentType: 'application/x-probe' };
const refusedRole = (status: number) => status === 401 || status === 403;

test('who may do what, route by route: viewers read; the shared operator token reads and starts; only an operator decides, and only as itself', async () => {
  const { carol } = svc.lab.operators;
  for (const r of ROUTES.filter((x) => x.token === 'operator')) {
    for (const p of concrete(r.path)) {
      const body = BODIES[key(r)];
      const real = { body: body?.body, contentType: body?.contentType };
      const what = `${r.method} ${p}`;
      // The viewer: past the check on the read routes; refused (403, naming the role) on the others, even with a body that would act.
      const viewer = await call(r.method, p, { authorization: bearer(carol.token), ...(r.method === 'GET' ? {} : real) });
      if (r.access === 'read') assert.ok(!refusedRole(viewer.status), `${what} as the viewer: ${viewer.status} ${viewer.text}`);
      else {
        assert.equal(viewer.status, 403, `${what} as the viewer: ${viewer.text}`);
        assert.match(viewer.text, /carol is a viewer/, what);
      }
      // The shared token: reads and starts (shown with a probe body, so that nothing starts); never decides.
      const shared = await call(r.method, p, { authorization: bearer(svc.tokens.operator), ...(r.method === 'GET' ? {} : r.access === 'decide' ? real : PROBE) });
      if (r.access === 'decide') {
        assert.equal(shared.status, 403, `${what} with the shared operator token: ${shared.text}`);
        assert.match(shared.text, /shared operator token .* reads and starts runs only/, what);
      } else assert.ok(!refusedRole(shared.status), `${what} with the shared operator token: ${shared.status} ${shared.text}`);
      // An operator deciding in someone else's name.
      if (r.access === 'decide') {
        const asBob = await call(r.method, p, { authorization: bearer(tokenOf.operator), body: { ...(body.body as object), by: 'bob' } });
        assert.equal(asBob.status, 403, `${what} by bob with alice's credential: ${asBob.text}`);
        assert.match(asBob.text, /must be you: you are alice/, what);
      }
      checked++;
    }
  }
});

/** Every word of every string literal in these sources: what a route would have to be matched against. */
function wordsOf(files: string[]): string[] {
  const root = path.resolve(__dirname, '..', '..', '..');
  const words = new Set<string>();
  for (const file of files) {
    const source = readFileSync(path.join(root, file), 'utf8');
    for (const m of source.matchAll(/'([^'\n]*)'|"([^"\n]*)"|`([^`\n]*)`/g)) {
      for (const w of (m[1] ?? m[2] ?? m[3]).split(/[^A-Za-z0-9_.-]+/)) if (/^[A-Za-z][A-Za-z0-9_.-]{0,40}$/.test(w)) words.add(w);
    }
  }
  return [...words].sort();
}
/** The API's router (with the alert webhooks) and the console's (console.ts; its other files hold page text, not paths). */
const routerWords = () => ({ api: wordsOf(['worker/api.ts', 'worker/alerts.ts']), console: wordsOf(['worker/console/console.ts']) });

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
/**
 * (method, path, route key) for every word under the root and every prefix of its router, plus the ROUTES
 * paths. Methods: GET and POST, any other method named in the routers' sources, and DELETE as one they refuse.
 */
function probes(words: { api: string[]; console: string[] }): { method: string; path: string; route: string }[] {
  const all = [...new Set([...words.api, ...words.console])];
  const methods = [...new Set(['GET', 'POST', 'DELETE', ...all.filter((w) => HTTP_METHODS.includes(w))])];
  const templates: { path: string; route: string }[] = [];
  const under = (prefixes: string[], ws: string[], id: string) => {
    // A run's own path, whether or not ROUTES names it.
    templates.push({ path: id.replace('{id}', ID_FORMS[0]), route: id });
    for (const w of ws) {
      for (const prefix of prefixes) templates.push({ path: `${prefix}/${w}`, route: `${prefix}/${w}` });
      templates.push({ path: `${id.replace('{id}', ID_FORMS[0])}/${w}`, route: `${id}/${w}` });
    }
  };
  under(['', '/v1', '/v1/runs', '/v1/alerts'], words.api, '/v1/runs/{id}');
  under(['', '/console', '/console/runs', '/console/static'], words.console, '/console/runs/{id}');
  for (const r of ROUTES) for (const p of concrete(r.path)) templates.push({ path: p, route: r.path }, { path: `${p}/`, route: r.path });
  templates.push({ path: '/', route: '/' });
  const seen = new Set<string>();
  return templates
    .filter((t) => !seen.has(t.path) && seen.add(t.path))
    .flatMap((t) => methods.map((method) => ({ method, path: t.path, route: `${method} ${t.route}` })));
}

/** Runs `f` over `items`, `width` at a time. */
async function pool<T>(items: T[], width: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await f(items[next++]);
  }));
}

let probed = 0;
test('probing the router: without a credential only the open routes answer; with one exactly its ROUTES get past the check', async () => {
  const words = routerWords();
  const all = probes(words);
  for (const w of ['healthz', 'metrics', 'runs', 'alerts', 'checkmk', 'alertmanager', 'history', 'approve', 'reject', 'decide', 'decision']) assert.ok(words.api.includes(w), `the API router's words include ${w}`);
  for (const w of ['console', 'login', 'logout', 'runs', 'decide', 'static', 'console.js', 'console.css']) assert.ok(words.console.includes(w), `the console router's words include ${w}`);

  const open: string[] = [];
  const passed = { operator: new Set<string>(), webhook: new Set<string>(), session: new Set<string>() };
  const refused = (a: { status: number; location?: string }) => [401, 403, 404, 405].includes(a.status) || toLogin(a);
  await pool(all, 8, async (p) => {
    const anonymous = await call(p.method, p.path);
    probed++;
    const isOpen = OPEN.includes(p.route);
    if (!refused(anonymous) && !isOpen) open.push(`${p.method} ${p.path} -> ${anonymous.status}`);
    // Only what asks for a credential (or answers without one) can get past the check with one.
    if (anonymous.status !== 401 && !toLogin(anonymous) && !isOpen) return;
    for (const kind of ['operator', 'webhook', 'session'] as const) {
      const credential = kind === 'session' ? { cookie: session.cookie } : { authorization: bearer(tokenOf[kind]) };
      const res = await call(p.method, p.path, { ...credential, ...(p.method === 'GET' ? {} : PROBE) });
      if (!refused(res)) passed[kind].add(p.route);
    }
  });
  assert.deepEqual(open, [], 'answers without a credential');
  const expected = (kind: string) => new Set(ROUTES.filter((r) => r.token === kind || r.token === 'none').map(key));
  assert.deepEqual([...passed.operator].sort(), [...expected('operator')].sort(), 'routes that the operator token reaches = ROUTES (operator + none)');
  assert.deepEqual([...passed.webhook].sort(), [...expected('webhook')].sort(), 'routes that the webhook token reaches = ROUTES (webhook + none)');
  assert.deepEqual([...passed.session].sort(), [...expected('session')].sort(), 'routes that a console session reaches = ROUTES (session + none)');
});

test('afterwards nothing started or changed: one run, its approval still pending, no command ran, no event added', async () => {
  await assert.rejects(svc.client.workflow.getHandle('kust-replica/cox-2').describe(), WorkflowNotFoundError, 'no run for cox-2');
  const listed: string[] = [];
  for await (const wf of svc.client.workflow.list()) listed.push(`${wf.workflowId} ${wf.status.name}`);
  assert.deepEqual(listed, [`${RUN} RUNNING`]);
  const s = await handle().query(stateQuery);
  assert.equal(s.status, 'awaiting-approval');
  assert.equal(s.pending?.kind, 'approval');
  assert.deepEqual(s.decisions, []);
  assert.equal(s.seenAgain.count, 0, 'no alert joined the run');
  assert.equal(await historyLength(), before_.historyLength, 'no signal, update or start was recorded');
  assert.equal(svc.lab.log().length, before_.labLog, 'no command ran on any host');
  recordFigures('security', {
    'API routes (ROUTES)': ROUTES.length,
    'protected route x bad credential and role checks (401/403)': checked,
    'router probes (method x path) without a token; those that ask for one also with both tokens': probed,
    'API calls made by the endpoint test': calls,
    'runs started or changed by refused calls': 0,
  });
});
