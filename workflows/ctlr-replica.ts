/**
 * ctlr-replica: the controller has no active replica (RUNBOOKS.md, "ctlr-replica").
 * Alert: `2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on vkt04`
 * -> node vkt04 (the broken replica). A split brain raises the same alert: when both nodes say
 * `self main`, the run carries on as ctlr-roles (recorded as a step).
 */
import type { ExecResult } from '../activities';
import { NODE } from '../parsers/patterns';
import type { Parsed } from '../parsers/result';
import { CTLR, ctlrPair, done, evidenceOf, noErrors, observe, otherOf, pairNode, Seen, shows, splitBrain, stamp, tagOf, topoCheckOk, topologyCommand } from './ctlr';
import { resolveSplitBrain } from './ctlr-roles';
import type { RunResult, RunSettings } from './definitions';
import { validInput } from './judges';
import { runbook } from './run';

export interface CtlrReplicaInput {
  /** The node the alert names (`check ctlr logs on <node>`). */
  node: string;
  settings: RunSettings;
}

export async function ctlrReplica(input: CtlrReplicaInput): Promise<RunResult> {
  const pair = ctlrPair(input.settings);
  const broken = pairNode(pair, validInput(NODE, 'node', input.node));
  const main = otherOf(pair, broken);

  return runbook('ctlr-replica', CTLR, input.settings, async (run) => {
    const p = run.paths;
    // 1. The topology from both nodes (`nc <compot_bind host> 4020` <<< ipros_cluster_show); the broken node's controller may not answer.
    let seen: Seen;
    for (;;) {
      seen = await observe(run, pair, broken);
      // Both say `self main`: this is ctlr-roles, not this runbook.
      if (splitBrain(pair, seen)) {
        run.note('two masters: continuing as ctlr-roles', `both ${pair.join(' and ')} say "self main": a split brain, not a dead replica of ${broken}`);
        return resolveSplitBrain(run, pair, seen);
      }
      // The other node must be `self main`.
      const mainSays = tagOf(seen[main], main);
      const mainSees = tagOf(seen[main], broken);
      if (mainSays === 'self main' && mainSees === 'alive') return { outcome: 'nothing-to-do', summary: `${main} is the main and sees ${broken} alive: the replica replicates, nothing was changed` };
      if (mainSays === 'self main' && mainSees === 'dead') break;
      await run.escalate('check the main', `${main} must be "self main" and see ${broken} dead; it says "${mainSays}" and sees ${broken} "${mainSees}"`, evidenceOf(pair, seen));
    }
    // 2. On the broken node, in this order (after an operator's approval if the policy asks for one).
    await run.approval('reseed', { step: 're-seed the replica', summary: `stop ${CTLR} on ${broken}, move ${p.ctlrData} aside, re-seed it from ${main} (${p.imDeployer} --ctlr-repl --update)`, evidence: evidenceOf(pair, seen) });
    const aside = `${p.ctlrData}.${stamp()}`;
    const on = (name: string, argv: string[], judge: (r: ExecResult) => Parsed<true> = done) => run.must({ name, host: broken, changes: true, cmd: { argv }, judge });
    await on('stop the controller', [p.systemctl, 'stop', CTLR]);
    await on('move the data aside', [p.mv, p.ctlrData, aside]);
    await on('create the data directories', [p.mkdir, '-p', `${p.ctlrData}/backup`, `${p.ctlrData}/df`, `${p.ctlrData}/log`]);
    await on('give the data to quantum', [p.chown, '-R', 'quantum:quantum', `${p.ctlrData}/`]);
    await on('re-seed from the main', [p.imDeployer, '--ctlr-repl', '--update'], noErrors);
    await on('disable the unit', [p.systemctl, 'disable', CTLR]);
    // 3. On the main: ctlr_topo_check.sh prints the OK line; the topology shows `self main` and `alive`.
    await run.must({ name: `check on ${main}`, host: main, cmd: { argv: [p.ctlrTopoCheck] }, judge: topoCheckOk });
    await run.must({ name: `topology from ${main}`, host: main, cmd: topologyCommand(run, seen[main].conf.compotBind.host), judge: shows(pair, main, { [main]: 'self main', [broken]: 'alive' }) });
    return { outcome: 'repaired', summary: `${broken} re-seeded from ${main} (old data in ${aside}); ${main} reports the topology OK` };
  });
}
