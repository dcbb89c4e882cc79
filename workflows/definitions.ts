/**
 * What the outside world (client, API, CLI, Web UI) can say to and ask of a run. Imported by both the
 * workflows and the client, so it holds only types and Temporal definitions.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { GaleraClusterConfig, Paths, Policy, Timers } from '../config/schema';
import { RUNBOOK_NAMES, type RunbookName } from '../config/names';

export { RUNBOOK_NAMES, type RunbookName };

export type RunStatus = 'running' | 'waiting' | 'awaiting-approval' | 'escalated' | 'completed' | 'failed' | 'aborted';

/** Non-secret settings, copied from the configuration into each run's input when it starts. */
export interface RunSettings {
  controlNode: string;
  paths: Paths;
  timers: Timers;
  /** Approval policy of this runbook's steps (step key -> auto | approve). */
  policy: Record<string, Policy>;
  /** Who may decide; empty = anyone with the operator token. */
  approvers: string[];
  /** The controller pair (config `ctlr.nodes`, inventory names); used by ctlr-replica and ctlr-roles. */
  ctlrNodes?: string[];
  /** Galera clusters (config `manticore.clusters`); used by manticore-cluster. */
  galeraClusters?: Record<string, GaleraClusterConfig>;
  /** When the alert resolves before a step that changes something: finish as resolved-before-repair, or carry on. */
  onResolvedBeforeRepair?: 'finish' | 'continue';
  /** Start option: run only the read-only steps; stop (outcome `dry-run`) at the first step that changes something. */
  dryRun?: boolean;
  /** How soon a worker lost mid-command is noticed (config ssh.heartbeatTimeout; default 30s). */
  heartbeatTimeout?: string;
  /** Child runs' workflow task timeout (config service.workflowTaskTimeout). */
  workflowTaskTimeout?: string;
  /** Start option (startRun): the last run of this workflow ID repaired the target at this time (flapping guard). */
  recentRepairAt?: string;
  /**
   * Operator identity (issue 15). When present, a decision is accepted only with a valid `proof` signed by
   * one of `publicKeys` (the API's decision keys), unless `direct` is 'allow'; an unverified decision is
   * recorded as refused ("identity not verified"). Absent in runs started before identity existed: those
   * keep their old behaviour (their histories replay unchanged).
   */
  identity?: DecisionIdentity;
  /** Approvers of single approval gates (gate key -> operator names); a gate named here uses this list instead of `approvers`. */
  stepApprovers?: Record<string, string[]>;
}

export interface DecisionIdentity {
  /** Base64 of the raw 32-byte Ed25519 public keys whose signatures the run accepts. */
  publicKeys: string[];
  /** Decisions without a valid proof (Temporal Web UI, `temporal workflow signal`): refused (default) or allowed. */
  direct: 'refuse' | 'allow';
}

export interface StepRecord {
  n: number;
  name: string;
  kind: 'command' | 'wait' | 'approval' | 'escalation' | 'note';
  host?: string;
  command?: string;
  startedAt: string;
  endedAt?: string;
  /** For waits: when the timer fires. */
  until?: string;
  exitCode?: number | null;
  output?: string;
  verdict?: 'ok' | 'failed' | 'error' | 'approved' | 'rejected' | 'retry' | 'resolved' | 'abort' | 'done' | 'would-run';
  reason?: string;
  /** A changing command whose result came from the host's journal (after a lost worker or a dropped connection): how. */
  recovered?: string;
  by?: string;
  comment?: string;
}

export interface Pending {
  kind: 'escalation' | 'approval';
  step: string;
  reason: string;
  evidence: string;
  since: string;
  /** For approvals: what the operator may choose (e.g. which node to keep), and the run's proposal. */
  choices?: string[];
  proposal?: string;
}

export type EscalationAction = 'retry' | 'resolved' | 'abort';
export type ApprovalAction = 'approve' | 'reject';

export interface Decision {
  action: EscalationAction | ApprovalAction;
  /** The operator's name. */
  by: string;
  /** For approvals with choices: the chosen value. */
  choice?: string;
  comment?: string;
  /** The API's signature binding this decision to an authenticated operator and to one pending decision. */
  proof?: DecisionProof;
}

/** What the API signs (Ed25519, its decision key) when an authenticated operator decides. */
export interface DecisionProof {
  workflowId: string;
  /** The pending decision this answers (`Pending.since`): a proof cannot be replayed at a later gate. */
  pendingSince: string;
  /** Through what the operator decided. */
  via: 'api' | 'console';
  /** The operator's address as the API saw it (the proxy's client address when the proxy is trusted). */
  source: string;
  /** When the API signed it (ISO 8601). */
  at: string;
  /** Base64 Ed25519 signature of decisionPayload(decision, proof). */
  signature: string;
}

/** The exact bytes (UTF-8 of this string) the API signs and the run verifies. */
export function decisionPayload(d: Pick<Decision, 'action' | 'by' | 'choice' | 'comment'>, p: Omit<DecisionProof, 'signature'>): string {
  return JSON.stringify(['medic-decision/1', p.workflowId, p.pendingSince, d.action, d.by, d.choice ?? null, d.comment ?? null, p.via, p.source, p.at]);
}

export interface DecisionRecord extends Omit<Decision, 'proof'> {
  at: string;
  accepted: boolean;
  refusal?: string;
  /** Audit (runs with `identity`): the pending step, whether the identity was verified, through what and from where. */
  step?: string;
  verified?: boolean;
  via?: 'api' | 'console' | 'direct';
  source?: string;
}

export interface RunState {
  runbook: string;
  target: string;
  status: RunStatus;
  currentStep?: string;
  /** When the next durable timer fires (a wait, or the next reminder of a pending decision). */
  nextTimerAt?: string;
  /** A dry run: read-only steps only. */
  dryRun?: boolean;
  pending?: Pending;
  steps: StepRecord[];
  decisions: DecisionRecord[];
  seenAgain: { count: number; last?: string };
  /** The alert that started the run was resolved (recorded once). */
  alertResolved?: { at: string; source: string };
  outcome?: string;
  summary?: string;
}

export interface RunResult {
  status: 'completed' | 'aborted';
  /** repaired | nothing-to-do | resolved-by-operator | aborted-by-operator | rejected | resolved-before-repair | dry-run */
  outcome: string;
  summary: string;
  state: RunState;
}

export const stateQuery = defineQuery<RunState>('state');
/** Decisions as an Update: validated first, so a refused decision is an error to the caller and changes nothing. */
export const decideUpdate = defineUpdate<DecisionRecord, [Decision]>('decide');
/** The same decisions as a Signal (what the Web UI and `temporal workflow signal` send); refusals are recorded. */
export const decideSignal = defineSignal<[Decision]>('decision');
/** Another alert for the same target arrived while this run is open. */
export const seenAgainSignal = defineSignal<[{ source: string; at: string }]>('seenAgain');
/** The monitoring says the problem is gone (Alertmanager `resolved`, check_mk state 0). */
export const alertResolvedSignal = defineSignal<[{ source: string; at: string }]>('alertResolved');

/** Search attributes kept up to date by every run, so runs can be listed and filtered. */
export const RunbookKey = defineSearchAttributeKey('Runbook', SearchAttributeType.KEYWORD);
export const TargetKey = defineSearchAttributeKey('Target', SearchAttributeType.KEYWORD);
export const RunStatusKey = defineSearchAttributeKey('RunStatus', SearchAttributeType.KEYWORD);
export const SEARCH_ATTRIBUTES = { Runbook: 'Keyword', Target: 'Keyword', RunStatus: 'Keyword' } as const;
