/**
 * Generated configuration files (config/load.ts, config/schema.ts): the example file and a lab-like
 * file, mutated as text and as YAML structure, arbitrary YAML-ish text and the classic YAML attacks.
 * loadConfig either throws a ConfigError that names the file and what is wrong, or returns a
 * configuration that really is usable: the control node and every named node are inventory hosts,
 * every routing rule can be applied, every path may go on a command line, every duration parses.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import YAML from 'yaml';
import { SAFE_ARG } from '../../activities/command-line';
import { routeAlertmanager } from '../../client/intake';
import { ConfigError, loadConfig, parseConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import { REPO_ROOT } from '../../worker/binaries';
import { msOf } from '../../workflows/duration';
import { recordFigures } from '../helpers/figures';
import { anyText, hostile, mutated, settings, Tally } from './fuzz';

const tally = new Tally();
const dir = mkdtempSync(path.join(os.tmpdir(), 'medic-fuzz-config-'));
after(() => {
  recordFigures('fuzz', tally.counts);
  rmSync(dir, { recursive: true, force: true });
});

const EXAMPLE = readFileSync(path.join(REPO_ROOT, 'config', 'medic.example.yaml'), 'utf8');
const host = (port: number) => ({ address: '127.0.0.21', port, user: 'root', keyFile: 'keys/id_ed25519', hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0000000000000000000000000000000000000000000' });
/** The shape lab/lab.ts writes: ctlr pair, a Galera cluster, rules, approvals. */
const LAB_LIKE = {
  service: { dataDir: 'data', taskQueue: 'replication-medic' },
  api: {
    listen: '127.0.0.1:0',
    webhookToken: 'w'.repeat(32),
    operatorToken: 'o'.repeat(32),
    operators: {
      alice: { role: 'operator', credentialHash: 'scrypt$1024$8$1$KlgxyNsUasZBR/o7M1rllA==$rJPm/OzCph+w2Q8CwPqFwYKu6b4ZKaG0T0XP4YuITzQ=' },
      bob: { role: 'operator', credentialHash: 'scrypt$1024$8$1$f+yxCbbJzvSS6ip7YNel6A==$LPCwE2e+S4FytuUM6M1sbZnomfq2e8wVG26OhkkYoew=' },
    },
    approvers: ['alice', 'bob'],
    approverLists: { 'manticore-cluster': { gates: { bootstrap: ['alice'] } } },
  },
  ssh: { connectTimeoutSeconds: 5, commandTimeoutSeconds: 120, maxConcurrentPerHost: 4, outputCapBytes: 65536 },
  inventory: { controlNode: 'vkt-control-01', hosts: { 'vkt-control-01': host(2201), vkt03: host(2202), vkt04: host(2203), 'mc-a': host(2204), 'mc-b': host(2205) } },
  ctlr: { nodes: ['vkt03', 'vkt04'] },
  manticore: { clusters: { posts: { nodes: ['mc-a', 'mc-b'], sqlHost: '127.0.0.1', sqlPort: 9306, unit: 'manticore', grastatePath: '/var/lib/manticore/posts/grastate.dat' } } },
  intake: { seenAgainInterval: '1h', rules: [{ match: { alertname: '~Kust.*', severity: 'critical' }, runbook: 'kust-replica', params: { service: '$labels.service', instance: '$labels.instance' } }] },
  timers: { autoflipRetry: '1s', galeraPoll: '500ms' },
  approvals: { 'kust-replica': { clean: 'approve' } },
};
const BASES = [YAML.parse(EXAMPLE) as unknown, LAB_LIKE];
const TEXTS = [EXAMPLE, YAML.stringify(LAB_LIKE)];

/** Names that are keys of every object's prototype, or otherwise special to JavaScript and YAML. */
const SPECIAL_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '<<', '', ' ', '~', 'null', 'true', '0'];
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  hostile,
  fc.constantFrom(...SPECIAL_KEYS, '~(', '~.*', '~(a+)+$', '0s', '1h', '-1s', '99999999999999999999h', 'ssh-ed25519 AAAA', '127.0.0.1:0', '/etc/shadow', '../../x'),
);

type Doc = unknown;
type DocEdit = { op: 'set' | 'delete' | 'add' | 'rename'; at: number; key: string; value: unknown };

/** Every path to a value in doc (objects and arrays), the root first. */
function pathsOf(doc: Doc, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (doc !== null && typeof doc === 'object') for (const [k, v] of Object.entries(doc)) out.push(...pathsOf(v, [...at, Array.isArray(doc) ? Number(k) : k]));
  return out;
}

/** A structural edit of a YAML document: set, delete, add or rename at one of its paths. */
function applyDocEdit(doc: Doc, e: DocEdit): Doc {
  const copy = structuredClone(doc);
  const paths = pathsOf(copy);
  const where = paths[e.at % paths.length];
  if (where.length === 0) return e.op === 'set' ? e.value : copy;
  let parent = copy as Record<string | number, unknown>;
  for (const k of where.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = where[where.length - 1];
  const target = parent[last];
  if (e.op === 'set') parent[last] = e.value;
  else if (e.op === 'delete') delete parent[last];
  else if (e.op === 'add' && target !== null && typeof target === 'object' && !Array.isArray(target)) Object.defineProperty(target, e.key, { value: e.value, enumerable: true, writable: true, configurable: true });
  else if (e.op === 'rename' && !Array.isArray(parent)) {
    Object.defineProperty(parent, e.key, { value: target, enumerable: true, writable: true, configurable: true });
    if (e.key !== String(last)) delete parent[last];
  }
  return copy;
}

const docEdit: fc.Arbitrary<DocEdit> = fc.record({
  op: fc.constantFrom('set', 'delete', 'add', 'rename'),
  at: fc.nat(),
  key: fc.oneof(fc.constantFrom(...SPECIAL_KEYS, 'surprise', 'hostKey', 'rules'), fc.string({ maxLength: 6 })),
  value,
});
/** Places where one value refers to another or reaches a command line or a RegExp: edited on purpose, not only by chance. */
const KNOWN_PATHS: (string | number)[][] = [
  ['inventory', 'controlNode'],
  ['ctlr', 'nodes', 0],
  ['manticore', 'clusters', 'posts', 'nodes', 1],
  ['intake', 'rules', 0, 'match', 'alertname'],
  ['intake', 'rules', 0, 'runbook'],
  ['intake', 'seenAgainInterval'],
  ['timers', 'autoflipRetry'],
  ['paths', 'ic'],
  ['service', 'taskQueue'],
  ['api', 'listen'],
  ['inventory', 'hosts', 'vkt03', 'address'],
  ['ssh', 'outputCapBytes'],
  ['api', 'approvers', 1],
  ['api', 'operators', 'bob', 'role'],
  ['api', 'approverLists', 'manticore-cluster', 'gates', 'bootstrap', 0],
];
function poke(doc: Doc, [at, v]: [number, unknown]): Doc {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  const where = KNOWN_PATHS[at % KNOWN_PATHS.length];
  let parent = copy;
  for (const [i, k] of where.slice(0, -1).entries()) {
    if (parent[k] === null || typeof parent[k] !== 'object') parent[k] = typeof where[i + 1] === 'number' ? [] : {};
    parent = parent[k] as Record<string | number, unknown>;
  }
  parent[where[where.length - 1]] = v;
  return copy;
}
const structural = fc
  .tuple(fc.constantFrom(...BASES), fc.array(docEdit, { maxLength: 3 }), fc.array(fc.tuple(fc.nat(), value), { maxLength: 2 }))
  .map(([doc, edits, pokes]) => YAML.stringify(edits.reduce(applyDocEdit, pokes.reduce(poke, doc))));

/** YAML that attacks the parser: alias bombs, deep nesting, huge scalars, tabs, NUL, duplicate keys, tags. */
const ATTACKS = [
  'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`).join('\n'),
  '['.repeat(100_000) + ']'.repeat(100_000),
  'inventory: ' + '{a: '.repeat(20_000) + '1' + '}'.repeat(20_000),
  `inventory:\n  controlNode: ${'a'.repeat(1_000_000)}\n`,
  'inventory:\n\tcontrolNode: x\n',
  'inventory:\n  controlNode: x\n  controlNode: y\n',
  '\uFEFFinventory: {controlNode: x, hosts: {}}\n',
  'inventory: !!binary aGVsbG8=\n',
  'inventory: !<tag:yaml.org,2002:js/function> "function(){}"\n',
  '\x00\x01\x02',
  '--- 1\n--- 2\n',
  '%YAML 9.9\n---\na: 1\n',
];

let seq = 0;
/** Loads text as a config file: a valid config, or the ConfigError (anything else fails the property). */
function load(text: string): { config?: Config; error?: ConfigError; file: string } {
  const file = path.join(dir, `medic-${seq++ % 8}.yaml`);
  writeFileSync(file, text);
  try {
    return { config: loadConfig(file), file };
  } catch (err) {
    assert.ok(err instanceof ConfigError, `${(err as Error)?.constructor?.name}: ${(err as Error)?.message} for ${JSON.stringify(text.slice(0, 300))}`);
    return { error: err, file };
  }
}

function assertClearError(err: ConfigError, file: string): void {
  assert.ok(err.message.startsWith(`${file}: `), err.message.slice(0, 200));
  assert.match(err.message, /: (not valid YAML: \S|invalid configuration:\n {2}at \S)/);
}

/** A configuration the schema accepted must be one the service can run on. */
function assertUsable(c: Config): void {
  const own = (n: string) => Object.hasOwn(c.inventory.hosts, n);
  assert.ok(own(c.inventory.controlNode), `controlNode ${JSON.stringify(c.inventory.controlNode)} is not an inventory host`);
  for (const n of [...(c.ctlr?.nodes ?? []), ...Object.values(c.manticore?.clusters ?? {}).flatMap((x) => x.nodes)]) assert.ok(own(n), `node ${n} is not an inventory host`);
  for (const p of Object.values(c.paths)) assert.match(p, SAFE_ARG);
  for (const d of Object.values(c.timers)) assert.ok(Number.isFinite(msOf(d)), d);
  assert.ok(Number.isFinite(msOf(c.intake.seenAgainInterval)));
  // Every approver is an operator who can decide.
  const lists = [c.api.approvers, ...Object.values(c.api.approverLists).flatMap((l) => [l.approvers ?? [], ...Object.values(l.gates ?? {})])];
  for (const n of lists.flat()) assert.equal(Object.hasOwn(c.api.operators, n) && c.api.operators[n].role, 'operator', `approver ${n} is not an operator`);
  // Every rule can be applied to an alert (its regular expressions compile).
  routeAlertmanager({ status: 'firing', labels: { alertname: 'KustX', severity: 'critical', service: 'cox', instance: 'cox-1' }, annotations: {}, startsAt: '' }, c.intake.rules);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
}

test('config: the bases are valid (the properties start from files that load)', () => {
  for (const text of TEXTS) assertUsable(load(text).config as Config);
});

test('config: mutated and generated YAML gives a valid, usable configuration or a ConfigError naming the file and the problem', () => {
  let valid = 0;
  fc.assert(
    fc.property(fc.oneof({ weight: 4, arbitrary: structural }, { weight: 2, arbitrary: mutated(TEXTS) }, { weight: 1, arbitrary: anyText([':', ': ', '- ', '  ', '{', '}', '[', ']', '&a ', '*a', '<<: ', '!!str ', '#', '"', "'", 'inventory', 'hosts', 'controlNode', '\n']) }), (text) => {
      tally.add('configuration documents tried');
      const r = load(text);
      if (r.error) assertClearError(r.error, r.file);
      else {
        valid++;
        assertUsable(r.config as Config);
      }
    }),
    settings(1200),
  );
  assert.ok(valid > 100, `only ${valid} generated documents were valid`);
  tally.add('configuration documents tried that were valid', valid);
});

test('config: YAML attacks (alias bombs, 100k-deep nesting, a 1 MB scalar, tags, NUL) give a ConfigError', () => {
  for (const text of ATTACKS) {
    tally.add('configuration documents tried');
    const r = load(text);
    assert.ok(r.error, `accepted: ${JSON.stringify(text.slice(0, 80))}`);
    assertClearError(r.error, r.file);
  }
});

test('config: any intake rule the schema accepts can be applied to any alert (a `~regex` that does not compile is refused at load)', () => {
  const pattern = fc.oneof(fc.string({ unit: fc.constantFrom(...'~()[]{}*+?.|^$\\ab0-'), maxLength: 12 }), fc.string({ maxLength: 12 }), fc.constantFrom('~(', '~[', '~a{2,1}', '~*', '~(?<n>a)\\k<m>', '~Kust.*'));
  fc.assert(
    fc.property(pattern, hostile, (match, labelValue) => {
      tally.add('configuration documents tried');
      const doc = { ...LAB_LIKE, intake: { rules: [{ match: { alertname: match }, runbook: 'kust-replica', params: { service: '$labels.service', instance: '$labels.instance' } }] } };
      let config: Config;
      try {
        config = parseConfig(doc, 'fuzz.yaml');
      } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
        return assert.match(err.message, /^fuzz\.yaml: invalid configuration:\n {2}at intake\.rules\.0\.match\.alertname: after ~, a regular expression that compiles/);
      }
      const a = { status: 'firing' as const, labels: { alertname: labelValue, service: 'cox', instance: 'cox-1' }, annotations: {}, startsAt: '' };
      routeAlertmanager(a, config.intake.rules);
    }),
    settings(3000),
  );
});
