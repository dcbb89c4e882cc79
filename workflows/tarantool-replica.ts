/**
 * tarantool-replica: Tarantool replication broken (RUNBOOKS.md, "tarantool-replica").
 * Alerts: `2 tarantool_badger_3_rep1_master1 ... replication status stopped(!)` and
 * `2 tarantool_badger_3_replication - - problems on upstreams:1` -> service badger, instance badger-3.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { ExecResult } from '../activities';
import { containsWord, tntCleanExpected } from '../parsers/output';
import { INSTANCE, SERVICE } from '../parsers/patterns';
import { fail, ok, Parsed } from '../parsers/result';
import { nonBlankLines, show } from '../parsers/text';
import type { RunResult, RunSettings } from './definitions';
import { endsWith, replicaPair, validInput } from './judges';
import { runbook } from './run';

export interface TarantoolReplicaInput {
  service: string;
  instance: string;
  settings: RunSettings;
}

/** `systemctl is-active <units...>` prints one line per unit; every one must say `active` (exit 3 is judged by the lines). */
export function allActive(units: string[]) {
  return (r: ExecResult): Parsed<true> => {
    const states = nonBlankLines(r.stdout).map((l) => l.text);
    if (states.length !== units.length) return fail(`expected ${units.length} lines (one per unit), got ${states.length}: ${show(r.stdout.trim(), 200)}`);
    const notActive = units.map((u, i) => `${u}: ${states[i]}`).filter((_, i) => states[i] !== 'active');
    return notActive.length === 0 ? ok(true) : fail(`not active: ${notActive.join(', ')}`);
  };
}

/** `ic flip` succeeded if its output says `started` or `OK`. */
const flipped = (r: ExecResult): Parsed<true> => (containsWord(r.stdout, ['started', 'OK']) ? ok(true) : fail(`the output says neither "started" nor "OK": ${show(r.stdout.trim(), 200)}`));

/** Exit 0 is the whole answer (systemctl restart prints nothing on success). */
const exitedZero = (): Parsed<true> => ok(true);

export async function tarantoolReplica(input: TarantoolReplicaInput): Promise<RunResult> {
  const service = validInput(SERVICE, 'service', input.service);
  const instance = validInput(INSTANCE, 'instance', input.instance);
  if (!instance.startsWith(`${service}-`)) throw ApplicationFailure.nonRetryable(`instance ${instance} is not an instance of ${service}`, 'InvalidInput');

  return runbook('tarantool-replica', instance, input.settings, async (run) => {
    const p = run.paths;
    const t = run.timers;
    const units = [`tarantool@${instance}`, instance];
    // 1-2. On the control node: `ic map <service>`; find the instance's slave and main (exactly one of each).
    const { slave, main } = await run.must({ name: 'find the slave and the main', host: run.control, cmd: { argv: [p.ic, 'map', service] }, judge: replicaPair(instance) });

    // 3. On the slave's host: `clean_tnt_replica.sh <instance>`; its output must end with the five lines.
    await run.approval('clean', { step: 'clean the replica', summary: `run ${p.cleanTntReplica} ${instance} on ${slave.host} (slave ${slave.fullName}, main ${main.fullName})` });
    await run.must({ name: 'clean the replica', host: slave.host, changes: true, cmd: { argv: [p.cleanTntReplica, instance] }, judge: endsWith(tntCleanExpected(instance)) });
    //    Settle, then both units must be active on the slave's host.
    await run.wait('let tarantool and IPROS settle', t.tarantoolSettle);
    await run.must({ name: 'both units active', host: slave.host, cmd: { argv: [p.systemctl, 'is-active', ...units] }, okExitCodes: [0, 3], judge: allActive(units) });

    // 4. Wait 5 min; on the same host: `ic flip <slave srv full name>` (`started` or `OK`); else wait 5 min, once more, then escalate.
    await run.wait('wait before the flip', t.tarantoolBeforeFlip);
    await run.approval('flip', { step: 'flip the roles', summary: `run ${p.ic} flip ${slave.fullName} on ${slave.host}: ${slave.fullName} becomes main, ${main.fullName} slave` });
    await run.retryOnce({ name: 'flip the roles', host: slave.host, changes: true, cmd: { argv: [p.ic, 'flip', slave.fullName] }, judge: flipped }, t.tarantoolFlipRetry);

    // 5. Wait 5 min; on the same host: `ic map <service>`: the former slave is now main and the former main slave.
    await run.wait('wait before checking the roles', t.tarantoolBeforeVerify);
    await run.must({
      name: 'roles swapped',
      host: slave.host,
      cmd: { argv: [p.ic, 'map', service] },
      judge: (r) => {
        const now = replicaPair(instance)(r);
        if (!now.ok) return now;
        if (now.value.main.fullName !== slave.fullName || now.value.slave.fullName !== main.fullName) {
          return fail(`roles not swapped: main is ${now.value.main.fullName}, slave is ${now.value.slave.fullName} (expected main ${slave.fullName}, slave ${main.fullName})`);
        }
        return ok(true);
      },
    });

    // 6. On the former main's host: `systemctl restart tarantool@<instance> <instance>`.
    await run.must({ name: 'restart the former main', host: main.host, changes: true, cmd: { argv: [p.systemctl, 'restart', ...units] }, judge: exitedZero });
    return { outcome: 'repaired', summary: `replica ${slave.fullName} re-seeded and made main; ${main.fullName} is slave and restarted` };
  });
}
