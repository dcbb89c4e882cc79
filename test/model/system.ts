/**
 * The real system under the model-based tests: the service's own intake and startRun against the
 * time-skipping server, a Worker (restartable) whose activities are the lab's tools on an in-memory fleet
 * (lab-hosts.ts), and the test's operators. After every generated step it waits until every open run is
 * idle (no workflow task, no activity pending: a timer or a human is next) and checks the invariants.
 */
import { isDeepStrictEqual } from 'node:util';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { AlertSchema, Intake, Route, routeAlertmanager, routeCheckMk } from '../../client/intake';
import { isRunbook, RUNBOOKS, startRun, workflowIdOf } from '../../client/runbooks';
import type { Config, Policy } from '../../config/schema';
import { loadScenario } from '../../lab/scenario';
import { TOOLS } from '../../lab/tools/registry';
import type { LabState } from '../../lab/types';
import { parseCheckMkLine } from '../../parsers/checkmk';
import { Decision, decideSignal, decideUpdate, RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { testConfig } from '../helpers/settings';
import { advance, timeSkippingEnv, workflowBundle } from '../helpers/temporal';
import { changersPerTarget, controllerPair, decisionsHonoured, galeraSafety, openRunsPerTarget, RunView, SentDecision } from './invariants';
import { LabHosts } from './lab-hosts';
import { applyEvent, galera, WorldEvent } from './world';

const EventType = temporal.api.enums.v1.EventType;

export interface Start {
  /** The Galera cluster's first picture: a lab scenario (healthy, or one of the Manticore guide's cases). */
  galera: string;
  /** Events applied before the first step (e.g. the controller replica already dead). */
  events: WorldEvent[];
  /** Approval policies: clean (kust-replica), reseed (ctlr-replica), bootstrap (manticore-cluster case 3); timers.flapGuard. */
  policies: { clean: Policy; reseed: Policy; bootstrap: Policy; flapGuard: string };
  /** The cluster went down once already and the service recovered it (its run recorded the bootstrap). */
  recoveredOnce?: boolean;
}

export type Target = 'galera' | 'ctlr-replica' | 'ctlr-roles' | 'kust';
export type Verb = 'fitting' | Decision['action'];
export interface DecideParams {
  verb: Verb;
  pick: number;
  by: string;
  choice: 'none' | 'pick' | 'bogus';
  via: 'update' | 'signal';
}

type Action = Decision['action'];
const FITTING: Record<'escalation' | 'approval', Action[]> = { escalation: ['retry', 'retry', 'retry', 'resolved', 'abort'], approval: ['approve', 'approve', 'approve', 'reject'] };
const ALLOWED: Record<'escalation' | 'approval', Action[]> = { escalation: ['retry', 'resolved', 'abort'], approval: ['approve', 'reject'] };
const KUST_HOSTS = ['vkt-4vm-879-standart-01', 'vkt-4vm-879-standart-02'];

let sequences = 0;

export class ModelSystem {
  readonly stats = { commands: 0, restarts: 0, started: 0, joined: 0, decisions: 0, refused: 0, unroutable: 0 };
  readonly sent: SentDecision[] = [];
  /** What each step did, for the report of a failing sequence. */
  readonly trace: string[] = [];
  private readonly executions: { workflowId: string; runId: string }[] = [];
  private readonly closed = new Map<string, RunView>();
  /** Per execution: the history length settle() last saw, and the state last queried at that length. */
  private readonly historyLength = new Map<string, number>();
  private readonly queried = new Map<string, { length: number; state: RunState }>();
  private readonly intake: Intake;
  /** A plain client: unlike the environment's, it never unlocks time skipping (only advance() moves the clock). */
  private readonly client: Client;
  private readonly targets: Record<string, string[]>;
  private worker?: Worker;
  private running?: Promise<void>;
  private restartAfterNext = false;
  /** Violations seen while acting (a refused decision that changed something, a duplicate that started a run...). */
  private readonly seen: string[] = [];

  private constructor(
    private readonly env: TestWorkflowEnvironment,
    readonly state: LabState,
    readonly config: Config,
    readonly hosts: LabHosts,
    readonly cluster: string,
  ) {
    this.client = new Client({ connection: env.connection, namespace: env.namespace });
    this.intake = new Intake(this.client, config);
    const [, c] = galera(state);
    this.targets = { [`manticore-cluster/${cluster}`]: Object.keys(c.nodes), 'ctlr-1': Object.keys(state.ctlr?.nodes ?? {}), 'cox-1': KUST_HOSTS };
  }

  /** A sequence on a time-skipping server of its own: nothing of one sequence (runs, clock) reaches the next. */
  static async create(start: Start): Promise<ModelSystem> {
    const n = ++sequences;
    const env = await timeSkippingEnv();
    const state = loadScenario(start.galera);
    // Named after the sequence, so that a failing sequence's steps are easy to find in a log.
    const cluster = `g${n}`;
    state.manticore.clusters = { [cluster]: state.manticore.clusters.posts };
    for (const e of start.events) applyEvent(state, e);
    const c = state.manticore.clusters[cluster];
    const config = testConfig({
      service: { taskQueue: `model-${n}` },
      ctlr: { nodes: Object.keys(state.ctlr?.nodes ?? {}) },
      manticore: { clusters: { [cluster]: { nodes: Object.keys(c.nodes), sqlHost: '127.0.0.1', sqlPort: c.sqlPort, unit: c.unit, grastatePath: `${c.dataDir}/${cluster}/grastate.dat`, logPath: c.logPath } } },
      // Fewer Galera polls than the procedure's 10 s (every workflow task replays the whole history here; see startWorker).
      timers: { galeraPoll: '30s', galeraSyncTimeout: '5m', flapGuard: start.policies.flapGuard },
      approvals: { 'kust-replica': { clean: start.policies.clean }, 'ctlr-replica': { reseed: start.policies.reseed }, 'manticore-cluster': { bootstrap: start.policies.bootstrap } },
    });
    const sys = new ModelSystem(env, state, config, new LabHosts(state, config.paths), cluster);
    await sys.startWorker();
    if (start.recoveredOnce) await sys.recoverOnce();
    return sys;
  }

  /** History for the position guard: a power loss, the alert, an operator approving what the run proposes, time. */
  private async recoverOnce(): Promise<void> {
    await this.step('world(galera-outage)', () => this.world({ kind: 'galera-outage' }));
    await this.step('alert(galera, firing)', () => this.alert('galera', true, ''));
    const id = this.idOf('galera');
    for (let i = 0; i < 5 && (await this.isOpen(id, this.latest(id)?.runId)); i++) {
      await this.step('decide(pending, fitting#0, by alice)', () => this.decide('pending', { verb: 'fitting', pick: 0, by: 'alice', choice: 'none', via: 'update' }));
      await this.step('advance(1m)', () => this.advance('1m'));
    }
    await this.step('world(galera-commit 5)', () => this.world({ kind: 'galera-commit', n: 5 }));
  }

  private async startWorker(): Promise<void> {
    this.worker = await Worker.create({
      connection: this.env.nativeConnection,
      taskQueue: this.config.service.taskQueue,
      workflowBundle: await workflowBundle(),
      activities: this.hosts.activities(),
      // No workflow cache, so no sticky queue: every task replays the run's history (as a new worker does after
      // a restart). The Java test server does not hand a stopped worker's sticky queue back for queries: with a
      // cache, a query after a restart waits forever.
      maxCachedWorkflows: 0,
    });
    this.running = this.worker.run();
  }

  async restartWorker(): Promise<void> {
    this.worker?.shutdown();
    await this.running;
    await this.startWorker();
    this.stats.restarts++;
  }

  /** The next step's action is followed at once by a worker restart, while its effects are still in flight. */
  restartAfterNextStep(): void {
    this.restartAfterNext = true;
  }

  /** One generated step: act, (restart), wait until every run is idle, check every invariant; 3 minutes at most. */
  async step(name: string, act: () => Promise<string>): Promise<void> {
    await this.within(180_000, `step ${this.stats.commands + 1} (${name})`, () => this.stepOnce(name, act));
  }

  /** Runs `body`, or fails after `ms` saying what it was doing (and prints that at once: the test may not end). */
  private async within<T>(ms: number, what: string, body: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new Error(`${what} did not finish in ${ms / 1000} s (${this.phase})\nsteps:\n  ${this.trace.join('\n  ')}`);
        console.error(err.message);
        reject(err);
      }, ms);
    });
    try {
      return await Promise.race([body(), stuck]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** What the current step is doing (for a step that never finishes). */
  private phase = '';

  private async stepOnce(name: string, act: () => Promise<string>): Promise<void> {
    this.stats.commands++;
    const t0 = Date.now();
    const restart = this.restartAfterNext;
    this.restartAfterNext = false;
    this.phase = 'acting';
    const what = await act();
    this.phase = 'restarting the worker';
    if (restart) await this.restartWorker();
    this.trace.push(`${name}${restart ? ' + worker restart' : ''}: ${what}`);
    const t1 = Date.now();
    this.phase = 'waiting until every run is idle';
    await this.settle();
    const t2 = Date.now();
    this.phase = 'checking the invariants';
    const bad = await this.violations();
    if (process.env.MEDIC_MODEL_DEBUG) console.log(`[${this.cluster}] ${t1 - t0}+${t2 - t1}+${Date.now() - t2} ms ${this.trace[this.trace.length - 1]}`);
    if (bad.length) throw new Error(`invariants violated after step ${this.stats.commands} (${name}):\n  ${bad.join('\n  ')}\nsteps:\n  ${this.trace.join('\n  ')}`);
  }

  world(e: WorldEvent): Promise<string> {
    return Promise.resolve(applyEvent(this.state, e) || 'no effect');
  }

  async advance(duration: string): Promise<string> {
    await advance(this.env, duration);
    return `now ${new Date(await this.env.currentTimeMs()).toISOString()}`;
  }

  /** The monitoring's alert for a target, delivered by the service's intake (the route as intake computes it). */
  async alert(target: Exclude<Target, 'ctlr-roles'>, firing: boolean, from: string): Promise<string> {
    let route: Route;
    if (target === 'ctlr-replica') {
      // The lab's own check line from one controller node, as check_mk would send it.
      const text = TOOLS['ctlr_topo_check.sh']({ dir: '/nonexistent', node: from, tool: 'ctlr_topo_check.sh', argv: [], state: this.state, now: Date.now() }).out.trim();
      const line = parseCheckMkLine(text);
      const routes = line.ok ? routeCheckMk(line.value) : line;
      if (!routes.ok) {
        this.stats.unroutable++;
        return `unroutable: ${text}: ${routes.error}`;
      }
      [route] = routes.value;
      firing = line.ok && line.value.state !== 0;
    } else if (target === 'kust') {
      const line = parseCheckMkLine(`${firing ? 2 : 0} snmpexec_mon_cox_1_status - - - ${firing ? 'replfailed (first: 2026-12-01 10:00:00, total: 3)' : 'ok'}`);
      const routes = line.ok ? routeCheckMk(line.value) : line;
      if (!routes.ok) throw new Error(routes.error);
      [route] = routes.value;
    } else {
      const alert = AlertSchema.parse({ status: firing ? 'firing' : 'resolved', labels: { alertname: 'GaleraClusterDown', runbook: 'manticore-cluster', cluster: this.cluster }, startsAt: new Date().toISOString() });
      const routes = routeAlertmanager(alert, this.config.intake.rules);
      if (!routes.ok) throw new Error(routes.error);
      [route] = routes.value;
    }
    const workflowId = workflowIdOf(route.runbook, this.targetOf(route));
    const wasOpen = await this.openForTarget(workflowId);
    const d = await this.intake.deliver(route, firing, 'model');
    const expected = firing ? (wasOpen ? ['joined', 'joined-quietly'] : ['started']) : wasOpen ? ['resolved-recorded', 'resolved-already-recorded'] : ['resolved-no-open-run', 'resolved-already-recorded'];
    if (!expected.includes(d.action)) this.seen.push(`${firing ? 'alert' : 'resolved alert'} for ${workflowId} (open: ${wasOpen}) was ${d.action}, expected ${expected.join(' or ')}`);
    await this.noteStart(workflowId, d.action === 'started');
    return `${d.action} ${workflowId}`;
  }

  /** An operator starts ctlr-roles by hand (`medic start ctlr-roles`). */
  async startByHand(): Promise<string> {
    const workflowId = workflowIdOf('ctlr-roles', 'ctlr-1');
    const wasOpen = await this.openForTarget(workflowId);
    const out = await startRun(this.client, this.config, 'ctlr-roles', {}, 'cli');
    if (out.started === wasOpen) this.seen.push(`start of ${workflowId} (open: ${wasOpen}) answered started: ${out.started}`);
    await this.noteStart(workflowId, out.started);
    return `${out.started ? 'started' : 'joined'} ${out.workflowId}`;
  }

  /** An operator's decision on a target's latest run (fitting or not, by someone allowed or not). */
  async decide(target: Target | 'pending', p: DecideParams): Promise<string> {
    const exec = target === 'pending' ? await this.waitingForAHuman(p.pick) : this.latest(this.idOf(target));
    if (!exec) return `no run of ${target === 'pending' ? 'any target waits for a decision' : this.idOf(target)}`;
    const { workflowId } = exec;
    const handle = this.client.workflow.getHandle(exec.workflowId, exec.runId);
    const open = await this.isOpen(workflowId, exec.runId);
    const before = open ? await handle.query(stateQuery) : undefined;
    const pending = before?.pending;
    const fitting: Action[] = pending ? FITTING[pending.kind] : ['retry'];
    const action = p.verb === 'fitting' ? fitting[p.pick % fitting.length] : p.verb;
    const choices = pending?.choices ?? [];
    const choice = p.choice === 'bogus' ? 'mc-zz' : p.choice === 'pick' && choices.length ? choices[p.pick % choices.length] : undefined;
    const d: Decision = { action, by: p.by, ...(choice ? { choice } : {}), comment: 'model' };
    const refused = !pending || !this.config.api.approvers.includes(p.by) || !ALLOWED[pending.kind].includes(action) || (choice !== undefined && !choices.includes(choice));
    const atMs = await this.env.currentTimeMs();
    let accepted = false;
    try {
      if (p.via === 'update') {
        await handle.executeUpdate(decideUpdate, { args: [d] });
        accepted = true;
      } else {
        await handle.signal(decideSignal, d);
        accepted = !refused;
      }
    } catch (err) {
      if (p.via === 'update' && !refused) this.seen.push(`${workflowId}: ${JSON.stringify(d)} refused (${String(err)}) though ${pending?.kind ?? 'nothing'} was pending`);
      if (p.via === 'signal' && open) throw err;
    }
    if (accepted && refused) this.seen.push(`${workflowId}: ${JSON.stringify(d)} accepted, expected a refusal (pending: ${JSON.stringify(pending ?? null)})`);
    this.stats.decisions++;
    if (refused) this.stats.refused++;
    else this.sent.push({ ...exec, action, atMs });
    if (before && p.via === 'signal') await this.signalRecorded(exec, before, !refused);
    else if (before && refused) await this.unchanged(exec, before);
    return `${JSON.stringify(d)} via ${p.via} on ${workflowId}: ${refused ? 'refused' : 'accepted'}`;
  }

  /** The run's state once idle again: its query when open, its result's when it completed. */
  private async stateAfter(exec: { workflowId: string; runId: string }): Promise<RunState | undefined> {
    await this.settle();
    return (await this.views()).find((v) => v.workflowId === exec.workflowId && v.runId === exec.runId)?.state;
  }

  /**
   * A refused Update changes nothing but the run's record of the refusal: runs with operator identity (every
   * run settingsFor starts) record it as one refused decision, runs without it record nothing.
   */
  private async unchanged(exec: { workflowId: string; runId: string }, before: RunState): Promise<void> {
    const after = await this.stateAfter(exec);
    const added = after?.decisions[before.decisions.length];
    const expected = added && after?.decisions.length === before.decisions.length + 1 && added.accepted === false && added.refusal ? { ...before, decisions: [...before.decisions, added] } : before;
    if (!isDeepStrictEqual(comparable(after), comparable(expected))) this.seen.push(`${exec.workflowId}: a refused decision changed the run: ${firstDifference(comparable(expected), comparable(after))}`);
  }

  /** A signalled decision is recorded, accepted or refused as predicted; a refused one changes nothing else. */
  private async signalRecorded(exec: { workflowId: string; runId: string }, before: RunState, accepted: boolean): Promise<void> {
    const after = await this.stateAfter(exec);
    const last = after?.decisions[before.decisions.length];
    if (last?.accepted !== accepted) this.seen.push(`${exec.workflowId}: a signalled decision was recorded as ${JSON.stringify(last)}, expected accepted: ${accepted}`);
    else if (!accepted && !isDeepStrictEqual(comparable(after), comparable({ ...before, decisions: [...before.decisions, last] }))) {
      this.seen.push(`${exec.workflowId}: a refused signal changed the run beyond recording the refusal: ${firstDifference(comparable({ ...before, decisions: [...before.decisions, last] }), comparable(after))}`);
    }
  }

  private latest(workflowId: string): { workflowId: string; runId: string } | undefined {
    return [...this.executions].reverse().find((x) => x.workflowId === workflowId);
  }

  /** One of the open runs that wait for an operator (an approval or an escalation), by `pick`. */
  private async waitingForAHuman(pick: number): Promise<{ workflowId: string; runId: string } | undefined> {
    const waiting = (await this.views()).filter((v) => v.status === 'RUNNING' && v.state?.pending);
    return waiting.length ? waiting[pick % waiting.length] : undefined;
  }

  private idOf(target: Target): string {
    if (target === 'galera') return workflowIdOf('manticore-cluster', this.cluster);
    if (target === 'kust') return workflowIdOf('kust-replica', 'cox-1');
    return workflowIdOf(target, 'ctlr-1');
  }

  private targetOf(route: Route): string {
    return route.runbook === 'manticore-cluster' ? route.params.cluster : route.runbook === 'kust-replica' ? route.params.instance : 'ctlr-1';
  }

  private async noteStart(workflowId: string, started: boolean): Promise<void> {
    if (started) {
      const { runId } = await this.client.workflow.getHandle(workflowId).describe();
      this.executions.push({ workflowId, runId });
      this.stats.started++;
    } else this.stats.joined++;
  }

  /** Whether a run of this workflow ID started by this system is open. */
  open(workflowId: string): Promise<boolean> {
    return this.isOpen(workflowId);
  }

  /** An open run of this ID, or of a runbook that shares its target (the controller pair: ctlr-replica and ctlr-roles). */
  private async openForTarget(workflowId: string): Promise<boolean> {
    const [runbook, target] = [workflowId.slice(0, workflowId.indexOf('/')), workflowId.slice(workflowId.indexOf('/') + 1)];
    const siblings = isRunbook(runbook) ? (RUNBOOKS[runbook].sharesTargetWith ?? []) : [];
    for (const id of [workflowId, ...siblings.map((r) => workflowIdOf(r, target))]) if (await this.isOpen(id)) return true;
    return false;
  }

  private async isOpen(workflowId: string, runId?: string): Promise<boolean> {
    if (!runId && !this.executions.some((x) => x.workflowId === workflowId)) return false;
    return (await this.client.workflow.getHandle(workflowId, runId).describe()).status.name === 'RUNNING';
  }

  /** Waits until no run has a workflow task or an activity pending (each then waits for a timer or a human). */
  async settle(): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const busy: string[] = [];
      for (const x of this.executions) if (!this.closed.has(`${x.workflowId}#${x.runId}`) && (await this.busy(x.workflowId, x.runId))) busy.push(x.workflowId);
      if (!busy.length) return;
      if (process.env.MEDIC_MODEL_DEBUG && Date.now() > deadline - 110_000) console.log(`busy: ${busy.join(', ')}`);
      if (Date.now() > deadline) throw new Error(`runs still busy after 120 s: ${busy.join(', ')}\nsteps:\n  ${this.trace.join('\n  ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async busy(workflowId: string, runId: string): Promise<boolean> {
    const events = (await this.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    this.historyLength.set(`${workflowId}#${runId}`, events.length);
    let task = false;
    const activities = new Set<string>();
    for (const e of events) {
      const t = e.eventType;
      if (t === EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) task = true;
      else if (t === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED || t === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED || t === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT) task = false;
      else if (t === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) activities.add(String(e.eventId));
      else {
        const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
        if (done) activities.delete(String(done.scheduledEventId));
      }
    }
    const closed = events.length > 0 && [
      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    ].includes(events[events.length - 1].eventType ?? 0);
    return !closed && (task || activities.size > 0);
  }

  /** Every execution this sequence started, as the client sees it now. */
  async views(): Promise<RunView[]> {
    const out: RunView[] = [];
    for (const x of this.executions) {
      const k = `${x.workflowId}#${x.runId}`;
      const done = this.closed.get(k);
      if (done) {
        out.push(done);
        continue;
      }
      const h = this.client.workflow.getHandle(x.workflowId, x.runId);
      const status = (await h.describe()).status.name;
      if (status === 'RUNNING') {
        // The state is a function of the history: unchanged history, unchanged state (a query replays it all).
        const length = this.historyLength.get(k) ?? -1;
        const cached = this.queried.get(k);
        const state = cached && cached.length === length ? cached.state : await h.query(stateQuery);
        this.queried.set(k, { length, state });
        out.push({ ...x, status, state });
      } else {
        const result = status === 'COMPLETED' ? ((await h.result()) as RunResult) : undefined;
        const view = { ...x, status, result, state: result?.state };
        this.closed.set(k, view);
        out.push(view);
      }
    }
    return out;
  }

  async violations(): Promise<string[]> {
    const runs = await this.views();
    return [
      ...this.seen.splice(0),
      ...openRunsPerTarget(runs),
      ...changersPerTarget(this.hosts.calls, runs, this.targets),
      ...galeraSafety(this.state, this.hosts.bootstraps),
      ...controllerPair(this.state),
      ...decisionsHonoured(runs, this.sent),
      ...this.hosts.refused.map((r) => `a command was refused for an argument off the allow-list: ${r}`),
    ];
  }

  /** Ends the sequence: the worker stopped, the server with every run on it gone. */
  async close(): Promise<void> {
    try {
      await this.within(60_000, 'stopping the worker', async () => {
        this.phase = 'stopping the worker';
        this.worker?.shutdown();
        await this.running;
      });
    } finally {
      await this.env.teardown();
    }
  }
}

/**
 * The state without the times of refused decisions: a refused signal changes no command, so its workflow task
 * completes without commands, and a later replay hands the signal to the next workflow task, with that task's
 * time (seen here, where every task replays the history). Everything else must be equal.
 */
function comparable(s: RunState | undefined): unknown {
  return s && { ...s, decisions: s.decisions.map((d) => (d.accepted ? d : { ...d, at: '(refused: time not stable across replays)' })) };
}

/** Where two JSON values first differ, as `path: before -> after`. */
function firstDifference(a: unknown, b: unknown, path = 'state'): string {
  if (isDeepStrictEqual(a, b)) return '';
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
  }
  return `${path}: ${JSON.stringify(a)?.slice(0, 300)} -> ${JSON.stringify(b)?.slice(0, 300)}`;
}

