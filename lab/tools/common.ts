import * as path from 'node:path';
import type { LabState, NodeState, Srv, IcMap, IcBlock } from '../types';

export interface ToolContext {
  dir: string;
  node: string;
  tool: string;
  argv: string[];
  state: LabState;
  now: number;
  stdin?: string;
}

export interface ToolResult {
  out: string;
  err?: string;
  code: number;
  /** Extra run time (ms) before the output is complete. */
  waitMs?: number;
}

export function ok(out: string, err?: string): ToolResult {
  return { out, err, code: 0 };
}
export function fail(err: string, code = 1, out = ''): ToolResult {
  return { out, err: err.endsWith('\n') || err === '' ? err : err + '\n', code };
}
export function lines(ls: string[]): string {
  return ls.length ? ls.join('\n') + '\n' : '';
}

export function nodeState(ctx: ToolContext): NodeState {
  const n = ctx.state.nodes[ctx.node];
  if (!n) throw new Error(`lab: node ${ctx.node} is not in the lab state`);
  return n;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number): string => String(n).padStart(2, '0');

/** im_utils / im_deployer log prefix: `25 Feb 25 15:29:31 854622` (the last field: pid). */
export function goLogTime(now: number): string {
  const d = new Date(now);
  return `${p2(d.getDate())} ${MONTHS[d.getMonth()]} ${p2(d.getFullYear() % 100)} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${process.pid}`;
}

export function goLog(now: number, level: 'INFO' | 'WARN' | 'ERROR', where: string, msg: string): string {
  return `${goLogTime(now)} | ${level} | ${where} > ${msg} |`;
}

/** Absolute, normalized path in the simulated tree (relative paths are relative to root's home). */
export function normPath(p: string): string {
  const abs = p.startsWith('/') ? p : path.posix.join('/root', p);
  const n = path.posix.normalize(abs);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

export function parseSrvName(name: string): { service: string; host: string; instance: string } | undefined {
  const parts = name.split('.');
  if (parts.length < 3) return undefined;
  return { service: parts[0], host: parts.slice(1, -1).join('.'), instance: parts[parts.length - 1] };
}

export interface SrvRef {
  mapName: string;
  map: IcMap;
  block: IcBlock;
  srv: Srv;
}

export function allSrvs(state: LabState): SrvRef[] {
  const out: SrvRef[] = [];
  for (const [mapName, map] of Object.entries(state.maps)) {
    for (const block of map.blocks) for (const srv of block.srvs) out.push({ mapName, map, block, srv });
  }
  return out;
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
