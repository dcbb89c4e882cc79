// systemctl and the file tools (cat, mv, cp, mkdir, chown) acting on the node's simulated state.
import * as path from 'node:path';
import type { FileEntry, NodeState, UnitState } from '../types';
import { fail, nodeState, normPath, ok, type ToolContext, type ToolResult } from './common';
import { manticoreClustersOf, manticoreStart, manticoreStop } from './manticore';

const unitName = (u: string): string => (u.endsWith('.service') ? u.slice(0, -'.service'.length) : u);

export function systemctl(ctx: ToolContext): ToolResult {
  const args = ctx.argv.filter((a) => !a.startsWith('-'));
  const quiet = ctx.argv.includes('-q') || ctx.argv.includes('--quiet');
  const [verb, ...rawUnits] = args;
  if (!verb) return fail('systemctl: missing verb', 1);
  const node = nodeState(ctx);
  const units = rawUnits.map(unitName);
  const verbs = ['start', 'stop', 'restart', 'enable', 'disable', 'is-active', 'is-enabled'];
  if (!verbs.includes(verb)) return fail(`Unknown command verb ${verb}.`, 1);
  if (units.length === 0) return fail('Too few arguments.', 1);

  const out: string[] = [];
  const err: string[] = [];
  let code = 0;
  for (const u of units) {
    const st: UnitState | undefined = node.units[u];
    switch (verb) {
      case 'is-active': {
        const a = st?.active ?? 'inactive';
        if (!quiet) out.push(a);
        if (a !== 'active') code = 3;
        break;
      }
      case 'is-enabled':
        if (!st) {
          err.push(`Failed to get unit file state for ${u}.service: No such file or directory`);
          code = 1;
        } else {
          if (!quiet) out.push(st.enabled ? 'enabled' : 'disabled');
          if (!st.enabled) code = 1;
        }
        break;
      case 'enable':
      case 'disable':
        if (!st) {
          err.push(`Failed to ${verb} unit: Unit file ${u}.service does not exist.`);
          code = 1;
        } else if (verb === 'enable' && !st.enabled) {
          st.enabled = true;
          err.push(`Created symlink /etc/systemd/system/multi-user.target.wants/${u}.service → /lib/systemd/system/${u}.service.`);
        } else if (verb === 'disable' && st.enabled) {
          st.enabled = false;
          err.push(`Removed "/etc/systemd/system/multi-user.target.wants/${u}.service".`);
        }
        break;
      default: {
        if (!st) {
          err.push(`Failed to ${verb} ${u}.service: Unit ${u}.service ${verb === 'stop' ? 'not loaded' : 'not found'}.`);
          code = 5;
          break;
        }
        if (verb === 'stop' || verb === 'restart') stopUnit(ctx, u, st);
        if (verb === 'start' || verb === 'restart') {
          const e = startUnit(ctx, u, st);
          if (e) {
            err.push(e);
            code = 1;
          }
        }
      }
    }
  }
  return { out: out.length ? out.join('\n') + '\n' : '', err: err.length ? err.join('\n') + '\n' : '', code };
}

function stopUnit(ctx: ToolContext, u: string, st: UnitState): void {
  const wasRunning = st.active === 'active';
  st.active = 'inactive';
  if (wasRunning) for (const c of manticoreClustersOf(ctx.state, ctx.node, u)) manticoreStop(ctx.state, c, ctx.node);
}

/** Returns an error message when the start fails. */
function startUnit(ctx: ToolContext, u: string, st: UnitState): string | undefined {
  if (st.active === 'active') return undefined;
  if (st.failStart) {
    st.active = 'failed';
    return `Job for ${u}.service failed because the control process exited with error code.\nSee "systemctl status ${u}.service" and "journalctl -xeu ${u}.service" for details.`;
  }
  st.active = st.crashAfterStart ? 'failed' : 'active';
  if (st.active === 'active') for (const c of manticoreClustersOf(ctx.state, ctx.node, u)) manticoreStart(ctx.state, c, ctx.node);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Files

const KNOWN_USERS = new Set(['root', 'quantum', 'manticore', 'mysql', 'tarantool', 'nobody']);

function entriesUnder(n: NodeState, p: string): string[] {
  const prefix = p === '/' ? '/' : p + '/';
  return Object.keys(n.files).filter((k) => k === p || k.startsWith(prefix));
}

function exists(n: NodeState, p: string): FileEntry | undefined {
  if (p === '/') return { type: 'dir', owner: 'root:root' };
  return n.files[p];
}

function splitFlags(argv: string[]): { flags: Set<string>; rest: string[] } {
  const flags = new Set<string>();
  const rest: string[] = [];
  let ended = false;
  for (const a of argv) {
    if (!ended && a === '--') ended = true;
    else if (!ended && a.startsWith('--')) flags.add(a);
    else if (!ended && a.startsWith('-') && a.length > 1) for (const c of a.slice(1)) flags.add(c);
    else rest.push(a);
  }
  return { flags, rest };
}

export function cat(ctx: ToolContext): ToolResult {
  const n = nodeState(ctx);
  const { rest } = splitFlags(ctx.argv);
  if (rest.length === 0) return ok(ctx.stdin ?? '');
  let out = '';
  const err: string[] = [];
  for (const raw of rest) {
    const e = exists(n, normPath(raw));
    if (!e) err.push(`cat: ${raw}: No such file or directory`);
    else if (e.type === 'dir') err.push(`cat: ${raw}: Is a directory`);
    else out += e.content ?? '';
  }
  return { out, err: err.length ? err.join('\n') + '\n' : '', code: err.length ? 1 : 0 };
}

export function mv(ctx: ToolContext): ToolResult {
  const n = nodeState(ctx);
  const { rest } = splitFlags(ctx.argv);
  if (rest.length !== 2) return fail(rest.length < 2 ? `mv: missing destination file operand after '${rest[0] ?? ''}'` : 'mv: lab supports one source only');
  const [srcRaw, dstRaw] = rest;
  const src = normPath(srcRaw);
  let dst = normPath(dstRaw);
  const se = exists(n, src);
  if (!se) return fail(`mv: cannot stat '${srcRaw}': No such file or directory`);
  const de = exists(n, dst);
  if (de?.type === 'dir') dst = path.posix.join(dst, path.posix.basename(src));
  if (dst === src || dst.startsWith(src + '/')) return fail(`mv: cannot move '${srcRaw}' to a subdirectory of itself, '${dstRaw}'`);
  const parent = exists(n, path.posix.dirname(dst));
  if (!parent || parent.type !== 'dir') return fail(`mv: cannot move '${srcRaw}' to '${dstRaw}': No such file or directory`);
  const target = exists(n, dst);
  if (target) {
    if (target.type === 'dir' && entriesUnder(n, dst).length > 1) return fail(`mv: cannot move '${srcRaw}' to '${dst}': Directory not empty`);
    if (target.type === 'file' && se.type === 'dir') return fail(`mv: cannot overwrite non-directory '${dst}' with directory '${srcRaw}'`);
    delete n.files[dst];
  }
  for (const k of entriesUnder(n, src)) {
    n.files[dst + k.slice(src.length)] = n.files[k];
    delete n.files[k];
  }
  return ok('');
}

export function cp(ctx: ToolContext): ToolResult {
  const n = nodeState(ctx);
  const { flags, rest } = splitFlags(ctx.argv);
  const recursive = flags.has('r') || flags.has('R') || flags.has('a') || flags.has('--recursive') || flags.has('--archive');
  const preserve = flags.has('p') || flags.has('a') || flags.has('--archive') || [...flags].some((f) => f.startsWith('--preserve'));
  if (rest.length !== 2) return fail(rest.length < 2 ? `cp: missing destination file operand after '${rest[0] ?? ''}'` : 'cp: lab supports one source only');
  const [srcRaw, dstRaw] = rest;
  const src = normPath(srcRaw);
  let dst = normPath(dstRaw);
  const se = exists(n, src);
  if (!se) return fail(`cp: cannot stat '${srcRaw}': No such file or directory`);
  if (se.type === 'dir' && !recursive) return fail(`cp: -r not specified; omitting directory '${srcRaw}'`);
  if (exists(n, dst)?.type === 'dir') dst = path.posix.join(dst, path.posix.basename(src));
  if (dst === src || dst.startsWith(src + '/')) return fail(`cp: cannot copy a directory, '${srcRaw}', into itself, '${dstRaw}'`);
  const parent = exists(n, path.posix.dirname(dst));
  if (!parent || parent.type !== 'dir') return fail(`cp: cannot create ${se.type === 'dir' ? 'directory' : 'regular file'} '${dstRaw}': No such file or directory`);
  for (const k of entriesUnder(n, src)) {
    const e = n.files[k];
    n.files[dst + k.slice(src.length)] = { ...e, owner: preserve ? e.owner : 'root:root' };
  }
  return ok('');
}

export function mkdir(ctx: ToolContext): ToolResult {
  const n = nodeState(ctx);
  const { flags, rest } = splitFlags(ctx.argv);
  const parents = flags.has('p') || flags.has('--parents');
  if (rest.length === 0) return fail('mkdir: missing operand');
  const err: string[] = [];
  for (const raw of rest) {
    const p = normPath(raw);
    const e = exists(n, p);
    if (e) {
      if (!parents || e.type !== 'dir') err.push(`mkdir: cannot create directory ‘${raw}’: File exists`);
      continue;
    }
    if (!parents) {
      const parent = exists(n, path.posix.dirname(p));
      if (!parent) {
        err.push(`mkdir: cannot create directory ‘${raw}’: No such file or directory`);
        continue;
      }
      n.files[p] = { type: 'dir', owner: 'root:root' };
      continue;
    }
    const parts = p.split('/').filter(Boolean);
    let cur = '';
    for (const part of parts) {
      cur += '/' + part;
      const c = exists(n, cur);
      if (!c) n.files[cur] = { type: 'dir', owner: 'root:root' };
      else if (c.type !== 'dir') {
        err.push(`mkdir: cannot create directory ‘${raw}’: Not a directory`);
        break;
      }
    }
  }
  return { out: '', err: err.length ? err.join('\n') + '\n' : '', code: err.length ? 1 : 0 };
}

export function chown(ctx: ToolContext): ToolResult {
  const n = nodeState(ctx);
  const { flags, rest } = splitFlags(ctx.argv);
  const recursive = flags.has('R') || flags.has('--recursive');
  if (rest.length < 2) return fail(`chown: missing operand${rest.length ? ` after '${rest[0]}'` : ''}`);
  const [spec, ...paths] = rest;
  const [user, group] = spec.split(/[:.]/);
  if (!KNOWN_USERS.has(user) || (group !== undefined && group !== '' && !KNOWN_USERS.has(group))) return fail(`chown: invalid user: ‘${spec}’`);
  const owner = `${user}:${group || user}`;
  const err: string[] = [];
  for (const raw of paths) {
    const p = normPath(raw);
    if (!exists(n, p)) {
      err.push(`chown: cannot access '${raw}': No such file or directory`);
      continue;
    }
    const targets = recursive ? entriesUnder(n, p) : [p];
    for (const k of targets) if (n.files[k]) n.files[k] = { ...n.files[k], owner };
  }
  return { out: '', err: err.length ? err.join('\n') + '\n' : '', code: err.length ? 1 : 0 };
}
