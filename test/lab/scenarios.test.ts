// Scenario files and tool simulations in-process (no sshd): quick checks of every scenario.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { listScenarios, loadScenario } from '../../lab/scenario';
import { TOOLS } from '../../lab/tools/registry';
import { TOOL_PATH_KEYS } from '../../lab/lab';
import { parseSrvName } from '../../lab/tools/common';
import { syncManticoreFiles } from '../../lab/tools/manticore';
import type { LabState } from '../../lab/types';

function run(state: LabState, node: string, tool: string, argv: string[], opts: { stdin?: string; now?: number } = {}) {
  const r = TOOLS[tool]({ dir: '/nonexistent', node, tool, argv, state, now: opts.now ?? Date.now(), stdin: opts.stdin });
  syncManticoreFiles(state);
  return r;
}
const status = (s: LabState, node: string): Record<string, string> => {
  const r = run(s, node, 'mysql', ['-h', '127.0.0.1', '-P', '9306', '-N'], { stdin: "SHOW STATUS LIKE 'cluster_posts_%'" });
  assert.equal(r.code, 0, r.err);
  return Object.fromEntries(r.out.trimEnd().split('\n').map((l) => l.split('\t') as [string, string]));
};

describe('scenarios', () => {
  test('the required scenarios exist and every scenario loads consistently', () => {
    const names = listScenarios().map((s) => s.name);
    for (const required of [
      'healthy',
      'kust-replfailed',
      'tarantool-broken',
      'autoflip-blocked',
      'autoflip-enabled',
      'mysql-healthy',
      'mysql-broken-replica',
      'mysql-errant',
      'mysql-errant-persistent',
      'mysql-two-masters',
      'mysql-no-master',
      'ctlr-dead-replica',
      'ctlr-two-masters',
      'ctlr-peer-not-main',
      ...[1, 2, 3, 4, 5, 6, 7].map((n) => `manticore-case${n}`),
    ]) {
      assert.ok(names.includes(required), required);
    }
    for (const { name, description } of listScenarios()) {
      assert.ok(description, `${name} has a description`);
      const s = loadScenario(name);
      assert.equal(s.scenario, name);
      assert.ok(s.nodes[s.controlNode], `${name}: control node`);
      for (const m of Object.values(s.maps)) for (const b of m.blocks) for (const srv of b.srvs) assert.ok(s.nodes[parseSrvName(srv.name)!.host], `${name}: ${srv.name}`);
      for (const n of Object.keys(s.ctlr?.nodes ?? {})) assert.ok(s.nodes[n], `${name}: ctlr ${n}`);
      for (const c of Object.values(s.manticore.clusters)) for (const n of Object.keys(c.nodes)) assert.ok(s.nodes[n], `${name}: manticore ${n}`);
    }
  });

  test('wrapper names and the tool registry agree', () => {
    assert.deepEqual(Object.keys(TOOL_PATH_KEYS).sort(), Object.keys(TOOLS).sort());
  });

  test('healthy: nothing to repair anywhere', () => {
    const s = loadScenario('healthy');
    const topo = run(s, 'vkt-control-01', 'orch_topo.sh', []).out.trimEnd().split('\n');
    assert.equal(topo.length, 6);
    assert.ok(topo.every((l) => /\[0s,ok,8\.0\.27-18,r[wo],ROW,>>,GTID\]$/.test(l)));
    for (const n of ['vkt03', 'vkt04']) assert.equal(run(s, n, 'ctlr_topo_check.sh', []).out, '0 ctlr_topo_check - ctlr topology is OK\n');
    assert.equal(run(s, 'vkt04', 'nc', ['10.32.96.0', '4020'], { stdin: 'ipros_cluster_show\n' }).out, 'vkt03.weave.local      10.32.88.0:2410  alive main\nvkt04.weave.local      10.32.96.0:2410  self\n');
    for (const n of ['mc-a', 'mc-b', 'mc-c']) assert.deepEqual([status(s, n).cluster_posts_status, status(s, n).cluster_posts_size], ['primary', '3']);
    assert.match(run(s, 'vkt-control-01', 'im_utils', ['--check-orch']).out, /orch topology is OK \|\n$/);
  });

  test('kust-clean-fails: the clean ends with an ERROR and exit 1', () => {
    const s = loadScenario('kust-clean-fails');
    const r = run(s, 'vkt-4vm-879-standart-02', 'clean_kust_replica.sh', ['cox-1']);
    assert.equal(r.code, 1);
    assert.match(r.out, /INFO: starting cox-1\n$/);
    assert.equal(r.err, 'ERROR: failed to start cox-1\n');
    assert.equal(s.maps.cox.blocks[0].srvs[1].repl, 'replfailed');
  });

  test('autoflip-blocked-replfailed: repair fate-1 on onpremise, then enable', () => {
    const s = loadScenario('autoflip-blocked-replfailed');
    assert.equal(run(s, 'vkt-control-01', 'clean_kust_replica.sh', ['fate-1']).code, 1);
    assert.equal(run(s, 'onpremise', 'clean_kust_replica.sh', ['fate-1']).code, 0);
    assert.equal(run(s, 'vkt-control-01', 'ic', ['set_autoflip', 'fate', 'enable']).code, 0);
    assert.match(run(s, 'vkt-control-01', 'ic', ['map', 'fate']).out, /^autoflip: {2}enable\n/);
  });

  test('mysql reup with wall-clock progress', () => {
    const s = loadScenario('mysql-broken-replica');
    s.mysql.reup = { advance: 'time', secondsPerPhase: 10, heals: true };
    const t0 = 1_000_000;
    run(s, 'vkt-control-01', 'im_utils', ['--reup-mysql-replica', 'files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306'], { now: t0 });
    const row = (now: number): string => run(s, 'vkt-control-01', 'kubectl', ['get', 'po', '-n', 'files'], { now }).out.split('\n')[2];
    assert.match(row(t0 + 1000), /0\/5 +Pending +0 +1s$/);
    assert.match(row(t0 + 25_000), /2\/5 +Running +0 +25s$/);
    assert.match(row(t0 + 30_000), /5\/5 +Running +0 +30s$/);
    assert.match(run(s, 'vkt-control-01', 'orch_topo.sh', [], { now: t0 + 31_000 }).out, /^\+ files-mysql-mysql-cluster-im-db-mysql-1\S+ \(\S+\) \[0s,ok,/m);
  });

  test('manticore cases 1, 2, 4: start the missing nodes, they join', () => {
    for (const [name, missing, survivors] of [
      ['manticore-case1', ['mc-c'], 2],
      ['manticore-case2', ['mc-b', 'mc-c'], 1],
      ['manticore-case4', ['mc-c'], 2],
    ] as const) {
      const s = loadScenario(name);
      assert.equal(status(s, 'mc-a').cluster_posts_size, String(survivors), name);
      for (const n of missing) {
        const gra = run(s, n, 'cat', ['/var/lib/manticore/posts/grastate.dat']).out;
        assert.match(gra, name === 'manticore-case4' ? /^seqno: {3}-1$/m : /^seqno: {3}12\d$/m, name);
        assert.equal(run(s, n, 'systemctl', ['start', 'manticore']).code, 0);
      }
      assert.equal(status(s, missing[0]).cluster_posts_node_state, 'joining');
      assert.deepEqual([status(s, missing[0]).cluster_posts_node_state, status(s, 'mc-a').cluster_posts_size], ['synced', '3'], name);
      assert.deepEqual(s.manticore.clusters.posts.violations, [], name);
    }
  });

  test('graceful stops leave safe_to_bootstrap on the last node, with the highest seqno', () => {
    const s = loadScenario('healthy');
    for (const n of ['mc-c', 'mc-b', 'mc-a']) assert.equal(run(s, n, 'systemctl', ['stop', 'manticore']).code, 0);
    const gra = (n: string): string => run(s, n, 'cat', ['/var/lib/manticore/posts/grastate.dat']).out;
    assert.match(gra('mc-a'), /seqno: {3}134\nsafe_to_bootstrap: 1\n$/);
    assert.match(gra('mc-b'), /seqno: {3}132\nsafe_to_bootstrap: 0\n$/);
    assert.match(gra('mc-c'), /seqno: {3}130\nsafe_to_bootstrap: 0\n$/);
    assert.match(run(s, 'mc-a', 'mysql', ['-h', '127.0.0.1', '-P', '9306', '-e', 'SHOW STATUS']).err ?? '', /^ERROR 2003 \(HY000\): Can't connect to MySQL server on '127\.0\.0\.1:9306' \(111\)\n$/);
  });

  test('a bootstrap while a primary component exists is a violation', () => {
    const s = loadScenario('manticore-case1');
    assert.equal(run(s, 'mc-c', 'manticore_new_cluster', ['--force']).code, 0);
    assert.match(s.manticore.clusters.posts.violations.join('\n'), /already form\(s\) a primary component/);
  });

});
