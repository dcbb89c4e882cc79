// Allow-list patterns for every value that may reach a command line. None has the g flag (no lastIndex state).
import { type Parsed, fail, ok } from './result';
import { hasControlChars, show } from './text';

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';

export const SERVICE = /^[a-z][a-z0-9_]{0,62}$/;
export const INSTANCE = /^[a-z][a-z0-9_]{0,62}-[0-9]{1,4}$/;
/** A host name or IPv4 address: dot-separated DNS labels, at most 253 characters (so no `..`). */
export const HOST = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`, 'i');
/** A short node name as the tools print it: `vkt04`, and `ic map` node names such as `cox-1` or `01`. */
export const NODE = new RegExp(`^${LABEL}$`, 'i');
/** A Kubernetes namespace (RFC 1123 DNS label). */
export const NAMESPACE = new RegExp(`^${LABEL}$`);
/** A pod or PVC name as used by the MySQL operator (a DNS label). */
export const POD = NAMESPACE;
export const MAP = SERVICE;
/** A Manticore cluster name. */
export const CLUSTER = /^[a-z_][a-z0-9_]{0,62}$/i;
const PORT = '(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})';
/** `<host>:<port>`, port 1-65535. */
export const HOSTPORT = new RegExp(`^(?=.{1,259}$)${LABEL}(?:\\.${LABEL})*:${PORT}$`, 'i');

const SHELL_META = /[;&|$`\\'"<>(){}[\]*?!~#^]/;

/** Validates value against an allow-list pattern; kind names the value in the error message. */
export function check(pattern: RegExp, kind: string, value: string): Parsed<string> {
  const bad = (why: string): Parsed<string> => fail(`${kind} ${show(value, 60)} rejected: ${why}`);
  if (value === '') return fail(`${kind} is empty`);
  if (value.length > 253) return bad(`longer than 253 characters (${value.length})`);
  if (hasControlChars(value)) return bad('contains control characters');
  if (/\s/.test(value)) return bad('contains white space');
  const meta = SHELL_META.exec(value);
  if (meta) return bad(`contains shell metacharacter ${meta[0]}`);
  if (value.includes('..')) return bad('contains ".."');
  if (!pattern.test(value)) return bad(`does not match the allowed ${kind} pattern ${pattern.source}`);
  return ok(value);
}
