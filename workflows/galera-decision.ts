/**
 * manticore-cluster: from the survey of every node of a Galera cluster to what to do (RUNBOOKS.md,
 * "manticore-cluster", cases 1-7 of the Manticore guide). Pure and deterministic: no Temporal, no I/O.
 *
 * Refusals, whatever the case: sequence numbers of different cluster UUIDs are never compared; a node
 * whose state is empty (all-zero UUID, e.g. emptied by an aborted state transfer) is never chosen to
 * bootstrap; nothing bootstraps while any node reports a primary component; a node that could not be
 * surveyed (unreachable, or output not understood) means "cannot decide".
 *
 * Position guard (the Percona operator's guard after data loss): a run remembers the last bootstrap a run
 * of the same cluster did (`Survey.lastBootstrap`); a bootstrap candidate of that cluster UUID whose
 * position is lower is never chosen, and when no candidate is left the run cannot decide (it escalates).
 */
import type { GaleraStatus, Grastate } from '../parsers/galera';
import { fail, ok, Parsed } from '../parsers/result';

export const EMPTY_UUID = '00000000-0000-0000-0000-000000000000';

/** What the survey learnt about one node. */
export interface NodeSurvey {
  node: string;
  /** The node could not be reached (SSH): why. Nothing else is known. */
  unreachable?: string;
  /** Output that could not be understood (each: what and why). */
  garbled?: string[];
  /** searchd / mariadbd runs (`systemctl is-active`: active). */
  running?: boolean;
  /** The unit's state as systemctl printed it (active, inactive, failed, activating...). */
  unitState?: string;
  grastate?: Grastate;
  /** From a running node: its view of the cluster. */
  status?: GaleraStatus;
  /** From a running node: the members of its component as it lists them (sorted; text only, never connected to). */
  view?: string;
  /** From a stopped node whose grastate has no seqno: the last committed position it logged. */
  recovered?: { uuid: string; seqno: number };
}

export interface Survey {
  cluster: string;
  nodes: NodeSurvey[];
  /** The last bootstrap a run of this cluster did (position guard); none known: no guard. */
  lastBootstrap?: BootstrapRecord;
}

/** A bootstrap a run did: recorded before its command ran, carried forward by the runs after it. */
export interface BootstrapRecord {
  /** The cluster state UUID and the position (seqno) the new primary component started from. */
  uuid: string;
  seqno: number;
  node: string;
  /** Workflow time of the bootstrap (ISO 8601). */
  at: string;
  /** The run (workflow ID and run ID) that bootstrapped. */
  workflowId: string;
  runId: string;
}

/** Where runs keep the record: this memo key of each manticore-cluster run (set at start, updated on a bootstrap). */
export const LAST_BOOTSTRAP_MEMO = 'lastGaleraBootstrap';

export type CaseNo = 1 | 2 | 3 | 4 | 5 | 6 | 7;

export interface Bootstrap {
  /** new-cluster: manticore_new_cluster / galera_new_cluster; force: its --force form; pc-bootstrap: SET ... pc.bootstrap on a running node. */
  how: 'new-cluster' | 'new-cluster-force' | 'pc-bootstrap';
  /** The proposed node. */
  node: string;
  /** The nodes an operator may choose instead (all equally good by the evidence). */
  choices: string[];
  /** Case 7: the groups, each a list of nodes; the chosen node's group becomes the cluster. */
  groups?: string[][];
  /** Cases 5, 6 and 7 always wait for an operator; case 3 only when the policy says so. */
  alwaysApproval: boolean;
}

export type Plan =
  | { kind: 'healthy'; reasons: string[] }
  | { kind: 'cannot-decide'; reasons: string[] }
  | {
      kind: 'recover';
      case: CaseNo;
      summary: string;
      reasons: string[];
      bootstrap?: Bootstrap;
      /** Nodes to start normally afterwards, one at a time, each verified synced before the next. */
      start: string[];
    };

const isEmptyUuid = (u: string | undefined) => u === undefined || u === EMPTY_UUID;
const list = (xs: string[]) => xs.join(', ');
const SYNCED = new Set(['synced', 'donor', 'donor/desynced']);

/** The last committed position a stopped node can prove: grastate's seqno, else the recovered position. */
export function positionOf(n: NodeSurvey): { uuid: string; seqno: number; from: string } | undefined {
  const g = n.grastate;
  if (g && g.seqno >= 0) return { uuid: g.uuid, seqno: g.seqno, from: 'grastate.dat seqno' };
  if (n.recovered && n.recovered.seqno >= 0) return { ...n.recovered, from: 'recovered position' };
  return undefined;
}

/** Refuses to compare positions of different cluster UUIDs: the one shared UUID, or why not. */
function oneUuid(nodes: { node: string; uuid: string }[]): { uuid: string } | { error: string } {
  const uuids = [...new Set(nodes.map((n) => n.uuid))];
  if (uuids.length === 1) return { uuid: uuids[0] };
  return { error: `the nodes belong to different cluster UUIDs (${nodes.map((n) => `${n.node} ${n.uuid}`).join('; ')}): their sequence numbers cannot be compared` };
}

/** From the survey to the plan: the case, then the position guard over its bootstrap. */
export function decide(survey: Survey): Plan {
  return positionGuard(survey, decideCase(survey));
}

function decideCase(survey: Survey): Plan {
  const nodes = survey.nodes;
  const cannot = (...reasons: string[]): Plan => ({ kind: 'cannot-decide', reasons });
  const N = nodes.length;

  // Everything must be known: an unreachable node may be running a primary component we cannot see.
  const unknown: string[] = [];
  for (const n of nodes) {
    if (n.unreachable) unknown.push(`${n.node} could not be reached (${n.unreachable}); it may still be running a component`);
    for (const g of n.garbled ?? []) unknown.push(`${n.node}: ${g}`);
    if (!n.unreachable && !n.garbled?.length && n.running === undefined) unknown.push(`${n.node}: whether it runs is unknown`);
    if (!n.unreachable && n.running && !n.status && !n.garbled?.length) unknown.push(`${n.node} runs but reported no cluster status`);
  }
  if (unknown.length) return cannot(...unknown);

  const running = nodes.filter((n) => n.running);
  const stopped = nodes.filter((n) => !n.running);
  const primary = running.filter((n) => n.status?.status === 'primary');
  const describe = (n: NodeSurvey) =>
    n.running
      ? `${n.node}: running, ${n.status?.status}${n.status?.size !== undefined ? `, size ${n.status.size}` : ''}${n.status?.nodeState ? `, ${n.status.nodeState}` : ''}${n.status?.lastCommitted !== undefined ? `, last committed ${n.status.lastCommitted}` : ''}`
      : `${n.node}: ${n.unitState ?? 'not running'}, grastate seqno ${n.grastate?.seqno ?? '?'}${n.grastate?.safeToBootstrap === undefined ? '' : `, safe_to_bootstrap ${n.grastate.safeToBootstrap ? 1 : 0}`}${n.recovered ? `, recovered position ${n.recovered.seqno}` : ''}`;
  const evidence = nodes.map(describe);

  // A primary component exists: never bootstrap; at most start the stopped nodes so they join it.
  if (primary.length > 0) {
    const sizes = [...new Set(primary.map((n) => n.status?.size))];
    if (sizes.length !== 1 || sizes[0] !== primary.length) {
      return cannot(`the primary nodes disagree about their component (sizes ${sizes.join(', ')} for ${primary.length} primary nodes): possibly two primary components`, ...evidence);
    }
    const nonPrimary = running.filter((n) => n.status?.status !== 'primary');
    if (nonPrimary.length) {
      return cannot(`${list(nonPrimary.map((n) => n.node))} run(s) outside the primary component of ${list(primary.map((n) => n.node))} (a network partition?); nothing is bootstrapped while a primary component exists`, ...evidence);
    }
    const notSynced = primary.filter((n) => !SYNCED.has(n.status?.nodeState ?? ''));
    if (notSynced.length) return cannot(`${list(notSynced.map((n) => `${n.node} is ${n.status?.nodeState ?? 'in an unknown state'}`))}: wait until the state transfer ends`, ...evidence);
    if (stopped.length === 0) return { kind: 'healthy', reasons: [`all ${N} nodes are primary and synced`, ...evidence] };
    const crashed = stopped.filter((n) => (n.grastate?.seqno ?? -1) < 0);
    const names = list(stopped.map((n) => n.node));
    const keep = `${list(primary.map((n) => n.node))} form(s) the primary component (size ${primary.length})`;
    let c: CaseNo;
    let summary: string;
    if (stopped.length === 1 && crashed.length === 0) {
      c = 1;
      summary = `${names} was stopped gracefully and ${keep}: start it; it rejoins by IST or SST`;
    } else if (stopped.length === 1) {
      c = 4;
      summary = `${names} crashed and ${keep}, which keeps quorum: start it; it rejoins`;
    } else {
      c = 2;
      summary = `${names} are stopped${crashed.length ? ` (${list(crashed.map((n) => n.node))} crashed)` : ''} and ${keep}: start them one at a time, verifying each joins`;
    }
    return { kind: 'recover', case: c, summary, reasons: [summary, ...evidence], start: stopped.map((n) => n.node) };
  }

  // No primary component anywhere.
  if (running.length > 0) {
    const groups = groupByView(running);
    if (!groups) return cannot(`${list(running.map((n) => n.node))} run(s) non-primary, but their component membership is not reported: cannot tell the groups apart`, ...evidence);
    if (stopped.length === 0) {
      // Case 7: split brain into groups of exactly half.
      if (groups.length === 2 && groups.every((g) => g.length * 2 === N)) {
        const candidates = running.filter((n) => !isEmptyUuid(n.grastate?.uuid));
        const emptied = running.filter((n) => isEmptyUuid(n.grastate?.uuid)).map((n) => `${n.node} has an empty state (all-zero UUID) and is never chosen`);
        const u = oneUuid(candidates.map((n) => ({ node: n.node, uuid: n.grastate?.uuid ?? '' })));
        if ('error' in u) return cannot(u.error, ...evidence);
        const best = (g: NodeSurvey[]) => Math.max(...g.map((n) => n.status?.lastCommitted ?? -1));
        const g0 = best(groups[0]);
        const g1 = best(groups[1]);
        const pick = g1 > g0 ? groups[1] : groups[0];
        const proposal = pick.find((n) => candidates.includes(n));
        if (!proposal) return cannot('no node of either group has a usable state', ...emptied, ...evidence);
        const groupNames = groups.map((g) => g.map((n) => n.node));
        const summary = `split brain: ${groupNames.map((g) => `{${list(g)}}`).join(' and ')} each hold exactly half of ${N} nodes and are non-primary; an operator picks ONE group, pc.bootstrap runs in that group only`;
        return {
          kind: 'recover',
          case: 7,
          summary,
          reasons: [summary, `proposed: the group of ${proposal.node} (last committed ${best(pick)} vs ${pick === groups[0] ? g1 : g0})`, ...emptied, ...evidence],
          bootstrap: { how: 'pc-bootstrap', node: proposal.node, choices: candidates.map((n) => n.node), groups: groupNames, alwaysApproval: true },
          start: [],
        };
      }
      return cannot(`all ${N} nodes run but none is primary, and they do not split into two halves (${groups.map((g) => `{${list(g.map((n) => n.node))}}`).join(' ')})`, ...evidence);
    }
    // Case 5: the survivors (at most half) lost quorum; the others are down.
    if (groups.length !== 1) return cannot(`the running nodes form several non-primary groups (${groups.map((g) => `{${list(g.map((n) => n.node))}}`).join(' ')}) while others are down`, ...evidence);
    if (running.length * 2 > N) return cannot(`${list(running.map((n) => n.node))} are a majority yet non-primary: not a quorum loss this runbook knows`, ...evidence);
    const candidates = running.filter((n) => !isEmptyUuid(n.grastate?.uuid));
    if (candidates.length === 0) return cannot(`the survivors ${list(running.map((n) => n.node))} have an empty state (all-zero UUID): never bootstrapped from`, ...evidence);
    const proposal = candidates.reduce((a, b) => ((b.status?.lastCommitted ?? -1) > (a.status?.lastCommitted ?? -1) ? b : a));
    const summary = `${list(stopped.map((n) => n.node))} are down and the survivor(s) ${list(running.map((n) => n.node))} are non-primary (no quorum): after an operator confirms the others are really down, pc.bootstrap on ${proposal.node}, then start the others`;
    return {
      kind: 'recover',
      case: 5,
      summary,
      reasons: [summary, ...evidence],
      bootstrap: { how: 'pc-bootstrap', node: proposal.node, choices: candidates.map((n) => n.node), alwaysApproval: true },
      start: stopped.map((n) => n.node),
    };
  }

  // Everything is down: one node must start a new primary component.
  const emptied = nodes.filter((n) => isEmptyUuid(n.grastate?.uuid));
  const refusedEmpty = emptied.map((n) => `${n.node} has an empty state (all-zero UUID, e.g. after an aborted state transfer) and is never chosen`);
  const candidates = nodes.filter((n) => !emptied.includes(n));
  if (candidates.length === 0) return cannot('every node has an empty state', ...evidence);
  const graceful = candidates.every((n) => (n.grastate?.seqno ?? -1) >= 0);

  if (graceful) {
    // Case 3: the node that stopped last (safe_to_bootstrap: 1, also the highest seqno) starts first.
    const u = oneUuid(candidates.map((n) => ({ node: n.node, uuid: n.grastate?.uuid ?? '' })));
    if ('error' in u) return cannot(u.error, ...evidence);
    const top = Math.max(...candidates.map((n) => n.grastate?.seqno ?? -1));
    const safe = candidates.filter((n) => n.grastate?.safeToBootstrap === true);
    let chosen: NodeSurvey;
    if (safe.length > 1) return cannot(`several nodes say safe_to_bootstrap: 1 (${list(safe.map((n) => n.node))})`, ...evidence);
    if (safe.length === 1) {
      chosen = safe[0];
      if ((chosen.grastate?.seqno ?? -1) < top) return cannot(`${chosen.node} says safe_to_bootstrap: 1 but has seqno ${chosen.grastate?.seqno}, lower than ${top} elsewhere`, ...evidence);
    } else {
      if (candidates.some((n) => n.grastate?.safeToBootstrap === false)) return cannot('no node says safe_to_bootstrap: 1', ...evidence);
      // Older Galera writes no safe_to_bootstrap: the unique highest seqno is the last node.
      const tops = candidates.filter((n) => n.grastate?.seqno === top);
      if (tops.length !== 1) return cannot(`no safe_to_bootstrap flag, and the highest seqno ${top} is on several nodes (${list(tops.map((n) => n.node))})`, ...evidence);
      chosen = tops[0];
    }
    const summary = `all nodes stopped gracefully; ${chosen.node} stopped last (safe_to_bootstrap, seqno ${chosen.grastate?.seqno}): start it first with a new cluster, wait until primary, then start ${list(nodes.filter((n) => n !== chosen).map((n) => n.node))}`;
    return {
      kind: 'recover',
      case: 3,
      summary,
      reasons: [summary, ...refusedEmpty, ...evidence],
      bootstrap: { how: 'new-cluster', node: chosen.node, choices: [chosen.node], alwaysApproval: false },
      start: nodes.filter((n) => n !== chosen).map((n) => n.node),
    };
  }

  // Case 6: crashed (no valid seqno on some or all nodes): the freshest data by the recovered positions.
  const positions = candidates.map((n) => ({ n, p: positionOf(n) }));
  const unknownPos = positions.filter((x) => !x.p);
  if (unknownPos.length) return cannot(`no last committed position is known for ${list(unknownPos.map((x) => x.n.node))} (grastate seqno -1 and no recovered position)`, ...refusedEmpty, ...evidence);
  const known = positions as { n: NodeSurvey; p: NonNullable<ReturnType<typeof positionOf>> }[];
  const mismatch = known.filter((x) => x.n.grastate && !isEmptyUuid(x.n.grastate.uuid) && x.n.grastate.uuid !== x.p.uuid);
  if (mismatch.length) return cannot(`${list(mismatch.map((x) => x.n.node))}: the recovered position's UUID differs from grastate.dat's`, ...evidence);
  const u = oneUuid(known.map((x) => ({ node: x.n.node, uuid: x.p.uuid })));
  if ('error' in u) return cannot(u.error, ...evidence);
  if (known.some((x) => isEmptyUuid(x.p.uuid))) return cannot('a recovered position has an all-zero UUID', ...evidence);
  const top = Math.max(...known.map((x) => x.p.seqno));
  const freshest = known.filter((x) => x.p.seqno === top).map((x) => x.n);
  const chosen = freshest[0];
  const summary = `all nodes are down after a crash (no valid seqno on ${list(known.filter((x) => (x.n.grastate?.seqno ?? -1) < 0).map((x) => x.n.node))}); the freshest data (position ${top}) is on ${list(freshest.map((n) => n.node))}: an operator chooses, it starts with a forced new cluster, then the others start normally`;
  return {
    kind: 'recover',
    case: 6,
    summary,
    reasons: [summary, ...known.map((x) => `${x.n.node}: position ${x.p.seqno} (${x.p.from})`), ...refusedEmpty, ...evidence],
    bootstrap: { how: 'new-cluster-force', node: chosen.node, choices: freshest.map((n) => n.node), alwaysApproval: true },
    start: nodes.filter((n) => n !== chosen).map((n) => n.node),
  };
}

/** The position a bootstrap from this node starts the cluster at: a running node's last committed (cases 5, 7), else its proven position. */
export function bootstrapPosition(n: NodeSurvey): { uuid: string; seqno: number } | undefined {
  if (n.running) return n.grastate && n.status?.lastCommitted !== undefined ? { uuid: n.grastate.uuid, seqno: n.status.lastCommitted } : undefined;
  const p = positionOf(n);
  return p && { uuid: p.uuid, seqno: p.seqno };
}

/**
 * Never below the last bootstrap: the candidates of that cluster UUID whose position is lower (or unknown)
 * are no longer choices; none left: cannot decide, with the positions written out. Another UUID is
 * another cluster history, to which the record does not apply (said in the reasons).
 */
function positionGuard(survey: Survey, plan: Plan): Plan {
  const last = survey.lastBootstrap;
  if (!last || plan.kind !== 'recover' || !plan.bootstrap) return plan;
  const b = plan.bootstrap;
  const record = `${last.workflowId} bootstrapped ${survey.cluster} from ${last.node} at position ${last.seqno} (cluster ${last.uuid}) at ${last.at}`;
  const kept: string[] = [];
  const below: string[] = [];
  const notes: string[] = [];
  for (const node of b.choices) {
    const n = survey.nodes.find((x) => x.node === node);
    const p = n && bootstrapPosition(n);
    if (!p) below.push(`${node} (position unknown)`);
    else if (p.uuid !== last.uuid) {
      kept.push(node);
      notes.push(`position guard: ${node} belongs to cluster ${p.uuid}, not ${last.uuid} of the recorded bootstrap; the record does not apply to it`);
    } else if (p.seqno < last.seqno) below.push(`${node} (position ${p.seqno})`);
    else kept.push(node);
  }
  if (kept.length === 0) {
    return {
      kind: 'cannot-decide',
      reasons: [
        `position guard: refused to bootstrap from ${list(below)}: lower than position ${last.seqno}, from which ${record}; the transactions after that position would be lost. ` +
          `Bring back a node at position ${last.seqno} or later (then retry), or recover by hand (then resolved)`,
        ...plan.reasons,
      ],
    };
  }
  const guard = below.length ? `position guard: ${list(below)} not offered: lower than position ${last.seqno}, from which ${record}` : `position guard: at or above position ${last.seqno}, from which ${record}`;
  return { ...plan, reasons: [...plan.reasons, guard, ...notes], bootstrap: { ...b, choices: kept, node: kept.includes(b.node) ? b.node : kept[0] } };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TEXT = /^[A-Za-z0-9_.:/+-]{1,200}$/;

/** A bootstrap record as runs pass it on (memo, run input), or why it is not one. */
export function checkBootstrapRecord(v: unknown): Parsed<BootstrapRecord> {
  const r = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const bad = (field: string) => fail(`the recorded Galera bootstrap has no valid ${field}: ${String(JSON.stringify(v)).slice(0, 200)}`);
  if (typeof r.uuid !== 'string' || !UUID.test(r.uuid)) return bad('uuid');
  if (typeof r.seqno !== 'number' || !Number.isSafeInteger(r.seqno) || r.seqno < 0) return bad('seqno');
  for (const f of ['node', 'at', 'workflowId', 'runId'] as const) if (typeof r[f] !== 'string' || !TEXT.test(r[f])) return bad(f);
  return ok({ uuid: r.uuid, seqno: r.seqno, node: r.node as string, at: r.at as string, workflowId: r.workflowId as string, runId: r.runId as string });
}

/** Running nodes grouped by the component view they report; undefined when a node reports none. */
function groupByView(running: NodeSurvey[]): NodeSurvey[][] | undefined {
  if (running.length === 1) return [running];
  const groups = new Map<string, NodeSurvey[]>();
  for (const n of running) {
    if (!n.view) return undefined;
    groups.set(n.view, [...(groups.get(n.view) ?? []), n]);
  }
  for (const g of groups.values()) if (g.some((n) => n.status?.size !== undefined && n.status.size !== g.length)) return undefined;
  return [...groups.values()];
}

/** After the operator's choice: the bootstrap node of the chosen group or node (must be one of the choices). */
export function chosenBootstrap(b: Bootstrap, choice: string | undefined): string | undefined {
  const node = choice ?? b.node;
  return b.choices.includes(node) ? node : undefined;
}

/** Whether two plans recommend the same thing (the situation did not change while an operator decided). */
export function samePlan(a: Plan, b: Plan): boolean {
  if (a.kind !== 'recover' || b.kind !== 'recover') return a.kind === b.kind;
  return a.case === b.case && a.bootstrap?.how === b.bootstrap?.how && JSON.stringify(a.bootstrap?.choices) === JSON.stringify(b.bootstrap?.choices) && JSON.stringify(a.start) === JSON.stringify(b.start);
}
