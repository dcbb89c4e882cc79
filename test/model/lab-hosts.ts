/**
 * Hosts for the model-based tests: the activities run every command through the lab's own tool simulation
 * (lab/tools/registry.ts) on one in-memory LabState, as lab/tools/main.ts does behind sshd, so a repair
 * really changes what the next command reports. The configured tool paths are mapped back to the lab's
 * tool names. Every call is logged with the run that issued it; bootstraps are logged with the position
 * the lab's Galera model started the new primary component from.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Activities, ExecResult, Notification, RunCommandRequest } from '../../activities';
import { commandLine, UnsafeArgumentError } from '../../activities/command-line';
import type { Paths } from '../../config/schema';
import { TOOL_PATH_KEYS } from '../../lab/lab';
import { syncManticoreFiles } from '../../lab/tools/manticore';
import { TOOLS } from '../../lab/tools/registry';
import type { LabState } from '../../lab/types';

export interface LabCall {
  /** The run (workflow ID and run ID) whose activity ran the command. */
  workflowId: string;
  runId: string;
  host: string;
  tool: string;
  argv: string[];
  stdin?: string;
  exitCode: number;
  /** Judged from the command alone (not from the workflow's claim): it changes something on the host. */
  changes: boolean;
}

export interface BootstrapSeen {
  cluster: string;
  uuid: string;
  /** The new primary component's position (the lab's lastCommitted right after the bootstrap). */
  position: number;
  node: string;
  workflowId: string;
}

const SYSTEMCTL_CHANGES = new Set(['start', 'stop', 'restart', 'enable', 'disable']);
const ALWAYS_CHANGES = new Set(['mv', 'cp', 'mkdir', 'chown', 'im_deployer', 'clean_kust_replica.sh', 'clean_tnt_replica.sh', 'manticore_new_cluster']);

/** Whether a command changes something, by the tool and its arguments (SQL: a SET statement). */
export function changesSomething(tool: string, argv: string[], stdin?: string): boolean {
  if (ALWAYS_CHANGES.has(tool)) return true;
  if (tool === 'systemctl') return SYSTEMCTL_CHANGES.has(argv[0]);
  if (tool === 'ic') return argv[0] === 'flip' || argv[0] === 'set_autoflip';
  if (tool === 'im_utils') return argv[0] !== '--check-orch';
  if (tool === 'mysql') return /\bSET\b/i.test(`${stdin ?? ''} ${argv.join(' ')}`);
  return false;
}

export class LabHosts {
  readonly calls: LabCall[] = [];
  readonly bootstraps: BootstrapSeen[] = [];
  readonly notifications: Notification[] = [];
  /** Commands refused for an argument off the allow-list (must stay empty). */
  readonly refused: string[] = [];
  private readonly tools = new Map<string, string>();

  constructor(
    readonly state: LabState,
    paths: Paths,
  ) {
    const byKey = paths as unknown as Record<string, string>;
    for (const [tool, key] of Object.entries(TOOL_PATH_KEYS)) this.tools.set(byKey[key], tool);
  }

  activities(): Activities {
    return {
      runCommand: async (req) => this.run(req),
      notify: async (n) => {
        this.notifications.push(n);
        return { delivered: true };
      },
    };
  }

  private run(req: RunCommandRequest): ExecResult {
    let command: string;
    try {
      command = commandLine(req);
    } catch (err) {
      if (!(err instanceof UnsafeArgumentError)) throw err;
      this.refused.push(`${req.host}: ${err.message}`);
      throw ApplicationFailure.create({ message: err.message, type: 'Ssh:unsafe-argument', nonRetryable: true });
    }
    const exec = Context.current().info.workflowExecution;
    const tool = this.tools.get(req.argv[0]);
    const argv = req.argv.slice(1);
    const r = tool ? this.simulate(req.host, tool, argv, req.stdin, exec?.workflowId ?? '') : { out: '', err: `bash: line 1: ${req.argv[0]}: command not found\n`, code: 127 };
    this.calls.push({ workflowId: exec?.workflowId ?? '', runId: exec?.runId ?? '', host: req.host, tool: tool ?? req.argv[0], argv, stdin: req.stdin, exitCode: r.code, changes: changesSomething(tool ?? '', argv, req.stdin) });
    return { host: req.host, command, exitCode: r.code, signal: null, stdout: r.out, stderr: r.err ?? '', truncated: false, disconnected: false, timedOut: false, durationMs: 1 };
  }

  /** As lab/tools/main.ts: unknown node, missing tool, the handler on the state, the Galera files kept in sync. */
  private simulate(node: string, tool: string, argv: string[], stdin: string | undefined, workflowId: string) {
    const s = this.state;
    if (!s.nodes[node]) return { out: '', err: `lab: unknown node ${node}\n`, code: 125 };
    s.calls[tool] = (s.calls[tool] ?? 0) + 1;
    if (s.nodes[node].tools && !s.nodes[node].tools.includes(tool)) return { out: '', err: `bash: line 1: ${tool}: No such file or directory\n`, code: 127 };
    const before = Object.fromEntries(Object.entries(s.manticore.clusters).map(([c, x]) => [c, x.bootstraps]));
    const r = TOOLS[tool]({ dir: '/nonexistent', node, tool, argv, state: s, now: Date.now(), stdin });
    syncManticoreFiles(s);
    for (const [cluster, c] of Object.entries(s.manticore.clusters)) {
      if (c.bootstraps > before[cluster]) this.bootstraps.push({ cluster, uuid: c.uuid, position: c.lastCommitted, node, workflowId });
    }
    return r;
  }
}
