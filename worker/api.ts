/**
 * The HTTP API: start runs, read a run's state, decide (approve / retry / resolved / abort), and take
 * check_mk alert lines. Every route but /healthz needs a bearer token: the webhook token for alerts,
 * the operator token for the rest. Bad input gets a 4xx that names the problem and starts nothing.
 */
import http from 'node:http';
import { Client, WorkflowUpdateFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../config/schema';
import { BadRequest, isRunbook, startRun, RUNBOOKS } from '../client/runbooks';
import { handleAlerts } from './alerts';
import { ApiTokens, HttpError, readJson, requireToken, send } from './http';
import { decideUpdate, stateQuery, type Decision } from '../workflows/definitions';

export type { ApiTokens } from './http';

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

    if (parts[0] === 'v1' && parts[1] === 'alerts') return handleAlerts(req, res, parts.slice(2), { client, config, tokens });

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
