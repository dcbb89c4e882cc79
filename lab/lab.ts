// The test lab: one real OpenSSH sshd per simulated production host, each on its own loopback address,
// plus wrapper scripts that run the simulated tools against one shared state file.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import type { CommandLogEntry, LabState } from './types';
import { loadScenario, deepMerge } from './scenario';
import { pidAlive, pidCmdline, readCommandLog, readState, reapDeadTools, runningToolsDir, updateState, withLock, writeState } from './store';
import { syncManticoreFiles } from './tools/manticore';
import { writeBenchTools } from './bench-tools';
import { DecisionKeys } from '../worker/decision-keys';
import { hashCredential, newCredential, type Role } from '../worker/identity';

export type { CommandLogEntry, LabState } from './types';

export interface LabHandle {
  dir: string;
  configPath: string;
  nodes: Record<string, { address: string; port: number }>;
  /** Scenario name the lab was started from. */
  scenario: string;
  /** The service config as written to configPath. */
  config: Record<string, unknown>;
  /** Wall-clock time labUp took (ms). */
  startupMs: number;
  /**
   * The operators of the lab's config (api.operators) and their credentials (Bearer tokens): alice and bob
   * decide (both approvers), carol is a viewer. Also in `<dir>/operators.json` (mode 0600).
   */
  operators: LabOperators;
  log(): CommandLogEntry[];
  state(): LabState;
  setState(mutator: (s: LabState) => void): void;
  /** Calls held by a `hold` fault with this id, right now (with the tool's pid). */
  held(id: string): (CommandLogEntry & { pid: number })[];
  /** Lets the calls held by fault `id` (and any later ones) go on. */
  release(id: string): void;
  /**
   * Back to the scenario's first state with the same sshds, keys and ports: the state, the command log,
   * the journal, held and released calls (tools still running are ended first). For suites that run
   * many cases against one lab and one service configuration.
   */
  reset(): Promise<void>;
  /** The node's sshd processes: its listener and the session processes serving its connections (e.g. to SIGSTOP the host). */
  sshdPids(node: string): number[];
  /**
   * Restarts the node's sshd with a new host key on the same address and port; returns the new public
   * key ("ssh-ed25519 AAAA..."). The service config keeps the old pinned key. Every connection to the
   * node drops (its session processes end, as on a reinstalled host); commands started over them go on.
   */
  rekey(node: string): Promise<string>;
  down(): Promise<void>;
}

export type LabOperators = Record<'alice' | 'bob' | 'carol', { token: string; role: Role }>;

export interface LabUpOptions {
  /** Name in lab/scenarios (without extension) or a path to a .yaml/.json file. */
  scenario: string;
  /** Default: a fresh mkdtemp under os.tmpdir(). An existing lab dir is stopped and wiped first. */
  dir?: string;
  /** Deep-merged into the written service config. */
  extraConfig?: Record<string, unknown>;
  /** CLI mode: sshds outlive this process (stop them with labDown(dir)). */
  detached?: boolean;
  /**
   * `bench`: the replica tools (ic, the clean scripts, systemctl) are the small sh scripts of
   * lab/bench-tools.ts (any service `<svc>`, instance `<svc>-1`, slave and main on the two 675 hosts).
   */
  tools?: 'simulated' | 'bench';
  /**
   * Host key types each node's sshd has besides ed25519 (`nodes/<n>/host_<type>_key{,.pub}`), for
   * tests of known_hosts files with several key types per host. Default none.
   */
  extraHostKeyTypes?: ('ecdsa' | 'rsa')[];
}

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
const TOOLS_MAIN = path.join(__dirname, 'tools', 'main.js');
const SSHD = '/usr/sbin/sshd';
const FIRST_HOST_OCTET = 21;
/** Where the bench tools put every instance's slave and main (nodes of the healthy fleet). */
export const BENCH_HOSTS = { slaveHost: 'vkt-4vm-675-standart-01', mainHost: 'vkt-4vm-675-standart-02' };

/** Tool names (wrapper file names) and their key under `paths:` in the service config. */
export const TOOL_PATH_KEYS: Record<string, string> = {
  ic: 'ic',
  'clean_kust_replica.sh': 'cleanKustReplica',
  'clean_tnt_replica.sh': 'cleanTntReplica',
  'orch_topo.sh': 'orchTopo',
  im_utils: 'imUtils',
  kubectl: 'kubectl',
  systemctl: 'systemctl',
  nc: 'nc',
  cat: 'cat',
  mv: 'mv',
  cp: 'cp',
  mkdir: 'mkdir',
  chown: 'chown',
  im_deployer: 'imDeployer',
  'ctlr_topo_check.sh': 'ctlrTopoCheck',
  manticore_new_cluster: 'manticoreNewCluster',
  mysql: 'mysql',
};

interface LabMeta {
  scenario: string;
  dir: string;
  detached: boolean;
  createdAt: string;
  nodes: Record<string, { address: string; port: number; pid: number; config: string }>;
  watchdogPid?: number;
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function ensureSshd(): void {
  if (fs.existsSync(SSHD) && fs.existsSync('/usr/bin/ssh-keygen')) return;
  const script = path.join(REPO_ROOT, 'scripts', 'install-sshd.sh');
  execFileSync('bash', [script], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (!fs.existsSync(SSHD)) throw new Error(`lab: ${SSHD} is missing; run scripts/install-sshd.sh`);
}

function keygen(file: string, comment: string, type = 'ed25519'): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', comment, '-f', file], (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * A TCP port free on `address` now, for a server that binds it a moment later (sshd, the Temporal dev
 * server). Drawn at random below the kernel's ephemeral range (ip_local_port_range, from 32768): a port
 * from that range (what listen(0) hands out) can be taken in between as the local port of any outgoing
 * connection on the machine, and the server then fails with "address already in use". Below 31000, so
 * that the dev server's HTTP port (its gRPC port + 1000) stays below the range too.
 */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  for (let tries = 0; ; tries++) {
    const port = 20000 + Math.floor(Math.random() * 11000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen({ host: address, port, exclusive: true }, () => srv.close(() => resolve(true)));
    });
    if (free) return port;
    if (tries > 200) throw new Error(`no free port on ${address} between 20000 and 31000`);
  }
}

function canConnect(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: address, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function sshdConfig(dir: string, node: string, address: string, port: number): string {
  const nd = path.join(dir, 'nodes', node);
  return [
    `# lab sshd for node ${node}`,
    `ListenAddress ${address}:${port}`,
    `HostKey ${nd}/host_ed25519_key`,
    // The extra host key types of LabUpOptions.extraHostKeyTypes, when made.
    ...['ecdsa', 'rsa'].filter((t) => fs.existsSync(`${nd}/host_${t}_key`)).map((t) => `HostKey ${nd}/host_${t}_key`),
    `PidFile ${nd}/sshd.pid`,
    `AuthorizedKeysFile ${dir}/keys/authorized_keys`,
    'UsePAM no',
    'StrictModes no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin prohibit-password',
    // SHLVL=1: bash skips ~/.bashrc for ssh commands (shell level 2), so the host's root profile
    // (slow pyenv init etc.) neither slows down nor changes the simulated commands.
    `SetEnv "LAB_NODE=${node}" "LAB_DIR=${dir}" SHLVL=1`,
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'MaxStartups 200',
    'MaxSessions 64',
    'LoginGraceTime 30',
    'LogLevel ERROR',
    '',
  ].join('\n');
}

function writeWrappers(dir: string): void {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  for (const tool of Object.keys(TOOL_PATH_KEYS)) {
    const text = [
      '#!/bin/sh',
      `# lab: simulated ${tool} (see lab/README.md); LAB_NODE/LAB_DIR come from sshd's SetEnv`,
      `: "\${LAB_DIR:=${dir}}"`,
      'export LAB_DIR',
      `exec ${shq(process.execPath)} ${shq(TOOLS_MAIN)} ${shq(tool)} "$@"`,
      '',
    ].join('\n');
    fs.writeFileSync(path.join(bin, tool), text, { mode: 0o755 });
  }
}

/**
 * The lab's operators, with a credential each, kept the three ways a configuration can: alice's as a hash in
 * the config, bob's in a file holding the credential, carol's (a viewer) in a file holding its hash. The
 * decision key (keys/decision-key.pem) is made here too, so that runs started before any API are decidable.
 */
function labIdentity(dir: string): { operators: LabOperators; api: Record<string, unknown> } {
  const operators: LabOperators = {
    alice: { token: newCredential(), role: 'operator' },
    bob: { token: newCredential(), role: 'operator' },
    carol: { token: newCredential(), role: 'viewer' },
  };
  const file = (name: string, text: string) => {
    const f = path.join(dir, 'keys', `${name}.credential`);
    fs.writeFileSync(f, `${text}\n`, { mode: 0o600 });
    return f;
  };
  fs.writeFileSync(path.join(dir, 'operators.json'), JSON.stringify(operators, null, 2), { mode: 0o600 });
  const decisionKeyFile = path.join(dir, 'keys', 'decision-key.pem');
  DecisionKeys.loadOrCreate(decisionKeyFile);
  return {
    operators,
    api: {
      operators: {
        alice: { role: 'operator', credentialHash: hashCredential(operators.alice.token) },
        bob: { role: 'operator', credentialFile: file('bob', operators.bob.token) },
        carol: { role: 'viewer', credentialFile: file('carol', hashCredential(operators.carol.token)) },
      },
      approvers: ['alice', 'bob'],
      decisionKeyFile,
    },
  };
}

function serviceConfig(dir: string, state: LabState, hostKeys: Record<string, string>, identity: Record<string, unknown>): Record<string, unknown> {
  const hosts: Record<string, unknown> = {};
  for (const [n, ns] of Object.entries(state.nodes)) {
    hosts[n] = { address: ns.address, port: ns.port, user: 'root', keyFile: path.join(dir, 'keys', 'id_ed25519'), hostKey: hostKeys[n] };
  }
  const paths: Record<string, string> = {};
  for (const [tool, key] of Object.entries(TOOL_PATH_KEYS)) paths[key] = path.join(dir, 'bin', tool);
  paths.ctlrConf = state.ctlr?.confPath ?? '/usr/local/etc/ctlr-1.conf';
  paths.ctlrData = state.ctlr?.dataPath ?? '/data/ctlr-1';
  const config: Record<string, unknown> = {
    service: { dataDir: path.join(dir, 'data'), taskQueue: 'replication-medic' },
    api: { listen: '127.0.0.1:0', webhookToken: randomBytes(16).toString('hex'), operatorToken: randomBytes(16).toString('hex'), ...identity },
    // One journal folder for the whole lab (all nodes share this machine's file system; keys never collide).
    ssh: { connectTimeoutSeconds: 5, commandTimeoutSeconds: 120, maxConcurrentPerHost: 4, outputCapBytes: 65536, journalDir: path.join(dir, 'journal') },
    inventory: { controlNode: state.controlNode, hosts },
  };
  if (state.ctlr) config.ctlr = { nodes: Object.keys(state.ctlr.nodes) };
  const clusters: Record<string, unknown> = {};
  for (const [cname, c] of Object.entries(state.manticore.clusters)) {
    clusters[cname] = {
      nodes: Object.keys(c.nodes),
      sqlHost: '127.0.0.1',
      sqlPort: c.sqlPort,
      unit: c.unit,
      grastatePath: `${c.dataDir}/${cname}/grastate.dat`,
      logPath: c.logPath,
    };
  }
  if (Object.keys(clusters).length) config.manticore = { clusters };
  config.paths = paths;
  return config;
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping

function procComm(pid: number): string {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
  } catch {
    return '';
  }
}

function allProcs(): Map<number, number> {
  const ppids = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      ppids.set(pid, Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  return ppids;
}

/** roots plus all their descendants (children first in the returned order). */
function withDescendants(roots: number[]): number[] {
  const ppids = allProcs();
  const out = new Set<number>(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of ppids) {
      if (!out.has(pid) && out.has(ppid)) {
        out.add(pid);
        grew = true;
      }
    }
  }
  return [...out].reverse();
}

function toolPids(dir: string): number[] {
  try {
    return fs
      .readdirSync(runningToolsDir(dir))
      .map(Number)
      .filter((p) => Number.isInteger(p) && pidAlive(p) && pidCmdline(p).includes('tools/main.js'));
  } catch {
    return [];
  }
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  }
}

/** The node's sshd listener is running (and is still ours: its command line names the node's config). */
const listening = (n: LabMeta['nodes'][string]): boolean => n.pid > 0 && pidAlive(n.pid) && pidCmdline(n.pid).includes(n.config);

/** A node's sshd listener and its sshd descendants (the session processes; not the commands they run). */
function nodeSshds(meta: LabMeta, node: string): number[] {
  const n = meta.nodes[node];
  if (!n) throw new Error(`lab: no node ${JSON.stringify(node)}`);
  if (!listening(n)) return [];
  return withDescendants([n.pid]).filter((p) => pidAlive(p) && procComm(p) === 'sshd');
}

function ourSshds(meta: LabMeta): number[] {
  return Object.values(meta.nodes)
    .filter(listening)
    .map((n) => n.pid);
}

async function stopLab(meta: LabMeta): Promise<void> {
  const sshds = ourSshds(meta);
  const tools = toolPids(meta.dir);
  const everything = withDescendants([...sshds, ...tools]);
  signal(tools, 'SIGTERM'); // lets them log their end
  signal(everything, 'SIGTERM');
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline && everything.some(pidAlive)) await new Promise((r) => setTimeout(r, 20));
  signal(everything.filter(pidAlive), 'SIGKILL');
  if (meta.watchdogPid) signal([meta.watchdogPid], 'SIGKILL');
  reapDeadTools(meta.dir);
}

const liveLabs = new Map<string, LabMeta>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const meta of liveLabs.values()) {
      const pids = withDescendants([...ourSshds(meta), ...toolPids(meta.dir)]);
      signal(pids, 'SIGKILL');
      if (meta.watchdogPid) signal([meta.watchdogPid], 'SIGKILL');
    }
  });
}

/**
 * Kills the sshds even when this process dies by SIGKILL: a shell blocked reading a pipe whose only
 * writer is this process; EOF (our death) makes it kill the listed pids.
 */
function startWatchdog(pids: number[]): number | undefined {
  const child = spawn('/bin/sh', ['-c', `read _x; kill -9 ${pids.join(' ')} 2>/dev/null; exit 0`], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.unref();
  const stdin = child.stdin as unknown as { unref?: () => void } | null;
  stdin?.unref?.();
  return child.pid;
}

// ---------------------------------------------------------------------------------------------

function prepareDir(dir: string | undefined): string {
  if (!dir) return fs.mkdtempSync(path.join(os.tmpdir(), 'medic-lab-'));
  const abs = path.resolve(dir);
  if (fs.existsSync(abs)) {
    const entries = fs.readdirSync(abs);
    if (entries.length && !entries.includes('lab.json') && !entries.includes('state.json')) {
      throw new Error(`lab: ${abs} exists, is not empty and is not a lab directory`);
    }
    for (const e of entries) fs.rmSync(path.join(abs, e), { recursive: true, force: true });
  }
  fs.mkdirSync(abs, { recursive: true });
  return abs;
}

function readMeta(dir: string): LabMeta | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'lab.json'), 'utf8')) as LabMeta;
  } catch {
    return undefined;
  }
}

/** Stops the lab in dir (also one started detached by the CLI). */
export async function labDown(dir: string): Promise<boolean> {
  const abs = path.resolve(dir);
  const meta = readMeta(abs);
  if (!meta) return false;
  await stopLab(meta);
  liveLabs.delete(abs);
  return true;
}

/** Starts a node's sshd on a free port, or on `fixedPort` (a restart: retried while the port is busy). */
async function startSshd(dir: string, node: string, address: string, detached: boolean, fixedPort?: number): Promise<{ port: number; pid: number; child: ChildProcess; config: string }> {
  const nd = path.join(dir, 'nodes', node);
  const cfgPath = path.join(nd, 'sshd_config');
  let lastErr = '';
  for (let attempt = 0; attempt < 8; attempt++) {
    if (fixedPort && attempt > 0) await new Promise((r) => setTimeout(r, 100 * attempt));
    const port = fixedPort ?? (await freePort(address));
    fs.writeFileSync(cfgPath, sshdConfig(dir, node, address, port));
    const logFd = fs.openSync(path.join(nd, 'sshd.log'), 'a');
    const child = spawn(SSHD, ['-D', '-e', '-f', cfgPath], { stdio: ['ignore', 'ignore', logFd], detached });
    fs.closeSync(logFd);
    child.unref();
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    child.once('error', () => {
      exited = true;
    });
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline) {
      if (await canConnect(address, port)) return { port, pid: child.pid ?? 0, child, config: cfgPath };
      await new Promise((r) => setTimeout(r, 5));
    }
    if (!exited) child.kill('SIGKILL');
    lastErr = fs.readFileSync(path.join(nd, 'sshd.log'), 'utf8');
    if (!/Address already in use|Cannot bind/i.test(lastErr)) break;
  }
  throw new Error(`lab: sshd for ${node} on ${address} did not start:\n${lastErr}`);
}

const publicKeyLine = (file: string): string => fs.readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');

/** Restarts a node's sshd with a fresh host key on its address and port (see LabHandle.rekey). */
async function rekeyNode(meta: LabMeta, node: string): Promise<string> {
  const n = meta.nodes[node];
  const old = nodeSshds(meta, node);
  signal(old, 'SIGKILL');
  const deadline = Date.now() + 5000;
  while (old.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const key = path.join(meta.dir, 'nodes', node, 'host_ed25519_key');
  fs.rmSync(key, { force: true });
  fs.rmSync(`${key}.pub`, { force: true });
  await keygen(key, `lab-host-${node}-rekeyed`);
  const r = await startSshd(meta.dir, node, n.address, meta.detached, n.port);
  n.pid = r.pid;
  if (meta.watchdogPid) {
    signal([meta.watchdogPid], 'SIGKILL');
    meta.watchdogPid = startWatchdog(Object.values(meta.nodes).map((x) => x.pid));
  }
  fs.writeFileSync(path.join(meta.dir, 'lab.json'), JSON.stringify(meta, null, 2));
  return publicKeyLine(key);
}

export async function labUp(opts: LabUpOptions): Promise<LabHandle> {
  const t0 = Date.now();
  ensureSshd();
  if (!fs.existsSync(TOOLS_MAIN)) throw new Error(`lab: ${TOOLS_MAIN} is missing; build first (npx tsc -p .)`);
  const state = loadScenario(opts.scenario);
  if (opts.dir) {
    const old = readMeta(path.resolve(opts.dir));
    if (old) await stopLab(old);
  }
  const dir = prepareDir(opts.dir);
  const ownDir = !opts.dir;
  const detached = Boolean(opts.detached);
  const names = Object.keys(state.nodes);
  for (const d of ['keys', 'bin', 'log', 'data', 'run/tools', ...names.map((n) => `nodes/${n}`)]) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.mkdirSync('/run/sshd', { recursive: true });

  const clientKey = path.join(dir, 'keys', 'id_ed25519');
  await Promise.all([
    keygen(clientKey, 'medic-lab-client'),
    ...names.map((n) => keygen(path.join(dir, 'nodes', n, 'host_ed25519_key'), `lab-host-${n}`)),
    ...(opts.extraHostKeyTypes ?? []).flatMap((t) => names.map((n) => keygen(path.join(dir, 'nodes', n, `host_${t}_key`), `lab-host-${n}`, t))),
  ]);
  fs.copyFileSync(`${clientKey}.pub`, path.join(dir, 'keys', 'authorized_keys'));
  const hostKeys: Record<string, string> = {};
  for (const n of names) hostKeys[n] = publicKeyLine(path.join(dir, 'nodes', n, 'host_ed25519_key'));
  writeWrappers(dir);
  if (opts.tools === 'bench') writeBenchTools(dir, BENCH_HOSTS);
  fs.writeFileSync(path.join(dir, 'log', 'commands.jsonl'), '');

  const meta: LabMeta = { scenario: state.scenario, dir, detached, createdAt: new Date().toISOString(), nodes: {} };
  const started = await Promise.allSettled(
    names.map(async (n, i) => {
      const address = `127.0.0.${FIRST_HOST_OCTET + i}`;
      const r = await startSshd(dir, n, address, detached);
      meta.nodes[n] = { address, port: r.port, pid: r.pid, config: r.config };
    }),
  );
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stopLab(meta);
    throw failed.reason;
  }
  for (const n of names) {
    state.nodes[n].address = meta.nodes[n].address;
    state.nodes[n].port = meta.nodes[n].port;
  }
  withLock(dir, () => writeState(dir, state));

  const identity = labIdentity(dir);
  let config = serviceConfig(dir, state, hostKeys, identity.api);
  if (opts.extraConfig) config = deepMerge(config, opts.extraConfig) as Record<string, unknown>;
  const configPath = path.join(dir, 'medic.yaml');
  fs.writeFileSync(configPath, `# Service config for the test lab (scenario ${state.scenario}); generated by lab/lab.ts\n` + YAML.stringify(config, { lineWidth: 0 }));

  if (!detached) {
    meta.watchdogPid = startWatchdog(Object.values(meta.nodes).map((n) => n.pid));
    liveLabs.set(dir, meta);
    installExitHook();
  }
  fs.writeFileSync(path.join(dir, 'lab.json'), JSON.stringify(meta, null, 2));

  const nodes: Record<string, { address: string; port: number }> = {};
  for (const n of names) nodes[n] = { address: meta.nodes[n].address, port: meta.nodes[n].port };
  let downed = false;
  return {
    dir,
    configPath,
    nodes,
    scenario: state.scenario,
    config,
    startupMs: Date.now() - t0,
    operators: identity.operators,
    log: () => {
      reapDeadTools(dir);
      return readCommandLog(dir);
    },
    state: () => readState(dir),
    setState: (mutator) =>
      updateState(dir, (s) => {
        mutator(s);
        syncManticoreFiles(s);
      }),
    held: (id) => {
      const heldDir = path.join(dir, 'run', 'held');
      let names: string[] = [];
      try {
        names = fs.readdirSync(heldDir).filter((n) => n.startsWith(`${id}.`));
      } catch {
        /* none yet */
      }
      return names.flatMap((n) => {
        try {
          const call = JSON.parse(fs.readFileSync(path.join(heldDir, n), 'utf8')) as CommandLogEntry & { pid: number };
          return pidAlive(call.pid) ? [call] : []; // a held call that was killed is no longer held
        } catch {
          return []; // released meanwhile
        }
      });
    },
    release: (id) => {
      fs.mkdirSync(path.join(dir, 'run', 'release'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'run', 'release', id), '');
    },
    reset: async () => {
      const tools = toolPids(dir);
      signal(tools, 'SIGKILL');
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && tools.some(pidAlive)) await new Promise((r) => setTimeout(r, 20));
      reapDeadTools(dir);
      const fresh = loadScenario(opts.scenario);
      for (const n of names) Object.assign(fresh.nodes[n], nodes[n]);
      withLock(dir, () => writeState(dir, fresh));
      for (const d of ['journal', 'run/held', 'run/release']) fs.rmSync(path.join(dir, d), { recursive: true, force: true });
      fs.writeFileSync(path.join(dir, 'log', 'commands.jsonl'), '');
    },
    sshdPids: (node) => nodeSshds(meta, node),
    rekey: (node) => rekeyNode(meta, node),
    down: async () => {
      if (downed) return;
      downed = true;
      await stopLab(meta);
      liveLabs.delete(dir);
      // A temporary dir made by labUp goes away with the lab (LAB_KEEP=1 keeps it for post-mortems).
      if (ownDir && !detached && !process.env.LAB_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
