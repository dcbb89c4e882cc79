/** Temporal for tests: the provisioned time-skipping test server, with the project's search attributes. */
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { after, before } from 'node:test';
import type { ConnectionPlugin, WorkflowHandle } from '@temporalio/client';
import type { Activities, RunActivities } from '../../activities';
import { tsToMs } from '@temporalio/common/lib/time';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { temporalBinaries } from '../../worker/binaries';
import { WORKFLOW_BUNDLER_OPTIONS } from '../../worker/bundle';
import { recordHistory } from './histories';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { msOf } from '../../workflows/duration';

let runtimeInstalled = false;
/** Tests log only errors (the test server's missing-capability warnings are noise). */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { forward: {}, filter: 'ERROR' } } });
}

/**
 * The Java test server accepts a keepalive ping at most every 5 minutes and answers the client's default
 * (every 30 s) with GOAWAY "too many pings" (logged as "rejected by server because of excess pings"). The
 * calls cut that way can leave a time-skipping lock behind: the clock then stops skipping and a test that
 * sleeps 65 simulated minutes hangs. Seen under load on this 2-core machine; loopback needs no keepalive.
 */
const noKeepalive: ConnectionPlugin = {
  name: 'medic-tests-no-keepalive',
  configureConnection: (o) => ({ ...o, channelArgs: { ...o.channelArgs, 'grpc.keepalive_time_ms': 24 * 3600_000, 'grpc.keepalive_permit_without_calls': 0 } }),
};

export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: temporalBinaries().testServer } },
    plugins: [noKeepalive],
  });
  await registerSearchAttributes(env, env.namespace ?? 'default');
  const teardown = env.teardown.bind(env);
  const beforeTeardown: (() => Promise<void>)[] = [];
  hooks.set(env, beforeTeardown);
  env.teardown = async () => {
    for (const h of beforeTeardown) await h();
    await teardown();
  };
  await recordSimulatedTime(env);
  return env;
}

/** What runs at an environment's teardown before the server goes (the file's worker, the simulated time record). */
const hooks = new WeakMap<TestWorkflowEnvironment, (() => Promise<void>)[]>();

/** One line of MEDIC_SIM_TIME_FILE: the simulated time one test server covered, and its wall time. */
export interface SimulatedTimeRecord {
  /** The test file (dist/test/.../x.test.js, as node --test runs it). */
  file: string;
  /**
   * The simulated time the runs covered (ms): the union of the spans from each run's first to its last history
   * event (runs at once count once), over the runs that noteRunSpans saw.
   */
  simulatedMs: number;
  runs: number;
  /**
   * How far the server's clock moved from its start to its teardown (ms). Not a measure: whenever nothing is due
   * and nothing holds the clock, it jumps to the next timer, and a terminated run leaves its 10-year run timeout
   * timer behind, so this moves by decades.
   */
  clockMs: number;
  /** Wall time from the start of this server to its teardown (ms). */
  wallMs: number;
  /** Wall time from the start of the test process to this teardown (ms). */
  processMs: number;
}

const spans = new WeakMap<TestWorkflowEnvironment, [number, number][]>();

/**
 * With MEDIC_SIM_TIME_FILE set (the timeskip benchmark, test/bench/timeskip.ts, sets it), every test server
 * appends one SimulatedTimeRecord (a JSON line) to that file at its teardown.
 */
async function recordSimulatedTime(env: TestWorkflowEnvironment): Promise<void> {
  const out = process.env.MEDIC_SIM_TIME_FILE;
  if (!out) return;
  const [clock0, wall0] = [await env.currentTimeMs(), Date.now()];
  spans.set(env, []);
  hooks.get(env)?.push(async () => {
    const clockMs = (await env.currentTimeMs()) - clock0;
    const runs = spans.get(env) ?? [];
    let simulatedMs = 0;
    let end = -Infinity;
    for (const [a, b] of [...runs].sort((x, y) => x[0] - y[0])) {
      simulatedMs += Math.max(0, b - Math.max(a, end));
      end = Math.max(end, b);
    }
    const rec: SimulatedTimeRecord = { file: path.relative(process.cwd(), process.argv[1] ?? '?'), simulatedMs, runs: runs.length, clockMs, wallMs: Date.now() - wall0, processMs: Math.round(process.uptime() * 1000) };
    appendFileSync(out, `${JSON.stringify(rec)}\n`);
  });
}

/** For MEDIC_SIM_TIME_FILE: the simulated span of each of these runs (first to last history event), once they have ended. */
export async function noteRunSpans(env: TestWorkflowEnvironment, handles: WorkflowHandle[]): Promise<void> {
  const list = spans.get(env);
  if (!list) return;
  for (const h of handles) {
    const events = (await h.fetchHistory()).events ?? [];
    if (events.length) list.push([tsToMs(events[0].eventTime), tsToMs(events[events.length - 1].eventTime)]);
  }
}

export async function registerSearchAttributes(env: TestWorkflowEnvironment, namespace: string): Promise<void> {
  const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  await env.connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(Object.keys(SEARCH_ATTRIBUTES).map((k) => [k, keyword])),
  });
}

let bundle: Promise<{ code: string }> | undefined;
/**
 * The workflow bundle, once per test process, from dist/.cache when it was built from the same compiled code
 * (every test file's process used to run webpack, 0.6 to 1.5 s of CPU each).
 */
export function workflowBundle(): Promise<{ code: string }> {
  bundle ??= cachedBundle();
  return bundle;
}

/**
 * The key: a hash of the lock file (the SDK, webpack and the packages the workflows import) and every compiled
 * file outside dist/test (the workflows and what they import). Written to a temp file and renamed into place,
 * so that parallel test processes read either nothing or a whole bundle.
 */
async function cachedBundle(): Promise<{ code: string }> {
  const dist = path.resolve(__dirname, '../..');
  const hash = createHash('sha256');
  hash.update(readFileSync(path.join(dist, '..', 'package-lock.json')));
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && p !== path.join(dist, 'test') && !e.name.startsWith('.')) walk(p);
      else if (e.isFile() && e.name.endsWith('.js')) hash.update(`${path.relative(dist, p)}\0`).update(readFileSync(p));
    }
  };
  walk(dist);
  const dir = path.join(dist, '.cache');
  const file = path.join(dir, `workflow-bundle-${hash.digest('hex').slice(0, 24)}.js`);
  try {
    return { code: readFileSync(file, 'utf8') };
  } catch {
    // not built yet
  }
  const built = await bundleWorkflowCode({ ...WORKFLOW_BUNDLER_OPTIONS, workflowsPath: path.join(dist, 'workflows'), logger: quietLogger });
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, built.code);
  renameSync(tmp, file);
  // Bundles of older builds go after a day.
  for (const f of readdirSync(dir)) {
    const p = path.join(dir, f);
    if (p !== file && f.startsWith('workflow-bundle-') && Date.now() - statSync(p).mtimeMs > 86_400_000) rmSync(p, { force: true });
  }
  return built;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

/**
 * Polls until the predicate holds (real time; for waiting on a run to reach a state). The pause between polls
 * starts at 5 ms and doubles up to 50 ms: most conditions hold a few ms after the first look.
 */
export async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 5; ; pause = Math.min(pause * 2, 50)) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not reached in ${timeoutMs} ms; last value: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, pause));
  }
}

/** The events a workflow task's completion records with it: its commands. */
const COMMAND_EVENTS = [
  'timerStartedEventAttributes',
  'timerCanceledEventAttributes',
  'activityTaskScheduledEventAttributes',
  'activityTaskCancelRequestedEventAttributes',
  'markerRecordedEventAttributes',
  'upsertWorkflowSearchAttributesEventAttributes',
  'workflowPropertiesModifiedEventAttributes',
  'workflowExecutionUpdateAcceptedEventAttributes',
  'workflowExecutionUpdateCompletedEventAttributes',
] as const;

/**
 * The history's length once it is quiet: every activity scheduled so far closed (but those of the types in
 * `running`, left running on purpose), and the last event a workflow task's completion or one of its
 * commands, so no workflow task is in flight. Judged and measured on one read: a second read could fall
 * between a notification's completion and the workflow task that follows it and count events short.
 */
export async function quietHistoryLength(h: WorkflowHandle, running: string[] = [], timeoutMs = 30_000): Promise<number> {
  const length = async () => {
    const events = (await h.fetchHistory()).events ?? [];
    const open = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes != null && !running.includes(e.activityTaskScheduledEventAttributes.activityType?.name ?? '')).map((e) => String(e.eventId)));
    for (const e of events) {
      const a = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
      if (a?.scheduledEventId != null) open.delete(String(a.scheduledEventId));
    }
    // After the last workflow task's completion, only the commands it recorded.
    const done = events.map((e) => e.workflowTaskCompletedEventAttributes != null).lastIndexOf(true);
    const quiet = done >= 0 && events.slice(done + 1).every((e) => COMMAND_EVENTS.some((k) => e[k] != null));
    return open.size === 0 && quiet ? events.length : 0;
  };
  return eventually(length, (n) => n > 0, timeoutMs);
}

export type RunHandle = WorkflowHandle;

/** Every activity name of the product's workers: the file's worker registers them all (exhaustive by type). */
const ACTIVITY_NAMES: Record<keyof (Activities & RunActivities), true> = { runCommand: true, notify: true, openReplicationRuns: true, runOutcome: true };

interface FileWorker {
  taskQueue: string;
  /** The activities of the test being run (withActivities). */
  current?: Record<string, unknown>;
  /** worker.run(): rejects when the worker fails. */
  running: Promise<void>;
}

const fileWorkers = new WeakMap<TestWorkflowEnvironment, Promise<FileWorker>>();
let queueSeq = 0;

/**
 * One worker per test server, started on first use and shut down at the server's teardown. A worker of its own
 * per test cost 0.2 to 0.5 s each (a worker thread that loads the workflow bundle), about half of a typical test.
 * Its activities are those of the test being run (withActivities): tests on one server run one after another,
 * each ends its runs (endRuns), and the test server never hands out an activity task of a run that has ended.
 */
function fileWorker(env: TestWorkflowEnvironment): Promise<FileWorker> {
  let fw = fileWorkers.get(env);
  if (!fw) {
    fw = (async () => {
      const taskQueue = `tests-${process.pid}-${++queueSeq}`;
      const self: FileWorker = { taskQueue, running: Promise.resolve() };
      const call = (name: string) =>
        async (...args: unknown[]) => {
          const impl = self.current?.[name];
          if (typeof impl !== 'function') throw new Error(`activity ${name} is not among this test's activities`);
          return (impl as (...a: unknown[]) => unknown)(...args);
        };
      const activities = Object.fromEntries(Object.keys(ACTIVITY_NAMES).map((n) => [n, call(n)]));
      const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities });
      self.running = worker.run();
      self.running.catch(() => undefined);
      hooks.get(env)?.unshift(async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await self.running.catch(() => undefined);
      });
      return self;
    })();
    fileWorkers.set(env, fw);
  }
  return fw;
}

/**
 * Runs `body` with these activities on the file's worker (its task queue is the argument). The body rejects
 * when the worker fails; the worker stays up for the next test when the body fails.
 */
export async function withActivities<T>(env: TestWorkflowEnvironment, activities: object, body: (taskQueue: string) => Promise<T>): Promise<T> {
  const fw = await fileWorker(env);
  if (fw.current) throw new Error('withActivities: another test is using the file\'s worker (tests on one server run one at a time)');
  fw.current = activities as Record<string, unknown>;
  try {
    return await Promise.race([
      body(fw.taskQueue),
      fw.running.then(() => {
        throw new Error("the file's worker stopped");
      }),
    ]);
  } finally {
    fw.current = undefined;
  }
}

let runSeq = 0;
/**
 * Runs one workflow on the file's worker with the given activities while `body` drives it (start, then
 * query / update / await). A run the body leaves open is terminated (endRuns), so that a failed assertion
 * never leaves a run holding the shared clock.
 */
export async function withWorkflow(
  env: TestWorkflowEnvironment,
  opts: { workflowType: string; workflowId: string; input: unknown; activities: object },
  body: (h: RunHandle) => Promise<void>,
): Promise<void> {
  await withActivities(env, opts.activities, async (taskQueue) => {
    const handle = await env.client.workflow.start(opts.workflowType, { taskQueue, workflowId: `${opts.workflowId}-${++runSeq}`, args: [opts.input] });
    try {
      await body(handle);
    } finally {
      await recordHistory(handle);
      await endRuns(env, [handle]);
    }
  });
}

const E = temporal.api.enums.v1.EventType;
const CLOSED = new Set([E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, E.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW]);

interface RunNode {
  handle: WorkflowHandle;
  open: boolean;
  closedBy?: temporal.api.enums.v1.EventType;
  /** What the run has in flight (each holds the test server's clock until it is done). */
  busy: string[];
}

/**
 * The run and every child it started (depth first, parents before their children), each with what it has in flight:
 * a workflow task, activities, child starts, and closed children whose close the parent has not taken in yet.
 */
async function runTree(client: TestWorkflowEnvironment['client'], handle: WorkflowHandle, out: RunNode[] = []): Promise<RunNode[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const last = events.at(-1)?.eventType ?? E.EVENT_TYPE_UNSPECIFIED;
  const node: RunNode = { handle, open: !CLOSED.has(last), closedBy: CLOSED.has(last) ? last : undefined, busy: [] };
  out.push(node);
  let task: number | undefined;
  const pending = new Map<number, string>();
  const children = new Map<number, { workflowId: string; runId: string; closeTakenIn?: boolean }>();
  for (const e of events) {
    const id = Number(e.eventId);
    switch (e.eventType) {
      case E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
        task = id;
        break;
      case E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
      case E.EVENT_TYPE_WORKFLOW_TASK_FAILED:
      case E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
        task = undefined;
        break;
      case E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        pending.set(id, `activity ${e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?'}`);
        break;
      case E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        pending.delete(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId));
        break;
      case E.EVENT_TYPE_ACTIVITY_TASK_FAILED:
        pending.delete(Number(e.activityTaskFailedEventAttributes?.scheduledEventId));
        break;
      case E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
        pending.delete(Number(e.activityTaskTimedOutEventAttributes?.scheduledEventId));
        break;
      case E.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
        pending.delete(Number(e.activityTaskCanceledEventAttributes?.scheduledEventId));
        break;
      case E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        pending.set(id, `start of child ${e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? '?'}`);
        break;
      case E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED:
        pending.delete(Number(e.startChildWorkflowExecutionFailedEventAttributes?.initiatedEventId));
        break;
      case E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: {
        const a = e.childWorkflowExecutionStartedEventAttributes;
        pending.delete(Number(a?.initiatedEventId));
        children.set(Number(a?.initiatedEventId), { workflowId: a?.workflowExecution?.workflowId ?? '', runId: a?.workflowExecution?.runId ?? '' });
        break;
      }
      case E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
      case E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
      case E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED:
      case E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT:
      case E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: {
        const a =
          e.childWorkflowExecutionCompletedEventAttributes ??
          e.childWorkflowExecutionFailedEventAttributes ??
          e.childWorkflowExecutionCanceledEventAttributes ??
          e.childWorkflowExecutionTimedOutEventAttributes ??
          e.childWorkflowExecutionTerminatedEventAttributes;
        const c = children.get(Number(a?.initiatedEventId));
        if (c) c.closeTakenIn = true;
        break;
      }
    }
  }
  if (node.open && task !== undefined) node.busy.push('a workflow task');
  if (node.open) node.busy.push(...pending.values());
  for (const c of children.values()) {
    const at = out.length;
    await runTree(client, client.workflow.getHandle(c.workflowId, c.runId), out);
    // A child that closed by itself holds the clock until its parent has taken the close in (for ever when the
    // parent has closed meanwhile). A terminated child does not tell its parent.
    const child = out[at];
    if (node.open && !c.closeTakenIn && !child.open && child.closedBy !== E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED) node.busy.push(`the close of child ${c.workflowId}`);
  }
  return out;
}
/**
 * Waits (real time, at most `timeoutMs`) until none of these runs and their children has anything in flight,
 * and returns the runs (parents before their children). See endRuns for why.
 */
export async function whenIdle(env: TestWorkflowEnvironment, roots: WorkflowHandle[], timeoutMs = 10_000): Promise<RunNode[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tree: RunNode[] = [];
    for (const r of roots) await runTree(env.client, r, tree);
    const busy = tree.filter((n) => n.busy.length > 0);
    if (busy.length === 0) return tree;
    if (Date.now() > deadline) {
      console.warn(`test helpers: runs still busy after ${timeoutMs} ms (terminating one now may stop the test server's clock from skipping): ${busy.map((n) => `${n.handle.workflowId}: ${n.busy.join(', ')}`).join('; ')}`);
      return tree;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Ends what a test leaves open: once nothing is in flight (whenIdle), every open run of these runs' trees is
 * terminated, children before their parents. Why wait: the test server takes a lock on its clock for each
 * workflow task, activity and child start, and for a child's close until the parent takes it in, and releases
 * it in the run's next update, which a closed run refuses. Terminating a run while, say, the notify activity of
 * its escalation is still running (the state query says "escalated" as soon as that activity is scheduled) thus
 * leaks a lock for good: every later test on that server then runs on the real clock, and a 65-minute wait never
 * passes. A terminated child does not tell its parent anything, so children go first.
 */
export async function endRuns(env: TestWorkflowEnvironment, roots: WorkflowHandle[]): Promise<void> {
  const tree = await whenIdle(env, roots);
  for (const n of [...tree].reverse()) if (n.open) await n.handle.terminate('test finished').catch(() => undefined);
  await noteRunSpans(env, tree.map((n) => n.handle));
}

/**
 * Moves the simulated clock forward by `duration`, at most `step` at a time. One long skip (an awaited
 * result() or a single env.sleep) can jump past an activity that is still running, straight to a distant
 * timer of another run (an escalation reminder, say): the activity then misses its 30 s heartbeat timeout in
 * simulated time and fails, which no real run would see. Steps shorter than that keep every jump harmless.
 */
export async function advance(env: TestWorkflowEnvironment, duration: string | number, step = 20_000): Promise<void> {
  for (let left = typeof duration === 'number' ? duration : msOf(duration); left > 0; left -= step) await env.sleep(Math.min(step, left));
}

/** Advances the clock in steps (see advance) until the probe holds; gives up after `limit` of simulated time. */
export async function advanceUntil(env: TestWorkflowEnvironment, probe: () => Promise<boolean>, limit = '24h', step = 20_000): Promise<void> {
  for (let spent = 0; !(await probe()); spent += step) {
    if (spent > msOf(limit)) throw new Error(`condition not reached within ${limit} of simulated time`);
    await env.sleep(step);
  }
}

/** One time-skipping environment for the whole test file (tests share its clock: they run serially). */
export function useTimeSkippingEnv(): () => TestWorkflowEnvironment {
  let env: TestWorkflowEnvironment | undefined;
  before(async () => {
    env = await timeSkippingEnv();
  });
  after(async () => {
    await env?.teardown();
  });
  return () => {
    if (!env) throw new Error('time-skipping environment not started');
    return env;
  };
}
