/**
 * The operator's read side (and decisions), shared by the `medic` CLI and the HTTP API:
 *   - run IDs checked before they reach Temporal;
 *   - `listRuns`: a visibility query on the Runbook / RunStatus search attributes;
 *   - `describeRun`: Temporal's description plus the run's state (the `state` query for an open run,
 *     the result for a completed one);
 *   - `runHistory`: a run's timeline rebuilt from its event history alone (commands with hosts,
 *     exit codes and output excerpts, timers, decisions, signals, the result), so it works for any
 *     run, finished or not, with no worker running;
 *   - `sendDecision`: a decision as the validated `decide` Update (signed for the pending decision when
 *     given a signer); a refusal changes nothing.
 */
import { Client, WorkflowExecutionDescription, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { arrayFromPayloads, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import type { ExecResult, Notification, RunCommandRequest } from '../activities';
import { decideUpdate, Decision, DecisionProof, DecisionRecord, Pending, RunbookKey, RunResult, RunState, RunStatus, RunStatusKey, stateQuery, TargetKey } from '../workflows/definitions';
import { BadRequest, isRunbook, RUNBOOKS } from './runbooks';

/** The run does not exist (or the ID names no runbook of this service). */
export class NoSuchRun extends Error {}
/** The run exists but cannot take this request (closed, or a decision the run refused). */
export class Conflict extends Error {}

// ---- run IDs ----

const TARGET = /^[A-Za-z0-9_.:@-]{1,128}$/;

/** `<runbook>/<target>` or `dry-run/<runbook>/<target>`; anything else is refused before Temporal sees it. */
export function checkRunId(raw: string): string {
  if (typeof raw !== 'string' || raw.length > 300) throw new BadRequest('malformed run ID (expected <runbook>/<target> or dry-run/<runbook>/<target>)');
  const parts = raw.split('/');
  const [runbook, target] = parts[0] === 'dry-run' ? parts.slice(1) : parts;
  if (parts.length !== (parts[0] === 'dry-run' ? 3 : 2) || !runbook || !target || !TARGET.test(target)) {
    throw new BadRequest(`malformed run ID ${JSON.stringify(raw.slice(0, 80))} (expected <runbook>/<target> or dry-run/<runbook>/<target>)`);
  }
  if (!isRunbook(runbook)) throw new NoSuchRun(`no such run: ${raw} (no runbook ${runbook}; known: ${Object.keys(RUNBOOKS).join(', ')})`);
  return raw;
}

// ---- listing ----

export const RUN_STATUSES: readonly RunStatus[] = ['running', 'waiting', 'awaiting-approval', 'escalated', 'completed', 'failed', 'aborted'];
const OPEN_STATUSES: readonly RunStatus[] = ['running', 'waiting', 'awaiting-approval', 'escalated'];

export interface RunSummary {
  workflowId: string;
  runId: string;
  runbook?: string;
  target?: string;
  /** The run's own status (RunStatus); `failed` for runs that Temporal failed, terminated, timed out or cancelled. */
  status: string;
  temporalStatus: string;
  startTime: string;
  closeTime?: string;
}

/**
 * The visibility query for a status: an open status also requires the execution to be running (a run
 * terminated while escalated keeps its last RunStatus); `failed` means Temporal ended it abnormally.
 */
export function runsQuery(filter: { status?: string; runbook?: string }): string {
  const clauses = ["Runbook != ''"];
  if (filter.runbook !== undefined) {
    if (!isRunbook(filter.runbook)) throw new BadRequest(`unknown runbook ${JSON.stringify(filter.runbook.slice(0, 80))} (known: ${Object.keys(RUNBOOKS).join(', ')})`);
    clauses.push(`Runbook = '${filter.runbook}'`);
  }
  if (filter.status !== undefined) {
    const s = filter.status as RunStatus;
    if (!RUN_STATUSES.includes(s)) throw new BadRequest(`unknown status ${JSON.stringify(filter.status.slice(0, 80))} (one of ${RUN_STATUSES.join(', ')})`);
    if (OPEN_STATUSES.includes(s)) clauses.push(`RunStatus = '${s}'`, `ExecutionStatus = 'Running'`);
    else if (s === 'failed') clauses.push(`(ExecutionStatus = 'Failed' OR ExecutionStatus = 'Terminated' OR ExecutionStatus = 'TimedOut' OR ExecutionStatus = 'Canceled')`);
    else clauses.push(`RunStatus = '${s}'`, `ExecutionStatus = 'Completed'`);
  }
  return clauses.join(' AND ');
}

function runStatusOf(temporalStatus: string, runStatus: string | undefined): string {
  if (temporalStatus === 'RUNNING' || temporalStatus === 'COMPLETED') return runStatus ?? temporalStatus.toLowerCase();
  return 'failed';
}

export async function listRuns(client: Client, filter: { status?: string; runbook?: string; limit?: number } = {}): Promise<RunSummary[]> {
  return listRunsWhere(client, runsQuery(filter), filter.limit ?? 200);
}

/** Runs matching a visibility query (built from checked values only), at most `limit`. */
export async function listRunsWhere(client: Client, query: string, limit: number): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  for await (const wf of client.workflow.list({ query, pageSize: Math.min(limit, 1000) })) {
    runs.push({
      workflowId: wf.workflowId,
      runId: wf.runId,
      runbook: wf.typedSearchAttributes.get(RunbookKey),
      target: wf.typedSearchAttributes.get(TargetKey),
      status: runStatusOf(wf.status.name, wf.typedSearchAttributes.get(RunStatusKey)),
      temporalStatus: wf.status.name,
      startTime: wf.startTime.toISOString(),
      closeTime: wf.closeTime?.toISOString(),
    });
    if (runs.length >= limit) break;
  }
  return runs;
}

export function formatRuns(runs: RunSummary[]): string {
  if (runs.length === 0) return '(no runs)';
  return runs.map((r) => `${r.workflowId.padEnd(36)} ${r.status.padEnd(18)} ${r.startTime}${r.closeTime ? ` -> ${r.closeTime}` : ''}`).join('\n');
}

// ---- one run ----

export interface RunDescription {
  workflowId: string;
  runId: string;
  workflowType: string;
  temporalStatus: string;
  status: string;
  startTime: string;
  closeTime?: string;
  historyLength: number;
  /** The run's state: the `state` query (open runs), the result (completed runs); absent if neither answered. */
  state?: RunState;
  stateFrom?: 'query' | 'result';
  note?: string;
}

async function describe(client: Client, workflowId: string): Promise<WorkflowExecutionDescription> {
  try {
    return await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new NoSuchRun(`no such run: ${workflowId}`);
    throw err;
  }
}

/** Reads a run; `queryTimeoutMs` bounds the state query (it needs a worker). */
export async function describeRun(client: Client, id: string, queryTimeoutMs = 5000): Promise<RunDescription> {
  const workflowId = checkRunId(id);
  const d = await describe(client, workflowId);
  const out: RunDescription = {
    workflowId,
    runId: d.runId,
    workflowType: d.type,
    temporalStatus: d.status.name,
    status: runStatusOf(d.status.name, d.typedSearchAttributes.get(RunStatusKey)),
    startTime: d.startTime.toISOString(),
    closeTime: d.closeTime?.toISOString(),
    historyLength: d.historyLength,
  };
  const handle = client.workflow.getHandle(workflowId, d.runId);
  if (d.status.name === 'COMPLETED') {
    const r = (await handle.result()) as RunResult;
    return { ...out, state: r.state, stateFrom: 'result' };
  }
  if (d.status.name !== 'RUNNING') return { ...out, note: `the run ended ${d.status.name.toLowerCase()}; see its history` };
  try {
    const state = await client.connection.withDeadline(Date.now() + queryTimeoutMs, () => handle.query(stateQuery));
    return { ...out, state, stateFrom: 'query' };
  } catch (err) {
    return { ...out, note: `the state query got no answer (is a worker running?): ${(err as Error).message}` };
  }
}

// ---- decisions ----

const ACTIONS = ['retry', 'resolved', 'abort', 'approve', 'reject'] as const;
/** A decision needs the run's worker to answer; past this the caller gets an error (the decision may still land). */
const DECISION_TIMEOUT_MS = 30_000;
const OPERATOR = /^[A-Za-z0-9_.@-]{1,64}$/;

/** Checks a decision's shape (the run itself checks it against what is pending and the approver list). */
export function checkDecision(d: Record<string, unknown>, allowed: readonly string[] = ACTIONS): Decision {
  if (typeof d.action !== 'string' || !allowed.includes(d.action)) throw new BadRequest(`"action" must be one of ${allowed.join(', ')}`);
  if (typeof d.by !== 'string' || !OPERATOR.test(d.by)) throw new BadRequest('"by" (the operator\'s name: letters, digits, _ . @ -) is required');
  if (d.choice !== undefined && (typeof d.choice !== 'string' || d.choice.length > 256)) throw new BadRequest('"choice" must be a string');
  if (d.comment !== undefined && (typeof d.comment !== 'string' || d.comment.length > 2000)) throw new BadRequest('"comment" must be a string of at most 2000 characters');
  for (const key of Object.keys(d)) if (!['action', 'by', 'choice', 'comment'].includes(key)) throw new BadRequest(`unknown field ${JSON.stringify(key.slice(0, 40))}`);
  return {
    action: d.action as Decision['action'],
    by: d.by,
    ...(d.choice !== undefined ? { choice: d.choice as string } : {}),
    ...(d.comment !== undefined ? { comment: d.comment as string } : {}),
  };
}

/**
 * Signs a decision for the pending decision it answers (worker/decision-keys.ts DecisionKeys.signer): runs
 * started with `settings.identity` accept only decisions that carry such a proof.
 */
export type DecisionSigner = (decision: Decision, workflowId: string, pending: Pending) => DecisionProof;

/** The decision the run waits for now (the `state` query of an open run), or undefined. */
export async function pendingDecision(client: Client, id: string): Promise<Pending | undefined> {
  const workflowId = checkRunId(id);
  const state = await client.connection.withDeadline(Date.now() + DECISION_TIMEOUT_MS, () => client.workflow.getHandle(workflowId).query(stateQuery));
  return state.pending;
}

/**
 * Sends a decision as the `decide` Update: accepted (recorded), or refused with the run's reason (nothing
 * recorded). With `signer`, the decision goes with its proof for the decision pending now.
 */
export async function sendDecision(client: Client, id: string, decision: Decision, signer?: DecisionSigner): Promise<DecisionRecord> {
  const workflowId = checkRunId(id);
  const d = await describe(client, workflowId);
  if (d.status.name !== 'RUNNING') throw new Conflict(`refused: the run ${workflowId} is closed (${d.status.name.toLowerCase()}); no decision is pending`);
  let sent = decision;
  if (signer) {
    const pending = await pendingDecision(client, workflowId);
    // The run's own words for it (workflows/run.ts): there is nothing a proof could be bound to.
    if (!pending) throw new Conflict('refused: no decision is pending in this run');
    sent = { ...decision, proof: signer(decision, workflowId, pending) };
  }
  try {
    return await client.connection.withDeadline(Date.now() + DECISION_TIMEOUT_MS, () => client.workflow.getHandle(workflowId).executeUpdate(decideUpdate, { args: [sent] }));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new Conflict(`refused: ${err.cause?.message ?? err.message}`);
    if (err instanceof WorkflowNotFoundError) throw new Conflict(`refused: the run ${workflowId} closed meanwhile`);
    const cause = (err as Error).cause instanceof Error ? `: ${((err as Error).cause as Error).message}` : '';
    throw new Error(`no answer from the run ${workflowId} within ${DECISION_TIMEOUT_MS / 1000} s (is a worker running?); the decision may still be applied when it runs, check with medic show: ${(err as Error).message}${cause}`);
  }
}

// ---- the timeline, from the event history ----

export interface TimelineEntry {
  n: number;
  kind: 'started' | 'command' | 'notification' | 'timer' | 'decision' | 'signal' | 'status' | 'closed';
  /** When it began (scheduled / started / received), ISO. */
  at: string;
  endedAt?: string;
  /** The step's name (the activity's or timer's summary), when recorded. */
  name?: string;
  host?: string;
  argv?: string[];
  /** The command read standard input. */
  stdin?: boolean;
  /** The command line as run (quoted). */
  command?: string;
  exitCode?: number | null;
  timedOut?: boolean;
  disconnected?: boolean;
  /** Output excerpt (tail). */
  output?: string;
  attempts?: number;
  error?: string;
  /** Timers: duration and when it fires; fired, or cancelled (a decision came first). */
  durationMs?: number;
  firesAt?: string;
  timer?: 'pending' | 'fired' | 'cancelled';
  /** Decisions (Update, or the `decision` signal) and other signals. */
  via?: 'update' | 'signal';
  decision?: Decision;
  accepted?: boolean;
  refusal?: string;
  signal?: string;
  detail?: unknown;
  /** Notifications. */
  notification?: { kind: string; text: string; step?: string; reason?: string; delivered?: boolean };
  /** Status changes (RunStatus search attribute) and the end. */
  status?: string;
  outcome?: string;
  summary?: string;
  input?: Record<string, unknown>;
  source?: string;
}

export interface RunHistory {
  workflowId: string;
  runId: string;
  workflowType?: string;
  closed: boolean;
  /** Temporal's close status when closed: COMPLETED, FAILED, TERMINATED, ... */
  closeStatus?: string;
  outcome?: string;
  summary?: string;
  events: number;
  entries: TimelineEntry[];
}

const OUTPUT_EXCERPT = 2000;

function decodeAll(payloads: Payload[] | null | undefined): unknown[] {
  try {
    return arrayFromPayloads(defaultPayloadConverter, payloads);
  } catch {
    return ['(undecodable payload)'];
  }
}

function decodeOne(payload: Payload | null | undefined): unknown {
  if (!payload) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(payload);
  } catch {
    return '(undecodable payload)';
  }
}

const iso = (ts: temporal.api.history.v1.IHistoryEvent['eventTime']) => new Date(tsToMs(ts)).toISOString();
const durationMs = (d: { seconds?: unknown; nanos?: number | null } | null | undefined) => (d ? Number(d.seconds ?? 0) * 1000 + Math.round((d.nanos ?? 0) / 1e6) : 0);

function tail(text: string): string {
  return text.length > OUTPUT_EXCERPT ? `...${text.slice(-OUTPUT_EXCERPT)}` : text;
}

function failureText(f: temporal.api.failure.v1.IFailure | null | undefined): string {
  const parts: string[] = [];
  for (let cur = f; cur && parts.length < 4; cur = cur.cause) if (cur.message) parts.push(cur.message);
  return parts.join(': ') || 'failed';
}

/** Rebuilds a run's timeline from its event history (the latest run of the ID unless `runId` is given). */
export async function runHistory(client: Client, id: string, runId?: string): Promise<RunHistory> {
  const workflowId = checkRunId(id);
  let events: temporal.api.history.v1.IHistoryEvent[];
  let resolvedRunId = runId;
  try {
    const handle = client.workflow.getHandle(workflowId, runId);
    if (!resolvedRunId) resolvedRunId = (await handle.describe()).runId;
    events = (await client.workflow.getHandle(workflowId, resolvedRunId).fetchHistory()).events ?? [];
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new NoSuchRun(`no such run: ${workflowId}`);
    throw err;
  }
  return timelineOf(workflowId, resolvedRunId ?? '', events);
}

/** The pure part: events -> timeline. */
export function timelineOf(workflowId: string, runId: string, events: temporal.api.history.v1.IHistoryEvent[]): RunHistory {
  const out: RunHistory = { workflowId, runId, closed: false, events: events.length, entries: [] };
  const byScheduled = new Map<string, TimelineEntry>();
  const timers = new Map<string, TimelineEntry>();
  const updates = new Map<string, TimelineEntry>();
  const add = (e: Omit<TimelineEntry, 'n'>): TimelineEntry => {
    const entry = { n: out.entries.length + 1, ...e } as TimelineEntry;
    out.entries.push(entry);
    return entry;
  };
  let lastStatus: string | undefined;

  for (const ev of events) {
    const at = iso(ev.eventTime);
    const id = String(ev.eventId);
    const summary = decodeOne(ev.userMetadata?.summary);
    const name = typeof summary === 'string' ? summary : undefined;

    if (ev.workflowExecutionStartedEventAttributes) {
      const a = ev.workflowExecutionStartedEventAttributes;
      out.workflowType = a.workflowType?.name ?? undefined;
      const [input] = decodeAll(a.input?.payloads) as [Record<string, unknown> | undefined];
      const { settings, ...params } = input ?? {};
      const s = (settings ?? {}) as { dryRun?: boolean; recentRepairAt?: string };
      const source = decodeOne(a.memo?.fields?.source);
      add({
        kind: 'started',
        at,
        name: out.workflowType,
        input: { ...params, ...(s.dryRun ? { dryRun: true } : {}), ...(s.recentRepairAt ? { recentRepairAt: s.recentRepairAt } : {}) },
        ...(typeof source === 'string' ? { source } : {}),
      });
    } else if (ev.activityTaskScheduledEventAttributes) {
      const a = ev.activityTaskScheduledEventAttributes;
      const [req] = decodeAll(a.input?.payloads);
      if (a.activityType?.name === 'runCommand') {
        const r = (req ?? {}) as Partial<RunCommandRequest>;
        byScheduled.set(id, add({ kind: 'command', at, name, host: r.host, argv: r.argv, ...(r.stdin !== undefined ? { stdin: true } : {}) }));
      } else if (a.activityType?.name === 'notify') {
        const n = (req ?? {}) as Partial<Notification>;
        byScheduled.set(id, add({ kind: 'notification', at, name, notification: { kind: String(n.kind), text: String(n.text), step: n.step, reason: n.reason } }));
      } else {
        byScheduled.set(id, add({ kind: 'command', at, name: name ?? a.activityType?.name ?? 'activity' }));
      }
    } else if (ev.activityTaskStartedEventAttributes) {
      const a = ev.activityTaskStartedEventAttributes;
      const entry = byScheduled.get(String(a.scheduledEventId));
      if (entry) {
        entry.attempts = a.attempt ?? 1;
        if (a.lastFailure && (a.attempt ?? 1) > 1) entry.error = `attempt ${(a.attempt ?? 1) - 1} failed: ${failureText(a.lastFailure)}`;
      }
    } else if (ev.activityTaskCompletedEventAttributes) {
      const a = ev.activityTaskCompletedEventAttributes;
      const entry = byScheduled.get(String(a.scheduledEventId));
      if (!entry) continue;
      entry.endedAt = at;
      const [result] = decodeAll(a.result?.payloads);
      if (entry.kind === 'command' && result && typeof result === 'object') {
        const r = result as Partial<ExecResult>;
        entry.command = r.command;
        entry.exitCode = r.exitCode ?? null;
        if (r.timedOut) entry.timedOut = true;
        if (r.disconnected) entry.disconnected = true;
        entry.output = tail(`${r.stdout ?? ''}${r.stderr ? `${r.stdout ? '\n' : ''}[stderr]\n${r.stderr}` : ''}`);
      } else if (entry.notification) {
        entry.notification.delivered = (result as { delivered?: boolean } | undefined)?.delivered;
      }
    } else if (ev.activityTaskFailedEventAttributes || ev.activityTaskTimedOutEventAttributes || ev.activityTaskCanceledEventAttributes) {
      const a = ev.activityTaskFailedEventAttributes ?? ev.activityTaskTimedOutEventAttributes ?? ev.activityTaskCanceledEventAttributes;
      const entry = byScheduled.get(String(a?.scheduledEventId));
      if (!entry) continue;
      entry.endedAt = at;
      entry.error = ev.activityTaskCanceledEventAttributes ? 'cancelled' : failureText((a as { failure?: temporal.api.failure.v1.IFailure | null }).failure);
    } else if (ev.timerStartedEventAttributes) {
      const a = ev.timerStartedEventAttributes;
      const ms = durationMs(a.startToFireTimeout);
      timers.set(String(a.timerId), add({ kind: 'timer', at, name, durationMs: ms, firesAt: new Date(Date.parse(at) + ms).toISOString(), timer: 'pending' }));
    } else if (ev.timerFiredEventAttributes || ev.timerCanceledEventAttributes) {
      const a = ev.timerFiredEventAttributes ?? ev.timerCanceledEventAttributes;
      const entry = timers.get(String(a?.timerId));
      if (!entry) continue;
      entry.endedAt = at;
      entry.timer = ev.timerFiredEventAttributes ? 'fired' : 'cancelled';
    } else if (ev.workflowExecutionUpdateAcceptedEventAttributes) {
      const a = ev.workflowExecutionUpdateAcceptedEventAttributes;
      const [arg] = decodeAll(a.acceptedRequest?.input?.args?.payloads);
      const entry = add({ kind: 'decision', at, via: 'update', name: a.acceptedRequest?.input?.name ?? undefined, decision: arg as Decision });
      updates.set(String(ev.eventId), entry);
    } else if (ev.workflowExecutionUpdateCompletedEventAttributes) {
      const a = ev.workflowExecutionUpdateCompletedEventAttributes;
      const entry = updates.get(String(a.acceptedEventId));
      if (!entry) continue;
      entry.endedAt = at;
      if (a.outcome?.success) {
        const [rec] = decodeAll(a.outcome.success.payloads) as [DecisionRecord | undefined];
        entry.accepted = rec?.accepted ?? true;
      } else if (a.outcome?.failure) {
        entry.accepted = false;
        entry.refusal = failureText(a.outcome.failure);
      }
    } else if (ev.workflowExecutionSignaledEventAttributes) {
      const a = ev.workflowExecutionSignaledEventAttributes;
      const args = decodeAll(a.input?.payloads);
      if (a.signalName === 'decision') add({ kind: 'decision', at, via: 'signal', decision: args[0] as Decision });
      else add({ kind: 'signal', at, signal: a.signalName ?? undefined, detail: args.length === 1 ? args[0] : args });
    } else if (ev.upsertWorkflowSearchAttributesEventAttributes) {
      const fields = ev.upsertWorkflowSearchAttributesEventAttributes.searchAttributes?.indexedFields ?? {};
      if (!fields.RunStatus) continue;
      const v = decodeOne(fields.RunStatus);
      const status = String(Array.isArray(v) ? v[0] : v);
      if (status !== lastStatus) add({ kind: 'status', at, status });
      lastStatus = status;
    } else if (ev.workflowExecutionCompletedEventAttributes) {
      const [result] = decodeAll(ev.workflowExecutionCompletedEventAttributes.result?.payloads) as [RunResult | undefined];
      Object.assign(out, { closed: true, closeStatus: 'COMPLETED', outcome: result?.outcome, summary: result?.summary });
      add({ kind: 'closed', at, status: result?.status ?? 'completed', outcome: result?.outcome, summary: result?.summary });
    } else if (ev.workflowExecutionFailedEventAttributes) {
      const summary = failureText(ev.workflowExecutionFailedEventAttributes.failure);
      Object.assign(out, { closed: true, closeStatus: 'FAILED', outcome: 'failed', summary });
      add({ kind: 'closed', at, status: 'failed', outcome: 'failed', summary });
    } else if (ev.workflowExecutionTerminatedEventAttributes) {
      const summary = `terminated: ${ev.workflowExecutionTerminatedEventAttributes.reason ?? ''}`.trim();
      Object.assign(out, { closed: true, closeStatus: 'TERMINATED', outcome: 'terminated', summary });
      add({ kind: 'closed', at, status: 'failed', outcome: 'terminated', summary });
    } else if (ev.workflowExecutionTimedOutEventAttributes || ev.workflowExecutionCanceledEventAttributes || ev.workflowExecutionContinuedAsNewEventAttributes) {
      const how = ev.workflowExecutionTimedOutEventAttributes ? 'TIMED_OUT' : ev.workflowExecutionCanceledEventAttributes ? 'CANCELED' : 'CONTINUED_AS_NEW';
      Object.assign(out, { closed: true, closeStatus: how, outcome: how.toLowerCase() });
      add({ kind: 'closed', at, status: 'failed', outcome: how.toLowerCase() });
    }
  }
  return out;
}

const seconds = (from: string, to?: string) => (to ? `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s` : 'not finished');

function indent(text: string, lines = 8): string[] {
  const all = text.replace(/\s+$/, '').split('\n');
  const shown = all.length > lines ? ['...', ...all.slice(-lines)] : all;
  return shown.filter((l) => l !== '' || all.length === 1).map((l) => `        | ${l}`);
}

/** The timeline for people: one line per step (time, host, command, exit code, duration), output excerpts indented. */
export function formatHistory(h: RunHistory): string {
  const head = `${h.workflowId} (${h.workflowType ?? '?'}, run ${h.runId}): ${h.closed ? `${h.closeStatus}${h.outcome ? `, ${h.outcome}` : ''}` : 'open'}`;
  const lines = [head];
  for (const e of h.entries) {
    const n = `${String(e.n).padStart(3)}. ${e.at}`;
    switch (e.kind) {
      case 'started': {
        const input = Object.entries(e.input ?? {})
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        lines.push(`${n}  started ${e.name ?? ''}${e.source ? ` (from ${e.source})` : ''}: ${input}`);
        break;
      }
      case 'command': {
        const result = e.exitCode !== undefined ? `exit ${e.exitCode ?? 'none'}${e.timedOut ? ' (timed out)' : ''}${e.disconnected ? ' (disconnected)' : ''}` : e.error ? `error: ${e.error}` : 'running';
        const attempts = e.attempts && e.attempts > 1 ? `, attempt ${e.attempts}` : '';
        lines.push(`${n}  ${e.name ?? 'command'} @${e.host ?? '?'}  $ ${(e.argv ?? []).join(' ')}${e.stdin ? ' <stdin' : ''}  -> ${result} (${seconds(e.at, e.endedAt)}${attempts})`);
        if (e.output) lines.push(...indent(e.output));
        break;
      }
      case 'notification':
        lines.push(`${n}  notify ${e.notification?.kind}: ${e.notification?.text}  -> ${e.endedAt ? (e.notification?.delivered === false ? 'not configured (logged)' : 'delivered') : e.error ? `failed: ${e.error}` : 'pending'}${e.attempts && e.attempts > 1 ? ` (attempt ${e.attempts})` : ''}`);
        break;
      case 'timer':
        lines.push(`${n}  timer${e.name ? `: ${e.name},` : ''} ${Math.round((e.durationMs ?? 0) / 1000)} s, fires ${e.firesAt}  -> ${e.timer}${e.endedAt && e.timer !== 'fired' ? ` at ${e.endedAt}` : ''}`);
        break;
      case 'decision':
        lines.push(`${n}  decision (${e.via}): ${e.decision?.action} by ${e.decision?.by}${e.decision?.choice ? ` choice ${e.decision.choice}` : ''}${e.decision?.comment ? `: ${e.decision.comment}` : ''}${e.accepted === true ? '  -> accepted' : e.accepted === false ? `  -> refused: ${e.refusal ?? ''}` : ''}`);
        break;
      case 'signal':
        lines.push(`${n}  signal ${e.signal}: ${JSON.stringify(e.detail)}`);
        break;
      case 'status':
        lines.push(`${n}  status -> ${e.status}`);
        break;
      case 'closed':
        lines.push(`${n}  closed: ${e.status}${e.outcome ? ` (${e.outcome})` : ''}${e.summary ? `: ${e.summary}` : ''}`);
        break;
    }
  }
  return lines.join('\n');
}
