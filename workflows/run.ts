/**
 * The shared mechanisms of every runbook, written once:
 *   - `step`      run one command on one host and judge its output (recorded in the run's timeline);
 *   - `must`      a step whose failure escalates; an operator's "retry" runs it again;
 *   - `retryOnce` a step that, on failure, waits and runs once more before it escalates;
 *   - `wait`      a durable timer, visible as "waiting until ...";
 *   - `escalate`  stop, record why with the evidence, notify, and wait durably for retry / resolved / abort;
 *   - `approval`  a gate before a dangerous step: record what is about to happen and wait for an operator.
 * The waiting for operators, their decisions and refusals are decisions.ts's; a runbook reads the same.
 * A runbook is a plain async function of a `Run`; see kust-replica.ts for the shape.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, rootCause, setHandler, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities, ExecResult, RemoteCommand } from '../activities';
import { commandLine } from '../activities/command-line';
import { RunResult, RunSettings, RunState, RunStatus, RunStatusKey, seenAgainSignal, alertResolvedSignal, stateQuery, StepRecord } from './definitions';
import { Decisions, Gate } from './decisions';
import { msOf } from './duration';
import { excerpt, now } from './timeline';
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

/**
 * Read-only commands may be retried on a transport error. Commands that change something run under the
 * host's journal with a key fixed per step (activities/journal.ts): a retry after a lost worker or a
 * dropped connection reads the outcome there, and the host refuses a second start; a failure of the
 * command itself is the runbook's to judge.
 */
function commandProxies(heartbeatTimeout: string) {
  const timeouts = { startToCloseTimeout: '35 minutes', heartbeatTimeout: msOf(heartbeatTimeout) } as const;
  return {
    reading: proxyActivities<Activities>({ ...timeouts, retry: { maximumAttempts: 3, initialInterval: '1 second' } }),
    changing: proxyActivities<Activities>({ ...timeouts, retry: { maximumAttempts: 5, initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' } }),
  };
}
/**
 * The activity failure types after which a changing command is known not to have started (a retry may
 * start it anew): refused before it was sent, or refused by sudo on the host before the command ran (the
 * journal entry holds sudo's refusal; a retry takes a new key). `Ssh:connect` is not one: it may come after the command was sent.
 */
const SETTLED = ['Ssh:not-started', 'Ssh:unsafe-command', 'Ssh:unknown-host', 'Ssh:host-key', 'Ssh:auth', 'Ssh:sudo'];

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

/** The escalation choice that starts a changing command anew although its last outcome is unknown. */
export const RUN_AGAIN = 'run-again';

export class Run {
  readonly state: RunState;
  /** Approval gates and escalations: the waiting for an operator, the decision handlers, the audit record. */
  private readonly decisions: Decisions;
  private flapChecked = false;
  private readonly proxies: ReturnType<typeof commandProxies>;
  /**
   * Changing steps whose last attempt ended without a known outcome, by step identity -> their journal key:
   * running the same step again reuses the key, so the host's journal answers instead of a second start.
   */
  private readonly unsettled = new Map<string, string>();

  constructor(
    runbook: string,
    target: string,
    readonly settings: RunSettings,
  ) {
    this.state = { runbook, target, status: 'running', steps: [], decisions: [], seenAgain: { count: 0 }, ...(settings.dryRun ? { dryRun: true } : {}) };
    this.proxies = commandProxies(settings.heartbeatTimeout ?? '30s');
    setHandler(stateQuery, () => ({ ...this.state, nextTimerAt: this.nextTimerAt() }));
    this.decisions = new Decisions({
      state: this.state,
      settings,
      record: (step) => this.record(step),
      setStatus: (status) => this.setStatus(status),
      end: (status, outcome, summary) => {
        throw new RunEnded(status, outcome, summary);
      },
    });
    setHandler(alertResolvedSignal, ({ at, source }) => {
      this.state.alertResolved ??= { at, source };
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
    if (s.changes) {
      if (this.settings.dryRun) this.wouldRun(s);
      await this.flapGuard(s.name);
      this.resolvedBeforeRepair(s.name);
    }
    this.setStatus('running');
    const rec = this.record({ name: s.name, kind: 'command', host: s.host, command: s.cmd.argv.join(' ') });
    // A changing step keeps its journal key until its outcome is known (see `unsettled`).
    const identity = `${s.host}\u0000${s.name}\u0000${s.cmd.argv.join('\u0000')}\u0000${s.cmd.stdin ?? ''}`;
    const journal = s.changes ? (this.unsettled.get(identity) ?? `${workflowInfo().runId}.${rec.n}`) : undefined;
    const act = s.changes ? this.proxies.changing : this.proxies.reading;
    let verdict: Verdict<T>;
    let evidence: string;
    try {
      // The step's name goes into the history as the activity's summary (medic history, the Web UI).
      const r = await act.runCommand.executeWithOptions({ summary: s.name }, [{ host: s.host, ...s.cmd, ...(journal ? { journal } : {}) }]);
      if (journal) this.unsettled.delete(identity);
      rec.command = r.command;
      rec.exitCode = r.exitCode;
      rec.output = excerpt(r.stdout + (r.stderr ? `\n[stderr]\n${r.stderr}` : ''));
      if (r.recovered) rec.recovered = r.recovered;
      evidence = `$ ${r.command}   (on ${s.host}, exit ${r.exitCode ?? 'none'}${r.recovered ? `; ${r.recovered}` : ''})\n${rec.output}`;
      if (r.timedOut) verdict = fail(`timed out after ${Math.round(r.durationMs / 1000)} s (ended on the host)`);
      else if (r.disconnected) verdict = fail('the connection dropped before the command reported an exit status');
      else if (r.exitCode === null) verdict = fail(`ended by signal ${r.signal ?? 'unknown'}`);
      else if (!(s.okExitCodes ?? [0]).includes(r.exitCode)) verdict = fail(`exit code ${r.exitCode}`);
      else verdict = s.judge(r);
    } catch (err) {
      const cause = err instanceof ActivityFailure ? rootCause(err) : String(err);
      const type = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause.type : undefined;
      if (journal && !SETTLED.includes(type ?? '')) {
        // Nothing is known of the command's end: the next run of this step asks the host's journal first.
        this.unsettled.set(identity, journal);
        const why = type === 'Ssh:outcome-unknown' ? cause : `outcome not known yet: ${cause}`;
        verdict = fail(`${why}; on retry the host's journal is read first, the command is never started twice`);
      } else {
        if (journal) this.unsettled.delete(identity);
        verdict = fail(`could not run the command: ${cause}`);
      }
      evidence = `$ ${s.cmd.argv.join(' ')}   (on ${s.host}${journal ? `, journal ${journal}, step started ${rec.startedAt}` : ''})\n${cause}`;
    }
    rec.endedAt = now();
    rec.verdict = verdict.ok ? 'ok' : 'failed';
    if (!verdict.ok) rec.reason = verdict.error;
    return { ...verdict, evidence };
  }

  /** Before a step that changes something: if the alert has resolved meanwhile, finish without acting (configurable). */
  private resolvedBeforeRepair(step: string): void {
    const resolved = this.state.alertResolved;
    if (!resolved || (this.settings.onResolvedBeforeRepair ?? 'finish') !== 'finish') return;
    this.record({ name: `alert resolved before "${step}"`, kind: 'note', reason: `${resolved.source} reported the problem gone at ${resolved.at}` }).verdict = 'done';
    throw new RunEnded('completed', 'resolved-before-repair', `the alert resolved at ${resolved.at} before "${step}"; nothing was changed`);
  }

  /** Records a decision the runbook took by itself (e.g. handing over to another procedure), with why. */
  note(name: string, reason: string): void {
    const rec = this.record({ name, kind: 'note', reason });
    rec.endedAt = rec.startedAt;
    rec.verdict = 'done';
  }

  /**
   * Dry run: the first step that changes something is recorded with the exact command line it would
   * run, and the run ends there (outcome `dry-run`): later steps depend on that change.
   */
  private wouldRun(s: Step<unknown>): never {
    let command: string;
    let reason = 'dry run: not run (it changes something)';
    try {
      command = commandLine(s.cmd);
    } catch (err) {
      command = s.cmd.argv.join(' ');
      reason = `dry run: the real run would refuse this command: ${String(err)}`;
    }
    const rec = this.record({ name: s.name, kind: 'command', host: s.host, command, reason });
    rec.endedAt = rec.startedAt;
    rec.verdict = 'would-run';
    throw new RunEnded('completed', 'dry-run', `dry run: stopped before "${s.name}", which would run ${command} on ${s.host}${s.cmd.stdin ? ' (with input)' : ''}; nothing was changed`);
  }

  /**
   * Flapping guard, once per run, before its first change: when the last run of this workflow ID
   * repaired the target less than `timers.flapGuard` ago, escalate instead of acting; the operator's
   * "retry" acknowledges and lets the repair go ahead.
   */
  private async flapGuard(step: string): Promise<void> {
    if (this.flapChecked) return;
    this.flapChecked = true;
    const at = this.settings.recentRepairAt;
    const period = this.timers.flapGuard ?? '1h';
    const age = at === undefined ? NaN : Date.now() - Date.parse(at);
    if (!(age >= 0 && age < msOf(period))) return;
    await this.escalate(
      step,
      `flapping guard: ${this.state.target} was repaired at ${at}`,
      `The last run of ${workflowInfo().workflowId} repaired ${this.state.target} at ${at}, less than ${period} (timers.flapGuard) ago. ` +
        `Nothing has been changed by this run. retry: repair again now; resolved: close without acting; abort: stop.`,
    );
  }

  /** The state query's "next timer": a running wait's end, or a pending decision's next reminder. */
  private nextTimerAt(): string | undefined {
    if (this.state.pending) return this.decisions.nextReminderAt;
    if (this.state.status !== 'waiting') return undefined;
    return [...this.state.steps].reverse().find((st) => st.kind === 'wait' && !st.endedAt)?.until;
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

  /**
   * Retry once, then escalate, for a sequence of steps (e.g. fix, wait, check): `attempt` runs the whole
   * sequence and returns its verdict; a failed attempt runs once more at once, a second failure escalates,
   * and the operator's "retry" runs the sequence again.
   */
  async retryOnceAll<T>(name: string, attempt: () => Promise<Verdict<T> & { evidence: string }>): Promise<T> {
    for (let n = 1; ; n++) {
      const v = await attempt();
      if (v.ok) return v.value;
      if (n > 1) await this.escalate(name, v.error, v.evidence);
    }
  }

  /** A durable timer. */
  async wait(name: string, duration: string): Promise<void> {
    const rec = this.record({ name, kind: 'wait' });
    const ms = msOf(duration);
    rec.until = new Date(Date.now() + ms).toISOString();
    this.setStatus('waiting');
    await sleep(ms, { summary: name });
    rec.endedAt = now();
    rec.verdict = 'done';
    this.setStatus('running');
  }

  /**
   * Waits durably until `probe` returns a value (e.g. another run has finished): one timeline entry;
   * a durable timer between probes, `every` doubling up to `max` so that a long wait keeps the history
   * small. A probe that throws ends the wait with its error.
   */
  async poll<T>(name: string, probe: () => Promise<T | undefined>, every: string, max: string): Promise<T> {
    const rec = this.record({ name, kind: 'wait' });
    let pause = msOf(every);
    const cap = Math.max(pause, msOf(max));
    try {
      for (;;) {
        const v = await probe();
        if (v !== undefined) {
          rec.verdict = 'done';
          return v;
        }
        rec.until = new Date(Date.now() + pause).toISOString();
        this.setStatus('waiting');
        await sleep(pause);
        pause = Math.min(pause * 2, cap);
      }
    } catch (err) {
      rec.verdict = 'error';
      rec.reason = String(err instanceof ActivityFailure ? rootCause(err) : err);
      throw err;
    } finally {
      rec.endedAt = now();
      this.setStatus('running');
    }
  }

  /**
   * Stop automatic action, record why with the evidence, notify, and wait for an operator (decisions.ts).
   * Returns when the decision is "retry"; "resolved" and "abort" end the run.
   */
  async escalate(step: string, reason: string, evidence: string): Promise<void> {
    // After an unknown outcome, "retry" asks the host's journal again; starting the command anew takes the explicit choice.
    const d = await this.decisions.escalate(step, reason, evidence, this.unsettled.size > 0 ? [RUN_AGAIN] : undefined);
    if (d.choice === RUN_AGAIN) this.unsettled.clear();
  }

  /**
   * An approval gate before a dangerous step (decisions.ts): passes at once under the `auto` policy, else
   * waits with no timeout for an operator on the gate's approver list. Returns the approved choice.
   */
  async approval(key: string, gate: Gate): Promise<string | undefined> {
    this.resolvedBeforeRepair(gate.step);
    return this.decisions.approval(key, gate, () => this.flapGuard(gate.step));
  }

  /** Before the run closes: no notification left in flight (decisions.ts). */
  delivered(): Promise<void> {
    return this.decisions.delivered();
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
  /** escalated: part of the work went to operators (mysql-topology: see its per-cluster summary). */
  outcome: 'repaired' | 'nothing-to-do' | 'escalated';
  summary: string;
}

/** Wraps a runbook body: sets up the run's handlers and turns an operator's end into the run's result. */
export async function runbook(name: string, target: string, settings: RunSettings, body: (run: Run) => Promise<Done>): Promise<RunResult> {
  const run = new Run(name, target, settings);
  let end: Parameters<Run['finish']>;
  try {
    const done = await body(run);
    end = ['completed', done.outcome, done.summary];
  } catch (err) {
    if (!(err instanceof RunEnded)) {
      await run.delivered();
      throw err;
    }
    end = [err.status, err.outcome, err.message];
  }
  // A run closes with no notification in flight, and shows its outcome only then: a start of the same
  // target after the outcome is a new run, not a signal to one that is closing.
  await run.delivered();
  return run.finish(...end);
}
