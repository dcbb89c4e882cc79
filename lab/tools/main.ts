// Entry point of every simulated production tool: `node dist/lab/tools/main.js <tool> [args...]`,
// started by the wrapper scripts in <labDir>/bin over a real sshd session. LAB_DIR and LAB_NODE come
// from sshd's SetEnv. Keep this module's import graph small: it is paid on every command.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CommandFault, CommandLogEntry, LabState } from '../types';
import { appendCommandLog, pidAlive, readState, runningToolsDir, withLock, writeState } from '../store';
import type { ToolResult } from './common';
import { TOOLS } from './registry';
import { mysqlNeedsStdin, syncManticoreFiles } from './manticore';

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      return; // EPIPE etc.: the reader is gone
    }
  }
}

function readStdin(firstLineOnly: boolean): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const done = (): void => {
      process.stdin.pause();
      resolve(data);
    };
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      data += chunk;
      if (firstLineOnly && data.includes('\n')) done();
    });
    process.stdin.on('end', done);
    process.stdin.on('error', done);
  });
}

function procStat(pid: number): { comm: string; ppid: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const ppid = Number(s.slice(close + 2).split(' ')[1]);
    return { comm, ppid };
  } catch {
    return undefined;
  }
}

/** The sshd process serving this command's session (not the listener). */
function sshSessionPid(): number | undefined {
  let pid = process.ppid;
  for (let i = 0; i < 12 && pid > 1; i++) {
    const st = procStat(pid);
    if (!st) return undefined;
    if (st.comm === 'sshd') {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmd.includes('@') || cmd.includes('[priv]') ? pid : undefined;
    }
    pid = st.ppid;
  }
  return undefined;
}

function readlinkSafe(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch {
    return '';
  }
}

/** Whether process pid has a descriptor on `target` (e.g. "pipe:[1234]"). */
function holdsFd(pid: number, target: string): boolean {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkSafe(`/proc/${pid}/fd/${fd}`) === target);
  } catch {
    return false;
  }
}

function resolveNode(dir: string): string | undefined {
  if (process.env.LAB_NODE) return process.env.LAB_NODE;
  // Fallback: the sshd's own address/port from SSH_CONNECTION ("client_ip client_port server_ip server_port").
  const sc = (process.env.SSH_CONNECTION ?? '').split(' ');
  if (sc.length < 4) return undefined;
  try {
    const s = readState(dir);
    return Object.entries(s.nodes).find(([, n]) => n.address === sc[2] && String(n.port) === sc[3])?.[0];
  } catch {
    return undefined;
  }
}

function matches(f: CommandFault, tool: string, node: string, argv: string[]): boolean {
  if (f.tool !== '*' && f.tool !== tool) return false;
  if (f.node && f.node !== node) return false;
  if (f.argsPrefix && !f.argsPrefix.every((a, i) => argv[i] === a)) return false;
  // failTimes: N limits the fault to N calls unless `times` says otherwise.
  const limit = f.times ?? f.failTimes;
  return limit === undefined || (f.hits ?? 0) < limit;
}

interface Plan {
  result: ToolResult;
  fault?: string;
  slowMs: number;
  hang: boolean;
  disconnect: boolean;
  partial: string;
}

function plan(dir: string, node: string, tool: string, argv: string[], stdin: string | undefined): Plan {
  return withLock(dir, () => {
    const raw = fs.readFileSync(path.join(dir, 'state.json'), 'utf8');
    const base = JSON.parse(raw) as LabState;
    const work = JSON.parse(raw) as LabState;
    const now = Date.now();
    const p: Plan = { result: { out: '', code: 0 }, slowMs: 0, hang: false, disconnect: false, partial: '' };
    const nodeSt = base.nodes[node];
    if (!nodeSt) {
      p.result = { out: '', err: `lab: unknown node ${node}\n`, code: 125 };
      return p;
    }
    base.calls[tool] = (base.calls[tool] ?? 0) + 1;
    if (nodeSt.tools && !nodeSt.tools.includes(tool)) {
      writeState(dir, base);
      p.result = { out: '', err: `bash: line 1: ${path.join(dir, 'bin', tool)}: No such file or directory\n`, code: 127 };
      return p;
    }
    // Faults (the hit counters live in the state, so they count across nodes and processes).
    let failing: CommandFault | undefined;
    let shaping: CommandFault | undefined;
    base.faults.forEach((f, idx) => {
      if (f.hold || !matches(f, tool, node, argv)) return;
      f.hits = (f.hits ?? 0) + 1;
      work.faults[idx].hits = f.hits;
      if (f.slowMs) p.slowMs += f.slowMs;
      if (f.failTimes !== undefined && f.hits <= f.failTimes) failing ??= f;
      else if (f.hang || f.disconnect || f.output !== undefined) shaping ??= f;
      if (f.slowMs && !p.fault) p.fault = 'slowMs';
    });
    work.calls = base.calls;

    const handler = TOOLS[tool];
    let real: ToolResult;
    try {
      real = handler({ dir, node, tool, argv, state: work, now, stdin });
    } catch (e) {
      real = { out: '', err: `lab: ${tool} crashed: ${(e as Error).stack ?? String(e)}\n`, code: 70 };
    }
    syncManticoreFiles(work);

    if (failing) {
      p.fault = 'failTimes';
      p.result = { out: '', err: `ERROR: ${tool}: simulated failure (lab fault${failing.id ? ` ${failing.id}` : ''}, call ${failing.hits} of ${failing.failTimes})\n`, code: 1 };
      writeState(dir, base);
      return p;
    }
    if (shaping) {
      const firstLine = real.out.split('\n')[0];
      p.partial = shaping.partial ?? firstLine.slice(0, Math.max(1, Math.floor(firstLine.length / 2)));
      if (shaping.hang) {
        p.fault = 'hang';
        p.hang = true;
      } else if (shaping.disconnect) {
        p.fault = 'disconnect';
        p.disconnect = true;
        p.result = shaping.withEffects ? real : { out: '', code: 141 };
      } else {
        p.fault = 'output';
        p.result = { out: shaping.output ?? '', err: shaping.stderr ?? '', code: shaping.exitCode ?? 0, waitMs: real.waitMs };
      }
      writeState(dir, shaping.withEffects ? work : base);
      return p;
    }
    p.result = real;
    writeState(dir, work);
    return p;
  });
}

/** A matching `hold` fault: its id (the hit is counted), else undefined. */
function holdFault(dir: string, node: string, tool: string, argv: string[]): string | undefined {
  return withLock(dir, () => {
    const s = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as LabState;
    // A hold fault counts every matching call; it holds calls skip+1 .. skip+times.
    const f = s.faults.find((x) => x.hold && x.id && matches({ ...x, times: undefined }, tool, node, argv) && (x.hits ?? 0) < (x.skip ?? 0) + (x.times ?? Infinity));
    if (!f) return undefined;
    f.hits = (f.hits ?? 0) + 1;
    writeState(dir, s);
    return f.hits > (f.skip ?? 0) ? f.id : undefined;
  });
}

/** Blocks until <dir>/run/release/<id> exists; meanwhile <dir>/run/held/<id>.<pid> says who waits. */
async function holdUntilReleased(dir: string, id: string, record: CommandLogEntry): Promise<void> {
  const heldFile = path.join(dir, 'run', 'held', `${id}.${process.pid}`);
  fs.mkdirSync(path.dirname(heldFile), { recursive: true });
  fs.writeFileSync(heldFile, JSON.stringify({ ...record, pid: process.pid }));
  while (!fs.existsSync(path.join(dir, 'run', 'release', id))) await new Promise((r) => setTimeout(r, 50));
  fs.rmSync(heldFile, { force: true });
}

async function main(): Promise<void> {
  const started = Date.now();
  const [tool, ...argv] = process.argv.slice(2);
  const dir = process.env.LAB_DIR;
  if (!dir || !tool) {
    writeAll(2, 'lab tool: LAB_DIR and a tool name are required\n');
    process.exit(125);
  }
  if (!TOOLS[tool]) {
    writeAll(2, `lab tool: unknown tool ${tool}\n`);
    process.exit(127);
  }
  const node = resolveNode(dir) ?? 'unknown';
  const record: CommandLogEntry = { time: new Date(started).toISOString(), node, tool, argv, exitCode: null };
  const runFile = path.join(runningToolsDir(dir), String(process.pid));
  try {
    fs.mkdirSync(runningToolsDir(dir), { recursive: true });
    fs.writeFileSync(runFile, JSON.stringify(record));
  } catch {
    /* best effort */
  }
  let finished = false;
  const finish = (exitCode: number | null, fault?: string): void => {
    if (finished) return;
    finished = true;
    try {
      fs.unlinkSync(runFile);
    } catch {
      /* reaped */
    }
    const entry: CommandLogEntry = { ...record, time: new Date().toISOString(), exitCode, durationMs: Date.now() - started };
    if (fault) entry.fault = fault;
    appendCommandLog(dir, entry);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(sig, () => {
      finish(null, record.fault ?? 'killed');
      process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15));
    });
  }

  const wantsStdin = tool === 'nc' || (tool === 'mysql' && mysqlNeedsStdin(argv)) || (tool === 'cat' && argv.filter((a) => !a.startsWith('-')).length === 0);
  if (wantsStdin) {
    record.stdin = await readStdin(tool === 'nc');
    try {
      fs.writeFileSync(runFile, JSON.stringify(record));
    } catch {
      /* best effort */
    }
  }

  const holdId = holdFault(dir, node, tool, argv);
  if (holdId) {
    record.fault = 'hold';
    await holdUntilReleased(dir, holdId, record);
  }

  const p = plan(dir, node, tool, argv, record.stdin);
  if (p.fault) record.fault = record.fault ? `${record.fault}+${p.fault}` : p.fault;
  const delay = p.slowMs + (p.result.waitMs ?? 0);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));

  if (p.hang || p.disconnect) {
    const session = sshSessionPid();
    if (p.partial) writeAll(1, p.partial);
    if (p.disconnect) {
      await new Promise((r) => setTimeout(r, 100)); // let sshd forward the partial line first
      if (session) process.kill(session, 'SIGKILL');
      // The command itself goes on (see CommandFault.disconnect): its output lands where it is redirected.
      if (p.result.out.startsWith(p.partial)) writeAll(1, p.result.out.slice(p.partial.length));
      if (p.result.err) writeAll(2, p.result.err);
      finish(p.result.code, 'disconnect');
      process.exit(p.result.code);
    }
    // hang: stay until killed, or until the ssh channel that started us is gone. (OpenSSH refuses
    // 'signal' requests for root sessions, so a client can only close the channel: sshd then drops
    // the read end of our stdout pipe, or the whole session process goes away.)
    const outPipe = readlinkSafe('/proc/self/fd/1');
    setInterval(() => {
      if (session === undefined) return;
      if (!pidAlive(session) || (outPipe.startsWith('pipe:') && !holdsFd(session, outPipe))) {
        finish(null, 'hang');
        process.exit(129);
      }
    }, 200);
    return;
  }
  if (p.result.out) writeAll(1, p.result.out);
  if (p.result.err) writeAll(2, p.result.err);
  finish(p.result.code, p.fault);
  process.exit(p.result.code);
}

void main().catch((e: unknown) => {
  writeAll(2, `lab tool: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(70);
});
