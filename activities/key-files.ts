/**
 * The SSH private keys of the inventory must be private, as OpenSSH demands ("UNPROTECTED PRIVATE KEY
 * FILE"): each host's keyFile, where it exists, is a regular file (a symlink to one is fine) and is
 * neither readable nor writable by group or others (mode & 0o077 == 0). Checked before a worker starts,
 * so that no worker runs with a key that other users of the machine can read. A key file that does not
 * exist (yet) is not a risk: it is reported, and commands to that host fail with "cannot read the SSH
 * key" until it is there (the example configuration names keys a new machine does not have).
 */
import { statSync } from 'node:fs';
import { ConfigError } from '../config/load';
import type { Config } from '../config/schema';

export class KeyFileError extends ConfigError {}

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

const MISSING = 'does not exist';

/** What is wrong with one key file, or undefined when it is fine. */
function problemOf(file: string): string | undefined {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? MISSING : `cannot be read (${code ?? (err as Error).message})`;
  }
  if (!st.isFile()) return 'is not a regular file';
  if ((st.mode & 0o077) !== 0) return `has mode ${octal(st.mode)}: UNPROTECTED PRIVATE KEY FILE (readable or writable by group or others; chmod 600 it)`;
  return undefined;
}

/**
 * Throws a KeyFileError naming every host, its key file and what is wrong with it; returns the key files
 * that do not exist (one line each: the file and the hosts that name it) when nothing is unsafe.
 */
export function checkKeyFiles(inventory: Pick<Config['inventory'], 'hosts'>): string[] {
  const problems = new Map<string, string | undefined>();
  const lines: string[] = [];
  const missing = new Map<string, string[]>();
  for (const [host, h] of Object.entries(inventory.hosts)) {
    // The passphrase file is a secret as much as the key.
    for (const keyFile of [h.keyFile, h.keyPassphraseFile]) {
      if (keyFile === undefined) continue;
      if (!problems.has(keyFile)) problems.set(keyFile, problemOf(keyFile));
      const problem = problems.get(keyFile);
      if (problem === MISSING) missing.set(keyFile, [...(missing.get(keyFile) ?? []), host]);
      else if (problem) lines.push(`  host ${host}: ${keyFile === h.keyFile ? 'SSH key file' : 'passphrase file'} ${keyFile} ${problem}`);
    }
  }
  if (lines.length) throw new KeyFileError(`refusing to start: SSH key files not safe to use:\n${lines.join('\n')}`);
  return [...missing].map(([file, hosts]) => `${hosts.length > 1 ? 'hosts' : 'host'} ${hosts.join(', ')}: SSH key file ${file} ${MISSING}`);
}
