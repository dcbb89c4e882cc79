#!/usr/bin/env node
/**
 * medic: the operator's command line. Talks to Temporal directly (TEMPORAL_* settings, else the
 * embedded server on 127.0.0.1:7233) and reads the same configuration file as the service.
 *
 *   medic alert '<check_mk line>'                start the runbook an alert line routes to
 *   medic start <runbook> <key=value|target>...  start a runbook by hand
 *   medic status <runbook>/<target>              the run's state and its steps
 *   medic decide <runbook>/<target> <retry|resolved|abort|approve|reject> --by NAME [--choice X] [--comment TEXT]
 *   medic list                                   open and recent runs
 * Every command takes --json and --config FILE.
 */
import { parseArgs } from 'node:util';
import { Client, Connection, WorkflowUpdateFailedError } from '@temporalio/client';
import { configPathFrom, loadConfig } from '../config/load';
import { classifyCheckMk, parseCheckMkLine } from '../parsers/checkmk';
import { decideUpdate, RunState, stateQuery, type Decision } from '../workflows/definitions';
import { connectConfig } from './connection';
import { isRunbook, startRun } from './runbooks';

class UsageError extends Error {}

/** Positional shorthand: `kust-replica cox-1` means service cox, instance cox-1. */
function paramsFor(runbook: string, args: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq > 0) params[a.slice(0, eq)] = a.slice(eq + 1);
    else if (runbook === 'kust-replica') Object.assign(params, { instance: a, service: a.replace(/-\d+$/, '') });
    else throw new UsageError(`${runbook}: give parameters as key=value`);
  }
  return params;
}

export function formatState(s: RunState): string {
  const lines = [`${s.runbook} ${s.target}: ${s.status}${s.outcome ? ` (${s.outcome})` : ''}${s.currentStep ? `, at "${s.currentStep}"` : ''}`];
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

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, config: { type: 'string' }, by: { type: 'string' }, choice: { type: 'string' }, comment: { type: 'string' } },
  });
  const [command, ...rest] = positionals;
  const out = (human: string, data: unknown) => console.log(values.json ? JSON.stringify(data, null, 2) : human);
  if (!command) throw new UsageError('usage: medic <alert|start|status|decide|list> ... (see the README)');

  const { connectionOptions, namespace: envNamespace } = connectConfig();
  const config = loadConfig(values.config ?? configPathFrom([]));
  const connection = await Connection.connect(connectionOptions);
  const client = new Client({ connection, namespace: envNamespace ?? config.service.namespace });
  try {
    switch (command) {
      case 'alert': {
        if (rest.length !== 1) throw new UsageError("usage: medic alert '<check_mk line>'");
        const line = parseCheckMkLine(rest[0]);
        if (!line.ok) throw new UsageError(`not a check_mk line: ${line.error}`);
        const route = classifyCheckMk(line.value);
        if (!route.ok) throw new UsageError(`not routable: ${route.error}`);
        const r = await startRun(client, config, route.value.runbook, route.value.params as Record<string, unknown>, 'cli');
        out(`${r.started ? 'started' : 'already open, recorded as seen again'}: ${r.workflowId}`, r);
        return 0;
      }
      case 'start': {
        const [runbook, ...args] = rest;
        if (!runbook || !isRunbook(runbook)) throw new UsageError(`usage: medic start <runbook> <params...>; unknown runbook ${runbook ?? ''}`);
        const r = await startRun(client, config, runbook, paramsFor(runbook, args), 'cli');
        out(`${r.started ? 'started' : 'already open, recorded as seen again'}: ${r.workflowId}`, r);
        return 0;
      }
      case 'status': {
        if (rest.length !== 1) throw new UsageError('usage: medic status <runbook>/<target>');
        const state = await client.workflow.getHandle(rest[0]).query(stateQuery);
        out(formatState(state), state);
        return 0;
      }
      case 'decide': {
        const [id, action] = rest;
        if (!id || !action || !values.by) throw new UsageError('usage: medic decide <runbook>/<target> <action> --by NAME [--choice X] [--comment TEXT]');
        const decision: Decision = { action: action as Decision['action'], by: values.by, choice: values.choice, comment: values.comment };
        try {
          const rec = await client.workflow.getHandle(id).executeUpdate(decideUpdate, { args: [decision] });
          out(`accepted: ${rec.action} by ${rec.by}`, rec);
          return 0;
        } catch (err) {
          if (err instanceof WorkflowUpdateFailedError) throw new UsageError(`refused: ${err.cause?.message ?? err.message}`);
          throw err;
        }
      }
      case 'list': {
        const runs = [];
        for await (const wf of client.workflow.list({ query: "Runbook != ''" })) {
          runs.push({ workflowId: wf.workflowId, status: wf.status.name, runStatus: wf.searchAttributes?.RunStatus?.[0], start: wf.startTime });
          if (runs.length >= 200) break;
        }
        out(runs.map((r) => `${r.workflowId}  ${r.runStatus ?? r.status}  ${r.start.toISOString()}`).join('\n') || '(no runs)', runs);
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
      process.exit(err instanceof UsageError ? 2 : 1);
    },
  );
}
