/**
 * The keeper of a data dir: one small `sh`, in its own process group, that
 *   - holds a kernel lock (flock) on <dataDir>/medic.lock for as long as it lives. The kernel drops the
 *     lock when it dies, however it dies, so there is no stale lock to take over after a crash; the lock
 *     file also names the service it keeps the dir for (pid and start time), for the error a second
 *     service gets;
 *   - runs the Temporal server as its child and exits with the server's exit status; the service records
 *     the server (pid and start time) in <dataDir>/temporal.pid, which the keeper removes once the server
 *     is gone (reaped: its sockets are closed);
 *   - blocks reading a pipe whose only writer is the service: EOF (the service exited or was killed, even
 *     by SIGKILL) makes it TERM the server, then KILL its whole group after a grace period.
 * Because the server is the keeper's child its pid is never reused while the keeper lives; because the
 * group is not the service's, Ctrl-C in a terminal reaches only the service, which stops its worker before
 * the server (an activity's result is not lost to a server that already went away).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { isRunning, processInfo, signal } from './proc';

export const LOCK_FILE = 'medic.lock';
export const PID_FILE = 'temporal.pid';

/** The data dir cannot be taken: a running service keeps it, or its lock cannot be had; the message says which. */
export class DataDirError extends Error {}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface DataDirLock {
  /** Starts the server as the keeper's child; resolves with the server's pid. */
  run(): Promise<number>;
  /** The keeper (and so the server, once started) is still there. */
  running(): boolean;
  /** The keeper's end, which carries the server's exit status. */
  exited: Promise<ExitStatus>;
  /** Stops the server (TERM, then KILL after the grace period) and gives up the lock. */
  release(): Promise<ExitStatus>;
  /** SIGKILL for the keeper's group, the server included. */
  kill(): Promise<ExitStatus>;
}

export interface LockOptions {
  /** The server the keeper runs once told to (argv[0] is the executable). */
  server: string[];
  /** File descriptor for the keeper's and the server's output (the server's log). */
  output: number;
  /** Between the server's TERM and the group's KILL (default 10 s). */
  graceSeconds?: number;
  /** One line per fact (waiting for an earlier start's server to stop). */
  notice: (line: string) => void;
}

// $1 lock file, $2 pid file, $3 grace seconds, $4 seconds to wait for a lock still held by a dying keeper;
// the rest is the server's argv. Lines on stdout: "busy", "locked", "pid N"; on stdin: "start", then EOF = stop.
// Passed in the environment, so `ps` shows `sh -c eval "$MEDIC_KEEPER" medic-keeper <lock file> ...`.
const KEEPER = `
unset MEDIC_KEEPER
lock=$1 pidfile=$2 grace=$3 wait=$4
shift 4
exec 3<&0 </dev/null 9>>"$lock"
if ! flock -n 9; then
  echo busy
  flock -w "$wait" 9 || exit 75
fi
echo locked
read cmd <&3 && [ "$cmd" = start ] || exit 0
"$@" >&2 3<&- 9>&- &
srv=$!
echo "pid $srv"
exec 1>&2
{ read _ <&3; kill -TERM "$srv" 2>/dev/null; sleep "$grace"; kill -KILL 0; } 9>&- &
dog=$!
wait "$srv"
code=$?
kill "$dog" 2>/dev/null
rm -f "$pidfile"
exit "$code"
`;

/** A process named so that a reused pid is not mistaken for it. */
export interface ProcessRecord {
  pid: number;
  startTime: number;
}

function readRecord(file: string): ProcessRecord | undefined {
  try {
    const o = JSON.parse(readFileSync(file, 'utf8')) as Partial<ProcessRecord>;
    return Number.isInteger(o.pid) && Number.isInteger(o.startTime) ? (o as ProcessRecord) : undefined;
  } catch {
    return undefined;
  }
}

function writeRecord(file: string, pid: number): void {
  const p = processInfo(pid);
  if (p) writeFileSync(file, `${JSON.stringify({ pid, startTime: p.startTime })}\n`);
}

/** "status 1", "status 137 (killed by SIGKILL)" for a server the keeper reaped; "killed by SIGKILL" for the keeper itself. */
export function describeExit(s: ExitStatus): string {
  if (s.code === null) return `killed by ${s.signal ?? 'a signal'}`;
  const signal = Object.entries(constants.signals).find(([, n]) => s.code === 128 + n)?.[0];
  return `status ${s.code}${signal ? ` (killed by ${signal})` : ''}`;
}

/** The server an earlier start recorded, if any (it may be gone since, or be exiting). */
export function recordedServer(dataDir: string): ProcessRecord | undefined {
  return readRecord(path.join(dataDir, PID_FILE));
}

export function forgetServer(dataDir: string): void {
  rmSync(path.join(dataDir, PID_FILE), { force: true });
}

/**
 * Takes the data dir for this process: resolves once the keeper holds the lock. A lock held for a running
 * service is refused at once (DataDirError naming the dir and its pid); a lock still held by the keeper
 * of a service that is gone (it is stopping that service's server) is waited for.
 */
export function lockDataDir(dataDir: string, opts: LockOptions): Promise<DataDirLock> {
  const grace = opts.graceSeconds ?? 10;
  const lockWait = 2 * grace + 10; // a dying keeper holds the lock at most about `grace` seconds
  const file = path.join(dataDir, LOCK_FILE);
  const pidFile = path.join(dataDir, PID_FILE);
  const child = spawn('/bin/sh', ['-c', 'eval "$MEDIC_KEEPER"', 'medic-keeper', file, pidFile, String(grace), String(lockWait), ...opts.server], {
    detached: true,
    env: { ...process.env, MEDIC_KEEPER: KEEPER },
    stdio: ['pipe', 'pipe', opts.output],
  });
  child.stdin?.on('error', () => undefined); // EPIPE once the keeper is gone: its exit says the rest
  const exited = new Promise<ExitStatus>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    waiters.splice(0).forEach((w) => w());
  });
  void exited.then(() => waiters.splice(0).forEach((w) => w()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const kill = (): Promise<ExitStatus> => {
    if (running()) signalGroup(child, 'SIGKILL');
    return exited;
  };
  /** The next line matching, or undefined when the keeper ended first; `tick` runs every 200 ms meanwhile. */
  const nextLine = async (re: RegExp, tick?: () => void): Promise<RegExpExecArray | undefined> => {
    for (;;) {
      const i = lines.findIndex((l) => re.test(l));
      if (i >= 0) return re.exec(lines.splice(0, i + 1)[i]) ?? undefined;
      if (!running()) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
      tick?.();
    }
  };

  const lock: DataDirLock = {
    running,
    exited,
    kill,
    async run() {
      child.stdin?.write('start\n');
      const m = await nextLine(/^pid (\d+)$/);
      if (!m) throw new Error(`the keeper of ${dataDir} ended before starting the Temporal server (${describeExit(await exited)})`);
      writeRecord(pidFile, Number(m[1]));
      return Number(m[1]);
    },
    async release() {
      if (!running()) return exited;
      child.stdin?.end();
      const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), (grace + 5) * 1000);
      return exited.finally(() => clearTimeout(timer));
    },
  };

  return (async () => {
    let refusal: ProcessRecord | undefined;
    let waitingSaid = false;
    const checkOwner = () => {
      const owner = readRecord(file);
      if (!owner) return;
      if (isRunning(owner.pid, owner.startTime)) {
        refusal = owner;
        signalGroup(child, 'SIGKILL');
      } else if (!waitingSaid) {
        waitingSaid = true;
        opts.notice(`data dir ${dataDir} is still locked by the server of an earlier start (medic pid ${owner.pid}, gone): waiting for it to stop`);
      }
    };
    const first = await nextLine(/^(busy|locked)$/);
    if (first?.[1] === 'busy') {
      checkOwner();
      await nextLine(/^locked$/, checkOwner);
    }
    if (refusal) {
      await exited;
      throw new DataDirError(`data dir ${dataDir} is in use by medic pid ${refusal.pid} (lock ${file}); stop that service first, or give this one another service.dataDir`);
    }
    if (!running()) {
      const status = await exited;
      throw new DataDirError(status.code === 75 ? `data dir ${dataDir}: its lock ${file} is still held after ${lockWait} s by a process that is not a running medic service` : `could not lock data dir ${dataDir} (${describeExit(status)}; see temporal.log there)`);
    }
    writeRecord(file, process.pid);
    return lock;
  })().catch(async (err: unknown) => {
    await kill();
    throw err;
  });
}

/** The keeper leads its own process group: the server and the watchdog are in it. */
function signalGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid) signal([-child.pid], sig);
}
