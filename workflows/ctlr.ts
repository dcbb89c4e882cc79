/**
 * The controller pair (ctlr-1 on two nodes) as ctlr-replica and ctlr-roles see it: which nodes, what
 * each node's ctlr-1.conf and topology say, and the judges of the tools' outputs.
 *
 * The paper's `echo ipros_cluster_show | nc $(fgrep compot_bind ctlr-1.conf | ...) 4020` becomes two
 * argv commands: `cat <ctlrConf>` (read like `fgrep ipros_cluster` + `fgrep compot_bind`), then
 * `nc <compot_bind host> 4020` with `ipros_cluster_show` on its standard input.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { ExecResult } from '../activities';
import { CtlrConf, CtlrTopoEntry, parseCheckLine, parseCtlrConf, parseCtlrTopology } from '../parsers/ctlr';
import { HOST } from '../parsers/patterns';
import { fail, ok, Parsed } from '../parsers/result';
import { nonBlankLines, normalizeWs, show, splitLines } from '../parsers/text';
import type { RunSettings } from './definitions';
import { validInput } from './judges';
import type { Run } from './run';

/** The controller instance, its systemd unit and the run's target. */
export const CTLR = 'ctlr-1';
const TOPOLOGY_PORT = '4020';

export type Pair = [string, string];

/** The first label, as the topology names a node (`vkt03.weave.local` -> `vkt03`). */
export const shortName = (name: string): string => name.split('.')[0].toLowerCase();

/** The controller pair from the configuration (`ctlr.nodes`, inventory host names). */
export function ctlrPair(settings: RunSettings): Pair {
  const nodes = settings.ctlrNodes ?? [];
  if (nodes.length !== 2) throw ApplicationFailure.nonRetryable('the controller pair is not configured (ctlr.nodes: two inventory hosts)', 'InvalidInput');
  const [a, b] = nodes.map((n, i) => validInput(HOST, `ctlr.nodes[${i}]`, n));
  if (shortName(a) === shortName(b)) throw ApplicationFailure.nonRetryable(`ctlr.nodes ${a} and ${b} have the same short name`, 'InvalidInput');
  return [a, b];
}

/** The pair node an alert names (`check ctlr logs on vkt04`): its inventory name or its short name. */
export function pairNode(pair: Pair, name: string): string {
  const node = pair.find((n) => n === name) ?? pair.find((n) => shortName(n) === name.toLowerCase());
  if (!node) throw ApplicationFailure.nonRetryable(`node ${show(name, 60)} is not one of the controller pair (${pair.join(', ')})`, 'InvalidInput');
  return node;
}

export const otherOf = (pair: Pair, node: string): string => (pair[0] === node ? pair[1] : pair[0]);

/** What one node reports: its config lines and its controller's view of the pair. */
export interface CtlrView {
  node: string;
  conf: CtlrConf & { compotBind: { host: string; port: number } };
  /** The `ipros_cluster*` lines, white space normalised and sorted (to compare the two nodes). */
  clusterLines: string[];
  /** The controller's answer; undefined when it refused the connection (not running). */
  topology?: CtlrTopoEntry[];
}

export type Seen = Record<string, CtlrView>;

/** `cat ctlr-1.conf` read as `fgrep ipros_cluster` + `fgrep compot_bind`; the compot_bind line is required. */
export function ctlrConfOf(r: ExecResult): Parsed<{ conf: CtlrView['conf']; clusterLines: string[] }> {
  const picked = splitLines(r.stdout).filter((l) => l.includes('ipros_cluster') || l.includes('compot_bind'));
  const conf = parseCtlrConf(picked.join('\n'));
  if (!conf.ok) return fail(`ctlr config not understood: ${conf.error}`);
  const { compotBind } = conf.value;
  if (!compotBind) return fail('the ctlr config has no compot_bind line');
  const clusterLines = picked.map(normalizeWs).filter((l) => l.startsWith('ipros_cluster')).sort();
  return ok({ conf: { ...conf.value, compotBind }, clusterLines });
}

/**
 * The topology as `node` reports it: exactly the two nodes of the pair, the `self` line being `node`.
 * `refusedOk`: a refused connection (the controller is not running) is an answer too: undefined.
 */
export function topologyOf(pair: Pair, node: string, refusedOk = false) {
  return (r: ExecResult): Parsed<CtlrTopoEntry[] | undefined> => {
    if (r.exitCode !== 0) {
      if (refusedOk && /Connection refused/.test(r.stderr + r.stdout)) return ok(undefined);
      return fail(`exit code ${r.exitCode}`);
    }
    const t = parseCtlrTopology(r.stdout);
    if (!t.ok) return fail(`ctlr topology not understood: ${t.error}${t.line ? ` (line ${t.line})` : ''}`);
    const names = t.value.map((e) => e.node.toLowerCase()).sort();
    const want = pair.map(shortName).sort();
    if (names.join(' ') !== want.join(' ')) return fail(`the topology lists ${names.join(', ')}, expected the pair ${want.join(', ')}`);
    const self = t.value.find((e) => e.self);
    if (!self || self.node.toLowerCase() !== shortName(node)) return fail(`the topology from ${node} does not mark ${shortName(node)} as self`);
    return ok(t.value);
  };
}

export function topologyCommand(run: Run, compotHost: string) {
  return { argv: [run.paths.nc, compotHost, TOPOLOGY_PORT], stdin: 'ipros_cluster_show\n' };
}

/** How `view` sees `node`: `self main`, `alive`, `dead`, ... (undefined: no answer). */
export function tagOf(view: CtlrView, node: string): string | undefined {
  const e = view.topology?.find((x) => x.node.toLowerCase() === shortName(node));
  return e ? `${e.state}${e.role ? ` ${e.role}` : ''}` : undefined;
}

/** Step 1 of both runbooks: the config lines, then the topology, from both nodes. `mayBeDown`: a node whose controller may refuse. */
export async function observe(run: Run, pair: Pair, mayBeDown?: string): Promise<Seen> {
  const confs: Record<string, { conf: CtlrView['conf']; clusterLines: string[] }> = {};
  for (const node of pair) {
    confs[node] = await run.must({ name: `read ${CTLR}.conf on ${node}`, host: node, cmd: { argv: [run.paths.cat, run.paths.ctlrConf] }, judge: ctlrConfOf });
  }
  const seen: Seen = {};
  for (const node of pair) {
    const refusedOk = node === mayBeDown;
    const topology = await run.must({
      name: `topology from ${node}`,
      host: node,
      cmd: topologyCommand(run, confs[node].conf.compotBind.host),
      judge: topologyOf(pair, node, refusedOk),
      okExitCodes: refusedOk ? [0, 1] : [0],
    });
    seen[node] = { node, ...confs[node], topology };
  }
  return seen;
}

/** Both controllers say `self main`. */
export const splitBrain = (pair: Pair, seen: Seen): boolean => pair.every((n) => tagOf(seen[n], n) === 'self main');

/** The observations, for an escalation or an approval. */
export function evidenceOf(pair: Pair, seen: Seen): string {
  return pair
    .map((n) => {
      const v = seen[n];
      const topo = v.topology ? v.topology.map((e) => `  ${e.fqdn} ${e.address} ${tagOf(v, e.node)}`).join('\n') : '  (the controller refused the connection)';
      return `${n}: compot_bind ${v.conf.compotBind.host}:${v.conf.compotBind.port}\n${v.clusterLines.map((l) => `  ${l}`).join('\n')}\n${n}: topology\n${topo}`;
    })
    .join('\n');
}

/** `ctlr_topo_check.sh` must print the OK line. */
export function topoCheckOk(r: ExecResult): Parsed<true> {
  const c = parseCheckLine(r.stdout);
  if (!c.ok) return fail(`ctlr_topo_check output not understood: ${c.error}`);
  return c.value.healthy ? ok(true) : fail(`ctlr_topo_check says: ${show(normalizeWs(r.stdout), 200)}`);
}

/** The topology from `from` must show exactly these tags, e.g. { vkt03: 'self main', vkt04: 'alive' }. */
export function shows(pair: Pair, from: string, want: Record<string, string>) {
  const parse = topologyOf(pair, from);
  return (r: ExecResult): Parsed<true> => {
    const t = parse(r);
    if (!t.ok) return t;
    const view = { topology: t.value } as CtlrView;
    for (const [node, tag] of Object.entries(want)) {
      const got = tagOf(view, node);
      if (got !== tag) return fail(`${from} sees ${shortName(node)} as "${got ?? 'missing'}", expected "${tag}"`);
    }
    return ok(true);
  };
}

/** A command that changes something and prints nothing of interest: its exit code is the verdict. */
export const done = (): Parsed<true> => ok(true);

/** `im_deployer`: exit 0 and no ERROR line (its log lines look like `... | ERROR | where > message |`). */
export function noErrors(r: ExecResult): Parsed<true> {
  const bad = nonBlankLines(`${r.stdout}\n${r.stderr}`).find((l) => /(^|\| )ERROR\b/.test(l.text));
  return bad ? fail(`error reported: ${show(bad.text, 200)}`) : ok(true);
}

/** `$(date +%Y%m%d_%H%M)`, from workflow time (UTC), never from the remote shell. */
export function stamp(d = new Date()): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}_${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}`;
}
