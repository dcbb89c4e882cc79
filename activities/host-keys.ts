/**
 * Host keys from OpenSSH known_hosts files, and the one decision the SSH layer asks of them: is the key
 * this host offered the right one? Follows OpenSSH (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT", hostfile.c):
 * comma-separated patterns with `*`, `?` and `!` negation, hashed names (`|1|salt|hmac-sha1`), a port
 * other than 22 written `[host]:port` (an entry without a port is for port 22 only), `@revoked`, and
 * several keys per host. `@cert-authority` lines are read but never accept a key: ssh2 cannot verify
 * host certificates, so a host known only through a CA is refused with a message that says so.
 *
 * Decision order (hostKeyPolicy): a key marked `@revoked` for the host is refused whatever else says
 * (as OpenSSH does, even with a pinned key or insecureAcceptAnyHostKey); then insecureAcceptAnyHostKey;
 * then the pinned `hostKey` (when set it is the only key accepted); then the known_hosts entries.
 *
 * A host is looked up under its inventory address and also under its inventory name (each as
 * `[name]:port` when the port is not 22): operators' known_hosts files usually hold the host names they
 * typed (OpenSSH stopped adding the IP address by default in 8.5), and the inventory names are those
 * host names. An entry under either name must still hold the very key the host offers.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { ServerHostKeyAlgorithm } from 'ssh2';
import type { HostConfig } from '../config/schema';

export interface KnownHostEntry {
  file: string;
  /** 1-based line number in the file. */
  line: number;
  marker?: 'revoked' | 'cert-authority';
  /** Comma-separated patterns of a plain entry; undefined for a hashed one. */
  patterns?: string[];
  hashed?: { salt: Buffer; hash: Buffer };
  /** Key type as written in the blob, e.g. "ssh-ed25519", "ssh-rsa". */
  keyType: string;
  key: Buffer;
}

/** The key types ssh2 can verify, in its order (ed25519 first): what is offered after the host's known ones. */
const HOST_KEY_ALGORITHMS: ServerHostKeyAlgorithm[] = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
/** Signature algorithms that prove a key of a type (an RSA key signs with any of three). */
const ALGORITHMS_OF_TYPE: Record<string, ServerHostKeyAlgorithm[]> = { 'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] };

/** The key type inside an SSH public key blob (its first string), or '' when it is not one. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return '';
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** The fingerprint as `ssh-keygen -l` prints it: "SHA256:" and unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The blob of a public key line "type AAAA... [comment]" (the pinned hostKey). */
export function publicKeyBlob(line: string): Buffer {
  return Buffer.from(line.trim().split(/\s+/)[1] ?? '', 'base64');
}

/** The name a host is filed under in known_hosts: "host" on port 22, "[host]:port" otherwise; lower case, as OpenSSH looks it up. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The usable lines of a known_hosts text. Lines OpenSSH would also skip are skipped: comments, blank
 * lines, unknown markers, malformed keys (including SSH-1 "bits e n" keys), bad hashes.
 */
export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const fields = raw.trim().split(/[ \t]+/);
    if (fields[0] === '' || fields[0].startsWith('#')) return;
    let marker: KnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      if (fields[0] === '@revoked') marker = 'revoked';
      else if (fields[0] === '@cert-authority') marker = 'cert-authority';
      else return;
      fields.shift();
    }
    const [names, type, b64] = fields;
    if (!names || !type || !b64 || !BASE64.test(b64)) return;
    const key = Buffer.from(b64, 'base64');
    if (keyTypeOf(key) !== type) return;
    const entry: KnownHostEntry = { file, line: i + 1, keyType: type, key, ...(marker ? { marker } : {}) };
    if (names.startsWith('|')) {
      // |1|base64(salt)|base64(HMAC-SHA1(salt, name)): the only hash format OpenSSH writes.
      const m = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(names);
      if (!m) return;
      entry.hashed = { salt: Buffer.from(m[1], 'base64'), hash: Buffer.from(m[2], 'base64') };
      if (entry.hashed.hash.length !== 20) return;
    } else entry.patterns = names.split(',');
    out.push(entry);
  });
  return out;
}

const globCache = new Map<string, RegExp>();
/** OpenSSH's match_pattern: `*` any run, `?` one character, the rest literal, case-insensitive. */
function glob(pattern: string): RegExp {
  let re = globCache.get(pattern);
  if (!re) {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    globCache.set(pattern, (re = new RegExp(`^${body}$`, 'is')));
  }
  return re;
}

/** Whether an entry is for `name` (from knownHostsName): a negated pattern that matches vetoes the entry, as in OpenSSH's match_hostname. */
export function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.hashed) return createHmac('sha1', entry.hashed.salt).update(name).digest().equals(entry.hashed.hash);
  let positive = false;
  for (const p of entry.patterns ?? []) {
    if (p.startsWith('!')) {
      if (glob(p.slice(1)).test(name)) return false;
    } else if (glob(p).test(name)) positive = true;
  }
  return positive;
}

const fileCache = new Map<string, { mtimeMs: number; size: number; entries: KnownHostEntry[] }>();

/** A known_hosts file's entries, read again only when its mtime or size changed. */
export function readKnownHostsFile(file: string): KnownHostEntry[] {
  const st = statSync(file);
  const cached = fileCache.get(file);
  if (cached && cached.mtimeMs === st.mtimeMs && cached.size === st.size) return cached.entries;
  const entries = parseKnownHosts(readFileSync(file, 'utf8'), file);
  fileCache.set(file, { mtimeMs: st.mtimeMs, size: st.size, entries });
  return entries;
}

export interface HostKeyPolicy {
  /** ssh2 `algorithms.serverHostKey`: the host's known key types first (as OpenSSH orders HostKeyAlgorithms), then the others; undefined to keep ssh2's defaults. */
  serverHostKey?: ServerHostKeyAlgorithm[];
  /** undefined when the offered key is accepted, else the one-line refusal. */
  check(key: Buffer): string | undefined;
}

const where = (e: KnownHostEntry): string => `${e.file}:${e.line}`;
const described = (key: Buffer): string => `${keyTypeOf(key) || 'unknown type'} ${fingerprint(key)}`;

/**
 * What the SSH layer accepts from host `name`: the files are read now (at connect time), so an edited
 * known_hosts file applies to the next connection. A file that cannot be read accepts nothing, and the
 * refusal says why.
 */
export function hostKeyPolicy(name: string, host: HostConfig): HostKeyPolicy {
  const lookup = [...new Set([knownHostsName(host.address, host.port), knownHostsName(name, host.port)])];
  const entries: KnownHostEntry[] = [];
  const unreadable: string[] = [];
  for (const file of host.knownHostsFiles) {
    try {
      entries.push(...readKnownHostsFile(file).filter((e) => lookup.some((n) => entryMatches(e, n))));
    } catch (err) {
      unreadable.push(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const revoked = entries.filter((e) => e.marker === 'revoked');
  const plain = entries.filter((e) => !e.marker);
  const authorities = entries.filter((e) => e.marker === 'cert-authority');
  const pinned = host.hostKey === undefined ? undefined : publicKeyBlob(host.hostKey);

  const known = pinned ? [keyTypeOf(pinned)] : [...new Set(plain.map((e) => e.keyType))];
  const first = HOST_KEY_ALGORITHMS.filter((a) => known.some((t) => (ALGORITHMS_OF_TYPE[t] ?? [t]).includes(a)));
  const serverHostKey = host.insecureAcceptAnyHostKey || first.length === 0 ? undefined : [...new Set([...first, ...HOST_KEY_ALGORITHMS])];

  const who = `${name} (${host.address}:${host.port})`;
  const files = host.knownHostsFiles.join(', ');
  const notes = unreadable.length ? ` (${unreadable.join('; ')})` : '';
  return {
    serverHostKey,
    check(key: Buffer): string | undefined {
      const bad = revoked.find((e) => e.key.equals(key));
      if (bad) return `host key of ${who}, ${described(key)}, is marked @revoked in ${where(bad)}: refusing to connect`;
      if (host.insecureAcceptAnyHostKey) return undefined;
      if (pinned) {
        if (pinned.equals(key)) return undefined;
        // "does not match the pinned key: refusing to connect" first: the wording operators and tests already know.
        return `host key of ${who} does not match the pinned key: refusing to connect (offered ${described(key)}, pinned ${described(pinned)})`;
      }
      if (host.knownHostsFiles.length === 0) return `host key of ${who} cannot be checked: no pinned hostKey and no knownHostsFiles; refusing to connect`;
      if (plain.some((e) => e.key.equals(key))) return undefined;
      const type = keyTypeOf(key);
      const sameType = plain.filter((e) => e.keyType === type);
      if (sameType.length) {
        const expected = sameType.map((e) => `${fingerprint(e.key)} (${where(e)})`).join(', ');
        return `host key of ${who} does not match known_hosts: offered ${described(key)}, expected ${expected}; refusing to connect (if the host was reinstalled, verify its new key and replace the entry)${notes}`;
      }
      if (plain.length) {
        const have = plain.map((e) => `${described(e.key)} (${where(e)})`).join(', ');
        return `host key of ${who} is ${described(key)}, but no ${type} key for ${lookup.join(' or ')} is in ${files}, only ${have}; refusing to connect (verify and add the host's ${type} key)${notes}`;
      }
      if (authorities.length) {
        return `host key of ${who} (${described(key)}) is vouched for only by @cert-authority entries (${authorities.map(where).join(', ')}), and host certificates are not supported (ssh2 cannot verify them): add the host's own key to ${files}; refusing to connect${notes}`;
      }
      return `host key of ${who} is unknown: no entry for ${lookup.join(' or ')} in ${files}; offered ${described(key)}; refusing to connect (verify the key and add it)${notes}`;
    },
  };
}
