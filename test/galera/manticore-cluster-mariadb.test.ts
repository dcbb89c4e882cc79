/**
 * manticore-cluster on REAL Galera (MariaDB flavour): three mariadbd nodes on loopback ports under a
 * temporary folder of their own (test/galera/harness.ts; scripts/install-galera.sh installs the packages).
 * The same workflow, decision and flavour commands run; only the transport differs: instead of SSH, a local
 * activity runs each command's argv with NODE=<host>, and the configured paths are wrappers
 * (test/galera/nodes.sh) that add the node's --defaults-file / socket and map /galera/... to the node's folder.
 *
 * The tests run in order, each from the state the previous one left: case 3 starts from nothing and leaves a
 * healthy cluster, as do cases 1, 2, 4 and 5; case 6 ends with every node stopped.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually } from '../helpers/temporal';
import { actions, GaleraNodes } from './harness';

const NODES = ['n1', 'n2', 'n3'];
const g = new GaleraNodes(NODES, 24000 + (process.pid % 50) * 100);
before(() => g.setUp());
after(() => g.tearDown());

const decision = (r: Awaited<ReturnType<typeof g.recover>>['r'], c: number) => r.state.steps.find((s) => s.name === `decision: case ${c}`)?.reason ?? '';
/** Until the nodes that still run agree they are a primary component of `size`. */
const primaryOf = (nodes: string[], size: number) => g.waitStatus(nodes, (s) => s.wsrep_cluster_status === 'Primary' && s.wsrep_cluster_size === String(size) && s.wsrep_local_state_comment === 'Synced');

test('real Galera, case 3: graceful stops n3, n2, n1 -> galera_new_cluster on n1 (safe_to_bootstrap), then n2, n3', async () => {
  g.startAll();
  g.write('n1', 5);
  g.write('n3', 3);
  for (const n of ['n3', 'n2', 'n1']) await g.stop(n);
  const { r, calls } = await g.recover();
  assert.equal(r.outcome, 'repaired', r.summary);
  assert.match(decision(r, 3), /n1 stopped last/);
  assert.deepEqual(calls.filter((c) => /galera_new_cluster|start/.test(c)), ['n1: galera_new_cluster', 'n2: systemctl start mariadb', 'n3: systemctl start mariadb']);
  g.assertHealthy();
});

test('real Galera, case 1: graceful stop of n2 while n1, n3 stay primary -> systemctl start n2 (it catches up), no bootstrap', async () => {
  g.write('n2', 4);
  await g.stop('n2');
  await primaryOf(['n1', 'n3'], 2);
  g.write('n3', 2); // committed while n2 is down: it has to catch up when it starts
  assert.match(g.sh('n2', 'cat', ['/galera/data/grastate.dat']).stdout, /seqno:\s+[1-9]\d*\n/, 'a graceful stop leaves a valid seqno');
  const { r, calls } = await g.recover();
  assert.equal(r.outcome, 'repaired', r.summary);
  assert.match(decision(r, 1), /n2 was stopped gracefully and n1, n3 form\(s\) the primary component \(size 2\)/);
  assert.deepEqual(actions(calls), ['n2: systemctl start mariadb']);
  g.assertHealthy();
});

test('real Galera, case 2: graceful stops of n3 and n1 while n2 stays primary alone -> n1 then n3 started one at a time, no bootstrap', async () => {
  g.write('n1', 3);
  await g.stop('n3');
  await g.stop('n1');
  await primaryOf(['n2'], 1);
  g.write('n2', 2);
  const { r, calls } = await g.recover();
  assert.equal(r.outcome, 'repaired', r.summary);
  assert.match(decision(r, 2), /n1, n3 are stopped and n2 form\(s\) the primary component \(size 1\)/);
  assert.deepEqual(actions(calls), ['n1: systemctl start mariadb', 'n3: systemctl start mariadb']);
  // One at a time: n3 starts only after n1 was seen synced.
  const n1Synced = calls.findIndex((c, i) => i > calls.indexOf('n1: systemctl start mariadb') && /^n1: mysql .*<<< SHOW STATUS/.test(c));
  assert.ok(n1Synced > 0 && n1Synced < calls.indexOf('n3: systemctl start mariadb'), calls.join('\n'));
  g.assertHealthy();
});

test('real Galera, case 4: kill -9 of n3 while n1, n2 keep quorum -> recovered position read, systemctl start n3, no bootstrap', async () => {
  g.write('n3', 4);
  await g.kill9('n3');
  await eventually(async () => [g.status('n1'), g.status('n2')], (ss) => ss.every((s) => s.wsrep_cluster_status === 'Primary' && s.wsrep_cluster_size === '2'), 60_000);
  g.write('n1', 2);
  const { r, calls } = await g.recover();
  assert.equal(r.outcome, 'repaired', r.summary);
  assert.match(decision(r, 4), /n3 crashed and n1, n2 form\(s\) the primary component \(size 2\), which keeps quorum/);
  assert.match(decision(r, 4), /n3: inactive, grastate seqno -1/);
  assert.ok(calls.includes('n3: mariadbd --user=mysql --wsrep-recover --log-error=/galera/recover.log'), calls.join('\n'));
  assert.deepEqual(actions(calls), ['n3: systemctl start mariadb']);
  g.assertHealthy();
});

test('real Galera, case 5: kill -9 of n2 and n3 -> n1 non-primary; approved pc.bootstrap on n1, then n2, n3 start', async () => {
  g.write('n2', 4);
  await g.kill9('n2');
  await g.kill9('n3');
  await eventually(async () => g.sql('n1', "SHOW STATUS LIKE 'wsrep_cluster_status';"), (t) => /non-Primary/i.test(t), 60_000);
  const { r, calls } = await g.recover((s) => {
    assert.deepEqual(s.pending?.choices, ['n1']);
    return 'n1';
  });
  assert.equal(r.outcome, 'repaired', r.summary);
  assert.deepEqual(calls.filter((c) => /galera_new_cluster|systemctl start/.test(c)), ['n2: systemctl start mariadb', 'n3: systemctl start mariadb']);
  assert.ok(r.state.steps.some((s) => s.name === 'bootstrap n1' && s.verdict === 'ok'));
  g.assertHealthy();
});

test('real Galera, case 6: kill -9 of all three -> recovered positions, approved forced bootstrap of the freshest, then the others', async () => {
  g.write('n1', 6);
  for (const n of NODES) await g.kill9(n);
  const { r, calls } = await g.recover((s) => {
    assert.ok((s.pending?.choices ?? []).length >= 1);
    assert.match(s.pending?.evidence ?? '', /position \d+ \(recovered position\)/);
    return s.pending?.proposal;
  });
  assert.equal(r.outcome, 'repaired', r.summary);
  const boot = calls.filter((c) => /galera_new_cluster|tee/.test(c));
  assert.equal(boot.length, 2);
  assert.match(boot[0], /^n\d: tee \/galera\/data\/grastate.dat$/);
  g.assertHealthy();
  for (const n of NODES) await g.stop(n);
});
