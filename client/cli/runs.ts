/**
 * The commands that talk to Temporal directly (TEMPORAL_* settings, else 127.0.0.1:7233) with the
 * operator's own Temporal access: start runs (alert, start) and read them (runs, show, history, watch).
 * Decisions do not go this way: they go through the API (decisions.ts). Each command gets its configuration
 * as a loader, so that bad input is reported as such before the configuration is read.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../../config/schema';
import { classifyCheckMk, parseCheckMkLine } from '../../parsers/checkmk';
import type { RunbookName } from '../../workflows/definitions';
import { connectConfig, connectOrExplain } from '../connection';
import { checkRunId, describeRun, formatHistory, formatRuns, listRuns, runHistory } from '../history';
import { RUNBOOKS, startRun, startRuns } from '../runbooks';
import { EXIT, usageError } from './exit';
import { clock, formatDescription, print } from './format';

export interface CommonOptions {
  json?: boolean;
  config: string;
}

/** A Temporal client for one command, in the configured namespace (TEMPORAL_NAMESPACE wins); closed after. */
export async function withClient<T>(config: Config, fn: (client: Client) => Promise<T>): Promise<T> {
  const { connectionOptions, namespace } = connectConfig();
  const connection = await connectOrExplain(connectionOptions, (o) => Connection.connect(o));
  try {
    return await fn(new Client({ connection, namespace: namespace ?? config.service.namespace }));
  } finally {
    await connection.close();
  }
}

/**
 * `medic start`'s parameters: `key=value`, or a bare value: for kust-replica and tarantool-replica `cox-1`
 * means service cox, instance cox-1; a runbook with one parameter takes the value as that parameter
 * (`autoflip fate`: map fate; `ctlr-replica vkt03`: node vkt03).
 */
export function paramsFor(runbook: RunbookName, args: string[]): Record<string, string> {
  const names = Object.keys(RUNBOOKS[runbook].params);
  const params: Record<string, string> = {};
  const set = (key: string, value: string) => {
    if (key in params) throw usageError(`${runbook}: parameter ${key} given twice`);
    params[key] = value;
  };
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq > 0) set(a.slice(0, eq), a.slice(eq + 1));
    else if (runbook === 'kust-replica' || runbook === 'tarantool-replica') {
      set('instance', a);
      set('service', a.replace(/-\d+$/, ''));
    } else if (names.length === 1) set(names[0], a);
    else if (names.length === 0) {
      const id = `${runbook}/${RUNBOOKS[runbook].target({})}`;
      throw usageError(`${runbook} takes no parameters (its run is always ${id}), got "${a.slice(0, 80)}"; start it with: medic start ${runbook}`);
    } else throw usageError(`${runbook}: give the parameters as key=value (${names.map((n) => `${n}=...`).join(' ')}), got "${a.slice(0, 80)}"`);
  }
  return params;
}

export async function alert(loadConfig: () => Config, line: string, opts: CommonOptions): Promise<number> {
  const parsed = parseCheckMkLine(line);
  if (!parsed.ok) throw usageError(`not a check_mk line: ${parsed.error}`);
  const route = classifyCheckMk(parsed.value);
  if (!route.ok) throw usageError(`not routable: ${route.error}`);
  const config = loadConfig();
  return withClient(config, async (client) => {
    // One run per map for a multi-map autoflip alert.
    const rs = await startRuns(client, config, route.value.runbook, route.value.params as Record<string, unknown>, 'cli');
    print(opts.json, rs.map((r) => `${r.started ? 'started' : 'already open, recorded as seen again'}: ${r.workflowId}`).join('\n'), rs.length === 1 ? rs[0] : rs);
    return EXIT.ok;
  });
}

export async function start(loadConfig: () => Config, runbook: RunbookName, args: string[], opts: CommonOptions & { dryRun?: boolean }): Promise<number> {
  const params = paramsFor(runbook, args);
  const dryRun = opts.dryRun === true;
  const config = loadConfig();
  return withClient(config, async (client) => {
    const r = await startRun(client, config, runbook, params, 'cli', undefined, { dryRun });
    print(opts.json, `${r.started ? (dryRun ? 'dry run started' : 'started') : 'already open, recorded as seen again'}: ${r.workflowId}`, r);
    return EXIT.ok;
  });
}

export async function runs(loadConfig: () => Config, opts: CommonOptions & { status?: string; runbook?: string }): Promise<number> {
  return withClient(loadConfig(), async (client) => {
    const list = await listRuns(client, { status: opts.status, runbook: opts.runbook });
    print(opts.json, formatRuns(list), list);
    return EXIT.ok;
  });
}

export async function show(loadConfig: () => Config, id: string, opts: CommonOptions): Promise<number> {
  const workflowId = checkRunId(id);
  return withClient(loadConfig(), async (client) => {
    const d = await describeRun(client, workflowId);
    print(opts.json, formatDescription(d), d);
    return EXIT.ok;
  });
}

export async function history(loadConfig: () => Config, id: string, opts: CommonOptions): Promise<number> {
  const workflowId = checkRunId(id);
  return withClient(loadConfig(), async (client) => {
    const h = await runHistory(client, workflowId);
    print(opts.json, formatHistory(h), h);
    return EXIT.ok;
  });
}

/** `medic watch`: one look a second until the run closes; a TTY gets one live line, a pipe a line per change, --json a JSON line a second. */
export async function watch(loadConfig: () => Config, id: string, opts: CommonOptions): Promise<number> {
  const workflowId = checkRunId(id);
  const json = opts.json === true;
  return withClient(loadConfig(), async (client) => {
    const tty = !json && process.stdout.isTTY === true;
    let last = '';
    for (;;) {
      const d = await describeRun(client, workflowId, 3000);
      const s = d.state;
      const closed = d.temporalStatus !== 'RUNNING';
      const next = closed ? undefined : s?.nextTimerAt;
      const secs = next ? Math.max(0, Math.round((Date.parse(next) - Date.now()) / 1000)) : undefined;
      const now = new Date().toISOString();
      if (json) {
        console.log(JSON.stringify({ at: now, workflowId, status: d.status, temporalStatus: d.temporalStatus, currentStep: s?.currentStep, pending: s?.pending, nextTimerAt: next, secondsToNextTimer: secs, outcome: s?.outcome, summary: s?.summary }));
      } else {
        const line = `${workflowId}: ${d.status}${s?.currentStep ? ` at "${s.currentStep}"` : ''}${s?.pending ? ` (pending ${s.pending.kind}: ${s.pending.reason})` : ''}${s?.outcome ? ` -> ${s.outcome}` : ''}`;
        const countdown = secs !== undefined ? `, next timer in ${clock(secs)} (${next})` : '';
        if (tty) process.stdout.write(`${line !== last && last ? '\n' : '\r\x1b[2K'}${now.slice(11, 19)} ${line}${countdown}`);
        else if (line !== last) console.log(`${now} ${line}${countdown}`);
        last = line;
      }
      if (closed) {
        if (!json) {
          if (tty) process.stdout.write('\n');
          console.log(s?.summary ?? d.note ?? `closed: ${d.temporalStatus.toLowerCase()}`);
        }
        return EXIT.ok;
      }
      await sleep(1000);
    }
  });
}
