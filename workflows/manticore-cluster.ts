/**
 * manticore-cluster: recover a Galera replication cluster of Manticore Search (or MariaDB, by config)
 * (RUNBOOKS.md, "manticore-cluster"; the seven cases of the Manticore guide). Target: the cluster name.
 * The decision is the pure function decide() (galera-decision.ts); the commands come from the flavour.
 */
import { ApplicationFailure, patched, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { ExecResult } from '../activities';
import { parseGrastate, parseWsrepRecover } from '../parsers/galera';
import { CLUSTER, HOST } from '../parsers/patterns';
import type { RunResult, RunSettings } from './definitions';
import { msOf } from './duration';
import { BootstrapRecord, bootstrapPosition, checkBootstrapRecord, chosenBootstrap, decide, LAST_BOOTSTRAP_MEMO, NodeSurvey, Plan, samePlan, Survey } from './galera-decision';
import { Flavour, flavourOf } from './galera-flavour';
import { validInput } from './judges';
import { fail, ok, Run, runbook, Verdict } from './run';

export interface ManticoreClusterInput {
  cluster: string;
  settings: RunSettings;
  /** Position guard: the last bootstrap a run of this cluster did (startRun reads it from the previous run). */
  lastBootstrap?: BootstrapRecord;
}

export interface ManticoreClusterResult extends RunResult {
  /** The last bootstrap known for this cluster: this run's own, else the one it was given (carried forward). */
  lastBootstrap?: BootstrapRecord;
}

/** patched(): the run records its bootstrap in its memo before the bootstrap command (a new command). */
export const RECORD_BOOTSTRAP_PATCH = 'galera-bootstrap-record';

const UNIT_STATES = /^(active|inactive|failed|activating|deactivating|reloading|maintenance|unknown)$/;
/** Run.step's verdicts when the command never ran or never finished: the node is unreachable. */
const TRANSPORT = /^(could not run the command|the connection dropped|timed out)/;

export async function manticoreCluster(input: ManticoreClusterInput): Promise<ManticoreClusterResult> {
  const cluster = validInput(CLUSTER, 'cluster', input.cluster);
  const cfg = input.settings.galeraClusters?.[cluster];
  if (!cfg) throw ApplicationFailure.nonRetryable(`cluster ${cluster} is not configured (manticore.clusters.${cluster})`, 'InvalidInput');
  const nodes = cfg.nodes.map((n) => validInput(HOST, 'node', n));
  const given = input.lastBootstrap === undefined ? undefined : checkBootstrapRecord(input.lastBootstrap);
  if (given && !given.ok) throw ApplicationFailure.nonRetryable(given.error, 'InvalidInput');
  /** The previous runs' last bootstrap (position guard), and this run's own once it bootstraps. */
  const previous = given?.value;
  let recorded: BootstrapRecord | undefined;

  const result = await runbook('manticore-cluster', cluster, input.settings, async (run) => {
    const f = flavourOf(cluster, cfg, run.paths);
    const poll = run.timers.galeraPoll ?? '10s';
    const timeout = run.timers.galeraSyncTimeout ?? '10m';
    /** At most one bootstrap per incident: set before the bootstrap command runs; durable with the run. */
    let bootstrapped: string | undefined;
    let acted = false;
    let lastCase: number | undefined;

    /** Polls a node's status until it is primary (and synced, unless `primaryOnly`); escalates after the timeout. */
    const waitUntil = async (node: string, primaryOnly: boolean): Promise<void> => {
      const want = primaryOnly ? 'primary' : 'synced';
      let deadline = Date.now() + msOf(timeout);
      for (;;) {
        const v = await run.step({ name: `${node}: ${want}?`, host: node, cmd: f.status, judge: statusJudge(f) });
        if (v.ok && v.value.status === 'primary' && (primaryOnly || v.value.nodeState === 'synced')) return;
        if (Date.now() >= deadline) {
          const why = v.ok ? `still ${v.value.status}, ${v.value.nodeState ?? 'no node state'}` : v.error;
          await run.escalate(`${node}: ${want}?`, `${node} did not become ${want} within ${timeout}: ${why}`, v.evidence);
          deadline = Date.now() + msOf(timeout);
          continue;
        }
        await run.wait(`${node}: wait until ${want}`, poll);
      }
    };

    for (;;) {
      // 1. Survey every node at once (read only): is searchd running, grastate.dat, the cluster status.
      const survey: Survey = { cluster, lastBootstrap: previous, nodes: await Promise.all(nodes.map((n) => surveyNode(run, f, n))) };
      let current = survey;
      // 2. Decide (pure): one of the seven cases, healthy, or cannot decide.
      const plan = decide(survey);
      if (plan.kind === 'healthy') {
        run.note('decision: healthy', plan.reasons.join('\n'));
        return acted
          ? { outcome: 'repaired', summary: `cluster ${cluster} recovered (case ${lastCase}): every node is primary and synced` }
          : { outcome: 'nothing-to-do', summary: `cluster ${cluster} is healthy: every node is primary and synced` };
      }
      if (plan.kind === 'cannot-decide') {
        await run.escalate('decide', `cannot decide: ${plan.reasons[0]}`, plan.reasons.join('\n'));
        continue;
      }
      run.note(`decision: case ${plan.case}`, plan.reasons.join('\n'));
      if (acted) {
        // The recovery ran yet the cluster still needs one: a human looks first; "retry" carries on.
        await run.escalate('decide', `after the recovery the cluster still needs case ${plan.case}: ${plan.summary}`, plan.reasons.join('\n'));
      }
      lastCase = plan.case;
      let group: string[] | undefined;

      // 3. Bootstrap (cases 3, 5, 6, 7): approval (always for 5, 6, 7), at most once per incident.
      if (plan.bootstrap) {
        const b = plan.bootstrap;
        if (bootstrapped) {
          await run.escalate('bootstrap', `refused: a second bootstrap in one incident (${bootstrapped} was already bootstrapped by this run)`, plan.reasons.join('\n'));
          continue;
        }
        const before = run.state.steps.length;
        const choice = await run.approval('bootstrap', {
          step: `bootstrap (case ${plan.case})`,
          summary: approvalText(plan, f),
          evidence: plan.reasons.join('\n'),
          choices: b.choices,
          proposal: b.node,
          always: b.alwaysApproval,
        });
        const node = chosenBootstrap(b, choice);
        if (!node) {
          await run.escalate('bootstrap', `the approved node ${choice ?? '(none)'} is not one of ${b.choices.join(', ')}`, plan.reasons.join('\n'));
          continue;
        }
        if (run.state.steps.length !== before) {
          // An operator took time to decide: act only if the survey still says the same.
          current = { cluster, lastBootstrap: previous, nodes: await Promise.all(nodes.map((n) => surveyNode(run, f, n))) };
          const again = decide(current);
          if (!samePlan(plan, again)) {
            await run.escalate('bootstrap', `the cluster changed while waiting for the approval; now: ${again.kind === 'recover' ? `case ${again.case}` : again.kind}`, (again.kind === 'recover' ? again.reasons : again.reasons).join('\n'));
            continue;
          }
        }
        bootstrapped = node;
        const position = bootstrapPosition(current.nodes.find((n) => n.node === node) ?? { node });
        if (position) {
          const { workflowId, runId } = workflowInfo();
          recorded = { ...position, node, at: new Date().toISOString(), workflowId, runId };
          // Kept by Temporal with the run (memo) even if the run is terminated later; the next run's start reads it.
          if (patched(RECORD_BOOTSTRAP_PATCH)) upsertMemo({ [LAST_BOOTSTRAP_MEMO]: recorded });
        }
        const where = position ? `position ${position.seqno} of cluster ${position.uuid}` : 'position unknown (nothing recorded for the position guard)';
        run.note(`bootstrap recorded: ${node}`, `case ${plan.case}, ${where}: the only bootstrap of this incident; it is never repeated by this run (not by "retry" either)`);
        const commands = b.how === 'pc-bootstrap' ? [f.pcBootstrap] : f.bootstrap(b.how === 'new-cluster-force', survey.nodes.find((n) => n.node === node)?.grastate);
        let failed: (Verdict<true> & { evidence: string }) | undefined;
        for (const cmd of commands) {
          const v = await run.step({ name: `bootstrap ${node}`, host: node, changes: true, cmd, judge: () => ok(true as const) });
          if (!v.ok) {
            failed = v;
            break;
          }
        }
        if (failed && !failed.ok) {
          await run.escalate(`bootstrap ${node}`, `${failed.error}; the bootstrap is not repeated automatically (retry re-surveys; a second bootstrap is refused)`, failed.evidence);
          continue;
        }
        acted = true;
        // Wait until the new component is primary before anything else starts.
        await waitUntil(node, true);
        if (b.groups) group = b.groups.find((g) => g.includes(node));
      }

      // 4. Start the other nodes normally, one at a time, each verified synced before the next
      //    (the proposed bootstrap node too, when the operator chose another one).
      const chosen = bootstrapped;
      const toStart = nodes.filter((n) => n !== chosen && (plan.start.includes(n) || (plan.bootstrap?.how !== 'pc-bootstrap' && n === plan.bootstrap?.node)));
      for (const node of toStart) {
        await run.must({ name: `start ${node}`, host: node, changes: true, cmd: f.start, judge: () => ok(true as const) });
        acted = true;
        await waitUntil(node, false);
      }

      if (group) {
        // Case 7: the chosen group is the cluster now; the other half rejoins when the network heals.
        for (const node of group) await waitUntil(node, false);
        const others = nodes.filter((n) => !group?.includes(n));
        return { outcome: 'repaired', summary: `split brain of ${cluster}: {${group.join(', ')}} bootstrapped as the primary component; {${others.join(', ')}} left non-primary (they rejoin when the network heals; never pc.bootstrap them)` };
      }
      // 5. Survey again: healthy ends the run.
    }
  });
  const last = recorded ?? previous;
  return last ? { ...result, lastBootstrap: last } : result;
}

function approvalText(plan: Extract<Plan, { kind: 'recover' }>, f: Flavour): string {
  const b = plan.bootstrap;
  if (!b) return plan.summary;
  const what = {
    'new-cluster': `start ${b.node} as a new cluster (${f.name === 'manticore' ? 'manticore_new_cluster' : 'galera_new_cluster'})`,
    'new-cluster-force': `start the chosen node as a new cluster with force (${f.name === 'manticore' ? 'manticore_new_cluster --force' : 'safe_to_bootstrap: 1 in grastate.dat, then galera_new_cluster'}); proposed ${b.node}`,
    'pc-bootstrap': `pc.bootstrap on the chosen node; proposed ${b.node}`,
  }[b.how];
  const confirm = { 5: ' CONFIRM FIRST that the other nodes are really down (else: split brain).', 6: ' Choices: the nodes with the freshest data.', 7: ` Pick ONE group (choose a node of it): ${b.groups?.map((g) => `{${g.join(', ')}}`).join(' or ')}; never both.` }[plan.case as 5 | 6 | 7] ?? '';
  return `case ${plan.case}: ${plan.summary}. About to ${what}.${confirm}`;
}

const statusJudge = (f: Flavour) => (r: ExecResult) => f.parseStatus(r.stdout);

/** One node, read only: unit state, grastate.dat, then the status (running) or the recovered position (crashed). */
async function surveyNode(run: Run, f: Flavour, node: string): Promise<NodeSurvey> {
  const s: NodeSurvey = { node };
  const garbled = (what: string, error: string) => (s.garbled ??= []).push(`${what}: ${error}`);
  const active = await run.step({ name: `survey ${node}: is it running`, host: node, cmd: f.isActive, okExitCodes: [0, 3], judge: unitJudge });
  if (!active.ok) {
    if (TRANSPORT.test(active.error)) s.unreachable = active.error;
    else garbled('systemctl is-active', active.error);
    return s;
  }
  s.unitState = active.value;
  if (active.value === 'active') s.running = true;
  else if (['inactive', 'failed'].includes(active.value)) s.running = false;
  else garbled('systemctl is-active', `the unit is ${active.value} (in transition)`);

  const gs = await run.step({ name: `survey ${node}: grastate.dat`, host: node, cmd: f.grastate, judge: (r) => parseGrastate(r.stdout) });
  if (gs.ok) s.grastate = gs.value;
  else garbled('grastate.dat', gs.error);

  if (s.running) {
    const st = await run.step({ name: `survey ${node}: cluster status`, host: node, cmd: f.status, judge: statusJudge(f) });
    if (st.ok) {
      s.status = st.value;
      s.view = f.viewOf(st.value);
    } else garbled('cluster status', st.error);
  } else if (s.running === false && s.grastate?.seqno === -1 && f.recover.length) {
    const name = `survey ${node}: recovered position`;
    for (const cmd of f.recover.slice(0, -1)) {
      const prep = await run.step({ name, host: node, cmd, judge: () => ok(true) });
      if (!prep.ok) {
        garbled('recovered position', prep.error);
        return s;
      }
    }
    const v = await run.step({ name, host: node, cmd: f.recover[f.recover.length - 1], judge: (r) => lastRecovered(r.stdout) });
    if (v.ok) s.recovered = v.value;
    else garbled('recovered position', v.error);
  }
  return s;
}

function unitJudge(r: ExecResult): Verdict<string> {
  const lines = r.stdout.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (lines.length !== 1 || !UNIT_STATES.test(lines[0])) return fail(`unexpected systemctl is-active output ${JSON.stringify(r.stdout.slice(0, 200))}`);
  return ok(lines[0]);
}

/** The last "WSREP: Recovered position" line of a log (earlier recoveries may be in it too). */
function lastRecovered(text: string): Verdict<{ uuid: string; seqno: number }> {
  const lines = text.split(/\r?\n/).filter((l) => l.includes('WSREP: Recovered position'));
  return parseWsrepRecover(lines.length ? lines[lines.length - 1] : '');
}
