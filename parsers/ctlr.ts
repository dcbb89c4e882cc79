// Controller (ctlr) topology from port 4020, `fgrep ipros_cluster` / `compot_bind` config lines, and its check line.
import { type CheckMkLine, checkText, parseCheckMkLine } from './checkmk';
import { HOST, HOSTPORT, NODE, check } from './patterns';
import { type Parsed, fail, firstError, ok } from './result';
import { nonBlankLines, show, words } from './text';

export interface CtlrTopoEntry {
  /** first label of fqdn, e.g. `vkt03` */
  node: string;
  fqdn: string;
  address: string;
  /** the line describes the node that answered */
  self: boolean;
  role: 'main' | '';
  /** `self` for the answering node, else what it sees of the other: `alive` or `dead` */
  state: 'self' | 'alive' | 'dead';
}

/** `echo ipros_cluster_show | nc <host> 4020`: `<fqdn> <address> (self|alive|dead) [main]` per line. */
export function parseCtlrTopology(text: string): Parsed<CtlrTopoEntry[]> {
  const entries: CtlrTopoEntry[] = [];
  const lines = nonBlankLines(text);
  if (lines.length === 0) return fail('empty ctlr topology output');
  for (const { no, text: line } of lines) {
    const [fqdn, address, ...flags] = words(line);
    const state = flags[0];
    if (state !== 'self' && state !== 'alive' && state !== 'dead') return fail(`unrecognised ctlr topology line ${show(line)}`, no);
    if (flags.length > 2 || (flags.length === 2 && flags[1] !== 'main')) return fail(`unrecognised ctlr topology flags ${show(flags.join(' '))}`, no);
    const bad = firstError(check(HOST, 'fqdn', fqdn), check(HOSTPORT, 'address', address), check(NODE, 'node', fqdn.split('.')[0]));
    if (bad) return fail(bad, no);
    if (entries.some((e) => e.fqdn === fqdn)) return fail(`duplicate node ${fqdn}`, no);
    if (state === 'self' && entries.some((e) => e.self)) return fail('two lines marked self', no);
    entries.push({ node: fqdn.split('.')[0], fqdn, address, self: state === 'self', role: flags[1] === 'main' ? 'main' : '', state });
  }
  return ok(entries);
}

export interface CtlrConf {
  clustered?: boolean;
  members: { fqdn: string; address: string }[];
  /** fqdn named by `ipros_cluster_main` */
  main?: string;
  compotBind?: { host: string; port: number };
}

/** Lines from `fgrep ipros_cluster` and `fgrep compot_bind` on ctlr-1.conf; `#` comments are skipped, other lines are errors. */
export function parseCtlrConf(text: string): Parsed<CtlrConf> {
  const conf: CtlrConf = { members: [] };
  const seen = new Set<string>();
  for (const { no, text: line } of nonBlankLines(text)) {
    if (line.startsWith('#')) continue;
    const [key, ...args] = words(line);
    if (seen.has(key) && key !== 'ipros_cluster_add') return fail(`${key} given twice`, no);
    seen.add(key);
    if (key === 'ipros_clustered' && args.length === 1 && (args[0] === 'true' || args[0] === 'false')) {
      conf.clustered = args[0] === 'true';
    } else if (key === 'ipros_cluster_add' && args.length === 2) {
      const bad = firstError(check(HOST, 'fqdn', args[0]), check(HOSTPORT, 'address', args[1]));
      if (bad) return fail(bad, no);
      if (conf.members.some((m) => m.fqdn === args[0])) return fail(`member ${args[0]} added twice`, no);
      conf.members.push({ fqdn: args[0], address: args[1] });
    } else if (key === 'ipros_cluster_main' && args.length === 1) {
      const bad = firstError(check(HOST, 'fqdn', args[0]));
      if (bad) return fail(bad, no);
      conf.main = args[0];
    } else if (key === 'compot_bind' && args.length === 1) {
      const bad = firstError(check(HOSTPORT, 'compot_bind', args[0]));
      if (bad) return fail(bad, no);
      const colon = args[0].lastIndexOf(':');
      conf.compotBind = { host: args[0].slice(0, colon), port: Number(args[0].slice(colon + 1)) };
    } else {
      return fail(`unrecognised ctlr config line ${show(line)}`, no);
    }
  }
  return ok(conf);
}

/** Output of ctlr_topo_check.sh: exactly one ctlr_topo_check line; healthy iff `0 ... ctlr topology is OK`. */
export function parseCheckLine(text: string): Parsed<{ healthy: boolean; check: CheckMkLine }> {
  const lines = nonBlankLines(text);
  if (lines.length !== 1) return fail(`expected exactly one check line, got ${lines.length}`);
  const r = parseCheckMkLine(lines[0].raw);
  if (!r.ok) return fail(r.error, lines[0].no);
  if (r.value.service !== 'ctlr_topo_check') return fail(`expected ctlr_topo_check, got ${show(r.value.service)}`, lines[0].no);
  const okText = checkText(r.value) === 'ctlr topology is OK';
  if (okText !== (r.value.state === 0)) return fail(`state ${r.value.state} contradicts text ${show(r.value.text)}`, lines[0].no);
  return ok({ healthy: okText, check: r.value });
}
