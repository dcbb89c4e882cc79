/**
 * ctlr-roles: two controller masters, a split brain (RUNBOOKS.md, "ctlr-roles"). Two masters lose
 * data and which one stays depends on the incident's history: the run proposes, a human decides.
 * Started by hand (`ctlr-roles/ctlr-1`) or by ctlr-replica when its alert turns out to be this; a start
 * while the other runbook's run of the pair is open joins that run (client/runbooks.ts).
 */
import { patched } from '@temporalio/workflow';
import type { ExecResult } from '../activities';
import type { Parsed } from '../parsers/result';
import type { RunResult, RunSettings } from './definitions';
import { CTLR, ctlrPair, done, evidenceOf, noErrors, observe, otherOf, Pair, Seen, shows, splitBrain, stamp, tagOf, topoCheckOk, topologyCommand } from './ctlr';
import { Done, Run, runbook } from './run';

export interface CtlrRolesInput {
  settings: RunSettings;
}

export async function ctlrRoles(input: CtlrRolesInput): Promise<RunResult> {
  const pair = ctlrPair(input.settings);
  return runbook('ctlr-roles', CTLR, input.settings, async (run) => {
    // 1. Evidence from both nodes: the ipros_cluster config lines and the topology; each must say `self main`.
    for (;;) {
      const seen = await observe(run, pair);
      if (splitBrain(pair, seen)) return resolveSplitBrain(run, pair, seen);
      const says = pair.map((n) => `${n} says ${tagOf(seen[n], n) ?? 'nothing'}`).join(', ');
      await run.escalate('two masters', `not a split brain (${says}): ctlr-roles needs both nodes to say "self main"`, evidenceOf(pair, seen));
    }
  });
}

/** Steps 2-4: propose, wait for an operator's choice, look again, demote the other node, verify from it. */
export async function resolveSplitBrain(run: Run, pair: Pair, seen: Seen): Promise<Done> {
  for (;;) {
    const keep = await chooseKeep(run, pair, seen);
    // The pair may have changed while the operator decided (another run of the pair, a person): demote only
    // while both still say "self main" (runs recorded before this look replay without it).
    let now = patched('ctlr-roles-look-again') ? await observe(run, pair) : seen;
    if (splitBrain(pair, now)) return demote(run, pair, now, keep);
    for (;;) {
      const says = pair.map((n) => `${n} says ${tagOf(now[n], n) ?? 'nothing'}`).join(', ');
      await run.escalate(
        'choose the main to keep',
        `the controllers changed while waiting for the decision (${says}): nothing was demoted; another run or a person may have acted. retry: look again (two masters again: the choice is asked again)`,
        evidenceOf(pair, now),
      );
      now = await observe(run, pair);
      if (splitBrain(pair, now)) break;
    }
    seen = now;
  }
}

/** Step 2: a proposal with its reasons; an operator approves it or picks the other node (no timeout approves). */
async function chooseKeep(run: Run, pair: Pair, seen: Seen): Promise<string> {
  const p = run.paths;
  const { proposal, reasons } = propose(pair, seen);
  const evidence = evidenceOf(pair, seen);
  const summary =
    `two controller masters: choose the node to KEEP as main (${pair.join(' or ')}); the other is demoted: ` +
    `systemctl stop ${CTLR}, cp -rp ${p.ctlrData} ${p.ctlrData}.<YYYYmmdd_HHMM>, ${p.imDeployer} --ctlr-repl --update, systemctl disable ${CTLR}. ` +
    `${proposal ? `Proposal: keep ${proposal}` : 'No proposal'}. ${reasons.join(' ')}`;
  for (;;) {
    const keep = await run.approval('keep', { step: 'choose the main to keep', summary, evidence, choices: [...pair], proposal, always: true });
    if (keep !== undefined && pair.includes(keep)) return keep;
    await run.escalate('choose the main to keep', 'approved without a choice, and the run has no proposal: approve with the node to keep as the choice', evidence);
  }
}

/** Steps 3-4: on the demoted node, in this order (the data copied aside, not moved); then verify from it. */
async function demote(run: Run, pair: Pair, seen: Seen, keep: string): Promise<Done> {
  const p = run.paths;
  const demoted = otherOf(pair, keep);
  const copy = `${p.ctlrData}.${stamp()}`;
  const on = (name: string, argv: string[], judge: (r: ExecResult) => Parsed<true> = done) => run.must({ name, host: demoted, changes: true, cmd: { argv }, judge });
  await on('stop the controller', [p.systemctl, 'stop', CTLR]);
  await on('copy the data aside', [p.cp, '-rp', p.ctlrData, copy]);
  await on('re-seed from the kept main', [p.imDeployer, '--ctlr-repl', '--update'], noErrors);
  await on('disable the unit', [p.systemctl, 'disable', CTLR]);
  // 4. On the demoted node: ctlr_topo_check.sh says OK; the topology shows itself `self`, the kept one `alive main`.
  await run.must({ name: `check on ${demoted}`, host: demoted, cmd: { argv: [p.ctlrTopoCheck] }, judge: topoCheckOk });
  await run.must({
    name: `topology from ${demoted}`,
    host: demoted,
    cmd: topologyCommand(run, seen[demoted].conf.compotBind.host),
    judge: shows(pair, demoted, { [demoted]: 'self', [keep]: 'alive main' }),
  });
  return { outcome: 'repaired', summary: `split brain resolved: ${keep} kept as the controller main; ${demoted} demoted and re-seeded (its data copied to ${copy})` };
}

/**
 * The proposal: the node both configs name as `ipros_cluster_main` (the intended main). Nothing the
 * nodes report shows which one took the main role last, and the reasons say so. Configs that
 * disagree (or name neither node) give no proposal: the operator must choose.
 */
export function propose(pair: Pair, seen: Seen): { proposal?: string; reasons: string[] } {
  const [a, b] = pair.map((n) => seen[n]);
  const reasons = [`Both say "self main" and see the other as ${tagOf(a, b.node)} / ${tagOf(b, a.node)}.`];
  const agree = a.clusterLines.join('\n') === b.clusterLines.join('\n');
  const named = a.conf.main;
  let proposal: string | undefined;
  if (!agree) {
    const mains = pair.map((n) => `${n}: ipros_cluster_main ${seen[n].conf.main ?? '(none)'}`).join(', ');
    reasons.push(`The two ${CTLR}.conf files do not agree on ipros_cluster (${mains}).`);
  } else if (!named) {
    reasons.push(`Both ${CTLR}.conf files agree but have no ipros_cluster_main line.`);
  } else {
    proposal = pair.find((n) => seen[n].topology?.find((e) => e.self)?.fqdn.toLowerCase() === named.toLowerCase());
    reasons.push(proposal ? `Both ${CTLR}.conf files name ${named} (${proposal}) as ipros_cluster_main, the intended main.` : `Both ${CTLR}.conf files name ${named} as ipros_cluster_main, which is neither node.`);
  }
  reasons.push(
    'Nothing the nodes report shows which one took the main role last; the one that got it by mistake (usually the later one) must be demoted: check the incident history before approving.',
  );
  return { proposal, reasons };
}
