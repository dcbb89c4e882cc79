// MySQL fleet behind orchestrator: orch_topo.sh, im_utils, kubectl.
import type { LabState, MysqlInstance, PodState } from '../types';
import { fail, goLog, lines, ok, type ToolContext, type ToolResult } from './common';

const PHASES: Array<{ ready: string; status: string; restarts: number }> = [
  { ready: '0/5', status: 'Pending', restarts: 0 },
  { ready: '0/5', status: 'Init:0/2', restarts: 0 },
  { ready: '2/5', status: 'Running', restarts: 0 },
  { ready: '5/5', status: 'Running', restarts: 0 },
];
const FINAL_PHASE = PHASES.length - 1;

export const instanceHost = (ns: string, i: MysqlInstance): string => `${i.pod}.mysql.${ns}:${i.port}`;

function reupPhase(state: LabState, pod: PodState, now: number): number {
  const r = pod.reup;
  if (!r) return FINAL_PHASE;
  const cfg = state.mysql.reup;
  let phase = cfg.advance === 'time' ? Math.floor((now - r.startedAt) / 1000 / Math.max(cfg.secondsPerPhase, 0.001)) : r.calls;
  phase = Math.min(phase, FINAL_PHASE);
  if (cfg.stuckAt) {
    const cap = cfg.stuckAt === 'CrashLoopBackOff' ? 2 : PHASES.findIndex((p) => p.status === cfg.stuckAt || p.ready === cfg.stuckAt);
    if (cap >= 0) phase = Math.min(phase, cap);
  }
  return phase;
}

/** Lazily applies time/call-driven progress: a re-upped pod that reached 5/5 heals its replica. */
export function refreshMysql(state: LabState, now: number): void {
  for (const cl of Object.values(state.mysql.clusters)) {
    for (const pod of cl.pods) {
      if (!pod.reup || reupPhase(state, pod, now) < FINAL_PHASE) continue;
      const inst = cl.instances.find((i) => i.pod === pod.reup?.instance);
      pod.createdAt = pod.reup.startedAt;
      delete pod.reup;
      Object.assign(pod, { ready: '5/5', status: 'Running', restarts: 0 });
      if (inst && state.mysql.reup.heals) Object.assign(inst, { marker: '+', lag: '0s', status: 'ok', errant: false });
    }
  }
}

export function renderOrchTopo(state: LabState): string {
  const out: string[] = [];
  for (const [ns, cl] of Object.entries(state.mysql.clusters)) {
    for (const i of cl.instances) {
      const gtid = `GTID${i.errant ? ':errant' : ''}`;
      const tokens = [i.lag, i.status, state.mysql.version, i.rw, 'ROW', '>>', gtid, ...i.extras];
      out.push(`${'  '.repeat(i.depth)}${i.marker ? i.marker + ' ' : ''}${instanceHost(ns, i)} (${i.pod}) [${tokens.join(',')}]`);
    }
  }
  return lines(out);
}

export function orchTopo(ctx: ToolContext): ToolResult {
  if (ctx.argv.length) return fail('Usage: orch_topo.sh', 2);
  refreshMysql(ctx.state, ctx.now);
  return ok(renderOrchTopo(ctx.state));
}

function findInstance(state: LabState, hostPort: string): { ns: string; inst: MysqlInstance } | undefined {
  for (const [ns, cl] of Object.entries(state.mysql.clusters)) {
    const inst = cl.instances.find((i) => instanceHost(ns, i) === hostPort);
    if (inst) return { ns, inst };
  }
  return undefined;
}

export function imUtils(ctx: ToolContext): ToolResult {
  refreshMysql(ctx.state, ctx.now);
  const now = ctx.now;
  const L = (level: 'INFO' | 'WARN' | 'ERROR', where: string, msg: string): string => goLog(now, level, where, msg);
  const weave = [L('WARN', 'pkg/weave/report.go:134', 'assuming weave is ready'), L('INFO', 'pkg/weave/weave.go:140', 'weave is ready'), L('WARN', 'pkg/weave/report.go:134', 'assuming weave is ready')];
  const [flag, arg, ...extra] = ctx.argv;
  const waitMs = ctx.state.timing.imUtilsMs;
  const usage = 'Usage: im_utils --reup-mysql-replica <host:port> | --orch-fix-errants <host:port> | --check-orch';
  const error = (where: string, msg: string): ToolResult => ({ out: lines(weave), err: lines([L('ERROR', where, msg)]), code: 1, waitMs });
  switch (flag) {
    case '--reup-mysql-replica': {
      if (!arg || extra.length) return fail(usage, 2);
      const f = findInstance(ctx.state, arg);
      if (!f) return error('cmd/utils/main.go:471', `instance ${arg} not found in orchestrator`);
      if (f.inst.marker === '') return error('cmd/utils/main.go:476', `${arg} is not a replica, refusing to reup`);
      const cl = ctx.state.mysql.clusters[f.ns];
      let pod = cl.pods.find((p) => p.name === f.inst.pod);
      if (!pod) {
        pod = { name: f.inst.pod, ready: '5/5', status: 'Running', restarts: 0, age: '41d' };
        cl.pods.push(pod);
      }
      pod.reup = { instance: f.inst.pod, startedAt: now, calls: 0 };
      delete pod.createdAt;
      Object.assign(f.inst, { marker: '-', lag: 'unknown', status: 'invalid', errant: false });
      return {
        out: lines([...weave, L('INFO', 'cmd/utils/main.go:497', `deleting pvc ${f.ns}:data-${f.inst.pod}`), L('INFO', 'cmd/utils/main.go:499', `deleting pod ${f.ns}:${f.inst.pod}`)]),
        code: 0,
        waitMs,
      };
    }
    case '--orch-fix-errants': {
      if (!arg || extra.length) return fail(usage, 2);
      const f = findInstance(ctx.state, arg);
      if (!f) return error('cmd/utils/main.go:471', `instance ${arg} not found in orchestrator`);
      if (f.inst.marker === '') return error('cmd/utils/main.go:561', `${arg} is not a replica`);
      const master = ctx.state.mysql.clusters[f.ns].instances.find((i) => i.marker === '');
      const out = [...weave, L('INFO', 'cmd/utils/main.go:566', `locating errant transactions on ${f.ns}:${f.inst.pod}`)];
      if (!f.inst.errant) {
        out.push(L('INFO', 'cmd/utils/main.go:570', 'no errant transactions found'));
        return { out: lines(out), code: 0, waitMs };
      }
      f.inst.errantFixCalls += 1;
      out.push(L('INFO', 'cmd/utils/main.go:588', `injecting 3 empty transactions into master ${f.ns}:${master?.pod ?? '?'}`));
      if (f.inst.errantFixCalls > f.inst.errantFixFailures) f.inst.errant = false;
      out.push(L('INFO', 'cmd/utils/main.go:601', 'errant transactions fixed'));
      return { out: lines(out), code: 0, waitMs };
    }
    case '--check-orch': {
      if (arg !== undefined) return fail(usage, 2);
      const out = [...weave];
      const problems: string[] = [];
      for (const [ns, cl] of Object.entries(ctx.state.mysql.clusters)) {
        const masters = cl.instances.filter((i) => i.marker === '');
        if (masters.length > 1) problems.push(`${ns}: ${masters.length} masters`);
        if (masters.length === 1 && cl.instances.length === 1 && masters[0].status !== 'ok') problems.push(`${ns}: replica without master`);
        for (const i of cl.instances) {
          if (i.marker === '-') problems.push(`${ns}: replica ${instanceHost(ns, i)} is broken (${i.status})`);
          else if (i.errant) problems.push(`${ns}: ${instanceHost(ns, i)} has errant transactions`);
        }
      }
      for (const p of problems) out.push(L('ERROR', 'cmd/utils/main.go:433', p));
      out.push(L('INFO', 'cmd/utils/main.go:440', `orch topology is ${problems.length ? 'BAD' : 'OK'}`));
      return { out: lines(out), code: 0, waitMs };
    }
    default:
      return fail(usage, 2);
  }
}

/** kubectl's HumanDuration (k8s.io/apimachinery/pkg/util/duration). */
function humanAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  return `${d}d`;
}

export function kubectl(ctx: ToolContext): ToolResult {
  let ns = 'default';
  const pos: string[] = [];
  for (let i = 0; i < ctx.argv.length; i++) {
    const a = ctx.argv[i];
    if (a === '-n' || a === '--namespace') ns = ctx.argv[++i] ?? '';
    else if (a.startsWith('--namespace=')) ns = a.slice(12);
    else if (a.startsWith('-n') && a.length > 2) ns = a.slice(2);
    else if (a === '-o' || a === '--output') i++;
    else if (a.startsWith('-')) continue;
    else pos.push(a);
  }
  const [verb, resource, ...names] = pos;
  if (verb !== 'get') return fail(`error: unknown command "${verb ?? ''}" for "kubectl"\n\nDid you mean this?\n\tget`, 1);
  if (!['po', 'pod', 'pods'].includes(resource ?? '')) return fail(`error: the server doesn't have a resource type "${resource ?? ''}"`, 1);
  const cl = ctx.state.mysql.clusters[ns];
  if (!cl || cl.pods.length === 0) return ok('', `No resources found in ${ns} namespace.\n`);
  refreshMysql(ctx.state, ctx.now);
  const rows: string[][] = [['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']];
  const err: string[] = [];
  const pods = names.length ? cl.pods.filter((p) => names.includes(p.name)) : cl.pods;
  for (const n of names) if (!cl.pods.some((p) => p.name === n)) err.push(`Error from server (NotFound): pods "${n}" not found`);
  for (const p of pods) {
    if (p.reup) {
      const phase = reupPhase(ctx.state, p, ctx.now);
      const crash = ctx.state.mysql.reup.stuckAt === 'CrashLoopBackOff' && phase === 2;
      const ph = PHASES[phase];
      rows.push([p.name, crash ? '4/5' : ph.ready, crash ? 'CrashLoopBackOff' : ph.status, String(crash ? Math.max(1, p.reup.calls - 2) : ph.restarts), humanAge(ctx.now - p.reup.startedAt)]);
      p.reup.calls += 1;
    } else {
      rows.push([p.name, p.ready, p.status, String(p.restarts), p.createdAt ? humanAge(ctx.now - p.createdAt) : p.age]);
    }
  }
  if (rows.length === 1) return { out: '', err: lines(err), code: 1 };
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const out = rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] + 3))).join(''));
  return { out: lines(out), err: err.length ? lines(err) : '', code: err.length ? 1 : 0 };
}
