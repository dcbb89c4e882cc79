/**
 * The workflow bundle of the operator tests: every runbook, plus one test-only run that has a durable
 * wait between a read-only step and a change (kust-replica has none), to see `waiting`, the next
 * timer and a timer in the rebuilt history.
 */
import type { RunResult, RunSettings } from '../../workflows/definitions';
import { ok, runbook } from '../../workflows/run';

export * from '../../workflows';

export async function opsWaitThenClean(input: { instance: string; settings: RunSettings }): Promise<RunResult> {
  return runbook('kust-replica', input.instance, input.settings, async (run) => {
    await run.must({ name: 'look at the map', host: run.control, cmd: { argv: ['ic', 'map', 'cox'] }, judge: () => ok(true) });
    await run.wait('settle before the clean', '1h');
    await run.must({ name: 'clean the replica', host: 'vkt-4vm-879-standart-02', changes: true, cmd: { argv: ['clean_kust_replica.sh', input.instance] }, judge: () => ok(true) });
    return { outcome: 'repaired', summary: 'cleaned after the settle' };
  });
}
