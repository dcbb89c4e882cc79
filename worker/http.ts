/** Small HTTP helpers shared by the API routes: bounded bodies, JSON, bearer tokens, errors as JSON. */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

export interface ApiTokens {
  webhook: string;
  operator: string;
}

export const MAX_BODY = 64 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * Whether the bearer token given is the expected one, in time that depends on neither token: both are
 * hashed to 32 bytes first, so the comparison neither returns early nor reveals the expected length.
 */
export function sameToken(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export function requireToken(req: http.IncomingMessage, expected: string): void {
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  if (!m) throw new HttpError(401, 'missing bearer token (Authorization: Bearer <token>)');
  if (!sameToken(m[1], expected)) throw new HttpError(403, 'invalid token');
}

export async function readBody(req: http.IncomingMessage, max = MAX_BODY): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw new HttpError(413, `body larger than ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new HttpError(413, `body larger than ${max} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'expected Content-Type: application/json');
  const text = await readBody(req);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `invalid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new HttpError(400, 'expected a JSON object');
  return doc as Record<string, unknown>;
}

export function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

