/**
 * A decision taken by an authenticated operator (through the API or the console): a viewer may not decide;
 * the decision is taken as the caller (a `by` naming anybody else is refused and nothing is sent); it goes
 * to the run through the `decide` Update with the API's signature for the decision pending now
 * (worker/decision-keys.ts), so that the run knows who decided; the run may still refuse it (409: nothing
 * pending, not on the approver list, ...). Every decision and every refusal is one audit line, JSON on
 * stdout: operator, source address, time, run, pending step, action, outcome and reason; never a credential.
 */
import type { Client } from '@temporalio/client';
import { checkDecision, checkRunId, Conflict, pendingDecision, sendDecision } from '../client/history';
import { BadRequest } from '../client/runbooks';
import type { Decision, DecisionRecord } from '../workflows/definitions';
import type { DecisionKeys } from './decision-keys';
import { HttpError } from './http';
import type { Caller } from './identity';

export interface DecisionRequest {
  action: Decision['action'];
  /** Who the caller says decides: absent, or the caller's own name. */
  by?: string;
  choice?: string;
  comment?: string;
}

export interface AuditLine {
  audit: 'decision';
  at: string;
  operator: string;
  role: string;
  source: string;
  via: 'api' | 'console';
  run: string;
  /** The pending step the decision answered (or would have), when known. */
  step?: string;
  action: string;
  choice?: string;
  outcome: 'accepted' | 'refused' | 'failed';
  /** Why it was refused (or failed). */
  reason?: string;
}

/** Where audit lines go: one JSON line each on stdout (the API process's log). */
let auditSink: (line: string) => void = (line) => process.stdout.write(`${line}\n`);

export function audit(entry: Omit<AuditLine, 'audit' | 'at'>): void {
  auditSink(JSON.stringify({ audit: 'decision', at: new Date().toISOString(), ...entry }));
}

/** For embedding processes that log elsewhere; returns the previous sink. */
export function setAuditSink(sink: (line: string) => void): (line: string) => void {
  const before = auditSink;
  auditSink = sink;
  return before;
}

/** The pending step, when the run answers (for a refusal's audit line: best effort). */
async function pendingStep(client: Client, workflowId: string): Promise<string | undefined> {
  try {
    return (await pendingDecision(client, workflowId))?.step;
  } catch {
    return undefined;
  }
}

export async function decideAs(deps: { client: Client; keys: DecisionKeys }, caller: Caller, runId: string, req: DecisionRequest, via: 'api' | 'console'): Promise<DecisionRecord> {
  const workflowId = checkRunId(runId);
  const { name, role } = caller.operator;
  const line = { operator: name, role, source: caller.source, via, run: workflowId, action: String(req.action).slice(0, 40), ...(typeof req.choice === 'string' ? { choice: req.choice.slice(0, 256) } : {}) };
  const refuse = async (status: number, reason: string): Promise<never> => {
    audit({ ...line, step: await pendingStep(deps.client, workflowId), outcome: 'refused', reason });
    throw new HttpError(status, reason);
  };
  if (role !== 'operator') return refuse(403, `${name} is a viewer: viewers cannot decide`);
  if (req.by !== undefined && typeof req.by !== 'string') throw new BadRequest('"by" must be a string (your own operator name), or left out');
  if (req.by !== undefined && req.by !== name) return refuse(403, `"by" must be you: you are ${name}; a decision is taken only as the operator who sends it`);
  const decision = checkDecision({ action: req.action, by: name, ...(req.choice !== undefined ? { choice: req.choice } : {}), ...(req.comment !== undefined ? { comment: req.comment } : {}) });
  let step: string | undefined;
  const sign = deps.keys.signer(via, caller.source);
  try {
    const record = await sendDecision(deps.client, workflowId, decision, (d, id, pending) => {
      step = pending.step;
      return sign(d, id, pending);
    });
    audit({ ...line, step, outcome: record.accepted ? 'accepted' : 'refused', ...(record.refusal ? { reason: record.refusal } : {}) });
    return record;
  } catch (err) {
    const refused = err instanceof Conflict;
    audit({ ...line, step: step ?? (refused ? await pendingStep(deps.client, workflowId) : undefined), outcome: refused ? 'refused' : 'failed', reason: (err as Error).message.slice(0, 500) });
    throw err;
  }
}
