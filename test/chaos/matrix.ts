/**
 * The crash matrix of one runbook: an uncrashed reference case, then one case per crash point (inside
 * every command, after every command, inside every durable wait, inside the approval and the escalation
 * wait) for each kind of crash (the worker; the whole `npm start` tree with its Temporal server). Each
 * case must end like the reference: the same outcome, the same changing commands in the same order and
 * none twice, every command of the reference run, the same final state of the fleet; a wait keeps its
 * original deadline; a changing command that was running when its worker died has its outcome read from
 * the host's journal, not run again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recordFigures } from '../helpers/figures';
import { CaseResult, changes, CrashKind, digest, Lane, line, Point, pointName, pointsOf, runCase, Script, startOf } from './harness';

function countsOf(log: CaseResult['log']): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of log) m.set(line(e), (m.get(line(e)) ?? 0) + 1);
  return m;
}

/** Runs of changing commands beyond the reference's (a destructive command run twice). */
function extraChanging(ref: CaseResult, c: CaseResult): number {
  const want = countsOf(ref.log.filter(changes));
  let extra = 0;
  for (const [cmd, n] of countsOf(c.log.filter(changes))) extra += Math.max(0, n - (want.get(cmd) ?? 0));
  return extra;
}

/** How a crashed case must compare with the reference. */
function judge(script: Script, ref: CaseResult, c: CaseResult, p: Point, kind: CrashKind): void {
  assert.ok(c.crashedAt, `the crash point was never reached: ${pointName(p)}`);
  assert.equal(c.result.outcome, script.outcome, `outcome: ${c.result.summary}`);
  assert.deepEqual(c.log.filter(changes).map(line), ref.log.filter(changes).map(line), 'the changing commands, in order, each as often as in the reference run');
  const have = countsOf(c.log);
  for (const [cmd, n] of countsOf(ref.log)) assert.ok((have.get(cmd) ?? 0) >= n, `no step skipped: ${cmd} ran ${have.get(cmd) ?? 0} times, ${n} in the reference`);
  assert.deepEqual(digest(c.state), digest(ref.state), 'the fleet ends in the same state');
  if (p.kind === 'wait') {
    const t = c.timers[p.index];
    assert.ok(t?.firedAt, `wait ${p.index + 1} fired`);
    const deadline = t.startedAt + t.ms;
    // The deadline is the one set when the wait began. A server that was down at that moment fires it as soon as it is back.
    const serverBack = kind === 'tree' && c.backAt && c.backAt > deadline ? c.backAt : deadline;
    assert.ok(t.firedAt >= deadline - 50, `wait ${t.name} fired ${t.firedAt - deadline} ms before its deadline`);
    assert.ok(t.firedAt <= serverBack + 2000, `wait ${t.name} fired ${t.firedAt - deadline} ms after its original deadline (the crash was ${(c.crashedAt ?? 0) - t.startedAt} ms into it)`);
    const next = c.log.filter((e) => startOf(e) > t.startedAt).sort((a, b) => startOf(a) - startOf(b))[0];
    if (next) assert.ok(startOf(next) >= (t.firedAt ?? 0) - 100, `the command after the wait (${line(next)}) started before the wait ended`);
  }
  if (p.kind === 'command' && changes(p.entry)) {
    // The worker died while this command ran on the host: the next attempt read its outcome from the journal.
    const rec = c.steps.find((s) => s.kind === 'command' && s.host === p.entry.node && s.recovered !== undefined);
    assert.ok(rec, `the step of ${line(p.entry)} records that its result came from the host's journal`);
    assert.match(rec.recovered ?? '', /journal/);
  }
}

const KIND_TEXT = { worker: 'SIGKILL of the worker process, then a new one', tree: 'SIGKILL of the whole service tree with its Temporal server, then npm start again on the same SQLite file' };

export function crashMatrix(script: Script, kind: CrashKind): void {
  test(`${script.runbook}: crash matrix, ${KIND_TEXT[kind]}`, { timeout: 45 * 60_000 }, async (t) => {
    const figures: Record<string, number> = {};
    {
      const lane = new Lane(kind, script);
      await lane.up();
      try {
        const ref = await runCase(lane);
        assert.equal(ref.result.outcome, script.outcome, `reference run: ${ref.result.summary}`);
        assert.ok(ref.decided.approval > 0 && ref.decided.escalation > 0, `the reference run has an approval and an escalation wait: ${JSON.stringify(ref.decided)}`);
        const points = pointsOf(ref);
        let passed = 0;
        let twice = 0;
        const started = Date.now();
        for (const p of points) {
          await t.test(`${kind}: ${pointName(p)}`, async () => {
            const c = await runCase(lane, p);
            twice += extraChanging(ref, c);
            judge(script, ref, c, p, kind);
            passed++;
          });
        }
        figures[`${script.runbook} ${kind} cases`] = points.length;
        figures[`${script.runbook} ${kind} passed`] = passed;
        figures[`${script.runbook} ${kind} changing commands run twice`] = twice;
        figures[`${script.runbook} ${kind} seconds`] = Math.round((Date.now() - started) / 1000);
        figures[`${script.runbook} commands`] = ref.log.length;
        figures[`${script.runbook} waits`] = ref.timers.length;
      } finally {
        await lane.down();
      }
    }
    recordFigures(`chaos-${script.runbook}-${kind}`, figures);
  });
}
