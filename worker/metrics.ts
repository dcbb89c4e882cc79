/**
 * `GET /metrics` in the Prometheus text format. Everything is read from Temporal (its visibility store
 * and run results) when Prometheus scrapes, plus the alert intake's own counters; nothing is guessed.
 *
 *   medic_runs_started_total{runbook,dry_run}        counter: runs whose start this API process has seen in
 *                                                     visibility since it started (whoever started them)
 *   medic_runs_finished_total{runbook,outcome}       counter: runs that closed since this process started;
 *                                                     outcome = the run's outcome (repaired, nothing-to-do,
 *                                                     resolved-by-operator, aborted-by-operator, rejected,
 *                                                     resolved-before-repair, dry-run, escalated) or Temporal's
 *                                                     close status (failed, terminated, timed_out, canceled)
 *   medic_escalations_total{runbook}                 counter: escalations in the runs counted as finished
 *   medic_step_duration_seconds_{sum,count}{runbook,kind}  steps of the runs counted as finished, by kind
 *                                                     (command, wait, approval = time to a human's answer,
 *                                                     escalation = time to a decision)
 *   medic_runs_open{runbook,status}                  gauge: open runs by their RunStatus
 *   medic_approvals_pending / medic_escalations_pending   gauges: visibility count queries
 *   medic_alerts_total{result}                       counter: the alert intake of this process
 *   medic_temporal_up                                gauge: 1 if the last scrape's queries to Temporal succeeded
 * Counters restart from zero with the process (Prometheus' rate() handles that).
 */
import type { Client } from '@temporalio/client';
import type { IntakeCounters } from '../client/intake';
import { listRunsWhere, RunSummary } from '../client/history';
import { RUNBOOKS } from '../client/runbooks';
import type { RunResult } from '../workflows/definitions';

/** Visibility is eventually consistent: look this far behind the cursor, and remember what was counted. */
const LOOKBACK_MS = 2 * 60_000;

type Labels = Record<string, string>;
const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const key = (labels: Labels) => JSON.stringify(Object.entries(labels));

class Family {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly type: 'counter' | 'gauge' | 'summary',
    readonly help: string,
  ) {}
  add(labels: Labels, by = 1, suffix = ''): void {
    const k = suffix + key(labels);
    const cur = this.values.get(k);
    if (cur) cur.value += by;
    else this.values.set(k, { labels: { ...labels, __suffix: suffix }, value: by });
  }
  set(labels: Labels, value: number): void {
    this.values.set(key(labels), { labels: { ...labels, __suffix: '' }, value });
  }
  clear(): void {
    this.values.clear();
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, value } of this.values.values()) {
      const { __suffix, ...rest } = labels;
      const l = Object.entries(rest)
        .map(([k, v]) => `${k}="${esc(v)}"`)
        .join(',');
      lines.push(`${this.name}${__suffix}${l ? `{${l}}` : ''} ${value}`);
    }
    return lines;
  }
}

export class Metrics {
  private readonly since = Date.now();
  private startCursor = this.since;
  private closeCursor = this.since;
  private readonly countedStart = new Map<string, number>();
  private readonly countedClose = new Map<string, number>();
  private collecting?: Promise<void>;

  readonly started = new Family('medic_runs_started_total', 'counter', 'Runs started (seen in Temporal visibility since this API process started).');
  readonly finished = new Family('medic_runs_finished_total', 'counter', 'Runs closed since this API process started, by outcome.');
  readonly escalations = new Family('medic_escalations_total', 'counter', 'Escalations in the runs counted in medic_runs_finished_total.');
  readonly steps = new Family('medic_step_duration_seconds', 'summary', 'Durations of the steps of the runs counted in medic_runs_finished_total, by kind.');
  readonly open = new Family('medic_runs_open', 'gauge', 'Open runs by runbook and RunStatus.');
  readonly approvalsPending = new Family('medic_approvals_pending', 'gauge', 'Runs waiting for an approval (visibility count).');
  readonly escalationsPending = new Family('medic_escalations_pending', 'gauge', 'Escalated runs waiting for a decision (visibility count).');
  readonly alerts = new Family('medic_alerts_total', 'counter', 'Alerts taken by this API process, by what happened to them.');
  readonly temporalUp = new Family('medic_temporal_up', 'gauge', '1 if the last scrape could query Temporal.');

  constructor(
    private readonly client: Client,
    private readonly intake?: () => IntakeCounters,
  ) {
    for (const runbook of Object.keys(RUNBOOKS)) this.started.add({ runbook, dry_run: 'false' }, 0);
  }

  /** Brings the counters up to date (one collection at a time) and renders the exposition text. */
  async render(): Promise<string> {
    this.collecting ??= this.collect().finally(() => (this.collecting = undefined));
    await this.collecting;
    const counters = this.intake?.();
    this.alerts.clear();
    if (counters) for (const [result, n] of Object.entries(counters)) this.alerts.set({ result }, n);
    const families = [this.started, this.finished, this.escalations, this.steps, this.open, this.approvalsPending, this.escalationsPending, this.alerts, this.temporalUp];
    return `${families.flatMap((f) => f.render()).join('\n')}\n`;
  }

  private async collect(): Promise<void> {
    try {
      await this.collectStarted();
      await this.collectFinished();
      await this.collectOpen();
      this.temporalUp.set({}, 1);
    } catch {
      this.temporalUp.set({}, 0);
    }
  }

  /**
   * Runs whose start / close time is past the cursor (less the look-back) and not yet counted: `count`
   * each, then remember it; a failure midway leaves the rest for the next scrape. Returns the new cursor.
   */
  private async newRuns(query: string, field: 'startTime' | 'closeTime', counted: Map<string, number>, cursor: number, count: (r: RunSummary) => Promise<void> | void): Promise<number> {
    const from = new Date(Math.max(this.since, cursor - LOOKBACK_MS)).toISOString();
    const fieldName = field === 'startTime' ? 'StartTime' : 'CloseTime';
    let next = cursor;
    for (const r of await this.listAll(`${query} AND ${fieldName} >= '${from}'`)) {
      const t = Date.parse(r[field] ?? '');
      if (!(t >= this.since) || counted.has(r.runId)) continue;
      await count(r);
      counted.set(r.runId, t);
      next = Math.max(next, t);
    }
    for (const [id, t] of counted) if (t < next - 2 * LOOKBACK_MS) counted.delete(id);
    return next;
  }

  private listAll(query: string): Promise<RunSummary[]> {
    return listRunsWhere(this.client, query, 10_000);
  }

  private async collectStarted(): Promise<void> {
    this.startCursor = await this.newRuns("Runbook != ''", 'startTime', this.countedStart, this.startCursor, (r) => {
      this.started.add({ runbook: r.runbook ?? 'unknown', dry_run: String(r.workflowId.startsWith('dry-run/')) });
    });
  }

  private async collectFinished(): Promise<void> {
    this.closeCursor = await this.newRuns("Runbook != '' AND ExecutionStatus != 'Running'", 'closeTime', this.countedClose, this.closeCursor, async (r) => {
      const runbook = r.runbook ?? 'unknown';
      if (r.temporalStatus !== 'COMPLETED') {
        this.finished.add({ runbook, outcome: r.temporalStatus.toLowerCase() });
        return;
      }
      const result = (await this.client.workflow.getHandle(r.workflowId, r.runId).result()) as RunResult | undefined;
      this.finished.add({ runbook, outcome: result?.outcome ?? 'unknown' });
      for (const st of result?.state?.steps ?? []) {
        if (st.kind === 'escalation' && st.verdict !== 'would-run') this.escalations.add({ runbook });
        if (st.kind === 'note' || st.verdict === 'would-run' || !st.endedAt) continue;
        const seconds = (Date.parse(st.endedAt) - Date.parse(st.startedAt)) / 1000;
        if (!(seconds >= 0)) continue;
        this.steps.add({ runbook, kind: st.kind }, seconds, '_sum');
        this.steps.add({ runbook, kind: st.kind }, 1, '_count');
      }
    });
  }

  private async collectOpen(): Promise<void> {
    const open = await this.listAll("Runbook != '' AND ExecutionStatus = 'Running'");
    this.open.clear();
    for (const r of open) this.open.add({ runbook: r.runbook ?? 'unknown', status: r.status });
    const pending = async (status: string) => (await this.client.workflow.count(`RunStatus = '${status}' AND ExecutionStatus = 'Running'`)).count;
    this.approvalsPending.set({}, await pending('awaiting-approval'));
    this.escalationsPending.set({}, await pending('escalated'));
  }
}
