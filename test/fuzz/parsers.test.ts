/**
 * Generated input over every tool-output parser in parsers/: random text and mutated real outputs
 * (what the lab's simulated tools print in every scenario) never make a parser throw; what a parser
 * returns is either a failure with a reason, or values that pass the allow-lists (SAFE_ARG for those
 * that go on a command line). And what intake accepts, the parsers accept: a map of any valid
 * service / instance, drawn in each of the lab's layouts, gives the replica pair.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { SAFE_ARG } from '../../activities/command-line';
import { renderMap } from '../../lab/tools/ic';
import type { IcMap as LabMap } from '../../lab/types';
import { parseCheckLine, parseCtlrConf, parseCtlrTopology } from '../../parsers/ctlr';
import { parseClusterStatus, parseGrastate, parseStatusRows, parseWsrepRecover, parseWsrepStatus, type GaleraStatus } from '../../parsers/galera';
import { findReplicaPair, parseIcMap } from '../../parsers/icmap';
import { judgeCluster, parseKubectlPods, parseOrchTopology, parseReupLog } from '../../parsers/orchtopo';
import { containsWord, endsWithLines, kustCleanExpected, tntCleanExpected } from '../../parsers/output';
import { check, CLUSTER, HOST, HOSTPORT, INSTANCE, NAMESPACE, NODE, POD, SERVICE } from '../../parsers/patterns';
import type { Parsed } from '../../parsers/result';
import { recordFigures } from '../helpers/figures';
import { number, service } from './alerts';
import { anyText, assertReason, hostile, mutated, settings, Tally } from './fuzz';
import { labOutputs, OutputKind } from './samples';

const tally = new Tally();
after(() => recordFigures('fuzz', tally.counts));

const SAMPLES = labOutputs();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A value from a parser passes its allow-list; `onCommandLine`: it may be an argument, so SAFE_ARG too. */
function allowed(pattern: RegExp, kind: string, value: string, onCommandLine = true): void {
  const c = check(pattern, kind, value);
  assert.ok(c.ok, `${kind} ${JSON.stringify(value)}: ${!c.ok && c.error}`);
  if (onCommandLine) assert.match(value, SAFE_ARG, kind);
}

/** The parser's result: a failure with a reason, or the value for the caller's checks. */
function judged<T>(r: Parsed<T>, text: string, each: (v: T) => void): boolean {
  assertReason(r, text);
  if (r.ok) each(r.value);
  return r.ok;
}

function galeraStatus(s: GaleraStatus): void {
  assert.ok(['primary', 'non-primary', 'disconnected'].includes(s.status), s.status);
  for (const n of [s.size, s.lastCommitted]) if (n !== undefined) assert.ok(Number.isSafeInteger(n));
}

/** Runs every parser that reads output of this kind (and the generic ones); true when the main one accepted. */
const PARSERS: Record<OutputKind, (text: string) => boolean> = {
  icmap: (text) =>
    judged(parseIcMap(text), text, (map) => {
      for (const n of map.nodes) {
        assert.ok(check(NODE, 'node', n.name).ok || check(INSTANCE, 'node', n.name).ok, `node name ${JSON.stringify(n.name)}`);
        for (const s of n.srvs) {
          allowed(SERVICE, 'service', s.service);
          allowed(HOST, 'host', s.host);
          allowed(INSTANCE, 'instance', s.instance);
          allowed(HOSTPORT, 'address', s.address, false);
          assert.equal(s.fullName, `${s.service}.${s.host}.${s.instance}`);
          assert.match(s.fullName, SAFE_ARG);
          assert.ok(['alive', 'dead'].includes(s.state) && ['', 'main', 'slave'].includes(s.role), `${s.state} ${s.role}`);
        }
        for (const inst of new Set(n.srvs.map((s) => s.instance))) {
          const pair = findReplicaPair(map, inst);
          assertReason(pair, text);
          if (pair.ok) assert.deepEqual([pair.value.slave.role, pair.value.main.role], ['slave', 'main']);
        }
      }
    }),
  ctlrTopology: (text) =>
    judged(parseCtlrTopology(text), text, (entries) => {
      for (const e of entries) {
        allowed(HOST, 'fqdn', e.fqdn);
        allowed(HOSTPORT, 'address', e.address, false);
        allowed(NODE, 'node', e.node);
      }
      assert.ok(entries.filter((e) => e.self).length <= 1);
    }),
  ctlrConf: (text) =>
    judged(parseCtlrConf(text), text, (conf) => {
      for (const m of conf.members) allowed(HOST, 'fqdn', m.fqdn);
      if (conf.main !== undefined) allowed(HOST, 'main', conf.main);
      if (conf.compotBind) {
        allowed(HOST, 'compot host', conf.compotBind.host);
        assert.ok(Number.isInteger(conf.compotBind.port) && conf.compotBind.port >= 1 && conf.compotBind.port <= 65535);
      }
    }),
  checkLine: (text) =>
    judged(parseCheckLine(text), text, (v) => {
      assert.equal(v.check.service, 'ctlr_topo_check');
      assert.equal(v.healthy, v.check.state === 0);
    }),
  orchtopo: (text) => {
    const topo = parseOrchTopology(text);
    for (const [ns, c] of Object.entries(topo.clusters)) {
      allowed(NAMESPACE, 'namespace', ns);
      for (const i of c.instances) {
        allowed(HOSTPORT, 'host:port', i.hostPort);
        allowed(POD, 'pod', i.pod);
        assert.equal(i.namespace, ns);
      }
      for (const e of c.errors) assert.ok(e.error.length > 0);
      const v = judgeCluster(c);
      assert.ok(['healthy', 'two-masters', 'no-master', 'broken-replica', 'errant', 'unparseable'].includes(v.kind));
      if (v.kind === 'broken-replica' || v.kind === 'errant') for (const r of v.replicas) assert.match(r.hostPort, SAFE_ARG);
    }
    return topo.errors.length === 0 && Object.values(topo.clusters).every((c) => c.errors.length === 0);
  },
  reup: (text) =>
    judged(parseReupLog(text), text, (v) => {
      allowed(NAMESPACE, 'namespace', v.namespace);
      allowed(POD, 'pod', v.pod);
      if (v.pvc !== undefined) allowed(POD, 'pvc', v.pvc);
    }),
  kubectl: (text) =>
    judged(parseKubectlPods(text), text, (pods) => {
      for (const p of pods) {
        allowed(POD, 'pod', p.name);
        assert.ok([p.ready, p.readyTotal, p.restarts].every(Number.isSafeInteger));
      }
    }),
  grastate: (text) =>
    judged(parseGrastate(text), text, (g) => {
      assert.match(g.uuid, UUID);
      assert.ok(Number.isSafeInteger(g.seqno) && g.seqno >= -1);
    }),
  clusterStatus: (text) => {
    judged(parseStatusRows(text, 'wsrep_%'), text, (rows) => Object.keys(rows).forEach((k) => assert.match(k, /^wsrep_[A-Za-z0-9_]*$/i)));
    judged(parseWsrepStatus(text), text, galeraStatus);
    return judged(parseClusterStatus(text, 'posts'), text, galeraStatus);
  },
  wsrepRecover: (text) =>
    judged(parseWsrepRecover(text), text, (p) => {
      assert.match(p.uuid, UUID);
      assert.ok(Number.isSafeInteger(p.seqno) && p.seqno >= -1);
    }),
  clean: (text) => {
    let any = false;
    for (const expected of [kustCleanExpected('cox-1'), tntCleanExpected('badger-3'), ['OK'], []]) {
      const v = endsWithLines(text, expected);
      assert.ok(v.reason.length > 0);
      any ||= v.ok;
    }
    containsWord(text, ['started', 'OK', '']);
    return any;
  },
};
const KINDS = Object.keys(PARSERS) as OutputKind[];

test('the corpus: the lab prints real outputs of every kind the parsers read, and the parsers accept them', () => {
  for (const kind of KINDS) {
    const of = SAMPLES.filter((s) => s.kind === kind);
    assert.ok(of.length > 0, `no lab sample of ${kind}`);
    // Each kind has outputs its parser accepts (the lab's normal answers), so the properties below start from real, valid text.
    assert.ok(of.some((s) => PARSERS[kind](s.text)), `no ${kind} sample is accepted: ${of[0].where}: ${JSON.stringify(of[0].text).slice(0, 200)}`);
  }
  tally.add('real tool outputs in the corpus', SAMPLES.length);
});

test('every tool-output parser: mutated real outputs, outputs of the wrong tool and random text never throw; results are failures with a reason or pass the allow-lists', () => {
  const all = SAMPLES.map((s) => s.text);
  const random = anyText(['node', 'srv', 'alive', 'dead', 'main', 'slave', '|', '+', '-', 'self', 'GTID', 'wsrep_', 'seqno:', 'uuid:']);
  const input = fc.constantFrom(...KINDS).chain((kind) => {
    const own = SAMPLES.filter((s) => s.kind === kind).map((s) => s.text);
    return fc.tuple(
      fc.constant(kind),
      fc.oneof(
        { weight: 1, arbitrary: fc.constantFrom(...own) },
        { weight: 6, arbitrary: mutated(own) },
        { weight: 1, arbitrary: fc.constantFrom(...all) },
        { weight: 1, arbitrary: mutated(all) },
        { weight: 1, arbitrary: random },
      ),
    );
  });
  const accepted: Partial<Record<OutputKind, number>> = {};
  fc.assert(
    fc.property(input, ([kind, text]) => {
      tally.add('tool outputs tried');
      if (PARSERS[kind](text)) accepted[kind] = (accepted[kind] ?? 0) + 1;
    }),
    settings(12000),
  );
  // Every parser had accepted inputs to check (real outputs, and mutations that kept them valid).
  for (const kind of KINDS) assert.ok((accepted[kind] ?? 0) >= 20, `${kind}: only ${accepted[kind] ?? 0} accepted inputs`);
  tally.add('tool outputs tried that a parser accepted', Object.values(accepted).reduce((a, b) => a + b, 0));
});

test('galera: a cluster name that fails its allow-list is refused before the output is read', () => {
  const text = SAMPLES.find((s) => s.kind === 'clusterStatus' && parseClusterStatus(s.text, 'posts').ok)?.text ?? '';
  fc.assert(
    fc.property(fc.oneof(hostile, fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/)), (cluster) => {
      tally.add('cluster names tried');
      const r = parseClusterStatus(text, cluster);
      assertReason(r, cluster);
      if (!check(CLUSTER, 'cluster', cluster).ok) assert.equal(r.ok, false, cluster);
    }),
    settings(3000),
  );
});

test('what intake accepts, the map parser accepts: any valid service and instance, in each of the lab layouts, gives its replica pair', () => {
  const layout = fc.constantFrom<LabMap['style']>('spaces', 'tabs', 'wide');
  const header = fc.constantFrom<LabMap['autoflip']>(undefined, 'enable', 'blocked');
  fc.assert(
    fc.property(service, number, layout, header, fc.boolean(), (svc, n, style, autoflip, namedLikeInstance) => {
      tally.add('generated maps tried');
      const instance = `${svc}-${n}`;
      const map: LabMap = {
        kind: 'kust',
        style,
        ...(autoflip ? { autoflip } : {}),
        blocks: [
          {
            node: namedLikeInstance ? instance : '01',
            buckets: 2147483648,
            srvs: [
              { name: `${svc}.vkt-4vm-879-standart-01.${instance}`, addr: '10.32.0.1:2510', status: 'alive', role: 'main', repl: 'ok' },
              { name: `${svc}.vkt-4vm-879-standart-02.${instance}`, addr: '10.32.96.0:2510', status: 'alive', role: 'slave', repl: 'ok', ...(autoflip === 'blocked' ? { lastseen: '2025-08-14/14:09:05' } : {}) },
            ],
          },
        ],
      };
      const text = renderMap(map);
      const parsed = parseIcMap(text);
      assert.ok(parsed.ok, `${JSON.stringify(text)}: ${!parsed.ok && parsed.error}`);
      const pair = findReplicaPair(parsed.value, instance);
      assert.ok(pair.ok, `${instance}: ${!pair.ok && pair.error}`);
      assert.deepEqual([pair.value.slave.host, pair.value.slave.instance, pair.value.main.host], ['vkt-4vm-879-standart-02', instance, 'vkt-4vm-879-standart-01']);
    }),
    settings(3000),
  );
});
