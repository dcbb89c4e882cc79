/**
 * The HTTP API: start runs, read a run's state, decide (approve / retry / resolved / abort), and take
 * check_mk alert lines. Every route but /healthz needs a bearer token: the webhook token for alerts,
 * the operator token for the rest. Bad input gets a 4xx that names the problem and starts nothing.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { Client, WorkflowUpdateFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../config/schema';
import { classifyCheckMk, parseCheckMkLine } from '../parsers/checkmk';
import { BadRequest, isRunbook, startRun, validateParams, RUNBOOKS } from '../client/runbooks';
import { decideUpdate, stateQuery, type Decision } from '../workflows/definitions';

export interface ApiTokens {
  webhook: string;
  operator: string;
}

const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function requireToken(req: http.IncomingMessage, expected: string): void {
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  if (!m) throw new HttpError(401, 'missing bearer token (Authorization: Bearer <token>)');
  if (!sameToken(m[1], expected)) throw new HttpError(403, 'invalid token');
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) throw new HttpError(413, `body larger than ${MAX_BODY} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'expected Content-Type: application/json');
  const text = await readBody(req);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `invalid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new HttpError(400, 'expected a JSON object');
  return doc as Record<string, unknown>;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** `/v1/runs/<runbook>/<target>[/decision]` -> the workflow ID, checked against the runbook's patterns. */
function runIdFrom(parts: string[]): string {
  const [runbook, target] = parts;
  if (!runbook || !target || !isRunbook(runbook)) throw new HttpError(404, 'no such run (expected /v1/runs/<runbook>/<target>)');
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(target)) throw new HttpError(400, 'malformed target');
  return `${runbook}/${target}`;
}

export function createApi(client: Client, config: Config, tokens: ApiTokens): http.Server {
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, { ok: true });

    if (req.method === 'POST' && url.pathname === '/v1/alerts/checkmk') {
      requireToken(req, tokens.webhook);
      if (!/^text\/plain\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'expected Content-Type: text/plain (check_mk local-check lines)');
      const lines = (await readBody(req)).split(/\r?\n/).filter((l) => l.trim() !== '');
      if (lines.length === 0) throw new HttpError(400, 'no alert lines in the body');
      // Validate every line before starting anything: one bad line and nothing starts.
      const routed = lines.map((line, i) => {
        const parsed = parseCheckMkLine(line);
        if (!parsed.ok) throw new HttpError(400, `line ${i + 1}: ${parsed.error}`);
        if (parsed.value.state === 0) return { line: i + 1, ignored: 'state 0 (OK)' as const };
        const route = classifyCheckMk(parsed.value);
        if (!route.ok) throw new HttpError(422, `line ${i + 1}: not routable: ${route.error}`);
        if (!isRunbook(route.value.runbook)) throw new HttpError(422, `line ${i + 1}: runbook ${route.value.runbook} is not available yet`);
        const params = validateParams(route.value.runbook, route.value.params as Record<string, unknown>);
        return { line: i + 1, runbook: route.value.runbook, params };
      });
      const results = [];
      for (const r of routed) {
        if ('ignored' in r) results.push(r);
        else results.push({ line: r.line, ...(await startRun(client, config, r.runbook, r.params, 'checkmk')) });
      }
      return send(res, 202, { results });
    }

    if (parts[0] !== 'v1' || parts[1] !== 'runs') throw new HttpError(404, 'not found');
    requireToken(req, tokens.operator);

    if (req.method === 'POST' && parts.length === 2) {
      const body = await readJson(req);
      if (typeof body.runbook !== 'string') throw new HttpError(400, `"runbook" is required (one of ${Object.keys(RUNBOOKS).join(', ')})`);
      const params = body.params ?? {};
      if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new HttpError(400, '"params" must be an object');
      const out = await startRun(client, config, body.runbook, params as Record<string, unknown>, 'api');
      return send(res, out.started ? 201 : 200, out);
    }

    const workflowId = runIdFrom(parts.slice(2));
    const handle = client.workflow.getHandle(workflowId);
    if (req.method === 'GET' && parts.length === 4) {
      const [description, state] = await Promise.all([handle.describe(), handle.query(stateQuery)]);
      return send(res, 200, { workflowId, temporalStatus: description.status.name, state });
    }
    if (req.method === 'POST' && parts.length === 5 && parts[4] === 'decision') {
      const body = await readJson(req);
      const decision: Decision = {
        action: body.action as Decision['action'],
        by: body.by as string,
        ...(typeof body.choice === 'string' ? { choice: body.choice } : {}),
        ...(typeof body.comment === 'string' ? { comment: body.comment.slice(0, 2000) } : {}),
      };
      try {
        return send(res, 200, await handle.executeUpdate(decideUpdate, { args: [decision] }));
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) throw new HttpError(409, `decision refused: ${err.cause?.message ?? err.message}`);
        throw err;
      }
    }
    throw new HttpError(405, `${req.method} not allowed here`);
  };

  return http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return send(res, err.status, { error: err.message });
      if (err instanceof BadRequest) return send(res, 400, { error: err.message });
      if (err instanceof WorkflowNotFoundError) return send(res, 404, { error: 'no such run' });
      // Temporal unreachable or failing: 5xx, so that a webhook sender retries.
      send(res, 503, { error: `temporal: ${(err as Error).message}` });
    });
  });
}
