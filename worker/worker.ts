/** The worker: the runbook workflows and the SSH activities on one task queue. Scale out by running more. */
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { checkKeyFiles } from '../activities/key-files';
import type { Config } from '../config/schema';
import { msOf } from '../workflows/duration';

/**
 * The workflow code: a bundle given by the caller (tests), a prebuilt one named by MEDIC_WORKFLOW_BUNDLE
 * (a file written by bundleWorkflowCode; the crash-matrix suite starts many workers from one), or
 * bundled now from workflows/.
 */
function workflowCode(given?: { code: string }): { workflowBundle: { code: string } | { codePath: string } } | { workflowsPath: string } {
  if (given) return { workflowBundle: given };
  if (process.env.MEDIC_WORKFLOW_BUNDLE) return { workflowBundle: { codePath: process.env.MEDIC_WORKFLOW_BUNDLE } };
  return { workflowsPath: require.resolve('../workflows') };
}

/** Worker settings a benchmark may vary (the defaults are the SDK's). */
export type WorkerTuning = Partial<Pick<WorkerOptions, 'maxCachedWorkflows' | 'workflowTaskPollerBehavior' | 'activityTaskPollerBehavior' | 'maxConcurrentActivityTaskExecutions' | 'maxConcurrentWorkflowTaskExecutions'>>;

export async function createWorker(connection: NativeConnection, config: Config, opts: { namespace?: string; workflowBundle?: { code: string }; client?: Client; tuning?: WorkerTuning } = {}): Promise<Worker> {
  // No worker may run with an SSH key that other users can read (throws a KeyFileError naming host, file, mode).
  checkKeyFiles(config.inventory);
  return Worker.create({
    connection,
    namespace: opts.namespace ?? config.service.namespace,
    taskQueue: config.service.taskQueue,
    ...workflowCode(opts.workflowBundle),
    stickyQueueScheduleToStartTimeout: msOf(config.service.stickyTimeout),
    // The client lets a runbook see other runs (autoflip waits for open replication repairs).
    activities: createActivities(config, undefined, { client: opts.client }),
    ...opts.tuning,
  });
}
