/**
 * Benchmark (issue 11, item 3): alert intake throughput of `POST /v1/alerts/alertmanager`, driven by
 * autocannon (its own worker thread, a fixed duration per case, several connections) against the
 * real HTTP API on an embedded Temporal dev server. No worker: the runs that start stay open, which
 * is what intake needs (duplicates join them, resolutions are recorded on them).
 *
 * Cases, each with one alert and with 50 alerts per notification:
 *   floor       a bench-only path on the same server process that authenticates, reads, JSON-parses
 *               and schema-parses the body and answers 202: the most the HTTP + parsing part can do
 *   new         every alert a target never seen (kust-replica for service b<N>, instance b<N>-1):
 *               accepted alerts/s and runs started/s (counted in Temporal)
 *   duplicates  the same 10 targets again and again, their runs open (16 connections, and 4: less queueing)
 *   resolved    status resolved for the runs the `new` case opened (first a real signal each, then
 *               repeats for runs whose resolution is recorded)
 * Every figure is autocannon's (requests/s average, latency p50/p99), as fast as the server answers (so a
 * p99 is the latency at saturation with that many notifications at once); any non-2xx answer, connection
 * error or timeout marks the case invalid.
 *
 *   node dist/test/bench/intake.js [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import autocannon from 'autocannon';
import { AlertmanagerPayloadSchema } from '../../client/intake';
import { createApi } from '../../worker/api';
import { temporalBinaries } from '../../worker/binaries';
import { startDevServer } from '../../worker/devserver';
import { HttpError, readBody, requireToken, send } from '../../worker/http';
import { freePort } from '../helpers/service';
import { testConfig } from '../helpers/settings';
import { amAlert, amPayload, CASE_ENV, CaseSpec } from './intake-requests';

export interface CaseFigures {
  /** floor | new | duplicates | resolved */
  case: string;
  alertsPerPost: number;
  connections: number;
  seconds: number;
  /** Responses in the case (every status). */
  requests: number;
  /** autocannon's requests/s average. */
  requestsPerS: number;
  /** requestsPerS x alertsPerPost. */
  alertsPerS: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** false when any answer was not 2xx, a connection failed or timed out, or nothing was answered in the case: the figures above then do not count. */
  valid: boolean;
  /** Runs that started during the case (Temporal's count of kustReplica runs, before and after). */
  runsStarted: number;
  runsStartedPerS: number;
  /** What the intake did with the case's alerts (its counters, from GET /metrics): started, joined, joinedQuietly, resolved. */
  intake: Record<string, number>;
}

export interface IntakeFigures {
  quick: boolean;
  connections: number;
  secondsPerCase: number;
  /** The case of 50 new targets per POST (each POST answers in seconds). */
  newX50Seconds: number;
  cases: CaseFigures[];
  /** The target for duplicates: at least 5,000 alerts/s at p99 at most 50 ms (for each notification size, in a valid duplicates case). */
  duplicatesTarget: { alertsPerS: number; p99Ms: number; met: boolean };
}

/** The bench-only route of the floor, intercepted in front of the API's own request listener. */
const FLOOR_PATH = '/bench/floor';
const AM_PATH = '/v1/alerts/alertmanager';
const MAX_BODY = 4 * 1024 * 1024;
const SETUP_REQUEST = path.join(__dirname, 'intake-setup-request.js');

async function floor(req: http.IncomingMessage, res: http.ServerResponse, token: string): Promise<void> {
  try {
    if (req.method !== 'POST') throw new HttpError(405, 'POST');
    requireToken(req, token);
    let doc: unknown;
    try {
      doc = JSON.parse(await readBody(req, MAX_BODY));
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(400, `invalid JSON: ${(err as Error).message}`);
    }
    const payload = AlertmanagerPayloadSchema.safeParse(doc);
    if (!payload.success) throw new HttpError(400, 'not an Alertmanager version 4 payload');
    send(res, 202, { accepted: payload.data.alerts.length });
  } catch (err) {
    send(res, err instanceof HttpError ? err.status : 500, { error: (err as Error).message });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchIntake(opts: { quick: boolean; log?: (line: string) => void }): Promise<IntakeFigures> {
  const log = opts.log ?? (() => undefined);
  // 3 s per case (4 until 7 December: the rates moved by a few per cent, and the whole bench must fit in 15 minutes).
  const seconds = opts.quick ? 1 : 3;
  const slowSeconds = Math.max(seconds, 8);
  const connections = 16;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'medic-bench-intake-'));
  const server = await startDevServer({ cli: temporalBinaries().cli, dataDir, port: await freePort(), uiPort: 0 });
  let connection: Connection | undefined;
  let api: http.Server | undefined;
  try {
    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const config = testConfig();
    const tokens = { webhook: 'w'.repeat(32), operator: 'o'.repeat(32) };
    api = createApi(client, config, tokens);
    // The floor shares the server process and the listener: take the API's listener and put one in front.
    const apiListeners = api.listeners('request') as http.RequestListener[];
    api.removeAllListeners('request');
    let inFlight = 0;
    const server_ = api;
    api.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      inFlight++;
      res.once('close', () => inFlight--);
      if (req.url === FLOOR_PATH) return void floor(req, res, tokens.webhook);
      for (const l of apiListeners) l.call(server_, req, res);
    });
    await new Promise<void>((r) => api!.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(api.address() as net.AddressInfo).port}`;

    const post = async (body: string) => {
      const res = await fetch(`${base}${AM_PATH}`, { method: 'POST', headers: { authorization: `Bearer ${tokens.webhook}`, 'content-type': 'application/json' }, body });
      const text = await res.text();
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${text.slice(0, 500)}`);
      return JSON.parse(text) as { results: { action: string }[] };
    };
    const counters = async (): Promise<Record<string, number>> => {
      const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${tokens.operator}` } });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
      const out: Record<string, number> = {};
      for (const m of text.matchAll(/^medic_alerts_total\{result="(\w+)"\} (\d+)$/gm)) out[m[1]] = Number(m[2]);
      return out;
    };
    const runsOpen = async () => (await client.workflow.count(`WorkflowType = 'kustReplica'`)).count;
    /** Waits until the server answered everything autocannon sent (requests still in flight when it stopped). */
    const quiet = async () => {
      const deadline = Date.now() + 60_000;
      while (inFlight > 0) {
        if (Date.now() > deadline) throw new Error(`${inFlight} requests still in flight a minute after the case`);
        await sleep(50);
      }
    };
    /** Temporal's count, once visibility has caught up (two equal readings). */
    const settledRuns = async () => {
      let last = await runsOpen();
      for (let i = 0; i < 100; i++) {
        await sleep(200);
        const now = await runsOpen();
        if (now === last) return now;
        last = now;
      }
      return last;
    };

    const cases: CaseFigures[] = [];
    const run = async (name: string, spec: CaseSpec, pathName = AM_PATH, duration = seconds, record = true, conns = connections): Promise<CaseFigures> => {
      const runsBefore = await settledRuns();
      const before = await counters();
      process.env[CASE_ENV] = JSON.stringify(spec);
      const r = await autocannon({
        url: base,
        connections: conns,
        duration,
        workers: 1,
        headers: { authorization: `Bearer ${tokens.webhook}`, 'content-type': 'application/json' },
        requests: [{ method: 'POST', path: pathName, setupRequest: SETUP_REQUEST }],
      });
      await quiet();
      const runsAfter = await settledRuns();
      const after = await counters();
      const intake: Record<string, number> = {};
      for (const k of ['started', 'joined', 'joinedQuietly', 'resolved', 'unroutable', 'rejected']) {
        const d = (after[k] ?? 0) - (before[k] ?? 0);
        if (d !== 0) intake[k] = d;
      }
      const f: CaseFigures = {
        case: name,
        alertsPerPost: spec.batch,
        connections: conns,
        seconds: r.duration,
        requests: r.requests.total,
        requestsPerS: r.requests.average,
        alertsPerS: Math.round(r.requests.average * spec.batch),
        latencyP50Ms: r.latency.p50,
        latencyP99Ms: r.latency.p99,
        latencyMaxMs: r.latency.max,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        valid: r.non2xx === 0 && r.errors === 0 && r.timeouts === 0 && r.requests.total > 0,
        runsStarted: runsAfter - runsBefore,
        runsStartedPerS: Math.round((runsAfter - runsBefore) / r.duration),
        intake,
      };
      log(
        `${name} x${spec.batch} (${conns} connections): ${f.alertsPerS} alerts/s (${f.requestsPerS} req/s), p50 ${f.latencyP50Ms} ms, p99 ${f.latencyP99Ms} ms, ` +
          `non-2xx ${f.non2xx}, errors ${f.errors}, timeouts ${f.timeouts}${f.valid ? '' : ' INVALID'}, runs started ${f.runsStarted} (${f.runsStartedPerS}/s), intake ${JSON.stringify(intake)}`,
      );
      if (record) cases.push(f);
      return f;
    };

    const pool = (prefix: string, n: number, status: 'firing' | 'resolved', batch: number): CaseSpec => ({ targets: 'pool', status, batch, prefix, base: 0, pool: n });
    // Warm-up (not recorded): the parsing paths and the connections.
    await run('warm-up', pool('storm', 10, 'firing', 50), FLOOR_PATH, 1, false);
    for (const batch of [1, 50]) await run('floor', pool('storm', 10, 'firing', batch), FLOOR_PATH);

    const newBase: Record<number, number> = { 1: 1_000_000, 50: 2_000_000 };
    const opened: Record<number, number> = {};
    for (const batch of [1, 50]) {
      // 50 new targets per POST take about 4 s to answer (each a workflow start): at least 8 s, so that some answer.
      const f = await run('new', { targets: 'new', status: 'firing', batch, prefix: 'b', base: newBase[batch], pool: 0 }, AM_PATH, batch === 50 ? slowSeconds : seconds);
      opened[batch] = f.runsStarted;
    }

    // The storm's targets: 10 runs, opened through the webhook before the case.
    const opening = await post(amPayload(Array.from({ length: 10 }, (_, i) => amAlert('storm', i, 'firing')), 'firing'));
    if (opening.results.some((x) => x.action !== 'started')) throw new Error(`the storm's runs did not start: ${JSON.stringify(opening.results)}`);
    for (const batch of [1, 50]) await run('duplicates', pool('storm', 10, 'firing', batch));
    // Fewer notifications at once: about as many alerts/s (the server is saturated at 4), less queueing in the latency.
    for (const batch of [1, 50]) await run('duplicates', pool('storm', 10, 'firing', batch), AM_PATH, seconds, true, 4);

    // Resolutions for the runs the new-target cases opened (numbers base..base+opened-1, in the order sent).
    for (const batch of [1, 50]) {
      if (opened[batch] < 1) throw new Error(`the new-target case x${batch} opened no run to resolve`);
      await run('resolved', { targets: 'pool', status: 'resolved', batch, prefix: 'b', base: newBase[batch], pool: opened[batch] });
    }

    // autocannon drives as fast as answered (its fixed-rate mode sends each second's quota in a burst), so
    // each p99 is the latency at saturation with that many notifications at once. Met: for each notification
    // size, a valid duplicates case (16 or 4 connections) with both the rate and the p99.
    const target = { alertsPerS: 5000, p99Ms: 50 };
    const meets = (c: CaseFigures) => c.case === 'duplicates' && c.valid && c.alertsPerS >= target.alertsPerS && c.latencyP99Ms <= target.p99Ms;
    return {
      quick: opts.quick,
      connections,
      secondsPerCase: seconds,
      newX50Seconds: slowSeconds,
      cases,
      duplicatesTarget: { ...target, met: [1, 50].every((batch) => cases.some((c) => c.alertsPerPost === batch && meets(c))) },
    };
  } finally {
    delete process.env[CASE_ENV];
    if (api) await new Promise<void>((r) => api!.close(() => r()));
    await connection?.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchIntake({ quick: process.argv.includes('--quick'), log: (line) => console.error(line) })
    .then((figures) => console.log(JSON.stringify(figures, null, 2)))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
