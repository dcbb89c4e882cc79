/**
 * SSH execution over ssh2: key authentication, the host key checked against the pinned key, one
 * reused connection per host, a cap on concurrent commands per host, connect and command timeouts,
 * head-and-tail capped output, and cancellation that signals the remote process and closes the channel.
 */
import { readFileSync } from 'node:fs';
import { Client, ClientChannel } from 'ssh2';
import type { Config, HostConfig } from '../config/schema';
import { CappedOutput } from './output-buffer';
import { commandLine, RemoteCommand } from './command-line';

export interface ExecResult {
  host: string;
  /** The exact (quoted) command line that was sent. */
  command: string;
  /** null when the command ended without an exit status (killed by a signal, or the connection dropped). */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  /** The channel closed before an exit status arrived: the command may or may not have finished. */
  disconnected: boolean;
  timedOut: boolean;
  durationMs: number;
}

export class SshError extends Error {
  constructor(message: string, readonly kind: 'unknown-host' | 'host-key' | 'connect' | 'unsafe-command' | 'cancelled') {
    super(message);
    this.name = 'SshError';
  }
}

export interface ExecOptions {
  signal?: AbortSignal;
  /** Called every heartbeatMs while the command runs. */
  onProgress?: () => void;
  heartbeatMs?: number;
  timeoutMs?: number;
}

/** Base64 blob of a public key line "type AAAA... comment". */
function keyBlob(line: string): Buffer {
  return Buffer.from(line.trim().split(/\s+/)[1] ?? '', 'base64');
}

function readKey(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SshError(`cannot read the SSH key ${file}: ${(err as Error).message}`, 'connect');
  }
}

class Semaphore {
  private waiters: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.free++;
    };
  }
}

interface Conn {
  client: Client;
  ready: Promise<Client>;
}

export class SshPool {
  private conns = new Map<string, Conn>();
  private slots = new Map<string, Semaphore>();

  constructor(private readonly config: Pick<Config, 'inventory' | 'ssh'>) {}

  private host(name: string): HostConfig {
    const host = Object.prototype.hasOwnProperty.call(this.config.inventory.hosts, name) ? this.config.inventory.hosts[name] : undefined;
    if (!host) throw new SshError(`host ${JSON.stringify(name)} is not in the inventory`, 'unknown-host');
    return host;
  }

  private connect(name: string): Promise<Client> {
    const existing = this.conns.get(name);
    if (existing) return existing.ready;
    const host = this.host(name);
    const client = new Client();
    let keyRejected: string | undefined;
    const ready = new Promise<Client>((resolve, reject) => {
      const drop = () => {
        if (this.conns.get(name)?.client === client) this.conns.delete(name);
      };
      client.once('ready', () => resolve(client));
      client.once('error', (err: Error) => {
        drop();
        if (keyRejected) reject(new SshError(keyRejected, 'host-key'));
        else reject(new SshError(`cannot connect to ${name} (${host.address}:${host.port}): ${err.message}`, 'connect'));
      });
      client.on('close', drop);
      client.on('end', drop);
      client.connect({
        host: host.address,
        port: host.port,
        username: host.user,
        privateKey: readKey(host.keyFile),
        readyTimeout: this.config.ssh.connectTimeoutSeconds * 1000,
        keepaliveInterval: 15_000,
        hostVerifier: (key: Buffer) => {
          if (host.insecureAcceptAnyHostKey) return true;
          if (host.hostKey && keyBlob(host.hostKey).equals(key)) return true;
          keyRejected = `host key of ${name} (${host.address}:${host.port}) does not match the pinned key: refusing to connect`;
          return false;
        },
      });
    });
    this.conns.set(name, { client, ready });
    // A failed connection is never cached: the next command tries afresh.
    ready.catch(() => {
      if (this.conns.get(name)?.ready === ready) this.conns.delete(name);
    });
    return ready;
  }

  async exec(hostName: string, cmd: RemoteCommand, opts: ExecOptions = {}): Promise<ExecResult> {
    let line: string;
    try {
      line = commandLine(cmd);
    } catch (err) {
      throw new SshError((err as Error).message, 'unsafe-command');
    }
    this.host(hostName);
    let slots = this.slots.get(hostName);
    if (!slots) this.slots.set(hostName, (slots = new Semaphore(this.config.ssh.maxConcurrentPerHost)));
    const release = await slots.acquire();
    try {
      if (opts.signal?.aborted) throw new SshError('cancelled before start', 'cancelled');
      const client = await this.connect(hostName);
      return await this.run(client, hostName, line, cmd.stdin, opts);
    } finally {
      release();
    }
  }

  private run(client: Client, hostName: string, line: string, stdin: string | undefined, opts: ExecOptions): Promise<ExecResult> {
    const started = Date.now();
    const cap = this.config.ssh.outputCapBytes;
    const timeoutMs = opts.timeoutMs ?? this.config.ssh.commandTimeoutSeconds * 1000;
    return new Promise<ExecResult>((resolve, reject) => {
      client.exec(line, (err: Error | undefined, stream: ClientChannel) => {
        if (err) {
          // The connection may be half-dead: forget it so that the next command reconnects.
          this.conns.delete(hostName);
          client.end();
          reject(new SshError(`cannot open a channel on ${hostName}: ${err.message}`, 'connect'));
          return;
        }
        const out = new CappedOutput(cap);
        const errOut = new CappedOutput(cap);
        let exitCode: number | null = null;
        let signal: string | null = null;
        let gotExit = false;
        let timedOut = false;
        let cancelled = false;
        const stop = (why: 'timeout' | 'cancel') => {
          if (why === 'timeout') timedOut = true;
          else cancelled = true;
          // End the remote process (OpenSSH delivers 'signal' requests), then close the channel.
          try {
            stream.signal('TERM');
          } catch {
            /* channel already gone */
          }
          setTimeout(() => {
            try {
              stream.signal('KILL');
            } catch {
              /* ignore */
            }
            stream.close();
          }, 500).unref();
        };
        const beat = opts.onProgress ? setInterval(opts.onProgress, opts.heartbeatMs ?? 5000) : undefined;
        const timer = setTimeout(() => stop('timeout'), timeoutMs);
        const onAbort = () => stop('cancel');
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        stream.on('data', (d: Buffer) => out.push(d));
        stream.stderr.on('data', (d: Buffer) => errOut.push(d));
        stream.on('exit', (code: number | null, sig?: string) => {
          gotExit = true;
          exitCode = typeof code === 'number' ? code : null;
          signal = sig ?? null;
        });
        stream.on('close', () => {
          clearTimeout(timer);
          if (beat) clearInterval(beat);
          opts.signal?.removeEventListener('abort', onAbort);
          if (cancelled) {
            reject(new SshError(`command on ${hostName} cancelled`, 'cancelled'));
            return;
          }
          resolve({
            host: hostName,
            command: line,
            exitCode,
            signal,
            stdout: out.text(),
            stderr: errOut.text(),
            truncated: out.truncated || errOut.truncated,
            disconnected: !gotExit && !timedOut,
            timedOut,
            durationMs: Date.now() - started,
          });
        });
        if (stdin !== undefined) stream.end(stdin);
        else stream.end();
      });
    });
  }

  close(): void {
    for (const { client } of this.conns.values()) client.end();
    this.conns.clear();
  }
}
