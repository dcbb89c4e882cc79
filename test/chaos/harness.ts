/**
 * The crash matrix's machinery: the service as real processes (`node dist/worker/main.js`), a lab over
 * real sshd, a driver that takes the operators' decisions through the HTTP API, crashes by SIGKILL at
 * a chosen point, and the facts each case is judged by (the lab's command log and state, the run's
 * result and history).
 *
 * Two kinds of crash:
 *   - worker: the service runs against a Temporal dev server of the test's (TEMPORAL_ADDRESS); the
 *     service process is SIGKILLed and a new one started;
 *   - tree:   the service runs with its embedded dev server (`npm start` as a user runs it); the whole
 *     process group (service and Temporal server) is SIGKILLed and started again on the same SQLite.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode } from '@temporalio/worker';
import { loadConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import { labUp, LabHandle, REPO_ROOT } from '../../lab/lab';
import type { CommandFault, CommandLogEntry, LabState } from '../../lab/types';
import { temporalBinaries } from '../../worker/binaries';
import { prebuiltBundle } from '../../worker/bundle';
import { DevServer, startDevServer } from '../../worker/devserver';
import { descendantsOf as below, isRunning } from '../../worker/proc';
import { RunbookName, RunResult, RunStatusKey, StepRecord } from '../../workflows/definitions';
import { freePort } from '../helpers/service';

export type CrashKind = 'worker' | 'tree';
const EventType = temporal.api.enums.v1.EventType;

/** One runbook's case: the scenario, how the run is started, what the operators answer, how it must end. */
export interface Script {
  runbook: RunbookName;
  scenario: string;
  params: Record<string, unknown>;
  /** Config over the lab's (approvals, timers). */
  config: Record<string, unknown>;
  /** Faults present from the start (e.g. a first failure that escalates). */
  faults: CommandFault[];
  /** The run, then any child runs whose approvals and escalations the driver answers. */
  runs: string[];
  outcome: string;
}

/** Where a case crashes: inside the n-th command, right after it ended, inside a durable wait, or while a decision is pending. */
export type Point =
  | { kind: 'command'; index: number; entry: CommandLogEntry; skip: number }
  | { kind: 'boundary'; index: number; entry: CommandLogEntry }
  | { kind: 'wait'; index: number; run: string; name: string; ms: number }
  | { kind: 'approval' | 'escalation' };

export function pointName(p: Point): string {
  switch (p.kind) {
    case 'command':
      return `inside command ${p.index + 1} (${p.entry.node}: ${p.entry.tool} ${p.entry.argv.join(' ')})`;
    case 'boundary':
      return `after command ${p.index + 1} (${p.entry.tool} ${p.entry.argv.join(' ')})`;
    case 'wait':
      return `inside wait ${p.index + 1} (${p.run}: ${p.name}, ${p.ms / 1000} s)`;
    default:
      return `inside the ${p.kind} wait`;
  }
}

/** The lab's view of a command: what changes something (so must never run twice), by tool and arguments. */
export function changes(e: Pick<CommandLogEntry, 'tool' | 'argv' | 'stdin'>): boolean {
  const [a0, a1] = e.argv;
  switch (e.tool) {
    case 'clean_kust_replica.sh':
    case 'clean_tnt_replica.sh':
    case 'mv':
    case 'cp':
    case 'mkdir':
    case 'chown':
    case 'im_deployer':
    case 'manticore_new_cluster':
      return true;
    case 'ic':
      return a0 === 'flip' || a0 === 'set_autoflip';
    case 'systemctl':
      return !['is-active', 'is-enabled', 'status'].includes(a0);
    case 'im_utils':
      return a0 === '--reup-mysql-replica' || a0 === '--orch-fix-errants';
    case 'mysql':
      return /\bSET\b/i.test(`${e.stdin ?? ''} ${a1 ?? ''} ${e.argv.join(' ')}`);
    default:
      return false;
  }
}

/** The controller's backup folder is named after the minute it is made (`/data/ctlr-1.20261202_0355`): the same step in another minute. */
const STAMP = /\.\d{8}_\d{4}\b/;
const unstamped = (text: string) => text.replace(new RegExp(STAMP.source, 'g'), '.<YYYYmmdd_HHMM>');
export const line = (e: CommandLogEntry) => unstamped(`${e.node}: ${e.tool} ${e.argv.join(' ')}${e.stdin ? ` <<< ${e.stdin.trim()}` : ''}`);
/** The start of a logged command (the log is written at its end). */
export const startOf = (e: CommandLogEntry) => Date.parse(e.time) - (e.durationMs ?? 0);

/** What a repair leaves behind, without what differs from run to run (hit counters, call counts, pod ages, file trees with timestamps). */
export function digest(s: LabState): unknown {
  return {
    maps: s.maps,
    units: Object.fromEntries(Object.entries(s.nodes).map(([n, ns]) => [n, ns.units])),
    ctlr: s.ctlr?.nodes,
    ctlrData: Object.fromEntries(Object.entries(s.nodes).map(([n, ns]) => [n, Object.keys(ns.files).filter((f) => /^\/data\/ctlr-1/.test(f)).map(unstamped).sort()])),
    mysql: Object.fromEntries(Object.entries(s.mysql.clusters).map(([c, cl]) => [c, { instances: cl.instances.map(({ errantFixCalls: _, ...i }) => i), pods: cl.pods.map((p) => `${p.name} ${p.ready} ${p.status}`) }])),
    manticore: Object.fromEntries(Object.entries(s.manticore.clusters).map(([c, cl]) => [c, { bootstraps: cl.bootstraps, violations: cl.violations, nodes: cl.nodes }])),
  };
}

let bundleEnv: Promise<Record<string, string>> | undefined;
/**
 * The workflow code of every service process of this test process: the build-time bundle
 * (dist/workflow-bundle.js), which each service checks and loads itself as `npm start` does, when it is
 * current; else one bundle made here for all of them, named by MEDIC_WORKFLOW_BUNDLE (no restart bundles).
 */
export function workflowBundleEnv(): Promise<Record<string, string>> {
  bundleEnv ??= (async (): Promise<Record<string, string>> => {
    if ('code' in prebuiltBundle()) return {};
    const { code } = await bundleWorkflowCode({ workflowsPath: path.join(REPO_ROOT, 'dist', 'workflows'), logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) } });
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'medic-bundle-')), 'workflows.js');
    writeFileSync(file, code);
    return { MEDIC_WORKFLOW_BUNDLE: file };
  })();
  return bundleEnv;
}

export interface ServiceProcess {
  child: ChildProcess;
  apiUrl: string;
  startedMs: number;
}

const MAIN = path.join(REPO_ROOT, 'dist', 'worker', 'main.js');

/** pid and every live process below it (the service and everything it started, in any process group). */
const descendantsOf = (pid: number) => below([pid]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** CHAOS_DEBUG=1: the driver's steps with times, on stderr. */
const debug = (t0: number, what: string) => {
  if (process.env.CHAOS_DEBUG) process.stderr.write(`[chaos +${Date.now() - t0} ms] ${what}\n`);
};

/**
 * One runbook's lane: a lab, the service configuration, Temporal (the test's dev server, or the
 * service's embedded one), the service process. Cases run one after the other on it (lab.reset()).
 */
export class Lane {
  lab!: LabHandle;
  config!: Config;
  client!: Client;
  private connection!: Connection;
  private server?: DevServer;
  private service?: ServiceProcess;
  private temporalAddress = '';
  private logFile = '';
  private env: Record<string, string> = {};
  /** When the service (and for `tree`, its Temporal) last answered after a restart (ms). */
  lastReadyAt = 0;

  constructor(
    readonly kind: CrashKind,
    readonly script: Script,
  ) {}

  async up(): Promise<void> {
    const base = { timers: { flapGuard: '0s', escalationReminder: '1h', approvalReminder: '1h' }, ssh: { heartbeatTimeout: '2s', connectTimeoutSeconds: 5 }, service: { stickyTimeout: '1s', workflowTaskTimeout: '3s' } };
    this.lab = await labUp({ scenario: this.script.scenario, extraConfig: merge(base, this.script.config) });
    this.config = loadConfig(this.lab.configPath);
    const bundle = await workflowBundleEnv();
    const port = await freePort();
    this.temporalAddress = `127.0.0.1:${port}`;
    this.logFile = path.join(this.lab.dir, `service-${this.kind}.log`);
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')) as [string, string][]);
    if (this.kind === 'worker') {
      this.server = await startDevServer({ cli: temporalBinaries().cli, dataDir: mkdtempSync(path.join(os.tmpdir(), 'medic-chaos-temporal-')), port, uiPort: 0 });
      this.env = { ...clean, TEMPORAL_ADDRESS: this.temporalAddress, ...bundle };
    } else {
      this.env = { ...clean, MEDIC_TEMPORAL_PORT: String(port), MEDIC_UI_PORT: '0', ...bundle };
    }
    await this.start();
    this.connection = await Connection.connect({ address: this.temporalAddress });
    this.client = new Client({ connection: this.connection, namespace: this.config.service.namespace });
  }

  /** Starts the service process and waits until it says its worker runs. */
  async start(): Promise<void> {
    this.service = await this.spawn();
    this.lastReadyAt = Date.now();
  }

  /** Another service process on the same configuration (a second worker on the task queue: kind worker only). */
  async spawn(): Promise<ServiceProcess> {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(process.execPath, [MAIN, '--config', this.lab.configPath], { env: this.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr?.pipe(log);
    const ready = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`service did not start within 60 s:\n${out}`)), 60_000);
      child.stdout?.on('data', (d: Buffer) => {
        log.write(d);
        out += d.toString();
        const api = /medic: API (http:\/\/\S+)/.exec(out);
        if (api && /medic: worker on task queue/.test(out)) {
          clearTimeout(timer);
          resolve(api[1]);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`service exited with ${code} before it was ready:\n${out}\n${readFileSync(this.logFile, 'utf8').slice(-2000)}`));
      });
    });
    child.removeAllListeners('exit');
    return { child, apiUrl: ready, startedMs: Date.now() };
  }

  /** Makes `s` the service the driver talks to (after the one it had was killed). */
  use(s: ServiceProcess): void {
    this.service = s;
  }

  /**
   * SIGKILL: the service process (worker), or every process of the service's tree at once, the Temporal
   * server and its keeper included (tree: as when the machine's OOM killer or a `kill -9` of everything hits).
   */
  async crash(): Promise<void> {
    const s = this.service;
    if (!s?.child.pid) throw new Error('no service to crash');
    this.service = undefined;
    const pid = s.child.pid;
    const victims = this.kind === 'tree' ? descendantsOf(pid) : [pid];
    for (const v of victims) {
      try {
        process.kill(v, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    const deadline = Date.now() + 10_000;
    while (victims.some((v) => isRunning(v))) {
      if (Date.now() > deadline) throw new Error(`processes ${victims.filter((v) => isRunning(v)).join(' ')} outlived SIGKILL`);
      await sleep(20);
    }
  }

  get apiUrl(): string | undefined {
    return this.service?.apiUrl;
  }

  /** A call to the service's API as the lab's operator alice (the driver decides as alice); undefined while the service is down. */
  async api(method: 'GET' | 'POST', route: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> } | undefined> {
    const url = this.apiUrl;
    if (!url) return undefined;
    try {
      const res = await fetch(`${url}${route}`, {
        method,
        headers: { authorization: `Bearer ${this.lab.operators.alice.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(15_000),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    } catch {
      return undefined;
    }
  }

  /** The run's status (Temporal's, and the run's own RunStatus) straight from Temporal; undefined while it does not answer. */
  async status(workflowId: string): Promise<{ closed: boolean; runStatus?: string } | undefined> {
    try {
      const d = await this.client.workflow.getHandle(workflowId).describe();
      return { closed: d.status.name !== 'RUNNING', runStatus: d.typedSearchAttributes.get(RunStatusKey) };
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError') return { closed: false };
      return undefined;
    }
  }

  async history(workflowId: string) {
    return (await this.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  }

  async down(): Promise<void> {
    if (this.service?.child.pid) {
      const pid = this.service.child.pid;
      const all = descendantsOf(pid);
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      const deadline = Date.now() + 15_000;
      while (all.some((v) => isRunning(v)) && Date.now() < deadline) await sleep(50);
      for (const p of all.filter((v) => isRunning(v))) process.kill(p, 'SIGKILL');
    }
    await this.connection?.close().catch(() => undefined);
    await this.server?.stop();
    await this.lab?.down();
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const old = out[k];
    out[k] = old && v && typeof old === 'object' && typeof v === 'object' && !Array.isArray(v) ? merge(old as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** What one case left behind. */
export interface CaseResult {
  result: RunResult;
  log: CommandLogEntry[];
  state: LabState;
  /** Durable waits of the runs (not the reminders of pending decisions), from their histories, run by run. */
  timers: { run: string; name: string; ms: number; startedAt: number; firedAt?: number }[];
  /** The steps of every run of the script (the run and its children). */
  steps: StepRecord[];
  crashedAt?: number;
  /** When the service answered again after the crash. */
  backAt?: number;
  /** What the driver answered: approvals and escalations. */
  decided: { approval: number; escalation: number };
  ms: number;
}

/** The durable waits of the script's runs, from their histories: TimerStarted (with the wait's summary) and TimerFired. */
export async function timersOf(lane: Lane): Promise<CaseResult['timers']> {
  const out: CaseResult['timers'] = [];
  for (const run of lane.script.runs) out.push(...(await timersOfRun(lane, run).catch(() => [])));
  return out;
}

async function timersOfRun(lane: Lane, workflowId: string): Promise<CaseResult['timers']> {
  const events = await lane.history(workflowId);
  const started = new Map<string, CaseResult['timers'][number]>();
  const out: CaseResult['timers'] = [];
  for (const e of events) {
    const at = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.round((e.eventTime?.nanos ?? 0) / 1e6);
    if (e.eventType === EventType.EVENT_TYPE_TIMER_STARTED) {
      const summary = e.userMetadata?.summary?.data ? JSON.parse(Buffer.from(e.userMetadata.summary.data).toString()) : '';
      if (/^next reminder/.test(String(summary))) continue;
      const ms = Number(e.timerStartedEventAttributes?.startToFireTimeout?.seconds ?? 0) * 1000 + Math.round((e.timerStartedEventAttributes?.startToFireTimeout?.nanos ?? 0) / 1e6);
      const t = { run: workflowId, name: String(summary || 'poll'), ms, startedAt: at };
      started.set(String(e.timerStartedEventAttributes?.timerId), t);
      out.push(t);
    } else if (e.eventType === EventType.EVENT_TYPE_TIMER_FIRED) {
      const t = started.get(String(e.timerFiredEventAttributes?.timerId));
      if (t) t.firedAt = at;
    }
  }
  return out;
}

/**
 * Runs one case on a lane: reset the lab, start the run through the API, answer approvals (approve) and
 * escalations (retry) as an operator would, and at `point` SIGKILL and start the service again.
 */
export async function runCase(lane: Lane, point?: Point, timeoutMs = 180_000): Promise<CaseResult> {
  const t0 = Date.now();
  const { script, lab } = lane;
  await lab.reset();
  const hold = point?.kind === 'command' ? `hold-${point.index}` : undefined;
  lab.setState((s) => {
    s.faults = structuredClone(script.faults);
    if (point?.kind === 'command') {
      const stamped = point.entry.argv.findIndex((a) => STAMP.test(a));
      const argsPrefix = stamped < 0 ? point.entry.argv : point.entry.argv.slice(0, stamped);
      s.faults.unshift({ id: hold, tool: point.entry.tool, node: point.entry.node, argsPrefix, hold: true, skip: point.skip, times: 1 });
    }
  });
  if (!lane.apiUrl) await lane.start();
  for (let started = false; !started; ) {
    const r = await lane.api('POST', '/v1/runs', { runbook: script.runbook, params: script.params });
    if (r && (r.status === 201 || r.status === 200)) started = true;
    else if (r && r.status !== 503) throw new Error(`start refused: ${r.status} ${JSON.stringify(r.json)}`);
    else await sleep(200);
  }
  let crashedAt: number | undefined;
  let backAt: number | undefined;
  const counts = { approval: 0, escalation: 0 };
  const decided = new Set<string>();
  const main = script.runs[0];
  const due = async (): Promise<boolean> => {
    if (!point || crashedAt) return false;
    switch (point.kind) {
      case 'command':
        return lab.held(hold as string).length > 0;
      case 'boundary':
        return lab.log().length >= point.index + 1;
      case 'wait':
        return (await timersOf(lane)).length >= point.index + 1;
      default: {
        for (const id of script.runs) if ((await lane.status(id))?.runStatus === (point.kind === 'approval' ? 'awaiting-approval' : 'escalated')) return true;
        return false;
      }
    }
  };
  for (;;) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`case did not finish within ${timeoutMs / 1000} s; last commands:\n${lab.log().slice(-5).map(line).join('\n')}\nservice log:\n${lane.log().slice(-3000)}`);
    if (await due()) {
      crashedAt = Date.now();
      debug(t0, `crash ${point ? pointName(point) : ''}`);
      await lane.crash();
      await lane.start();
      backAt = Date.now();
      debug(t0, 'service back');
      if (hold) lab.release(hold);
    }
    const main0 = await lane.status(main);
    if (main0?.closed) break;
    for (const id of script.runs) {
      const st = await lane.status(id);
      if (!st || st.closed) continue;
      const waitingForCrash = point && !crashedAt && ((point.kind === 'approval' && st.runStatus === 'awaiting-approval') || (point.kind === 'escalation' && st.runStatus === 'escalated'));
      if (waitingForCrash || (st.runStatus !== 'awaiting-approval' && st.runStatus !== 'escalated')) continue;
      // The history's length tells this pending decision from the next one (fetched only while one is pending).
      const key = `${id}:${(await lane.history(id).catch(() => [])).length}`;
      if (decided.has(key)) continue;
      const route = `/v1/runs/${encodeURIComponent(id)}`;
      const r =
        st.runStatus === 'awaiting-approval'
          ? await lane.api('POST', `${route}/approve`, { by: 'alice', comment: 'chaos driver' })
          : await lane.api('POST', `${route}/decide`, { action: 'retry', by: 'alice', comment: 'chaos driver' });
      debug(t0, `decision for ${id} (${st.runStatus}): ${r?.status} ${r ? JSON.stringify(r.json).slice(0, 200) : 'no answer'}`);
      if (r?.status === 200) {
        counts[st.runStatus === 'awaiting-approval' ? 'approval' : 'escalation']++;
        decided.add(key);
      }
    }
    await sleep(50);
  }
  const result = (await lane.client.workflow.getHandle(main).result()) as RunResult;
  const steps: StepRecord[] = [];
  for (const id of script.runs) {
    const r = (await lane.client.workflow
      .getHandle(id)
      .result()
      .catch(() => undefined)) as RunResult | undefined;
    steps.push(...(r?.state.steps ?? []));
  }
  // Tools of held or killed sessions log their end a moment later.
  await sleep(300);
  return { result, log: lab.log(), state: lab.state(), timers: await timersOf(lane), steps, crashedAt, backAt, decided: counts, ms: Date.now() - t0 };
}

/**
 * The crash points of a runbook, from its uncrashed reference case: inside and right after every command
 * that changes something (each time it runs) and every distinct read-only command (its first run: the
 * same read repeated, as in a poll or a second survey, is the same step again), inside every durable
 * wait, and inside the approval and escalation waits.
 */
export function pointsOf(ref: CaseResult): Point[] {
  const points: Point[] = [];
  const seen = new Map<string, number>();
  const first = (e: CommandLogEntry, counts: Map<string, number>) => {
    const n = counts.get(line(e)) ?? 0;
    counts.set(line(e), n + 1);
    return { n, take: changes(e) || n === 0 };
  };
  // Holds match calls as they start: count repeats of the same command in start order.
  [...ref.log]
    .sort((a, b) => startOf(a) - startOf(b))
    .forEach((entry, index) => {
      const { n, take } = first(entry, seen);
      if (take) points.push({ kind: 'command', index, entry, skip: n });
    });
  const ended = new Map<string, number>();
  ref.log.forEach((entry, index) => {
    if (first(entry, ended).take) points.push({ kind: 'boundary', index, entry });
  });
  ref.timers.forEach((t, index) => points.push({ kind: 'wait', index, run: t.run, name: t.name, ms: t.ms }));
  if (ref.decided.approval) points.push({ kind: 'approval' });
  if (ref.decided.escalation) points.push({ kind: 'escalation' });
  return points;
}
