/**
 * Activities are thin: run one command on one inventory host over SSH and return what happened, or
 * post one notification. Which commands run, and what their output means, is the workflows' business.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { type Config, runPageUrl } from '../config/schema';
import { SERVICE } from '../parsers/patterns';
import { RunbookKey, TargetKey } from '../workflows/definitions';
import type { RemoteCommand } from './command-line';
import { ExecResult, SshError, SshPool } from './ssh';

export type { ExecResult } from './ssh';
export type { RemoteCommand } from './command-line';

export interface RunCommandRequest extends RemoteCommand {
  /** An inventory host name; never an address printed by a tool. */
  host: string;
  timeoutSeconds?: number;
  /**
   * For a command that changes something: its journal key on the host (activities/journal.ts), made by
   * the workflow from the run and the step, so every attempt of the same step has the same key and the
   * host itself refuses a second start.
   */
  journal?: string;
}

export interface Notification {
  kind: 'escalation' | 'approval' | 'reminder' | 'resolved';
  text: string;
  runId: string;
  runbook: string;
  target: string;
  step?: string;
  reason?: string;
  evidence?: string;
}

export interface Activities {
  runCommand(req: RunCommandRequest): Promise<ExecResult>;
  notify(n: Notification): Promise<{ delivered: boolean }>;
}

/** Another run of this service, as a runbook sees it. */
export interface RunRef {
  workflowId: string;
  runId: string;
  runbook: string;
  target: string;
}

export interface RunOutcome {
  /** Temporal's execution status (RUNNING, COMPLETED, FAILED, TERMINATED, ...), or NOT_FOUND. */
  status: string;
  /** A COMPLETED run's own result. */
  result?: { status: string; outcome: string; summary: string };
}

/** Activities that look at other runs (they need a Temporal client, not SSH). */
export interface RunActivities {
  /**
   * Open kust-replica / tarantool-replica runs whose target is an instance of `service` (`<service>-<N>`):
   * the visibility store's list, plus a direct look (strongly consistent) at the run IDs of the `instances`
   * given, so that a run started a moment ago, not yet in the (eventually consistent) list, is not missed.
   */
  openReplicationRuns(service: string, instances?: string[]): Promise<RunRef[]>;
  /** Whether that run is still open, and how it ended. */
  runOutcome(ref: Pick<RunRef, 'workflowId' | 'runId'>): Promise<RunOutcome>;
}

export const REPLICATION_RUNBOOKS = ['kust-replica', 'tarantool-replica'] as const;

/** The run activities over a Temporal client; without one they fail (non-retryable) and the runbook escalates. */
export function createRunActivities(client?: Client): RunActivities {
  const need = (): Client => {
    if (!client) throw ApplicationFailure.create({ message: 'no Temporal client was given to the activities', type: 'NoClient', nonRetryable: true });
    return client;
  };
  return {
    async openReplicationRuns(service, instances = []) {
      const c = need();
      if (!SERVICE.test(service)) throw ApplicationFailure.create({ message: `service ${JSON.stringify(service).slice(0, 80)} rejected`, type: 'InvalidInput', nonRetryable: true });
      const instanceOf = new RegExp(`^${service}-[0-9]{1,4}$`);
      const query = `ExecutionStatus = 'Running' AND Runbook IN (${REPLICATION_RUNBOOKS.map((r) => `'${r}'`).join(', ')})`;
      const runs = new Map<string, RunRef>();
      for await (const wf of c.workflow.list({ query })) {
        const runbook = wf.typedSearchAttributes.get(RunbookKey);
        const target = wf.typedSearchAttributes.get(TargetKey);
        if (runbook && target && instanceOf.test(target)) runs.set(wf.workflowId, { workflowId: wf.workflowId, runId: wf.runId, runbook, target });
      }
      // The run IDs are `<runbook>/<instance>`: describe them directly (the list may lag a fresh start).
      for (const target of new Set(instances.filter((i) => instanceOf.test(i)))) {
        for (const runbook of REPLICATION_RUNBOOKS) {
          const workflowId = `${runbook}/${target}`;
          if (runs.has(workflowId)) continue;
          try {
            const d = await c.workflow.getHandle(workflowId).describe();
            if (d.status.name === 'RUNNING') runs.set(workflowId, { workflowId, runId: d.runId, runbook, target });
          } catch (err) {
            if (!(err instanceof WorkflowNotFoundError)) throw err;
          }
        }
      }
      return [...runs.values()].sort((a, b) => a.workflowId.localeCompare(b.workflowId));
    },

    async runOutcome({ workflowId, runId }) {
      const c = need();
      try {
        const status = (await c.workflow.getHandle(workflowId, runId).describe()).status.name;
        if (status !== 'COMPLETED') return { status };
        const r = (await c.workflow.result(workflowId, runId, { followRuns: false })) as Partial<NonNullable<RunOutcome['result']>> | undefined;
        return { status, result: { status: String(r?.status ?? ''), outcome: String(r?.outcome ?? ''), summary: String(r?.summary ?? '') } };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { status: 'NOT_FOUND' };
        throw err;
      }
    },
  };
}

export function createActivities(
  config: Pick<Config, 'inventory' | 'ssh' | 'notifications' | 'service' | 'api'>,
  pool = new SshPool(config),
  deps: { client?: Client } = {},
): Activities & RunActivities {
  return {
    ...createRunActivities(deps.client),
    async runCommand(req) {
      const ctx = Context.current();
      // Heartbeats tell Temporal this worker is alive; a lost worker is noticed by their absence.
      const beat = setInterval(() => ctx.heartbeat(), Math.max(200, Math.min(5000, (ctx.info.heartbeatTimeoutMs ?? 15_000) / 3)));
      try {
        const r = await pool.exec(
          req.host,
          { argv: req.argv, stdin: req.stdin },
          {
            signal: ctx.cancellationSignal,
            timeoutMs: req.timeoutSeconds !== undefined ? req.timeoutSeconds * 1000 : undefined,
            journal: req.journal,
          },
        );
        // A read-only command cut off by a dropped connection is simply asked again (the workflow's retry policy).
        if (r.disconnected && !req.journal) throw ApplicationFailure.create({ message: `the connection to ${req.host} dropped before the command reported an exit status`, type: 'Ssh:disconnected' });
        return r;
      } catch (err) {
        if (err instanceof SshError) {
          // A refused key (auth), a wrong host key, a host missing from the inventory or an unsafe
          // argument will not fix itself: fail at once. A connection problem may (a changing command's
          // journal key makes the retry safe). An unknown outcome or a command not started is the
          // workflow's to decide.
          const nonRetryable = err.kind !== 'connect';
          throw ApplicationFailure.create({ message: err.message, type: `Ssh:${err.kind}`, nonRetryable });
        }
        throw err;
      } finally {
        clearInterval(beat);
      }
    },

    async notify(n) {
      const url = config.notifications.url;
      if (!url) {
        Context.current().log.warn('no notifications.url configured; notification only logged', { kind: n.kind, runId: n.runId });
        return { delivered: false };
      }
      const body = {
        text: n.text,
        kind: n.kind,
        runId: n.runId,
        runbook: n.runbook,
        target: n.target,
        step: n.step,
        reason: n.reason,
        evidence: n.evidence?.slice(0, 4000),
        link: runPageUrl(config, n.runId),
        temporalLink: `${config.service.webUiUrl}/namespaces/${encodeURIComponent(config.service.namespace)}/workflows/${encodeURIComponent(n.runId)}`,
      };
      // Heartbeats carry the run's cancellation (the decision was taken: the notification is obsolete) and
      // tell Temporal quickly when this worker is lost.
      const ctx = Context.current();
      ctx.heartbeat();
      const beat = setInterval(() => ctx.heartbeat(), 1000);
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.any([AbortSignal.timeout(10_000), ctx.cancellationSignal]),
        });
        // Not delivered: throw, and Temporal retries with backoff (the workflow's retry policy).
        if (!res.ok) throw new Error(`notification endpoint answered ${res.status}`);
        return { delivered: true };
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        throw err;
      } finally {
        clearInterval(beat);
      }
    },
  };
}
