/**
 * Benchmark (issue 11, item 5): `npm start` until GET /healthz answers 200, as an operator runs it.
 *
 * Everything runs in a copy of this repository's sources in a temp dir (node_modules and .tools linked
 * from here: the npm packages and the Temporal binaries are installed, which is what `npm start` finds
 * on any machine after its first start), so that a cold start can change a source file and nothing
 * here is touched. Each start is `npm start` in its own process group, with MEDIC_CONFIG naming the
 * example configuration with a data dir of the bench's, `api.listen: 127.0.0.1:0`, a key file that
 * exists (mode 0600: the lines counted are those of a configured machine), and free ports for the dev
 * server and the Web UI (MEDIC_TEMPORAL_PORT, MEDIC_UI_PORT). Time: from the spawn of `npm start` to the
 * first 200 from /healthz (which needs Temporal to answer; the API listens after the worker is created).
 * Ctrl-C (SIGINT to the process group) stops it; whatever of its tree is left is then killed.
 *
 * Cases:
 *   warm            built, nothing changed since, the data dir of an earlier start
 *   fresh data dir  built, a new data dir (new SQLite file, tokens generated)
 *   cold            a source changed (a comment added to workflows/definitions.ts, which the workflow
 *                   bundle includes) and a new data dir: the full build (tsc, the workflow bundle)
 *                   and then the start; the first cold start of a copy has no dist/ at all
 * Lines: what the start printed until it answered (and 0.5 s more), npm's own 2-line banner
 * (`> replication-medic@0.1.0 start`, `> bash scripts/...`) and blank lines not counted.
 * Also: scripts/bootstrap.sh alone with nothing changed, and scripts/provision-temporal.sh alone (cached).
 *
 *   node dist/test/bench/start.js [--quick]
 */
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { REPO_ROOT } from '../../worker/binaries';
import { descendantsOf, listProcesses, signal } from '../../worker/proc';
import { freePort } from '../helpers/service';

export interface StartCase {
  case: 'warm' | 'fresh data dir' | 'cold';
  includes: string;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Median of the lines printed per start (npm's banner and blank lines not counted). */
  lines: number;
}

export interface StartFigures {
  cases: StartCase[];
  /** scripts/bootstrap.sh alone, nothing changed (median ms), and scripts/provision-temporal.sh alone, cached. */
  bootstrapMs: number;
  provisionMs: number;
  /** What a warm start printed (the last one). */
  warmOutput: string[];
  targetWarmMs: number;
  warmMet: boolean;
  /** The 1-minute load average when the section began (the machine is shared). */
  loadAverage: number;
}

const TARGET_WARM_MS = 3000;
const INCLUDES: Record<StartCase['case'], string> = {
  warm: 'npm, the set-up checks, the dev server on its SQLite file, the worker, the API',
  'fresh data dir': 'as warm, on a new data dir (new SQLite file, tokens generated)',
  cold: 'a source changed: tsc and the workflow bundle, then as fresh data dir',
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The sources as git sees them (tracked and new, not ignored) copied to `dir`, node_modules and .tools linked. */
function copyRepo(dir: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    if (f === 'node_modules' || f === '.tools') continue; // links (a worktree's) are not matched by `node_modules/` in .gitignore
    const to = path.join(dir, f);
    mkdirSync(path.dirname(to), { recursive: true });
    try {
      copyFileSync(path.join(REPO_ROOT, f), to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // deleted, not yet committed
    }
  }
  for (const l of ['node_modules', '.tools']) symlinkSync(realpathSync(path.join(REPO_ROOT, l)), path.join(dir, l));
}

/** The example configuration with this data dir, the API on a free port and an existing (dummy) key file. */
function writeConfig(copy: string, file: string, dataDir: string, keyFile: string): void {
  const config = YAML.parse(readFileSync(path.join(copy, 'config', 'medic.example.yaml'), 'utf8')) as {
    service: { dataDir: string };
    api: { listen: string };
    inventory: { defaults?: { keyFile?: string }; hosts: Record<string, string | { keyFile?: string }> };
  };
  config.service.dataDir = dataDir;
  config.api.listen = '127.0.0.1:0';
  config.inventory.defaults = { ...config.inventory.defaults, keyFile };
  for (const h of Object.values(config.inventory.hosts)) if (typeof h === 'object' && h.keyFile !== undefined) h.keyFile = keyFile;
  writeFileSync(file, YAML.stringify(config));
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if ((k.startsWith('TEMPORAL_') && k !== 'TEMPORAL_CLI') || k.startsWith('npm_') || k.startsWith('MEDIC_')) continue;
    env[k] = v;
  }
  return env;
}

/** The process and everything below it, and everything that names `dir` on its command line. */
function treeOf(pid: number, dir: string): number[] {
  const procs = listProcesses().filter((p) => p.pid !== process.pid);
  return descendantsOf([pid, ...procs.filter((p) => p.state !== 'Z' && p.argv.some((a) => a.includes(dir))).map((p) => p.pid)], procs);
}

async function healthy(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

/** One `npm start` in `copy`: ms until /healthz answered, and the lines it printed by then (+0.5 s). */
async function oneStart(copy: string, configFile: string, tmp: string): Promise<{ ms: number; lines: string[] }> {
  const env = { ...cleanEnv(), MEDIC_CONFIG: configFile, MEDIC_TEMPORAL_PORT: String(await freePort()), MEDIC_UI_PORT: String(await freePort()) };
  const t0 = performance.now();
  const child = spawn('npm', ['start'], { cwd: copy, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  try {
    let ms = NaN;
    const deadline = Date.now() + 300_000;
    while (Number.isNaN(ms)) {
      if (exited) throw new Error(`npm start exited before the API answered:\n${out}`);
      if (Date.now() > deadline) throw new Error(`npm start: no answer from /healthz within 300 s:\n${out}`);
      const url = /medic: API (http:\/\/[^\s]+)/.exec(out)?.[1];
      if (url && (await healthy(url))) ms = performance.now() - t0;
      else await sleep(url ? 10 : 20);
    }
    await sleep(500);
    const lines = out.split('\n').filter((l) => l.trim() !== '' && !/^> /.test(l));
    return { ms, lines };
  } finally {
    if (!exited && child.pid) signal([-child.pid], 'SIGINT');
    await Promise.race([exit, sleep(20_000)]);
    if (child.pid) signal(treeOf(child.pid, tmp), 'SIGKILL');
    await sleep(200);
  }
}

function timeCommand(cwd: string, argv: string[], runs: number): number {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    execFileSync(argv[0], argv.slice(1), { cwd, env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

export async function benchStart(opts: { quick: boolean; log: (l: string) => void }): Promise<StartFigures> {
  const n = opts.quick ? { warm: 2, fresh: 1, cold: 1 } : { warm: 3, fresh: 1, cold: 1 }; // warm >= the others
  const loadAverage = os.loadavg()[0];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'medic-bench-start-'));
  const copy = path.join(tmp, 'repo');
  const keyFile = path.join(tmp, 'id_ed25519');
  writeFileSync(keyFile, 'not a key: only its presence and mode are checked at start\n', { mode: 0o600 });
  const configFile = path.join(tmp, 'medic.yaml');
  let dataDirs = 0;
  const newDataDir = () => writeConfig(copy, configFile, path.join(tmp, `data-${++dataDirs}`), keyFile);
  const results: Record<StartCase['case'], { ms: number; lines: string[] }[]> = { warm: [], 'fresh data dir': [], cold: [] };
  const run = async (c: StartCase['case']) => {
    const r = await oneStart(copy, configFile, tmp);
    results[c].push(r);
    opts.log(`start: ${c} ${(r.ms / 1000).toFixed(2)} s, ${r.lines.length} lines`);
  };
  try {
    mkdirSync(copy);
    copyRepo(copy);
    // Round robin, so that a change in the machine's load (it is shared) falls on every case alike.
    for (let i = 0; i < Math.max(n.cold, n.fresh, n.warm); i++) {
      if (i < n.cold) {
        if (i > 0) appendFileSync(path.join(copy, 'workflows', 'definitions.ts'), `// bench: cold start ${i}\n`);
        newDataDir();
        await run('cold');
      }
      if (i < n.fresh) {
        newDataDir();
        await run('fresh data dir');
      }
      await run('warm');
    }
    const bootstrapMs = timeCommand(copy, ['bash', 'scripts/bootstrap.sh'], n.warm);
    const provisionMs = timeCommand(copy, ['bash', 'scripts/provision-temporal.sh'], n.warm);
    const cases = (Object.keys(results) as StartCase['case'][]).map((c): StartCase => {
      const ms = results[c].map((r) => r.ms);
      return { case: c, includes: INCLUDES[c], runs: ms.length, medianMs: median(ms), minMs: Math.min(...ms), maxMs: Math.max(...ms), lines: median(results[c].map((r) => r.lines.length)) };
    });
    const warm = cases.find((c) => c.case === 'warm');
    opts.log(`start: warm median ${((warm?.medianMs ?? NaN) / 1000).toFixed(2)} s; bootstrap.sh alone ${bootstrapMs.toFixed(0)} ms, provision-temporal.sh alone ${provisionMs.toFixed(0)} ms`);
    return {
      cases,
      bootstrapMs,
      provisionMs,
      warmOutput: results.warm[results.warm.length - 1]?.lines ?? [],
      targetWarmMs: TARGET_WARM_MS,
      warmMet: (warm?.medianMs ?? Infinity) < TARGET_WARM_MS,
      loadAverage,
    };
  } finally {
    for (const pid of listProcesses().filter((p) => p.pid !== process.pid && p.argv.some((a) => a.includes(tmp))).map((p) => p.pid)) signal([pid], 'SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  benchStart({ quick: Boolean(values.quick), log: (l) => console.log(`bench: ${l}`) })
    .then((f) => console.log(JSON.stringify(f, null, 2)))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
