// `ic map <service>` output: an optional autoflip header, then `node` blocks with their `srv` lines.
import { HOST, HOSTPORT, INSTANCE, NODE, SERVICE, check } from './patterns';
import { type Parsed, fail, firstError, ok } from './result';
import { nonBlankLines, show } from './text';

export interface IcSrv {
  /** `<service>.<host>.<instance>`, e.g. `cox.vkt-4vm-879-standart-02.cox-1` */
  fullName: string;
  service: string;
  host: string;
  instance: string;
  address: string;
  /** `alive` or `dead` */
  state: string;
  /** `main`, `slave`, or '' when the line has no role */
  role: string;
  /** value of `lastseen:` (possibly wrapped onto the next line) */
  lastseen?: string;
  /** further tokens after state / role / lastseen, kept verbatim */
  extra: string[];
}

export interface IcNode {
  name: string;
  buckets: string;
  srvs: IcSrv[];
}

export interface IcMap {
  autoflip?: { enabled: boolean; reason?: string; alert: boolean };
  nodes: IcNode[];
}

const AUTOFLIP = /^autoflip: ?(enable|disable)(?: (.*?))??(?: ?\[ALERT\])?$/;
const NODE_LINE = /^node (\S+) \(([0-9]+) buckets\)$/;
const LASTSEEN = /^[0-9]{4}-[0-9]{2}-[0-9]{2}\/[0-9]{2}:[0-9]{2}:[0-9]{2}$/;

export interface IcMapOptions {
  /** Accept node blocks named like an instance with `_` (`node video_conf-2`); off only to replay runs recorded before. */
  instanceNodeNames?: boolean;
}

export function parseIcMap(text: string, opts: IcMapOptions = {}): Parsed<IcMap> {
  const instanceNodeNames = opts.instanceNodeNames ?? true;
  const lines = nonBlankLines(text);
  const map: IcMap = { nodes: [] };
  let afterHeader = false;
  for (let i = 0; i < lines.length; i++) {
    const { no, text: line } = lines[i];
    const kind = line.split(' ')[0];
    if (line.startsWith('autoflip:')) {
      if (map.autoflip || map.nodes.length > 0) return fail('autoflip header must come once, before the first node', no);
      const m = AUTOFLIP.exec(line);
      if (!m) return fail(`unrecognised autoflip header ${show(line)}`, no);
      const reason = m[2];
      if (m[1] === 'enable' && reason !== undefined) return fail(`unexpected text after "autoflip: enable": ${show(reason)}`, no);
      map.autoflip = { enabled: m[1] === 'enable', alert: line.endsWith('[ALERT]'), ...(reason ? { reason } : {}) };
    } else if (line === '[ALERT]') {
      if (!afterHeader || !map.autoflip || map.autoflip.alert) return fail('[ALERT] line not directly after the autoflip header', no);
      map.autoflip.alert = true;
    } else if (kind === 'node') {
      const m = NODE_LINE.exec(line);
      if (!m) return fail(`malformed node line ${show(line)}`, no);
      const name = instanceNodeNames ? nodeName(m[1]) : check(NODE, 'node name', m[1]);
      if (!name.ok) return fail(name.error, no);
      if (map.nodes.some((n) => n.name === m[1])) return fail(`duplicate node ${show(m[1])}`, no);
      map.nodes.push({ name: m[1], buckets: m[2], srvs: [] });
    } else if (kind === 'srv') {
      const node = map.nodes[map.nodes.length - 1];
      if (!node) return fail('srv line before any node line', no);
      const tokens = line.split(' ').slice(1);
      // `lastseen:` at the very end may have its value wrapped onto the next line.
      const next = lines[i + 1]?.text;
      if (tokens[tokens.length - 1] === 'lastseen:' && next !== undefined && LASTSEEN.test(next)) {
        tokens.push(next);
        i++;
      }
      const srv = parseSrv(tokens);
      if (!srv.ok) return fail(srv.error, no);
      node.srvs.push(srv.value);
    } else {
      return fail(`unrecognised line ${show(line)}`, no);
    }
    afterHeader = line.startsWith('autoflip:');
  }
  if (map.nodes.length === 0) return fail('no node blocks in ic map output');
  const empty = map.nodes.find((n) => n.srvs.length === 0);
  if (empty) return fail(`node ${show(empty.name)} has no srv lines`);
  return ok(map);
}

/**
 * A node block is named like a node (`01`, `cox-1`) or like its instance; instance names may carry the
 * service's `_` (`video_conf-2`), which a DNS-label node name may not. Both are refused only together.
 */
function nodeName(name: string): Parsed<string> {
  const asNode = check(NODE, 'node name', name);
  if (asNode.ok) return asNode;
  const asInstance = check(INSTANCE, 'node name', name);
  return asInstance.ok ? asInstance : asNode;
}

function parseSrv(tokens: string[]): Parsed<IcSrv> {
  const [fullName, address, state, ...rest] = tokens;
  if (state === undefined) return fail(`srv line needs at least a name, an address and a state: ${show(tokens.join(' '))}`);
  const first = fullName.indexOf('.');
  const last = fullName.lastIndexOf('.');
  if (first <= 0 || last === first) return fail(`srv name ${show(fullName)} is not <service>.<host>.<instance>`);
  const service = fullName.slice(0, first);
  const host = fullName.slice(first + 1, last);
  const instance = fullName.slice(last + 1);
  const bad = firstError(
    check(SERVICE, 'service', service),
    check(HOST, 'host', host),
    check(INSTANCE, 'instance', instance),
    check(HOSTPORT, 'address', address),
  );
  if (bad) return fail(bad);
  if (state !== 'alive' && state !== 'dead') return fail(`unknown srv state ${show(state)} (expected alive or dead)`);
  let role = '';
  if (rest[0] === 'main' || rest[0] === 'slave') role = rest.shift() as string;
  else if (rest.length > 0 && !rest[0].startsWith('lastseen:')) return fail(`unknown srv role ${show(rest[0])} (expected main or slave)`);
  const srv: IcSrv = {
    fullName,
    service,
    host,
    instance,
    address,
    state,
    role,
    extra: [],
  };
  for (let k = 0; k < rest.length; k++) {
    const t = rest[k];
    if (t === 'main' || t === 'slave') return fail(`role ${t} out of place (it must follow the state)`);
    if (!t.startsWith('lastseen:')) {
      srv.extra.push(t);
      continue;
    }
    if (srv.lastseen !== undefined) return fail('lastseen given twice');
    const value = t === 'lastseen:' ? rest[++k] : t.slice('lastseen:'.length);
    if (value === undefined || !LASTSEEN.test(value)) return fail(`lastseen: without a valid timestamp (got ${show(value ?? '')})`);
    srv.lastseen = value;
  }
  return ok(srv);
}

/** The node block of an instance and its single slave and single main. */
export function findReplicaPair(map: IcMap, instance: string): Parsed<{ node: IcNode; slave: IcSrv; main: IcSrv }> {
  const inst = check(INSTANCE, 'instance', instance);
  if (!inst.ok) return inst;
  const blocks = map.nodes.filter((n) => n.name === instance || n.srvs.some((s) => s.instance === instance));
  if (blocks.length === 0) return fail(`no node block for instance ${instance}`);
  if (blocks.length > 1) return fail(`instance ${instance} appears in ${blocks.length} node blocks: ${blocks.map((b) => b.name).join(', ')}`);
  const node = blocks[0];
  const slaves = node.srvs.filter((s) => s.role === 'slave');
  const mains = node.srvs.filter((s) => s.role === 'main');
  if (slaves.length !== 1) return fail(`node ${node.name}: ${slaves.length === 0 ? 'no slave' : `${slaves.length} slaves`} (exactly one required)`);
  if (mains.length !== 1) return fail(`node ${node.name}: ${mains.length === 0 ? 'no main' : `${mains.length} mains`} (exactly one required)`);
  return ok({ node, slave: slaves[0], main: mains[0] });
}
