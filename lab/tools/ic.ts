// ic (map / flip / set_autoflip) and the replica clean scripts of KUST and Tarantool services.
import type { IcMap, LabState, Srv, UnitState } from '../types';
import { allSrvs, fail, lines, nodeState, ok, parseSrvName, type SrvRef, type ToolContext, type ToolResult } from './common';

const BLOCKED_HEADER = 'autoflip:  disable  due  to  previous  autoflip  -  have  to  unset  manually';

export function renderMap(map: IcMap): string {
  const out: string[] = [];
  if (map.autoflip === 'blocked') {
    if (map.alertOnSameLine) out.push(`${BLOCKED_HEADER}[ALERT]`);
    else out.push(BLOCKED_HEADER, '[ALERT]');
  } else if (map.autoflip === 'enable') out.push('autoflip:  enable');
  else if (map.autoflip === 'disable') out.push('autoflip:  disable');

  const enabledLook = map.autoflip === 'enable' || map.autoflip === undefined;
  for (const b of map.blocks) {
    switch (map.style) {
      case 'spaces':
        out.push(`node ${b.node} (${b.buckets} buckets)`);
        for (const s of b.srvs) out.push(`  srv ${s.name} ${s.addr} ${s.status} ${s.role}${s.lastseen ? ` lastseen: ${s.lastseen}` : ''}`);
        break;
      case 'tabs':
        out.push(`node\t${b.node}\t(${b.buckets} buckets)\t\t\t`);
        for (const s of b.srvs) out.push(`srv\t${s.name}\t\t${s.addr}\t${s.status}\t${s.role}${s.lastseen ? `\tlastseen: ${s.lastseen}` : ''}`);
        break;
      case 'wide':
        // Exactly the two shapes of the autoflip example in the original (blocked and enabled).
        out.push(enabledLook ? `node  ${b.node}    (${b.buckets}  buckets)` : `node ${b.node}      (${b.buckets}  buckets)`);
        for (const s of b.srvs) {
          const gap = enabledLook ? '    ' : '  ';
          let line = `  srv  ${s.name}${gap}${s.addr}  ${s.status}  ${s.role}`;
          if (s.lastseen) line += `  lastseen:\n${s.lastseen}`;
          out.push(line);
        }
        break;
    }
  }
  return lines(out);
}

function findSrv(state: LabState, name: string): SrvRef | undefined {
  return allSrvs(state).find((r) => r.srv.name === name);
}

export function icTool(ctx: ToolContext): ToolResult {
  const [sub, ...rest] = ctx.argv;
  const usage = 'Usage: ic map <map> | ic flip <srv> | ic set_autoflip <map> enable|disable';
  switch (sub) {
    case 'map': {
      if (rest.length !== 1) return fail(usage, 2);
      const map = ctx.state.maps[rest[0]];
      if (!map) return fail(`ERROR: map ${rest[0]} not found`);
      return ok(renderMap(map));
    }
    case 'flip': {
      if (rest.length !== 1) return fail(usage, 2);
      const ref = findSrv(ctx.state, rest[0]);
      if (!ref) return fail(`ERROR: srv ${rest[0]} not found`);
      const { srv, block } = ref;
      if (srv.role === 'main') return fail(`ERROR: srv ${srv.name} is already main`);
      if (srv.status !== 'alive' || srv.repl !== 'ok') {
        return fail(`ERROR: srv ${srv.name} is not ready to become main (${srv.status}, replication ${srv.repl})`);
      }
      const main = block.srvs.find((s) => s.role === 'main');
      if (!main) return fail(`ERROR: no main in ${block.node}`);
      main.role = 'slave';
      srv.role = 'main';
      return ok(lines([`INFO: flip ${block.node}: ${srv.name} -> main, ${main.name} -> slave`, `INFO: flip of ${block.node} started`, 'OK']));
    }
    case 'set_autoflip': {
      if (rest.length !== 2 || (rest[1] !== 'enable' && rest[1] !== 'disable')) return fail(usage, 2);
      const map = ctx.state.maps[rest[0]];
      if (!map) return fail(`ERROR: map ${rest[0]} not found`);
      map.autoflip = rest[1];
      if (rest[1] === 'enable' && map.reviveOnEnable) {
        for (const b of map.blocks) {
          for (const s of b.srvs) {
            if (s.status === 'dead') {
              s.status = 'alive';
              delete s.lastseen;
            }
          }
        }
      }
      return ok(lines([`autoflip for map ${rest[0]}: ${rest[1]}`, 'OK']));
    }
    default:
      return fail(usage, 2);
  }
}

/** The srv of `instance` on this node, or an error result like the real script would print. */
function localReplica(ctx: ToolContext, kind: 'kust' | 'tarantool', instance: string): SrvRef | ToolResult {
  const refs = allSrvs(ctx.state).filter((r) => parseSrvName(r.srv.name)?.instance === instance);
  if (refs.length === 0) return fail(`ERROR: unknown instance ${instance}`);
  const ofKind = refs.filter((r) => r.map.kind === kind);
  if (ofKind.length === 0) return fail(`ERROR: ${instance} is not a ${kind === 'kust' ? 'KUST' : 'Tarantool'} instance`);
  const here = ofKind.find((r) => parseSrvName(r.srv.name)?.host === ctx.node);
  if (!here) return fail(`ERROR: instance ${instance} is not configured on this host (${ctx.node})`);
  if (here.srv.role === 'main') return fail(`ERROR: ${instance} is main on this host; refusing to clean a master`);
  return here;
}

function unit(ctx: ToolContext, name: string): UnitState {
  const units = nodeState(ctx).units;
  if (!units[name]) units[name] = { active: 'active', enabled: true };
  return units[name];
}

/** Start for the clean scripts; false when the unit refuses to start. */
function startUnit(u: UnitState): boolean {
  if (u.failStart) {
    u.active = 'failed';
    return false;
  }
  u.active = u.crashAfterStart ? 'failed' : 'active';
  return true;
}

export function cleanKustReplica(ctx: ToolContext): ToolResult {
  if (ctx.argv.length !== 1) return fail('Usage: clean_kust_replica.sh <instance>', 2);
  const instance = ctx.argv[0];
  const ref = localReplica(ctx, 'kust', instance);
  if (!('srv' in ref)) return ref;
  const u = unit(ctx, instance);
  u.active = 'inactive';
  const base = `/var/lib/kust/${instance}`;
  const out = [
    `INFO: stopping ${instance}`,
    `INFO: ${instance} stopped`,
    `INFO: deleting ${base}/data/000000000001.kdb`,
    `INFO: deleting ${base}/data/000000000002.kdb`,
    `INFO: deleting ${base}/data/000000000003.kdb`,
    `INFO: deleting ${base}/snap/00000000000000107342.snap`,
    `INFO: deleting ${base}/replica.state`,
    `INFO: starting ${instance}`,
  ];
  if (!startUnit(u)) return { out: lines(out), err: `ERROR: failed to start ${instance}\n`, code: 1, waitMs: ctx.state.timing.cleanKustMs };
  ref.srv.repl = 'ok';
  out.push(`INFO: successfully started ${instance}`);
  return { out: lines(out), code: 0, waitMs: ctx.state.timing.cleanKustMs };
}

export function cleanTntReplica(ctx: ToolContext): ToolResult {
  if (ctx.argv.length !== 1) return fail('Usage: clean_tnt_replica.sh <instance>', 2);
  const instance = ctx.argv[0];
  const ref = localReplica(ctx, 'tarantool', instance);
  if (!('srv' in ref)) return ref;
  const tnt = unit(ctx, `tarantool@${instance}`);
  const ipros = unit(ctx, instance);
  ipros.active = 'inactive';
  tnt.active = 'inactive';
  const base = `/var/lib/tarantool/${instance}`;
  const out = [
    `INFO: stopping IPROS instance ${instance}`,
    `INFO: stopping tarantool instance tarantool@${instance}`,
    `INFO: deleting ${base}/00000000000000012345.snap`,
    `INFO: deleting ${base}/00000000000000012345.xlog`,
    `INFO: deleting ${base}/00000000000000012399.xlog`,
    `INFO: starting tarantool instance tarantool@${instance}`,
  ];
  const waitMs = ctx.state.timing.cleanTntWaitMs;
  if (!startUnit(tnt)) return { out: lines(out), err: `ERROR: failed to start tarantool@${instance}\n`, code: 1 };
  out.push(`INFO: successfully started tarantool@${instance}`, 'INFO: waiting 10 seconds', `INFO: starting IPROS instance ${instance}`);
  if (!startUnit(ipros)) return { out: lines(out), err: `ERROR: failed to start ${instance}\n`, code: 1, waitMs };
  out.push(`INFO: successfully started ${instance}`);
  ref.srv.repl = 'ok';
  return { out: lines(out), code: 0, waitMs };
}

/** Used by scenario normalisation too. */
export function srvUnits(map: IcMap, srv: Srv): string[] {
  const inst = parseSrvName(srv.name)?.instance;
  if (!inst) return [];
  return map.kind === 'tarantool' ? [`tarantool@${inst}`, inst] : [inst];
}
