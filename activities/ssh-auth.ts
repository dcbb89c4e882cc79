/**
 * How the service logs in to one host: the ssh2 authentication options made from its HostConfig.
 *   - `keyFile`: the private key, read at each connect (a key rotated on disk is used by the next
 *     connection). An encrypted key is decrypted here first, so that a missing or wrong passphrase is a
 *     clear error naming the host and the key file, not ssh2's "Cannot parse privateKey" thrown from
 *     inside connect().
 *   - the passphrase only ever from a file (`keyPassphraseFile`, its first line) or from an environment
 *     variable of the worker (`keyPassphraseEnv`, the variable's name): never from the configuration
 *     itself, and never in a message.
 *   - `agent`: true for the worker's `SSH_AUTH_SOCK`, or the agent's socket path.
 * ssh2 then tries the key, then the agent (its default order).
 */
import { readFileSync, statSync } from 'node:fs';
import { utils } from 'ssh2';
import type { HostConfig } from '../config/schema';
import { SshError } from './ssh';

export interface AuthOptions {
  privateKey?: Buffer;
  passphrase?: string;
  agent?: string;
}

type AuthHost = Pick<HostConfig, 'keyFile' | 'keyPassphraseFile' | 'keyPassphraseEnv' | 'agent'>;

function readKey(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    // 'connect', as before: a key that is not there yet may be there at the next attempt (see key-files.ts).
    throw new SshError(`cannot read the SSH key ${file}: ${(err as Error).message}`, 'connect');
  }
}

/** The passphrase of the host's key and where it came from (for messages), or undefined when none is configured. */
export function keyPassphrase(name: string, host: AuthHost, env: NodeJS.ProcessEnv = process.env): { passphrase: string; source: string } | undefined {
  if (host.keyPassphraseFile !== undefined) {
    const source = `the passphrase file ${host.keyPassphraseFile}`;
    let text: string;
    try {
      text = readFileSync(host.keyPassphraseFile, 'utf8');
    } catch (err) {
      throw new SshError(`${name}: cannot read ${source} of the SSH key ${host.keyFile ?? '(none)'}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'auth');
    }
    // The first line, without its line end (a file written by `echo` or an editor ends with one).
    return { passphrase: text.split('\n')[0].replace(/\r$/, ''), source };
  }
  if (host.keyPassphraseEnv !== undefined) {
    const source = `the environment variable ${host.keyPassphraseEnv}`;
    const value = env[host.keyPassphraseEnv];
    if (value === undefined || value === '') throw new SshError(`${name}: ${source} (passphrase of the SSH key ${host.keyFile ?? '(none)'}) is not set in the worker's environment`, 'auth');
    return { passphrase: value, source };
  }
  return undefined;
}

/** The agent socket of the host, or undefined when it does not use one. */
export function agentSocket(name: string, host: AuthHost, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (host.agent === undefined || host.agent === false) return undefined;
  const sock = host.agent === true ? env.SSH_AUTH_SOCK : host.agent;
  const what = host.agent === true ? `SSH_AUTH_SOCK (${sock ?? 'unset'})` : `the agent socket ${sock}`;
  if (!sock) throw new SshError(`${name}: agent: true but SSH_AUTH_SOCK is not set in the worker's environment; start the worker with an ssh-agent, or give the agent's socket path`, 'auth');
  let isSocket = false;
  try {
    isSocket = statSync(sock).isSocket();
  } catch {
    /* reported below */
  }
  if (!isSocket) throw new SshError(`${name}: ${what} is not a socket (is the ssh-agent running?)`, 'auth');
  return sock;
}

/** The ssh2 authentication options for one host; throws SshError 'auth' (not retried) for a key that cannot be decrypted, an unset passphrase or agent. */
export function authOptions(name: string, host: AuthHost, env: NodeJS.ProcessEnv = process.env): AuthOptions {
  const opts: AuthOptions = {};
  const agent = agentSocket(name, host, env);
  if (agent !== undefined) opts.agent = agent;
  if (host.keyFile === undefined) return opts;
  const key = readKey(host.keyFile);
  const pass = keyPassphrase(name, host, env);
  const parsed = utils.parseKey(key, pass?.passphrase);
  if (parsed instanceof Error) {
    // ssh2's messages name neither the key nor the passphrase; say which key and what to fix.
    const why = /no passphrase given/.test(parsed.message)
      ? 'it is encrypted and no passphrase is configured (set keyPassphraseFile or keyPassphraseEnv)'
      : /bad passphrase|integrity check failed/i.test(parsed.message)
        ? `${pass?.source ?? 'the configured passphrase'} does not decrypt it`
        : parsed.message;
    throw new SshError(`${name}: cannot use the SSH key ${host.keyFile}: ${why}; retrying will not help`, 'auth');
  }
  opts.privateKey = key;
  if (pass) opts.passphrase = pass.passphrase;
  return opts;
}
