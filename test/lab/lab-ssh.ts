// Test helper: talk to the lab's sshds the way the service does (ssh2, key auth, pinned host key,
// argv single-quoted and joined with spaces, optional stdin then EOF).
import * as fs from 'node:fs';
import { Client, type ClientChannel } from 'ssh2';
import YAML from 'yaml';

export interface LabExecResult {
  stdout: string;
  stderr: string;
  /** null: the channel closed without an exit status (disconnect). */
  code: number | null;
  closedWithoutExit: boolean;
}

interface HostCfg {
  address: string;
  port: number;
  user: string;
  keyFile: string;
  hostKey: string;
}

export const quoteArgv = (argv: string[]): string => argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');

export class LabSsh {
  readonly config: { inventory: { controlNode: string; hosts: Record<string, HostCfg> }; paths: Record<string, string> };
  private conns = new Map<string, Promise<Client>>();

  constructor(configPath: string) {
    this.config = YAML.parse(fs.readFileSync(configPath, 'utf8')) as LabSsh['config'];
  }

  path(key: string): string {
    const p = this.config.paths[key];
    if (!p) throw new Error(`no paths.${key} in the config`);
    return p;
  }

  connect(node: string, opts: { hostKey?: string } = {}): Promise<Client> {
    const cached = this.conns.get(node);
    if (cached && !opts.hostKey) return cached;
    const h = this.config.inventory.hosts[node];
    if (!h) throw new Error(`unknown node ${node}`);
    const pinned = Buffer.from((opts.hostKey ?? h.hostKey).split(/\s+/)[1] ?? '', 'base64');
    const client = new Client();
    const p = new Promise<Client>((resolve, reject) => {
      client.once('ready', () => resolve(client));
      client.once('error', (e) => {
        this.conns.delete(node);
        reject(e);
      });
      client.on('close', () => {
        if (this.conns.get(node) === p) this.conns.delete(node);
      });
      client.connect({
        host: h.address,
        port: h.port,
        username: h.user,
        privateKey: fs.readFileSync(h.keyFile),
        readyTimeout: 5000,
        hostVerifier: (key: Buffer) => key.equals(pinned),
      });
    });
    if (!opts.hostKey) this.conns.set(node, p);
    return p;
  }

  /** Runs argv on node. onChannel gives access to the channel (e.g. to close it). */
  async exec(node: string, argv: string[], opts: { stdin?: string; onChannel?: (ch: ClientChannel) => void } = {}): Promise<LabExecResult> {
    const client = await this.connect(node);
    return new Promise((resolve, reject) => {
      client.exec(quoteArgv(argv), (err, ch) => {
        if (err) return reject(err);
        let stdout = '';
        let stderr = '';
        let code: number | null = null;
        let gotExit = false;
        ch.on('data', (d: Buffer) => (stdout += d.toString()));
        ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        ch.on('exit', (c: number | null) => {
          gotExit = true;
          code = typeof c === 'number' ? c : null;
        });
        ch.on('close', () => {
          // a dropped session: forget the connection so that the next command reconnects
          if (!gotExit) {
            this.conns.delete(node);
            client.end();
          }
          resolve({ stdout, stderr, code, closedWithoutExit: !gotExit });
        });
        if (opts.stdin !== undefined) ch.end(opts.stdin);
        else ch.end();
        opts.onChannel?.(ch);
      });
    });
  }

  /** exec with a configured tool path: run('vkt-control-01', 'ic', 'map', 'cox'). */
  run(node: string, toolKey: string, ...args: string[]): Promise<LabExecResult> {
    return this.exec(node, [this.path(toolKey), ...args]);
  }

  async close(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    for (const p of all) {
      try {
        (await p).end();
      } catch {
        /* failed connects */
      }
    }
  }
}

export async function waitFor<T>(fn: () => T | undefined | false, timeoutMs = 5000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
