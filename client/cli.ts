#!/usr/bin/env node
/**
 * medic: the operator's command line. Talks to Temporal directly (TEMPORAL_* settings, else the
 * embedded server on 127.0.0.1:7233) and reads the same configuration file as the service.
 *
 *   medic alert '<check_mk line>'                start the runbook an alert line routes to
 *   medic start <runbook> <key=value|target>... [--dry-run]   start a runbook by hand
 *   medic runs [--status S] [--runbook R]        runs, newest first (`list` is an alias)
 *   medic show <run>                             the run's state and its steps (`status` is an alias)
 *   medic history <run>                          the run's timeline from its event history (no worker needed)
 *   medic watch <run>                            live: current step, countdown to the next timer; exits when the run closes
 *   medic approve <run> --by NAME [--choice X] [--comment T]
 *   medic reject <run> --by NAME --reason T
 *   medic decide <run> retry|resolved|abort --by NAME [--choice run-again] [--comment T]
 *   medic doctor [--notify]                      check hosts, tools, Temporal (and the notification URL) before the incident
 *   medic doctor --scan HOST                     the host's keys as known_hosts lines with fingerprints, to verify and paste
 *   medic setup [--retention 72h]                create the namespace and the search attributes if missing (idempotent)
 *   medic worker                                 the worker alone (no API, no embedded server); SIGTERM drains
 *   medic api                                    the HTTP API alone (stateless: any number behind a load balancer)
 * <run> is the run ID: <runbook>/<target> (dry runs: dry-run/<runbook>/<target>).
 * Every command takes --json and --config FILE. Exit codes: 0 done, 1 failed or refused, 2 bad usage.
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { configPathFrom, loadConfig } from '../config/load';
import { classifyCheckMk, parseCheckMkLine } from '../parsers/checkmk';
import type { RunState } from '../workflows/definitions';
import { connectConfig, connectOrExplain } from './connection';
import { formatDoctor, formatScan, runDoctor, scanHostKeys, scanTarget } from './doctor';
import { checkDecision, checkRunId, describeRun, formatHistory, formatRuns, listRuns, RunDescription, runHistory, sendDecision } from './history';
import { BadRequest, isRunbook, startRun, startRuns } from './runbooks';

class UsageError extends Error {}

/** Positional shorthand: `kust-replica cox-1` means service cox, instance cox-1 (so for tarantool-replica); `autoflip fate` map fate. */
function paramsFor(runbook: string, args: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq > 0) params[a.slice(0, eq)] = a.slice(eq + 1);
    else if (runbook === 'kust-replica' || runbook === 'tarantool-replica') Object.assign(params, { instance: a, service: a.replace(/-\d+$/, '') });
    else if (runbook === 'autoflip') params.map = a;
    else throw new UsageError(`${runbook}: give parameters as key=value`);
  }
  return params;
}

export function formatState(s: RunState): string {
  const lines = [`${s.runbook} ${s.target}${s.dryRun ? ' [dry run]' : ''}: ${s.status}${s.outcome ? ` (${s.outcome})` : ''}${s.currentStep ? `, at "${s.currentStep}"` : ''}`];
  if (s.nextTimerAt) lines.push(`  next timer fires at ${s.nextTimerAt} (in ${clock((Date.parse(s.nextTimerAt) - Date.now()) / 1000)})`);
  if (s.pending) lines.push(`  pending ${s.pending.kind}: ${s.pending.step}: ${s.pending.reason}${s.pending.choices ? ` [choices: ${s.pending.choices.join(', ')}]` : ''}`);
  if (s.seenAgain.count) lines.push(`  seen again ${s.seenAgain.count} time(s), last ${s.seenAgain.last}`);
  for (const st of s.steps) {
    const where = st.host ? ` @${st.host}` : '';
    const what = st.command ? `  $ ${st.command}` : st.until ? `  until ${st.until}` : '';
    const who = st.by ? ` by ${st.by}` : '';
    lines.push(`  ${String(st.n).padStart(2)}. ${st.startedAt}  ${st.name}${where}  -> ${st.verdict ?? 'running'}${who}${st.reason ? ` (${st.reason})` : ''}${what}`);
  }
  if (s.summary) lines.push(`  ${s.summary}`);
  return lines.join('\n');
}

/** Seconds as 1h02m03s / 4m05s / 7s. */
function clock(totalSeconds: number): string {
  const t = Math.max(0, Math.round(totalSeconds));
  const [h, m, sec] = [Math.floor(t / 3600), Math.floor((t % 3600) / 60), t % 60];
  return h ? `${h}h${String(m).padStart(2, '0')}m${String(sec).padStart(2, '0')}s` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function formatDescription(d: RunDescription): string {
  const head = `${d.workflowId} (${d.workflowType}, run ${d.runId}): ${d.temporalStatus.toLowerCase()}, started ${d.startTime}${d.closeTime ? `, closed ${d.closeTime}` : ''}`;
  return [head, d.state ? formatState(d.state) : `  ${d.note ?? 'no state'}`].join('\n');
}

/** `medic watch`: one look a second until the run closes; a TTY gets one live line, a pipe a line per change. */
async function watch(client: Client, id: string, json: boolean): Promise<number> {
  const workflowId = checkRunId(id);
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
      return 0;
    }
    await sleep(1000);
  }
}

function oneRun(rest: string[], usage: string): string {
  if (rest.length !== 1) throw new UsageError(`usage: ${usage}`);
  return rest[0];
}

const COMMANDS = ['alert', 'start', 'runs', 'list', 'show', 'status', 'history', 'watch', 'approve', 'reject', 'decide', 'doctor', 'setup', 'worker', 'api'];

/**
 * The processes a deployment runs (deploy/README.md): `setup` once per namespace, then `worker` and `api`,
 * each as many as needed. Loaded only when asked for (the worker loads the SDK's native part).
 */
async function processCommand(command: 'setup' | 'worker' | 'api', rest: string[], values: { json?: boolean; config?: string; retention?: string }): Promise<number> {
  if (rest.length !== 0) throw new UsageError(`usage: medic ${command} [--config FILE]${command === 'setup' ? ' [--retention 72h] [--json]' : ''}`);
  const config = loadConfig(values.config ?? configPathFrom([]));
  if (command === 'worker') return (await import('../worker/serve-worker')).runWorkerProcess(config);
  if (command === 'api') return (await import('../worker/serve-api')).runApiProcess(config);
  const { formatSetup, parseRetention, setupTemporal } = await import('./setup');
  const retention = values.retention ?? '72h';
  try {
    parseRetention(retention);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { connectionOptions, namespace: envNamespace } = connectConfig();
  const connection = await connectOrExplain(connectionOptions, (o) => Connection.connect(o));
  try {
    const result = await setupTemporal(connection, envNamespace ?? config.service.namespace, { retention });
    console.log(values.json ? JSON.stringify(result, null, 2) : formatSetup(result));
    return 0;
  } finally {
    await connection.close();
  }
}

/** `medic doctor`: needs no Temporal connection of its own (whether Temporal answers is one of its checks). */
async function doctor(rest: string[], values: { json?: boolean; config?: string; notify?: boolean; scan?: string }): Promise<number> {
  if (rest.length !== 0) throw new UsageError('usage: medic doctor [--json] [--notify] [--config FILE] | medic doctor --scan HOST');
  if (values.scan !== undefined) {
    // An address needs no configuration; an inventory name does (read only when there is one to read).
    const file = values.config ?? configPathFrom([]);
    let config;
    try {
      config = loadConfig(file);
    } catch (err) {
      if (values.config) throw err;
    }
    let target;
    try {
      target = scanTarget(config, values.scan);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const keys = await scanHostKeys(target.address, target.port);
    if (values.json) console.log(JSON.stringify({ address: target.address, port: target.port, trusted: false, keys }, null, 2));
    else console.log(`${target.note ? `# ${target.note}\n` : ''}${formatScan(target.address, target.port, keys)}`);
    return keys.length ? 0 : 1;
  }
  const results = await runDoctor(loadConfig(values.config ?? configPathFrom([])), { notify: values.notify === true });
  console.log(values.json ? JSON.stringify(results, null, 2) : formatDoctor(results));
  return results.every((r) => r.ok) ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        config: { type: 'string' },
        by: { type: 'string' },
        choice: { type: 'string' },
        comment: { type: 'string' },
        reason: { type: 'string' },
        status: { type: 'string' },
        runbook: { type: 'string' },
        'dry-run': { type: 'boolean' },
        notify: { type: 'boolean' },
        scan: { type: 'string' },
        retention: { type: 'string' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  const out = (human: string, data: unknown) => console.log(values.json ? JSON.stringify(data, null, 2) : human);
  if (!command || !COMMANDS.includes(command)) throw new UsageError(`usage: medic <${COMMANDS.join('|')}> ... (see the README)${command ? `; unknown command ${command}` : ''}`);

  if (command === 'doctor') return doctor(rest, values);
  if (command === 'setup' || command === 'worker' || command === 'api') return processCommand(command, rest, values);

  const { connectionOptions, namespace: envNamespace } = connectConfig();
  const config = loadConfig(values.config ?? configPathFrom([]));
  const connection = await connectOrExplain(connectionOptions, (o) => Connection.connect(o));
  const client = new Client({ connection, namespace: envNamespace ?? config.service.namespace });
  try {
    switch (command) {
      case 'alert': {
        if (rest.length !== 1) throw new UsageError("usage: medic alert '<check_mk line>'");
        const line = parseCheckMkLine(rest[0]);
        if (!line.ok) throw new UsageError(`not a check_mk line: ${line.error}`);
        const route = classifyCheckMk(line.value);
        if (!route.ok) throw new UsageError(`not routable: ${route.error}`);
        // One run per map for a multi-map autoflip alert.
        const rs = await startRuns(client, config, route.value.runbook, route.value.params as Record<string, unknown>, 'cli');
        out(rs.map((r) => `${r.started ? 'started' : 'already open, recorded as seen again'}: ${r.workflowId}`).join('\n'), rs.length === 1 ? rs[0] : rs);
        return 0;
      }
      case 'start': {
        const [runbook, ...args] = rest;
        if (!runbook || !isRunbook(runbook)) throw new UsageError(`usage: medic start <runbook> <params...> [--dry-run]; unknown runbook ${runbook ?? ''}`);
        const dryRun = values['dry-run'] === true;
        const r = await startRun(client, config, runbook, paramsFor(runbook, args), 'cli', undefined, { dryRun });
        out(`${r.started ? (dryRun ? 'dry run started' : 'started') : 'already open, recorded as seen again'}: ${r.workflowId}`, r);
        return 0;
      }
      case 'runs':
      case 'list': {
        if (rest.length !== 0) throw new UsageError('usage: medic runs [--status S] [--runbook R]');
        const runs = await listRuns(client, { status: values.status, runbook: values.runbook });
        out(formatRuns(runs), runs);
        return 0;
      }
      case 'show':
      case 'status': {
        const d = await describeRun(client, oneRun(rest, `medic ${command} <run>`));
        out(formatDescription(d), d);
        return 0;
      }
      case 'history': {
        const h = await runHistory(client, oneRun(rest, 'medic history <run>'));
        out(formatHistory(h), h);
        return 0;
      }
      case 'watch':
        return await watch(client, oneRun(rest, 'medic watch <run>'), values.json === true);
      case 'approve': {
        const id = oneRun(rest, 'medic approve <run> --by NAME [--choice X] [--comment T]');
        const rec = await sendDecision(client, id, checkDecision({ action: 'approve', by: values.by, choice: values.choice, comment: values.comment }));
        out(`accepted: approve by ${rec.by}${rec.choice ? ` (choice ${rec.choice})` : ''}`, rec);
        return 0;
      }
      case 'reject': {
        const id = oneRun(rest, 'medic reject <run> --by NAME --reason T');
        if (!values.reason) throw new UsageError('usage: medic reject <run> --by NAME --reason T (the reason is required)');
        const rec = await sendDecision(client, id, checkDecision({ action: 'reject', by: values.by, comment: values.reason }));
        out(`accepted: reject by ${rec.by}`, rec);
        return 0;
      }
      case 'decide': {
        const [id, action, ...extra] = rest;
        if (!id || !action || extra.length > 0) throw new UsageError('usage: medic decide <run> retry|resolved|abort --by NAME [--choice run-again] [--comment T]');
        const rec = await sendDecision(client, id, checkDecision({ action, by: values.by, choice: values.choice, comment: values.comment }, ['retry', 'resolved', 'abort']));
        out(`accepted: ${rec.action} by ${rec.by}`, rec);
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`medic: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(err instanceof UsageError || err instanceof BadRequest ? 2 : 1);
    },
  );
}
