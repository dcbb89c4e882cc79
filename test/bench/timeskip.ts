/**
 * Benchmark (issue 11, item 5): the time-skipping suites (test/workflows/*.test.ts on the Java test server),
 * their wall time against the simulated time they cover. Target: more than 6 h simulated in under 60 s of wall
 * time for the whole set, two files at a time as `npm test` runs them.
 *
 * Every file runs as a `node --test` child process, as scripts/test.sh runs them: once all together at
 * --test-concurrency=2 (the total, and each file's share of it), then each file alone (its own wall time without
 * the other file on the second core). The simulated time is what the test helpers record when MEDIC_SIM_TIME_FILE
 * is set (test/helpers/temporal.ts): per test server, the union of the simulated spans of the runs its tests drove
 * (a run's first to last history event). The server clock's own advance is no measure: with nothing due it jumps
 * to the next timer, and every terminated run leaves a 10-year run timeout timer behind.
 *
 *   node dist/test/bench/timeskip.js
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../worker/binaries';
import type { SimulatedTimeRecord } from '../helpers/temporal';

export const TIMESKIP_TARGET = { simulatedH: 6, wallS: 60 };

export interface TimeSkipFile {
  /** e.g. mysql-topology */
  name: string;
  tests: number;
  failed: number;
  /** Test servers the file started (one per file, or one per test). */
  servers: number;
  /** Runs whose simulated span was recorded. */
  runs: number;
  simulatedH: number;
  /** In the run of all files two at a time: from the test process's start to its last server's teardown. */
  pairedWallS: number;
  /** The file alone (nothing else of ours running): the `node --test` process, start to exit. */
  aloneWallS: number;
}

export interface TimeSkipFigures {
  files: TimeSkipFile[];
  /** All files in one `node --test --test-concurrency=2`, start to exit. */
  total: { wallS: number; simulatedH: number; tests: number; failed: number };
  /** The files one after another (the sum of aloneWallS). */
  aloneSumS: number;
  met: boolean;
}

interface Outcome {
  wallS: number;
  tests: number;
  failed: number;
  records: SimulatedTimeRecord[];
}

/** One `node --test` process over these files, with its own MEDIC_SIM_TIME_FILE. */
async function nodeTest(files: string[], concurrency: number, simFile: string): Promise<Outcome> {
  const t0 = performance.now();
  const out: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const p = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', '--test-reporter=tap', ...files], {
      cwd: REPO_ROOT,
      env: { ...process.env, MEDIC_SIM_TIME_FILE: simFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    p.stdout.on('data', (b: Buffer) => out.push(b.toString()));
    p.stderr.on('data', (b: Buffer) => out.push(b.toString()));
    p.on('error', reject);
    p.on('close', resolve);
  });
  const wallS = (performance.now() - t0) / 1000;
  const text = out.join('');
  const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  let records: SimulatedTimeRecord[] = [];
  try {
    records = readFileSync(simFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as SimulatedTimeRecord);
  } catch {
    // no server finished: no records
  }
  const failed = count('fail');
  return { wallS, tests: count('tests'), failed: code === 0 ? failed : Math.max(failed, 1), records };
}

const nameOf = (file: string) => path.basename(file).replace(/\.test\.js$/, '');
const hours = (ms: number) => ms / 3_600_000;

/** `alone`: also each file by itself (its own wall time; the full bench leaves it out to fit 15 minutes). */
export async function benchTimeSkipping(opts: { log: (l: string) => void; alone?: boolean }): Promise<TimeSkipFigures> {
  const dir = path.join(REPO_ROOT, 'dist', 'test', 'workflows');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.test.js'))
    .sort()
    .map((f) => path.relative(REPO_ROOT, path.join(dir, f)));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'medic-timeskip-'));
  try {
    const all = await nodeTest(files, 2, path.join(tmp, 'all.jsonl'));
    opts.log(`timeskip: ${files.length} files two at a time: ${all.wallS.toFixed(1)} s, ${all.tests} tests, ${all.failed} failed`);
    const out: TimeSkipFile[] = [];
    for (const file of files) {
      const alone = opts.alone === false ? { wallS: NaN, tests: NaN, failed: 0 } : await nodeTest([file], 1, path.join(tmp, `${nameOf(file)}.jsonl`));
      const mine = all.records.filter((r) => nameOf(r.file) === nameOf(file));
      const f: TimeSkipFile = {
        name: nameOf(file),
        tests: alone.tests,
        failed: alone.failed,
        servers: mine.length,
        runs: mine.reduce((a, r) => a + r.runs, 0),
        simulatedH: hours(mine.reduce((a, r) => a + r.simulatedMs, 0)),
        pairedWallS: Math.max(0, ...mine.map((r) => r.processMs)) / 1000,
        aloneWallS: alone.wallS,
      };
      out.push(f);
      opts.log(`timeskip: ${f.name}: alone ${f.aloneWallS.toFixed(1)} s, in the pair run ${f.pairedWallS.toFixed(1)} s, ${f.simulatedH.toFixed(2)} h simulated, ${f.servers} server(s), ${f.tests} tests, ${f.failed} failed`);
    }
    const simulatedH = out.reduce((a, f) => a + f.simulatedH, 0);
    const total = { wallS: all.wallS, simulatedH, tests: all.tests, failed: all.failed };
    const valid = all.failed === 0 && out.every((f) => f.failed === 0);
    return { files: out, total, aloneSumS: out.reduce((a, f) => a + f.aloneWallS, 0), met: valid && simulatedH > TIMESKIP_TARGET.simulatedH && all.wallS < TIMESKIP_TARGET.wallS };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The BENCHMARKS.md section. */
export function renderTimeSkipping(t: TimeSkipFigures): string[] {
  const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '—');
  const out = [
    '## Time-skipping suites (test/workflows on the Java test server)',
    '',
    '| file | tests | failed | test servers | runs | simulated h | wall s, two files at a time | wall s, alone | simulated h per wall s (alone) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const f of t.files) out.push(`| ${f.name} | ${Number.isFinite(f.tests) ? f.tests : '—'} | ${f.failed} | ${f.servers} | ${f.runs} | ${f1(f.simulatedH)} | ${f1(f.pairedWallS)} | ${f1(f.aloneWallS)} | ${f1(f.simulatedH / f.aloneWallS)} |`);
  out.push(`| **all, two at a time (npm test)** | ${t.total.tests} | ${t.total.failed} | | | **${f1(t.total.simulatedH)}** | **${f1(t.total.wallS)}** | ${Number.isFinite(t.aloneSumS) ? `${f1(t.aloneSumS)} (one after another)` : '— (`--only timeskip` runs each alone)'} | ${(t.total.simulatedH / t.total.wallS).toFixed(2)} (two at a time) |`);
  out.push(
    '',
    `Target (> ${TIMESKIP_TARGET.simulatedH} h simulated in < ${TIMESKIP_TARGET.wallS} s wall, all files two at a time, no test failed): ${t.met ? 'met' : 'missed'}. ` +
      'Simulated time: per test server, the union of the simulated spans (first to last history event) of the runs its tests drove.',
    '',
  );
  return out;
}

if (require.main === module) {
  benchTimeSkipping({ log: (l) => console.log(`bench: ${l}`) })
    .then((t) => console.log(renderTimeSkipping(t).join('\n')))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
