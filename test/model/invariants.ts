/**
 * The safety invariants of the model-based tests, checked after every step of every generated sequence,
 * each over what the service says (runs and their states, via the client) or what the fleet shows (the
 * in-memory lab state and the log of commands the runs ran). Pure: each returns the violations it sees.
 */
import type { LabState } from '../../lab/types';
import type { RunResult, RunState } from '../../workflows/definitions';
import type { BootstrapSeen, LabCall } from './lab-hosts';

/** One execution of a run as the client sees it. */
export interface RunView {
  workflowId: string;
  runId: string;
  /** Temporal's status: RUNNING, COMPLETED, TERMINATED, ... */
  status: string;
  /** Open: the state query; completed: its result's state. */
  state?: RunState;
  result?: RunResult;
}

/** A decision the test's operators took and the run accepted, with the simulated time it was sent. */
export interface SentDecision {
  workflowId: string;
  runId: string;
  action: string;
  atMs: number;
}

const key = (r: { workflowId: string; runId: string }) => `${r.workflowId}#${r.runId}`;

/** Never two open repairs of one workflow ID `<runbook>/<target>` (via the client: every execution this sequence started). */
export function openRunsPerTarget(runs: RunView[]): string[] {
  const open = new Map<string, string[]>();
  for (const r of runs) if (r.status === 'RUNNING') open.set(r.workflowId, [...(open.get(r.workflowId) ?? []), r.runId]);
  return [...open].filter(([, ids]) => ids.length > 1).map(([id, ids]) => `two open repairs of ${id}: runs ${ids.join(', ')}`);
}

/**
 * Via the fleet: the hosts of one target (a Galera cluster, the controller pair, a KUST replica pair) are
 * never changed by two runs that are open at the same time.
 */
export function changersPerTarget(calls: LabCall[], runs: RunView[], targets: Record<string, string[]>): string[] {
  const open = new Set(runs.filter((r) => r.status === 'RUNNING').map(key));
  const out: string[] = [];
  for (const [target, hosts] of Object.entries(targets)) {
    const changers = new Set(calls.filter((c) => c.changes && hosts.includes(c.host) && open.has(key(c))).map(key));
    if (changers.size > 1) out.push(`${target}: changed by ${changers.size} open runs at once (${[...changers].join(', ')})`);
  }
  return out;
}

/** At most one Galera bootstrap per incident, none while a primary component exists (the lab's model), never below an earlier bootstrap. */
export function galeraSafety(s: LabState, bootstraps: BootstrapSeen[]): string[] {
  const out = Object.entries(s.manticore.clusters).flatMap(([name, c]) => c.violations.map((v) => `lab ${name}: ${v}`));
  bootstraps.forEach((b, i) => {
    const earlier = bootstraps.slice(0, i).filter((x) => x.cluster === b.cluster && x.uuid === b.uuid);
    const top = earlier.reduce<BootstrapSeen | undefined>((a, x) => (a && a.position >= x.position ? a : x), undefined);
    if (top && b.position < top.position) {
      out.push(`${b.cluster} bootstrapped from ${b.node} at position ${b.position} by ${b.workflowId}, below position ${top.position} that ${top.workflowId} bootstrapped it from (${top.node})`);
    }
  });
  return out;
}

/** Never both controllers demoted: one controller of the pair is a running main at all times. */
export function controllerPair(s: LabState): string[] {
  const c = s.ctlr;
  if (!c) return [];
  const mains = Object.entries(c.nodes).filter(([n, x]) => x.role === 'main' && s.nodes[n].units[c.unit]?.active === 'active');
  if (mains.length) return [];
  return [`no running controller main: ${Object.entries(c.nodes).map(([n, x]) => `${n} ${x.role} ${s.nodes[n].units[c.unit]?.active}`).join(', ')}`];
}

/**
 * An escalation or an approval only ever ends with an operator's decision taken after it began; an escalated
 * run never ends as a success (repaired / nothing-to-do) unless its last escalation was answered "retry".
 */
export function decisionsHonoured(runs: RunView[], sent: SentDecision[]): string[] {
  const out: string[] = [];
  const verdictOf: Record<string, string> = { retry: 'retry', resolved: 'resolved', abort: 'abort', approve: 'approved', reject: 'rejected' };
  for (const r of runs) {
    const steps = r.state?.steps ?? [];
    const mine = sent.filter((d) => key(d) === key(r));
    for (const st of steps.filter((x) => (x.kind === 'escalation' || x.kind === 'approval') && x.endedAt)) {
      const from = Date.parse(st.startedAt);
      // Approvals the policy passes at once record no step; an ended step needs a decision sent after it began.
      const answered = mine.some((d) => verdictOf[d.action] === st.verdict && d.atMs >= from);
      if (!answered) out.push(`${key(r)}: step ${st.n} "${st.name}" ended ${st.verdict ?? '?'} at ${st.endedAt} without an operator's decision after ${st.startedAt}`);
    }
    const escalations = steps.filter((x) => x.kind === 'escalation');
    const success = r.result && r.result.status === 'completed' && ['repaired', 'nothing-to-do'].includes(r.result.outcome);
    if (success && escalations.length && escalations[escalations.length - 1].verdict !== 'retry') {
      out.push(`${key(r)}: ended ${r.result?.outcome} after an escalation that was not answered "retry"`);
    }
  }
  return out;
}
