// Galera state: grastate.dat, Manticore `SHOW STATUS LIKE 'cluster_<name>_%'`, MariaDB `wsrep_%`, --wsrep-recover logs.
import { CLUSTER, check } from './patterns';
import { type Parsed, fail, ok } from './result';
import { nonBlankLines, normalizeWs, show, toInt } from './text';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface Grastate {
  version: string;
  uuid: string;
  /** -1 when the node did not shut down cleanly */
  seqno: number;
  /** undefined when the file has no safe_to_bootstrap line (older Galera) */
  safeToBootstrap?: boolean;
}

/** grastate.dat: `key: value` lines; `#` comments and padding are ignored, unknown keys are errors. */
export function parseGrastate(text: string): Parsed<Grastate> {
  const kv: Record<string, string> = {};
  for (const { no, text: line } of nonBlankLines(text)) {
    if (line.startsWith('#')) continue;
    const m = /^(version|uuid|seqno|safe_to_bootstrap) ?: ?(\S+)$/.exec(line);
    if (!m) return fail(`unrecognised grastate.dat line ${show(line)}`, no);
    if (Object.hasOwn(kv, m[1])) return fail(`${m[1]} given twice`, no);
    kv[m[1]] = m[2];
  }
  const { version, uuid, seqno, safe_to_bootstrap: safe } = kv;
  if (version === undefined || !/^[0-9]+(?:\.[0-9]+)*$/.test(version)) return fail(`missing or invalid version ${show(version ?? '')}`);
  if (uuid === undefined || !UUID.test(uuid)) return fail(`missing or invalid uuid ${show(uuid ?? '')}`);
  const n = toInt(seqno ?? '');
  if (n === undefined || n < -1) return fail(`missing or invalid seqno ${show(seqno ?? '')}`);
  if (safe !== undefined && safe !== '0' && safe !== '1') return fail(`invalid safe_to_bootstrap ${show(safe)}`);
  return ok({ version, uuid, seqno: n, ...(safe === undefined ? {} : { safeToBootstrap: safe === '1' }) });
}

export type ClusterStatusValue = 'primary' | 'non-primary' | 'disconnected';

export interface GaleraStatus {
  status: ClusterStatusValue;
  size?: number;
  /** Manticore node_state (closed|destroyed|joining|donor|synced) or MariaDB wsrep_local_state_comment, lower-cased */
  nodeState?: string;
  lastCommitted?: number;
  /** every row read, keyed by its full counter name */
  raw: Record<string, string>;
}

/** SQL LIKE pattern as a RegExp: `_` is any one character, `%` any run; case-insensitive like MySQL's default collation. */
function likeRegExp(like: string): RegExp {
  const body = like.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/_/g, '.').replace(/%/g, '.*');
  return new RegExp(`^${body}$`, 'i');
}

/**
 * Rows of a two-column `SHOW STATUS LIKE '<like>'` result as the mysql client prints it: the ASCII
 * table (`| Counter | Value |`) or batch mode (`-B`, tab-separated, with or without a header row).
 * A row the query could not have returned is an error (it is most likely an error message).
 */
export function parseStatusRows(text: string, like: string): Parsed<Record<string, string>> {
  const rows: Record<string, string> = {};
  const matches = likeRegExp(like);
  for (const { no, raw, text: line } of nonBlankLines(text)) {
    if (/^\+[-+]+\+$/.test(line) || /^(?:[0-9]+ rows? in set|Empty set)\b/.test(line)) continue;
    let key: string;
    let value: string;
    if (line.startsWith('|')) {
      if (!line.endsWith('|') || line.length < 2) return fail(`malformed table row ${show(line)}`, no);
      const cells = line.slice(1, -1).split('|');
      key = normalizeWs(cells[0]);
      value = normalizeWs(cells.slice(1).join('|'));
      if (cells.length < 2) return fail(`table row without a value column ${show(line)}`, no);
    } else {
      const m = /^\s*(\S+)(?:\s+(.*))?$/.exec(raw);
      key = m?.[1] ?? '';
      value = normalizeWs(m?.[2] ?? '');
    }
    if ((key === 'Counter' || key === 'Variable_name') && value === 'Value') continue;
    if (!/^[A-Za-z0-9_]+$/.test(key) || !matches.test(key)) return fail(`unrecognised status row ${show(line)}`, no);
    if (Object.hasOwn(rows, key)) return fail(`${key} given twice`, no);
    rows[key] = value;
  }
  return ok(rows);
}

function statusOf(rows: Record<string, string>, keys: { status: string; size: string; state: string; committed: string }): Parsed<GaleraStatus> {
  const rawStatus = rows[keys.status];
  if (rawStatus === undefined) return fail(`no ${keys.status} row (is the cluster configured and searchd/mysqld running?)`);
  const status = rawStatus.toLowerCase().replace('_', '-');
  if (status !== 'primary' && status !== 'non-primary' && status !== 'disconnected') return fail(`unknown cluster status ${show(rawStatus)}`);
  const out: GaleraStatus = { status, raw: rows };
  for (const [field, key] of [['size', keys.size], ['lastCommitted', keys.committed]] as const) {
    if (rows[key] === undefined) continue;
    const n = toInt(rows[key]);
    if (n === undefined) return fail(`${key} is not an integer: ${show(rows[key])}`);
    out[field] = n;
  }
  if (rows[keys.state] !== undefined) out.nodeState = rows[keys.state].toLowerCase();
  return ok(out);
}

/** Manticore `SHOW STATUS LIKE 'cluster_<name>_%'`; rows of other clusters (LIKE's `_` matches any character) are ignored. */
export function parseClusterStatus(text: string, cluster: string): Parsed<GaleraStatus> {
  const name = check(CLUSTER, 'cluster', cluster);
  if (!name.ok) return name;
  const rows = parseStatusRows(text, `cluster_${cluster}_%`);
  if (!rows.ok) return rows;
  const prefix = `cluster_${cluster}_`;
  const mine = Object.fromEntries(Object.entries(rows.value).filter(([k]) => k.startsWith(prefix)));
  const key = (s: string) => prefix + s;
  return statusOf(mine, { status: key('status'), size: key('size'), state: key('node_state'), committed: key('last_committed') });
}

/** MariaDB/MySQL `SHOW STATUS LIKE 'wsrep_%'`. */
export function parseWsrepStatus(text: string): Parsed<GaleraStatus> {
  const rows = parseStatusRows(text, 'wsrep_%');
  if (!rows.ok) return rows;
  return statusOf(rows.value, {
    status: 'wsrep_cluster_status',
    size: 'wsrep_cluster_size',
    state: 'wsrep_local_state_comment',
    committed: 'wsrep_last_committed',
  });
}

/** `WSREP: Recovered position: <uuid>:<seqno>` from a `--wsrep-recover` log; several different positions are an error. */
export function parseWsrepRecover(logText: string): Parsed<{ uuid: string; seqno: number }> {
  let found: { uuid: string; seqno: number } | undefined;
  for (const { no, text: line } of nonBlankLines(logText)) {
    const m = /WSREP: Recovered position:\s*(\S*)$/.exec(line);
    if (!m) continue;
    const pos = /^([0-9a-f-]{36}):(-?[0-9]+)$/i.exec(m[1]);
    const seqno = toInt(pos?.[2] ?? '');
    if (!pos || !UUID.test(pos[1]) || seqno === undefined || seqno < -1) return fail(`malformed recovered position ${show(m[1])}`, no);
    if (found && (found.uuid !== pos[1] || found.seqno !== seqno)) return fail(`several different recovered positions`, no);
    found = { uuid: pos[1], seqno };
  }
  return found ? ok(found) : fail('no "WSREP: Recovered position" line');
}
