/**
 * The embedded Temporal: `temporal server start-dev` with a SQLite file, so runs survive a restart,
 * the Web UI, and the project's search attributes registered.
 *
 * Its lifecycle: the data dir is taken first (worker/keeper.ts: one service per data dir, the server
 * dies with the service); a server a crashed start left running on this SQLite file (its pid file with
 * its start time, checked against /proc/<pid>/stat and cmdline) is stopped, with one line saying so; a port held by any other
 * process is refused before anything starts; the server is used only once it answers and holds the
 * port itself; and when it exits later, `exited` says so (with its status and its last log lines).
 */
import { closeSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ConnectionOptions } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';
import { DataDirLock, describeExit, ExitStatus, forgetServer, lockDataDir, recordedServer } from './keeper';
import { isRunning, listenersOf, listensOn, processInfo, signal, waitUntilGone } from './proc';

export interface DevServerOptions {
  cli: string;
  dataDir: string;
  /** gRPC port (default 7233) and Web UI port (default 8233); 0 = no UI. */
  port?: number;
  uiPort?: number;
  ip?: string;
  namespace?: string;
  /** Search attributes registered at start (name -> type): default SEARCH_ATTRIBUTES; {} for none, as on a bare cluster before `medic setup`. */
  searchAttributes?: Readonly<Record<string, string>>;
  /** Server dynamic config values (`--dynamic-config-value K=V`), e.g. system.enableActivityEagerExecution: true; over DEV_SERVER_DYNAMIC_CONFIG. */
  dynamicConfig?: Record<string, string | number | boolean>;
  /** SQLite pragmas of the server's database file (`--sqlite-pragma K=V`), over DEV_SERVER_SQLITE_PRAGMA. */
  sqlitePragma?: Record<string, string>;
  /** More arguments for `temporal server start-dev` (e.g. `--metrics-port N` to read the server's persistence metrics). */
  extraArgs?: string[];
  /** One line per fact worth telling (a stale server stopped, a wait); default: console.log with "medic: ". */
  notice?: (line: string) => void;
  /** Called once the server process is started, while it boots (about a second): the time to load the rest. */
  booting?: () => void;
}

export interface ServerExit {
  /** After stop(); otherwise the server went away under the service. */
  expected: boolean;
  status: ExitStatus;
  /** For an unexpected exit: what happened, with the last lines of temporal.log. */
  message: string;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  pid: number;
  /** Settles when the server is gone. */
  exited: Promise<ServerExit>;
  stop(): Promise<void>;
}

/** A start-up refusal or failure whose message says what to do; printed without a stack. */
export class DevServerError extends Error {}

/**
 * Server settings the embedded server runs with unless `dynamicConfig` / `sqlitePragma` say otherwise
 * (measured with and without: `npm run bench`, whose variants take them away, and one by one with
 * test/bench/timeline.ts):
 *   - history.timerProcessorMaxTimeShift: a new timer due sooner than now + this shift is moved to that
 *     point (a guard against clock skew between history hosts); the server's 1 s default made every short
 *     wait fire about 990 ms late. One process and one clock here: 1 ms.
 *   - system.forceSearchAttributesCacheRefreshOnRead: the CLI turns it on so that search attributes added
 *     at run time are visible at once, at the price of a read of the cluster metadata and the namespace
 *     from SQLite for every start, upsert and visibility task (17 of the 51 persistence calls of a
 *     kust-replica run). This service registers its three at start (--search-attribute), before any
 *     cache is filled, and never adds any later.
 *   - system.enableActivityEagerExecution (off by default in this server version): an activity the
 *     workflow task schedules comes back in the answer to that task's completion, when the worker has a
 *     free slot, instead of a transfer task, matching and a poll (ACTIVITY_TASK_SCHEDULED -> STARTED
 *     5-30 ms -> 0). Still an ordinary activity: recorded, heartbeats, timeouts and retries (on any
 *     worker) as before; not a local activity.
 *   - history.transferProcessorMaxPollRPS: the history service reads its new transfer tasks (a workflow
 *     task after an activity completed) from SQLite at most this often per shard; the server's 20 made a
 *     step wait up to 50 ms for the next read (the 50 ms steps in the per-run times). One shard, one
 *     process: 200, a read at most 5 ms late (7 December, kust-replica one at a time p50 68-163 -> 85 ms;
 *     300 tarantool-replica runs at once 47.2 s against 47.8 s, the kust-replica soak 17.4-18.6 against
 *     18.4-19.9 runs/s, the server idle at 3 % either way). At 1000, the 300 runs took 63 s (45.6 s at 20).
 *     history.timerProcessorMaxPollRPS stays at the server's 20, so a durable wait ends up to ~100 ms late:
 *     at 1000 every 1 ms wait took 3 ms instead of ~100, but the server then re-read its timer queue all the
 *     time, 21-25 % of a core with nothing running (12 % at 100), and the soak fell to 15-16 runs/s.
 *     A cluster (deploy/cluster) keeps the server's default: there it bounds the database reads of many shards.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, string | number | boolean>> = {
  'system.enableActivityEagerExecution': true,
  'history.timerProcessorMaxTimeShift': '1ms',
  'system.forceSearchAttributesCacheRefreshOnRead': false,
  'history.transferProcessorMaxPollRPS': 200,
};
/**
 * journal_mode=WAL: a commit appends to the write-ahead log and syncs it once, instead of the rollback
 * journal's write, sync, write, sync, delete; `synchronous` stays FULL (the SQLite default), so a commit
 * the server answered is on disk, as before, through a crash of the process or of the machine.
 */
export const DEV_SERVER_SQLITE_PRAGMA: Readonly<Record<string, string>> = { journal_mode: 'wal' };

const START_TIMEOUT_MS = 60_000;
const STALE_GRACE_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `<any temporal CLI> server start-dev ... --db-filename <db> ...`, as startDevServer runs it. */
function isServerOn(argv: string[], db: string): boolean {
  return argv[1] === 'server' && argv[2] === 'start-dev' && argv[argv.indexOf('--db-filename') + 1] === db;
}

/**
 * The server an earlier start recorded, if it is still there (same pid and start time): running, it is
 * stopped (TERM, KILL after the grace period); already exiting (its keeper died first; /proc then shows
 * no command line), it is waited for, so its ports are free once this returns.
 */
async function stopStaleServer(dataDir: string, db: string, notice: (line: string) => void): Promise<void> {
  const rec = recordedServer(dataDir);
  const p = rec && isRunning(rec.pid, rec.startTime) ? processInfo(rec.pid) : undefined;
  if (p && (p.argv.length === 0 || isServerOn(p.argv, db))) {
    if (p.argv.length) notice(`a Temporal dev server left by an earlier start is still running on ${db} (pid ${p.pid}): stopping it`);
    signal([p.pid], 'SIGTERM');
    if (!(await waitUntilGone(p.pid, STALE_GRACE_MS, p.startTime))) {
      signal([p.pid], 'SIGKILL');
      if (!(await waitUntilGone(p.pid, 5_000, p.startTime))) throw new DevServerError(`the Temporal dev server left by an earlier start (pid ${p.pid}) does not stop, even after SIGKILL`);
    }
  }
  forgetServer(dataDir);
}

async function assertPortFree(ip: string, port: number, role: string): Promise<void> {
  const inUse = await new Promise<boolean>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(true) : reject(err)));
    probe.listen({ host: ip, port, exclusive: true }, () => probe.close(() => resolve(false)));
  });
  if (!inUse) return;
  const holders = listenersOf(port).map((p) => `pid ${p.pid} (${p.argv.join(' ').slice(0, 100)})`);
  throw new DevServerError(
    `port ${port} on ${ip} (${role}) is already in use${holders.length ? ` by ${holders.join(', ')}` : ''}; ` +
      'the service uses only a Temporal server it started itself: stop that process or choose another port',
  );
}

/** The lines the server wrote to its log since `from` (a byte offset), the last `max` of them. */
function logTail(file: string, from: number, max = 10): string {
  let text = '';
  try {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const start = Math.max(from, size - 16_384);
      const buf = Buffer.alloc(Math.max(0, size - start));
      readSync(fd, buf, 0, buf.length, start);
      text = buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    /* no log: said below */
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '').slice(-max);
  return lines.length ? `the last lines of ${file}:\n${lines.map((l) => `    ${l}`).join('\n')}` : `${file} has nothing from this server`;
}

/**
 * Until the frontend answers GetSystemInfo (the port accepts connections a moment before the frontend
 * serves: calls then fail with "Frontend is not healthy yet", seen on a fresh SQLite file under load).
 * False when the server exited meanwhile. `tls`: the connection's TLS options (a cluster node with mTLS).
 */
export async function waitUntilServing(address: string, alive: () => boolean, timeoutMs: number, tls?: ConnectionOptions['tls']): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  // Loaded here, after the server was started (the client library takes a few hundred ms to load).
  const { Connection } = await import('@temporalio/client');
  for (;;) {
    if (!alive()) return false;
    try {
      const c = await Connection.connect({ address, connectTimeout: 2_000, tls });
      try {
        await c.workflowService.getSystemInfo({});
        return true;
      } finally {
        await c.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`the Temporal server at ${address} was not healthy within ${timeoutMs} ms: ${err instanceof Error ? err.message : String(err)}`);
      await sleep(100);
    }
  }
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port ?? 7233;
  const uiPort = opts.uiPort ?? 8233;
  const notice = opts.notice ?? ((line: string) => console.log(`medic: ${line}`));
  const dataDir = path.resolve(opts.dataDir);
  const db = path.join(dataDir, 'temporal.sqlite');
  const logFile = path.join(dataDir, 'temporal.log');
  const args = [
    'server', 'start-dev',
    '--db-filename', db,
    '--ip', ip,
    '--port', String(port),
    '--namespace', opts.namespace ?? 'default',
    '--log-level', 'warn',
    ...Object.entries(opts.searchAttributes ?? SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
    ...(uiPort ? ['--ui-ip', ip, '--ui-port', String(uiPort)] : ['--headless']),
    ...Object.entries({ ...DEV_SERVER_DYNAMIC_CONFIG, ...opts.dynamicConfig }).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${JSON.stringify(v)}`]),
    ...Object.entries({ ...DEV_SERVER_SQLITE_PRAGMA, ...opts.sqlitePragma }).flatMap(([k, v]) => ['--sqlite-pragma', `${k}=${v}`]),
    ...(opts.extraArgs ?? []),
  ];
  mkdirSync(dataDir, { recursive: true });
  const log = openSync(logFile, 'a');
  let lock: DataDirLock | undefined;
  let pid = 0;
  let logFrom = 0;
  try {
    lock = await lockDataDir(dataDir, { output: log, notice, server: [opts.cli, ...args] });
    const keeper = lock;
    await stopStaleServer(dataDir, db, notice);
    await assertPortFree(ip, port, 'Temporal gRPC');
    if (uiPort) await assertPortFree(ip, uiPort, 'Temporal Web UI');
    logFrom = fstatSync(log).size;
    pid = await keeper.run();
    opts.booting?.();
    const serving = await waitUntilServing(`${ip}:${port}`, keeper.running, START_TIMEOUT_MS).catch((err: Error) => {
      throw new DevServerError(`${err.message}; ${logTail(logFile, logFrom)}`);
    });
    if (!serving || !keeper.running()) {
      throw new DevServerError(`the Temporal dev server (pid ${pid}) exited during start-up with ${describeExit(await keeper.exited)}; ${logTail(logFile, logFrom)}`);
    }
    if (!listensOn(pid, port)) throw new DevServerError(`port ${port} on ${ip} answered, but not from the Temporal dev server this service started (pid ${pid}); the service uses no server it did not start`);
  } catch (err) {
    await lock?.kill();
    throw err;
  } finally {
    closeSync(log); // the keeper and the server have their own
  }

  const keeper = lock;
  let stopping = false;
  return {
    address: `${ip}:${port}`,
    uiUrl: uiPort ? `http://${ip}:${uiPort}` : undefined,
    pid,
    exited: keeper.exited.then((status) => ({
      expected: stopping,
      status,
      message: stopping ? 'stopped' : `the Temporal dev server (pid ${pid}) exited unexpectedly with ${describeExit(status)}; ${logTail(logFile, logFrom)}`,
    })),
    stop: async () => {
      stopping = true;
      await keeper.release();
    },
  };
}
