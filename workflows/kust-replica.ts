/**
 * kust-replica: a KUST replica gets no data from its master (RUNBOOKS.md, "kust-replica").
 * Alert: `2 snmpexec_mon_cox_1_status - - - replfailed (...)` -> service cox, instance cox-1.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { kustCleanExpected } from '../parsers/output';
import { INSTANCE, SERVICE } from '../parsers/patterns';
import type { RunResult, RunSettings } from './definitions';
import { endsWith, replicaPair, validInput } from './judges';
import { runbook } from './run';

export interface KustReplicaInput {
  service: string;
  instance: string;
  settings: RunSettings;
}

export async function kustReplica(input: KustReplicaInput): Promise<RunResult> {
  const service = validInput(SERVICE, 'service', input.service);
  const instance = validInput(INSTANCE, 'instance', input.instance);
  if (!instance.startsWith(`${service}-`)) throw ApplicationFailure.nonRetryable(`instance ${instance} is not an instance of ${service}`, 'InvalidInput');

  return runbook('kust-replica', instance, input.settings, async (run) => {
    const p = run.paths;
    // 1-2. On the control node: `ic map <service>`; find the instance's slave (none, or two: escalate).
    const { slave } = await run.must({ name: 'find the slave', host: run.control, cmd: { argv: [p.ic, 'map', service] }, judge: replicaPair(instance) });
    // 3. On the slave's host: `clean_kust_replica.sh <instance>` (after an operator's approval if the policy asks for one).
    await run.approval('clean', { step: 'clean the replica', summary: `run ${p.cleanKustReplica} ${instance} on ${slave.host} (slave ${slave.fullName})` });
    // 4. Success only if the output ends with `INFO: starting <i>` / `INFO: successfully started <i>`.
    await run.must({ name: 'clean the replica', host: slave.host, changes: true, cmd: { argv: [p.cleanKustReplica, instance] }, judge: endsWith(kustCleanExpected(instance)) });
    return { outcome: 'repaired', summary: `replica ${slave.fullName} re-seeded and started` };
  });
}
