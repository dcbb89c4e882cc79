/**
 * Activities are thin: run one command on one inventory host over SSH and return what happened, or
 * post one notification. Which commands run, and what their output means, is the workflows' business.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../config/schema';
import type { RemoteCommand } from './command-line';
import { ExecResult, SshError, SshPool } from './ssh';

export type { ExecResult } from './ssh';
export type { RemoteCommand } from './command-line';

export interface RunCommandRequest extends RemoteCommand {
  /** An inventory host name; never an address printed by a tool. */
  host: string;
  timeoutSeconds?: number;
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

export function createActivities(config: Pick<Config, 'inventory' | 'ssh' | 'notifications' | 'service'>, pool = new SshPool(config)): Activities {
  return {
    async runCommand(req) {
      const ctx = Context.current();
      try {
        return await pool.exec(
          req.host,
          { argv: req.argv, stdin: req.stdin },
          {
            signal: ctx.cancellationSignal,
            onProgress: () => ctx.heartbeat(),
            heartbeatMs: 5000,
            timeoutMs: req.timeoutSeconds !== undefined ? req.timeoutSeconds * 1000 : undefined,
          },
        );
      } catch (err) {
        if (err instanceof SshError) {
          // A wrong host key, a host missing from the inventory or an unsafe argument will not fix
          // itself: fail at once. A connection problem may, for the commands allowed to retry.
          const nonRetryable = err.kind !== 'connect';
          throw ApplicationFailure.create({ message: err.message, type: `Ssh:${err.kind}`, nonRetryable });
        }
        throw err;
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
        link: `${config.service.webUiUrl}/namespaces/${encodeURIComponent(config.service.namespace)}/workflows/${encodeURIComponent(n.runId)}`,
      };
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      // Not delivered: throw, and Temporal retries with backoff (the workflow's retry policy).
      if (!res.ok) throw new Error(`notification endpoint answered ${res.status}`);
      return { delivered: true };
    },
  };
}
