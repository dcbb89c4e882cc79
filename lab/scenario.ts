// Scenario files (lab/scenarios/*.yaml|json) -> the initial LabState.
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import type {
  CommandFault,
  CtlrState,
  FileEntry,
  IcMap,
  LabState,
  ManticoreCluster,
  ManticoreNode,
  MysqlInstance,
  NodeState,
  PodState,
  Srv,
  Timing,
  UnitActive,
  UnitState,
} from './types';
import { parseSrvName } from './tools/common';
import { srvUnits } from './tools/ic';
import { ctlrConfText } from './tools/ctlr';
import { syncManticoreFiles } from './tools/manticore';

export const SCENARIO_DIR = path.resolve(__dirname, '..', '..', 'lab', 'scenarios');
const EXTS = ['.yaml', '.yml', '.json'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge recursively, arrays and scalars replace, null deletes. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObj(base) || !isObj(over)) return over === undefined ? base : over;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = deepMerge(base[k], v);
  }
  return out;
}

export function resolveScenarioPath(nameOrPath: string): string {
  const candidates: string[] = [];
  if (nameOrPath.includes('/') || EXTS.some((e) => nameOrPath.endsWith(e))) candidates.push(path.resolve(nameOrPath));
  for (const e of ['', ...EXTS]) candidates.push(path.join(SCENARIO_DIR, nameOrPath + e));
  const hit = candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
  if (!hit) throw new Error(`lab: scenario ${nameOrPath} not found (looked in ${SCENARIO_DIR})`);
  return hit;
}

export function listScenarios(): Array<{ name: string; description: string }> {
  return fs
    .readdirSync(SCENARIO_DIR)
    .filter((f) => EXTS.includes(path.extname(f)))
    .sort()
    .map((f) => {
      const raw = readRaw(path.join(SCENARIO_DIR, f));
      return { name: f.replace(/\.(ya?ml|json)$/, ''), description: typeof raw.description === 'string' ? raw.description : '' };
    });
}

function readRaw(file: string): Obj {
  const text = fs.readFileSync(file, 'utf8');
  const v: unknown = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  if (!isObj(v)) throw new Error(`lab: scenario ${file} is not a mapping`);
  return v;
}

/** The scenario with its `extends` chain applied. */
export function loadScenarioRaw(nameOrPath: string, seen: string[] = []): Obj {
  const file = resolveScenarioPath(nameOrPath);
  if (seen.includes(file)) throw new Error(`lab: scenario extends cycle: ${[...seen, file].join(' -> ')}`);
  const raw = readRaw(file);
  const parent = typeof raw.extends === 'string' ? loadScenarioRaw(raw.extends, [...seen, file]) : {};
  const merged = deepMerge(parent, { ...raw, extends: null }) as Obj;
  return merged;
}

// ---------------------------------------------------------------------------------------------

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw new Error(`lab scenario: ${what} must be a non-empty string`);
  return v;
}

function parseSrv(v: unknown, where: string): Srv {
  if (typeof v === 'string') {
    const [name, addr, status, role, ...more] = v.trim().split(/\s+/);
    const srv: Srv = { name, addr, status: status as Srv['status'], role: role as Srv['role'], repl: 'ok' };
    for (const m of more) {
      if (m.startsWith('lastseen=')) srv.lastseen = m.slice(9);
      else srv.repl = m as Srv['repl'];
    }
    return checkSrv(srv, where);
  }
  if (!isObj(v)) throw new Error(`lab scenario: bad srv in ${where}`);
  return checkSrv({ name: v.name as string, addr: v.addr as string, status: (v.status ?? 'alive') as Srv['status'], role: v.role as Srv['role'], repl: (v.repl ?? 'ok') as Srv['repl'], ...(v.lastseen ? { lastseen: String(v.lastseen) } : {}) }, where);
}

function checkSrv(s: Srv, where: string): Srv {
  if (!parseSrvName(s.name ?? '')) throw new Error(`lab scenario: srv name ${s.name} in ${where} is not <service>.<host>.<instance>`);
  if (!['alive', 'dead'].includes(s.status) || !['main', 'slave'].includes(s.role) || !['ok', 'replfailed', 'stopped'].includes(s.repl)) {
    throw new Error(`lab scenario: bad srv ${JSON.stringify(s)} in ${where}`);
  }
  return s;
}

function unitFrom(v: unknown): UnitState {
  if (typeof v === 'string') return { active: v as UnitActive, enabled: true };
  const o = (isObj(v) ? v : {}) as Partial<UnitState>;
  return { active: o.active ?? 'active', enabled: o.enabled ?? true, ...(o.failStart ? { failStart: true } : {}), ...(o.crashAfterStart ? { crashAfterStart: true } : {}) };
}

function addFile(n: NodeState, p: string, e: FileEntry): void {
  const parts = p.split('/').filter(Boolean);
  let cur = '';
  for (const part of parts.slice(0, -1)) {
    cur += '/' + part;
    if (!n.files[cur]) n.files[cur] = { type: 'dir', owner: 'root:root' };
  }
  n.files[p] = e;
}

const DEFAULT_TIMING: Timing = { cleanKustMs: 0, cleanTntWaitMs: 0, imDeployerMs: 0, imUtilsMs: 0 };

function mysqlInstance(v: Obj, idx: number): MysqlInstance {
  const marker = (v.marker ?? (idx === 0 ? '' : '+')) as MysqlInstance['marker'];
  const broken = marker === '-';
  return {
    pod: str(v.pod, 'mysql instance pod'),
    port: Number(v.port ?? 3306),
    marker,
    lag: String(v.lag ?? (broken ? 'null' : '0s')),
    status: String(v.status ?? (broken ? 'nonreplicating' : 'ok')),
    rw: (v.rw ?? (marker === '' && idx === 0 ? 'rw' : 'ro')) as MysqlInstance['rw'],
    errant: Boolean(v.errant ?? false),
    extras: Array.isArray(v.extras) ? v.extras.map(String) : [],
    depth: Number(v.depth ?? 0),
    errantFixFailures: Number(v.errantFixFailures ?? 0),
    errantFixCalls: 0,
  };
}

export function buildState(name: string, raw: Obj): LabState {
  const state: LabState = {
    version: 1,
    scenario: name,
    description: typeof raw.description === 'string' ? raw.description.trim() : '',
    controlNode: str(raw.controlNode, 'controlNode'),
    nodes: {},
    maps: {},
    mysql: { version: '8.0.27-18', reup: { advance: 'call', secondsPerPhase: 2, heals: true }, clusters: {} },
    manticore: { clusters: {} },
    faults: [],
    timing: { ...DEFAULT_TIMING, ...((isObj(raw.timing) ? raw.timing : {}) as Partial<Timing>) },
    calls: {},
  };
  const ensureNode = (n: string): NodeState => {
    if (!state.nodes[n]) {
      state.nodes[n] = { address: '', port: 0, units: {}, files: {} };
      for (const d of ['/root', '/tmp', '/data', '/usr/local/etc', '/var/lib', '/var/log']) addFile(state.nodes[n], d, { type: 'dir', owner: 'root:root' });
    }
    return state.nodes[n];
  };
  ensureNode(state.controlNode);
  const nodeSpecs = isObj(raw.nodes) ? raw.nodes : {};
  for (const n of Object.keys(nodeSpecs)) ensureNode(n);

  // ic maps
  for (const [mapName, mv] of Object.entries(isObj(raw.maps) ? raw.maps : {})) {
    if (!isObj(mv)) continue;
    const kind = (mv.kind ?? 'kust') as IcMap['kind'];
    const map: IcMap = {
      kind,
      style: (mv.style ?? (kind === 'tarantool' ? 'tabs' : 'spaces')) as IcMap['style'],
      blocks: [],
      ...(mv.autoflip ? { autoflip: mv.autoflip as IcMap['autoflip'] } : {}),
      ...(mv.alertOnSameLine ? { alertOnSameLine: true } : {}),
      ...(mv.reviveOnEnable ? { reviveOnEnable: true } : {}),
    };
    for (const b of Array.isArray(mv.blocks) ? mv.blocks : []) {
      if (!isObj(b)) continue;
      map.blocks.push({ node: String(b.node), buckets: Number(b.buckets), srvs: (Array.isArray(b.srvs) ? b.srvs : []).map((s) => parseSrv(s, `map ${mapName}`)) });
    }
    state.maps[mapName] = map;
    for (const b of map.blocks) {
      for (const s of b.srvs) {
        const host = parseSrvName(s.name)!.host;
        const n = ensureNode(host);
        for (const u of srvUnits(map, s)) n.units[u] ??= { active: 'active', enabled: true };
      }
    }
  }

  // MySQL
  if (isObj(raw.mysql)) {
    const m = raw.mysql;
    if (m.version) state.mysql.version = String(m.version);
    if (isObj(m.reup)) state.mysql.reup = { ...state.mysql.reup, ...(m.reup as Partial<LabState['mysql']['reup']>) };
    for (const [ns, cv] of Object.entries(isObj(m.clusters) ? m.clusters : {})) {
      if (!isObj(cv)) continue;
      const instances = (Array.isArray(cv.instances) ? cv.instances : []).map((i, idx) => mysqlInstance(i as Obj, idx));
      const pods: PodState[] = Array.isArray(cv.pods)
        ? cv.pods.map((p) => {
            const o = p as Obj;
            return { name: String(o.name), ready: String(o.ready ?? '5/5'), status: String(o.status ?? 'Running'), restarts: Number(o.restarts ?? 0), age: String(o.age ?? '41d') };
          })
        : [
            ...instances.map((i) => ({ name: i.pod, ready: '5/5', status: 'Running', restarts: 0, age: '41d' })),
            { name: `${ns}-mysql-exporter-7d9f8b6c5-x2x4q`, ready: '1/1', status: 'Running', restarts: 0, age: '41d' },
          ];
      state.mysql.clusters[ns] = { instances, pods };
    }
  }

  // Controller pair
  if (isObj(raw.ctlr) && isObj(raw.ctlr.nodes)) {
    const cv = raw.ctlr;
    const instance = String(cv.instance ?? 'ctlr-1');
    const c: CtlrState = {
      instance,
      unit: String(cv.unit ?? instance),
      confPath: String(cv.confPath ?? `/usr/local/etc/${instance}.conf`),
      dataPath: String(cv.dataPath ?? `/data/${instance}`),
      nodes: {},
    };
    const nodes = cv.nodes as Record<string, Obj>;
    for (const [n, nv] of Object.entries(nodes)) {
      const addr = str(nv.addr, `ctlr.nodes.${n}.addr`);
      c.nodes[n] = {
        fqdn: String(nv.fqdn ?? `${n}.weave.local`),
        addr,
        compotBind: String(nv.compotBind ?? `${addr.split(':')[0]}:4020`),
        role: (nv.role ?? 'replica') as 'main' | 'replica',
        healthy: nv.healthy === undefined ? true : Boolean(nv.healthy),
      };
    }
    state.ctlr = c;
    const firstMain = Object.values(c.nodes).find((x) => x.role === 'main')?.fqdn ?? Object.values(c.nodes)[0].fqdn;
    for (const [n, nv] of Object.entries(nodes)) {
      const node = ensureNode(n);
      node.units[c.unit] = { active: nv.running === false ? 'inactive' : 'active', enabled: true };
      const own = 'quantum:quantum';
      addFile(node, c.confPath, { type: 'file', owner: 'root:root', content: ctlrConfText(c, n, String(nv.confMain ?? cv.clusterMain ?? firstMain)) });
      addFile(node, c.dataPath, { type: 'dir', owner: own });
      for (const d of ['backup', 'df', 'log']) addFile(node, `${c.dataPath}/${d}`, { type: 'dir', owner: own });
      addFile(node, `${c.dataPath}/df/${instance}.df`, { type: 'file', owner: own, content: `${c.nodes[n].role} data of ${c.nodes[n].fqdn}\n` });
      addFile(node, `${c.dataPath}/log/${instance}.log`, { type: 'file', owner: own, content: `${instance} started\n` });
    }
  }

  // Manticore clusters
  const mc = isObj(raw.manticore) && isObj(raw.manticore.clusters) ? raw.manticore.clusters : {};
  for (const [cname, cv] of Object.entries(mc)) {
    if (!isObj(cv) || !isObj(cv.nodes)) continue;
    const lastCommitted = Number(cv.lastCommitted ?? 130);
    const c: ManticoreCluster = {
      uuid: String(cv.uuid ?? '2aa9bd5f-4d0c-11ee-8f2f-7a3b0bd5b6d2'),
      unit: String(cv.unit ?? 'manticore'),
      dataDir: String(cv.dataDir ?? '/var/lib/manticore'),
      logPath: String(cv.logPath ?? '/var/log/manticore/searchd.log'),
      sqlPort: Number(cv.sqlPort ?? 9306),
      lastCommitted,
      indexes: Array.isArray(cv.indexes) ? cv.indexes.map(String) : [cname],
      joinPolls: Number(cv.joinPolls ?? 1),
      nodes: {},
      bootstraps: 0,
      violations: [],
    };
    for (const [n, nvRaw] of Object.entries(cv.nodes)) {
      const nv = (isObj(nvRaw) ? nvRaw : {}) as Obj;
      const st = String(nv.state ?? 'running');
      const running = st === 'running';
      const crashed = st === 'crashed';
      const component = (nv.component ?? (running ? 'primary' : 'non-primary')) as ManticoreNode['component'];
      const recovered = Number(nv.recovered ?? nv.seqno ?? lastCommitted);
      c.nodes[n] = {
        address: str(nv.address, `manticore.${cname}.nodes.${n}.address`),
        partition: String(nv.partition ?? 'p0'),
        component: running ? component : 'non-primary',
        seqno: running || crashed ? -1 : Number(nv.seqno ?? recovered),
        safeToBootstrap: running || crashed ? 0 : (Number(nv.safeToBootstrap ?? 0) as 0 | 1),
        recovered,
        joinPolls: 0,
        gvwstate: Boolean(nv.gvwstate ?? (crashed || (running && component === 'non-primary'))),
      };
      const node = ensureNode(n);
      node.units[c.unit] = { active: running ? 'active' : crashed ? 'failed' : 'inactive', enabled: true };
    }
    state.manticore.clusters[cname] = c;
  }

  // Explicit node settings win over the derived defaults.
  for (const [n, nvRaw] of Object.entries(nodeSpecs)) {
    const node = ensureNode(n);
    const nv = (isObj(nvRaw) ? nvRaw : {}) as Obj;
    for (const [u, uv] of Object.entries(isObj(nv.units) ? nv.units : {})) node.units[u] = { ...(node.units[u] ?? {}), ...unitFrom(uv) };
    for (const [p, fv] of Object.entries(isObj(nv.files) ? nv.files : {})) {
      if (typeof fv === 'string') addFile(node, p, { type: 'file', owner: 'root:root', content: fv });
      else if (isObj(fv)) addFile(node, p, fv.dir ? { type: 'dir', owner: String(fv.owner ?? 'root:root') } : { type: 'file', owner: String(fv.owner ?? 'root:root'), content: String(fv.content ?? '') });
    }
    if (Array.isArray(nv.tools)) node.tools = nv.tools.map(String);
  }
  for (const n of Array.isArray(raw.removeNodes) ? raw.removeNodes.map(String) : []) delete state.nodes[n];

  state.faults = (Array.isArray(raw.faults) ? raw.faults : []).map((f) => {
    const fault = { ...(f as CommandFault) };
    if (typeof fault.tool !== 'string') throw new Error('lab scenario: every fault needs a tool (or "*")');
    return fault;
  });
  syncManticoreFiles(state);
  return state;
}

export function loadScenario(nameOrPath: string): LabState {
  const file = resolveScenarioPath(nameOrPath);
  const name = path.basename(file).replace(/\.(ya?ml|json)$/, '');
  return buildState(name, loadScenarioRaw(nameOrPath));
}
