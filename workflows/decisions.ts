/**
 * The operator's side of a run: approval gates and escalations wait here for a decision; the decision
 * Update and Signal handlers take it, refuse it (with why) or accept it, and keep the audit record
 * (`state.decisions`); the pending decision's notification goes out beside the wait, with a reminder while
 * nobody decides; a run closes only with no notification in flight (`delivered`).
 *
 * Operator identity (issue 15): with `settings.identity`, a decision counts only with a valid proof from the
 * API (decision-proof.ts) unless `identity.direct` is 'allow'; every decision and every refusal is recorded
 * with the pending step, whether the operator's identity was verified, through what and from where. Without
 * it (runs started before identity existed) the handlers behave as they always did, so that their histories
 * replay unchanged.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
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
import { verifiedProof } from './decision-proof';
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

/** The refusal of a decision without a valid proof in a run with `settings.identity` (the contract's words). */
export const IDENTITY_NOT_VERIFIED = 'identity not verified';

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

/** The audit fields of a decision in a run with `settings.identity`. */
type Audit = Pick<DecisionRecord, 'step' | 'verified' | 'via' | 'source'>;

export class Decisions {
  private decision?: Decision;
  /** When the pending decision's next reminder fires. */
  private reminderAt?: string;
  /** Who may take the pending decision: the gate's own list (settings.stepApprovers), else the runbook's. */
  private approvers: string[];
  /** Notifications sent beside a decision wait, settled or not, and how many are still in flight. */
  private readonly deliveries: Promise<void>[] = [];
  private inFlight = 0;
  private readonly deliveryScope = new CancellationScope();
  /** The last pending decision's `since` (see `since`). */
  private sinceLast?: string;

  constructor(private readonly run: DecidingRun) {
    this.approvers = run.settings.approvers;
    if (run.settings.identity) {
      // Every check in the handler, so that a refusal is recorded in the run (a validator's rejection leaves no trace).
      setHandler(decideUpdate, (d) => {
        const { refusal, audit } = this.check(d);
        if (refusal === undefined) return this.accept(d, audit);
        this.refuse(d, refusal, audit);
        throw ApplicationFailure.create({ type: 'DecisionRefused', message: refusal, nonRetryable: true });
      });
    } else {
      setHandler(decideUpdate, (d) => this.accept(d), {
        validator: (d) => {
          const refusal = this.refusal(d);
          if (refusal) throw new Error(refusal);
        },
      });
    }
    setHandler(decideSignal, (d) => {
      const { refusal, audit } = this.check(d);
      if (refusal === undefined) this.accept(d, audit);
      else this.refuse(d, refusal, audit);
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
    const pending: Pending = { kind: 'escalation', step, reason, evidence, since: this.since(), ...(choices ? { choices } : {}) };
    const d = await this.waitForDecision(pending, 'escalated', this.settings.approvers);
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
   * waits, with no timeout, for an operator on the gate's approver list. Returns the approved choice (the
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
      { kind: 'approval', step: gate.step, reason: gate.summary, evidence: gate.evidence ?? '', since: this.since(), choices: gate.choices, proposal: gate.proposal },
      'awaiting-approval',
      this.settings.stepApprovers?.[key] ?? this.settings.approvers,
    );
    rec.endedAt = now();
    rec.by = d.by;
    rec.comment = d.comment;
    rec.verdict = d.action === 'approve' ? 'approved' : 'rejected';
    if (d.action !== 'approve') this.run.end('aborted', 'rejected', `${d.by} rejected "${gate.step}": ${d.comment ?? ''}`.trim());
    return d.choice ?? gate.proposal;
  }

  /**
   * When a new decision becomes pending. With identity it differs from the last one's (by 1 ms when both fall
   * in one workflow task, whose time stands still): a proof names the decision it answers by this value.
   */
  private since(): string {
    const at = now();
    const last = this.sinceLast;
    this.sinceLast = this.settings.identity && last !== undefined && at <= last ? new Date(Date.parse(last) + 1).toISOString() : at;
    return this.sinceLast;
  }

  private async waitForDecision(pending: Pending, status: RunStatus, approvers: string[]): Promise<Decision> {
    this.decision = undefined;
    this.approvers = approvers;
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

  /**
   * A decision's refusal (undefined: it may be taken) and, with identity, its audit fields. Without a valid
   * proof it is refused as not verified before anything else is looked at, unless direct decisions are allowed.
   */
  private check(d: Decision): { refusal?: string; audit?: Audit } {
    const identity = this.settings.identity;
    if (!identity) return { refusal: this.refusal(d) };
    if (typeof d !== 'object' || d === null) return { refusal: this.refusal(d), audit: { step: this.state.pending?.step, verified: false, via: 'direct' } };
    const proof = verifiedProof(d, { workflowId: workflowInfo().workflowId, pendingSince: this.state.pending?.since, publicKeys: identity.publicKeys });
    const audit: Audit = { step: this.state.pending?.step, verified: proof !== undefined, via: proof?.via ?? 'direct', ...(proof ? { source: proof.source } : {}) };
    if (!proof && identity.direct !== 'allow') return { refusal: IDENTITY_NOT_VERIFIED, audit };
    return { refusal: this.refusal(d), audit };
  }

  private refusal(d: Decision): string | undefined {
    // Not an object (a direct signal's `null`): refused, where reading its fields would fail the workflow task.
    if (typeof d !== 'object' || d === null) return 'a decision is an object: {action, by, choice?, comment?}';
    const p = this.state.pending;
    if (!p) return 'no decision is pending in this run';
    if (typeof d.by !== 'string' || !/^[A-Za-z0-9_.@-]{1,64}$/.test(d.by)) return 'the decision must name its operator (by)';
    if (this.approvers.length > 0 && !this.approvers.includes(d.by)) return `${d.by} is not on the approver list`;
    const allowed = p.kind === 'escalation' ? ['retry', 'resolved', 'abort'] : ['approve', 'reject'];
    if (!allowed.includes(d.action)) return `"${d.action}" is not a decision for a pending ${p.kind} (expected ${allowed.join(' | ')})`;
    if (d.choice !== undefined && p.kind === 'escalation' && d.action !== 'retry') return `a choice goes only with "retry" (${(p.choices ?? []).join(', ') || 'no choices'})`;
    if (d.choice !== undefined && !(p.choices ?? []).includes(d.choice)) return `choice "${d.choice}" is not one of: ${(p.choices ?? []).join(', ') || '(no choices)'}`;
    if (this.decision) return 'a decision has already been taken';
    return undefined;
  }

  private accept(d: Decision, audit?: Audit): DecisionRecord {
    const rec: DecisionRecord = { action: d.action, by: d.by, choice: d.choice, comment: d.comment, at: now(), accepted: true, ...audit };
    this.state.decisions.push(rec);
    this.decision = d;
    if (audit) log.info('decision accepted', { workflowId: workflowInfo().workflowId, ...rec });
    return rec;
  }

  private refuse(d: Decision, refusal: string, audit?: Audit): void {
    if (!audit) {
      this.state.decisions.push({ ...d, at: now(), accepted: false, refusal });
      return;
    }
    // With identity: the decision's own fields only (no proof, nothing else a direct signal carried).
    const { action, by, choice, comment } = (typeof d === 'object' && d !== null ? d : {}) as Partial<Decision>;
    const rec = { action, by, choice, comment, at: now(), accepted: false, refusal, ...audit } as DecisionRecord;
    this.state.decisions.push(rec);
    log.warn('decision refused', { workflowId: workflowInfo().workflowId, ...rec });
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
