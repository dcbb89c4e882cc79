/**
 * The operator's side of a run: approval gates and escalations wait here for a decision; the decision
 * Update and Signal handlers take it, refuse it (with why) or accept it, and keep the audit record
 * (`state.decisions`); the pending decision's notification goes out beside the wait, with a reminder while
 * nobody decides; a run closes only with no notification in flight (`delivered`).
 */
import {
  ActivityCancellationType,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  RetryPolicy,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { decideSignal, decideUpdate, Decision, DecisionRecord, EscalationAction, Pending, RunResult, RunSettings, RunState, RunStatus, StepRecord } from './definitions';
import { msOf } from './duration';
import { excerpt, now } from './timeline';

const NOTIFY_RETRY: RetryPolicy = { maximumAttempts: 8, initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' };
const notifying = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: NOTIFY_RETRY });
/**
 * patched(): a pending decision's notification goes out beside the wait, not before it; the run waits
 * for it only before it closes (see `delivered`). It heartbeats, so that a cancellation reaches it
 * (and a lost worker is noticed in 5 s).
 */
const NOTIFY_BESIDE_WAIT_PATCH = 'notify-beside-decision-wait';
/** How long a closing run lets a notification still in flight finish before it cancels it. */
const DELIVERY_GRACE = '5 seconds';
const notifyingBeside = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: '5 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: NOTIFY_RETRY,
});

/** What the decisions need of their run: its timeline, its status, and a way to end it (resolved, aborted, rejected). */
export interface DecidingRun {
  readonly state: RunState;
  readonly settings: RunSettings;
  record(step: Omit<StepRecord, 'n' | 'startedAt'>): StepRecord;
  setStatus(status: RunStatus): void;
  end(status: RunResult['status'], outcome: string, summary: string): never;
}

export interface Gate {
  step: string;
  summary: string;
  evidence?: string;
  choices?: string[];
  proposal?: string;
  /** Asks an operator whatever the policy says. */
  always?: boolean;
}

export class Decisions {
  private decision?: Decision;
  /** When the pending decision's next reminder fires. */
  private reminderAt?: string;
  /** Notifications sent beside a decision wait, settled or not, and how many are still in flight. */
  private readonly deliveries: Promise<void>[] = [];
  private inFlight = 0;
  private readonly deliveryScope = new CancellationScope();

  constructor(private readonly run: DecidingRun) {
    setHandler(decideUpdate, (d) => this.accept(d), {
      validator: (d) => {
        const refusal = this.refusal(d);
        if (refusal) throw new Error(refusal);
      },
    });
    setHandler(decideSignal, (d) => {
      const refusal = this.refusal(d);
      if (refusal) this.state.decisions.push({ ...d, at: now(), accepted: false, refusal });
      else this.accept(d);
    });
  }

  private get state(): RunState {
    return this.run.state;
  }

  private get settings(): RunSettings {
    return this.run.settings;
  }

  /** The pending decision's next reminder (for the state query's next timer). */
  get nextReminderAt(): string | undefined {
    return this.state.pending ? this.reminderAt : undefined;
  }

  /**
   * Stop automatic action, record why with the evidence, notify, and wait for an operator. Returns the
   * decision when it is "retry" (with one of `choices` or none); "resolved" and "abort" end the run.
   */
  async escalate(step: string, reason: string, evidence: string, choices?: string[]): Promise<Decision> {
    if (this.settings.dryRun) {
      // A dry run pages nobody and waits for nobody: it ends, recording what would have escalated.
      const would = this.run.record({ name: `escalated: ${step}`, kind: 'escalation', reason, output: excerpt(evidence) });
      would.endedAt = would.startedAt;
      would.verdict = 'would-run';
      this.run.end('completed', 'dry-run', `dry run: would escalate at "${step}": ${reason}`);
    }
    const rec = this.run.record({ name: `escalated: ${step}`, kind: 'escalation', reason });
    const pending: Pending = { kind: 'escalation', step, reason, evidence, since: now(), ...(choices ? { choices } : {}) };
    const d = await this.waitForDecision(pending, 'escalated');
    rec.endedAt = now();
    rec.verdict = d.action as EscalationAction;
    rec.by = d.by;
    rec.comment = d.comment;
    if (d.action === 'resolved') this.run.end('completed', 'resolved-by-operator', `${d.by} resolved it by hand: ${d.comment ?? ''}`.trim());
    if (d.action === 'abort') this.run.end('aborted', 'aborted-by-operator', `${d.by} aborted at "${step}": ${d.comment ?? ''}`.trim());
    return d;
  }

  /**
   * An approval gate before a dangerous step. When the policy says `auto` (and the gate is not one that
   * always needs a human), it passes at once. Otherwise (`beforeWait` first: the run's flapping guard) it
   * waits, with no timeout, for an operator. Returns the approved choice (the
   * proposal unless the operator picked another allowed value); a rejection ends the run.
   */
  async approval(key: string, gate: Gate, beforeWait: () => Promise<void>): Promise<string | undefined> {
    const policy = gate.always ? 'approve' : (this.settings.policy[key] ?? 'auto');
    if (policy === 'auto') return gate.proposal;
    if (this.settings.dryRun) {
      const would = this.run.record({ name: `approval: ${gate.step}`, kind: 'approval', reason: `dry run: would ask for approval: ${gate.summary}` });
      would.endedAt = would.startedAt;
      would.verdict = 'would-run';
      return gate.proposal;
    }
    await beforeWait();
    const rec = this.run.record({ name: `approval: ${gate.step}`, kind: 'approval', reason: gate.summary });
    const d = await this.waitForDecision(
      { kind: 'approval', step: gate.step, reason: gate.summary, evidence: gate.evidence ?? '', since: now(), choices: gate.choices, proposal: gate.proposal },
      'awaiting-approval',
    );
    rec.endedAt = now();
    rec.by = d.by;
    rec.comment = d.comment;
    rec.verdict = d.action === 'approve' ? 'approved' : 'rejected';
    if (d.action !== 'approve') this.run.end('aborted', 'rejected', `${d.by} rejected "${gate.step}": ${d.comment ?? ''}`.trim());
    return d.choice ?? gate.proposal;
  }

  private async waitForDecision(pending: Pending, status: RunStatus): Promise<Decision> {
    this.decision = undefined;
    this.state.pending = pending;
    this.run.setStatus(status);
    const timers = this.settings.timers;
    const reminder = pending.kind === 'escalation' ? timers.escalationReminder : timers.approvalReminder;
    // A decision taken while the notification is still being delivered (a slow or unreachable
    // notification URL, retried for minutes; its worker lost) is acted on at once.
    const beside = patched(NOTIFY_BESIDE_WAIT_PATCH);
    const send = async (kind: 'escalation' | 'approval' | 'reminder') => {
      if (!beside) return this.notify(kind, pending, notifying);
      this.inFlight++;
      this.deliveries.push(this.deliveryScope.run(() => this.notify(kind, pending, notifyingBeside)).finally(() => this.inFlight--));
    };
    await send(pending.kind);
    for (;;) {
      this.reminderAt = new Date(Date.now() + msOf(reminder)).toISOString();
      if (await condition(() => this.decision !== undefined, msOf(reminder), { summary: `next reminder of the pending ${pending.kind}` })) break;
      await send('reminder');
    }
    this.reminderAt = undefined;
    const d = this.decision as unknown as Decision;
    this.decision = undefined;
    this.state.pending = undefined;
    this.run.setStatus('running');
    return d;
  }

  private async notify(kind: 'escalation' | 'approval' | 'reminder', p: Pending, via: typeof notifying): Promise<void> {
    const { workflowId } = workflowInfo();
    const verb = { escalation: 'ESCALATED', approval: 'APPROVAL NEEDED', reminder: 'STILL WAITING' }[kind];
    try {
      await via.notify({
        kind,
        text: `[${verb}] ${workflowId}: ${p.step}: ${p.reason}`,
        runId: workflowId,
        runbook: this.state.runbook,
        target: this.state.target,
        step: p.step,
        reason: p.reason,
        evidence: p.evidence,
      });
    } catch (err) {
      // Cancelled: the run was closing and the decision had been taken, so the notification was obsolete.
      if (isCancellation(err)) return;
      // The run keeps waiting for its operator either way; the failure is visible in the history.
      log.error('notification failed', { error: String(err) });
    }
  }

  private refusal(d: Decision): string | undefined {
    const p = this.state.pending;
    if (!p) return 'no decision is pending in this run';
    if (typeof d.by !== 'string' || !/^[A-Za-z0-9_.@-]{1,64}$/.test(d.by)) return 'the decision must name its operator (by)';
    if (this.settings.approvers.length > 0 && !this.settings.approvers.includes(d.by)) return `${d.by} is not on the approver list`;
    const allowed = p.kind === 'escalation' ? ['retry', 'resolved', 'abort'] : ['approve', 'reject'];
    if (!allowed.includes(d.action)) return `"${d.action}" is not a decision for a pending ${p.kind} (expected ${allowed.join(' | ')})`;
    if (d.choice !== undefined && p.kind === 'escalation' && d.action !== 'retry') return `a choice goes only with "retry" (${(p.choices ?? []).join(', ') || 'no choices'})`;
    if (d.choice !== undefined && !(p.choices ?? []).includes(d.choice)) return `choice "${d.choice}" is not one of: ${(p.choices ?? []).join(', ') || '(no choices)'}`;
    if (this.decision) return 'a decision has already been taken';
    return undefined;
  }

  private accept(d: Decision): DecisionRecord {
    const rec: DecisionRecord = { action: d.action, by: d.by, choice: d.choice, comment: d.comment, at: now(), accepted: true };
    this.state.decisions.push(rec);
    this.decision = d;
    return rec;
  }

  /**
   * Before the run closes: a notification still being delivered (a slow or unreachable URL) gets a
   * grace, then it is cancelled as obsolete; either way the run closes with none in flight.
   */
  async delivered(): Promise<void> {
    if (this.inFlight === 0) return;
    if (!(await condition(() => this.inFlight === 0, DELIVERY_GRACE))) this.deliveryScope.cancel();
    await Promise.all(this.deliveries);
  }
}
