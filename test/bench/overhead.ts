/**
 * Item 2: orchestration overhead per step. kust-replica (2 commands) and tarantool-replica (6 commands,
 * 4 waits) end to end with every wait set to 0: from the start (POST /v1/runs) to the run's result,
 * minus the sum of its commands' own times on the host (bench log), divided by the number of commands.
 */
import { temporal } from '@temporalio/proto';
import { benchTarget, BenchEnv, nowMs, stats } from './harness';

const EventType = temporal.api.enums.v1.EventType;

export interface RunbookOverhead {
  runbook: string;
  commands: number;
  endToEnd: ReturnType<typeof stats>;
  commandsOwn: ReturnType<typeof stats>;
  perStep: ReturnType<typeof stats>;
  /** Where a run's time went (`profile`): per part, the median over the runs of its ms in one run. */
  parts?: { part: string; p50: number }[];
}

/**
 * The parts of a run, in the order a step meets them. Each gap between two consecutive points of a run (its
 * history events on the server's clock, its commands' start and end on the host's, the POST and the result on
 * the bench's; one machine, one clock) is counted in the part of the pair it lies between.
 */
export const PARTS = [
  'start: POST to the first workflow task',
  'workflow task: the worker runs the workflow code, the server records its commands',
  'activity dispatched to its command starting on the host (worker, SSH channel, the host\'s sh wrapper)',
  "the commands' own time",
  'command ended to its completion recorded (SSH, worker, server)',
  'activity completed to the next workflow task starting (server: history, matching)',
  'durable timers (waits of 1 ms)',
  'run closed to the result seen by the client',
] as const;

function partOf(from: string, to: string): (typeof PARTS)[number] | undefined {
  if (from === 'POST') return PARTS[0];
  if (from === 'WORKFLOW_TASK_STARTED' && to === 'WORKFLOW_TASK_COMPLETED') return PARTS[1];
  if (from === 'ACTIVITY_TASK_STARTED' && to === 'cmd start') return PARTS[2];
  if (from === 'cmd start' && to === 'cmd end') return PARTS[3];
  if (from === 'cmd end' && to === 'ACTIVITY_TASK_COMPLETED') return PARTS[4];
  if (from === 'ACTIVITY_TASK_COMPLETED' || (from === 'WORKFLOW_TASK_SCHEDULED' && to === 'WORKFLOW_TASK_STARTED')) return PARTS[5];
  if (from === 'TIMER_STARTED' || from === 'TIMER_FIRED') return PARTS[6];
  if (to === 'result seen') return PARTS[7];
  if (from === 'WORKFLOW_EXECUTION_STARTED' || (from === 'WORKFLOW_TASK_SCHEDULED' && to !== 'WORKFLOW_TASK_STARTED')) return PARTS[0];
  return undefined; // events recorded together (one workflow task's commands): no time between them
}

const tsMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/**
 * A finished run's points in time, in order: the POST (`t0`), its history events (server clock), its commands'
 * start and end (host clock), `extra` points of the caller's, and the result seen (`seen`); one machine, one clock.
 */
export async function runPoints(env: BenchEnv, workflowId: string, t0: number, seen: number, cmds: { startMs: number; endMs: number }[], extra: { at: number; what: string }[] = []): Promise<{ at: number; what: string }[]> {
  const hist = await env.client.workflow.getHandle(workflowId).fetchHistory();
  const points: { at: number; what: string }[] = [{ at: t0, what: 'POST' }, ...extra];
  for (const e of hist.events ?? []) points.push({ at: tsMs(e.eventTime), what: EventType[e.eventType ?? 0].replace(/^EVENT_TYPE_/, '') });
  for (const c of cmds) points.push({ at: c.startMs, what: 'cmd start' }, { at: c.endMs, what: 'cmd end' });
  points.push({ at: seen, what: 'result seen' });
  return points.sort((a, b) => a.at - b.at);
}

/** One run's ms per part; `other` holds what no part names. */
async function profileRun(env: BenchEnv, workflowId: string, t0: number, seen: number, cmds: { startMs: number; endMs: number }[]): Promise<Map<string, number>> {
  const points = await runPoints(env, workflowId, t0, seen, cmds);
  const out = new Map<string, number>();
  for (let k = 1; k < points.length; k++) {
    const part = partOf(points[k - 1].what, points[k].what) ?? 'other';
    out.set(part, (out.get(part) ?? 0) + points[k].at - points[k - 1].at);
  }
  return out;
}

export const OVERHEAD_RUNBOOKS = [
  { runbook: 'kust-replica', commands: 2 },
  { runbook: 'tarantool-replica', commands: 6 },
] as const;

/** One run of `runbook` for target n, through the API, awaited: wall ms and the commands' own ms (and, with `profile`, its parts). */
export async function runOnce(env: BenchEnv, runbook: string, n: number, prefix: string, profile = false): Promise<{ wallMs: number; ownMs: number; commands: number; parts?: Map<string, number> }> {
  const { service, instance } = benchTarget(n, prefix);
  const workflowId = `${runbook}/${instance}`;
  const t0 = nowMs();
  const res = await fetch(`${env.apiUrl}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.tokens.operator}`, 'content-type': 'application/json' },
    body: JSON.stringify({ runbook, params: { service, instance } }),
  });
  if (res.status !== 201) throw new Error(`start ${runbook} ${instance}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
  const result = (await env.client.workflow.getHandle(workflowId).result()) as { outcome: string };
  const seen = nowMs();
  const wallMs = seen - t0;
  if (result.outcome !== 'repaired') throw new Error(`${workflowId} ended ${JSON.stringify(result)}`);
  env.log.poll();
  const mine = env.log.calls.filter((c) => c.argv.some((a) => a === service || a === instance || a.endsWith(`.${instance}`)));
  // The history is read after the run, outside the time measured.
  const parts = profile ? await profileRun(env, workflowId, t0, seen, mine) : undefined;
  return { wallMs, ownMs: mine.reduce((s, c) => s + (c.endMs - c.startMs), 0), commands: mine.length, parts };
}

export async function benchOverhead(env: BenchEnv, opts: { runs: number; prefix: string; warmUp?: number; runbooks?: readonly string[]; profile?: boolean }): Promise<RunbookOverhead[]> {
  const out: RunbookOverhead[] = [];
  for (const { runbook, commands } of OVERHEAD_RUNBOOKS.filter((r) => !opts.runbooks || opts.runbooks.includes(r.runbook))) {
    const prefix = `${opts.prefix}${runbook[0]}`; // a service of its own per runbook (the commands are told apart by it)
    for (let i = 0; i < (opts.warmUp ?? 3); i++) await runOnce(env, runbook, 800_000 + i, `${prefix}w`); // warm-up
    const wall: number[] = [];
    const own: number[] = [];
    const per: number[] = [];
    const parts = new Map<string, number[]>();
    for (let i = 1; i <= opts.runs; i++) {
      const r = await runOnce(env, runbook, i, prefix, opts.profile);
      for (const [part, ms] of r.parts ?? []) parts.set(part, [...(parts.get(part) ?? []), ms]);
      if (r.commands !== commands) throw new Error(`${runbook} run ${i}: ${r.commands} commands in the bench log, expected ${commands}`);
      wall.push(r.wallMs);
      own.push(r.ownMs);
      per.push((r.wallMs - r.ownMs) / commands);
    }
    // A part missing from a run counts 0 in it; `other` (time between points no part names) is shown when any run had it.
    const medianOf = (part: string) => stats([...(parts.get(part) ?? []), ...Array(opts.runs - (parts.get(part)?.length ?? 0)).fill(0)]).p50;
    const named = opts.profile ? [...PARTS, ...(parts.has('other') ? ['other'] : [])].map((part) => ({ part, p50: medianOf(part) })) : undefined;
    out.push({ runbook, commands, endToEnd: stats(wall), commandsOwn: stats(own), perStep: stats(per), ...(named ? { parts: named } : {}) });
  }
  return out;
}
