// The controller pair: topology over `nc <compot host> 4020`, ctlr_topo_check.sh, im_deployer --ctlr-repl --update.
import type { CtlrNode, CtlrState, LabState } from '../types';
import { fail, goLog, lines, nodeState, ok, type ToolContext, type ToolResult } from './common';

const shortName = (fqdn: string): string => fqdn.split('.')[0];

function ctlrRunning(state: LabState, c: CtlrState, node: string): boolean {
  return state.nodes[node]?.units[c.unit]?.active === 'active';
}

/** The two controllers replicate: both running, exactly one main, the replica healthy. */
function linked(state: LabState, c: CtlrState, a: string, b: string): boolean {
  const x = c.nodes[a];
  const y = c.nodes[b];
  if (!ctlrRunning(state, c, a) || !ctlrRunning(state, c, b)) return false;
  if ((x.role === 'main') === (y.role === 'main')) return false;
  const replica = x.role === 'main' ? y : x;
  return replica.healthy;
}

export function topologyFrom(state: LabState, self: string): string {
  const c = state.ctlr;
  if (!c) return '';
  const out: string[] = [];
  for (const [name, n] of Object.entries(c.nodes)) {
    let tags: string;
    if (name === self) tags = n.role === 'main' ? 'self main' : 'self';
    else if (linked(state, c, self, name)) tags = n.role === 'main' ? 'alive main' : 'alive';
    else tags = 'dead';
    out.push(`${n.fqdn}      ${n.addr}  ${tags}`);
  }
  return lines(out);
}

export function ncTool(ctx: ToolContext): ToolResult {
  const pos: string[] = [];
  for (let i = 0; i < ctx.argv.length; i++) {
    const a = ctx.argv[i];
    if (a === '-q' || a === '-w') i++;
    else if (a.startsWith('-')) continue;
    else pos.push(a);
  }
  if (pos.length !== 2) return fail('usage: nc [-N] [-q seconds] [-w timeout] destination port', 1);
  const [host, port] = pos;
  const refused = `nc: connect to ${host} port ${port} (tcp) failed: Connection refused`;
  const c = ctx.state.ctlr;
  if (!c || port !== '4020') return fail(refused);
  const candidates = Object.entries(c.nodes).filter(([, n]) => n.compotBind.split(':')[0] === host);
  // Several controllers with the same compot host (e.g. 127.0.0.1): the local one answers.
  const hit = candidates.find(([name]) => name === ctx.node) ?? candidates[0];
  if (!hit || !ctlrRunning(ctx.state, c, hit[0])) return fail(refused);
  const cmd = (ctx.stdin ?? '').split('\n')[0].trim();
  if (cmd === '') return ok('');
  if (cmd !== 'ipros_cluster_show') return ok(`unknown command: ${cmd}\n`);
  return ok(topologyFrom(ctx.state, hit[0]));
}

export function ctlrTopoCheck(ctx: ToolContext): ToolResult {
  const c = ctx.state.ctlr;
  const me = c?.nodes[ctx.node];
  if (!c || !me) return ok(`3 ctlr_topo_check - ctlr is not configured on this host\n`);
  if (!ctlrRunning(ctx.state, c, ctx.node)) return ok(`2 ctlr_topo_check - ctlr topology is BAD: ${c.instance} is not running on ${shortName(me.fqdn)}\n`);
  const peers = Object.keys(c.nodes).filter((n) => n !== ctx.node);
  for (const p of peers) {
    if (!linked(ctx.state, c, ctx.node, p)) {
      const problem = me.role === 'main' ? 'ctlr has no active replicas' : 'ctlr replica has no active main';
      return ok(`2 ctlr_topo_check - ctlr topology is BAD: ${problem}, check ctlr logs on ${shortName(c.nodes[p].fqdn)}\n`);
    }
  }
  const blocked = Object.entries(ctx.state.maps).filter(([, m]) => m.autoflip === 'blocked').map(([n]) => n);
  if (blocked.length) return ok(`2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [${blocked.join(' ')}]\n`);
  return ok('0 ctlr_topo_check - ctlr topology is OK\n');
}

export function ctlrConfText(c: CtlrState, node: string, clusterMain: string): string {
  const me = c.nodes[node];
  const out = [
    `# ${c.instance} configuration (managed by im_deployer)`,
    `ipros_instance ${c.instance}`,
    `compot_bind ${me.compotBind}`,
    `ipros_bind ${me.addr}`,
    `data_dir ${c.dataPath}`,
    'ipros_clustered true',
  ];
  for (const n of Object.values(c.nodes).slice().reverse()) out.push(`ipros_cluster_add ${n.fqdn} ${n.addr}`);
  out.push(`ipros_cluster_main ${clusterMain}`, 'log_level info');
  return lines(out);
}

export function imDeployer(ctx: ToolContext): ToolResult {
  const flags = new Set(ctx.argv);
  if (!flags.has('--ctlr-repl') || !flags.has('--update') || ctx.argv.length !== 2) {
    return fail('Usage: im_deployer --ctlr-repl --update  (only this mode is simulated by the lab)', 2);
  }
  const now = ctx.now;
  const log = (level: 'INFO' | 'WARN' | 'ERROR', where: string, msg: string): string => goLog(now, level, where, msg);
  const out: string[] = [log('INFO', 'cmd/deployer/main.go:211', 'ctlr replication update requested')];
  const c = ctx.state.ctlr;
  const me: CtlrNode | undefined = c?.nodes[ctx.node];
  if (!c || !me) return fail(lines([...out, log('ERROR', 'cmd/deployer/ctlr.go:57', `no ctlr instance on ${ctx.node}`)]).trimEnd());
  const waitMs = ctx.state.timing.imDeployerMs;
  if (ctlrRunning(ctx.state, c, ctx.node)) {
    return { out: lines(out), err: lines([log('ERROR', 'cmd/deployer/ctlr.go:64', `${c.instance} is running on this host, stop it first`)]), code: 1 };
  }
  const mainPeer = Object.keys(c.nodes).find((n) => n !== ctx.node && c.nodes[n].role === 'main' && ctlrRunning(ctx.state, c, n));
  if (!mainPeer) {
    return { out: lines(out), err: lines([log('ERROR', 'cmd/deployer/ctlr.go:78', 'no running ctlr main found to replicate from')]), code: 1, waitMs };
  }
  const node = nodeState(ctx);
  const data = node.files[c.dataPath];
  if (!data || data.type !== 'dir') {
    return { out: lines(out), err: lines([log('ERROR', 'cmd/deployer/ctlr.go:91', `data directory ${c.dataPath} does not exist`)]), code: 1, waitMs };
  }
  if (data.owner !== 'quantum:quantum') {
    return { out: lines(out), err: lines([log('ERROR', 'cmd/deployer/ctlr.go:95', `data directory ${c.dataPath} must be owned by quantum:quantum (is ${data.owner})`)]), code: 1, waitMs };
  }
  const main = c.nodes[mainPeer];
  out.push(log('INFO', 'cmd/deployer/ctlr.go:102', `ctlr main is ${main.fqdn} ${main.addr}`));
  // Re-seed: the old contents go, a fresh replica copy arrives.
  for (const k of Object.keys(node.files)) if (k.startsWith(c.dataPath + '/')) delete node.files[k];
  const own = 'quantum:quantum';
  for (const d of ['backup', 'df', 'log']) node.files[`${c.dataPath}/${d}`] = { type: 'dir', owner: own };
  node.files[`${c.dataPath}/df/${c.instance}.df`] = { type: 'file', owner: own, content: `replica of ${main.fqdn} seeded ${new Date(now).toISOString()}\n` };
  node.files[`${c.dataPath}/log/${c.instance}.log`] = { type: 'file', owner: own, content: `${new Date(now).toISOString()} replication from ${main.addr} established\n` };
  out.push(log('INFO', 'cmd/deployer/ctlr.go:131', `seeding ${c.dataPath} from ${main.fqdn}`));
  node.files[c.confPath] = { type: 'file', owner: 'root:root', content: ctlrConfText(c, ctx.node, main.fqdn) };
  out.push(log('INFO', 'cmd/deployer/ctlr.go:140', `updated ${c.confPath}: ipros_cluster_main ${main.fqdn}`));
  me.role = 'replica';
  me.healthy = true;
  const u = node.units[c.unit] ?? (node.units[c.unit] = { active: 'inactive', enabled: true });
  u.active = 'active';
  out.push(log('INFO', 'cmd/deployer/ctlr.go:152', `starting ${c.instance}`));
  out.push(log('INFO', 'cmd/deployer/ctlr.go:160', `${c.instance} is replicating from ${main.fqdn}`));
  return { out: lines(out), code: 0, waitMs };
}
