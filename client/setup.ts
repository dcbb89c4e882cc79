/**
 * `medic setup`: what a Temporal cluster needs before the first worker starts, made so idempotently.
 *   - the namespace (service.namespace or TEMPORAL_NAMESPACE): registered with a retention when missing,
 *     then waited for until describeNamespace sees it;
 *   - the search attributes every run keeps up to date (SEARCH_ATTRIBUTES: Runbook, Target, RunStatus as
 *     Keyword): the missing ones added (retried while a new namespace is not yet known to the frontend, as on
 *     a cluster whose namespace cache refreshes later), then waited for until listSearchAttributes shows them
 *     and the frontend accepts them (a start made right after setup must not be refused).
 * One that exists with another type is refused before anything is added: the runs could not set it, and
 * removing it is an operator's decision. A second run finds everything in place and changes nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
type IndexedValueType = temporal.api.enums.v1.IndexedValueType;

/** gRPC status codes the operator and workflow services answer with (google.rpc.Code). */
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
const UNAVAILABLE = 14;

export interface SetupResult {
  namespace: string;
  /** The namespace was registered by this run (with this retention). */
  created: boolean;
  retention?: string;
  /** Search attributes this run added, and those that were already there with the right type. */
  added: string[];
  present: string[];
}

/** A state `medic setup` will not change by itself (an attribute of another type); nothing was changed. */
export class SetupRefused extends Error {}

/** `72h`, `30d`: a namespace's retention, in seconds. */
export function parseRetention(text: string): number {
  const m = /^(\d{1,5})(h|d)$/.exec(text);
  if (!m || Number(m[1]) === 0) throw new SetupRefused(`--retention ${text}: expected hours or days such as 72h or 30d`);
  return Number(m[1]) * (m[2] === 'd' ? 86_400 : 3_600);
}

/** INDEXED_VALUE_TYPE_KEYWORD_LIST -> KeywordList: the names `temporal operator search-attribute create --type` takes. */
function typeName(t: IndexedValueType): string {
  const name = IndexedValueType[t] ?? String(t);
  return name.replace(/^INDEXED_VALUE_TYPE_/, '').toLowerCase().replace(/(^|_)([a-z])/g, (_m, _s: string, c: string) => c.toUpperCase());
}

const wanted = (name: keyof typeof SEARCH_ATTRIBUTES): IndexedValueType => IndexedValueType[`INDEXED_VALUE_TYPE_${SEARCH_ATTRIBUTES[name].toUpperCase()}` as keyof typeof IndexedValueType];
const codeOf = (err: unknown): number | undefined => (isGrpcServiceError(err) ? err.code : undefined);

/** Calls `fn` until `done` says its answer will do, or throws once `waitMs` has passed. */
async function until<T>(what: string, waitMs: number, fn: () => Promise<T>, done: (value: T) => boolean, retryable: (err: unknown) => boolean = () => false): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    let last: unknown;
    try {
      const value = await fn();
      if (done(value)) return value;
    } catch (err) {
      if (!retryable(err)) throw err;
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not done after ${Math.round(waitMs / 1000)} s${last instanceof Error ? ` (last answer: ${last.message})` : ''}`);
    await sleep(250);
  }
}

async function namespaceExists(connection: Connection, namespace: string): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch (err) {
    if (codeOf(err) === NOT_FOUND) return false;
    throw err;
  }
}

/** The registered type of each of SEARCH_ATTRIBUTES in the namespace (undefined: not there). */
async function currentAttributes(connection: Connection, namespace: string): Promise<Record<string, IndexedValueType | undefined>> {
  const res = await connection.operatorService.listSearchAttributes({ namespace });
  const have = res.customAttributes ?? {};
  return Object.fromEntries(Object.keys(SEARCH_ATTRIBUTES).map((k) => [k, Object.hasOwn(have, k) ? have[k] : undefined]));
}

/**
 * Whether the frontend takes the attributes in a visibility query. It checks a start's search attributes
 * against its namespace cache, which learns of attributes just added only at its next refresh
 * (system.namespaceCacheRefreshInterval, 2 s by default): until then a start is refused with "Namespace ...
 * has no mapping defined for search attribute RunStatus" though listSearchAttributes shows them (seen on the
 * two-node cluster with SQL visibility). A query naming all three goes through the same cache.
 */
async function attributesUsable(connection: Connection, namespace: string): Promise<boolean> {
  const query = Object.keys(SEARCH_ATTRIBUTES).map((k) => `${k} = 'medic-setup-probe'`).join(' AND ');
  try {
    await connection.workflowService.countWorkflowExecutions({ namespace, query });
    return true;
  } catch (err) {
    if ([INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE].includes(codeOf(err) ?? -1)) return false;
    throw err;
  }
}

export async function setupTemporal(connection: Connection, namespace: string, opts: { retention: string; waitMs?: number }): Promise<SetupResult> {
  const waitMs = opts.waitMs ?? 30_000;
  const retentionSeconds = parseRetention(opts.retention);
  let created = false;
  if (!(await namespaceExists(connection, namespace))) {
    try {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(retentionSeconds * 1000) });
      created = true;
    } catch (err) {
      // Another `medic setup` (a second worker host) registered it in between: fine.
      if (codeOf(err) !== ALREADY_EXISTS) throw new Error(`registering namespace ${namespace}: ${(err as Error).message}`);
    }
    await until(`namespace ${namespace} visible`, waitMs, () => namespaceExists(connection, namespace), (seen) => seen);
  }

  // A namespace the frontend does not know yet (its namespace cache refreshes later: seconds on a dev server, more on a
  // cluster) is answered NotFound or Unavailable by the operator service, though describeNamespace sees it: asked again.
  const notYetKnown = (err: unknown) => [NOT_FOUND, UNAVAILABLE].includes(codeOf(err) ?? -1);
  const names = Object.keys(SEARCH_ATTRIBUTES) as (keyof typeof SEARCH_ATTRIBUTES)[];
  const before = await until(`search attributes of ${namespace}`, waitMs, () => currentAttributes(connection, namespace), () => true, notYetKnown);
  const clash = names.filter((k) => before[k] !== undefined && before[k] !== wanted(k));
  if (clash.length) {
    throw new SetupRefused(
      `namespace ${namespace}: ${clash.map((k) => `search attribute ${k} exists as ${typeName(before[k] as IndexedValueType)}, medic needs ${SEARCH_ATTRIBUTES[k]}`).join('; ')}; ` +
        `nothing changed: remove it (temporal operator search-attribute remove --namespace ${namespace} ${clash.map((k) => `--name ${k}`).join(' ')}) or use another namespace`,
    );
  }
  const present = names.filter((k) => before[k] === wanted(k));
  const missing = names.filter((k) => before[k] === undefined);
  const allThere = (now: Record<string, IndexedValueType | undefined>) => names.every((k) => now[k] === wanted(k));
  if (missing.length) {
    const add = async () => {
      try {
        await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((k) => [k, wanted(k)])) });
      } catch (err) {
        // Added meanwhile by another `medic setup`: what counts is that they are there now.
        if (!allThere(await currentAttributes(connection, namespace))) throw err;
      }
      return true;
    };
    await until(`adding search attributes ${missing.join(', ')} to ${namespace}`, waitMs, add, (ok) => ok, notYetKnown);
    await until(`search attributes ${missing.join(', ')} visible in ${namespace}`, waitMs, () => currentAttributes(connection, namespace), allThere, notYetKnown);
  }
  await until(`search attributes usable in ${namespace}`, waitMs, () => attributesUsable(connection, namespace), (ok) => ok);
  return { namespace, created, retention: created ? opts.retention : undefined, added: missing, present };
}

/** One line per fact. */
export function formatSetup(r: SetupResult): string {
  const kinds = [...new Set(Object.values(SEARCH_ATTRIBUTES))].join(', ');
  if (!r.created && r.added.length === 0) return `medic: namespace ${r.namespace} and its search attributes ${r.present.join(', ')} (${kinds}) are in place: nothing to do`;
  const lines: string[] = [];
  if (r.created) lines.push(`medic: namespace ${r.namespace} created (retention ${r.retention})`);
  else lines.push(`medic: namespace ${r.namespace} exists`);
  if (r.added.length) lines.push(`medic: search attributes ${r.added.join(', ')} (${kinds}) added to ${r.namespace}${r.present.length ? `; ${r.present.join(', ')} already there` : ''}`);
  else lines.push(`medic: search attributes ${r.present.join(', ')} (${kinds}) already there`);
  return lines.join('\n');
}
