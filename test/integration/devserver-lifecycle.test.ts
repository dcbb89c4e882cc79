/**
 * The embedded Temporal dev server's lifecycle, with real processes: `node dist/worker/main.js --config
 * <file>` (as `npm start` runs it) on free ports and its own data dir, killed the ways a machine kills
 * it. The server dies with the service, a server left by a crash is found and stopped, one data dir
 * serves one service, a port held by someone else is refused, a server that dies stops the service,
 * and after a crash of everything the next start works on the same SQLite file with the runs intact.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import YAML from 'yaml';
import { labUp, LabHandle } from '../../lab/lab';
import { temporalBinaries } from '../../worker/binaries';
import { isRunning, listProcesses, processInfo, ProcessInfo, signal as kill } from '../../worker/proc';
import type { RunResult } from '../../workflows/definitions';
import { recordFigures } from '../helpers/figures';
import { freePort } from '../helpers/service';

const MAIN = path.resolve(__dirname, '..', '..', 'worker', 'main.js');
const READY = /Ctrl-C stops/;

let lab: LabHandle;
const dirs: string[] = [];
const figures: Record<string, number> = {};

before(async () => {
  lab = await labUp({ scenario: 'kust-replfailed', extraConfig: { approvals: { 'kust-replica': { clean: 'approve' } } } });
});

after(async () => {
  for (const d of dirs) killEverythingOf(d);
  await lab.down();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  recordFigures('lifecycle', figures);
});

/** A place for one service: its config (the lab's, with service.dataDir here) and its data dir. */
function newPlace(): { dir: string; dataDir: string; configPath: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medic-lifecycle-'));
  dirs.push(dir);
  const dataDir = path.join(dir, 'data');
  const configPath = path.join(dir, 'medic.yaml');
  const config = { ...lab.config, service: { ...(lab.config.service as object), dataDir } };
  writeFileSync(configPath, YAML.stringify(config));
  return { dir, dataDir, configPath };
}

interface Medic {
  child: ChildProcess;
  pid: number;
  /** true: it printed its last start-up line; false: it exited before. */
  ready: Promise<boolean>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  apiUrl(): string;
}

function startMedic(configPath: string, temporalPort: number, uiPort: number): Medic {
  const env: NodeJS.ProcessEnv = { ...process.env, MEDIC_TEMPORAL_PORT: String(temporalPort), MEDIC_UI_PORT: String(uiPort) };
  for (const k of Object.keys(env)) if (/^TEMPORAL_(ADDRESS|NAMESPACE|API_KEY|TLS|PROFILE|CONFIG_FILE)/.test(k)) delete env[k];
  // Its own process group, as `npm start` has in a terminal.
  const child = spawn(process.execPath, [MAIN, '--config', configPath], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise<boolean>((resolve) => {
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      if (READY.test(out)) resolve(true);
    });
    void exited.then(() => resolve(false));
  });
  return {
    child,
    pid: child.pid ?? 0,
    ready: withTimeout(ready, 180_000, 'medic start-up'),
    exited,
    stdout: () => out,
    stderr: () => err,
    apiUrl: () => {
      const m = /medic: API (http:\/\/\S+)/.exec(out);
      if (!m) throw new Error(`no API line in:\n${out}`);
      return m[1];
    },
  };
}

async function startReady(configPath: string, temporalPort: number, uiPort: number): Promise<Medic> {
  const m = startMedic(configPath, temporalPort, uiPort);
  assert.equal(await m.ready, true, `medic did not start:\n${m.stdout()}\n${m.stderr()}`);
  return m;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

/** Live `temporal server start-dev` processes on this data dir's SQLite file. */
function serversOn(dataDir: string): ProcessInfo[] {
  const db = path.join(dataDir, 'temporal.sqlite');
  return listProcesses().filter((p) => isRunning(p.pid) && isTemporalServer(p) && p.argv[p.argv.indexOf('--db-filename') + 1] === db);
}

const isTemporalServer = (p: ProcessInfo) => p.argv[1] === 'server' && p.argv[2] === 'start-dev';

function theServerOn(dataDir: string): ProcessInfo {
  const s = serversOn(dataDir);
  assert.equal(s.length, 1, `one server on ${dataDir}: ${JSON.stringify(s.map((p) => [p.pid, p.argv.join(' ')]))}`);
  return s[0];
}

/** The process and all its descendants. */
function treeOf(pid: number): number[] {
  const procs = listProcesses();
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const p of procs) if (p.ppid === out[i] && p.state !== 'Z') out.push(p.pid);
  return out;
}

/** SIGKILL, all at once, every process of a place: services (--config), helpers and servers (data dir), and their groups. */
function killEverythingOf(dir: string): ProcessInfo[] {
  const procs = listProcesses().filter((p) => p.state !== 'Z' && p.pid !== process.pid && p.argv.some((a) => a.startsWith(dir)));
  const all = [...new Set(procs.flatMap((p) => treeOf(p.pid)))];
  const ownGroup = processInfo(process.pid)?.pgid;
  const groups = [...new Set(procs.map((p) => p.pgid))].filter((g) => g > 1 && g !== ownGroup);
  kill(groups.map((g) => -g), 'SIGKILL');
  kill(all, 'SIGKILL');
  return procs;
}

async function healthz(apiUrl: string): Promise<number> {
  return (await fetch(`${apiUrl}/healthz`)).status;
}

async function api(m: Medic, method: string, urlPath: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${m.apiUrl()}${urlPath}`, {
    method,
    // alice reads, starts and decides (the shared operator token can no longer decide).
    headers: { authorization: `Bearer ${lab.operators.alice.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Until the Temporal frontend on the port answers GetSystemInfo, or the service exited (then its start-up failed). */
function frontendOf(m: Medic, port: number): Promise<number> {
  return until(async () => m.child.exitCode !== null || (await frontendAnswers(port)), 120_000, 'the frontend answers after the restart');
}

async function frontendAnswers(port: number): Promise<boolean> {
  try {
    const c = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 1000 });
    try {
      await c.withDeadline(Date.now() + 1000, () => c.workflowService.getSystemInfo({}));
      return true;
    } finally {
      await c.close();
    }
  } catch {
    return false;
  }
}

test('SIGKILL of the service: its Temporal server is gone within seconds, and a start right after works on the same data dir', async () => {
  const place = newPlace();
  const [port, uiPort] = [await freePort(), await freePort()];
  const t0 = Date.now();
  const first = await startReady(place.configPath, port, uiPort);
  figures['service start on a new data dir until its last start-up line (ms)'] = Date.now() - t0;
  const old = theServerOn(place.dataDir);
  process.kill(first.pid, 'SIGKILL');
  await first.exited;
  const t1 = Date.now();
  const second = startMedic(place.configPath, port, uiPort); // at once, as a supervisor restarts it
  figures['server gone after SIGKILL of the service (ms)'] = await until(() => !isRunning(old.pid, old.startTime), 30_000, `server pid ${old.pid} gone after SIGKILL of its service`);
  await frontendOf(second, port); // the old server is gone: only the new one can answer
  const frontendMs = Date.now() - t1;
  assert.equal(await second.ready, true, `the restart failed:\n${second.stdout()}\n${second.stderr()}`);
  figures['restart right after SIGKILL of the service until the frontend answers (ms)'] = frontendMs;
  figures['restart right after SIGKILL of the service until its last start-up line (ms)'] = Date.now() - t1;
  assert.notEqual(theServerOn(place.dataDir).pid, old.pid);
  assert.equal(await healthz(second.apiUrl()), 200);
  process.kill(second.pid, 'SIGTERM');
  assert.deepEqual(await second.exited, { code: 0, signal: null });
  assert.deepEqual(serversOn(place.dataDir), []);
});

test('a start while the crashed service\'s server is still stopping waits for it; a server that ignores TERM is killed after the grace period', async () => {
  const place = newPlace();
  const [port, uiPort] = [await freePort(), await freePort()];
  const first = await startReady(place.configPath, port, uiPort);
  const old = theServerOn(place.dataDir);
  // Freeze the server's keeper and the server: the keeper cannot act on its service's death (and keeps the lock) until thawed.
  process.kill(-old.pgid, 'SIGSTOP');
  process.kill(first.pid, 'SIGKILL');
  await first.exited;
  const second = startMedic(place.configPath, port, uiPort);
  const waiting = new RegExp(`medic: data dir ${place.dataDir} is still locked by the server of an earlier start \\(medic pid ${first.pid}, gone\\): waiting for it to stop\\n`);
  await until(() => waiting.test(second.stdout()), 120_000, 'the second start says it waits');
  assert.ok(isRunning(old.pid, old.startTime));
  // Thaw the keeper only: the server stays stopped, so only the KILL after the grace period can end it.
  kill(listProcesses().filter((p) => p.pgid === old.pgid && p.pid !== old.pid).map((p) => p.pid), 'SIGCONT');
  const t0 = Date.now();
  assert.equal(await second.ready, true, `the second start failed:\n${second.stdout()}\n${second.stderr()}`);
  figures['start waiting for a server that ignores TERM, from the keeper thawed to its last start-up line (ms)'] = Date.now() - t0;
  assert.equal(isRunning(old.pid, old.startTime), false, 'the frozen server was killed');
  assert.notEqual(theServerOn(place.dataDir).pid, old.pid);
  assert.equal(await healthz(second.apiUrl()), 200);
  process.kill(second.pid, 'SIGTERM');
  assert.deepEqual(await second.exited, { code: 0, signal: null });
});

test('a server left by a crash that also took its watchdog is found and stopped by the next start, which then works', async () => {
  const place = newPlace();
  const [port, uiPort] = [await freePort(), await freePort()];
  const first = await startReady(place.configPath, port, uiPort);
  const stale = theServerOn(place.dataDir);
  // Everything of the first service but the server itself dies at once: nobody is left to stop it.
  kill(treeOf(first.pid).filter((pid) => pid !== stale.pid), 'SIGKILL');
  await first.exited;
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(isRunning(stale.pid, stale.startTime), 'the stale server outlived its service');

  const second = await startReady(place.configPath, port, uiPort);
  assert.match(second.stdout(), new RegExp(`medic: a Temporal dev server left by an earlier start is still running on \\S+temporal\\.sqlite \\(pid ${stale.pid}\\): stopping it\\n`));
  assert.equal(isRunning(stale.pid, stale.startTime), false, 'the stale server is stopped');
  const now = theServerOn(place.dataDir);
  assert.notEqual(now.pid, stale.pid);
  assert.equal(await healthz(second.apiUrl()), 200);
  assert.match(second.stdout(), new RegExp(`medic: Temporal embedded at 127\\.0\\.0\\.1:${port}, data in ${place.dataDir}\\n`));
  process.kill(second.pid, 'SIGTERM');
  assert.deepEqual(await second.exited, { code: 0, signal: null });
  assert.deepEqual(serversOn(place.dataDir), []);
});

test('a second service on the same data dir is refused with the data dir and the first pid; the first keeps working', async () => {
  const place = newPlace();
  const first = await startReady(place.configPath, await freePort(), await freePort());
  const server = theServerOn(place.dataDir);

  const second = startMedic(place.configPath, await freePort(), await freePort());
  assert.equal(await second.ready, false, `the second service started:\n${second.stdout()}`);
  const { code } = await second.exited;
  assert.notEqual(code, 0);
  assert.match(second.stderr(), new RegExp(`data dir ${place.dataDir} is in use by medic pid ${first.pid}\\b`));
  assert.doesNotMatch(second.stderr(), /\n\s+at /, 'a clear error, no stack trace');

  assert.deepEqual(serversOn(place.dataDir).map((p) => p.pid), [server.pid], 'the first service keeps its one server');
  assert.equal(await healthz(first.apiUrl()), 200);
  const runs = await api(first, 'GET', '/v1/runs');
  assert.equal(runs.status, 200);
  process.kill(first.pid, 'SIGTERM');
  assert.deepEqual(await first.exited, { code: 0, signal: null });
});

test('a Temporal server the service did not start, on its port: a clear error naming the port, never attached to', async () => {
  const place = newPlace();
  const port = await freePort();
  const foreignDir = path.join(place.dir, 'foreign');
  mkdirSync(foreignDir);
  const foreign = spawn(temporalBinaries().cli, ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error', '--db-filename', path.join(foreignDir, 'x.sqlite')], { stdio: 'ignore' });
  try {
    await until(() => frontendAnswers(port), 60_000, 'the foreign server answers');
    const m = startMedic(place.configPath, port, await freePort());
    assert.equal(await m.ready, false, `it attached to the foreign server:\n${m.stdout()}`);
    const { code } = await m.exited;
    assert.notEqual(code, 0);
    assert.match(m.stderr(), new RegExp(`port ${port} on 127\\.0\\.0\\.1 .*is already in use by pid ${foreign.pid} \\(\\S*temporal server start-dev`));
    assert.doesNotMatch(m.stderr(), /\n\s+at /, 'a clear error, no stack trace');
    assert.deepEqual(serversOn(place.dataDir), [], 'no server of its own left behind');
    assert.equal(foreign.exitCode, null, 'the foreign server is left alone');
  } finally {
    foreign.kill('SIGKILL');
  }
});

test('SIGKILL of the server while the service runs: the service stops loudly, non-zero, with the exit status and the log', async () => {
  const place = newPlace();
  const m = await startReady(place.configPath, await freePort(), await freePort());
  const server = theServerOn(place.dataDir);
  process.kill(server.pid, 'SIGKILL');
  const { code } = await withTimeout(m.exited, 30_000, 'the service exits after its server died');
  assert.equal(code, 1);
  assert.match(m.stderr(), new RegExp(`medic: the Temporal dev server \\(pid ${server.pid}\\) exited unexpectedly with status 137 \\(killed by SIGKILL\\); the last lines of ${place.dataDir}/temporal\\.log`));
  assert.match(m.stderr(), /medic: stopping \(exit code 1\)/);
  assert.deepEqual(serversOn(place.dataDir), []);
});

test('SIGKILL of the whole tree, server included: the next start on the same SQLite file works and the open run is still there', async () => {
  const place = newPlace();
  const [port, uiPort] = [await freePort(), await freePort()];
  const first = await startReady(place.configPath, port, uiPort);
  const started = await api(first, 'POST', '/v1/runs', { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1' } });
  assert.equal(started.status, 201, JSON.stringify(started.json));
  const id = encodeURIComponent('kust-replica/cox-1');
  await until(async () => (await api(first, 'GET', `/v1/runs/${id}`)).json.status === 'awaiting-approval', 60_000, 'the run waits for approval');

  const killed = killEverythingOf(place.dir);
  assert.ok(killed.some(isTemporalServer), 'the server was among the killed');
  await first.exited;
  await until(() => serversOn(place.dataDir).length === 0, 10_000, 'nothing left running');

  const t0 = Date.now();
  const second = startMedic(place.configPath, port, uiPort);
  await frontendOf(second, port);
  const frontendMs = Date.now() - t0;
  assert.equal(await second.ready, true, `the restart failed:\n${second.stdout()}\n${second.stderr()}`);
  figures['restart after SIGKILL of everything until the frontend answers (ms)'] = frontendMs;
  figures['restart after SIGKILL of everything until its last start-up line (ms)'] = Date.now() - t0;

  const run = await api(second, 'GET', `/v1/runs/${id}`);
  assert.equal(run.json.status, 'awaiting-approval', JSON.stringify(run.json));
  assert.equal((await api(second, 'POST', `/v1/runs/${id}/approve`, { by: 'alice' })).status, 200);
  const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
  try {
    const r = (await new Client({ connection }).workflow.getHandle('kust-replica/cox-1').result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
  } finally {
    await connection.close();
  }
  assert.deepEqual(
    lab.log().map((e) => `${e.node}: ${e.tool} ${e.argv.join(' ')}`),
    ['vkt-control-01: ic map cox', 'vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1'],
  );
  process.kill(second.pid, 'SIGTERM');
  assert.deepEqual(await second.exited, { code: 0, signal: null });
  assert.deepEqual(serversOn(place.dataDir), []);
});
