/**
 * `medic doctor`: everything a run will need, checked before the incident instead of during it. For
 * every inventory host (in parallel): reachable, host key verified, login accepted, `sudo -n` works
 * where configured, every tool path the configured runbooks run on that host found there; the
 * controller's config file readable where ctlr-replica / ctlr-roles read it; Temporal answers, with the
 * namespace and the service's search attributes; with `notify`, the notification URL takes a test
 * message. Only read-only commands are sent to the hosts. Pure of CLI concerns: a list of results.
 *
 * `scanHostKeys`: the keys a host offers, as known_hosts lines with their fingerprints, for a human to
 * verify out of band and paste; nothing here trusts them.
 */
import { Client as SshClient } from 'ssh2';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { fingerprint } from '../activities/host-keys';
import { checkKeyFiles } from '../activities/key-files';
import { SshError, SshPool } from '../activities/ssh';
import type { RemoteCommand } from '../activities/command-line';
import type { Config, HostConfig, Paths } from '../config/schema';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';
import { connectConfig } from './connection';

export interface CheckResult {
  /** What was checked: config, ssh, sudo, tool, ctlr-conf, temporal, namespace, search-attributes, notify. */
  check: string;
  host?: string;
  ok: boolean;
  /** What was found (one line). */
  detail: string;
  /** For a failure: what to fix (one line). */
  fix?: string;
}

export interface DoctorOptions {
  /** POST a test message to notifications.url. */
  notify?: boolean;
  /** The fast part only (config-level checks and SSH login of every host): what the service runs at start. */
  fast?: boolean;
  /** Overrides ssh.connectTimeoutSeconds (the start-up check uses a short one). */
  connectTimeoutSeconds?: number;
  /** Where Temporal is (default: the TEMPORAL_* settings, else the embedded server's address). */
  env?: NodeJS.ProcessEnv;
}

type PathKey = keyof Paths;
type Where = 'control' | 'replicas' | 'ctlr' | 'manticore';

/**
 * Which tool (`paths.*`) each runbook runs on which hosts, read from workflows/*.ts. Keep it in step
 * with them: a path a runbook starts using on a host must be added here, or doctor will not look for it.
 *   - control: `run.control` (inventory.controlNode);
 *   - replicas: the slave / main hosts that kust-replica and tarantool-replica take from `ic map`
 *     output at run time: not known beforehand, so every inventory host but the control node is checked;
 *   - ctlr: config.ctlr.nodes (ctlr-replica, ctlr-roles; workflows/ctlr*.ts);
 *   - manticore: the nodes of every config.manticore cluster (workflows/manticore-cluster.ts and
 *     galera-flavour.ts; the MariaDB flavour's tools only for clusters of that flavour).
 * `ctlrConf`, `ctlrData`, grastate and log paths are files, not tools: ctlrConf is checked apart (read with
 * paths.cat, as the runbooks do), ctlrData is only moved or copied by a repair.
 */
export const TOOL_USES: { runbook: string; where: Where; paths: PathKey[]; flavour?: 'manticore' | 'mariadb' }[] = [
  { runbook: 'kust-replica', where: 'control', paths: ['ic'] },
  { runbook: 'kust-replica', where: 'replicas', paths: ['cleanKustReplica'] },
  { runbook: 'tarantool-replica', where: 'control', paths: ['ic'] },
  { runbook: 'tarantool-replica', where: 'replicas', paths: ['cleanTntReplica', 'systemctl', 'ic'] },
  { runbook: 'autoflip', where: 'control', paths: ['ic'] },
  { runbook: 'mysql-topology', where: 'control', paths: ['orchTopo', 'imUtils', 'kubectl'] },
  { runbook: 'ctlr-replica', where: 'ctlr', paths: ['cat', 'nc', 'ctlrTopoCheck', 'systemctl', 'mv', 'mkdir', 'chown', 'imDeployer'] },
  { runbook: 'ctlr-roles', where: 'ctlr', paths: ['cat', 'nc', 'ctlrTopoCheck', 'systemctl', 'cp', 'imDeployer'] },
  { runbook: 'manticore-cluster', where: 'manticore', paths: ['systemctl', 'cat', 'mysql'] },
  { runbook: 'manticore-cluster', where: 'manticore', flavour: 'manticore', paths: ['manticoreNewCluster'] },
  { runbook: 'manticore-cluster', where: 'manticore', flavour: 'mariadb', paths: ['mariadbd', 'tee', 'galeraNewCluster'] },
];

interface ToolNeed {
  key: PathKey;
  path: string;
  runbooks: Set<string>;
  /** Checked on this host only because replica hosts are chosen at run time. */
  asReplica: boolean;
}

/** Per inventory host: the tool paths the configured runbooks run there. */
export function toolsByHost(config: Config): Map<string, ToolNeed[]> {
  const hosts = Object.keys(config.inventory.hosts);
  const control = config.inventory.controlNode;
  const out = new Map<string, Map<PathKey, ToolNeed>>(hosts.map((h) => [h, new Map()]));
  const add = (host: string, key: PathKey, runbook: string, asReplica: boolean) => {
    const m = out.get(host);
    if (!m) return;
    const need = m.get(key) ?? { key, path: config.paths[key], runbooks: new Set<string>(), asReplica };
    need.runbooks.add(runbook);
    need.asReplica &&= asReplica;
    m.set(key, need);
  };
  for (const use of TOOL_USES) {
    let targets: string[] = [];
    if (use.where === 'control') targets = [control];
    else if (use.where === 'replicas') targets = hosts.filter((h) => h !== control);
    else if (use.where === 'ctlr') targets = config.ctlr?.nodes ?? [];
    else {
      for (const c of Object.values(config.manticore?.clusters ?? {})) if (!use.flavour || c.flavour === use.flavour) targets.push(...c.nodes);
    }
    for (const h of targets) for (const key of use.paths) add(h, key, use.runbook, use.where === 'replicas');
  }
  return new Map([...out].map(([h, m]) => [h, [...m.values()]]));
}

function fixOfSsh(err: SshError, name: string, host: HostConfig): string {
  switch (err.kind) {
    case 'host-key':
      return `the host key of ${name} is not the one configured: run \`medic doctor --scan ${name}\`, check the fingerprint with the host's owner, then fix hostKey or the known_hosts file (or find out why the key changed)`;
    case 'auth':
      return `put the service's public key in ~${host.user}/.ssh/authorized_keys on ${name} (or fix user / keyFile / agent in the inventory)`;
    case 'unknown-host':
      return `add ${name} to inventory.hosts`;
    default:
      return `check that sshd listens on ${host.address}:${host.port}${host.jump ? ` behind ${host.jump}` : ''} and that nothing between blocks it, or fix address / port${host.jump ? ' / jump' : ''}`;
  }
}

const oneLine = (s: string, max = 300): string => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}...` : t;
};

/** The inventory as given, but no host's commands under sudo: for `command -v` and `sudo -n -l`, which the login user runs itself. */
function withoutSudo(config: Config): Config {
  const hosts = Object.fromEntries(Object.entries(config.inventory.hosts).map(([n, h]) => [n, { ...h, sudo: false }]));
  return { ...config, inventory: { ...config.inventory, hosts } };
}

async function checkHost(name: string, host: HostConfig, pool: SshPool, plain: SshPool, config: Config, fast: boolean, timeoutMs: number): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const exec = (p: SshPool, cmd: RemoteCommand) => p.exec(name, cmd, { timeoutMs });
  const via = `${host.user}@${host.address}:${host.port}${host.jump ? ` via ${host.jump}` : ''}`;
  // One trivial command as the login user: TCP, the SSH handshake, the host key, the login. Not under
  // sudo: `sudo -n -- true` would need `true` in the sudoers, which a rule of exact tool paths (as it
  // should be) does not allow.
  try {
    const r = await exec(plain, { argv: ['true'] });
    if (r.exitCode !== 0) {
      results.push({ check: 'ssh', host: name, ok: false, detail: `\`true\` exited ${r.exitCode ?? r.signal ?? 'without a status'}: ${oneLine(r.stderr) || 'no output'}`, fix: `see why \`true\` fails for ${host.user} on ${name} (login shell?)` });
      return results;
    }
    results.push({ check: 'ssh', host: name, ok: true, detail: `${via}: reachable, host key verified, login accepted` });
  } catch (err) {
    if (!(err instanceof SshError)) throw err;
    results.push({ check: 'ssh', host: name, ok: false, detail: `${via}: ${oneLine(err.message)}${fast ? '' : ' (other checks of this host skipped)'}`, fix: fixOfSsh(err, name, host) });
    return results;
  }
  if (host.sudo) {
    // `sudo -n -l`: whether the user has sudo without a password at all (sudo's default listpw=any: some
    // NOPASSWD rule), without running anything; which paths it allows is the tool checks' question.
    const fix = `give ${host.user} passwordless sudo on ${name}: "${host.user} ALL=(root) NOPASSWD: <the tool paths>" in /etc/sudoers.d/ (or set sudo: false if it logs in as root)`;
    try {
      const r = await exec(plain, { argv: ['sudo', '-n', '-l'] });
      if (r.exitCode === 0) results.push({ check: 'sudo', host: name, ok: true, detail: `sudo -n -l works for ${host.user} (no password asked)` });
      else {
        results.push({ check: 'sudo', host: name, ok: false, detail: `\`sudo -n -l\` as ${host.user} exited ${r.exitCode ?? r.signal ?? 'without a status'}: ${oneLine(r.stderr, 200) || 'no output'} (tool checks skipped)`, fix: r.exitCode === 127 ? `install sudo on ${name}, or set sudo: false if ${host.user} is root` : fix });
        return results;
      }
    } catch (err) {
      results.push({ check: 'sudo', host: name, ok: false, detail: `not checked: ${oneLine((err as Error).message)}`, fix });
      return results;
    }
  }
  if (fast) return results;

  const needs = toolsByHost(config).get(name) ?? [];
  const missing: CheckResult[] = [];
  await Promise.all(
    needs.map(async (need) => {
      // On a sudo host the tool runs as `sudo -n -- <path>`: `sudo -n -l <path>` answers whether sudo finds it
      // (in its secure_path) and allows it, without running it. Elsewhere the login shell's `command -v`.
      const argv = host.sudo ? ['sudo', '-n', '-l', need.path] : ['command', '-v', need.path];
      const used = `paths.${need.key} (${need.path}), used by ${[...need.runbooks].join(', ')}${need.asReplica ? ' on a replica host (replica hosts are chosen at run time from `ic map`: every host but the control node is checked)' : ''}`;
      try {
        const r = await exec(plain, { argv });
        if (r.exitCode === 0 && r.stdout.trim() !== '') return;
        missing.push({
          check: 'tool',
          host: name,
          ok: false,
          detail: `${used}: ${host.sudo ? 'not allowed or not found by sudo' : 'not found'}${r.stderr.trim() ? ` (${oneLine(r.stderr, 160)})` : ''}`,
          fix: host.sudo ? `install ${need.path} on ${name} and allow it in ${host.user}'s sudoers rule, or correct paths.${need.key}` : `install ${need.path} on ${name}, or correct paths.${need.key} (an absolute path is safest)`,
        });
      } catch (err) {
        missing.push({ check: 'tool', host: name, ok: false, detail: `${used}: not checked: ${oneLine((err as Error).message)}`, fix: `see the ssh check of ${name}` });
      }
    }),
  );
  missing.sort((a, b) => a.detail.localeCompare(b.detail));
  if (missing.length) results.push(...missing);
  else results.push({ check: 'tool', host: name, ok: true, detail: needs.length ? `${needs.length} tool paths found (${needs.map((n) => n.key).join(', ')})` : 'no runbook runs a tool here' });

  // ctlr-replica and ctlr-roles read ctlr-1.conf on both nodes with `cat` (workflows/ctlr.ts, observe): the same command, under sudo where configured.
  if (config.ctlr?.nodes.includes(name)) {
    try {
      const r = await exec(pool, { argv: [config.paths.cat, config.paths.ctlrConf] });
      // The contents are not shown: the file may hold secrets.
      if (r.exitCode === 0) results.push({ check: 'ctlr-conf', host: name, ok: true, detail: `${config.paths.ctlrConf} readable (${r.stdout.length} bytes)` });
      else results.push({ check: 'ctlr-conf', host: name, ok: false, detail: `${config.paths.cat} ${config.paths.ctlrConf} exited ${r.exitCode ?? r.signal}: ${oneLine(r.stderr, 160)}`, fix: `make ${config.paths.ctlrConf} readable by ${host.user}${host.sudo ? ' (under sudo)' : ''} on ${name}, or correct paths.ctlrConf` });
    } catch (err) {
      results.push({ check: 'ctlr-conf', host: name, ok: false, detail: `not checked: ${oneLine((err as Error).message)}`, fix: `see the ssh check of ${name}` });
    }
  }
  return results;
}

/** Checks of the configuration itself (no network). */
function configChecks(config: Config, fast: boolean): CheckResult[] {
  const out: CheckResult[] = [];
  for (const [name, h] of Object.entries(config.inventory.hosts)) {
    if (h.insecureAcceptAnyHostKey) out.push({ check: 'config', host: name, ok: false, detail: 'insecureAcceptAnyHostKey: any host key is accepted (anyone on the path can pose as this host)', fix: `pin ${name}'s key (hostKey, or knownHostsFiles; \`medic doctor --scan ${name}\` shows it) and remove insecureAcceptAnyHostKey` });
  }
  // At start-up (fast) the service has just said this itself (worker/main.ts).
  if (!fast) {
    try {
      for (const line of checkKeyFiles(config.inventory)) out.push({ check: 'config', ok: false, detail: oneLine(line), fix: 'create the key file (mode 0600) or correct keyFile' });
    } catch (err) {
      out.push({ check: 'config', ok: false, detail: oneLine((err as Error).message, 500), fix: 'chmod 600 the key files named' });
    }
  }
  if (!out.some((r) => !r.ok)) out.push({ check: 'config', ok: true, detail: 'host keys pinned or from known_hosts, key files present and private' });
  return out;
}

const INDEXED_TYPE = temporal.api.enums.v1.IndexedValueType;

async function temporalChecks(config: Config, env: NodeJS.ProcessEnv): Promise<CheckResult[]> {
  const { connectionOptions, namespace: envNamespace } = connectConfig(env);
  const namespace = envNamespace ?? config.service.namespace;
  const address = connectionOptions.address ?? '(default)';
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions, connectTimeout: 5000 });
  } catch (err) {
    return [{ check: 'temporal', ok: false, detail: `${address}: ${oneLine((err as Error).message)}`, fix: 'start the service (npm start runs the embedded server) or set TEMPORAL_ADDRESS (and TEMPORAL_* TLS / API key) to the cluster' }];
  }
  const out: CheckResult[] = [{ check: 'temporal', ok: true, detail: `${address} answers` }];
  try {
    try {
      await connection.workflowService.describeNamespace({ namespace });
      out.push({ check: 'namespace', ok: true, detail: `${namespace} exists` });
    } catch (err) {
      out.push({ check: 'namespace', ok: false, detail: `${namespace}: ${oneLine((err as Error).message)}`, fix: `create it (\`temporal operator namespace create ${namespace}\`) or set service.namespace / TEMPORAL_NAMESPACE` });
      return out;
    }
    try {
      const res = await connection.operatorService.listSearchAttributes({ namespace });
      const have = res.customAttributes ?? {};
      const wrong = Object.entries(SEARCH_ATTRIBUTES).filter(([k, t]) => have[k] !== INDEXED_TYPE[`INDEXED_VALUE_TYPE_${t.toUpperCase()}` as keyof typeof INDEXED_TYPE]);
      if (wrong.length === 0) out.push({ check: 'search-attributes', ok: true, detail: `${Object.keys(SEARCH_ATTRIBUTES).join(', ')} registered` });
      else
        out.push({
          check: 'search-attributes',
          ok: false,
          detail: `missing or of another type in ${namespace}: ${wrong.map(([k, t]) => `${k} (${t})`).join(', ')}`,
          fix: `temporal operator search-attribute create --namespace ${namespace} ${wrong.map(([k, t]) => `--name ${k} --type ${t}`).join(' ')}`,
        });
    } catch (err) {
      out.push({ check: 'search-attributes', ok: false, detail: oneLine((err as Error).message), fix: 'let the service read the operator API (listSearchAttributes), or register the attributes by hand' });
    }
  } finally {
    await connection.close();
  }
  return out;
}

/** The notify activity's message shape (activities/index.ts), marked as a test. */
async function notifyCheck(config: Config): Promise<CheckResult> {
  const url = config.notifications.url;
  if (!url) return { check: 'notify', ok: false, detail: 'notifications.url is not set: escalations and approvals are only logged', fix: 'set notifications.url to the chat or paging webhook' };
  // The URL may carry a token: only its origin is shown.
  const shown = (() => {
    try {
      return new URL(url).origin;
    } catch {
      return 'the URL';
    }
  })();
  const body = { text: 'medic doctor: test message, nothing to do', kind: 'test', runId: 'doctor/test', runbook: 'doctor', target: 'test', link: config.service.webUiUrl };
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    if (res.ok) return { check: 'notify', ok: true, detail: `${shown} accepted a test message (${res.status})` };
    return { check: 'notify', ok: false, detail: `${shown} answered ${res.status} to a test message`, fix: 'check notifications.url (path, token) and the endpoint' };
  } catch (err) {
    return { check: 'notify', ok: false, detail: `${shown}: ${oneLine((err as Error).message)}`, fix: 'check notifications.url and that the endpoint is reachable from this machine' };
  }
}

/** Every check, hosts in parallel; failures first in each group's order. */
export async function runDoctor(config: Config, opts: DoctorOptions = {}): Promise<CheckResult[]> {
  const fast = opts.fast === true;
  const ssh = { ...config.ssh, ...(opts.connectTimeoutSeconds ? { connectTimeoutSeconds: opts.connectTimeoutSeconds } : {}) };
  const cfg = { ...config, ssh };
  const pool = new SshPool(cfg);
  const plain = new SshPool(withoutSudo(cfg));
  const timeoutMs = Math.max(10_000, ssh.connectTimeoutSeconds * 1000);
  try {
    const [hostResults, temporalResults, notify] = await Promise.all([
      Promise.all(Object.entries(config.inventory.hosts).map(([name, host]) => checkHost(name, host, pool, plain, cfg, fast, timeoutMs))),
      fast ? Promise.resolve([]) : temporalChecks(config, opts.env ?? process.env),
      opts.notify && !fast ? notifyCheck(config).then((r) => [r]) : Promise.resolve([]),
    ]);
    return [...configChecks(config, fast), ...hostResults.flat(), ...temporalResults, ...notify];
  } finally {
    pool.close();
    plain.close();
  }
}

/** The table: failures first, then the rest, one line each; a failure's fix on the line below it. */
export function formatDoctor(results: CheckResult[]): string {
  const sorted = [...results.filter((r) => !r.ok), ...results.filter((r) => r.ok)];
  const w = Math.max(...sorted.map((r) => r.check.length), 5);
  const hw = Math.max(...sorted.map((r) => (r.host ?? '-').length), 4);
  const lines = sorted.map((r) => `${r.ok ? 'ok  ' : 'FAIL'}  ${r.check.padEnd(w)}  ${(r.host ?? '-').padEnd(hw)}  ${r.detail}${r.fix ? `\n      fix: ${r.fix}` : ''}`);
  const failed = results.filter((r) => !r.ok).length;
  lines.push(failed ? `${failed} of ${results.length} checks failed` : `all ${results.length} checks passed`);
  return lines.join('\n');
}

// --- medic doctor --scan -------------------------------------------------------------------------

/** Host key algorithms to ask for, one connection each (the server shows only the key of the type agreed on). */
const SCAN_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'ssh-rsa'] as const;

export interface ScannedKey {
  /** The known_hosts line: `address type base64` or `[address]:port type base64`. */
  line: string;
  type: string;
  /** As `ssh-keygen -l` prints it: SHA256: and the unpadded base64 of the blob's SHA-256. */
  fingerprint: string;
  bits?: number;
}


/** The SSH wire strings of a key blob (type, then the key's fields). */
function wireStrings(blob: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 4 <= blob.length; ) {
    const n = blob.readUInt32BE(at);
    out.push(blob.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

function bitsOf(type: string, fields: Buffer[]): number | undefined {
  if (type === 'ssh-ed25519') return 256;
  const ec = /^ecdsa-sha2-nistp(\d+)$/.exec(type);
  if (ec) return Number(ec[1]);
  if (type === 'ssh-rsa' && fields[2]) {
    const n = fields[2];
    let i = 0;
    while (i < n.length && n[i] === 0) i++;
    return i < n.length ? (n.length - i - 1) * 8 + (32 - Math.clz32(n[i])) : 0;
  }
  return undefined;
}

function offeredKey(address: string, port: number, algorithm: string, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const c = new SshClient();
    let key: Buffer | undefined;
    const done = () => {
      c.removeAllListeners();
      c.on('error', () => undefined);
      c.destroy();
      resolve(key);
    };
    c.on('error', done);
    c.on('close', done);
    c.on('ready', done);
    c.connect({
      host: address,
      port,
      username: 'medic-doctor-scan',
      readyTimeout: timeoutMs,
      algorithms: { serverHostKey: [algorithm as 'ssh-ed25519'] },
      // Captured, never trusted: the connection stops here, before any authentication.
      hostVerifier: (k: Buffer) => {
        key = Buffer.from(k);
        return false;
      },
    });
  });
}

/** Every key `address:port` offers, one connection per key type; the same key under two algorithms (RSA) once. */
export async function scanHostKeys(address: string, port = 22, timeoutMs = 10_000): Promise<ScannedKey[]> {
  const blobs = await Promise.all(SCAN_ALGORITHMS.map((a) => offeredKey(address, port, a, timeoutMs)));
  const seen = new Set<string>();
  const out: ScannedKey[] = [];
  const where = port === 22 ? address : `[${address}]:${port}`;
  for (const blob of blobs) {
    if (!blob) continue;
    const b64 = blob.toString('base64');
    if (seen.has(b64)) continue;
    seen.add(b64);
    const fields = wireStrings(blob);
    const type = fields[0]?.toString('latin1') ?? 'unknown';
    out.push({ line: `${where} ${type} ${b64}`, type, fingerprint: fingerprint(blob), bits: bitsOf(type, fields) });
  }
  return out;
}

/** `--scan HOST`: an inventory name, or address[:port] ([v6]:port); where to connect. */
export function scanTarget(config: Config | undefined, target: string): { address: string; port: number; note?: string } {
  const h = config && Object.hasOwn(config.inventory.hosts, target) ? config.inventory.hosts[target] : undefined;
  if (h) return { address: h.address, port: h.port, ...(h.jump ? { note: `${target} is configured behind ${h.jump}; the scan connects to ${h.address}:${h.port} directly` } : {}) };
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(target);
  if (v6) return { address: v6[1], port: v6[2] ? Number(v6[2]) : 22 };
  const m = /^([A-Za-z0-9.-]+)(?::(\d+))?$/.exec(target);
  if (!m) throw new Error(`--scan ${target}: not an inventory host nor address[:port]`);
  const port = m[2] ? Number(m[2]) : 22;
  if (port < 1 || port > 65535) throw new Error(`--scan ${target}: port out of range`);
  return { address: m[1], port };
}

export function formatScan(address: string, port: number, keys: ScannedKey[]): string {
  const head = `# ${address}:${port}: the keys it offers. Nothing is trusted by this: compare each fingerprint with the one the host's owner reads on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then paste the lines into a known_hosts file or hostKey.`;
  if (keys.length === 0) return `${head}\n# no key received (is an SSH server listening there?)`;
  return [head, ...keys.flatMap((k) => [k.line, `# ${k.bits ?? '?'} ${k.fingerprint} ${address} (${k.type.replace(/^ssh-/, '').replace(/^ecdsa-sha2-nistp\d+$/, 'ECDSA').toUpperCase()})`])].join('\n');
}
