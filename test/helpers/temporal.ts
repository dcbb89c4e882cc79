/** Temporal for tests: the provisioned time-skipping test server, with the project's search attributes. */
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { after, before } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { temporalBinaries } from '../../worker/binaries';
import { recordHistory } from './histories';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';

let runtimeInstalled = false;
/** Tests log only errors (the test server's missing-capability warnings are noise). */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { forward: {}, filter: 'ERROR' } } });
}

export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: temporalBinaries().testServer } },
  });
  await registerSearchAttributes(env, env.namespace ?? 'default');
  return env;
}

export async function registerSearchAttributes(env: TestWorkflowEnvironment, namespace: string): Promise<void> {
  const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  await env.connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(Object.keys(SEARCH_ATTRIBUTES).map((k) => [k, keyword])),
  });
}

let bundle: Promise<{ code: string }> | undefined;
/** The workflow bundle, built once per test process (about a second). */
export function workflowBundle(): Promise<{ code: string }> {
  bundle ??= bundleWorkflowCode({ workflowsPath: path.resolve(__dirname, '../../workflows'), logger: quietLogger });
  return bundle;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

/** Polls until the predicate holds (real time; for waiting on a run to reach a state). */
export async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not reached in ${timeoutMs} ms; last value: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export type RunHandle = WorkflowHandle;

let runSeq = 0;
/**
 * Runs one workflow on a task queue of its own with the given activities while `body` drives it
 * (start, then query / update / await). A run the body leaves open is terminated, so that a failed
 * assertion never leaves a run holding the shared clock.
 */
export async function withWorkflow(
  env: TestWorkflowEnvironment,
  opts: { workflowType: string; workflowId: string; input: unknown; activities: object; bundle?: { code: string } },
  body: (h: RunHandle) => Promise<void>,
): Promise<void> {
  const taskQueue = `test-${++runSeq}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: opts.bundle ?? (await workflowBundle()), activities: opts.activities });
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(opts.workflowType, { taskQueue, workflowId: `${opts.workflowId}-${runSeq}`, args: [opts.input] });
    try {
      await body(handle);
    } finally {
      await recordHistory(handle);
      await handle.terminate('test finished').catch(() => undefined);
    }
  });
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
