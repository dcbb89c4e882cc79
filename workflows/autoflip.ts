/**
 * autoflip: repeated role switching is blocked (RUNBOOKS.md, "autoflip").
 * Alert: `2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [fate]` -> one run per
 * map (`autoflip/fate`); the map is named after its service, so `fate` is also the service.
 */
import { ActivityFailure, proxyActivities, rootCause } from '@temporalio/workflow';
import type { ExecResult, RunActivities, RunOutcome, RunRef } from '../activities';
import type { IcMap } from '../parsers/icmap';
import { MAP } from '../parsers/patterns';
import { fail, ok, Parsed } from '../parsers/result';
import type { RunResult, RunSettings } from './definitions';
import { parseRunMap, validInput } from './judges';
import { Run, runbook } from './run';

export interface AutoflipInput {
  map: string;
  settings: RunSettings;
}

/** The header of a map whose autoflip was blocked by an automatic switch (white space normalised). */
export const BLOCKED_REASON = 'due to previous autoflip - have to unset manually';

/** `ic map <map>` -> the autoflip state: `enabled`, or `blocked` by a previous autoflip. Anything else is a failure. */
export function autoflipState(r: ExecResult): Parsed<'enabled' | 'blocked'> {
  const map = understoodMap(r);
  return map.ok ? stateOf(map.value) : map;
}

function understoodMap(r: ExecResult): Parsed<IcMap> {
  const map = parseRunMap(r.stdout);
  return map.ok ? map : fail(`ic map output not understood: ${map.error}${map.line ? ` (line ${map.line})` : ''}`);
}

function stateOf(map: IcMap): Parsed<'enabled' | 'blocked'> {
  const a = map.autoflip;
  if (!a) return fail('the map has no autoflip header');
  if (a.enabled) return ok('enabled');
  if (a.reason === BLOCKED_REASON) return ok('blocked');
  return fail(`autoflip is disabled, but not "${BLOCKED_REASON}" (${a.reason ? `reason: "${a.reason}"` : 'no reason given'}): someone disabled it on purpose`);
}

/** Step 1's judge: the autoflip state, and the instances of the service that the map lists. */
function blockedMap(service: string) {
  return (r: ExecResult): Parsed<{ state: 'enabled' | 'blocked'; instances: string[] }> => {
    const map = understoodMap(r);
    if (!map.ok) return map;
    const s = stateOf(map.value);
    if (!s.ok) return s;
    const instances = [...new Set(map.value.nodes.flatMap((n) => n.srvs.filter((x) => x.service === service).map((x) => x.instance)))].sort();
    return ok({ state: s.value, instances });
  };
}

const enabledNow = (r: ExecResult): Parsed<true> => {
  const s = autoflipState(r);
  if (!s.ok) return s;
  return s.value === 'enabled' ? ok(true) : fail('the header still says autoflip is disabled due to the previous autoflip');
};

/** A replication run that ended in one of these repaired (or found nothing to repair). */
const GOOD_OUTCOMES = ['repaired', 'nothing-to-do', 'resolved-by-operator', 'resolved-before-repair'];

const runs = proxyActivities<RunActivities>({ startToCloseTimeout: '1 minute', retry: { maximumAttempts: 5, initialInterval: '5 seconds', backoffCoefficient: 2 } });

function describeOutcome(ref: RunRef, o: RunOutcome): string {
  return o.result ? `${ref.workflowId}: ${o.result.status} (${o.result.outcome}) ${o.result.summary}`.trim() : `${ref.workflowId}: ${o.status.toLowerCase()}`;
}

/**
 * Step 2: every open replication run (kust-replica / tarantool-replica) of this service must finish,
 * and finish repaired, before autoflip is enabled again. A failed or aborted one escalates; the
 * operator's "retry" looks again (for runs still or newly open).
 */
async function replicationRepairedFirst(run: Run, service: string, instances: string[]): Promise<void> {
  const name = 'replication repaired first';
  for (;;) {
    const verdict = await settledReplication(run, service, instances);
    if (verdict.ok) return;
    await run.escalate(name, verdict.error, verdict.evidence);
  }
}

async function settledReplication(run: Run, service: string, instances: string[]): Promise<{ ok: true } | { ok: false; error: string; evidence: string }> {
  const t = run.timers;
  let open: RunRef[];
  const outcomes: [RunRef, RunOutcome][] = [];
  try {
    open = await runs.openReplicationRuns(service, instances);
    for (const ref of open) {
      const ended = await run.poll(`wait for ${ref.workflowId} to finish`, async () => {
        const o = await runs.runOutcome({ workflowId: ref.workflowId, runId: ref.runId });
        return o.status === 'RUNNING' ? undefined : o;
      }, t.replicationPoll, t.replicationPollMax);
      outcomes.push([ref, ended]);
    }
  } catch (err) {
    const cause = err instanceof ActivityFailure ? rootCause(err) : String(err);
    return { ok: false, error: `could not look at the replication runs of ${service}: ${cause}`, evidence: String(cause) };
  }
  const bad = outcomes.filter(([, o]) => !(o.status === 'COMPLETED' && o.result?.status === 'completed' && GOOD_OUTCOMES.includes(o.result.outcome)));
  const evidence = outcomes.map(([ref, o]) => describeOutcome(ref, o)).join('\n') || `no open replication run of ${service}`;
  if (bad.length > 0) return { ok: false, error: `replication of ${service} was not repaired: ${bad.map(([ref, o]) => describeOutcome(ref, o)).join('; ')}`, evidence };
  return { ok: true };
}

export async function autoflip(input: AutoflipInput): Promise<RunResult> {
  const map = validInput(MAP, 'map', input.map);

  return runbook('autoflip', map, input.settings, async (run) => {
    const p = run.paths;
    // 1. On the control node: `ic map <map>`; the header must say "disable due to previous autoflip"; `enable`: nothing to do.
    const { state, instances } = await run.must({ name: 'autoflip blocked', host: run.control, cmd: { argv: [p.ic, 'map', map] }, judge: blockedMap(map) });
    if (state === 'enabled') return { outcome: 'nothing-to-do', summary: `autoflip of ${map} is already enabled` };

    // 2. An open replication alert / run of this service: let it repair first, go on only if it succeeded.
    await replicationRepairedFirst(run, map, instances);

    // 3-4. `ic set_autoflip <map> enable`, then `ic map <map>` must say `autoflip: enable`. Retry once (both), then escalate.
    await run.approval('enable', { step: 'enable autoflip', summary: `run ${p.ic} set_autoflip ${map} enable on ${run.control}` });
    const attempt = async () => {
      const set = await run.step({ name: 'enable autoflip', host: run.control, changes: true, cmd: { argv: [p.ic, 'set_autoflip', map, 'enable'] }, judge: () => ok(true) });
      if (!set.ok) return { ...set, step: 'enable autoflip' };
      return { ...(await run.step({ name: 'autoflip enabled', host: run.control, cmd: { argv: [p.ic, 'map', map] }, judge: enabledNow })), step: 'autoflip enabled' };
    };
    let v = await attempt();
    if (!v.ok) {
      await run.wait('enable autoflip: wait before the retry', run.timers.autoflipRetry);
      for (v = await attempt(); !v.ok; v = await attempt()) await run.escalate(v.step, v.error, v.evidence);
    }
    return { outcome: 'repaired', summary: `autoflip of ${map} enabled again` };
  });
}
