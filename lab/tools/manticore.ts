// Manticore Search replication clusters (Galera): searchd start/stop hooks, manticore_new_cluster,
// and the `mysql` client talking SQL to a node's searchd.
import type { LabState, ManticoreCluster, ManticoreNode } from '../types';
import { fail, nodeState, type ToolContext, type ToolResult } from './common';

export function manticoreClustersOf(state: LabState, node: string, unit?: string): string[] {
  return Object.entries(state.manticore.clusters)
    .filter(([, c]) => c.nodes[node] && (unit === undefined || c.unit === unit))
    .map(([name]) => name);
}

function isRunning(state: LabState, c: ManticoreCluster, node: string): boolean {
  return state.nodes[node]?.units[c.unit]?.active === 'active';
}

function runningIn(state: LabState, c: ManticoreCluster, partition: string, except?: string): string[] {
  return Object.keys(c.nodes).filter((n) => n !== except && c.nodes[n].partition === partition && isRunning(state, c, n));
}

function primaryAnywhere(state: LabState, c: ManticoreCluster, except?: string): string[] {
  return Object.keys(c.nodes).filter((n) => n !== except && isRunning(state, c, n) && c.nodes[n].component === 'primary');
}

function joinPrimary(c: ManticoreCluster, x: ManticoreNode): void {
  x.component = 'primary';
  x.joinPolls = c.joinPolls;
  x.recovered = c.lastCommitted;
  x.seqno = -1;
  x.safeToBootstrap = 0;
  x.gvwstate = false;
}

/** searchd of `node` started normally (systemctl start): joins a primary component if it can see one. */
export function manticoreStart(state: LabState, cname: string, node: string): void {
  const c = state.manticore.clusters[cname];
  const x = c.nodes[node];
  x.seqno = -1;
  x.safeToBootstrap = 0;
  const peers = runningIn(state, c, x.partition, node);
  if (peers.some((p) => c.nodes[p].component === 'primary')) {
    joinPrimary(c, x);
    return;
  }
  x.component = 'non-primary';
  x.joinPolls = 0;
  // No automatic recovery: restarted crashed nodes wait (non-primary) until someone bootstraps
  // (manticore_new_cluster or pc.bootstrap), as the Manticore guide describes for cases 5 and 6.
}

/** Graceful stop: grastate gets the node's seqno; the last node of the primary component is safe to bootstrap. */
export function manticoreStop(state: LabState, cname: string, node: string): void {
  const c = state.manticore.clusters[cname];
  const x = c.nodes[node];
  const wasPrimary = x.component === 'primary';
  if (wasPrimary) x.recovered = c.lastCommitted;
  const remaining = runningIn(state, c, x.partition, node).filter((n) => c.nodes[n].component === 'primary');
  x.seqno = x.recovered;
  x.safeToBootstrap = wasPrimary && remaining.length === 0 ? 1 : 0;
  x.component = 'non-primary';
  x.joinPolls = 0;
  x.gvwstate = false;
  if (wasPrimary && remaining.length > 0) c.lastCommitted += 2; // the others keep committing
}

/** A bootstrap (new cluster / pc.bootstrap): `members` form the primary component. */
function bootstrap(state: LabState, cname: string, members: string[], how: string): void {
  const c = state.manticore.clusters[cname];
  const others = primaryAnywhere(state, c).filter((n) => !members.includes(n));
  if (others.length) c.violations.push(`${how} while ${others.join(', ')} already form(s) a primary component: two clusters`);
  if (c.bootstraps >= 1) c.violations.push(`${how}: more than one bootstrap in one incident`);
  c.bootstraps += 1;
  c.lastCommitted = Math.max(...members.map((n) => c.nodes[n].recovered));
  for (const n of members) {
    joinPrimary(c, c.nodes[n]);
    c.nodes[n].joinPolls = 0;
  }
  // Nodes started earlier without a primary (waiting) now join the new primary component.
  const part = c.nodes[members[0]].partition;
  for (const n of runningIn(state, c, part)) if (c.nodes[n].component !== 'primary') joinPrimary(c, c.nodes[n]);
}

export function manticoreNewCluster(ctx: ToolContext): ToolResult {
  const force = ctx.argv.includes('--force');
  if (ctx.argv.some((a) => a !== '--force')) return fail('Usage: manticore_new_cluster [--force]', 2);
  const clusters = manticoreClustersOf(ctx.state, ctx.node);
  if (clusters.length === 0) return fail(`manticore_new_cluster: no replication cluster is configured on ${ctx.node}`);
  const node = nodeState(ctx);
  const first = ctx.state.manticore.clusters[clusters[0]];
  const unit = node.units[first.unit] ?? (node.units[first.unit] = { active: 'inactive', enabled: true });
  if (unit.active === 'active') return fail('manticore_new_cluster: searchd is already running; stop it first');
  const jobFailed = `Job for ${first.unit}.service failed because the control process exited with error code.\nSee "systemctl status ${first.unit}.service" and "journalctl -xeu ${first.unit}.service" for details.`;
  if (!force) {
    for (const cname of clusters) {
      if (ctx.state.manticore.clusters[cname].nodes[ctx.node].safeToBootstrap !== 1) {
        unit.active = 'failed';
        return fail(
          `WSREP: It may not be safe to bootstrap the cluster from this node. It was not the last one to leave the cluster and may not contain all the updates. To force cluster bootstrap with this node, edit the grastate.dat file manually and set safe_to_bootstrap to 1 .\n${jobFailed}`,
        );
      }
    }
  }
  if (unit.failStart) {
    unit.active = 'failed';
    return fail(jobFailed);
  }
  unit.active = 'active';
  for (const cname of clusters) {
    const c = ctx.state.manticore.clusters[cname];
    if (force) {
      const x = c.nodes[ctx.node];
      const best = Object.entries(c.nodes).reduce((a, b) => (b[1].recovered > a[1].recovered ? b : a));
      if (best[1].recovered > x.recovered) {
        c.violations.push(`manticore_new_cluster --force on ${ctx.node} (seqno ${x.recovered}) but ${best[0]} has fresher data (seqno ${best[1].recovered})`);
      }
    }
    bootstrap(ctx.state, cname, [ctx.node], `manticore_new_cluster${force ? ' --force' : ''} on ${ctx.node}`);
  }
  return { out: '', code: 0 };
}

// ---------------------------------------------------------------------------------------------
// SQL

function likeToRegExp(pattern: string): RegExp {
  let re = '^';
  for (const ch of pattern) {
    if (ch === '%') re += '.*';
    else if (ch === '_') re += '.';
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(re + '$', 'i');
}

function clusterStatus(state: LabState, cname: string, node: string, consume: boolean): Array<[string, string]> {
  const c = state.manticore.clusters[cname];
  const x = c.nodes[node];
  const members = runningIn(state, c, x.partition).filter((n) => c.nodes[n].component === x.component);
  const primary = x.component === 'primary';
  let nodeState = 'synced';
  let comment = 'Synced';
  if (!primary) {
    nodeState = 'joining';
    comment = 'Initialized';
  } else if (x.joinPolls > 0) {
    nodeState = 'joining';
    comment = 'Joining: receiving State Transfer';
    if (consume) x.joinPolls -= 1;
  }
  const p = `cluster_${cname}_`;
  return [
    ['cluster_name', cname],
    [`${p}state_uuid`, c.uuid],
    [`${p}conf_id`, primary ? String(c.bootstraps + members.length) : '18446744073709551615'],
    [`${p}status`, primary ? 'primary' : 'non-primary'],
    [`${p}size`, String(members.length)],
    [`${p}local_index`, String(members.indexOf(node))],
    [`${p}node_state`, nodeState],
    [`${p}local_state_comment`, comment],
    [`${p}last_committed`, String(primary ? c.lastCommitted : x.recovered)],
    [`${p}indexes_count`, String(c.indexes.length)],
    [`${p}indexes`, c.indexes.join(',')],
    [`${p}nodes_set`, Object.values(c.nodes).map((n) => `${n.address}:9312`).join(',')],
    [`${p}nodes_view`, members.map((n) => `${c.nodes[n].address}:9312,${c.nodes[n].address}:9315:replication`).join(',')],
  ];
}

interface MysqlArgs {
  host: string;
  port: number;
  sql?: string;
  header: boolean;
}

function parseMysqlArgs(argv: string[]): MysqlArgs | string {
  const a: MysqlArgs = { host: 'localhost', port: 3306, header: true };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    const next = (): string => argv[++i] ?? '';
    if (s === '-h') a.host = next();
    else if (s === '-P') a.port = Number(next());
    else if (s === '-e') a.sql = next();
    else if (s === '-u') next();
    else if (s.startsWith('--host=')) a.host = s.slice(7);
    else if (s.startsWith('--port=')) a.port = Number(s.slice(7));
    else if (s.startsWith('--execute=')) a.sql = s.slice(10);
    else if (s.startsWith('-h') && s.length > 2) a.host = s.slice(2);
    else if (s.startsWith('-P') && s.length > 2) a.port = Number(s.slice(2));
    else if (s.startsWith('-e') && s.length > 2) a.sql = s.slice(2);
    else if (s === '-N' || s === '--skip-column-names') a.header = false;
    else if (['-B', '--batch', '-s', '--silent', '-r', '--raw', '-A', '--no-auto-rehash', '-n', '--unbuffered'].includes(s)) continue;
    else if (s.startsWith('-u') || s.startsWith('--user=') || s.startsWith('-p') || s.startsWith('--password') || s.startsWith('--protocol=')) continue;
    else if (s.startsWith('-')) return `mysql: [ERROR] unknown option '${s}'.`;
    // a positional database name: ignored
  }
  if (!Number.isInteger(a.port) || a.port <= 0) return 'mysql: [ERROR] invalid port';
  return a;
}

export function mysqlNeedsStdin(argv: string[]): boolean {
  const a = parseMysqlArgs(argv);
  return typeof a !== 'string' && a.sql === undefined;
}

export function mysqlClient(ctx: ToolContext): ToolResult {
  const args = parseMysqlArgs(ctx.argv);
  if (typeof args === 'string') return fail(args, 7);
  const sql = args.sql ?? ctx.stdin ?? '';
  // Which searchd: localhost = this node; otherwise a cluster node name or its replication address.
  let target: string | undefined;
  if (['localhost', '127.0.0.1', '::1', ''].includes(args.host)) target = ctx.node;
  else {
    for (const c of Object.values(ctx.state.manticore.clusters)) {
      for (const [n, mn] of Object.entries(c.nodes)) if (n === args.host || mn.address === args.host) target = n;
    }
    if (!target && ctx.state.nodes[args.host]) target = args.host;
  }
  if (!target) return fail(`ERROR 2005 (HY000): Unknown MySQL server host '${args.host}' (-2)`);
  const clusters = manticoreClustersOf(ctx.state, target);
  const connectErr = `ERROR 2003 (HY000): Can't connect to MySQL server on '${args.host}:${args.port}' (111)`;
  if (clusters.length === 0) return fail(connectErr);
  const first = ctx.state.manticore.clusters[clusters[0]];
  if (args.port !== first.sqlPort || !isRunning(ctx.state, first, target)) return fail(connectErr);

  const statements = sql.split(';').map((s) => s.trim()).filter(Boolean);
  let out = '';
  let line = 0;
  for (const st of statements) {
    line++;
    let m: RegExpMatchArray | null;
    if ((m = st.match(/^SHOW\s+STATUS(?:\s+LIKE\s+'([^']*)')?$/i))) {
      const rows: Array<[string, string]> = [
        ['uptime', '86400'],
        ['connections', '42'],
        ['version', '6.3.6 1a3a4ea82@24052209 (columnar 2.3.0 88a01c3@24052206) (secondary 2.3.0 88a01c3@24052206)'],
      ];
      const re = m[1] !== undefined ? likeToRegExp(m[1]) : undefined;
      // consume a "joining" poll only when the query asks for that cluster's status
      for (const cname of clusters) {
        const wanted = clusterStatus(ctx.state, cname, target, false).some(([k]) => !re || re.test(k));
        rows.push(...clusterStatus(ctx.state, cname, target, wanted));
      }
      const seen = new Set<string>();
      const picked = rows.filter(([k]) => (!re || re.test(k)) && !seen.has(k) && (seen.add(k), true));
      if (args.header) out += 'Counter\tValue\n';
      for (const [k, v] of picked) out += `${k}\t${v}\n`;
    } else if ((m = st.match(/^SET\s+CLUSTER\s+([A-Za-z0-9_]+)\s+GLOBAL\s+'pc\.bootstrap'\s*=\s*1$/i))) {
      const cname = m[1];
      const c = ctx.state.manticore.clusters[cname];
      if (!c || !c.nodes[target]) return fail(`ERROR 1064 (42000) at line ${line}: unknown cluster '${cname}'`, 1, out);
      const x = c.nodes[target];
      if (x.component === 'primary') continue; // already primary: nothing to do
      const group = runningIn(ctx.state, c, x.partition).filter((n) => c.nodes[n].component !== 'primary');
      bootstrap(ctx.state, cname, group, `pc.bootstrap on ${target}`);
    } else {
      return fail(`ERROR 1064 (42000) at line ${line}: P01: syntax error, unexpected identifier near '${st}' (not supported by the lab)`, 1, out);
    }
  }
  return { out, code: 0 };
}

// ---------------------------------------------------------------------------------------------
// Files that mirror the cluster state (grastate.dat, gvwstate.dat, searchd.log)

export function grastateText(c: ManticoreCluster, x: ManticoreNode): string {
  return `# GALERA saved state\nversion: 2.1\nuuid:    ${c.uuid}\nseqno:   ${x.seqno}\nsafe_to_bootstrap: ${x.safeToBootstrap}\n`;
}

export function syncManticoreFiles(state: LabState): void {
  for (const [cname, c] of Object.entries(state.manticore.clusters)) {
    for (const [n, x] of Object.entries(c.nodes)) {
      const node = state.nodes[n];
      if (!node) continue;
      const own = 'manticore:manticore';
      const dirs = ['/var', '/var/lib', c.dataDir, `${c.dataDir}/${cname}`, '/var/log', c.logPath.slice(0, c.logPath.lastIndexOf('/'))];
      for (const d of dirs) if (d && !node.files[d]) node.files[d] = { type: 'dir', owner: d.startsWith('/var/lib/') || d.startsWith('/var/log/') ? own : 'root:root' };
      node.files[`${c.dataDir}/${cname}/grastate.dat`] = { type: 'file', owner: own, content: grastateText(c, x) };
      const gvw = `${c.dataDir}/${cname}/gvwstate.dat`;
      if (x.gvwstate && !isRunning(state, c, n)) {
        node.files[gvw] = { type: 'file', owner: own, content: `my_uuid: ${c.uuid.slice(0, 24)}${n.padEnd(12, '0').slice(0, 12)}\n#vwbeg\nview_id: 3 ${c.uuid} 3\nbootstrap: 0\n#vwend\n` };
      } else delete node.files[gvw];
      const running = isRunning(state, c, n);
      const log = [`[Sat Nov 22 04:00:00.000 2025] [1001] starting daemon version '6.3.6'`, `[Sat Nov 22 04:00:01.000 2025] [1001] accepting connections`];
      if (!running) log.push(`[Sat Nov 22 04:10:03.123 2025] [1001] WSREP: Recovered position: ${c.uuid}:${x.recovered}`);
      node.files[c.logPath] = { type: 'file', owner: own, content: log.join('\n') + '\n' };
    }
  }
}
