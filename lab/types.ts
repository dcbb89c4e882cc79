// The lab's simulated production state (kept in <labDir>/state.json). Pure types: the simulated tools
// load this module at every invocation, so it must stay free of runtime dependencies.

export type UnitActive = 'active' | 'inactive' | 'failed';

export interface UnitState {
  active: UnitActive;
  enabled: boolean;
  /** `systemctl start` (and the clean scripts) fail to start this unit. */
  failStart?: boolean;
  /** The unit starts "successfully" but is found `failed` right afterwards. */
  crashAfterStart?: boolean;
}

export interface FileEntry {
  type: 'file' | 'dir';
  /** `user:group` */
  owner: string;
  content?: string;
}

export interface NodeState {
  /** Loopback address/port of this node's sshd (filled in by labUp). */
  address: string;
  port: number;
  units: Record<string, UnitState>;
  /** Simulated file tree: absolute normalized path -> entry. */
  files: Record<string, FileEntry>;
  /** When set, only these tools exist on the node (others: "No such file or directory", exit 127). */
  tools?: string[];
}

export type SrvRole = 'main' | 'slave';
export type ReplState = 'ok' | 'replfailed' | 'stopped';

export interface Srv {
  /** Full srv name `<service>.<host>.<instance>`. */
  name: string;
  addr: string;
  status: 'alive' | 'dead';
  role: SrvRole;
  lastseen?: string;
  /** Replication health of this srv (not printed by `ic map`; repaired by the clean scripts). */
  repl: ReplState;
}

export interface IcBlock {
  node: string;
  buckets: number;
  srvs: Srv[];
}

export type AutoflipState = 'enable' | 'disable' | 'blocked';

export interface IcMap {
  kind: 'kust' | 'tarantool';
  /** spaces: the KUST example; tabs: the Tarantool example; wide: the autoflip example (double spaces). */
  style: 'spaces' | 'tabs' | 'wide';
  /** Header line; absent: no header (as in the KUST/Tarantool examples). */
  autoflip?: AutoflipState;
  /** `[ALERT]` on the header line instead of wrapped onto the next line. */
  alertOnSameLine?: boolean;
  /** `ic set_autoflip <map> enable` also brings dead srvs back alive (as in the original's example). */
  reviveOnEnable?: boolean;
  blocks: IcBlock[];
}

export interface MysqlInstance {
  pod: string;
  port: number;
  /** '' master (unmarked line), '+' working replica, '-' broken replica. */
  marker: '' | '+' | '-';
  lag: string;
  status: string;
  rw: 'rw' | 'ro';
  errant: boolean;
  /** Extra tokens after GTID (e.g. P-GTID, semi:master, downtimed). */
  extras: string[];
  /** Indentation level (replica of a replica: 1). */
  depth: number;
  /** How many `--orch-fix-errants` calls leave the errant flag in place (0: the first clears it). */
  errantFixFailures: number;
  errantFixCalls: number;
}

export interface PodReup {
  instance: string;
  startedAt: number;
  calls: number;
}

export interface PodState {
  name: string;
  ready: string;
  status: string;
  restarts: number;
  /** Static AGE text; when createdAt is set AGE is computed from it. */
  age: string;
  createdAt?: number;
  reup?: PodReup;
}

export interface MysqlCluster {
  instances: MysqlInstance[];
  pods: PodState[];
}

export interface MysqlState {
  version: string;
  reup: {
    /** call: one pod phase per `kubectl get po` in the namespace; time: one phase per secondsPerPhase. */
    advance: 'call' | 'time';
    secondsPerPhase: number;
    /** Pod stays in this phase forever: Pending | Init:0/2 | 2/5 | CrashLoopBackOff. */
    stuckAt?: string;
    /** The replica becomes `+ ... ok` once its pod is 5/5 Running. */
    heals: boolean;
  };
  clusters: Record<string, MysqlCluster>;
}

export interface CtlrNode {
  fqdn: string;
  /** ipros address printed in the topology, e.g. 10.32.88.0:2410 */
  addr: string;
  /** compot_bind host:port from the conf (nc connects to the host part, port 4020). */
  compotBind: string;
  role: 'main' | 'replica';
  /** Replica is receiving data from the main. */
  healthy: boolean;
}

export interface CtlrState {
  instance: string;
  unit: string;
  confPath: string;
  dataPath: string;
  /** Inventory node name -> controller on that node (insertion order = topology order). */
  nodes: Record<string, CtlrNode>;
}

export interface ManticoreNode {
  /** Replication address printed in nodes_view / nodes_set (text only). */
  address: string;
  /** Network partition label: nodes see each other only within one partition. */
  partition: string;
  component: 'primary' | 'non-primary';
  /** grastate.dat fields. */
  seqno: number;
  safeToBootstrap: 0 | 1;
  /** Last committed transaction actually in the node's data (the "recovered position"). */
  recovered: number;
  /** SHOW STATUS polls left that report `joining` before `synced`. */
  joinPolls: number;
  /** gvwstate.dat present (left by a crash / lost quorum; enables Galera's automatic pc.recovery). */
  gvwstate: boolean;
}

export interface ManticoreCluster {
  uuid: string;
  unit: string;
  dataDir: string;
  logPath: string;
  sqlPort: number;
  lastCommitted: number;
  indexes: string[];
  /** SHOW STATUS polls a freshly joined node reports `joining`. */
  joinPolls: number;
  nodes: Record<string, ManticoreNode>;
  /** Bootstraps done in this incident (manticore_new_cluster, pc.bootstrap). */
  bootstraps: number;
  /** Runbook invariant violations observed by the lab (tests assert this stays empty). */
  violations: string[];
}

export interface CommandFault {
  id?: string;
  /** Tool name (e.g. `ic`, `clean_kust_replica.sh`) or `*`. */
  tool: string;
  node?: string;
  /** Matches when argv starts with these elements. */
  argsPrefix?: string[];
  /** Exit 1 with an error message for the first N matching calls. */
  failTimes?: number;
  /** Print this instead of the real output (exit `exitCode`, default 0). */
  output?: string;
  stderr?: string;
  exitCode?: number;
  /** Never exit (until killed or the ssh session goes away). */
  hang?: boolean;
  slowMs?: number;
  /**
   * Print a partial line, then kill the ssh session process (the client sees the connection drop, every
   * channel on it without an exit status). The tool itself goes on, as a real command does when its
   * output is not a pipe to the dead session (the service's journal): with `withEffects` it prints the
   * rest of its real output and exits with its real code; without, it exits 141 (as if SIGPIPE ended it).
   */
  disconnect?: boolean;
  /**
   * Hold the call (before it does anything) until the test releases it: `lab.held(id)` lists held calls,
   * `lab.release(id)` lets them go on normally. Needs `id`. Counted by `times` like the others.
   */
  hold?: boolean;
  /** Text printed before a hang/disconnect (default: the first half of the real output's first line). */
  partial?: string;
  /** Only the first N matching calls are affected (default: all; failTimes implies its own count). */
  times?: number;
  /** hold: let the first N matching calls pass first (holds the call N+1 .. N+times). */
  skip?: number;
  /** output/hang/disconnect: still apply the command's real effect on the state. */
  withEffects?: boolean;
  /** Matching calls seen so far (maintained by the lab). */
  hits?: number;
}

export interface Timing {
  cleanKustMs: number;
  /** The "INFO: waiting 10 seconds" of clean_tnt_replica.sh (default 0 in the lab). */
  cleanTntWaitMs: number;
  imDeployerMs: number;
  imUtilsMs: number;
}

export interface LabState {
  version: 1;
  scenario: string;
  description: string;
  controlNode: string;
  nodes: Record<string, NodeState>;
  /** `ic` maps by map (service) name. */
  maps: Record<string, IcMap>;
  mysql: MysqlState;
  ctlr?: CtlrState;
  manticore: { clusters: Record<string, ManticoreCluster> };
  faults: CommandFault[];
  timing: Timing;
  /** Calls per tool (all nodes). */
  calls: Record<string, number>;
}

export interface CommandLogEntry {
  time: string;
  node: string;
  tool: string;
  argv: string[];
  exitCode: number | null;
  stdin?: string;
  /** Which injected fault shaped this call (failTimes | output | hang | disconnect | slowMs). */
  fault?: string;
  durationMs?: number;
}
