/** The worker: the runbook workflows and the SSH activities on one task queue. Scale out by running more. */
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { checkKeyFiles } from '../activities/key-files';
import type { Config } from '../config/schema';

export async function createWorker(connection: NativeConnection, config: Config, opts: { namespace?: string; workflowBundle?: { code: string }; client?: Client } = {}): Promise<Worker> {
  // No worker may run with an SSH key that other users can read (throws a KeyFileError naming host, file, mode).
  checkKeyFiles(config.inventory);
  return Worker.create({
    connection,
    namespace: opts.namespace ?? config.service.namespace,
    taskQueue: config.service.taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    // The client lets a runbook see other runs (autoflip waits for open replication repairs).
    activities: createActivities(config, undefined, { client: opts.client }),
  });
}
