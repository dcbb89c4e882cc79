/**
 * The runbook catalogue as the client side sees it: which workflow, which parameters (each checked
 * against its allow-list pattern before anything starts), the run's target, and how to start a run
 * so that a second trigger for an open run joins it instead of starting a parallel repair.
 */
import { Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Config, Policy } from '../config/schema';
import { check, CLUSTER, INSTANCE, MAP, NODE, SERVICE } from '../parsers/patterns';
import { RunbookKey, RunbookName, RunResult, RunSettings, RunStatusKey, seenAgainSignal, TargetKey } from '../workflows/definitions';
import { msOf } from '../workflows/duration';
import { decisionIdentity } from '../worker/decision-keys';
import { LAST_BOOTSTRAP_MEMO } from '../workflows/galera-decision';

interface RunbookSpec {
  workflowType: string;
  params: Record<string, RegExp>;
  target(params: Record<string, string>): string;
  /** Runbooks that act on the same target: while one of their runs of it is open, a start joins that run. */
  sharesTargetWith?: RunbookName[];
}

export const RUNBOOKS: Record<RunbookName, RunbookSpec> = {
  'kust-replica': { workflowType: 'kustReplica', params: { service: SERVICE, instance: INSTANCE }, target: (p) => p.instance },
  'tarantool-replica': { workflowType: 'tarantoolReplica', params: { service: SERVICE, instance: INSTANCE }, target: (p) => p.instance },
  // One run per map: the alert's `maps: [...]` list starts autoflip/<map> for each (startRuns).
  autoflip: { workflowType: 'autoflip', params: { map: MAP }, target: (p) => p.map },
  // The whole MySQL fleet; each cluster that needs work gets its own child run mysql-topology/<namespace>.
  'mysql-topology': { workflowType: 'mysqlTopology', params: {}, target: () => 'fleet' },
  // One controller pair (ctlr-1): every alert about it joins the open run.
  // One controller pair (ctlr-1): every alert about it joins the open run; and never two runs of the pair
  // at once (each could demote the node the other keeps).
  'ctlr-replica': { workflowType: 'ctlrReplica', params: { node: NODE }, target: () => 'ctlr-1', sharesTargetWith: ['ctlr-roles'] },
  'ctlr-roles': { workflowType: 'ctlrRoles', params: {}, target: () => 'ctlr-1', sharesTargetWith: ['ctlr-replica'] },
  // One Galera cluster (config manticore.clusters.<cluster>): manticore-cluster/<cluster>.
  'manticore-cluster': { workflowType: 'manticoreCluster', params: { cluster: CLUSTER }, target: (p) => p.cluster },
};

export class BadRequest extends Error {}

export function isRunbook(name: string): name is RunbookName {
  return Object.prototype.hasOwnProperty.call(RUNBOOKS, name);
}

/** Validates a runbook's parameters; throws BadRequest naming the problem. */
export function validateParams(runbook: string, params: Record<string, unknown>): Record<string, string> {
  if (!isRunbook(runbook)) throw new BadRequest(`unknown runbook ${JSON.stringify(runbook).slice(0, 80)} (known: ${Object.keys(RUNBOOKS).join(', ')})`);
  const spec = RUNBOOKS[runbook];
  const out: Record<string, string> = {};
  for (const key of Object.keys(params)) if (!(key in spec.params)) throw new BadRequest(`${runbook}: unknown parameter ${JSON.stringify(key).slice(0, 80)}`);
  for (const [key, pattern] of Object.entries(spec.params)) {
    const value = params[key];
    if (typeof value !== 'string') throw new BadRequest(`${runbook}: parameter ${key} is required (a string)`);
    const v = check(pattern, key, value);
    if (!v.ok) throw new BadRequest(`${runbook}: ${v.error}`);
    out[key] = v.value;
  }
  return out;
}

/** The configured approval policy of one runbook's steps (steps not named are auto). */
function policyOf(config: Config, runbook: RunbookName): Record<string, Policy> {
  const steps: Record<string, Policy | undefined> = (config.approvals as Record<string, Record<string, Policy | undefined> | undefined>)[runbook] ?? {};
  return Object.fromEntries(Object.entries(steps).filter((e): e is [string, Policy] => e[1] !== undefined));
}

/**
 * A run's settings from the configuration. `identity` holds the API's decision public key
 * (worker/decision-keys.ts): throws a ConfigError when this process can find none, rather than start a run
 * nobody could decide.
 */
export function settingsFor(config: Config, runbook: RunbookName): RunSettings {
  const lists = config.api.approverLists[runbook];
  return {
    controlNode: config.inventory.controlNode,
    paths: config.paths,
    timers: config.timers,
    policy: policyOf(config, runbook),
    approvers: lists?.approvers ?? config.api.approvers,
    ...(lists?.gates && Object.keys(lists.gates).length > 0 ? { stepApprovers: lists.gates } : {}),
    identity: decisionIdentity(config),
    ctlrNodes: config.ctlr?.nodes,
    ...(runbook === 'manticore-cluster' ? { galeraClusters: config.manticore?.clusters } : {}),
    onResolvedBeforeRepair: config.intake.onResolvedBeforeRepair,
    heartbeatTimeout: config.ssh.heartbeatTimeout,
    workflowTaskTimeout: config.service.workflowTaskTimeout,
  };
}

export const workflowIdOf = (runbook: RunbookName, target: string) => `${runbook}/${target}`;
/** A dry run has its own ID, so that it never blocks (or joins) a real run of the same target. */
export const dryRunIdOf = (runbook: RunbookName, target: string) => `dry-run/${runbook}/${target}`;

export interface StartOptions {
  /** Only the read-only steps; stops at the first step that changes something (outcome dry-run). */
  dryRun?: boolean;
}

/**
 * Flapping guard: when the last (closed) run of this workflow ID completed as `repaired` less than
 * `period` ago, the time it closed; the new run escalates before its first change (workflows/run.ts).
 */
export async function lastRepairAt(client: Client, workflowId: string, periodMs: number): Promise<string | undefined> {
  // The guard is off (timers.flapGuard 0s): nothing to look up (a describe per start saved).
  if (!(periodMs > 0)) return undefined;
  try {
    const last = await client.workflow.getHandle(workflowId).describe();
    if (last.status.name !== 'COMPLETED' || !last.closeTime || Date.now() - last.closeTime.getTime() >= periodMs) return undefined;
    const result = (await client.workflow.getHandle(workflowId, last.runId).result()) as RunResult | undefined;
    return result?.outcome === 'repaired' ? last.closeTime.toISOString() : undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * Position guard (manticore-cluster): the last Galera bootstrap recorded by a run of this workflow ID, from
 * the latest run's memo (each run starts with the one before it, and replaces it when it bootstraps). The
 * run checks it; nothing once Temporal's retention has dropped the latest run.
 */
export async function lastGaleraBootstrap(client: Client, workflowId: string): Promise<unknown> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).memo?.[LAST_BOOTSTRAP_MEMO];
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

export interface StartOutcome {
  workflowId: string;
  /** false: a run for this target was already open; this trigger joined it. */
  started: boolean;
  /** For a joined run: whether a "seen again" signal was sent (storms send at most one per interval). */
  signalled?: boolean;
}

/**
 * Clients whose starts ask for eager workflow start: the client shares the NativeConnection of a worker
 * in the same process that polls the runbooks' task queue, so the server hands the first workflow task
 * straight back in the start's answer (one round trip less before the first command).
 */
const eagerClients = new WeakSet<Client>();
export function enableEagerStart(client: Client): void {
  eagerClients.add(client);
}

export async function startRun(
  client: Client,
  config: Config,
  runbook: string,
  rawParams: Record<string, unknown>,
  source: string,
  shouldSignalSeenAgain: (workflowId: string) => boolean = () => true,
  options: StartOptions = {},
): Promise<StartOutcome> {
  const params = validateParams(runbook, rawParams);
  const name = runbook as RunbookName;
  const spec = RUNBOOKS[name];
  const target = spec.target(params);
  const workflowId = options.dryRun ? dryRunIdOf(name, target) : workflowIdOf(name, target);
  const recentRepairAt = options.dryRun ? undefined : await lastRepairAt(client, workflowId, msOf(config.timers.flapGuard));
  // A dry run, too, learns the real runs' last bootstrap (its survey shows what the real run would refuse).
  const lastBootstrap = name === 'manticore-cluster' ? await lastGaleraBootstrap(client, workflowIdOf(name, target)) : undefined;
  const carried = lastBootstrap === undefined ? {} : { lastBootstrap };
  const join = async (id: string): Promise<StartOutcome> => {
    if (!shouldSignalSeenAgain(id)) return { workflowId: id, started: false, signalled: false };
    await client.workflow.getHandle(id).signal(seenAgainSignal, { source, at: new Date().toISOString() });
    return { workflowId: id, started: false, signalled: true };
  };
  if (!options.dryRun) {
    for (const other of spec.sharesTargetWith ?? []) {
      const id = workflowIdOf(other, target);
      if (await isOpen(client, id)) return join(id);
    }
  }
  try {
    await client.workflow.start(spec.workflowType, {
      workflowId,
      taskQueue: config.service.taskQueue,
      args: [{ ...params, settings: { ...settingsFor(config, name), ...(options.dryRun ? { dryRun: true } : {}), ...(recentRepairAt ? { recentRepairAt } : {}) }, ...carried }],
      typedSearchAttributes: [
        { key: RunbookKey, value: name },
        { key: TargetKey, value: target },
        { key: RunStatusKey, value: 'running' },
      ],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      ...(eagerClients.has(client) ? { requestEagerStart: true } : {}),
      workflowTaskTimeout: msOf(config.service.workflowTaskTimeout),
      memo: { source, ...(lastBootstrap === undefined ? {} : { [LAST_BOOTSTRAP_MEMO]: lastBootstrap }) },
    });
    return { workflowId, started: true };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return join(workflowId);
  }
}

async function isOpen(client: Client, workflowId: string): Promise<boolean> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * Starts the runs of one route. A list-valued parameter (autoflip's `maps: [fate, cox]`, from
 * classifyCheckMk) means one run per element, its singular the run's parameter (`map: fate`). Every
 * run's parameters are validated before the first one starts.
 */
export async function startRuns(client: Client, config: Config, runbook: string, rawParams: Record<string, unknown>, source: string, options: StartOptions = {}): Promise<StartOutcome[]> {
  const lists = Object.entries(rawParams).filter(([, v]) => Array.isArray(v)) as [string, unknown[]][];
  if (lists.length > 1) throw new BadRequest(`${runbook}: at most one list-valued parameter (got ${lists.map(([k]) => k).join(', ')})`);
  let sets: Record<string, unknown>[] = [rawParams];
  if (lists.length === 1) {
    const [key, values] = lists[0];
    const one = key.replace(/s$/, '');
    if (values.length === 0 || values.length > 100 || one === key || one in rawParams) throw new BadRequest(`${runbook}: ${key} must be a list of 1-100 values, given instead of ${one}`);
    const rest = Object.fromEntries(Object.entries(rawParams).filter(([k]) => k !== key));
    sets = [...new Set(values)].map((v) => ({ ...rest, [one]: v }));
  }
  sets.forEach((p) => validateParams(runbook, p));
  const out: StartOutcome[] = [];
  for (const p of sets) out.push(await startRun(client, config, runbook, p, source, undefined, options));
  return out;
}
