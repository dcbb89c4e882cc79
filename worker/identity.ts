/**
 * Who is calling: the named operators of `api.operators`, each with a role (`viewer`: reads; `operator`:
 * reads, starts runs and decides) and a credential kept as a scrypt hash (in the configuration or in a
 * file) or read from a file. A request authenticates with `Authorization: Bearer <credential>`, or, from a
 * configured reverse proxy only (`api.trustedProxies`), with the proxy's user header (`api.proxyUserHeader`,
 * default X-Forwarded-User) naming the operator its SSO logged in; that header from any other address is
 * refused and never authenticates. The shared `api.operatorToken` of before is no operator: it may still
 * read and start runs (`permit`), never decide.
 *
 * Credentials are compared in constant time: a hash by scrypt and timingSafeEqual, a credential read from a
 * file by timingSafeEqual of SHA-256 digests. `hashCredential` makes the hash an administrator puts in the
 * configuration (`medic operator hash`).
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type http from 'node:http';
import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../config/load';
import { type Config, CREDENTIAL_HASH, type OperatorConfig } from '../config/schema';
import { HttpError, sameToken } from './http';

export type Role = 'viewer' | 'operator';
export interface Operator {
  name: string;
  role: Role;
}
/** An authenticated request: who, and from where (the proxy's forwarded client when the proxy is trusted). */
export interface Caller {
  operator: Operator;
  source: string;
}

// ---- credentials ----

/** scrypt's cost: N (CPU and memory, a power of 2), r (block size), p (parallelism). The default, 2^14, 8, 1, is the scrypt paper's choice for interactive logins (16 MiB, well under 0.1 s on a free core). */
export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}
export const DEFAULT_COST: ScryptCost = { N: 2 ** 14, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** Bounds on what a hash may ask for, so that a configured hash cannot make every login take minutes or gigabytes. */
const LIMITS = { N: [2 ** 10, 2 ** 20], r: [1, 32], p: [1, 16] } as const;

const scryptOptions = (c: ScryptCost) => ({ N: c.N, r: c.r, p: c.p, maxmem: 256 * c.N * c.r + 1024 * 1024 });

/**
 * The self-describing scrypt hash of a credential, `scrypt$N$r$p$<salt base64>$<hash base64>`, for
 * `api.operators.<name>.credentialHash` (or a credentialFile). Each call draws a new salt.
 */
export function hashCredential(secret: string, cost: ScryptCost = DEFAULT_COST): string {
  checkCost(cost);
  const salt = randomBytes(SALT_BYTES);
  const hash = scryptSync(Buffer.from(secret, 'utf8'), salt, KEY_BYTES, scryptOptions(cost));
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** A new random credential to give an operator (32 bytes, base64url: 43 characters). */
export function newCredential(): string {
  return randomBytes(32).toString('base64url');
}

function checkCost(c: ScryptCost): void {
  const within = (v: number, [lo, hi]: readonly [number, number]) => Number.isInteger(v) && v >= lo && v <= hi;
  if (!within(c.N, LIMITS.N) || (c.N & (c.N - 1)) !== 0) throw new Error(`scrypt N must be a power of 2 from ${LIMITS.N[0]} to ${LIMITS.N[1]}`);
  if (!within(c.r, LIMITS.r)) throw new Error(`scrypt r must be ${LIMITS.r[0]} to ${LIMITS.r[1]}`);
  if (!within(c.p, LIMITS.p)) throw new Error(`scrypt p must be ${LIMITS.p[0]} to ${LIMITS.p[1]}`);
}

interface ParsedHash {
  cost: ScryptCost;
  salt: Buffer;
  hash: Buffer;
}

/** Parses a credential hash; throws naming what is wrong. */
export function parseCredentialHash(text: string): ParsedHash {
  if (!CREDENTIAL_HASH.test(text)) throw new Error('not a credential hash (scrypt$N$r$p$salt$hash, as `medic operator hash` prints)');
  const [, n, r, p, salt, hash] = text.split('$');
  const cost = { N: Number(n), r: Number(r), p: Number(p) };
  checkCost(cost);
  const parsed = { cost, salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
  if (parsed.salt.length < 8) throw new Error('the salt is shorter than 8 bytes');
  if (parsed.hash.length < 16 || parsed.hash.length > 64) throw new Error('the hash must be 16 to 64 bytes');
  return parsed;
}

/** Whether `secret` is the credential of this hash, in time that depends on neither. */
export function verifyCredential(secret: string, hash: string | ParsedHash): boolean {
  const h = typeof hash === 'string' ? parseCredentialHash(hash) : hash;
  const derived = scryptSync(Buffer.from(secret, 'utf8'), h.salt, h.hash.length, scryptOptions(h.cost));
  return timingSafeEqual(derived, h.hash);
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** How one operator's credential is checked. */
type Check = (secret: string) => boolean;

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

/** An operator's credential check from the configuration; throws ConfigError naming the operator and the problem. */
function checkOf(name: string, o: OperatorConfig): Check {
  const where = `api.operators.${name}`;
  if (o.credentialHash !== undefined) {
    let parsed: ParsedHash;
    try {
      parsed = parseCredentialHash(o.credentialHash);
    } catch (err) {
      throw new ConfigError(`${where}.credentialHash: ${(err as Error).message}`);
    }
    return (secret) => verifyCredential(secret, parsed);
  }
  const file = o.credentialFile as string;
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new ConfigError(`${where}.credentialFile ${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0) throw new ConfigError(`${where}.credentialFile ${file} has mode ${octal(st.mode)}: readable or writable by group or others (chmod 600 it)`);
    text = readFileSync(file, 'utf8').replace(/[\r\n]+$/, '');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${where}.credentialFile ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (text.startsWith('scrypt$')) {
    try {
      const parsed = parseCredentialHash(text);
      return (secret) => verifyCredential(secret, parsed);
    } catch (err) {
      throw new ConfigError(`${where}.credentialFile ${file}: ${(err as Error).message}`);
    }
  }
  if (text.length < 16 || /\s/.test(text)) throw new ConfigError(`${where}.credentialFile ${file}: a credential is at least 16 characters without spaces (or a hash made by \`medic operator hash\`)`);
  const expected = digest(text);
  return (secret) => timingSafeEqual(digest(secret), expected);
}

// ---- requests ----

const CACHE_MAX = 1024;
const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
const BEARER = /^Bearer (\S+)$/;

/** The address as written for people and the audit: IPv4-mapped IPv6 (`::ffff:127.0.0.1`) as IPv4. */
function plainAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1] : address;
}

export class Identities {
  private readonly operators = new Map<string, { operator: Operator; check: Check }>();
  private readonly proxies = new BlockList();
  private readonly anyProxy: boolean;
  private readonly header: string;
  /**
   * Credentials already checked (SHA-256 of the credential -> operator name, or null for none), so that
   * scrypt runs once per credential and not on every request; cleared when it reaches CACHE_MAX entries.
   */
  private readonly checked = new Map<string, string | null>();

  /** `legacyToken`: the shared operator token (api.operatorToken or the generated one), which may read and start runs. */
  constructor(
    config: Config,
    private readonly legacyToken?: string,
  ) {
    for (const [name, o] of Object.entries(config.api.operators)) this.operators.set(name, { operator: { name, role: o.role }, check: checkOf(name, o) });
    for (const p of config.api.trustedProxies) {
      const [address, prefix] = p.split('/');
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (prefix === undefined) this.proxies.addAddress(address, family);
      else this.proxies.addSubnet(address, Number(prefix), family);
    }
    this.anyProxy = config.api.trustedProxies.length > 0;
    this.header = config.api.proxyUserHeader;
  }

  /** The operator whose credential this is (never the shared operator token's holder). */
  byCredential(secret: string): Operator | undefined {
    if (secret.length === 0 || secret.length > 4096) return undefined;
    const key = digest(secret).toString('hex');
    const known = this.checked.get(key);
    if (known !== undefined) return known === null ? undefined : this.operators.get(known)?.operator;
    // Every operator's check, with no early exit: the time says nothing about which one (if any) matched.
    const matches: Operator[] = [];
    for (const { operator, check } of this.operators.values()) if (check(secret)) matches.push(operator);
    // Two operators with one credential: neither (an identity must be unambiguous).
    const found = matches.length === 1 ? matches[0] : undefined;
    if (this.checked.size >= CACHE_MAX) this.checked.clear();
    this.checked.set(key, found?.name ?? null);
    return found;
  }

  /** The operator of this name (the proxy's header names one). */
  byName(name: string): Operator | undefined {
    return this.operators.get(name)?.operator;
  }

  /** The operators, for listings (no credentials). */
  list(): Operator[] {
    return [...this.operators.values()].map((o) => o.operator);
  }

  /**
   * The operator making this request: the trusted proxy's header (from a configured proxy address only),
   * else the bearer credential. 401: no credential; 403: a wrong one, the shared operator token, the
   * proxy header from an address that is not a trusted proxy, or a name that is no operator.
   */
  authenticate(req: http.IncomingMessage): Caller {
    const who = this.identify(req);
    if (who === 'operator-token') throw new HttpError(403, 'the shared operator token (api.operatorToken) reads and starts runs only; decide with your own credential (api.operators)');
    return who;
  }

  /**
   * For the routes that the shared operator token may still use: `read` (runs, history, metrics: any
   * operator, viewers too) and `start` (operators only). Returns the caller, or undefined for the shared token.
   */
  permit(req: http.IncomingMessage, need: 'read' | 'start'): Caller | undefined {
    const who = this.identify(req);
    if (who === 'operator-token') return undefined;
    if (need === 'start' && who.operator.role !== 'operator') throw new HttpError(403, `${who.operator.name} is a viewer: viewers read, operators start runs and decide`);
    return who;
  }

  /** The client's address: the proxy's forwarded client (last X-Forwarded-For entry) when the peer is a trusted proxy. */
  sourceOf(req: http.IncomingMessage): string {
    const peer = plainAddress(req.socket.remoteAddress ?? '');
    if (!this.isTrustedProxy(peer)) return peer;
    const forwarded = String(req.headers['x-forwarded-for'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .pop();
    return forwarded && isIP(forwarded) ? plainAddress(forwarded) : peer;
  }

  /** Whether the request comes from a trusted proxy (whose forwarded headers then count, e.g. X-Forwarded-Proto for the console's Secure cookie). */
  fromTrustedProxy(req: http.IncomingMessage): boolean {
    return this.isTrustedProxy(plainAddress(req.socket.remoteAddress ?? ''));
  }

  private isTrustedProxy(peer: string): boolean {
    const family = isIP(peer);
    return this.anyProxy && family !== 0 && this.proxies.check(peer, family === 6 ? 'ipv6' : 'ipv4');
  }

  private identify(req: http.IncomingMessage): Caller | 'operator-token' {
    const peer = plainAddress(req.socket.remoteAddress ?? '');
    const source = this.sourceOf(req);
    const named = req.headers[this.header];
    if (named !== undefined && named !== '') {
      // Anyone can send the header; only what a trusted proxy sends names anybody.
      if (!this.isTrustedProxy(peer)) throw new HttpError(403, `the ${this.header} header is accepted only from a trusted proxy (api.trustedProxies); refused from ${peer}`);
      const name = Array.isArray(named) ? '' : named;
      const operator = NAME.test(name) ? this.byName(name) : undefined;
      if (!operator) throw new HttpError(403, `the proxy's ${this.header} names no operator (api.operators)`);
      return { operator, source };
    }
    const m = BEARER.exec(req.headers.authorization ?? '');
    if (!m) throw new HttpError(401, 'missing bearer token (Authorization: Bearer <token>)');
    if (this.legacyToken !== undefined && sameToken(m[1], this.legacyToken)) return 'operator-token';
    const operator = this.byCredential(m[1]);
    if (!operator) throw new HttpError(403, 'invalid token');
    return { operator, source };
  }
}
