/**
 * Alert intake: check_mk local-check lines (and, below, Alertmanager webhooks) routed to runbooks.
 * Every line / alert is validated before anything starts: one bad one and nothing starts.
 */
import http from 'node:http';
import type { Client } from '@temporalio/client';
import type { Config } from '../config/schema';
import { classifyCheckMk, parseCheckMkLine } from '../parsers/checkmk';
import { isRunbook, startRun, validateParams } from '../client/runbooks';
import { ApiTokens, HttpError, readBody, requireToken, send } from './http';

export interface AlertContext {
  client: Client;
  config: Config;
  tokens: ApiTokens;
}

export async function handleAlerts(req: http.IncomingMessage, res: http.ServerResponse, path: string[], ctx: AlertContext): Promise<void> {
  if (req.method !== 'POST') throw new HttpError(405, 'alerts are POSTed');
  requireToken(req, ctx.tokens.webhook);
  if (path.length === 1 && path[0] === 'checkmk') return checkmk(req, res, ctx);
  throw new HttpError(404, 'unknown alert source (expected /v1/alerts/checkmk or /v1/alerts/alertmanager)');
}

async function checkmk(req: http.IncomingMessage, res: http.ServerResponse, { client, config }: AlertContext): Promise<void> {
  if (!/^text\/plain\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'expected Content-Type: text/plain (check_mk local-check lines)');
  const lines = (await readBody(req)).split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new HttpError(400, 'no alert lines in the body');
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
  send(res, 202, { results });
}
