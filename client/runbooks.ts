/**
 * The runbook catalogue as the client side sees it: which workflow, which parameters (each checked
 * against its allow-list pattern before anything starts), the run's target, and how to start a run
 * so that a second trigger for an open run joins it instead of starting a parallel repair.
 */
import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Config } from '../config/schema';
import { check, INSTANCE, SERVICE } from '../parsers/patterns';
import { RunbookKey, RunbookName, RunSettings, RunStatusKey, seenAgainSignal, TargetKey } from '../workflows/definitions';

interface RunbookSpec {
  workflowType: string;
  params: Record<string, RegExp>;
  target(params: Record<string, string>): string;
}

export const RUNBOOKS: Record<RunbookName, RunbookSpec> = {
  'kust-replica': { workflowType: 'kustReplica', params: { service: SERVICE, instance: INSTANCE }, target: (p) => p.instance },
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

export function settingsFor(config: Config, runbook: RunbookName): RunSettings {
  return {
    controlNode: config.inventory.controlNode,
    paths: config.paths,
    timers: config.timers,
    policy: config.approvals[runbook] ?? {},
    approvers: config.api.approvers,
  };
}

export const workflowIdOf = (runbook: RunbookName, target: string) => `${runbook}/${target}`;

export interface StartOutcome {
  workflowId: string;
  /** false: a run for this target was already open; this trigger was recorded on it as "seen again". */
  started: boolean;
}

export async function startRun(client: Client, config: Config, runbook: string, rawParams: Record<string, unknown>, source: string): Promise<StartOutcome> {
  const params = validateParams(runbook, rawParams);
  const name = runbook as RunbookName;
  const spec = RUNBOOKS[name];
  const target = spec.target(params);
  const workflowId = workflowIdOf(name, target);
  try {
    await client.workflow.start(spec.workflowType, {
      workflowId,
      taskQueue: config.service.taskQueue,
      args: [{ ...params, settings: settingsFor(config, name) }],
      typedSearchAttributes: [
        { key: RunbookKey, value: name },
        { key: TargetKey, value: target },
        { key: RunStatusKey, value: 'running' },
      ],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      memo: { source },
    });
    return { workflowId, started: true };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    await client.workflow.getHandle(workflowId).signal(seenAgainSignal, { source, at: new Date().toISOString() });
    return { workflowId, started: false };
  }
}
