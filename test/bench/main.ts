/**
 * `npm run bench [-- --quick]`: the performance figures of issue 11, measured side by side in one run
 * on this machine, printed as a table and written to BENCHMARKS.md (medians, p99, ratios against floors
 * measured in the same run, the machine and the commit). Not part of `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../../worker/binaries';
import { benchEnv, BenchEnvOptions, CLI_SERVER_SETTINGS, timers } from './harness';
import { benchLatency, LatencyFigures } from './latency';
import { benchOverhead, RunbookOverhead } from './overhead';
import { benchScale, ScaleFigures } from './scale';
import { benchIntake, IntakeFigures } from './intake';
import { benchStart, StartFigures } from './start';
import { benchTimeSkipping, renderTimeSkipping, TimeSkipFigures } from './timeskip';
import { ansibleRun, PeerRun, replicaSequences, shellRun } from './peers';
import { labUp } from '../../lab/lab';
import { resetBench } from '../../lab/bench-tools';
import { clusterSection } from './cluster';

interface PeerFigure {
  peer: string;
  runbook: string;
  steps: number;
  wallMs: number;
  perStepMs: number;
}

/** (wall - the commands' own time) / steps, medians over the runs: the same formula as the service's. */
function perStep(peer: string, runbook: string, steps: number, runs: PeerRun[]): PeerFigure {
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const own = (r: PeerRun) => r.calls.reduce((a, c) => a + (c.endMs - c.startMs), 0);
  return { peer, runbook, steps, wallMs: med(runs.map((r) => r.wallMs)), perStepMs: med(runs.map((r) => (r.wallMs - own(r)) / steps)) };
}

async function benchPeers(runs: number): Promise<PeerFigure[]> {
  const lab = await labUp({ scenario: 'healthy', tools: 'bench' });
  const out: PeerFigure[] = [];
  try {
    const seqs = replicaSequences(lab.config as never);
    for (const [runbook, steps] of Object.entries(seqs)) {
      const a = await ansibleRun(lab, steps, { warmRuns: runs, beforeRun: () => resetBench(lab.dir) });
      out.push(perStep('Ansible (pipelining, ControlPersist), warm', runbook, steps.length, a.warm));
      out.push(perStep('Ansible, cold (first run)', runbook, steps.length, [a.cold]));
      const sh = await shellRun(lab, steps, { warmRuns: runs, beforeRun: () => resetBench(lab.dir) });
      out.push(perStep('shell script of plain ssh calls', runbook, steps.length, [sh.plain]));
      out.push(perStep('shell script, ssh ControlMaster warm', runbook, steps.length, sh.controlMaster.warm));
    }
  } finally {
    await lab.down();
  }
  return out;
}

const log = (l: string) => console.log(`bench: ${l}`);

interface Variant {
  name: string;
  opts: BenchEnvOptions;
  /** The runbooks whose per-step overhead it measures (default: all of OVERHEAD_RUNBOOKS). */
  overheadRunbooks?: string[];
}

/** The first is what the service runs with; the others each take one setting away (--quick: the first only). */
const VARIANTS: Variant[] = [
  { name: 'defaults', opts: {} },
  // kust-replica only: with the CLI's 1 s timer granularity every tarantool-replica run takes over 3 s (549-555 ms per step
  // in the runs of 3 and 6 December), 20 s of the 15-minute budget for a figure that does not change.
  { name: "the CLI's dev-server settings", opts: { eagerActivities: false, dynamicConfig: CLI_SERVER_SETTINGS, sqlitePragma: { journal_mode: 'delete' } }, overheadRunbooks: ['kust-replica'] },
  { name: 'without eager workflow start', opts: { eagerStart: false } },
  { name: 'without eager activity dispatch', opts: { eagerActivities: false } },
  { name: 'autoscaling pollers', opts: { tuning: { workflowTaskPollerBehavior: { type: 'autoscaling' }, activityTaskPollerBehavior: { type: 'autoscaling' } } } },
];

/**
 * The sizes of a variant after the first: a tenth of the alerts and floors, a quarter of the runs (their medians
 * are what is compared; at a fifth the variants took 58 s of the 15-minute budget in the run of 7 December).
 */
const variantSize = (n: { alerts: number; floors: number; runs: number }) => ({ alerts: n.alerts / 10, floors: Math.ceil(n.floors / 10), runs: Math.ceil(n.runs / 4) });

async function main() {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
  const quick = Boolean(values.quick);
  const only = values.only?.split(',');
  const want = (s: string) => !only || only.includes(s);
  // --quick checks a change to the service in under 2 minutes: the Ansible/shell peers, the start and the test suites' timing only when named (--only).
  const full = (s: string) => (quick ? Boolean(only?.includes(s)) : want(s));
  const t0 = Date.now();
  const n = quick ? { alerts: 20, floors: 20, runs: 10, concurrent: 50, wait: '1s', rounds: 2, perRound: 50, window: 50 } : { alerts: 200, floors: 30, runs: 20, concurrent: 1000, wait: '3s', rounds: 10, perRound: 1000, window: 20 };

  // How long each section took, so that the 15-minute budget can be read off the report.
  const sections: [string, number][] = [];
  let mark = Date.now();
  const took = (name: string) => {
    sections.push([name, (Date.now() - mark) / 1000]);
    log(`${name} took ${sections[sections.length - 1][1].toFixed(0)} s`);
    mark = Date.now();
  };

  const latency: { variant: string; f: LatencyFigures; overhead: RunbookOverhead[] }[] = [];
  if (want('latency')) {
    for (const [i, v] of (quick ? VARIANTS.slice(0, 1) : VARIANTS).entries()) {
      const env = await benchEnv({ ...v.opts, extraConfig: { timers: timers('1ms') } });
      // The service's own settings at full size; each variant that takes one away at a fifth (its medians only).
      const size = i === 0 ? n : { ...n, ...variantSize(n) };
      const v0 = Date.now();
      try {
        const f = await benchLatency(env, { alerts: size.alerts, concurrency: 20, floors: size.floors, prefix: 'l' });
        const overhead = await benchOverhead(env, { runs: size.runs, prefix: 'o', warmUp: i === 0 ? 3 : 1, runbooks: v.overheadRunbooks, profile: i === 0 });
        latency.push({ variant: v.name, f, overhead });
        log(`${v.name}: alert to first command p50 ${f.oneAtATime.p50.toFixed(1)} ms p99 ${f.oneAtATime.p99.toFixed(1)} ms; bare floor ${f.bareToActivity.p50.toFixed(1)} ms; per step ${overhead.map((o) => `${o.runbook} ${o.perStep.p50.toFixed(1)} ms`).join(', ')} (${((Date.now() - v0) / 1000).toFixed(0)} s)`);
      } finally {
        await env.stop();
      }
    }
    took('latency and overhead');
  }

  let peers: PeerFigure[] = [];
  if (full('peers')) {
    peers = await benchPeers(quick ? 2 : 3);
    took('peers');
  }
  let intake: IntakeFigures | undefined;
  if (want('intake')) {
    intake = await benchIntake({ quick, log });
    took('intake');
  }

  let scale: ScaleFigures | undefined;
  if (want('scale')) {
    const env = await benchEnv({ noWorker: true, extraConfig: { timers: timers(n.wait) } });
    try {
      scale = await benchScale(env, { concurrent: n.concurrent, wait: n.wait, rounds: n.rounds, perRound: n.perRound, window: n.window, log });
    } finally {
      await env.stop();
    }
    took('scale');
  }

  let start: StartFigures | undefined;
  if (full('start')) {
    start = await benchStart({ quick, log });
    took('start');
  }
  let timeskip: TimeSkipFigures | undefined;
  if (full('timeskip')) {
    timeskip = await benchTimeSkipping({ log, alone: Boolean(only) });
    took('time-skipping suites');
  }

  const v = variantSize(n);
  const sizes = `The defaults: ${n.alerts} alerts one at a time and ${n.alerts} twenty at once, ${n.floors} of each floor, ${n.runs} runs per runbook${quick ? '' : `; each other variant takes one of these settings away, at ${v.alerts} alerts, ${v.floors} floors and ${v.runs} runs (its medians are what is compared)`}.`;
  const report = render({ quick, latency, peers, intake, scale, start, timeskip, sections, sizes, seconds: (Date.now() - t0) / 1000 });
  console.log(report);
  if (!only) {
    const file = path.join(REPO_ROOT, quick ? '.data/BENCHMARKS.quick.md' : 'BENCHMARKS.md');
    // The cluster's section comes from its own run (npm run bench:cluster) and stays.
    const kept = existsSync(file) ? clusterSection(readFileSync(file, 'utf8')) : undefined;
    writeFileSync(file, kept ? `${report.trimEnd()}\n\n${kept}\n` : report);
  }
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

function machine(): string {
  const commit = (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })();
  return `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}; commit ${commit}; ${new Date().toISOString()}`;
}

/** Where the time of a run goes (the defaults' runs): what limits the per-step figure, and what would lift it. */
function renderParts(overhead: RunbookOverhead[]): string[] {
  const withParts = overhead.filter((o) => o.parts?.length);
  if (!withParts.length) return [];
  const out = ['### Where the time of a run goes (defaults, waits 1 ms; ms, median over the runs of each part)', ''];
  out.push(`| part | ${withParts.map((o) => `${o.runbook} per run | per step (${o.commands} steps)`).join(' | ')} |`, `|---|${withParts.map(() => '---|---|').join('')}`);
  const names = [...new Set(withParts.flatMap((o) => o.parts?.map((p) => p.part) ?? []))];
  for (const name of names) {
    out.push(`| ${name} | ${withParts.map((o) => { const ms = o.parts?.find((p) => p.part === name)?.p50 ?? 0; return `${f1(ms)} | ${f1(ms / o.commands)}`; }).join(' | ')} |`);
  }
  const k = withParts[0];
  const top = [...(k.parts ?? [])].sort((a, b) => b.p50 - a.p50).slice(0, 2);
  out.push(
    '',
    `The largest parts of a ${k.runbook} run: ${top.map((p) => `${p.part} (${f1(p.p50)} ms)`).join('; ')}. ` +
      'What limits it: each step is one activity and one workflow task. The server records both in SQLite (the dev server\'s pure-Go SQLite, synchronous=FULL) ' +
      'and hands each to the worker; the worker runs the workflow code in its sandbox and opens an SSH channel; all of it shares two cores with sshd. ' +
      'The ControlMaster shell script does none of this and records nothing. The durable timers are waiting, not work: the server reads its due timers at most 20 times a second ' +
      '(history.timerProcessorMaxPollRPS; more costs a core\'s quarter with nothing running, worker/devserver.ts). What would lift the rest: more or faster cores (it is CPU time); ' +
      'or fewer workflow tasks per step (several commands in one activity), which would give up the durable record of each step that the service is for.',
    '',
  );
  return out;
}

function render(r: { quick: boolean; latency: { variant: string; f: LatencyFigures; overhead: RunbookOverhead[] }[]; peers: PeerFigure[]; intake?: IntakeFigures; scale?: ScaleFigures; start?: StartFigures; timeskip?: TimeSkipFigures; sections: [string, number][]; sizes: string; seconds: number }): string {
  const out: string[] = [`# Benchmarks${r.quick ? ' (quick)' : ''}`, '', `Machine: ${machine()}. Whole run: ${r.seconds.toFixed(0)} s (${r.sections.map(([n, s]) => `${n} ${s.toFixed(0)} s`).join(', ')}).`, ''];
  if (r.latency.length) {
    out.push('## Alert to first command (ms)', '', r.sizes, '', '| variant | one at a time p50 | p99 | 20 at once p50 | p99 | bare workflow floor p50 | ssh reused p50 | ssh fresh p50 | p50 / bare | p50 / (bare + ssh reused) |', '|---|---|---|---|---|---|---|---|---|---|');
    for (const { variant, f } of r.latency) {
      out.push(`| ${variant} | ${f1(f.oneAtATime.p50)} | ${f1(f.oneAtATime.p99)} | ${f1(f.atOnce.p50)} | ${f1(f.atOnce.p99)} | ${f1(f.bareToActivity.p50)} | ${f1(f.sshReused.p50)} | ${f1(f.sshFresh.p50)} | ${(f.oneAtATime.p50 / f.bareToActivity.p50).toFixed(2)} | ${(f.oneAtATime.p50 / (f.bareToActivity.p50 + f.sshReused.p50)).toFixed(2)} |`);
    }
    out.push('', '## Orchestration overhead per step (ms, waits 0)', '', '| variant | runbook | end to end p50 | commands own p50 | per step p50 | per step p99 |', '|---|---|---|---|---|---|');
    for (const { variant, overhead } of r.latency) for (const o of overhead) out.push(`| ${variant} | ${o.runbook} | ${f1(o.endToEnd.p50)} | ${f1(o.commandsOwn.p50)} | ${f1(o.perStep.p50)} | ${f1(o.perStep.p99)} |`);
    out.push('');
    out.push(...renderParts(r.latency[0]?.overhead ?? []));
  }
  if (r.peers.length) {
    const ours = r.latency.find((l) => l.variant === 'defaults')?.overhead ?? [];
    out.push('## The same command sequences by other means (ms)', '', '| peer | runbook | wall p50 | per step p50 | per step, ours (defaults) | ratio |', '|---|---|---|---|---|---|');
    for (const p of r.peers) {
      const o = ours.find((x) => x.runbook === p.runbook)?.perStep.p50 ?? NaN;
      out.push(`| ${p.peer} | ${p.runbook} | ${f1(p.wallMs)} | ${f1(p.perStepMs)} | ${f1(o)} | ${(p.perStepMs / o).toFixed(1)}x |`);
    }
    out.push('');
  }
  if (r.intake) {
    out.push(`## Intake (autocannon, ${r.intake.connections} connections, ${r.intake.secondsPerCase} s per case, ${r.intake.newX50Seconds} s for 50 new targets per POST)`, '', '| case | alerts per POST | connections | alerts/s | p50 ms | p99 ms | runs started/s | valid |', '|---|---|---|---|---|---|---|---|');
    for (const c of r.intake.cases) out.push(`| ${c.case} | ${c.alertsPerPost} | ${c.connections} | ${c.alertsPerS.toFixed(0)} | ${f1(c.latencyP50Ms)} | ${f1(c.latencyP99Ms)} | ${c.runsStartedPerS ? c.runsStartedPerS.toFixed(0) : ''} | ${c.valid ? 'yes' : 'NO'} |`);
    out.push('', `Duplicates target (>= ${r.intake.duplicatesTarget.alertsPerS} alerts/s at p99 <= ${r.intake.duplicatesTarget.p99Ms} ms): ${r.intake.duplicatesTarget.met ? 'met' : 'missed'}.`, '');
  }
  if (r.scale) {
    const c = r.scale.concurrent;
    out.push('## Scale', '', `${c.runs} tarantool-replica runs at once on one worker process, waits of ${c.waitsS / 3} s (${c.waitsS} s per run): ${c.correct}/${c.runs} correct, wall ${f1(c.wallS)} s, worker peak RSS ${f1(c.workerPeakRssMB)} MB, history events per run ${c.historyEventsPerRun}, SQLite bytes per run ${c.sqliteBytesPerRun.toFixed(0)}.`, '');
    out.push('| host | peak SSH connections | peak concurrent commands | cap |', '|---|---|---|---|');
    for (const h of Object.keys(c.peakCommandsPerHost)) out.push(`| ${h} | ${c.peakSshConnections[h] ?? 0} | ${c.peakCommandsPerHost[h]} | ${c.capPerHost} |`);
    out.push('', '| round | runs done | runs/s | worker RSS MB | visibility list ms | API GET run p50 ms |', '|---|---|---|---|---|---|');
    for (const x of r.scale.inARow) out.push(`| ${x.round} | ${x.runsDone} | ${x.runsPerS.toFixed(0)} | ${f1(x.workerRssMB)} | ${f1(x.visibilityMs)} | ${f1(x.apiMs)} |`);
    out.push('');
  }
  if (r.start) {
    const s = r.start;
    const sec = (ms: number) => (ms / 1000).toFixed(2);
    out.push('## Start (`npm start` until GET /healthz answers, s)', '', `Load average (1 min) when the section began: ${s.loadAverage.toFixed(1)}.`, '', '| case | includes | starts | median | min | max | lines printed |', '|---|---|---|---|---|---|---|');
    for (const c of s.cases) out.push(`| ${c.case} | ${c.includes} | ${c.runs} | ${sec(c.medianMs)} | ${sec(c.minMs)} | ${sec(c.maxMs)} | ${c.lines} |`);
    out.push('', `Target warm under ${sec(s.targetWarmMs)} s: ${s.warmMet ? 'met' : 'missed'}. scripts/bootstrap.sh alone with nothing changed: ${s.bootstrapMs.toFixed(0)} ms; scripts/provision-temporal.sh alone (cached): ${s.provisionMs.toFixed(0)} ms. Lines printed leave out npm's 2-line banner. A warm start prints:`, '', '```', ...s.warmOutput, '```', '');
  }
  if (r.timeskip) out.push(...renderTimeSkipping(r.timeskip));
  return out.join('\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
