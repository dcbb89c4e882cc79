// orchestrator `topology` output (orch_topo.sh), im_utils --reup-mysql-replica logs, `kubectl get po` tables.
import { HOSTPORT, NAMESPACE, POD, check } from './patterns';
import { type Parsed, fail, ok } from './result';
import { nonBlankLines, show, words } from './text';

export interface OrchInstance {
  /** no marker: master; `+`: working replica; `-`: broken replica */
  marker: 'master' | 'replica' | 'broken';
  /** 0 for a master, 1 for its replicas, 2 for replicas of replicas, ... */
  depth: number;
  host: string;
  port: number;
  hostPort: string;
  /** '' when the line has no `(alias)` */
  alias: string;
  pod: string;
  namespace: string;
  /** `<N>s`, `null`, `unknown` or `detached` */
  lag: string;
  /** ok | lag | nonreplicating | unchecked | invalid */
  status: string;
  version: string;
  rw: 'rw' | 'ro';
  binlogFormat: string;
  /** the tokens after the binlog format: `>>`, `GTID`, `GTID:errant`, `P-GTID`, `semi:master`, `downtimed`, ... */
  extras: string[];
  errant: boolean;
  downtimed: boolean;
  raw: string;
}

export interface OrchLineError {
  line: number;
  raw: string;
  error: string;
}

export interface OrchCluster {
  instances: OrchInstance[];
  errors: OrchLineError[];
}

export interface OrchTopology {
  /** keyed by Kubernetes namespace (the cluster name) */
  clusters: Record<string, OrchCluster>;
  /** lines whose namespace could not be read */
  errors: OrchLineError[];
}

const LINE = /^(?:([+-])\s+)?([^\s:()[\]]+):([0-9]+)(?:\s+\(([^()\s]*)\))?\s+\[([^[\]]*)\]$/;
const HOST = /^([^.]+)\.mysql\.([^.]+)$/;
const LAG = /^(?:[0-9]+s|null|unknown|detached)$/;
const STATUS = /^(?:ok|lag|nonreplicating|unchecked|invalid)$/;
const VERSION = /^[0-9][0-9A-Za-z._-]*$/;
const BINLOG = /^(?:ROW|STATEMENT|MIXED)$/;
const EXTRA = /^[A-Za-z0-9:>_-]+$/;

export function parseOrchTopology(text: string): OrchTopology {
  const topo: OrchTopology = { clusters: {}, errors: [] };
  const cluster = (ns: string): OrchCluster => {
    if (!Object.hasOwn(topo.clusters, ns)) topo.clusters[ns] = { instances: [], errors: [] };
    return topo.clusters[ns];
  };
  const lines = nonBlankLines(text);
  if (lines.length === 0) topo.errors.push({ line: 0, raw: '', error: 'empty topology output' });
  for (const { no, raw } of lines) {
    const r = parseOrchLine(raw);
    if (r.ok) {
      cluster(r.value.namespace).instances.push(r.value);
      continue;
    }
    const err = { line: no, raw, error: r.error };
    const ns = /\.mysql\.([^\s.:]+):/.exec(raw)?.[1];
    if (ns !== undefined && NAMESPACE.test(ns)) cluster(ns).errors.push(err);
    else topo.errors.push(err);
  }
  return topo;
}

function parseOrchLine(line: string): Parsed<OrchInstance> {
  const raw = line.replace(/\s+$/, '');
  const indent = /^[ \t]*/.exec(raw)?.[0] ?? '';
  if (indent.includes('\t')) return fail('tab in indentation: depth is ambiguous');
  const m = LINE.exec(raw.slice(indent.length));
  if (!m) return fail(`unrecognised topology line ${show(raw.trim())}`);
  const [, mark, host, portText, alias = '', fields] = m;
  if (mark === undefined ? indent.length > 0 : indent.length % 2 !== 0) return fail(`unexpected indentation of ${indent.length} spaces`);
  const hostPort = check(HOSTPORT, 'host:port', `${host}:${portText}`);
  if (!hostPort.ok) return hostPort;
  const hm = HOST.exec(host);
  if (!hm) return fail(`host ${show(host)} is not <pod>.mysql.<namespace>`);
  const pod = check(POD, 'pod', hm[1]);
  if (!pod.ok) return pod;
  const namespace = check(NAMESPACE, 'namespace', hm[2]);
  if (!namespace.ok) return namespace;
  const [lag, status, version, rw, binlogFormat, ...extras] = fields.split(',').map((f) => f.trim());
  if (binlogFormat === undefined) return fail(`too few fields in [${fields}] (need lag,status,version,rw|ro,binlog format)`);
  const checks: [boolean, string][] = [
    [LAG.test(lag), `lag ${show(lag)}`],
    [STATUS.test(status), `status ${show(status)}`],
    [VERSION.test(version), `version ${show(version)}`],
    [rw === 'rw' || rw === 'ro', `read-write flag ${show(rw)}`],
    [BINLOG.test(binlogFormat), `binlog format ${show(binlogFormat)}`],
    ...extras.map((e): [boolean, string] => [EXTRA.test(e), `extra ${show(e)}`]),
  ];
  const bad = checks.find(([good]) => !good)?.[1];
  if (bad) return fail(`unknown ${bad} in ${show(raw.trim())}`);
  return ok({
    marker: mark === '+' ? 'replica' : mark === '-' ? 'broken' : 'master',
    depth: mark === undefined ? 0 : indent.length / 2 + 1,
    host,
    port: Number(portText),
    hostPort: hostPort.value,
    alias,
    pod: pod.value,
    namespace: namespace.value,
    lag,
    status,
    version,
    rw: rw as 'rw' | 'ro',
    binlogFormat,
    extras,
    errant: extras.includes('GTID:errant'),
    downtimed: extras.includes('downtimed'),
    raw,
  });
}

export type OrchVerdict =
  | { kind: 'healthy' }
  | { kind: 'two-masters' }
  | { kind: 'no-master' }
  | { kind: 'broken-replica'; replicas: OrchInstance[] }
  | { kind: 'errant'; replicas: OrchInstance[] }
  | { kind: 'unparseable'; reason: string };

/**
 * Judges one cluster per the mysql-topology runbook. Lag or downtime alone is no reason to act.
 * States the runbook does not cover (a `+` replica that is not replicating, a master whose check
 * is not ok) come back as unparseable, so that the caller escalates instead of acting.
 */
export function judgeCluster(c: OrchCluster): OrchVerdict {
  if (c.errors.length > 0) return { kind: 'unparseable', reason: c.errors.map((e) => `line ${e.line}: ${e.error}`).join('; ') };
  if (c.instances.length === 0) return { kind: 'unparseable', reason: 'no instances' };
  const masters = c.instances.filter((i) => i.marker === 'master');
  if (masters.length > 1) return { kind: 'two-masters' };
  if (masters.length === 0) return { kind: 'no-master' };
  const master = masters[0];
  if (c.instances.length === 1 && master.lag === 'null' && master.status === 'nonreplicating') return { kind: 'no-master' };
  const healthy = (i: OrchInstance) => i.status === 'ok' || i.status === 'lag';
  if (!healthy(master)) return { kind: 'unparseable', reason: `master ${master.hostPort} has status ${master.status}` };
  const odd = c.instances.find((i) => i.marker === 'replica' && !healthy(i));
  if (odd) return { kind: 'unparseable', reason: `replica ${odd.hostPort} is marked + but has status ${odd.status}` };
  const broken = c.instances.filter((i) => i.marker === 'broken');
  if (broken.length > 0) return { kind: 'broken-replica', replicas: broken };
  const errant = c.instances.filter((i) => i.marker === 'replica' && i.errant);
  if (errant.length > 0) return { kind: 'errant', replicas: errant };
  return { kind: 'healthy' };
}

/** The namespace, pod and PVC named by `im_utils --reup-mysql-replica` (`deleting pvc|pod <ns>:<name>`). */
export function parseReupLog(text: string): Parsed<{ namespace: string; pod: string; pvc?: string }> {
  const found: { pvc: string[]; pod: string[] } = { pvc: [], pod: [] };
  let namespace: string | undefined;
  for (const { no, text: line } of nonBlankLines(text)) {
    if (/\|\s*(?:ERROR|FATAL|PANIC)\s*\|/.test(line)) return fail(`im_utils reported an error: ${show(line)}`, no);
    const m = /(?:^|[\s>])deleting (pvc|pod) ([^\s:|]+):([^\s|]+)/.exec(line);
    if (!m) continue;
    const kind = m[1] as 'pvc' | 'pod';
    const ns = check(NAMESPACE, 'namespace', m[2]);
    if (!ns.ok) return fail(ns.error, no);
    const name = check(POD, kind, m[3]);
    if (!name.ok) return fail(name.error, no);
    if (namespace !== undefined && namespace !== ns.value) return fail(`namespaces differ: ${namespace} and ${ns.value}`, no);
    namespace = ns.value;
    if (!found[kind].includes(name.value)) found[kind].push(name.value);
  }
  if (found.pod.length !== 1 || namespace === undefined) {
    return fail(found.pod.length === 0 ? 'no "deleting pod <ns>:<pod>" line in im_utils output' : `several pods deleted: ${found.pod.join(', ')}`);
  }
  if (found.pvc.length > 1) return fail(`several pvcs deleted: ${found.pvc.join(', ')}`);
  return ok({ namespace, pod: found.pod[0], ...(found.pvc.length ? { pvc: found.pvc[0] } : {}) });
}

export interface KubectlPod {
  name: string;
  ready: number;
  readyTotal: number;
  status: string;
  restarts: number;
  age: string;
}

/** `kubectl -n <ns> get po` (default columns; RESTARTS may carry `(5m ago)`). */
export function parseKubectlPods(text: string): Parsed<KubectlPod[]> {
  const lines = nonBlankLines(text);
  if (lines.length === 1 && /^No resources found( in \S+ namespace)?\.$/.test(lines[0].text)) return ok([]);
  if (lines[0]?.text !== 'NAME READY STATUS RESTARTS AGE') return fail('missing header NAME READY STATUS RESTARTS AGE', lines[0]?.no);
  const pods: KubectlPod[] = [];
  for (const { no, text: line } of lines.slice(1)) {
    const t = words(line);
    const m = /^([0-9]+)\/([0-9]+)$/.exec(t[1] ?? '');
    const restarts = t.slice(3, -1).join(' ');
    const rm = /^([0-9]+)(?: \([0-9a-z]+ ago\))?$/.exec(restarts);
    if (t.length < 5 || !m || !rm || !/^[A-Za-z][A-Za-z0-9:/-]*$/.test(t[2]) || !/^[0-9a-z]+$/.test(t[t.length - 1])) {
      return fail(`unrecognised pod line ${show(line)}`, no);
    }
    const name = check(POD, 'pod', t[0]);
    if (!name.ok) return fail(name.error, no);
    pods.push({ name: name.value, ready: Number(m[1]), readyTotal: Number(m[2]), status: t[2], restarts: Number(rm[1]), age: t[t.length - 1] });
  }
  return ok(pods);
}
