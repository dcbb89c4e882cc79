/**
 * `npm run bench:cluster`: throughput of the service on the project's two-node Temporal cluster on
 * PostgreSQL (deploy/cluster) with 1, 2 and 3 `medic worker` processes, beside the embedded dev server
 * (SQLite) with the same workers, measured in one run on the bench lab (lab/bench-tools.ts): kust-replica
 * runs for distinct targets (two commands each, no waits), started through the client 50 at a time.
 * Figures: runs started per second (the starts alone) and completed per second (first start to last
 * result), the median of the rounds. Writes its section of BENCHMARKS.md (between the cluster markers,
 * which `npm run bench` keeps).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { startRun } from '../../client/runbooks';
import { loadConfig } from '../../config/load';
import { startCluster } from '../../deploy/cluster/cluster';
import { readBenchLog, resetBench } from '../../lab/bench-tools';
import { labUp } from '../../lab/lab';
import { REPO_ROOT, temporalBinaries } from '../../worker/binaries';
import { startDevServer } from '../../worker/devserver';
import { kustCorrect } from '../helpers/bench-sequences';
import { startMedic } from '../cluster/harness';
import { MedicProcess, runNode, temporalEnv } from '../helpers/medic-cli';
import { workflowBundleEnv } from '../chaos/harness';
import { benchTarget, timers } from './harness';
import { freePort } from '../helpers/service';

const log = (l: string) => console.log(`bench:cluster: ${l}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
/** User + system CPU time of a process so far, in ms (/proc/<pid>/stat fields 14 and 15, in clock ticks of 10 ms). */
const cpuMs = (pid: number | undefined) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

export const CLUSTER_BEGIN = '<!-- cluster throughput: written by npm run bench:cluster -->';
export const CLUSTER_END = '<!-- end of cluster throughput -->';

/** The cluster section of an existing BENCHMARKS.md (markers included), so that `npm run bench` can keep it. */
export function clusterSection(text: string): string | undefined {
  const a = text.indexOf(CLUSTER_BEGIN);
  const b = text.indexOf(CLUSTER_END);
  return a >= 0 && b > a ? text.slice(a, b + CLUSTER_END.length) : undefined;
}

interface Row {
  backend: string;
  workers: number;
  /** CPU time of the worker processes per run (ms), over the counted rounds. */
  workerCpuMsPerRun: number;
  startedPerS: number[];
  completedPerS: number[];
  correct: number;
  runs: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' } } });
  const runs = Number(values.runs);
  const rounds = Number(values.rounds);
  const t0 = Date.now();
  const lab = await labUp({ scenario: 'healthy', tools: 'bench', extraConfig: { timers: timers('1ms') } });
  const config = loadConfig(lab.configPath);
  const bundle = await workflowBundleEnv();
  const dev = await startDevServer({ cli: temporalBinaries().cli, dataDir: mkdtempSync(path.join(os.tmpdir(), 'medic-bench-dev-')), port: await freePort(), uiPort: 0 });
  const clusterStart = Date.now();
  const clusterDir = mkdtempSync(path.join(os.tmpdir(), 'medic-bench-cluster-'));
  const cluster = await startCluster({ dir: clusterDir });
  const clusterUpS = (Date.now() - clusterStart) / 1000;
  const rows: Row[] = [];
  let serial = 0;
  try {
    const backends = [
      { name: 'dev server (SQLite, 1 process)', address: dev.address },
      { name: `cluster (2 nodes, PostgreSQL, ${cluster.shards} shards)`, address: cluster.frontends[0] },
    ];
    for (const b of backends) {
      const env = temporalEnv({ ...bundle, TEMPORAL_ADDRESS: b.address, TEMPORAL_NAMESPACE: config.service.namespace });
      const setup = await runNode(['setup', '--config', lab.configPath], env);
      if (setup.code !== 0) throw new Error(`medic setup exited ${setup.code}: ${setup.stdout}${setup.stderr}`);
      const connection = await Connection.connect({ address: b.address });
      const client = new Client({ connection, namespace: config.service.namespace });
      try {
        for (const workers of [1, 2, 3]) {
          const procs: MedicProcess[] = [];
          for (let i = 0; i < workers; i++) procs.push(await startMedic(['worker', '--config', lab.configPath], env, /worker on task queue/));
          const row: Row = { backend: b.name, workers, workerCpuMsPerRun: NaN, startedPerS: [], completedPerS: [], correct: 0, runs: 0 };
          let cpu0 = 0;
          try {
            // One warm-up round (connections, caches), not counted.
            for (let r = 0; r <= rounds; r++) {
              resetBench(lab.dir);
              if (r === 1) cpu0 = procs.reduce((a, p) => a + cpuMs(p.child.pid), 0);
              const prefix = `x${++serial}q`;
              const targets = Array.from({ length: r === 0 ? 20 : runs }, (_, i) => benchTarget(i + 1, prefix));
              const start = performance.now();
              let next = 0;
              await Promise.all(
                Array.from({ length: 50 }, async () => {
                  while (next < targets.length) await startRun(client, config, 'kust-replica', targets[next++], 'bench');
                }),
              );
              const startedMs = performance.now() - start;
              const results = await Promise.all(targets.map((t) => client.workflow.getHandle(`kust-replica/${t.instance}`).result() as Promise<{ outcome: string }>));
              const doneMs = performance.now() - start;
              if (r === 0) continue;
              const calls = readBenchLog(lab.dir);
              row.correct += targets.filter((t, i) => results[i].outcome === 'repaired' && kustCorrect(calls, t.service, t.instance)).length;
              row.runs += targets.length;
              row.startedPerS.push(targets.length / (startedMs / 1000));
              row.completedPerS.push(targets.length / (doneMs / 1000));
            }
            row.workerCpuMsPerRun = (procs.reduce((a, p) => a + cpuMs(p.child.pid), 0) - cpu0) / row.runs;
          } finally {
            for (const p of procs) p.child.kill('SIGTERM');
            await Promise.all(procs.map((p) => p.exited));
          }
          rows.push(row);
          log(`${b.name}, ${workers} worker(s): started ${median(row.startedPerS).toFixed(1)}/s, completed ${median(row.completedPerS).toFixed(1)}/s, worker CPU ${row.workerCpuMsPerRun.toFixed(1)} ms per run (rounds: ${row.completedPerS.map((x) => x.toFixed(1)).join(' / ')}), ${row.correct}/${row.runs} correct`);
        }
      } finally {
        await connection.close();
      }
    }
  } finally {
    await cluster.stop();
    await dev.stop();
    await lab.down();
    rmSync(clusterDir, { recursive: true, force: true });
  }
  const section = render(rows, { runs, rounds, clusterUpS, seconds: (Date.now() - t0) / 1000 });
  console.log(section);
  const file = path.join(REPO_ROOT, 'BENCHMARKS.md');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const old = clusterSection(text);
  writeFileSync(file, old ? text.replace(old, section) : `${text.trimEnd()}\n\n${section}\n`);
  if (rows.some((r) => r.correct !== r.runs)) {
    console.error('bench:cluster: some runs were not repaired correctly (see the table)');
    process.exitCode = 1;
  }
}

function render(rows: Row[], o: { runs: number; rounds: number; clusterUpS: number; seconds: number }): string {
  const commit = (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })();
  const devByWorkers = new Map(rows.filter((r) => r.backend.startsWith('dev')).map((r) => [r.workers, median(r.completedPerS)]));
  return [
    CLUSTER_BEGIN,
    '## Throughput on a Temporal cluster (`npm run bench:cluster`)',
    '',
    `Machine: ${os.cpus().length} x ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; commit ${commit}; ${new Date().toISOString()}. Whole run: ${o.seconds.toFixed(0)} s; the cluster came up in ${o.clusterUpS.toFixed(1)} s.`,
    `kust-replica runs (two commands, no waits) for distinct targets on the bench lab, started through the client 50 at a time; ${o.rounds} rounds of ${o.runs} runs per row after one warm-up round of 20; each worker is a \`medic worker\` process; the same machine (2 cores) runs the servers, PostgreSQL, the workers and the lab's sshd.`,
    '',
    '| backend | workers | runs started/s (median) | runs completed/s (median) | completed/s per round | vs. dev server, same workers | worker CPU per run (ms, all workers) | correct |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const c = median(r.completedPerS);
      const ratio = r.backend.startsWith('dev') ? '1.00' : (c / (devByWorkers.get(r.workers) ?? NaN)).toFixed(2);
      return `| ${r.backend} | ${r.workers} | ${median(r.startedPerS).toFixed(1)} | ${c.toFixed(1)} | ${r.completedPerS.map((x) => x.toFixed(1)).join(' / ')} | ${ratio} | ${r.workerCpuMsPerRun.toFixed(1)} | ${r.correct}/${r.runs} |`;
    }),
    '',
    'On one 2-core machine everything competes for the same cores, so more workers cannot add throughput here; on separate machines each worker brings its own CPU (deploy/README.md, "Sizing").',
    CLUSTER_END,
  ].join('\n');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
