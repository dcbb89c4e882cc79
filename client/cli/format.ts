/** What the CLI prints for a result: the human form, or with --json the data as JSON on stdout. */
import type { RunState } from '../../workflows/definitions';
import type { RunDescription } from '../history';

export function print(json: boolean | undefined, human: string, data: unknown): void {
  console.log(json ? JSON.stringify(data, null, 2) : human);
}

export function formatState(s: RunState): string {
  const lines = [`${s.runbook} ${s.target}${s.dryRun ? ' [dry run]' : ''}: ${s.status}${s.outcome ? ` (${s.outcome})` : ''}${s.currentStep ? `, at "${s.currentStep}"` : ''}`];
  if (s.nextTimerAt) lines.push(`  next timer fires at ${s.nextTimerAt} (in ${clock((Date.parse(s.nextTimerAt) - Date.now()) / 1000)})`);
  if (s.pending) lines.push(`  pending ${s.pending.kind}: ${s.pending.step}: ${s.pending.reason}${s.pending.choices ? ` [choices: ${s.pending.choices.join(', ')}]` : ''}`);
  if (s.seenAgain.count) lines.push(`  seen again ${s.seenAgain.count} time(s), last ${s.seenAgain.last}`);
  for (const st of s.steps) {
    const where = st.host ? ` @${st.host}` : '';
    const what = st.command ? `  $ ${st.command}` : st.until ? `  until ${st.until}` : '';
    const who = st.by ? ` by ${st.by}` : '';
    lines.push(`  ${String(st.n).padStart(2)}. ${st.startedAt}  ${st.name}${where}  -> ${st.verdict ?? 'running'}${who}${st.reason ? ` (${st.reason})` : ''}${what}`);
  }
  if (s.summary) lines.push(`  ${s.summary}`);
  return lines.join('\n');
}

/** Seconds as 1h02m03s / 4m05s / 7s. */
export function clock(totalSeconds: number): string {
  const t = Math.max(0, Math.round(totalSeconds));
  const [h, m, sec] = [Math.floor(t / 3600), Math.floor((t % 3600) / 60), t % 60];
  return h ? `${h}h${String(m).padStart(2, '0')}m${String(sec).padStart(2, '0')}s` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function formatDescription(d: RunDescription): string {
  const head = `${d.workflowId} (${d.workflowType}, run ${d.runId}): ${d.temporalStatus.toLowerCase()}, started ${d.startTime}${d.closeTime ? `, closed ${d.closeTime}` : ''}`;
  return [head, d.state ? formatState(d.state) : `  ${d.note ?? 'no state'}`].join('\n');
}
