// A lab whose nodes are reachable only through a bastion, like a production fleet behind a jump host.
//
// The nodes' sshds (the lab's own configs, keys and tool wrappers, from labUp) run inside a network
// namespace of their own, on that namespace's loopback: from the root namespace, where the service runs,
// their addresses reach nothing. A bastion sshd runs inside the same namespace on a veth address
// (a /30 of a documentation range that no route here covers) whose other end is in the root namespace: the service reaches the bastion,
// and the bastion reaches the nodes. Everything is removed by down(), and a namespace left behind by a
// killed earlier run (its creator's pid is gone) is swept by the next bastionLabUp.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { deepMerge } from './scenario';
import { labUp, type LabHandle } from './lab';

const SSHD = '/usr/sbin/sshd';
const NS_PREFIX = 'medic-bst-';
/** Node addresses inside the namespace: a loopback range no lab uses in the root namespace. */
const NODE_NET = '127.77.0.';
const FIRST_NODE_OCTET = 21;

export interface BastionLabHandle {
  /** The underlying lab (state, command log, keys, tool wrappers). */
  lab: LabHandle;
  /** The network namespace holding the nodes and the bastion. */
  netns: string;
  /** The veth end in this namespace (the other end is in the lab's). */
  veth: string;
  bastion: { name: string; address: string; port: number };
  /** The nodes' addresses inside the namespace (unreachable from here). */
  nodes: Record<string, { address: string; port: number }>;
  /** The service config: every node has `jump: <bastion>`, the bastion is an inventory host. */
  configPath: string;
  config: Record<string, unknown>;
  /** The sshd listener of a node or of the bastion, then the session processes serving its connections. */
  sshdPids(name: string): number[];
  /**
   * Local ports of the established TCP connections to the sshd of the bastion (from this namespace: the
   * service's) or of a node (inside the namespace: the bastion's forwarded connections).
   */
  connectionsTo(name: string): number[];
  /** Ends the bastion's sshd (listener and sessions): the bastion is down. */
  stopBastion(): Promise<void>;
  down(): Promise<void>;
}

export interface BastionLabOptions {
  scenario: string;
  /** Inventory name of the bastion. */
  bastionName?: string;
  /** Deep-merged into the written service config. */
  extraConfig?: Record<string, unknown>;
}

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function kill(pids: number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  }
}

function nsPids(ns: string): number[] {
  try {
    return ip('netns', 'pids', ns).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Kills everything in the namespace, deletes its veths, then the namespace. The veths go first and by
 * name: deleting one end removes its peer at once, while `netns del` only drops the name, and the
 * kernel tears the namespace (and so the veth) down later, once the killed processes in it have exited.
 */
function removeNamespace(ns: string): void {
  kill(nsPids(ns), 'SIGKILL');
  let veths = '';
  try {
    veths = ip('-n', ns, '-o', 'link', 'show', 'type', 'veth');
  } catch {
    /* no such namespace */
  }
  for (const line of veths.split('\n')) {
    const name = /^\d+:\s+([^@:\s]+)/.exec(line)?.[1];
    if (!name) continue;
    try {
      ip('-n', ns, 'link', 'del', name);
    } catch {
      /* already gone */
    }
  }
  try {
    ip('netns', 'del', ns);
  } catch {
    /* already gone */
  }
}

/** Removes the namespaces of earlier runs that were killed before their down() (their creator's pid is gone). */
export function sweepStaleBastionNamespaces(): string[] {
  const swept: string[] = [];
  let list = '';
  try {
    list = ip('netns', 'list');
  } catch {
    return swept;
  }
  for (const line of list.split('\n')) {
    const ns = line.split(/\s+/)[0];
    const m = ns?.startsWith(NS_PREFIX) ? /^medic-bst-(\d+)-[0-9a-f]+$/.exec(ns) : null;
    if (!m || pidAlive(Number(m[1]))) continue;
    removeNamespace(ns);
    swept.push(ns);
  }
  return swept;
}

const ipv4 = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);

/**
 * A /30 for the veth, [our end, the namespace's end], from the documentation ranges (TEST-NET-2 and -3,
 * then TEST-NET-1), overlapping no route of this namespace: a machine may well sit on one of these
 * ranges (here eth0 is on 192.0.2.0/24), and a more specific route would hide its neighbours.
 */
function freeSubnet(): [string, string] {
  const routes = ip('-o', '-4', 'route', 'show', 'table', 'all')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .flatMap((words) => {
      // "192.0.2.0/24 dev eth0 ...", "local 127.0.0.0/8 dev lo ...": the destination, after the route type if any.
      const dst = /^\d/.test(words[0] ?? '') ? words[0] : (words[1] ?? '');
      const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?$/.exec(dst);
      if (!m) return [];
      const bits = Number(m[2] ?? 32);
      const size = 2 ** (32 - bits);
      const start = Math.floor(ipv4(m[1]) / size) * size;
      return [[start, start + size] as const];
    });
  const candidates: number[] = [];
  for (const net of ['198.51.100.0', '203.0.113.0', '192.0.2.0']) {
    for (let i = 0; i < 64; i++) {
      const start = ipv4(net) + 4 * i;
      if (!routes.some(([a, b]) => start < b && a < start + 4)) candidates.push(start);
    }
  }
  if (!candidates.length) throw new Error('bastion lab: no /30 free of routes in the documentation ranges');
  const start = candidates[Math.floor(Math.random() * candidates.length)];
  const dotted = (n: number) => [24, 16, 8, 0].map((sh) => (n >>> sh) & 255).join('.');
  return [dotted(start + 1), dotted(start + 2)];
}

function procStat(pid: number): { comm: string; ppid: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return { comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), ppid: Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) };
  } catch {
    return undefined;
  }
}

/** root and its sshd descendants (session processes), root first. */
function sshdTree(root: number): number[] {
  if (!pidAlive(root)) return [];
  const procs = new Map<number, { comm: string; ppid: number }>();
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    const st = Number.isInteger(pid) ? procStat(pid) : undefined;
    if (st) procs.set(pid, st);
  }
  const out = [root];
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, st] of procs) {
      if (!out.includes(pid) && out.includes(st.ppid) && st.comm.startsWith('sshd')) {
        out.push(pid);
        grew = true;
      }
    }
  }
  return out;
}

/** The TCP ports listening in the namespace. */
function listeningIn(ns: string): string {
  return execFileSync('ss', ['-N', ns, '-Hltn'], { encoding: 'utf8' });
}

async function startSshdIn(ns: string, cfg: string, log: string, listens: () => boolean): Promise<number> {
  const fd = fs.openSync(log, 'a');
  const child = spawn('ip', ['netns', 'exec', ns, SSHD, '-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', fd] });
  fs.closeSync(fd);
  child.unref();
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + 10_000;
  while (!exited && Date.now() < deadline) {
    if (listens()) return child.pid ?? 0;
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill('SIGKILL');
  throw new Error(`bastion lab: sshd ${cfg} did not start in ${ns}:\n${fs.readFileSync(log, 'utf8')}`);
}

/** The lab's sshd config for a node, with another listen address, pid file and (for the bastion) host key and node name. */
function rewriteSshdConfig(text: string, listen: string, pidFile: string, hostKey?: string, node?: string): string {
  return text
    .split('\n')
    .map((l) => {
      if (l.startsWith('ListenAddress ')) return `ListenAddress ${listen}`;
      if (l.startsWith('PidFile ')) return `PidFile ${pidFile}`;
      if (hostKey && l.startsWith('HostKey ')) return `HostKey ${hostKey}`;
      if (node && l.startsWith('SetEnv ')) return l.replace(/"LAB_NODE=[^"]*"/, `"LAB_NODE=${node}"`);
      if (node && l.startsWith('# lab sshd')) return `# lab sshd for the bastion ${node}`;
      return l;
    })
    .join('\n');
}

/**
 * Removes the namespace even when this process dies by SIGKILL (no exit hook runs): a shell blocked
 * reading a pipe whose only writer is this process; EOF (our death) makes it kill the namespace's
 * processes and delete it. The sweep at the next start covers a watchdog that was killed too.
 */
function startWatchdog(ns: string): number | undefined {
  const script = `read _x; for p in $(ip netns pids ${ns}); do kill -9 "$p"; done; ip netns del ${ns}; exit 0`;
  const child = spawn('/bin/sh', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return child.pid;
}

const liveNamespaces = new Set<string>();
let exitHook = false;

export async function bastionLabUp(opts: BastionLabOptions): Promise<BastionLabHandle> {
  sweepStaleBastionNamespaces();
  const bastionName = opts.bastionName ?? 'bastion-01';
  const lab = await labUp({ scenario: opts.scenario });
  const ns = `${NS_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  const vethTag = randomBytes(4).toString('hex'); // interface names: 15 characters at most
  const [ourAddr, bastionAddr] = freeSubnet();
  const pids = new Map<string, number>();
  let downed = false;
  let watchdog: number | undefined;
  const down = async () => {
    if (downed) return;
    downed = true;
    if (watchdog) kill([watchdog], 'SIGKILL');
    removeNamespace(ns);
    liveNamespaces.delete(ns);
    await lab.down();
  };
  try {
    ip('netns', 'add', ns);
    liveNamespaces.add(ns);
    watchdog = startWatchdog(ns);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => liveNamespaces.forEach(removeNamespace));
    }
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('link', 'add', `mbr${vethTag}`, 'type', 'veth', 'peer', 'name', `mbn${vethTag}`, 'netns', ns);
    ip('addr', 'add', `${ourAddr}/30`, 'dev', `mbr${vethTag}`);
    ip('link', 'set', `mbr${vethTag}`, 'up');
    ip('-n', ns, 'addr', 'add', `${bastionAddr}/30`, 'dev', `mbn${vethTag}`);
    ip('-n', ns, 'link', 'set', `mbn${vethTag}`, 'up');

    // The nodes leave the root namespace: their lab sshds end, and the same configs run inside the namespace.
    const names = Object.keys(lab.nodes);
    const old = names.flatMap((n) => lab.sshdPids(n));
    kill(old, 'SIGKILL');
    const nodes: Record<string, { address: string; port: number }> = {};
    await Promise.all(
      names.map(async (n, i) => {
        const nd = path.join(lab.dir, 'nodes', n);
        const address = `${NODE_NET}${FIRST_NODE_OCTET + i}`;
        const port = lab.nodes[n].port;
        const cfg = path.join(nd, 'sshd_config.netns');
        fs.writeFileSync(cfg, rewriteSshdConfig(fs.readFileSync(path.join(nd, 'sshd_config'), 'utf8'), `${address}:${port}`, path.join(nd, 'sshd.netns.pid')));
        pids.set(n, await startSshdIn(ns, cfg, path.join(nd, 'sshd.log'), () => listeningIn(ns).includes(` ${address}:${port} `)));
        nodes[n] = { address, port };
      }),
    );

    const bd = path.join(lab.dir, 'nodes', bastionName);
    fs.mkdirSync(bd, { recursive: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `lab-bastion-${bastionName}`, '-f', path.join(bd, 'host_ed25519_key')]);
    const bastionPort = 22; // the namespace is ours: the usual port is free there
    const bcfg = path.join(bd, 'sshd_config');
    const template = fs.readFileSync(path.join(lab.dir, 'nodes', names[0], 'sshd_config'), 'utf8');
    fs.writeFileSync(bcfg, rewriteSshdConfig(template, `${bastionAddr}:${bastionPort}`, path.join(bd, 'sshd.pid'), path.join(bd, 'host_ed25519_key'), bastionName));
    pids.set(bastionName, await startSshdIn(ns, bcfg, path.join(bd, 'sshd.log'), () => listeningIn(ns).includes(` ${bastionAddr}:${bastionPort} `)));
    const bastionKey = fs.readFileSync(path.join(bd, 'host_ed25519_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');

    const base = structuredClone(lab.config) as { inventory: { hosts: Record<string, Record<string, unknown>> } };
    const hosts = base.inventory.hosts;
    for (const n of names) Object.assign(hosts[n], { address: nodes[n].address, port: nodes[n].port, jump: bastionName });
    const sample = hosts[names[0]];
    hosts[bastionName] = { address: bastionAddr, port: bastionPort, user: sample.user, keyFile: sample.keyFile, hostKey: bastionKey };
    const config = opts.extraConfig ? (deepMerge(base, opts.extraConfig) as Record<string, unknown>) : (base as unknown as Record<string, unknown>);
    const configPath = path.join(lab.dir, 'medic-bastion.yaml');
    fs.writeFileSync(configPath, `# Service config for the bastion lab (scenario ${opts.scenario}, namespace ${ns}); generated by lab/bastion.ts\n` + YAML.stringify(config, { lineWidth: 0 }));

    return {
      lab,
      netns: ns,
      veth: `mbr${vethTag}`,
      bastion: { name: bastionName, address: bastionAddr, port: bastionPort },
      nodes,
      configPath,
      config,
      sshdPids: (name) => {
        const pid = pids.get(name);
        if (pid === undefined) throw new Error(`bastion lab: no sshd ${JSON.stringify(name)}`);
        return sshdTree(pid);
      },
      connectionsTo: (name) => {
        const to = name === bastionName ? { address: bastionAddr, port: bastionPort } : nodes[name];
        if (!to) throw new Error(`bastion lab: no sshd ${JSON.stringify(name)}`);
        // The bastion is reached from this namespace; the nodes only from inside theirs (by the bastion).
        const args = [...(name === bastionName ? [] : ['-N', ns]), '-Htn', 'state', 'established', 'dst', `${to.address}:${to.port}`];
        return execFileSync('ss', args, { encoding: 'utf8' })
          .split('\n')
          .filter(Boolean)
          .map((l) => {
            const local = l.trim().split(/\s+/)[2] ?? ''; // Recv-Q Send-Q Local:Port Peer:Port
            return Number(local.slice(local.lastIndexOf(':') + 1));
          });
      },
      stopBastion: async () => {
        const tree = sshdTree(pids.get(bastionName) ?? 0);
        kill(tree, 'SIGKILL');
        const deadline = Date.now() + 5000;
        while (tree.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      },
      down,
    };
  } catch (err) {
    await down();
    throw err;
  }
}
