/**
 * A run's page: its state (status, step, outcome, the next timer with a live countdown), the pending
 * decision (reason, evidence, proposal, choices) with the controls an operator may use (approve with a
 * choice / reject with a reason; retry / resolved / abort), the timeline rebuilt from the history (commands
 * with host, command line, exit code and output excerpt; waits; notifications; decisions with who, when and
 * the refusals), and the run's own record of decisions (the audit: who, when, from where, accepted or why not).
 * Viewers get the same page without the controls.
 */
import type { RunDescription, RunHistory, TimelineEntry } from '../../client/history';
import type { DecisionRecord, Pending, RunState } from '../../workflows/definitions';
import { CSRF_FIELD } from './csrf';
import { Html, html } from './html';
import { LivePart, livePart } from './layout';
import { runHref, statusBadge, time } from './runs-page';
import type { Session } from './sessions';

export const DECISION_ACTIONS = ['approve', 'reject', 'retry', 'resolved', 'abort'] as const;
export type DecisionAction = (typeof DECISION_ACTIONS)[number];

/** A live countdown to `iso` (console.js counts it down; without the script the time itself shows). */
export function countdown(iso: string): Html {
  return html`<time class="countdown" datetime="${iso}" data-countdown="${iso}">${iso}</time>`;
}

const seconds = (from: string, to?: string): string => (to ? `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s` : '');

function headPart(d: RunDescription, h: RunHistory): LivePart {
  const s = d.state;
  return livePart(
    'run-head',
    html`<dl class="facts">
<dt>Status</dt><dd id="run-status">${statusBadge(d.status)}${s?.dryRun ? html` <span class="tag">dry run</span>` : ''}</dd>
<dt>Runbook</dt><dd>${s?.runbook ?? d.workflowType} (${d.workflowType})</dd>
${s ? html`<dt>Target</dt><dd>${s.target}</dd>` : ''}
<dt>Started</dt><dd>${time(d.startTime)}</dd>
${d.closeTime ? html`<dt>Closed</dt><dd>${time(d.closeTime)}</dd>` : ''}
${s?.currentStep && !d.closeTime ? html`<dt>Current step</dt><dd id="current-step">${s.currentStep}</dd>` : ''}
${s?.nextTimerAt && !d.closeTime ? html`<dt>Next timer</dt><dd id="next-timer">${countdown(s.nextTimerAt)}</dd>` : ''}
${s?.outcome || h.outcome ? html`<dt>Outcome</dt><dd id="run-outcome">${s?.outcome ?? h.outcome}</dd>` : ''}
${s?.summary || h.summary ? html`<dt>Summary</dt><dd id="run-summary">${s?.summary ?? h.summary}</dd>` : ''}
${s?.seenAgain.count ? html`<dt>Alert seen again</dt><dd>${s.seenAgain.count} times, last ${time(s.seenAgain.last)}</dd>` : ''}
${s?.alertResolved ? html`<dt>Alert resolved</dt><dd>${time(s.alertResolved.at)} (${s.alertResolved.source})</dd>` : ''}
</dl>
${d.note ? html`<p class="note">${d.note}</p>` : ''}`,
  );
}

function hidden(session: Session, p: Pending): Html {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${session.csrf}"><input type="hidden" name="since" value="${p.since}">`;
}

function approvalControls(action: string, session: Session, p: Pending): Html {
  const choices = p.choices ?? [];
  return html`<form class="decide" id="approve-form" method="post" action="${action}">
${hidden(session, p)}<input type="hidden" name="action" value="approve">
${
  choices.length
    ? html`<p><label for="choice">Your choice</label>
<select id="choice" name="choice" required>${p.proposal ? '' : html`<option value="">(choose)</option>`}${choices.map((c) => html`<option value="${c}"${c === p.proposal ? html` selected` : ''}>${c}${c === p.proposal ? ' (proposed)' : ''}</option>`)}</select></p>`
    : ''
}
<p><label for="approve-comment">Comment (optional)</label>
<input id="approve-comment" name="comment" maxlength="2000"></p>
<p><button type="submit" id="approve">Approve</button></p>
</form>
<form class="decide" id="reject-form" method="post" action="${action}">
${hidden(session, p)}<input type="hidden" name="action" value="reject">
<p><label for="reject-reason">Reason for rejecting (required)</label>
<input id="reject-reason" name="comment" required maxlength="2000"></p>
<p><button type="submit" id="reject">Reject</button></p>
</form>`;
}

function escalationControls(action: string, session: Session, p: Pending): Html {
  return html`<form class="decide" id="escalation-form" method="post" action="${action}">
${hidden(session, p)}
<p><label for="decide-comment">Comment (optional)</label>
<input id="decide-comment" name="comment" maxlength="2000"></p>
<p class="buttons"><button type="submit" name="action" value="retry" id="retry">Retry the step</button>
<button type="submit" name="action" value="resolved" id="resolved">Resolved (fixed by hand): close the run</button>
<button type="submit" name="action" value="abort" id="abort">Abort the run</button></p>
</form>`;
}

function pendingPart(d: RunDescription, session: Session): LivePart {
  const p = d.state?.pending;
  const open = d.temporalStatus === 'RUNNING';
  if (!p || !open) return livePart('run-pending', html`<h2>Pending decision</h2><p id="no-pending">${open ? 'No decision is pending.' : 'The run is closed: nothing to decide.'}</p>`);
  const action = `${runHref(d.workflowId)}/decide`;
  const controls =
    session.operator.role === 'operator'
      ? p.kind === 'approval'
        ? approvalControls(action, session, p)
        : escalationControls(action, session, p)
      : html`<p id="viewer-note" class="note">You are signed in as a viewer: you see this decision but cannot take it.</p>`;
  return livePart(
    'run-pending',
    html`<h2>${p.kind === 'approval' ? 'Waiting for approval' : 'Escalated: an operator must decide'}</h2>
<dl class="facts">
<dt>Step</dt><dd id="pending-step">${p.step}</dd>
<dt>Why</dt><dd id="pending-reason">${p.reason}</dd>
<dt>Since</dt><dd>${time(p.since)}</dd>
${p.proposal ? html`<dt>Proposal</dt><dd id="proposal">${p.proposal}</dd>` : ''}
${p.choices?.length ? html`<dt>Choices</dt><dd id="choices">${p.choices.join(', ')}</dd>` : ''}
</dl>
<h3>Evidence</h3>
${p.evidence ? html`<pre id="evidence" tabindex="0">${p.evidence}</pre>` : html`<p id="evidence" class="note">None recorded at this step beyond the reason above; the timeline below has every command and its output.</p>`}
${controls}`,
  );
}

function commandEntry(e: TimelineEntry): Html {
  const result =
    e.exitCode !== undefined
      ? html`<span class="exit ${e.exitCode === 0 ? 'ok' : 'bad'}">exit ${e.exitCode ?? 'none'}</span>${e.timedOut ? ' (timed out)' : ''}${e.disconnected ? ' (disconnected)' : ''}`
      : e.error
        ? html`<span class="exit bad">error: ${e.error}</span>`
        : html`<span class="exit">running</span>`;
  return html`<strong>${e.name ?? 'command'}</strong> on <span class="host">${e.host ?? '?'}</span>: ${result}${e.endedAt ? html` <span class="dur">(${seconds(e.at, e.endedAt)}${e.attempts && e.attempts > 1 ? `, attempt ${e.attempts}` : ''})</span>` : ''}
<div><code class="cmd">$ ${e.command ?? (e.argv ?? []).join(' ')}${e.stdin ? ' <stdin' : ''}</code></div>
${e.output ? html`<details><summary>Output</summary><pre>${e.output}</pre></details>` : ''}`;
}

function decisionText(e: { action?: string; by?: string; choice?: string; comment?: string }): Html {
  return html`<strong>${e.action}</strong> by <span class="by">${e.by}</span>${e.choice ? html`, choice <strong>${e.choice}</strong>` : ''}${e.comment ? html`: <q>${e.comment}</q>` : ''}`;
}

function entryBody(e: TimelineEntry): Html {
  switch (e.kind) {
    case 'started': {
      const input = Object.entries(e.input ?? {}).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
      return html`<strong>started</strong> ${e.name}${e.source ? ` from ${e.source}` : ''}${input.length ? html`: <code>${input.join(' ')}</code>` : ''}`;
    }
    case 'command':
      return commandEntry(e);
    case 'timer':
      return html`<strong>wait</strong>${e.name ? html` (${e.name})` : ''}: ${Math.round((e.durationMs ?? 0) / 1000)} s, ${
        e.timer === 'pending' && e.firesAt ? html`ends ${countdown(e.firesAt)}` : e.timer === 'fired' ? 'done' : `cancelled${e.endedAt ? ` at ${e.endedAt}` : ''}`
      }`;
    case 'decision':
      return html`<strong>decision</strong> (${e.via}): ${decisionText(e.decision ?? {})}${e.accepted === true ? html` <span class="ok">accepted</span>` : e.accepted === false ? html` <span class="bad">refused: ${e.refusal}</span>` : ''}`;
    case 'notification':
      return html`<strong>notification</strong> (${e.notification?.kind}): ${e.notification?.text} ${e.endedAt ? (e.notification?.delivered === false ? '(not configured: logged)' : '(delivered)') : e.error ? `(failed: ${e.error})` : '(sending)'}`;
    case 'signal':
      return html`<strong>signal</strong> ${e.signal}`;
    case 'status':
      return html`status: ${statusBadge(e.status ?? '')}`;
    case 'closed':
      return html`<strong>closed</strong>: ${e.status}${e.outcome ? ` (${e.outcome})` : ''}${e.summary ? html`: ${e.summary}` : ''}`;
  }
}

function timelinePart(h: RunHistory): LivePart {
  return livePart(
    'run-timeline',
    html`<h2>Timeline</h2>
<ol class="timeline">
${h.entries.map((e) => html`<li class="entry k-${e.kind}" data-kind="${e.kind}">${time(e.at)} ${entryBody(e)}</li>\n`)}</ol>`,
  );
}

function auditRow(r: DecisionRecord): Html {
  return html`<tr class="${r.accepted ? 'accepted' : 'refused'}"><td>${time(r.at)}</td><td class="by">${r.by}</td><td>${r.action}${r.choice ? html` (${r.choice})` : ''}</td><td>${r.comment}</td><td>${r.step}</td><td>${r.accepted ? 'accepted' : html`<strong>refused</strong>: ${r.refusal}`}</td><td>${r.via}${r.verified === false ? ' (not verified)' : ''}</td><td>${r.source}</td></tr>
`;
}

function decisionsPart(s: RunState | undefined): LivePart {
  const all = s?.decisions ?? [];
  return livePart(
    'run-decisions',
    html`<h2>Decisions</h2>
${
  all.length === 0
    ? html`<p>No decisions yet.</p>`
    : html`<table>
<thead><tr><th scope="col">When</th><th scope="col">Operator</th><th scope="col">Decision</th><th scope="col">Comment</th><th scope="col">Step</th><th scope="col">Result</th><th scope="col">Via</th><th scope="col">From</th></tr></thead>
<tbody>
${all.map(auditRow)}</tbody>
</table>`
}`,
  );
}

/** The page's parts, in order; the page and its JSON form (for the script) are both made from these. */
export function runParts(d: RunDescription, h: RunHistory, session: Session): LivePart[] {
  return [headPart(d, h), pendingPart(d, session), decisionsPart(d.state), timelinePart(h)];
}

export function runMain(d: RunDescription, parts: LivePart[]): Html {
  return html`<p class="crumbs"><a href="/console/runs">Runs</a></p>
<h1 id="run-id">${d.workflowId}</h1>
${parts.map((p) => p.html)}`;
}
