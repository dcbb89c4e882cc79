/**
 * Item 4: scale. `concurrent` tarantool-replica runs for distinct targets at once on one worker process
 * (node dist/worker/main.js against the bench's dev server, with the build-time workflow bundle), waits of a few
 * seconds: all complete correctly (each target's six commands in order on the right hosts, from the
 * bench log), wall time, the worker's peak RSS, peak SSH connections and concurrent commands per host
 * (against ssh.maxConcurrentPerHost), history events per run, SQLite bytes per finished run. Then
 * `rounds` x `perRound` kust-replica runs in a row, `window` open at a time (each finished run makes room
 * for the next): whether RSS, the visibility query and the API's latency grow with the runs already done.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startRun } from '../../client/runbooks';
import type { BenchToolCall } from '../../lab/bench-tools';
import { REPO_ROOT } from '../../worker/binaries';
import { prebuiltBundle, WORKFLOW_BUNDLER_OPTIONS } from '../../worker/bundle';
import { benchTarget, BenchEnv, nowMs, stats } from './harness';
import { tarantoolCorrect } from '../helpers/bench-sequences';

export interface ScaleFigures {
  concurrent: {
    runs: number;
    correct: number;
    wallS: number;
    waitsS: number;
    workerPeakRssMB: number;
    peakSshConnections: Record<string, number>;
    peakCommandsPerHost: Record<string, number>;
    capPerHost: number;
    historyEventsPerRun: number;
    sqliteBytesPerRun: number;
  };
  inARow: { round: number; runsDone: number; runsPerS: number; workerRssMB: number; visibilityMs: number; apiMs: number }[];
}

function vm(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const dbBytes = (dataDir: string) => ['temporal.sqlite', 'temporal.sqlite-wal'].map((f) => path.join(dataDir, f)).reduce((s, f) => s + (existsSync(f) ? statSync(f).size : 0), 0);

/** Established TCP connections to each lab node's sshd (client side), now. */
function sshConnections(nodes: Record<string, { address: string; port: number }>): Record<string, number> {
  const out = execFileSync('ss', ['-Htn', 'state', 'established'], { encoding: 'utf8' });
  const counts: Record<string, number> = {};
  for (const [n, a] of Object.entries(nodes)) counts[n] = out.split('\n').filter((l) => l.trim().split(/\s+/)[3] === `${a.address}:${a.port}`).length;
  return counts;
}

/** The most calls that overlapped in time on each node. */
function peakOverlap(calls: BenchToolCall[]): Record<string, number> {
  const byNode = new Map<string, { t: number; d: number }[]>();
  for (const c of calls) {
    const ev = byNode.get(c.node) ?? [];
    ev.push({ t: c.startMs, d: 1 }, { t: c.endMs, d: -1 });
    byNode.set(c.node, ev);
  }
  const peak: Record<string, number> = {};
  for (const [n, ev] of byNode) {
    ev.sort((a, b) => a.t - b.t || a.d - b.d);
    let cur = 0;
    let max = 0;
    for (const e of ev) max = Math.max(max, (cur += e.d));
    peak[n] = max;
  }
  return peak;
}

async function inBatches<T>(items: T[], width: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

/** The worker alone in its own process (RSS is its own), on the bench's dev server and lab config. */
async function workerProcess(env: BenchEnv, bundleFile: string | undefined): Promise<{ pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'worker', 'main.js'), '--config', env.lab.configPath], {
    env: { ...process.env, TEMPORAL_ADDRESS: env.server.address, TEMPORAL_NAMESPACE: env.config.service.namespace, ...(bundleFile ? { MEDIC_WORKFLOW_BUNDLE: bundleFile } : {}) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('worker on task queue')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited ${code}: ${out}`)));
  });
  return {
    pid: child.pid ?? 0,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      }),
  };
}

export async function benchScale(env: BenchEnv, opts: { concurrent: number; wait: string; rounds: number; perRound: number; window: number; log: (l: string) => void }): Promise<ScaleFigures> {
  // The build-time bundle when it is current (the worker loads it itself), else one made here.
  let bundleFile: string | undefined;
  if (!('code' in prebuiltBundle())) {
    bundleFile = path.join(env.dataDir, 'workflow-bundle.js');
    writeFileSync(bundleFile, (await bundleWorkflowCode({ ...WORKFLOW_BUNDLER_OPTIONS, workflowsPath: path.join(REPO_ROOT, 'dist', 'workflows'), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: (m) => console.error(m) } })).code);
  }
  const worker = await workerProcess(env, bundleFile);
  try {
    const targets = Array.from({ length: opts.concurrent }, (_, i) => benchTarget(i + 1, 's'));
    const db0 = dbBytes(env.dataDir);
    const peakConn: Record<string, number> = {};
    const sampler = setInterval(() => {
      for (const [n, c] of Object.entries(sshConnections(env.lab.nodes))) peakConn[n] = Math.max(peakConn[n] ?? 0, c);
    }, 200);
    const t0 = nowMs();
    await inBatches(targets, 50, (t) => startRun(env.client, env.config, 'tarantool-replica', t, 'bench'));
    opts.log(`scale: ${targets.length} runs started in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
    const results = await Promise.all(targets.map((t) => env.client.workflow.getHandle(`tarantool-replica/${t.instance}`).result() as Promise<{ outcome: string }>));
    const wallS = (nowMs() - t0) / 1000;
    clearInterval(sampler);
    env.log.poll();
    const calls = env.log.calls;
    const correct = targets.filter((t, i) => results[i].outcome === 'repaired' && tarantoolCorrect(calls, t.service, t.instance)).length;
    const sample = targets.filter((_, i) => i % Math.max(1, Math.floor(targets.length / 20)) === 0);
    const events = await Promise.all(sample.map(async (t) => (await env.client.workflow.getHandle(`tarantool-replica/${t.instance}`).fetchHistory()).events?.length ?? 0));
    const concurrent = {
      runs: targets.length,
      correct,
      wallS,
      waitsS: 3 * (Number(opts.wait.replace(/s$/, '')) || 0),
      workerPeakRssMB: vm(worker.pid, 'VmHWM'),
      peakSshConnections: peakConn,
      peakCommandsPerHost: peakOverlap(calls),
      capPerHost: env.config.ssh.maxConcurrentPerHost,
      historyEventsPerRun: stats(events).p50,
      sqliteBytesPerRun: (dbBytes(env.dataDir) - db0) / targets.length,
    };
    opts.log(`scale: ${correct}/${targets.length} correct in ${wallS.toFixed(1)} s, worker peak RSS ${concurrent.workerPeakRssMB.toFixed(0)} MB`);

    const inARow: ScaleFigures['inARow'] = [];
    let done = 0;
    const rowT0 = nowMs();
    for (let round = 1; round <= opts.rounds; round++) {
      const batch = Array.from({ length: opts.perRound }, (_, i) => benchTarget(round * 100_000 + i, 'r'));
      const r0 = nowMs();
      // A sliding window of `window` open runs: each slot starts a run and waits for its result, then the next.
      const outs: { outcome: string }[] = [];
      await inBatches(batch, opts.window, async (t) => {
        await startRun(env.client, env.config, 'kust-replica', t, 'bench');
        outs.push((await env.client.workflow.getHandle(`kust-replica/${t.instance}`).result()) as { outcome: string });
      });
      const bad = outs.filter((o) => o.outcome !== 'repaired').length;
      if (bad) throw new Error(`round ${round}: ${bad} runs did not repair`);
      const runsPerS = batch.length / ((nowMs() - r0) / 1000);
      done += batch.length;
      const v0 = nowMs();
      const listed = await fetch(`${env.apiUrl}/v1/runs?status=completed&limit=50`, { headers: { authorization: `Bearer ${env.tokens.operator}` } });
      if (listed.status !== 200) throw new Error(`GET /v1/runs: ${listed.status}`);
      await listed.arrayBuffer();
      const visibilityMs = nowMs() - v0;
      const api: number[] = [];
      for (const t of batch.slice(0, 20)) {
        const a0 = nowMs();
        const res = await fetch(`${env.apiUrl}/v1/runs/${encodeURIComponent(`kust-replica/${t.instance}`)}`, { headers: { authorization: `Bearer ${env.tokens.operator}` } });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`GET run: ${res.status}`);
        api.push(nowMs() - a0);
      }
      inARow.push({ round, runsDone: done, runsPerS, workerRssMB: vm(worker.pid, 'VmRSS'), visibilityMs, apiMs: stats(api).p50 });
      const left = ((opts.rounds - round) * opts.perRound) / (done / ((nowMs() - rowT0) / 1000));
      opts.log(`in a row: round ${round}, ${done} runs, ${runsPerS.toFixed(0)} runs/s, worker RSS ${inARow[inARow.length - 1].workerRssMB.toFixed(0)} MB${round < opts.rounds ? `, about ${left.toFixed(0)} s to go` : ''}`);
    }
    return { concurrent, inARow };
  } finally {
    await worker.stop();
  }
}
