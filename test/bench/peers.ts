/**
 * The side-by-side peers for the per-step orchestration overhead (issue 11, "Performance", item 2): the
 * same command sequence as a user without the service would run it, against the same lab hosts over
 * real SSH.
 *
 * - `ansibleRun`: an Ansible playbook (one `ansible.builtin.command` task with `argv:` per step), set up
 *   the way a careful user would: pipelining, ControlMaster/ControlPersist, no fact gathering, pinned host
 *   keys. Measured cold (no master connection yet), warm (masters alive), and, optionally, the fixed
 *   start cost of `ansible-playbook` itself (one `meta: noop`, which connects to no host).
 * - `shellRun`: a bash script of plain `ssh` calls (`set -e`), and the same script with
 *   ControlMaster/ControlPersist (cold and warm).
 *
 * Every run counts the calls the lab's bench tools logged (lab/bench-tools.ts) and checks that they are
 * exactly the steps, on the right hosts, in order.
 *
 *   node dist/test/bench/peers.js [--runs 5]     # self-check: a bench lab, both replica sequences, medians
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { BENCH_HOSTS, REPO_ROOT, labUp, type LabHandle } from '../../lab/lab';
import { readBenchLog, resetBench, type BenchToolCall } from '../../lab/bench-tools';

/** One command of a sequence: `host` is an inventory host name of the lab's medic.yaml; argv[0] an absolute path. */
export interface PeerStep {
  host: string;
  argv: string[];
}

/** What a peer needs of the lab's service config (medic.yaml), and what `replicaSequences` reads. */
export interface PeerLabConfig {
  inventory: {
    controlNode: string;
    hosts: Record<string, { address: string; port: number; user?: string; keyFile: string; hostKey?: string }>;
  };
  paths: { ic: string; cleanKustReplica: string; cleanTntReplica: string; systemctl: string };
}

/** One run of a peer. */
export interface PeerRun {
  /** Wall time of the peer's process (ansible-playbook, the bash script), spawn to exit. */
  wallMs: number;
  /** The bench tools' calls logged during the run (host clock), in order. */
  calls: BenchToolCall[];
  /** Run start, epoch ms (the same clock as the calls' startMs/endMs: everything is on this machine). */
  t0Ms: number;
  t1Ms: number;
}

export interface PeerOptions {
  /** Warm runs after the cold one (default 1). */
  warmRuns?: number;
  /** Called before every run, e.g. `() => resetBench(lab.dir)` (the flip leaves a marker). */
  beforeRun?: () => void;
}

export interface AnsibleOptions extends PeerOptions {
  /** Runs of a one-`meta: noop` playbook to measure ansible-playbook's fixed start cost (default 0: not measured). */
  fixedRuns?: number;
  /** `plays` (default): one `hosts:` play per step; `delegate`: one play, each task `delegate_to` its host. */
  layout?: 'plays' | 'delegate';
  /** Keep the generated directory (inventory, ansible.cfg, playbook) and print where it is. */
  keep?: boolean;
}

export interface AnsibleResult {
  /** The cold run's wall time. */
  wallMs: number;
  cold: PeerRun;
  warm: PeerRun[];
  /** Wall times of the `meta: noop` playbook (empty unless opts.fixedRuns). */
  fixedMs: number[];
  /** Calls logged during the cold run (must equal the number of steps). */
  calls: number;
}

export interface ShellResult {
  /** The plain script's wall time. */
  wallMs: number;
  plain: PeerRun;
  controlMaster: { cold: PeerRun; warm: PeerRun[] };
  /** Calls logged during the plain run (must equal the number of steps). */
  calls: number;
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const now = (): number => performance.timeOrigin + performance.now();

function labConfig(lab: LabHandle): PeerLabConfig {
  return lab.config as unknown as PeerLabConfig;
}

/** The kust-replica and tarantool-replica command sequences of the runbooks, for service `bench1` on the bench tools' hosts. */
export function replicaSequences(config: PeerLabConfig): { 'kust-replica': PeerStep[]; 'tarantool-replica': PeerStep[] } {
  const p = config.paths;
  const control = config.inventory.controlNode;
  const { slaveHost: slave, mainHost: main } = BENCH_HOSTS;
  const svc = 'bench1';
  const inst = `${svc}-1`;
  const slaveSrv = `${svc}.${slave}.${inst}`;
  return {
    'kust-replica': [
      { host: control, argv: [p.ic, 'map', svc] },
      { host: slave, argv: [p.cleanKustReplica, inst] },
    ],
    'tarantool-replica': [
      { host: control, argv: [p.ic, 'map', svc] },
      { host: slave, argv: [p.cleanTntReplica, inst] },
      { host: slave, argv: [p.systemctl, 'is-active', `tarantool@${inst}`, inst] },
      { host: slave, argv: [p.ic, 'flip', slaveSrv] },
      { host: slave, argv: [p.ic, 'map', svc] },
      { host: main, argv: [p.systemctl, 'restart', `tarantool@${inst}`, inst] },
    ],
  };
}

function hostOf(config: PeerLabConfig, name: string) {
  const h = config.inventory.hosts[name];
  if (!h) throw new Error(`peers: ${name} is not an inventory host of the lab`);
  if (!/^127\.0\.0\.\d{1,3}$/.test(h.address)) throw new Error(`peers: ${name} has address ${h.address}; only 127.0.0.x is allowed`);
  if (!h.hostKey) throw new Error(`peers: ${name} has no pinned hostKey`);
  return { address: h.address, port: h.port, user: h.user ?? 'root', keyFile: h.keyFile, hostKey: h.hostKey };
}

/** known_hosts lines for the hosts the steps use, from their pinned keys (`[address]:port ssh-ed25519 AAAA...`). */
function knownHosts(config: PeerLabConfig, hosts: string[]): string {
  return hosts.map((n) => {
    const h = hostOf(config, n);
    return `[${h.address}]:${h.port} ${h.hostKey.split(/\s+/).slice(0, 2).join(' ')}\n`;
  }).join('');
}

const uniqueHosts = (steps: PeerStep[]): string[] => [...new Set(steps.map((s) => s.host))];

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ ms: number; t0: number; t1: number }> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    execFile(cmd, args, { env, cwd, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const t1 = now();
      if (err) reject(new Error(`peers: ${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve({ ms: t1 - t0, t0, t1 });
    });
  });
}

/** Runs the peer once and collects the calls the bench tools logged meanwhile; throws unless they are exactly the steps. */
async function measured(lab: LabHandle, steps: PeerStep[], go: () => Promise<{ ms: number; t0: number; t1: number }>, beforeRun?: () => void): Promise<PeerRun> {
  beforeRun?.();
  const before = readBenchLog(lab.dir).length;
  const r = await go();
  const calls = readBenchLog(lab.dir).slice(before);
  checkCalls(steps, calls);
  return { wallMs: r.ms, calls, t0Ms: r.t0, t1Ms: r.t1 };
}

/** The logged calls are the steps: same count, and each on its host with its tool and arguments, exit 0. */
export function checkCalls(steps: PeerStep[], calls: BenchToolCall[]): void {
  const show = (c: BenchToolCall) => `${c.node}: ${c.tool} ${c.argv.join(' ')} (exit ${c.exitCode})`;
  if (calls.length !== steps.length) throw new Error(`peers: ${steps.length} steps but ${calls.length} calls logged:\n${calls.map(show).join('\n')}`);
  steps.forEach((s, i) => {
    const c = calls[i];
    const ok = c.node === s.host && c.tool === path.basename(s.argv[0]) && c.exitCode === 0 && JSON.stringify(c.argv) === JSON.stringify(s.argv.slice(1));
    if (!ok) throw new Error(`peers: step ${i + 1} (${s.host}: ${s.argv.join(' ')}) logged as ${show(c)}`);
  });
}

/** Closes the ControlPersist masters whose sockets are in `dir`. */
function closeMasters(dir: string): void {
  let socks: string[] = [];
  try {
    socks = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const s of socks) {
    try {
      execFileSync('ssh', ['-o', `ControlPath=${path.join(dir, s)}`, '-O', 'exit', 'peer-master'], { stdio: 'ignore', timeout: 5000 });
    } catch {
      /* already gone */
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Ansible

/** The generated inventory, ansible.cfg, known_hosts and playbooks for `steps` (in a new temp dir). */
export function ansibleFiles(lab: LabHandle, steps: PeerStep[], layout: 'plays' | 'delegate' = 'plays') {
  const config = labConfig(lab);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-peer-ansible-'));
  const hosts = uniqueHosts(steps);
  const cm = path.join(dir, 'cm');
  fs.mkdirSync(cm);
  fs.mkdirSync(path.join(dir, 'tmp'));
  const kh = path.join(dir, 'known_hosts');
  fs.writeFileSync(kh, knownHosts(config, hosts));

  const inventoryHosts: Record<string, Record<string, string | number>> = {};
  for (const n of hosts) {
    const h = hostOf(config, n);
    inventoryHosts[n] = {
      ansible_host: h.address,
      ansible_port: h.port,
      ansible_user: 'root',
      ansible_ssh_private_key_file: h.keyFile,
      ansible_python_interpreter: '/usr/bin/python3',
    };
  }
  const inventory = path.join(dir, 'inventory.yml');
  fs.writeFileSync(inventory, YAML.stringify({ all: { hosts: inventoryHosts } }));

  const sshArgs = [
    '-o ControlMaster=auto',
    '-o ControlPersist=60s',
    `-o ControlPath=${cm}/%h-%p-%r`,
    `-o UserKnownHostsFile=${kh}`,
    '-o GlobalKnownHostsFile=/dev/null',
    '-o StrictHostKeyChecking=yes',
  ].join(' ');
  const cfg = path.join(dir, 'ansible.cfg');
  fs.writeFileSync(
    cfg,
    [
      '# Generated by test/bench/peers.ts: the Ansible peer of the per-step overhead benchmark.',
      '[defaults]',
      `inventory = ${inventory}`,
      'host_key_checking = True',
      'gathering = explicit',
      'retry_files_enabled = False',
      // One line per task: cheaper than the default callback's banners, and still shows a failure.
      'stdout_callback = ansible.builtin.oneline',
      'callbacks_enabled =',
      'nocolor = True',
      'deprecation_warnings = False',
      'system_warnings = False',
      'interpreter_python = /usr/bin/python3',
      `local_tmp = ${path.join(dir, 'tmp')}`,
      // The lab's "remote" hosts are this machine: keep the modules' temp dirs out of root's ~/.ansible too.
      `remote_tmp = ${path.join(dir, 'remote-tmp')}`,
      'forks = 5',
      '',
      '[ssh_connection]',
      'pipelining = True',
      `ssh_args = ${sshArgs}`,
      '',
    ].join('\n'),
  );

  const task = (s: PeerStep, i: number, delegate: boolean) => ({
    name: `step ${i + 1}`,
    'ansible.builtin.command': { argv: s.argv },
    // ansible.builtin.command fails the task on a non-zero exit, as the service fails the step.
    changed_when: false,
    ...(delegate ? { delegate_to: s.host } : {}),
  });
  const play = (hostsPattern: string, tasks: unknown[]) => ({ hosts: hostsPattern, gather_facts: false, any_errors_fatal: true, tasks });
  const playbook = path.join(dir, 'playbook.yml');
  const plays = layout === 'plays' ? steps.map((s, i) => play(s.host, [task(s, i, false)])) : [play(steps[0].host, steps.map((s, i) => task(s, i, true)))];
  fs.writeFileSync(playbook, YAML.stringify(plays));
  const noop = path.join(dir, 'noop.yml');
  fs.writeFileSync(noop, YAML.stringify([play(steps[0].host, [{ name: 'noop', 'ansible.builtin.meta': 'noop' }])]));

  const env: NodeJS.ProcessEnv = { ...process.env, ANSIBLE_CONFIG: cfg, ANSIBLE_HOME: path.join(dir, 'home'), ANSIBLE_FORCE_COLOR: '0' };
  return { dir, cm, inventory, cfg, playbook, noop, env };
}

/**
 * Runs `steps` as an Ansible playbook: once cold (a fresh ControlPath dir, no master), then
 * `opts.warmRuns` (default 1) times warm (masters alive); optionally the fixed start cost.
 */
export async function ansibleRun(lab: LabHandle, steps: PeerStep[], opts: AnsibleOptions = {}): Promise<AnsibleResult> {
  if (steps.length === 0) throw new Error('peers: no steps');
  const f = ansibleFiles(lab, steps, opts.layout);
  const playbook = (file: string) => run('ansible-playbook', [file], f.env, f.dir);
  try {
    const cold = await measured(lab, steps, () => playbook(f.playbook), opts.beforeRun);
    const warm: PeerRun[] = [];
    for (let i = 0; i < (opts.warmRuns ?? 1); i++) warm.push(await measured(lab, steps, () => playbook(f.playbook), opts.beforeRun));
    const fixedMs: number[] = [];
    for (let i = 0; i < (opts.fixedRuns ?? 0); i++) {
      const before = readBenchLog(lab.dir).length;
      fixedMs.push((await playbook(f.noop)).ms);
      if (readBenchLog(lab.dir).length !== before) throw new Error('peers: the noop playbook ran a tool');
    }
    return { wallMs: cold.wallMs, cold, warm, fixedMs, calls: cold.calls.length };
  } finally {
    closeMasters(f.cm);
    if (opts.keep) console.error(`peers: ansible files kept in ${f.dir}`);
    else fs.rmSync(f.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Plain ssh

/** A bash script (`set -e`) of one `ssh` call per step; with `controlPath`, the calls share ControlPersist masters. */
export function shellScript(config: PeerLabConfig, steps: PeerStep[], knownHostsFile: string, controlDir?: string): string {
  const lines = ['#!/usr/bin/env bash', '# Generated by test/bench/peers.ts: the plain-ssh peer of the per-step overhead benchmark.', 'set -e'];
  for (const s of steps) {
    const h = hostOf(config, s.host);
    const args = ['ssh', '-i', h.keyFile, '-p', String(h.port), '-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes'];
    if (controlDir) args.push('-o', 'ControlMaster=auto', '-o', 'ControlPersist=60s', '-o', `ControlPath=${controlDir}/%h-%p-%r`);
    args.push(`${h.user}@${h.address}`, s.argv.map(shq).join(' '));
    lines.push(args.map(shq).join(' '));
  }
  return lines.join('\n') + '\n';
}

/** Runs `steps` as a bash script of plain ssh calls, then with ControlMaster/ControlPersist (cold, then `opts.warmRuns` warm). */
export async function shellRun(lab: LabHandle, steps: PeerStep[], opts: PeerOptions = {}): Promise<ShellResult> {
  if (steps.length === 0) throw new Error('peers: no steps');
  const config = labConfig(lab);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-peer-ssh-'));
  const cm = path.join(dir, 'cm');
  fs.mkdirSync(cm);
  const kh = path.join(dir, 'known_hosts');
  fs.writeFileSync(kh, knownHosts(config, uniqueHosts(steps)));
  const plainFile = path.join(dir, 'plain.sh');
  const cmFile = path.join(dir, 'controlmaster.sh');
  fs.writeFileSync(plainFile, shellScript(config, steps, kh), { mode: 0o755 });
  fs.writeFileSync(cmFile, shellScript(config, steps, kh, cm), { mode: 0o755 });
  const bash = (file: string) => run('bash', [file], process.env, dir);
  try {
    const plain = await measured(lab, steps, () => bash(plainFile), opts.beforeRun);
    const cold = await measured(lab, steps, () => bash(cmFile), opts.beforeRun);
    const warm: PeerRun[] = [];
    for (let i = 0; i < (opts.warmRuns ?? 1); i++) warm.push(await measured(lab, steps, () => bash(cmFile), opts.beforeRun));
    return { wallMs: plain.wallMs, plain, controlMaster: { cold, warm }, calls: plain.calls.length };
  } finally {
    closeMasters(cm);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Self-check CLI

export const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * A run split into its steps: step i lasts from the end of step i-1 (the run's start for the first) to
 * its own end on the host; `tail` is from the last step's end to the peer's exit; `gaps` are the times
 * between one command's end and the next one's start (the orchestration between two commands).
 */
export function stepTimes(r: PeerRun): { steps: number[]; tail: number; gaps: number[]; firstStart: number } {
  const steps: number[] = [];
  let prev = r.t0Ms;
  for (const c of r.calls) {
    steps.push(c.endMs - prev);
    prev = c.endMs;
  }
  const gaps = r.calls.slice(1).map((c, i) => c.startMs - r.calls[i].endMs);
  return { steps, tail: r.t1Ms - prev, gaps, firstStart: (r.calls[0]?.startMs ?? NaN) - r.t0Ms };
}

const fmt = (ms: number): string => (Number.isNaN(ms) ? '-' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

function report(label: string, runs: PeerRun[], fixed?: number): void {
  const n = runs[0].calls.length;
  const split = runs.map(stepTimes);
  const wall = median(runs.map((r) => r.wallMs));
  const perStep = Array.from({ length: n }, (_, i) => median(split.map((s) => s.steps[i])));
  const gap = median(split.flatMap((s) => s.gaps));
  const perTask = fixed === undefined ? wall / n : (wall - fixed) / n;
  console.log(
    `  ${label.padEnd(28)} total ${fmt(wall).padStart(6)} ms   per step ${fmt(perTask).padStart(6)} ms${fixed === undefined ? '' : ' ((total - fixed) / steps)'}` +
      `   first command starts at ${fmt(median(split.map((s) => s.firstStart)))} ms   between commands ${fmt(gap)} ms   steps [${perStep.map(fmt).join(', ')}] + exit ${fmt(median(split.map((s) => s.tail)))}`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, layout: { type: 'string', default: 'plays' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: a positive integer');
  const layout = values.layout === 'delegate' ? 'delegate' : 'plays';
  execFileSync('bash', [path.join(REPO_ROOT, 'scripts', 'install-ansible.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const lab = await labUp({ scenario: 'healthy', tools: 'bench' });
  try {
    const sequences = replicaSequences(labConfig(lab));
    const beforeRun = () => resetBench(lab.dir);
    console.log(`lab up in ${lab.startupMs} ms; ${runs} repetitions per peer; medians; ansible layout: ${layout}`);
    for (const [name, steps] of Object.entries(sequences)) {
      const cold: PeerRun[] = [];
      const warm: PeerRun[] = [];
      const fixed: number[] = [];
      const plain: PeerRun[] = [];
      const cmCold: PeerRun[] = [];
      const cmWarm: PeerRun[] = [];
      for (let i = 0; i < runs; i++) {
        const a = await ansibleRun(lab, steps, { warmRuns: 1, fixedRuns: 1, beforeRun, layout });
        cold.push(a.cold);
        warm.push(...a.warm);
        fixed.push(...a.fixedMs);
        const s = await shellRun(lab, steps, { warmRuns: 1, beforeRun });
        plain.push(s.plain);
        cmCold.push(s.controlMaster.cold);
        cmWarm.push(...s.controlMaster.warm);
        // Every run was checked against the steps (checkCalls); the log holds this repetition's last run.
        if (readBenchLog(lab.dir).length !== steps.length) throw new Error('peers: bench log does not hold the last run');
      }
      const f = median(fixed);
      console.log(`${name} (${steps.length} steps, ${new Set(steps.map((s) => s.host)).size} hosts): all ${runs * 6} runs logged ${steps.length} calls each`);
      console.log(`  ansible-playbook fixed start cost (meta: noop) ${fmt(f)} ms`);
      report('ansible cold', cold, f);
      report('ansible warm', warm, f);
      report('ssh plain', plain);
      report('ssh ControlMaster cold', cmCold);
      report('ssh ControlMaster warm', cmWarm);
    }
  } finally {
    await lab.down();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
