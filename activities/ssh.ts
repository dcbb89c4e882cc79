/**
 * SSH execution over ssh2: key authentication, the host key checked against the pinned key, one
 * reused connection per host, a cap on concurrent commands per host, connect and command timeouts,
 * head-and-tail capped output. A command that times out or is cancelled is ended on the host (its
 * process group, over a second channel). Commands that change something run under the host-side
 * journal (activities/journal.ts): at most once per key, and their outcome survives a dropped
 * connection or a lost worker.
 */
import { randomBytes } from 'node:crypto';
import { Client, ClientChannel, type ConnectConfig } from 'ssh2';
import type { Config, HostConfig } from '../config/schema';
import { CappedOutput } from './output-buffer';
import { commandLine, RemoteCommand } from './command-line';
import { jumpSocket } from './jump';
import { authOptions } from './ssh-auth';
import { checkSudo, sudoCommand } from './sudo';
import { hostKeyPolicy } from './host-keys';
import { ALREADY_STARTED, ALREADY_STARTED_MARK, journalWrapper, killLine, parseProbe, plainWrapper, probeLine, splitPid } from './journal';

export interface ExecResult {
  host: string;
  /** The exact (quoted) command line of the argv (it runs inside the wrapper of activities/journal.ts). */
  command: string;
  /** null when the command ended without an exit status (killed by a signal, or the connection dropped). */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  /** The channel closed before an exit status arrived: the command may or may not have finished (read-only commands only). */
  disconnected: boolean;
  timedOut: boolean;
  durationMs: number;
  /** How a changing command's result was obtained when not straight from its channel (e.g. from the host's journal after a lost worker). */
  recovered?: string;
}

type RawResult = Omit<ExecResult, 'host' | 'command' | 'recovered'>;
const EMPTY: RawResult = { exitCode: null, signal: null, stdout: '', stderr: '', truncated: false, disconnected: false, timedOut: false, durationMs: 0 };

export type SshErrorKind = 'unknown-host' | 'host-key' | 'auth' | 'connect' | 'unsafe-command' | 'cancelled' | 'not-started' | 'outcome-unknown' | 'sudo';

export class SshError extends Error {
  constructor(message: string, readonly kind: SshErrorKind) {
    super(message);
    this.name = 'SshError';
  }
}

export interface ExecOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** A command that changes something: its journal key on the host (made by the workflow; the same on every attempt). */
  journal?: string;
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
    // The pinned key, else the known_hosts files (read now, so an edited file applies to the next connection).
    const hostKeys = hostKeyPolicy(name, host);
    let keyRejected: string | undefined;
    const ready = new Promise<Client>((resolve, reject) => {
      const drop = () => {
        if (this.conns.get(name)?.client === client) this.conns.delete(name);
      };
      client.once('ready', () => {
        client.setNoDelay(true);
        resolve(client);
      });
      // `on`, not `once`: ssh2 may emit a second error (a handshake timeout, then "Connection lost before
      // handshake"); an error event without a listener would crash the worker.
      client.on('error', (err: Error & { level?: string }) => {
        drop();
        if (keyRejected) reject(new SshError(keyRejected, 'host-key'));
        else if (err.level === 'client-authentication') {
          reject(new SshError(`${name} (${host.address}:${host.port}) refused the service's SSH key for user ${host.user}: ${err.message}; retrying will not help (the key must be in the host's authorized_keys)`, 'auth'));
        } else reject(new SshError(`cannot connect to ${name} (${host.address}:${host.port})${host.jump ? ` through jump host ${host.jump}` : ''}: ${err.message}`, 'connect'));
      });
      client.on('close', drop);
      client.on('end', drop);
      const options: ConnectConfig = {
        host: host.address,
        port: host.port,
        username: host.user,
        ...authOptions(name, host),
        readyTimeout: this.config.ssh.connectTimeoutSeconds * 1000,
        // A connection that stops answering (OpenSSH's ServerAliveInterval/CountMax) errors and closes: the pool drops it.
        keepaliveInterval: this.config.ssh.keepaliveIntervalSeconds * 1000,
        keepaliveCountMax: this.config.ssh.keepaliveCountMax,
        ...(hostKeys.serverHostKey ? { algorithms: { serverHostKey: hostKeys.serverHostKey } } : {}),
        hostVerifier: (key: Buffer) => {
          keyRejected = hostKeys.check(key);
          return keyRejected === undefined;
        },
      };
      if (host.jump === undefined) client.connect(options);
      else {
        // Behind a jump host: over a channel of the pool's own connection to it (activities/jump.ts).
        const jumpClient = this.connect(host.jump);
        jumpSocket({ name, host, jumpName: host.jump, jumpHost: this.host(host.jump), jumpClient, timeoutMs: options.readyTimeout ?? 10_000 })
          .then((sock) => client.connect({ ...options, sock }))
          .catch(reject);
      }
    });
    this.conns.set(name, { client, ready });
    // A failed connection is never cached: the next command tries afresh.
    ready.catch(() => {
      if (this.conns.get(name)?.ready === ready) this.conns.delete(name);
    });
    return ready;
  }

  async exec(hostName: string, cmd: RemoteCommand, opts: ExecOptions = {}): Promise<ExecResult> {
    const host = this.host(hostName);
    let line: string;
    try {
      line = commandLine(sudoCommand(host, cmd));
    } catch (err) {
      throw new SshError((err as Error).message, 'unsafe-command');
    }
    let slots = this.slots.get(hostName);
    if (!slots) this.slots.set(hostName, (slots = new Semaphore(this.config.ssh.maxConcurrentPerHost)));
    const release = await slots.acquire();
    try {
      if (opts.signal?.aborted) throw new SshError('cancelled before start', 'cancelled');
      const timeoutMs = opts.timeoutMs ?? this.config.ssh.commandTimeoutSeconds * 1000;
      if (opts.journal) {
        const jr = await this.execJournaled(hostName, line, cmd.stdin, opts.journal, timeoutMs, opts.signal);
        checkSudo(hostName, host, cmd.argv, jr);
        return jr;
      }
      const client = await this.connect(hostName);
      const tag = `t${randomBytes(8).toString('hex')}`;
      let pid: number | undefined;
      const r = await this.channel(client, hostName, plainWrapper(line, tag), cmd.stdin, timeoutMs, opts.signal, {
        onStderrHead: (head) => (pid = splitPid(head, tag)?.pid),
        end: () => this.kill(hostName, killLine(pid, tag)),
      });
      const split = splitPid(r.stderr, tag);
      const result = { ...r, host: hostName, command: line, stderr: split ? split.rest : r.stderr };
      checkSudo(hostName, host, cmd.argv, result);
      return result;
    } finally {
      release();
    }
  }

  /**
   * A command that changes something, under the host-side journal (activities/journal.ts). The answer is
   * the command's own exit status and output, read back from the journal when the connection dropped
   * or when this is a second start of the same key (a retry after a lost worker): the command never runs
   * twice. "Outcome unknown" only when the journal cannot tell (the process vanished without an exit
   * status, or the host stayed unreachable until the command's deadline).
   */
  private async execJournaled(hostName: string, line: string, stdin: string | undefined, key: string, timeoutMs: number, signal?: AbortSignal): Promise<ExecResult> {
    const dir = this.config.ssh.journalDir;
    const started = Date.now();
    const result = (r: RawResult, recovered?: string): ExecResult => ({ ...r, host: hostName, command: line, durationMs: Date.now() - started, ...(recovered ? { recovered } : {}) });
    const end = () => this.kill(hostName, killLine(undefined, key, { dir, key }));
    const wire = journalWrapper(line, dir, key, Buffer.byteLength(stdin ?? ''));
    // A connection or channel that cannot be opened throws here: the command line was never sent (a retry may start it).
    let first = await this.channel(await this.connect(hostName), hostName, wire, stdin, timeoutMs, signal, { end });
    if (!first.disconnected && !(first.exitCode === ALREADY_STARTED && first.stderr.includes(ALREADY_STARTED_MARK))) {
      if (first.exitCode === ALREADY_STARTED + 2) throw new SshError(`${hostName}: the input did not arrive whole; the command was not started`, 'not-started');
      return result(first);
    }
    // The journal knows: poll it (read-only) until the command has ended, its deadline passes, or the host answers that it cannot tell.
    let pause = 500;
    let lastError = '';
    const startedBefore = first.exitCode === ALREADY_STARTED;
    let sawEntry = startedBefore;
    for (;;) {
      if (signal?.aborted) throw new SshError(`command on ${hostName} cancelled`, 'cancelled');
      try {
        const probeRaw = await this.channel(await this.connect(hostName), hostName, probeLine(dir, key), undefined, 30_000, signal);
        // A probe cut off by a dropped connection may have a cut-off output: ask again.
        if (probeRaw.disconnected || probeRaw.timedOut) throw new SshError(`${hostName}: the connection dropped during the journal probe`, 'connect');
        const probe = parseProbe(probeRaw.stdout);
        if (!probe) {
          throw new SshError(`outcome unknown: the journal probe on ${hostName} gave no answer it understands: ${(probeRaw.stdout + probeRaw.stderr).slice(0, 300)}`, 'outcome-unknown');
        }
        const since = probe.startedAt ? ` (started ${probe.startedAt} on ${hostName})` : '';
        switch (probe.state) {
          case 'done':
            return result({ ...EMPTY, exitCode: probe.exitCode ?? null, stdout: probe.stdout, stderr: probeRaw.stderr, truncated: probeRaw.truncated }, `read from the host's journal${since}: ${startedBefore ? 'it had been started before (a retry after a lost worker)' : 'the connection dropped while it ran'}`);
          case 'killed':
            return result({ ...EMPTY, signal: 'KILL', stdout: probe.stdout, stderr: probeRaw.stderr }, `read from the host's journal${since}: it was ended on the host at its timeout`);
          case 'not-started':
            throw new SshError(`${hostName}: the command was not started (journal ${key}: no start recorded and the wrapper is gone)`, 'not-started');
          case 'lost':
            throw new SshError(`outcome unknown: the command${since} is no longer running and left no exit status (host rebooted or process killed); check ${hostName} before deciding`, 'outcome-unknown');
          case 'absent':
            if (sawEntry) throw new SshError(`outcome unknown: the journal entry ${key} on ${hostName} was removed`, 'outcome-unknown');
            // The connection dropped before the host ran anything: start it now (the key still guards it).
            sawEntry = true;
            first = await this.channel(await this.connect(hostName), hostName, wire, stdin, Math.max(1000, timeoutMs - (Date.now() - started)), signal, { end });
            if (!first.disconnected && first.exitCode !== ALREADY_STARTED) return result(first);
            continue;
          case 'running':
            sawEntry = true;
            if (Date.now() - started >= timeoutMs) {
              if (!(await end())) throw new SshError(`${hostName} did not answer the kill of the command at its timeout`, 'connect');
              return result({ ...EMPTY, timedOut: true, stdout: probe.stdout, stderr: probeRaw.stderr }, `ended on the host at its timeout${since}`);
            }
            break;
        }
      } catch (err) {
        // The command line was sent: a host that now refuses its key, or ours, cannot tell what became of it.
        if (err instanceof SshError && (err.kind === 'host-key' || err.kind === 'auth')) {
          throw new SshError(`outcome unknown: the command was sent to ${hostName}, then ${err.message}`, 'outcome-unknown');
        }
        if (!(err instanceof SshError) || err.kind !== 'connect') throw err;
        lastError = err.message;
        if (Date.now() - started >= timeoutMs) throw new SshError(`outcome unknown: ${hostName} did not answer until the command's deadline (${lastError})`, 'outcome-unknown');
      }
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 5000);
    }
  }

  /** Runs a kill line on its own channel; false when the host did not answer it (nothing more can be done from here). */
  private async kill(hostName: string, line: string): Promise<boolean> {
    try {
      return (await this.channel(await this.connect(hostName), hostName, line, undefined, 10_000)).exitCode === 0;
    } catch {
      return false;
    }
  }

  /** One exec channel: output capped, timeout and cancellation end the command on the host (`end`), then close the channel. */
  private channel(
    client: Client,
    hostName: string,
    wire: string,
    stdin: string | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
    hooks: { onStderrHead?: (head: string) => void; end?: () => Promise<boolean> } = {},
  ): Promise<RawResult> {
    const started = Date.now();
    const cap = this.config.ssh.outputCapBytes;
    return new Promise<RawResult>((resolve, reject) => {
      const forget = () => {
        // The connection may be half-dead: forget it so that the next command reconnects. destroy, not end:
        // a graceful end waits for a host that may never answer, and its channels would wait with it.
        if (this.conns.get(hostName)?.client === client) this.conns.delete(hostName);
        client.destroy();
      };
      // A host that stopped answering never confirms the channel: give up after the connect timeout.
      let opened = false;
      const openTimer = setTimeout(() => {
        if (opened) return;
        opened = true;
        forget();
        reject(new SshError(`${hostName} did not open a channel within ${this.config.ssh.connectTimeoutSeconds} s`, 'connect'));
      }, this.config.ssh.connectTimeoutSeconds * 1000);
      const onOpen = (err: Error | undefined, stream: ClientChannel) => {
        if (opened) {
          stream?.close();
          return;
        }
        opened = true;
        clearTimeout(openTimer);
        if (err) {
          forget();
          reject(new SshError(`cannot open a channel on ${hostName}: ${err.message}`, 'connect'));
          return;
        }
        const out = new CappedOutput(cap);
        const errOut = new CappedOutput(cap);
        let head = '';
        let exitCode: number | null = null;
        let sig: string | null = null;
        let gotExit = false;
        let timedOut = false;
        let cancelled = false;
        /** The end of the command on the host, once asked for (whether the host answered the kill): the result waits for it. */
        let ended: Promise<boolean> = Promise.resolve(true);
        const stop = (why: 'timeout' | 'cancel') => {
          if (timedOut || cancelled) return;
          if (why === 'timeout') timedOut = true;
          else cancelled = true;
          // End the process on the host (a second channel: OpenSSH refuses `signal` for root sessions), then close this one.
          const close = () => stream.close();
          ended = hooks.end ? hooks.end() : Promise.resolve(true);
          void ended.then((killed) => {
            close();
            // A host that did not answer the kill will not answer the close either: give up the connection (this channel closes with it).
            if (!killed) forget();
          });
          setTimeout(close, 15_000).unref();
        };
        const timer = setTimeout(() => stop('timeout'), timeoutMs);
        const onAbort = () => stop('cancel');
        signal?.addEventListener('abort', onAbort, { once: true });
        stream.on('data', (d: Buffer) => out.push(d));
        stream.stderr.on('data', (d: Buffer) => {
          if (hooks.onStderrHead && head.length < 200 && !head.includes('\n')) {
            head += d.toString('utf8');
            if (head.includes('\n')) hooks.onStderrHead(head);
          }
          errOut.push(d);
        });
        stream.on('exit', (code: number | null, s?: string) => {
          gotExit = true;
          exitCode = typeof code === 'number' ? code : null;
          sig = s ?? null;
        });
        stream.on('close', () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const result: RawResult = {
            exitCode,
            signal: sig,
            stdout: out.text(),
            stderr: errOut.text(),
            truncated: out.truncated || errOut.truncated,
            disconnected: !gotExit && !timedOut,
            timedOut,
            durationMs: Date.now() - started,
          };
          // The channel may close as soon as the TERM lands: "timed out" or "cancelled" is reported only
          // once the kill on the host has run to its end (KILL after a grace second, the journal marked).
          void ended.then((killed) => {
            if (cancelled) reject(new SshError(`command on ${hostName} cancelled`, 'cancelled'));
            else if (timedOut && !killed) reject(new SshError(`${hostName} did not answer: the command reached its timeout (${Math.round(timeoutMs / 1000)} s) and could not be ended on the host`, 'connect'));
            else resolve(result);
          });
        });
        if (stdin !== undefined) stream.end(stdin);
        else stream.end();
      };
      try {
        client.exec(wire, onOpen);
      } catch (err) {
        onOpen(err as Error, undefined as unknown as ClientChannel);
      }
    });
  }

  close(): void {
    for (const { client } of this.conns.values()) client.end();
    this.conns.clear();
  }
}
