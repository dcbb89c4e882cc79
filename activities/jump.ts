/**
 * Connections through a jump host (OpenSSH's ProxyJump). The jump host's connection is the pool's
 * ordinary connection to it (its host key and our login checked by the same code as any host's, and
 * shared by every host behind it and by commands on the jump host itself); a host behind it gets a
 * direct-tcpip channel over that connection to its address and port, which its own SSH connection runs
 * on (its host key is checked as if it were reached directly). A jump host with a jump host of its own
 * is reached the same way, so chains come from the pool's recursion. When the jump host's connection
 * dies, its channels close, and so do the connections running on them: the pool drops them all and the
 * next command opens new ones.
 */
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import type { HostConfig } from '../config/schema';
// A cycle (ssh.ts imports this module), harmless: SshError is only used when a function here runs.
import { SshError } from './ssh';

export interface JumpTarget {
  /** The host to reach, and its inventory name. */
  name: string;
  host: HostConfig;
  /** The jump host's inventory name and entry (for the messages). */
  jumpName: string;
  jumpHost: HostConfig;
  /** The pool's connection to the jump host (opened, or being opened, by the pool). */
  jumpClient: Promise<Client>;
  /** How long the jump host may take to open the channel. */
  timeoutMs: number;
}

/** A stream to the target's SSH port through the jump host, to pass as `sock` to the target's Client.connect. */
export async function jumpSocket(t: JumpTarget): Promise<Duplex> {
  const via = `through jump host ${t.jumpName} (${t.jumpHost.address}:${t.jumpHost.port})`;
  let client: Client;
  try {
    client = await t.jumpClient;
  } catch (err) {
    if (!(err instanceof SshError)) throw err;
    // The jump host's own host key or our login to it: say so, and keep the kind (neither is retried).
    const kind = err.kind === 'host-key' || err.kind === 'auth' ? err.kind : 'connect';
    const whose = kind === 'host-key' ? "the jump host's host key was refused: " : kind === 'auth' ? 'the jump host refused our login: ' : '';
    throw new SshError(`cannot reach ${t.name} ${via}: ${whose}${err.message}`, kind);
  }
  const target = `${t.name} (${t.host.address}:${t.host.port})`;
  return new Promise<Duplex>((resolve, reject) => {
    let settled = false;
    // A jump host that stopped answering never confirms the channel (keep-alive will drop its connection later).
    const timer = setTimeout(() => {
      settled = true;
      reject(new SshError(`cannot reach ${target} ${via}: the jump host did not open a channel to it within ${Math.round(t.timeoutMs / 1000)} s`, 'connect'));
    }, t.timeoutMs);
    const done = (err: Error | undefined, stream: ClientChannel | undefined) => {
      if (settled) {
        stream?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (err || !stream) reject(new SshError(`cannot reach ${target} ${via}: the jump host could not connect to it: ${err?.message ?? 'no channel'}`, 'connect'));
      else resolve(stream);
    };
    try {
      // The originator address is only informative to the jump host's sshd (ssh -J sends the same).
      client.forwardOut('127.0.0.1', 0, t.host.address, t.host.port, done);
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
