/**
 * The HTTP API: the operator's operations (the same as the `medic` CLI) and the alert webhooks
 * (worker/alerts.ts). JSON in and out; every route but /healthz needs a credential: the webhook token for
 * alerts, an operator's own (worker/identity.ts) for the rest: viewers read; operators read, start runs
 * and decide; the shared operator token (api.operatorToken) reads and starts runs but cannot decide.
 * Bad input gets a 4xx that names the problem and changes nothing; Temporal unreachable is a 503.
 *
 *   GET  /healthz                          200 {ok, temporal} / 503 when Temporal does not answer (no token)
 *   GET  /metrics                          Prometheus text format (worker/metrics.ts)
 *   GET  /v1/runs?status=S&runbook=R&limit=N   runs, newest first (visibility query)
 *   POST /v1/runs                          {runbook, params, dryRun?}: 201 started, 200 joined the open run
 *   GET  /v1/runs/{id}                     state and steps
 *   GET  /v1/runs/{id}/history             the timeline rebuilt from the event history
 *   POST /v1/runs/{id}/approve             {by?, choice?, comment?}
 *   POST /v1/runs/{id}/reject              {by?, reason}
 *   POST /v1/runs/{id}/decide              {action: retry|resolved|abort, by?, choice?, comment?} (choice run-again: see workflows/run.ts)
 *   POST /v1/runs/{id}/decision            {action, by?, choice?, comment?} (any of the above; kept for older callers)
 * A run ID contains `/`: send it URL-encoded as one path segment (`/v1/runs/kust-replica%2Fcox-1`);
 * the plain form `/v1/runs/kust-replica/cox-1[/...]` (and `/v1/runs/dry-run/kust-replica/cox-1`) works too.
 * A decision is taken as the authenticated operator (worker/decide.ts): `by` may be left out, and naming
 * anybody else is refused (403), as is a viewer's decision. Decisions answer 200 with the recorded decision,
 * 409 when the run refuses it (nothing pending, a name not on the approver list, a wrong verb, a closed
 * run); a refused decision changes nothing.
 *
 * /console... is the web console (worker/console/console.ts: its own pages, sessions and CSRF checks).
 */
import http from 'node:http';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../config/schema';
import type { Decision } from '../workflows/definitions';
import { checkRunId, Conflict, describeRun, listRuns, NoSuchRun, runHistory } from '../client/history';
import { BadRequest, RUNBOOKS, startRuns } from '../client/runbooks';
import { createAlertHandler } from './alerts';
import { createConsole } from './console/console';
import { decideAs, DecisionRequest } from './decide';
import { DecisionKeys } from './decision-keys';
import { ApiTokens, HttpError, readJson, send } from './http';
import { Identities } from './identity';
import { Metrics } from './metrics';

export type { ApiTokens } from './http';

/**
 * Every route of the router below and the credential it needs (`{id}`: a run ID): `operator` routes take an
 * operator's credential, and `access` says who passes: `read` viewers, operators and the shared operator
 * token; `start` operators and the shared token; `decide` operators only. test/security reads this table and
 * probes the router with the path words of this file and alerts.ts: a route that answers but is missing
 * here, or that does not refuse a missing or wrong credential, fails there.
 */
export const ROUTES: readonly { method: 'GET' | 'POST'; path: string; token: 'none' | 'operator' | 'webhook' | 'session'; access?: 'read' | 'start' | 'decide' }[] = [
  { method: 'GET', path: '/healthz', token: 'none' },
  { method: 'GET', path: '/metrics', token: 'operator', access: 'read' },
  { method: 'GET', path: '/v1/runs', token: 'operator', access: 'read' },
  { method: 'POST', path: '/v1/runs', token: 'operator', access: 'start' },
  { method: 'GET', path: '/v1/runs/{id}', token: 'operator', access: 'read' },
  { method: 'GET', path: '/v1/runs/{id}/history', token: 'operator', access: 'read' },
  { method: 'POST', path: '/v1/runs/{id}/approve', token: 'operator', access: 'decide' },
  { method: 'POST', path: '/v1/runs/{id}/reject', token: 'operator', access: 'decide' },
  { method: 'POST', path: '/v1/runs/{id}/decide', token: 'operator', access: 'decide' },
  { method: 'POST', path: '/v1/runs/{id}/decision', token: 'operator', access: 'decide' },
  { method: 'POST', path: '/v1/alerts/alertmanager', token: 'webhook' },
  { method: 'POST', path: '/v1/alerts/checkmk', token: 'webhook' },
  // The console (worker/console/console.ts): `session` routes need a console session (a cookie from the login
  // page); without one a page is redirected to the login page and anything else gets 401.
  { method: 'GET', path: '/console/login', token: 'none' },
  { method: 'POST', path: '/console/login', token: 'none' },
  { method: 'GET', path: '/console/static/console.js', token: 'none' },
  { method: 'GET', path: '/console/static/console.css', token: 'none' },
  { method: 'GET', path: '/console', token: 'session', access: 'read' },
  { method: 'POST', path: '/console/logout', token: 'session', access: 'read' },
  { method: 'GET', path: '/console/runs', token: 'session', access: 'read' },
  { method: 'GET', path: '/console/runs/{id}', token: 'session', access: 'read' },
  { method: 'POST', path: '/console/runs/{id}/decide', token: 'session', access: 'decide' },
];

/** The body's fields, refusing any other. */
function only(body: Record<string, unknown>, allowed: string[]): Record<string, unknown> {
  for (const key of Object.keys(body)) if (!allowed.includes(key)) throw new HttpError(400, `unknown field ${JSON.stringify(key.slice(0, 40))} (expected ${allowed.join(', ')})`);
  return body;
}

/** The path after /v1/runs: the run ID (one encoded segment, or the plain segments) and the action. */
function runPath(raw: string[]): { id: string; action?: string } {
  let parts: string[];
  try {
    parts = raw.map((p) => decodeURIComponent(p));
  } catch {
    throw new HttpError(400, 'malformed URL encoding in the path');
  }
  let n: number;
  if (parts[0].includes('/')) n = 1;
  else if (parts[0] === 'dry-run') n = 3;
  else n = 2;
  if (parts.length < n) throw new HttpError(404, 'no such route (expected /v1/runs/{runbook}%2F{target}[/action])');
  const id = checkRunId(parts.slice(0, n).join('/'));
  const rest = parts.slice(n);
  if (rest.length > 1) throw new HttpError(404, `no such route: ${rest.join('/').slice(0, 80)}`);
  return { id, action: rest[0] };
}

/** A decision's body: `action` one of `allowed` (the route's verbs); the other fields are checked by decideAs. */
function decisionRequest(body: Record<string, unknown>, allowed: readonly Decision['action'][]): DecisionRequest {
  if (typeof body.action !== 'string' || !(allowed as readonly string[]).includes(body.action)) throw new BadRequest(`"action" must be one of ${allowed.join(', ')}`);
  return body as unknown as DecisionRequest;
}
const ESCALATION: readonly Decision['action'][] = ['retry', 'resolved', 'abort'];
const ANY: readonly Decision['action'][] = ['approve', 'reject', ...ESCALATION];

export interface ApiOptions {
  /** Who may call (default: from the configuration, with `tokens.operator` as the shared operator token). */
  identities?: Identities;
  /** The key decisions are signed with (default: the configuration's, created when missing). */
  keys?: DecisionKeys;
}

export function createApi(client: Client, config: Config, tokens: ApiTokens, options: ApiOptions = {}): http.Server {
  const alerts = createAlertHandler(client, config, tokens);
  const metrics = new Metrics(client, () => alerts.intake.counters);
  const identities = options.identities ?? new Identities(config, tokens.operator);
  const deciding = { client, keys: options.keys ?? DecisionKeys.forConfig(config) };
  const webConsole = createConsole({
    client,
    config,
    identities,
    decide: (caller, id, request) => decideAs(deciding, caller, id, request, 'console'),
    sourceOf: (req) => identities.sourceOf(req),
    trustedProxy: (req) => identities.fromTrustedProxy(req),
  });

  const runs = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL, raw: string[]): Promise<void> => {
    identities.permit(req, 'read');
    if (raw.length === 0) {
      if (req.method === 'GET') {
        for (const key of url.searchParams.keys()) if (!['status', 'runbook', 'limit'].includes(key)) throw new HttpError(400, `unknown query parameter ${JSON.stringify(key.slice(0, 40))} (status, runbook, limit)`);
        const limitText = url.searchParams.get('limit') ?? '200';
        if (!/^\d{1,4}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > 1000) throw new HttpError(400, '"limit" must be 1 to 1000');
        const list = await listRuns(client, { status: url.searchParams.get('status') ?? undefined, runbook: url.searchParams.get('runbook') ?? undefined, limit: Number(limitText) });
        return send(res, 200, { runs: list });
      }
      if (req.method === 'POST') {
        identities.permit(req, 'start');
        const body = only(await readJson(req), ['runbook', 'params', 'dryRun']);
        if (typeof body.runbook !== 'string') throw new HttpError(400, `"runbook" is required (one of ${Object.keys(RUNBOOKS).join(', ')})`);
        const params = body.params ?? {};
        if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new HttpError(400, '"params" must be an object');
        if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') throw new HttpError(400, '"dryRun" must be true or false');
        // A list parameter (autoflip `maps`) starts one run per element: then the answer lists them.
        const outs = await startRuns(client, config, body.runbook, params as Record<string, unknown>, 'api', { dryRun: body.dryRun === true });
        const code = outs.some((o) => o.started) ? 201 : 200;
        return send(res, code, outs.length === 1 && !Object.values(params).some(Array.isArray) ? outs[0] : { results: outs });
      }
      throw new HttpError(405, `${req.method} not allowed on /v1/runs (GET, POST)`);
    }

    const { id, action } = runPath(raw);
    if (req.method === 'GET') {
      if (action === undefined) return send(res, 200, await describeRun(client, id));
      if (action === 'history') return send(res, 200, await runHistory(client, id));
      throw new HttpError(404, `no such route: GET .../${action.slice(0, 40)} (history)`);
    }
    if (req.method !== 'POST') throw new HttpError(405, `${req.method} not allowed here`);
    if (!['approve', 'reject', 'decide', 'decision'].includes(action ?? '')) throw new HttpError(404, `no such route: POST .../${(action ?? '').slice(0, 40)} (approve, reject, decide)`);
    const caller = identities.authenticate(req);
    let request: DecisionRequest;
    if (action === 'approve') request = { ...only(await readJson(req), ['by', 'choice', 'comment']), action: 'approve' };
    else if (action === 'reject') {
      const body = only(await readJson(req), ['by', 'reason']);
      if (typeof body.reason !== 'string' || body.reason.trim() === '') throw new HttpError(400, '"reason" is required');
      request = { action: 'reject', by: body.by as string | undefined, comment: body.reason };
    } else request = decisionRequest(only(await readJson(req), ['action', 'by', 'choice', 'comment']), action === 'decide' ? ESCALATION : ANY);
    return send(res, 200, await decideAs(deciding, caller, id, request, 'api'));
  };

  const health = async (res: http.ServerResponse): Promise<void> => {
    try {
      await client.connection.withDeadline(Date.now() + 3000, () => client.workflowService.getSystemInfo({}));
      send(res, 200, { ok: true, temporal: 'ok' });
    } catch (err) {
      send(res, 503, { ok: false, temporal: `unreachable: ${(err as Error).message}` });
    }
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // Split before decoding: an encoded run ID (kust-replica%2Fcox-1) stays one segment.
    const parts = url.pathname.split('/').filter(Boolean);
    if (url.pathname === '/healthz') {
      if (req.method !== 'GET') throw new HttpError(405, 'GET /healthz');
      return health(res);
    }
    if (url.pathname === '/metrics') {
      if (req.method !== 'GET') throw new HttpError(405, 'GET /metrics');
      identities.permit(req, 'read');
      const text = await metrics.render();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (parts[0] === 'console') return webConsole.handle(req, res, url);
    if (parts[0] === 'v1' && parts[1] === 'alerts') return alerts(req, res, parts.slice(2));
    if (parts[0] === 'v1' && parts[1] === 'runs') return runs(req, res, url, parts.slice(2));
    throw new HttpError(404, 'not found');
  };

  return http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return send(res, err.status, { error: err.message });
      if (err instanceof BadRequest) return send(res, 400, { error: err.message });
      if (err instanceof NoSuchRun) return send(res, 404, { error: err.message });
      if (err instanceof Conflict) return send(res, 409, { error: err.message });
      if (err instanceof WorkflowNotFoundError) return send(res, 404, { error: 'no such run' });
      // Temporal unreachable or failing: 5xx, so that a webhook sender retries.
      send(res, 503, { error: `temporal: ${(err as Error).message}` });
    });
  });
}
