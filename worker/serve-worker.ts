/**
 * What a worker process needs around worker/worker.ts, shared by `npm start` (worker/main.ts) and
 * `medic worker` (this file's runWorkerProcess: the worker alone, no API, no embedded server, against the
 * Temporal the TEMPORAL_* settings name; any number of them on one task queue).
 *
 * `medic worker` drains on SIGTERM / SIGINT: it stops polling at once, and the activities under way (SSH
 * commands running on their hosts) get `service.drainTimeout` to finish (the SDK's shutdownGraceTime)
 * before they are cancelled; then it exits 0. Their runs go on on another worker.
 */
import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { connectConfig, connectOrExplain, describeTarget } from '../client/connection';
import type { Config } from '../config/schema';
import { msOf } from '../workflows/duration';
import { doctorInBackground, sayMissingKeyFiles } from './start-checks';
import { onStopSignal } from './stop-signals';
import { createWorker } from './worker';

/** A worker process prints its own lines; the SDK and its core say only warnings and errors (MEDIC_SDK_LOG=INFO etc. for more). */
const SDK_LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;

export function installSdkRuntime(): void {
  const asked = (process.env.MEDIC_SDK_LOG ?? 'WARN').toUpperCase();
  const level = (SDK_LOG_LEVELS as readonly string[]).includes(asked) ? (asked as (typeof SDK_LOG_LEVELS)[number]) : 'WARN';
  Runtime.install({ logger: new DefaultLogger(level), telemetryOptions: { logging: { forward: {}, filter: level } } });
}

/** `medic worker`: runs until SIGTERM / SIGINT, drains, and resolves with the exit code (0). */
export async function runWorkerProcess(config: Config): Promise<number> {
  installSdkRuntime();
  sayMissingKeyFiles(config);
  const { connectionOptions, namespace: envNamespace } = connectConfig();
  const namespace = envNamespace ?? config.service.namespace;
  const connection = await connectOrExplain(connectionOptions, (o) => NativeConnection.connect(o));
  try {
    // The client lets a runbook see other runs (autoflip waits for open replication repairs).
    const client = new Client({ connection, namespace });
    const drain = config.service.drainTimeout;
    const worker = await createWorker(connection, config, { namespace, client, tuning: { shutdownGraceTime: msOf(drain) } });
    const running = worker.run();
    console.log(`medic: worker on task queue ${config.service.taskQueue}, namespace ${namespace} at ${describeTarget(connectionOptions)}; SIGTERM drains (up to ${drain})`);
    doctorInBackground(config);
    onStopSignal((signal) => {
      const n = worker.getStatus().numInFlightNonLocalActivities;
      console.log(`medic: ${signal}: draining: no new tasks; ${n} ${n === 1 ? 'activity' : 'activities'} under way get up to ${drain} to finish`);
      // The SDK's own signal handler may have asked already.
      if (worker.getState() === 'RUNNING') worker.shutdown();
    });
    await running;
    console.log('medic: drained; stopped');
    return 0;
  } finally {
    await connection.close();
  }
}
