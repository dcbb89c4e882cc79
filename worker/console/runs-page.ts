/**
 * The runs list: a filter by status and runbook, then the runs, those waiting for an approval first, then
 * the escalated ones, then the rest newest first.
 */
import { RUN_STATUSES, RunSummary } from '../../client/history';
import { RUNBOOK_NAMES } from '../../workflows/definitions';
import { Html, html } from './html';
import { LivePart, livePart } from './layout';

export interface RunsFilter {
  status?: string;
  runbook?: string;
}

const RANK: Record<string, number> = { 'awaiting-approval': 0, escalated: 1 };

/** Waiting for an approval first, then escalated, then the rest; newest first within each. */
export function ordered(runs: RunSummary[]): RunSummary[] {
  return [...runs].sort((a, b) => (RANK[a.status] ?? 2) - (RANK[b.status] ?? 2) || b.startTime.localeCompare(a.startTime));
}

export const runHref = (workflowId: string): string => `/console/runs/${encodeURIComponent(workflowId)}`;

export function statusBadge(status: string): Html {
  return html`<span class="status s-${status}">${status}</span>`;
}

export function time(iso: string | undefined): Html {
  return iso ? html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>` : html``;
}

function option(value: string, label: string, selected: string | undefined): Html {
  return html`<option value="${value}"${selected === value ? html` selected` : ''}>${label}</option>`;
}

export function filterForm(f: RunsFilter): Html {
  return html`<form class="filter" method="get" action="/console/runs">
<p><label for="filter-status">Status</label>
<select id="filter-status" name="status">${option('', 'any', f.status ?? '')}${RUN_STATUSES.map((s) => option(s, s, f.status))}</select>
<label for="filter-runbook">Runbook</label>
<select id="filter-runbook" name="runbook">${option('', 'any', f.runbook ?? '')}${RUNBOOK_NAMES.map((r) => option(r, r, f.runbook))}</select>
<button type="submit">Filter</button></p>
</form>`;
}

export function runsPart(runs: RunSummary[]): LivePart {
  const list = ordered(runs);
  const waiting = list.filter((r) => RANK[r.status] !== undefined).length;
  return livePart(
    'runs',
    html`<p id="runs-summary">${list.length} run${list.length === 1 ? '' : 's'}${waiting ? html`, <strong>${waiting} waiting for a decision</strong>` : ''}.</p>
${
  list.length === 0
    ? html`<p>No runs match.</p>`
    : html`<table>
<caption class="visually-hidden">Runs</caption>
<thead><tr><th scope="col">Run</th><th scope="col">Runbook</th><th scope="col">Target</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Closed</th></tr></thead>
<tbody>
${list.map(
  (r) => html`<tr data-run="${r.workflowId}"><td><a href="${runHref(r.workflowId)}">${r.workflowId}</a></td><td>${r.runbook}</td><td>${r.target}</td><td>${statusBadge(r.status)}</td><td>${time(r.startTime)}</td><td>${time(r.closeTime)}</td></tr>
`,
)}</tbody>
</table>`
}`,
  );
}

export function runsMain(f: RunsFilter, part: LivePart): Html {
  return html`<h1>Runs</h1>
${filterForm(f)}
${part.html}`;
}
