/** The floor of a run: a workflow with one no-op activity (benchmarks only; its own task queue and bundle). */
import { proxyActivities } from '@temporalio/workflow';

export interface BareActivities {
  noop(): Promise<number>;
}

const { noop } = proxyActivities<BareActivities>({ startToCloseTimeout: '10 seconds' });

export async function bareWorkflow(): Promise<number> {
  return noop();
}
