import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type OrchCluster, judgeCluster, parseKubectlPods, parseOrchTopology, parseReupLog } from '../../parsers/orchtopo';

// Seed 000, mysql section: normal output.
const HEALTHY = `files-mysql-mysql-cluster-im-db-mysql-0.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-0) [0s,ok,8.0.27-18,rw,ROW,>>,GTID]
+ files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-1) [0s,ok,8.0.27-18,ro,ROW,>>,GTID]
keycloak-mysql-mysql-cluster-im-db-mysql-0.mysql.keycloak:3306 (keycloak-mysql-mysql-cluster-im-db-mysql-0) [0s,ok,8.0.27-18,rw,ROW,>>,GTID]
+ keycloak-mysql-mysql-cluster-im-db-mysql-1.mysql.keycloak:3306 (keycloak-mysql-mysql-cluster-im-db-mysql-1) [0s,ok,8.0.27-18,ro,ROW,>>,GTID]
store-mysql-mysql-cluster-im-db-mysql-0.mysql.store:3306 (store-mysql-mysql-cluster-im-db-mysql-0) [0s,ok,8.0.27-18,rw,ROW,>>,GTID]
+ store-mysql-mysql-cluster-im-db-mysql-1.mysql.store:3306 (store-mysql-mysql-cluster-im-db-mysql-1) [0s,ok,8.0.27-18,ro,ROW,>>,GTID]
`;
const OTHERS = HEALTHY.split('\n').slice(2).join('\n');

// Seed: two masters in `files`.
const TWO_MASTERS = `files-mysql-mysql-cluster-im-db-mysql-0.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-0) [0s,ok,8.0.27-18,rw,ROW,>>,GTID]
files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-1) [null,nonreplicating,8.0.27-18,ro,ROW,>>,GTID:errant]
${OTHERS}`;

// Seed: a replica without a master.
const NO_MASTER = `files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-1) [null,nonreplicating,8.0.27-18,ro,ROW,>>,GTID:errant]
${OTHERS}`;

// Seed: a broken replica.
const BROKEN = `files-mysql-mysql-cluster-im-db-mysql-0.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-0) [0s,ok,8.0.27-18,rw,ROW,>>,GTID]
- files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-1) [null,nonreplicating,8.0.27-18,ro,ROW,>>,GTID:errant]
`;

// Seed: errant transactions.
const ERRANT = `files-mysql-mysql-cluster-im-db-mysql-0.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-0) [0s,ok,8.0.27-18,rw,ROW,>>,GTID]
+ files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-1) [0s,ok,8.0.27-18,ro,ROW,>>,GTID:errant]
`;

// orchestrator's own layout: padded columns, replicas of replicas, lag, extras.
const PADDED = [
  'db-0.mysql.shop:3306          (db-0) [0s,ok,8.0.27-18,rw,ROW,>>,GTID,semi:master]',
  '+ db-1.mysql.shop:3306        (db-1) [25s,lag,8.0.27-18,ro,ROW,>>,P-GTID]',
  '  + db-2.mysql.shop:3306      (db-2) [unknown,unchecked,8.0.27-18,ro,ROW,>>,GTID,downtimed]',
  '+ db-3.mysql.shop:3306        [0s,ok,8.0.27-18,ro,ROW,>>,GTID,downtimed]',
].join('\n');

const cluster = (text: string, ns: string): OrchCluster => {
  const t = parseOrchTopology(text);
  assert.deepEqual(t.errors, []);
  assert.ok(Object.hasOwn(t.clusters, ns), `no cluster ${ns}`);
  return t.clusters[ns];
};

test('orchtopo: normal output, three healthy clusters', () => {
  const t = parseOrchTopology(HEALTHY);
  assert.deepEqual(t.errors, []);
  assert.deepEqual(Object.keys(t.clusters), ['files', 'keycloak', 'store']);
  for (const c of Object.values(t.clusters)) {
    assert.deepEqual(c.errors, []);
    assert.equal(c.instances.length, 2);
    assert.deepEqual(judgeCluster(c), { kind: 'healthy' });
  }
  const [master, replica] = t.clusters.files.instances;
  assert.deepEqual(master, {
    marker: 'master',
    depth: 0,
    host: 'files-mysql-mysql-cluster-im-db-mysql-0.mysql.files',
    port: 3306,
    hostPort: 'files-mysql-mysql-cluster-im-db-mysql-0.mysql.files:3306',
    alias: 'files-mysql-mysql-cluster-im-db-mysql-0',
    pod: 'files-mysql-mysql-cluster-im-db-mysql-0',
    namespace: 'files',
    lag: '0s',
    status: 'ok',
    version: '8.0.27-18',
    rw: 'rw',
    binlogFormat: 'ROW',
    extras: ['>>', 'GTID'],
    errant: false,
    downtimed: false,
    raw: HEALTHY.split('\n')[0],
  });
  assert.equal(replica.marker, 'replica');
  assert.equal(replica.depth, 1);
  assert.equal(replica.rw, 'ro');
});

test('orchtopo: two masters, replica without master', () => {
  const t = parseOrchTopology(TWO_MASTERS);
  assert.deepEqual(judgeCluster(t.clusters.files), { kind: 'two-masters' });
  assert.deepEqual(judgeCluster(t.clusters.keycloak), { kind: 'healthy' });
  assert.deepEqual(judgeCluster(cluster(NO_MASTER, 'files')), { kind: 'no-master' });
  assert.deepEqual(judgeCluster(cluster(NO_MASTER, 'store')), { kind: 'healthy' });
  // only replica lines left: no master either
  assert.deepEqual(judgeCluster(cluster(ERRANT.split('\n')[1], 'files')), { kind: 'no-master' });
});

test('orchtopo: broken replica and errant replica', () => {
  const broken = judgeCluster(cluster(BROKEN, 'files'));
  assert.equal(broken.kind, 'broken-replica');
  assert.deepEqual(
    broken.kind === 'broken-replica' && broken.replicas.map((r) => [r.marker, r.hostPort, r.errant]),
    [['broken', 'files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306', true]],
  );
  const errant = judgeCluster(cluster(ERRANT, 'files'));
  assert.equal(errant.kind, 'errant');
  assert.deepEqual(errant.kind === 'errant' && errant.replicas.map((r) => r.hostPort), ['files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306']);
});

test('orchtopo: padded columns, nested replicas, lag and downtime are no reason to act', () => {
  const c = cluster(PADDED, 'shop');
  assert.deepEqual(
    c.instances.map((i) => [i.depth, i.marker, i.lag, i.status, i.alias, i.downtimed, i.extras.join(',')]),
    [
      [0, 'master', '0s', 'ok', 'db-0', false, '>>,GTID,semi:master'],
      [1, 'replica', '25s', 'lag', 'db-1', false, '>>,P-GTID'],
      [2, 'replica', 'unknown', 'unchecked', 'db-2', true, '>>,GTID,downtimed'],
      [1, 'replica', '0s', 'ok', '', true, '>>,GTID,downtimed'],
    ],
  );
  // db-2 is unchecked: the runbook does not cover that, so no verdict that acts
  assert.deepEqual(judgeCluster(c), { kind: 'unparseable', reason: 'replica db-2.mysql.shop:3306 is marked + but has status unchecked' });
  const lagging = cluster(PADDED.split('\n').filter((l) => !l.includes('db-2')).join('\n'), 'shop');
  assert.deepEqual(judgeCluster(lagging), { kind: 'healthy' });
  // tabs between columns and CRLF are fine
  assert.deepEqual(judgeCluster(cluster(HEALTHY.replace(/ \[/g, '\t\t[').replace(/\n/g, '\r\n'), 'files')), { kind: 'healthy' });
});

test('orchtopo: states outside the runbook are unparseable, never acted on', () => {
  const plusNonrepl = ERRANT.replace('[0s,ok,8.0.27-18,ro,ROW,>>,GTID:errant]', '[null,nonreplicating,8.0.27-18,ro,ROW,>>,GTID]');
  assert.deepEqual(judgeCluster(cluster(plusNonrepl, 'files')), {
    kind: 'unparseable',
    reason: 'replica files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306 is marked + but has status nonreplicating',
  });
  const badMaster = BROKEN.replace('[0s,ok,8.0.27-18,rw', '[unknown,invalid,8.0.27-18,rw');
  assert.match((judgeCluster(cluster(badMaster, 'files')) as { reason: string }).reason, /master .* has status invalid/);
  assert.deepEqual(judgeCluster({ instances: [], errors: [] }), { kind: 'unparseable', reason: 'no instances' });
});

test('orchtopo: garbled lines go to their cluster when the namespace is readable, else to the top level', () => {
  const text = `${HEALTHY}+ files-mysql-mysql-cluster-im-db-mysql-2.mysql.files:3306 (x) [0s,ok\nsomething went wrong\n`;
  const t = parseOrchTopology(text);
  assert.deepEqual(t.errors, [{ line: 8, raw: 'something went wrong', error: 'unrecognised topology line "something went wrong"' }]);
  assert.equal(t.clusters.files.errors.length, 1);
  assert.equal(t.clusters.files.errors[0].line, 7);
  assert.match(judgeCluster(t.clusters.files).kind, /^unparseable$/);
  assert.match((judgeCluster(t.clusters.files) as { reason: string }).reason, /^line 7: unrecognised topology line/);
  assert.deepEqual(judgeCluster(t.clusters.store), { kind: 'healthy' });
  assert.deepEqual(parseOrchTopology(' \n\r\n').errors, [{ line: 0, raw: '', error: 'empty topology output' }]);
});

test('orchtopo: field validation', () => {
  const first = HEALTHY.split('\n')[0];
  const err = (line: string) => {
    const t = parseOrchTopology(line);
    const all = [...t.errors, ...Object.values(t.clusters).flatMap((c) => c.errors)];
    assert.equal(all.length, 1, line);
    return all[0].error;
  };
  assert.match(err(first.replace('[0s,', '[5m,')), /unknown lag "5m"/);
  assert.match(err(first.replace(',ok,', ',fine,')), /unknown status "fine"/);
  assert.match(err(first.replace(',rw,', ',wr,')), /unknown read-write flag "wr"/);
  assert.match(err(first.replace(',ROW,', ',ROWS,')), /unknown binlog format "ROWS"/);
  assert.match(err(first.replace(',GTID]', ',GT ID]')), /unknown extra "GT ID"/);
  assert.match(err(first.replace('[0s,ok,8.0.27-18,rw,ROW,>>,GTID]', '[0s,ok,8.0.27-18,rw]')), /too few fields/);
  assert.match(err(`  ${first}`), /unexpected indentation of 2 spaces/);
  assert.match(err(`   + ${first}`), /unexpected indentation of 3 spaces/);
  assert.match(err(`\t+ ${first}`), /tab in indentation/);
  assert.match(err(`* ${first}`), /unrecognised topology line/);
  assert.match(err(`${first} trailing`), /unrecognised topology line/);
  assert.match(err(first.replace(':3306', ':99999')), /host:port .* rejected/);
  assert.match(err('db-0.files:3306 (db-0) [0s,ok,8.0.27-18,rw,ROW,>>,GTID]'), /is not <pod>\.mysql\.<namespace>/);
  assert.match(err('db_0.mysql.files:3306 (db-0) [0s,ok,8.0.27-18,rw,ROW,>>,GTID]'), /rejected/);
  // a namespace that shadows an Object.prototype member is just a name
  assert.deepEqual(judgeCluster(cluster('db-0.mysql.constructor:3306 [0s,ok,8.0.27-18,rw,ROW,>>,GTID]', 'constructor')), { kind: 'healthy' });
});

// Seed: im_utils --reup-mysql-replica output (with the prompt line).
const REUP = `# im_utils --reup-mysql-replica files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306
25 Feb 25 15:29:31 854622 | WARN | pkg/weave/report.go:134 > assuming weave is ready |
25 Feb 25 15:29:31 854622 | INFO | pkg/weave/weave.go:140 > weave is ready |
25 Feb 25 15:29:31 854622 | WARN | pkg/weave/report.go:134 > assuming weave is ready |
25 Feb 25 15:29:31 854622 | INFO | cmd/utils/main.go:497 > deleting pvc files:data-files-mysql-mysql-cluster-im-db-mysql-1 |
25 Feb 25 15:29:31 854622 | INFO | cmd/utils/main.go:499 > deleting pod files:files-mysql-mysql-cluster-im-db-mysql-1 |
`;

test('parseReupLog: namespace, pod and pvc from the im_utils log', () => {
  assert.deepEqual(parseReupLog(REUP), {
    ok: true,
    value: { namespace: 'files', pod: 'files-mysql-mysql-cluster-im-db-mysql-1', pvc: 'data-files-mysql-mysql-cluster-im-db-mysql-1' },
  });
  const podOnly = REUP.split('\n').filter((l) => !l.includes('pvc')).join('\r\n');
  assert.deepEqual(parseReupLog(podOnly), { ok: true, value: { namespace: 'files', pod: 'files-mysql-mysql-cluster-im-db-mysql-1' } });
});

test('parseReupLog: refuses missing, ambiguous or unsafe output', () => {
  assert.deepEqual(parseReupLog(REUP.split('\n').slice(0, 5).join('\n')), { ok: false, error: 'no "deleting pod <ns>:<pod>" line in im_utils output' });
  assert.match((parseReupLog(`${REUP}25 Feb 25 15:29:32 854622 | ERROR | cmd/utils/main.go:510 > failed |\n`) as { error: string }).error, /im_utils reported an error/);
  assert.match((parseReupLog(REUP.replace('pvc files:', 'pvc store:')) as { error: string }).error, /namespaces differ: store and files/);
  assert.match((parseReupLog(`${REUP}x > deleting pod files:files-mysql-mysql-cluster-im-db-mysql-0 |\n`) as { error: string }).error, /several pods deleted/);
  assert.match((parseReupLog(REUP.replace('pod files:', 'pod fi$les:')) as { error: string }).error, /namespace "fi\$les" rejected/);
  assert.match((parseReupLog(REUP.replace('pod files:files-mysql', 'pod files:Files-mysql')) as { error: string }).error, /pod "Files-mysql.*" rejected/);
});

test('parseKubectlPods: seed table (tabs), spaces, restarts with "(ago)"', () => {
  const seed = 'NAME\tREADY\tSTATUS\tRESTARTS\tAGE\nfiles-mysql-mysql-cluster-im-db-mysql-1\t5/5\tRunning\t0\t9m\n';
  assert.deepEqual(parseKubectlPods(seed), {
    ok: true,
    value: [{ name: 'files-mysql-mysql-cluster-im-db-mysql-1', ready: 5, readyTotal: 5, status: 'Running', restarts: 0, age: '9m' }],
  });
  const spaced = `NAME                                      READY   STATUS     RESTARTS      AGE
files-mysql-mysql-cluster-im-db-mysql-0   5/5     Running    2 (3h ago)    12d
files-mysql-mysql-cluster-im-db-mysql-1   0/5     Init:0/1   0             20s
`;
  const r = parseKubectlPods(spaced.replace(/\n/g, '\r\n'));
  assert.ok(r.ok);
  assert.deepEqual(
    r.value.map((p) => [p.name.slice(-1), p.ready, p.readyTotal, p.status, p.restarts, p.age]),
    [
      ['0', 5, 5, 'Running', 2, '12d'],
      ['1', 0, 5, 'Init:0/1', 0, '20s'],
    ],
  );
  assert.deepEqual(parseKubectlPods('No resources found in files namespace.\n'), { ok: true, value: [] });
  assert.deepEqual(parseKubectlPods('NAME READY STATUS RESTARTS AGE\n'), { ok: true, value: [] });
});

test('parseKubectlPods: errors', () => {
  assert.match((parseKubectlPods('') as { error: string }).error, /missing header/);
  assert.match((parseKubectlPods('error: the server does not have a resource type "po"') as { error: string }).error, /missing header/);
  assert.match((parseKubectlPods('NAME READY STATUS RESTARTS AGE IP NODE\n') as { error: string }).error, /missing header/);
  const bad = (row: string) => parseKubectlPods(`NAME READY STATUS RESTARTS AGE\n${row}`);
  assert.deepEqual(bad('pod-1 five Running 0 9m'), { ok: false, error: 'unrecognised pod line "pod-1 five Running 0 9m"', line: 2 });
  assert.equal(bad('pod-1 5/5 Running 9m').ok, false);
  assert.equal(bad('pod-1 5/5 Running x 9m').ok, false);
  assert.match((bad('Pod_1 5/5 Running 0 9m') as { error: string }).error, /pod "Pod_1" rejected/);
});
