/**
 * Scripted hosts for sequencing tests: the activities record every command with the test server's
 * (skipped) clock and answer from a script, so a test asserts the exact commands and the simulated
 * time between them. The real SSH path is covered by the lab integration tests.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities, ExecResult, Notification, RunCommandRequest } from '../../activities';

export interface Call {
  host: string;
  /** argv joined with spaces, e.g. "ic map cox". */
  line: string;
  /** Test-server time (ms) when the command ran. */
  at: number;
  /** What the command got on its standard input, if anything. */
  stdin?: string;
  /** A changing command's journal key (activities/journal.ts). */
  journal?: string;
}

export type Reply = Partial<Pick<ExecResult, 'exitCode' | 'stdout' | 'stderr' | 'disconnected' | 'timedOut' | 'recovered'>> | Error;

/**
 * Whole simulated seconds between two commands. The test server's clock also runs in real time while a
 * task is in flight, so a loaded machine only ever adds to a gap (a 10 s wait read 11.2 s at load 10);
 * what a runbook waits is whole seconds, so the fraction is that noise, not a wait.
 */
export const simSeconds = (ms: number): number => Math.floor((ms + 50) / 1000);

export class FakeHosts {
  readonly calls: Call[] = [];
  readonly notifications: Notification[] = [];
  private script = new Map<string, Reply[]>();

  constructor(private readonly env: TestWorkflowEnvironment) {}

  /** Replies for a command line prefix (e.g. "ic map cox", or "vkt03: cat /x" for one host), used in order; the last one repeats. */
  on(prefix: string, ...replies: Reply[]): this {
    this.script.set(prefix, replies);
    return this;
  }

  private reply(line: string, host: string): Reply {
    const matches = (k: string, l: string) => l === k || l.startsWith(`${k} `);
    const key = [...this.script.keys()].filter((k) => matches(k, line) || matches(k, `${host}: ${line}`)).sort((a, b) => b.length - a.length)[0];
    if (key === undefined) return { exitCode: 127, stderr: `fake host: no script for ${line}` };
    const replies = this.script.get(key) as Reply[];
    return replies.length > 1 ? (replies.shift() as Reply) : replies[0];
  }

  activities(): Activities {
    return {
      runCommand: async (req: RunCommandRequest): Promise<ExecResult> => {
        const line = req.argv.join(' ');
        this.calls.push({ host: req.host, line, at: await this.env.currentTimeMs(), stdin: req.stdin, ...(req.journal ? { journal: req.journal } : {}) });
        const r = this.reply(line, req.host);
        if (r instanceof Error) throw r;
        return {
          host: req.host,
          command: req.argv.map((a) => `'${a}'`).join(' '),
          exitCode: r.exitCode === undefined ? 0 : r.exitCode,
          signal: null,
          stdout: r.stdout ?? '',
          stderr: r.stderr ?? '',
          truncated: false,
          disconnected: r.disconnected ?? false,
          timedOut: r.timedOut ?? false,
          durationMs: 1,
          ...(r.recovered ? { recovered: r.recovered } : {}),
        };
      },
      notify: async (n: Notification) => {
        this.notifications.push(n);
        return { delivered: true };
      },
    };
  }

  /** Commands as "host: line". */
  get sequence(): string[] {
    return this.calls.map((c) => `${c.host}: ${c.line}`);
  }

  /** Simulated seconds between consecutive commands. */
  get gapsSeconds(): number[] {
    return this.calls.slice(1).map((c, i) => simSeconds(c.at - this.calls[i].at));
  }
}
