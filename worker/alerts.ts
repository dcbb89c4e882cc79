/**
 * Alert intake over HTTP: `POST /v1/alerts/checkmk` (text/plain local-check lines) and
 * `POST /v1/alerts/alertmanager` (the version 4 webhook payload), both with the webhook token.
 * The whole body is validated and routed before anything starts: malformed input is a 4xx that names
 * the problem and starts nothing. The answer is 2xx only once Temporal has accepted every start or
 * signal; if Temporal is unreachable it is 503, so that Alertmanager sends again.
 */
import http from 'node:http';
import type { Client } from '@temporalio/client';
import type { ZodError } from 'zod';
import type { Config } from '../config/schema';
import { formatIssues } from '../config/load';
import { AlertmanagerPayloadSchema, Delivery, Intake, Route, routeAlertmanager, routeCheckMk } from '../client/intake';
import { RUNBOOKS, workflowIdOf } from '../client/runbooks';
import { parseCheckMkLine } from '../parsers/checkmk';
import { ApiTokens, HttpError, readBody, requireToken, send } from './http';

/**
 * Alertmanager sends a group's alerts in one notification and does not retry a 4xx, so the limits
 * must admit a realistic grouped notification: up to 1,000 alerts (`max_alerts: 1000` on the
 * receiver truncates beyond that and says so in `truncatedAlerts`), and 4 MiB, 4 KiB per alert. A
 * real alert with ten labels, summary, description, runbook URL and a Prometheus generator URL is
 * about 1.4 KiB (1,000 of them: 1.4 MB, over the former 1 MiB).
 */
const ALERTMANAGER_MAX_BODY = 4 * 1024 * 1024;
const ALERTMANAGER_MAX_ALERTS = 1000;
/**
 * Deliveries of one notification under way at a time: a grouped notification of 50 new targets is then
 * not 50 Temporal round trips in a row (which at Temporal's pace under load passed the 10 s deadline).
 */
const DELIVERY_CONCURRENCY = 16;

/** The lane of a route: its run ID, or for runbooks that share a target, that target (their starts must stay in order). */
function laneOf(route: Route): string {
  const spec = RUNBOOKS[route.runbook];
  const target = spec.target(route.params);
  return spec.sharesTargetWith ? `${[route.runbook, ...spec.sharesTargetWith].sort().join('+')}/${target}` : workflowIdOf(route.runbook, target);
}

/** A 400 lists this many schema issues at most (a body of 1,000 bad alerts would otherwise answer with thousands of lines). */
const MAX_ISSUES = 20;

interface Routed {
  item: number;
  firing: boolean;
  routes?: Route[];
  unroutable?: string;
}

function fewIssues(error: ZodError): string {
  const lines = formatIssues(error).split('\n');
  return lines.length > MAX_ISSUES ? [...lines.slice(0, MAX_ISSUES), `  ... and ${lines.length - MAX_ISSUES} more`].join('\n') : lines.join('\n');
}

export interface AlertHandler {
  (req: http.IncomingMessage, res: http.ServerResponse, path: string[]): Promise<void>;
  intake: Intake;
}

export function createAlertHandler(client: Client, config: Config, tokens: ApiTokens): AlertHandler {
  const intake = new Intake(client, config);

  const deliver = async (res: http.ServerResponse, source: string, routed: Routed[]) => {
    const unroutable = routed.filter((r) => r.unroutable);
    intake.counters.unroutable += unroutable.length;
    if (unroutable.length === routed.length) {
      throw new HttpError(422, `nothing routable: ${unroutable.map((u) => `item ${u.item}: ${u.unroutable}`).join('; ')}`.slice(0, 2000));
    }
    const results: (Delivery | { item: number; unroutable: string } | undefined)[] = [];
    // One lane per run ID (or shared target): a lane's deliveries keep the body's order (a firing then a
    // resolved alert; never two runs of a shared target), the lanes run DELIVERY_CONCURRENCY at a time.
    const lanes = new Map<string, { slot: number; route: Route; firing: boolean }[]>();
    for (const r of routed) {
      if (r.unroutable) {
        results.push({ item: r.item, unroutable: r.unroutable });
        continue;
      }
      for (const route of r.routes ?? []) {
        const key = laneOf(route);
        const lane = lanes.get(key) ?? [];
        lanes.set(key, lane);
        lane.push({ slot: results.length, route, firing: r.firing });
        results.push(undefined);
      }
    }
    // Within one body, a repeated alert for the same run is delivered once (storms come in batches).
    const delivered = new Map<string, string>();
    const queue = [...lanes.values()];
    let failed = false;
    const worker = async () => {
      for (let lane = queue.shift(); lane && !failed; lane = queue.shift()) {
        for (const { slot, route, firing } of lane) {
          const key = `${firing}:${route.runbook}:${JSON.stringify(route.params)}`;
          const workflowId = delivered.get(key);
          if (workflowId === undefined) {
            try {
              const d = await intake.deliver(route, firing, source);
              delivered.set(key, d.workflowId);
              results[slot] = d;
            } catch (err) {
              failed = true; // the answer is a 5xx: start no more lanes
              throw err;
            }
          } else {
            if (firing) intake.counters.joinedQuietly++;
            results[slot] = { workflowId, action: firing ? 'joined-quietly' : 'resolved-already-recorded' };
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELIVERY_CONCURRENCY, queue.length) }, worker));
    send(res, 202, { results });
  };

  const checkmk = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!/^text\/plain\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'expected Content-Type: text/plain (check_mk local-check lines)');
    const lines = (await readBody(req)).split(/\r?\n/).filter((l) => l.trim() !== '');
    if (lines.length === 0) throw new HttpError(400, 'no alert lines in the body');
    if (lines.length > 1000) throw new HttpError(413, 'more than 1000 lines');
    const routed: Routed[] = lines.map((line, i) => {
      const parsed = parseCheckMkLine(line);
      if (!parsed.ok) throw new HttpError(400, `line ${i + 1}: ${parsed.error}`);
      const routes = routeCheckMk(parsed.value);
      // State 0 resolves an earlier alert of the same check; 1, 2, 3 and P are problems.
      return routes.ok ? { item: i + 1, firing: parsed.value.state !== 0, routes: routes.value } : { item: i + 1, firing: true, unroutable: routes.error };
    });
    await deliver(res, 'checkmk', routed);
  };

  const alertmanager = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'expected Content-Type: application/json (Alertmanager webhook)');
    let doc: unknown;
    try {
      doc = JSON.parse(await readBody(req, ALERTMANAGER_MAX_BODY));
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(400, `invalid JSON: ${(err as Error).message}`);
    }
    const count = (doc as { alerts?: unknown } | null)?.alerts;
    if (Array.isArray(count) && count.length > ALERTMANAGER_MAX_ALERTS) {
      throw new HttpError(413, `more than ${ALERTMANAGER_MAX_ALERTS} alerts in one notification (${count.length}); set max_alerts: ${ALERTMANAGER_MAX_ALERTS} on the webhook receiver`);
    }
    const payload = AlertmanagerPayloadSchema.safeParse(doc);
    if (!payload.success) throw new HttpError(400, `not an Alertmanager version 4 payload:\n${fewIssues(payload.error)}`);
    const routed: Routed[] = payload.data.alerts.map((a, i) => {
      const routes = routeAlertmanager(a, config.intake.rules);
      return routes.ok ? { item: i + 1, firing: a.status === 'firing', routes: routes.value } : { item: i + 1, firing: a.status === 'firing', unroutable: routes.error };
    });
    await deliver(res, 'alertmanager', routed);
  };

  const handler = (async (req, res, path) => {
    if (req.method !== 'POST') throw new HttpError(405, 'alerts are POSTed');
    requireToken(req, tokens.webhook);
    intake.counters.received++;
    // Answer within Alertmanager's patience: a Temporal that does not answer in time is a 503.
    const deadline = Date.now() + 10_000;
    try {
      if (path.length === 1 && (path[0] === 'checkmk' || path[0] === 'alertmanager')) {
        return await client.connection.withDeadline(deadline, () => (path[0] === 'checkmk' ? checkmk(req, res) : alertmanager(req, res)));
      }
    } catch (err) {
      if (err instanceof HttpError && err.status < 500) intake.counters.rejected++;
      throw err;
    }
    throw new HttpError(404, 'unknown alert source (expected /v1/alerts/checkmk or /v1/alerts/alertmanager)');
  }) as AlertHandler;
  handler.intake = intake;
  return handler;
}
