/**
 * The web console, served by the API process under /console (worker/api.ts routes here):
 *
 *   GET  /console                      -> the runs (or the login page)
 *   GET  /console/login                the login form (operator name and credential); POST checks them
 *   POST /console/logout               ends the session
 *   GET  /console/runs?status=&runbook=   the runs, those waiting for a decision first
 *   GET  /console/runs/{id}            a run's page ({id} URL-encoded as one segment)
 *   POST /console/runs/{id}/decide     a decision (approve / reject / retry / resolved / abort), as the
 *                                      session's operator through worker/decide.ts (via 'console')
 *   GET  /console/static/console.js|css   the one script and the one stylesheet
 * The two page routes answer `Accept: application/json` with the page's live parts (console.js polls them).
 *
 * Behind a trusted reverse proxy (api.trustedProxies) whose user header names an operator, the login page
 * opens a session for that operator without a form (single sign-on).
 *
 * Every route but the login page and the static files needs a session (sessions.ts): without one a page
 * request is sent to the login page, anything else gets 401. Every POST carries the CSRF token (csrf.ts).
 * Pages are server-rendered with every value escaped (html.ts) and sent with a Content-Security-Policy that
 * allows only this origin's script and stylesheet.
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { TLSSocket } from 'node:tls';
import path from 'node:path';
import { Client } from '@temporalio/client';
import type { Config } from '../../config/schema';
import { checkRunId, Conflict, describeRun, listRuns, NoSuchRun, pendingDecision, runHistory } from '../../client/history';
import { BadRequest } from '../../client/runbooks';
import type { DecisionRecord } from '../../workflows/definitions';
import { msOf } from '../../workflows/duration';
import type { Caller, Identities } from '../identity';
import type { DecisionRequest } from '../decide';
import { HttpError } from '../http';
import { checkCsrf, checkLoginCsrf, CSRF_FIELD, LOGIN_COOKIE, LOGIN_PATH, loginToken } from './csrf';
import { readForm } from './forms';
import { Html } from './html';
import { ASSETS, errorPage, LivePart, loginPage, page } from './layout';
import { DECISION_ACTIONS, DecisionAction, runMain, runParts } from './run-page';
import { runHref, runsMain, runsPart, RunsFilter } from './runs-page';
import { cookie, cookies, Session, SESSION_COOKIE, Sessions } from './sessions';

export interface ConsoleDeps {
  client: Client;
  config: Config;
  identities: Identities;
  /** Takes a decision as the caller (worker/decide.ts decideAs with via 'console'). */
  decide(caller: Caller, runId: string, request: DecisionRequest): Promise<DecisionRecord>;
  /** The caller's address as the audit records it (the proxy's client address when the proxy is trusted). */
  sourceOf(req: http.IncomingMessage): string;
  /** Whether the request came through a trusted proxy (whose X-Forwarded-Proto then counts). */
  trustedProxy(req: http.IncomingMessage): boolean;
}

/** How long a console session lasts after the login when `api.sessionTimeout` is not set. */
export const DEFAULT_SESSION_TIMEOUT = '8h';

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

const STATIC_DIR = path.resolve(__dirname, '..', '..', '..', 'worker', 'console', 'static');
const STATIC: Record<string, { file: string; type: string }> = {
  [ASSETS.script]: { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  [ASSETS.style]: { file: 'console.css', type: 'text/css; charset=utf-8' },
};

/** Where a login may send the operator back to: a console path of this server, nothing else. */
function safeNext(next: string | null | undefined): string {
  return next && /^\/console\/[A-Za-z0-9%._~/?=&-]{0,500}$/.test(next) && !next.includes('//') ? next : '/console/runs';
}

function sendHtml(res: http.ServerResponse, status: number, body: Html, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body.text), ...SECURITY_HEADERS, ...headers });
  res.end(body.text);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...SECURITY_HEADERS, ...headers });
  res.end(text);
}

function redirect(res: http.ServerResponse, location: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(303, { location, 'content-length': 0, ...SECURITY_HEADERS, ...headers });
  res.end();
}

const wantsJson = (req: http.IncomingMessage): boolean => /^application\/json\b/.test(req.headers.accept ?? '');

/** The message of a refusal or failure, and its status, for the page. */
function refusal(err: unknown): { status: number; message: string } | undefined {
  if (err instanceof HttpError) return { status: err.status, message: err.message };
  if (err instanceof BadRequest) return { status: 400, message: err.message };
  if (err instanceof NoSuchRun) return { status: 404, message: err.message };
  if (err instanceof Conflict) return { status: 409, message: err.message };
  return undefined;
}

export interface Console {
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void>;
  sessions: Sessions;
}

export function createConsole(deps: ConsoleDeps): Console {
  const { client, config, identities } = deps;
  const sessions = new Sessions(msOf(config.api.sessionTimeout ?? DEFAULT_SESSION_TIMEOUT));
  const assets = new Map(Object.entries(STATIC).map(([p, a]) => [p, { body: readFileSync(path.join(STATIC_DIR, a.file)), type: a.type }]));

  const secure = (req: http.IncomingMessage): boolean =>
    (req.socket as TLSSocket).encrypted === true || (deps.trustedProxy(req) && String(req.headers['x-forwarded-proto'] ?? '').split(',')[0].trim() === 'https');

  /** The session cookie lasts as long as the browser runs (the server ends the session itself); `clear` removes it. */
  const sessionCookie = (req: http.IncomingMessage, id: string, clear = false): string => cookie(SESSION_COOKIE, id, { secure: secure(req), ...(clear ? { maxAge: 0 } : {}) });

  /** The request's session; without one, the answer (login page, or 401) has been sent and this returns undefined. */
  function session(req: http.IncomingMessage, res: http.ServerResponse, url: URL): { s: Session; id: string } | undefined {
    const found = sessions.lookup(cookies(req)[SESSION_COOKIE]);
    if (found.session) return { s: found.session, id: found.id };
    const login = `${LOGIN_PATH}?${new URLSearchParams({ ...(found.expired ? { expired: '1' } : {}), next: url.pathname + url.search }).toString()}`;
    const clear: Record<string, string> = found.expired ? { 'set-cookie': sessionCookie(req, '', true) } : {};
    if (req.method === 'GET' && !wantsJson(req)) redirect(res, login, clear);
    else if (wantsJson(req)) sendJson(res, 401, { error: found.expired ? 'session ended' : 'not signed in', login }, clear);
    else sendHtml(res, 401, errorPage(401, found.expired ? 'Your session has ended: sign in again.' : 'Not signed in.'), clear);
    return undefined;
  }

  function takeFlash(s: Session): { text: string; kind: 'ok' } | undefined {
    const text = s.flash;
    s.flash = undefined;
    return text ? { text, kind: 'ok' } : undefined;
  }

  async function login(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (req.method === 'GET') {
      const next = safeNext(url.searchParams.get('next'));
      if (sessions.lookup(cookies(req)[SESSION_COOKIE]).session) return redirect(res, next);
      // Single sign-on: a trusted proxy's user header names the operator its SSO logged in; from any other
      // address, or naming no operator, the header is refused (403), as by the API (worker/identity.ts).
      if (req.headers[config.api.proxyUserHeader]) {
        const { id } = sessions.create(identities.authenticate(req).operator);
        return redirect(res, next, { 'set-cookie': sessionCookie(req, id) });
      }
      const { token, setCookie } = loginToken(secure(req));
      return sendHtml(res, 200, loginPage({ token, next, expired: url.searchParams.has('expired'), loggedOut: url.searchParams.has('out') }), { 'set-cookie': setCookie });
    }
    if (req.method !== 'POST') throw new HttpError(405, `${req.method} not allowed on ${LOGIN_PATH} (GET, POST)`);
    const form = await readForm(req, [CSRF_FIELD, 'name', 'credential', 'next']);
    checkLoginCsrf(req, form);
    const name = form.get('name') ?? '';
    const credential = form.get('credential') ?? '';
    const operator = credential ? identities.byCredential(credential) : undefined;
    const next = safeNext(form.get('next'));
    if (!operator || operator.name !== name) {
      // One message for an unknown name, a wrong credential and another operator's credential.
      const { token, setCookie } = loginToken(secure(req));
      return sendHtml(res, 401, loginPage({ token, next, name: name.slice(0, 64), refused: 'Sign-in refused: unknown operator or wrong credential.' }), { 'set-cookie': setCookie });
    }
    const old = cookies(req)[SESSION_COOKIE];
    if (old) sessions.destroy(old);
    const { id } = sessions.create(operator);
    redirect(res, next, { 'set-cookie': [sessionCookie(req, id), cookie(LOGIN_COOKIE, '', { secure: secure(req), maxAge: 0, path: LOGIN_PATH })] });
  }

  async function logout(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'POST') throw new HttpError(405, 'POST /console/logout (the log-out button)');
    const found = session(req, res, url);
    if (!found) return;
    checkCsrf(await readForm(req, [CSRF_FIELD]), found.s.csrf);
    sessions.destroy(found.id);
    redirect(res, `${LOGIN_PATH}?out=1`, { 'set-cookie': sessionCookie(req, '', true) });
  }

  /** A page with live parts, or (Accept: application/json) the parts alone; `live` is the URL that answers them. */
  function sendParts(req: http.IncomingMessage, res: http.ServerResponse, view: { status: number; title: string; main: Html; parts: LivePart[]; live: string }, s: Session, notice?: { text: string; kind: 'ok' | 'refused' }): void {
    if (wantsJson(req)) return sendJson(res, 200, { parts: view.parts.map((p) => ({ id: p.id, key: p.key, html: p.html.text })) });
    sendHtml(res, view.status, page(view.title, view.main, { session: s, live: view.live, notice }));
  }

  async function runsList(req: http.IncomingMessage, res: http.ServerResponse, url: URL, s: Session): Promise<void> {
    for (const key of url.searchParams.keys()) if (!['status', 'runbook'].includes(key)) throw new HttpError(400, `unknown query parameter ${JSON.stringify(key.slice(0, 40))} (status, runbook)`);
    const filter: RunsFilter = { status: url.searchParams.get('status') || undefined, runbook: url.searchParams.get('runbook') || undefined };
    const part = runsPart(await listRuns(client, { ...filter, limit: 500 }));
    sendParts(req, res, { status: 200, title: 'Runs', main: runsMain(filter, part), parts: [part], live: url.pathname + url.search }, s, takeFlash(s));
  }

  async function runPage(req: http.IncomingMessage, res: http.ServerResponse, id: string, s: Session, status = 200, notice?: { text: string; kind: 'ok' | 'refused' }): Promise<void> {
    const [d, h] = await Promise.all([describeRun(client, id, 3000), runHistory(client, id)]);
    const parts = runParts(d, h, s);
    // After a refused decision this page answers the form's POST: its live parts are still the run page's.
    sendParts(req, res, { status, title: d.workflowId, main: runMain(d, parts), parts, live: runHref(id) }, s, notice ?? takeFlash(s));
  }

  async function decide(req: http.IncomingMessage, res: http.ServerResponse, id: string, s: Session): Promise<void> {
    const form = await readForm(req, [CSRF_FIELD, 'action', 'since', 'choice', 'comment']);
    checkCsrf(form, s.csrf);
    const caller: Caller = { operator: s.operator, source: deps.sourceOf(req) };
    try {
      const action = form.get('action') ?? '';
      if (!(DECISION_ACTIONS as readonly string[]).includes(action)) throw new HttpError(400, `"action" must be one of ${DECISION_ACTIONS.join(', ')}`);
      const comment = (form.get('comment') ?? '').trim();
      if (action === 'reject' && comment === '') throw new HttpError(400, 'A rejection needs a reason.');
      const choice = form.get('choice') || undefined;
      const since = form.get('since');
      if (since) {
        // The operator decided on what the page showed: a decision that is no longer pending is not answered blindly.
        const now = (await pendingDecision(client, id))?.since;
        if (now !== since) throw new Conflict('refused: the decision this page showed is no longer pending (the run moved on); the page now shows the current state');
      }
      const record = await deps.decide(caller, id, { action: action as DecisionAction, ...(choice ? { choice } : {}), ...(comment ? { comment } : {}) });
      s.flash = `${record.action === 'approve' ? 'Approved' : record.action === 'reject' ? 'Rejected' : `Decided: ${record.action}`}${record.choice ? ` (${record.choice})` : ''} as ${record.by}.`;
      return redirect(res, runHref(id));
    } catch (err) {
      const r = refusal(err);
      if (!r || r.status === 404) throw err;
      return runPage(req, res, id, s, r.status, { text: r.message, kind: 'refused' });
    }
  }

  async function runs(req: http.IncomingMessage, res: http.ServerResponse, url: URL, rest: string[]): Promise<void> {
    const found = session(req, res, url);
    if (!found) return;
    const { s } = found;
    if (rest.length === 0) {
      if (req.method !== 'GET') throw new HttpError(405, `${req.method} not allowed on /console/runs (GET)`);
      return runsList(req, res, url, s);
    }
    // A run's pages: /console/runs/{id}[/decide], the ID URL-encoded as one segment (it contains '/').
    const kind = rest.length === 1 ? 'run' : rest.length === 2 && rest[1] === 'decide' ? 'decide' : undefined;
    if (!kind || !/%2F/i.test(rest[0])) throw new HttpError(404, 'no such page');
    if (kind === 'run' && req.method !== 'GET') throw new HttpError(405, `${req.method} not allowed on a run's page (GET)`);
    if (kind === 'decide' && req.method !== 'POST') throw new HttpError(405, 'POST .../decide (the decision forms)');
    let id: string;
    try {
      id = checkRunId(decodeURIComponent(rest[0]));
    } catch (err) {
      if (err instanceof URIError) throw new HttpError(400, 'malformed URL encoding in the path');
      throw err;
    }
    return kind === 'run' ? runPage(req, res, id, s) : decide(req, res, id, s);
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const parts = url.pathname.split('/').filter(Boolean).slice(1);
    const asset = assets.get(url.pathname);
    if (asset) {
      if (req.method !== 'GET') throw new HttpError(405, 'GET only');
      res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
      res.end(asset.body);
      return;
    }
    if (parts.length === 0) {
      if (req.method !== 'GET') throw new HttpError(405, 'GET /console');
      const found = session(req, res, url);
      if (found) redirect(res, '/console/runs');
      return;
    }
    if (parts[0] === 'login' && parts.length === 1) return login(req, res, url);
    if (parts[0] === 'logout' && parts.length === 1) return logout(req, res, url);
    if (parts[0] === 'runs') return runs(req, res, url, parts.slice(1));
    // Unknown paths say nothing more to a caller without a session than the known ones do.
    const found = session(req, res, url);
    if (found) throw new HttpError(404, 'no such page');
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    try {
      await route(req, res, url);
    } catch (err) {
      const r = refusal(err);
      const current = sessions.lookup(cookies(req)[SESSION_COOKIE]).session;
      if (res.headersSent) return void res.destroy();
      if (r) return wantsJson(req) ? sendJson(res, r.status, { error: r.message }) : sendHtml(res, r.status, errorPage(r.status, r.message, current));
      const message = `Temporal did not answer: ${(err as Error).message}`;
      return wantsJson(req) ? sendJson(res, 503, { error: message }) : sendHtml(res, 503, errorPage(503, message, current));
    }
  }

  return { handle, sessions };
}
