/** The console's POST bodies: small url-encoded forms with known fields, each given at most once. */
import type http from 'node:http';
import { HttpError, readBody } from '../http';

const MAX_FORM = 16 * 1024;

export async function readForm(req: http.IncomingMessage, allowed: readonly string[]): Promise<URLSearchParams> {
  if (!/^application\/x-www-form-urlencoded\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'expected a form (Content-Type: application/x-www-form-urlencoded)');
  const form = new URLSearchParams(await readBody(req, MAX_FORM));
  const seen = new Set<string>();
  for (const key of form.keys()) {
    if (!allowed.includes(key)) throw new HttpError(400, `unknown form field ${JSON.stringify(key.slice(0, 40))}`);
    if (seen.has(key)) throw new HttpError(400, `form field ${JSON.stringify(key)} given twice`);
    seen.add(key);
  }
  return form;
}
