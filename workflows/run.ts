/**
 * The shared mechanisms of every runbook, written once:
 *   - `step`      run one command on one host and judge its output (recorded in the run's timeline);
 *   - `must`      a step whose failure escalates; an operator's "retry" runs it again;
 *   - `retryOnce` a step that, on failure, waits and runs once more before it escalates;
 *   - `wait`      a durable timer, visible as "waiting until ...";
 *   - `escalate`  stop, record why with the evidence, notify, and wait durably for retry / resolved / abort;
 *   - `approval`  a gate before a dangerous step: record what is about to happen and wait for an operator.
 * A runbook is a plain async function of a `Run`; see kust-replica.ts for the shape.
 */
import {
  ActivityFailure,
  condition,
  log,
  proxyActivities,
  rootCause,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, ExecResult, RemoteCommand } from '../activities';
import {
  decideSignal,
  decideUpdate,
  Decision,
  DecisionRecord,
  EscalationAction,
  Pending,
  RunResult,
  RunSettings,
  RunState,
  RunStatus,
  RunStatusKey,
  seenAgainSignal,
  stateQuery,
  StepRecord,
} from './definitions';
import { msOf } from './duration';
import { fail, Parsed } from '../parsers/result';

/** A judge's verdict on a command's output: the parsers' result type (a value, or why not). */
export type Verdict<T> = Parsed<T>;
export { ok, fail } from '../parsers/result';

/** One command step: where, what, and how to judge its output. */
export interface Step<T> {
  name: string;
  host: string;
  cmd: RemoteCommand;
  /** Changes something on the host: runs at most once per attempt (no automatic activity retry). */
  changes?: boolean;
  judge: (r: ExecResult) => Verdict<T>;
  /** Exit codes that are not by themselves a failure (default: only 0). */
  okExitCodes?: number[];
}

const activityTimeouts = { startToCloseTimeout: '35 minutes', heartbeatTimeout: '30 seconds' } as const;
/** Read-only commands may be retried on a transport error. */
const reading = proxyActivities<Activities>({ ...activityTimeouts, retry: { maximumAttempts: 3, initialInterval: '5 seconds' } });
/** Commands that change something run at most once; a failure is the runbook's to judge. */
const changing = proxyActivities<Activities>({ ...activityTimeouts, retry: { maximumAttempts: 1 } });
const notifying = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 8, initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

/** Ends a run early: the operator said resolved / abort, or rejected an approval. */
class RunEnded extends Error {
  constructor(
    readonly status: RunResult['status'],
    readonly outcome: string,
    summary: string,
  ) {
    super(summary);
  }
}

const EXCERPT = 2000;
const excerpt = (text: string) => (text.length > EXCERPT ? `...${text.slice(-EXCERPT)}` : text);
const now = () => new Date().toISOString();

export class Run {
  readonly state: RunState;
  private decision?: Decision;

  constructor(
    runbook: string,
    target: string,
    readonly settings: RunSettings,
  ) {
    this.state = { runbook, target, status: 'running', steps: [], decisions: [], seenAgain: { count: 0 } };
    setHandler(stateQuery, () => this.state);
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
    setHandler(seenAgainSignal, ({ at }) => {
      this.state.seenAgain.count++;
      this.state.seenAgain.last = at;
    });
  }

  get control(): string {
    return this.settings.controlNode;
  }

  get paths() {
    return this.settings.paths;
  }

  get timers() {
    return this.settings.timers;
  }

  private setStatus(status: RunStatus): void {
    if (this.state.status === status) return;
    this.state.status = status;
    upsertSearchAttributes([{ key: RunStatusKey, value: status }]);
  }

  private record(step: Omit<StepRecord, 'n' | 'startedAt'>): StepRecord {
    const rec: StepRecord = { n: this.state.steps.length + 1, startedAt: now(), ...step };
    this.state.steps.push(rec);
    this.state.currentStep = rec.name;
    return rec;
  }

  /** Runs a command once and judges it. Transport errors and unexpected exits are failures, never guesses. */
  async step<T>(s: Step<T>): Promise<Verdict<T> & { evidence: string }> {
    this.setStatus('running');
    const rec = this.record({ name: s.name, kind: 'command', host: s.host, command: s.cmd.argv.join(' ') });
    const act = s.changes ? changing : reading;
    let verdict: Verdict<T>;
    let evidence: string;
    try {
      const r = await act.runCommand({ host: s.host, ...s.cmd });
      rec.command = r.command;
      rec.exitCode = r.exitCode;
      rec.output = excerpt(r.stdout + (r.stderr ? `\n[stderr]\n${r.stderr}` : ''));
      evidence = `$ ${r.command}   (on ${s.host}, exit ${r.exitCode ?? 'none'})\n${rec.output}`;
      if (r.timedOut) verdict = fail(`timed out after ${Math.round(r.durationMs / 1000)} s`);
      else if (r.disconnected) verdict = fail('the connection dropped before the command reported an exit status');
      else if (r.exitCode === null) verdict = fail(`ended by signal ${r.signal ?? 'unknown'}`);
      else if (!(s.okExitCodes ?? [0]).includes(r.exitCode)) verdict = fail(`exit code ${r.exitCode}`);
      else verdict = s.judge(r);
    } catch (err) {
      const cause = err instanceof ActivityFailure ? rootCause(err) : String(err);
      verdict = fail(`could not run the command: ${cause}`);
      evidence = `$ ${s.cmd.argv.join(' ')}   (on ${s.host})\n${cause}`;
    }
    rec.endedAt = now();
    rec.verdict = verdict.ok ? 'ok' : 'failed';
    if (!verdict.ok) rec.reason = verdict.error;
    return { ...verdict, evidence };
  }

  /** A step that must succeed: a failure escalates, and the operator's "retry" runs it again. */
  async must<T>(s: Step<T>): Promise<T> {
    for (;;) {
      const v = await this.step(s);
      if (v.ok) return v.value;
      await this.escalate(s.name, v.error, v.evidence);
    }
  }

  /** Retry once, then escalate: on failure wait `pause`, run the same step again; a second failure escalates. */
  async retryOnce<T>(s: Step<T>, pause: string): Promise<T> {
    const first = await this.step(s);
    if (first.ok) return first.value;
    await this.wait(`${s.name}: wait before the retry`, pause);
    return this.must(s);
  }

  /** A durable timer. */
  async wait(name: string, duration: string): Promise<void> {
    const rec = this.record({ name, kind: 'wait' });
    const ms = msOf(duration);
    rec.until = new Date(Date.now() + ms).toISOString();
    this.setStatus('waiting');
    await sleep(ms);
    rec.endedAt = now();
    rec.verdict = 'done';
    this.setStatus('running');
  }

  /**
   * Stop automatic action, record why with the evidence, notify, and wait for an operator.
   * Returns when the decision is "retry"; "resolved" and "abort" end the run.
   */
  async escalate(step: string, reason: string, evidence: string): Promise<void> {
    const rec = this.record({ name: `escalated: ${step}`, kind: 'escalation', reason });
    const d = await this.waitForDecision({ kind: 'escalation', step, reason, evidence, since: now() }, 'escalated');
    rec.endedAt = now();
    rec.verdict = d.action as EscalationAction;
    rec.by = d.by;
    rec.comment = d.comment;
    if (d.action === 'resolved') throw new RunEnded('completed', 'resolved-by-operator', `${d.by} resolved it by hand: ${d.comment ?? ''}`.trim());
    if (d.action === 'abort') throw new RunEnded('aborted', 'aborted-by-operator', `${d.by} aborted at "${step}": ${d.comment ?? ''}`.trim());
  }

  /**
   * An approval gate before a dangerous step. When the policy says `auto` (and the step is not one that
   * always needs a human), it passes at once. Otherwise it waits, with no timeout, for an operator.
   * Returns the approved choice (the proposal unless the operator picked another allowed value).
   */
  async approval(key: string, gate: { step: string; summary: string; evidence?: string; choices?: string[]; proposal?: string; always?: boolean }): Promise<string | undefined> {
    const policy = gate.always ? 'approve' : (this.settings.policy[key] ?? 'auto');
    if (policy === 'auto') return gate.proposal;
    const rec = this.record({ name: `approval: ${gate.step}`, kind: 'approval', reason: gate.summary });
    const d = await this.waitForDecision(
      { kind: 'approval', step: gate.step, reason: gate.summary, evidence: gate.evidence ?? '', since: now(), choices: gate.choices, proposal: gate.proposal },
      'awaiting-approval',
    );
    rec.endedAt = now();
    rec.by = d.by;
    rec.comment = d.comment;
    rec.verdict = d.action === 'approve' ? 'approved' : 'rejected';
    if (d.action !== 'approve') throw new RunEnded('aborted', 'rejected', `${d.by} rejected "${gate.step}": ${d.comment ?? ''}`.trim());
    return d.choice ?? gate.proposal;
  }

  private async waitForDecision(pending: Pending, status: RunStatus): Promise<Decision> {
    this.decision = undefined;
    this.state.pending = pending;
    this.setStatus(status);
    const reminder = pending.kind === 'escalation' ? this.timers.escalationReminder : this.timers.approvalReminder;
    await this.notify(pending.kind, pending);
    while (!(await condition(() => this.decision !== undefined, msOf(reminder)))) {
      await this.notify('reminder', pending);
    }
    const d = this.decision as unknown as Decision;
    this.decision = undefined;
    this.state.pending = undefined;
    this.setStatus('running');
    return d;
  }

  private async notify(kind: 'escalation' | 'approval' | 'reminder', p: Pending): Promise<void> {
    const { workflowId } = workflowInfo();
    const verb = { escalation: 'ESCALATED', approval: 'APPROVAL NEEDED', reminder: 'STILL WAITING' }[kind];
    try {
      await notifying.notify({
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

  finish(status: RunResult['status'], outcome: string, summary: string): RunResult {
    this.state.outcome = outcome;
    this.state.summary = summary;
    this.state.currentStep = undefined;
    this.setStatus(status);
    return { status, outcome, summary, state: this.state };
  }
}

export interface Done {
  outcome: 'repaired' | 'nothing-to-do';
  summary: string;
}

/** Wraps a runbook body: sets up the run's handlers and turns an operator's end into the run's result. */
export async function runbook(name: string, target: string, settings: RunSettings, body: (run: Run) => Promise<Done>): Promise<RunResult> {
  const run = new Run(name, target, settings);
  try {
    const done = await body(run);
    return run.finish('completed', done.outcome, done.summary);
  } catch (err) {
    if (err instanceof RunEnded) return run.finish(err.status, err.outcome, err.message);
    throw err;
  }
}
