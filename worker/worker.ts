/** The worker: the runbook workflows and the SSH activities on one task queue. Scale out by running more. */
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { checkKeyFiles } from '../activities/key-files';
import type { Config } from '../config/schema';
import { msOf } from '../workflows/duration';
import { workflowCode, type WorkflowCode } from './bundle';

/** Worker settings a benchmark may vary, and `medic worker`'s drain on SIGTERM (shutdownGraceTime); the defaults are the SDK's. */
export type WorkerTuning = Partial<Pick<WorkerOptions, 'maxCachedWorkflows' | 'workflowTaskPollerBehavior' | 'activityTaskPollerBehavior' | 'maxConcurrentActivityTaskExecutions' | 'maxConcurrentWorkflowTaskExecutions' | 'shutdownGraceTime'>>;

/**
 * The workflow code (worker/bundle.ts): `workflows` as the caller chose it (main.ts, while the server
 * boots), else a bundle given (tests), else MEDIC_WORKFLOW_BUNDLE, else the build-time bundle when it is
 * current, else bundled now (one line says why).
 */
export async function createWorker(connection: NativeConnection, config: Config, opts: { namespace?: string; workflowBundle?: { code: string }; workflows?: WorkflowCode; client?: Client; tuning?: WorkerTuning } = {}): Promise<Worker> {
  // No worker may run with an SSH key that other users can read (throws a KeyFileError naming host, file, mode).
  checkKeyFiles(config.inventory);
  return Worker.create({
    connection,
    namespace: opts.namespace ?? config.service.namespace,
    taskQueue: config.service.taskQueue,
    ...(opts.workflows ?? workflowCode(opts.workflowBundle, (line) => console.log(`medic: ${line}`))),
    stickyQueueScheduleToStartTimeout: msOf(config.service.stickyTimeout),
    // The client lets a runbook see other runs (autoflip waits for open replication repairs).
    activities: createActivities(config, undefined, { client: opts.client }),
    ...opts.tuning,
  });
}
