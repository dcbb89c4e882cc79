/**
 * Facts about local processes, read from Linux's /proc: whether a pid is still the process we mean
 * (its start time and command line, so a reused pid is not mistaken for it) and which processes hold
 * the socket listening on a TCP port. Read-only; used by the embedded dev server's lifecycle.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** One letter: R, S, D, Z (zombie: dead, not yet reaped), ... */
  state: string;
  /** Clock ticks after boot at which it started (field 22 of /proc/<pid>/stat): with the pid, a unique name. */
  startTime: number;
  argv: string[];
}

/** The process with this pid, or undefined when there is none. */
export function processInfo(pid: number): ProcessInfo | undefined {
  let stat: string;
  let cmdline: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ..." where comm may hold spaces and parentheses: fields follow the last ")".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    state: fields[0],
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    startTime: Number(fields[19]),
    argv: cmdline.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1),
  };
}

/**
 * Alive or still exiting and, when startTime is given, still the same process. /proc shows a process's
 * main thread as a zombie while its other threads are still exiting and still hold its files and
 * sockets (seen with a SIGKILLed Temporal server: "Z", 2 tasks, its port still listening): it is gone
 * only as a zombie with no other thread left.
 */
export function isRunning(pid: number, startTime?: number): boolean {
  const p = processInfo(pid);
  if (p === undefined || (startTime !== undefined && p.startTime !== startTime)) return false;
  if (p.state !== 'Z') return true;
  try {
    return readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return false;
  }
}

/** Every process there is now. */
export function listProcesses(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = processInfo(Number(name));
    if (p) out.push(p);
  }
  return out;
}

/** Sends the signal to each pid (a negative one: that process group); one already gone is skipped. */
export function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone already */
    }
  }
}

/** Polls until the process is gone (or a zombie); false when it is still running after timeoutMs. */
export async function waitUntilGone(pid: number, timeoutMs: number, startTime?: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid, startTime)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Inodes of the sockets listening on this TCP port (any address, IPv4 or IPv6). */
export function listeningSocketInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      if (parseInt(f[1].slice(f[1].lastIndexOf(':') + 1), 16) === port) inodes.add(f[9]);
    }
  }
  return inodes;
}

function holdsSocket(pid: number, inodes: Set<string>): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      return m !== null && inodes.has(m[1]);
    } catch {
      return false;
    }
  });
}

/** Whether this process holds the socket listening on the port (so it, not another process, answers there). */
export function listensOn(pid: number, port: number): boolean {
  const inodes = listeningSocketInodes(port);
  return inodes.size > 0 && holdsSocket(pid, inodes);
}

/** The processes holding the socket listening on the port (empty when nobody listens or /proc hides them). */
export function listenersOf(port: number): ProcessInfo[] {
  const inodes = listeningSocketInodes(port);
  if (!inodes.size) return [];
  return listProcesses().filter((p) => holdsSocket(p.pid, inodes));
}

/** The given processes and every live process below them (children in any process group, theirs, ...). */
export function descendantsOf(roots: number[], procs: ProcessInfo[] = listProcesses()): number[] {
  const alive = procs.filter((p) => p.state !== 'Z');
  const out = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of alive) {
      if (!out.has(p.pid) && out.has(p.ppid)) {
        out.add(p.pid);
        grew = true;
      }
    }
  }
  return [...out];
}

/** CPU seconds (user + system, with its reaped children) a process has used; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14-17 of /proc/<pid>/stat (utime, stime, cutime, cstime), in clock ticks of 1/100 s.
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return 0;
  }
}
