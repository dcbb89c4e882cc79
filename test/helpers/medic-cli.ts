/**
 * The compiled `medic` CLI as a child process (`node dist/client/cli.js ...`), pointed at a test's Temporal
 * by the standard TEMPORAL_* settings and at nothing of the caller's environment.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import path from 'node:path';

export const CLI = path.resolve(__dirname, '../../client/cli.js');

/** The caller's environment without any TEMPORAL_* setting (TEMPORAL_CLI, the binary's path, kept) or the CLI's own MEDIC_*, plus `extra`. */
export function temporalEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('TEMPORAL_') && k !== 'TEMPORAL_CLI') delete env[k];
  for (const k of ['MEDIC_CONFIG', 'MEDIC_API_URL', 'MEDIC_TOKEN']) delete env[k];
  return { ...env, ...extra };
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `script args` (default script: the CLI) to its end. */
export function runNode(args: string[], env: NodeJS.ProcessEnv, script = CLI, timeoutMs = 120_000): Promise<Finished> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { env, timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

export interface MedicProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved as they came. */
  output(): string;
  /** The first match of `pattern` in the output; rejects when the process exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (null: ended by a signal) and the signal, once its output is all read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
  /** SIGKILL if still running (clean-up). */
  kill(): void;
}

/** A long-running `medic` command (worker, api). */
export function spawnMedic(args: string[], env: NodeJS.ProcessEnv): MedicProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const listeners = new Set<() => void>();
  const collect = (b: Buffer) => {
    out += b.toString();
    for (const l of listeners) l();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    output: () => out,
    exited,
    running,
    kill: () => {
      if (running()) child.kill('SIGKILL');
    },
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const stopWaiting = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        const check = () => {
          const m = pattern.exec(out);
          if (!m) return;
          stopWaiting();
          resolve(m);
        };
        const fail = (why: string) => {
          stopWaiting();
          reject(new Error(`${why} ${pattern}; output:\n${out}`));
        };
        const timer = setTimeout(() => fail(`nothing matched within ${timeoutMs} ms:`), timeoutMs);
        listeners.add(check);
        void exited.then(({ code, signal }) => listeners.has(check) && fail(`exited (${code ?? signal}) before`));
        check();
      }),
  };
}
