// Shared state file, its lock and the command log. Used by the simulated tools (one short-lived node
// process per command, possibly several at once from different nodes) and by the lab handle.
// Only node built-ins here: this is on every tool invocation's start-up path.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CommandLogEntry, LabState } from './types';

export const STATE_FILE = 'state.json';
const LOCK_DIR = 'state.lock';
const STALE_LOCK_MS = 15_000;
const LOCK_TIMEOUT_MS = 30_000;

export function statePath(dir: string): string {
  return path.join(dir, STATE_FILE);
}
export function commandLogPath(dir: string): string {
  return path.join(dir, 'log', 'commands.jsonl');
}
export function runningToolsDir(dir: string): string {
  return path.join(dir, 'run', 'tools');
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
export function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** Runs fn while holding <dir>/state.lock (an atomically created directory; retried; stale locks broken). */
export function withLock<T>(dir: string, fn: () => T): T {
  const lock = path.join(dir, LOCK_DIR);
  const started = Date.now();
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        const st = fs.statSync(lock);
        if (Date.now() - st.mtimeMs > STALE_LOCK_MS) {
          fs.rmdirSync(lock);
          continue;
        }
      } catch {
        continue; // released meanwhile
      }
      if (Date.now() - started > LOCK_TIMEOUT_MS) throw new Error(`lab: timed out waiting for ${lock}`);
      sleepSync(1 + Math.floor(Math.random() * 4));
    }
  }
  try {
    return fn();
  } finally {
    try {
      fs.rmdirSync(lock);
    } catch {
      /* already broken as stale */
    }
  }
}

export function readState(dir: string): LabState {
  return JSON.parse(fs.readFileSync(statePath(dir), 'utf8')) as LabState;
}

/** Atomic replace (write a temporary file, rename). Call under the lock. */
export function writeState(dir: string, state: LabState): void {
  const tmp = `${statePath(dir)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 1));
  fs.renameSync(tmp, statePath(dir));
}

/** Read-modify-write under the lock. */
export function updateState<T>(dir: string, fn: (s: LabState) => T): T {
  return withLock(dir, () => {
    const s = readState(dir);
    const r = fn(s);
    writeState(dir, s);
    return r;
  });
}

/** One JSON line per finished command (a single O_APPEND write, so concurrent writers do not interleave). */
export function appendCommandLog(dir: string, entry: CommandLogEntry): void {
  fs.mkdirSync(path.dirname(commandLogPath(dir)), { recursive: true });
  fs.appendFileSync(commandLogPath(dir), JSON.stringify(entry) + '\n');
}

export function readCommandLog(dir: string): CommandLogEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(commandLogPath(dir), 'utf8');
  } catch {
    return [];
  }
  const out: CommandLogEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as CommandLogEntry);
    } catch {
      /* a torn line from a killed writer: skip */
    }
  }
  return out;
}

/** true when pid exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export function pidCmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/**
 * Tool processes that died without writing their log line (SIGKILL, e.g. a killed hang): turn their
 * run/tools/<pid> start record into a log line with exitCode null.
 */
export function reapDeadTools(dir: string): void {
  const rd = runningToolsDir(dir);
  let names: string[];
  try {
    names = fs.readdirSync(rd);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    if (pidAlive(pid) && pidCmdline(pid).includes('tools/main.js')) continue;
    const file = path.join(rd, name);
    let rec: CommandLogEntry | undefined;
    try {
      rec = JSON.parse(fs.readFileSync(file, 'utf8')) as CommandLogEntry;
      fs.unlinkSync(file);
    } catch {
      continue; // the tool finished (and logged) meanwhile
    }
    appendCommandLog(dir, { ...rec, time: new Date().toISOString(), exitCode: null, fault: rec.fault ?? 'killed' });
  }
}
