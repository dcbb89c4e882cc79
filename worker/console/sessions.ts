/**
 * The console's sessions: a random ID in a cookie (HttpOnly, SameSite=Strict, Path=/console, Secure over
 * TLS), the session itself only in this process's memory (the operator, the CSRF token, when it ends). A
 * session ends a fixed time after the login (config `api.sessionTimeout`), at log out, or when the process
 * stops; an ended session is gone from the store, and its cookie names nothing. The cookie itself carries no
 * Max-Age (it goes when the browser closes): the server alone decides when a session ends, and can say so.
 *
 * The store is keyed by the SHA-256 of the ID, so a lookup's timing says nothing about the IDs held, and it
 * is bounded: past `max` sessions the ended ones are swept, then the oldest dropped.
 */
import { createHash, randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { Operator } from '../identity';

export const SESSION_COOKIE = 'medic_session';
export const COOKIE_PATH = '/console';

export interface Session {
  operator: Operator;
  /** The CSRF token every form of this session carries (csrf.ts). */
  csrf: string;
  createdAt: number;
  expiresAt: number;
  /** One message for the next page (after a redirect): what the last action did. */
  flash?: string;
}

export type Lookup = { session: Session; id: string } | { session?: undefined; expired: boolean };

const keyOf = (id: string): string => createHash('sha256').update(id, 'utf8').digest('base64');

export class Sessions {
  private readonly byKey = new Map<string, Session>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly max = 10_000,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  /** A new session for an operator who just logged in; returns the ID for the cookie. */
  create(operator: Operator): { id: string; session: Session } {
    if (this.byKey.size >= this.max) this.sweep();
    const id = randomBytes(32).toString('base64url');
    const t = this.now();
    const session: Session = { operator, csrf: randomBytes(32).toString('base64url'), createdAt: t, expiresAt: t + this.ttlMs };
    this.byKey.set(keyOf(id), session);
    return { id, session };
  }

  /** The session of a cookie's ID; an ended one is removed and reported as expired. */
  lookup(id: string | undefined): Lookup {
    if (!id || id.length > 100) return { expired: false };
    const key = keyOf(id);
    const session = this.byKey.get(key);
    if (!session) return { expired: false };
    if (this.now() >= session.expiresAt) {
      this.byKey.delete(key);
      return { expired: true };
    }
    return { session, id };
  }

  destroy(id: string): void {
    this.byKey.delete(keyOf(id));
  }

  private sweep(): void {
    const t = this.now();
    for (const [key, s] of this.byKey) if (t >= s.expiresAt) this.byKey.delete(key);
    // Map order is insertion order: the oldest first.
    for (const key of this.byKey.keys()) {
      if (this.byKey.size < this.max) break;
      this.byKey.delete(key);
    }
  }
}

/** The request's cookies (the first of a repeated name wins). */
export function cookies(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name && !(name in out)) out[name] = part.slice(eq + 1).trim();
  }
  return out;
}

/** A Set-Cookie value with the console's attributes; without `maxAge` it lasts while the browser runs, 0 clears it. */
export function cookie(name: string, value: string, opts: { secure: boolean; maxAge?: number; path?: string }): string {
  return [`${name}=${value}`, `Path=${opts.path ?? COOKIE_PATH}`, ...(opts.maxAge !== undefined ? [`Max-Age=${opts.maxAge}`] : []), 'HttpOnly', 'SameSite=Strict', ...(opts.secure ? ['Secure'] : [])].join('; ');
}
