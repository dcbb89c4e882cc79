/**
 * manticore-cluster on REAL Galera, case 7: a real 2+2 split brain. Four mariadbd nodes (test/galera/harness.ts),
 * n1 and n2 in one network namespace, n3 and n4 in another (test/galera/split.sh: a veth pair between them,
 * 192.168.77.0/24 inside the namespaces only). Each node sets wsrep_node_incoming_address, so
 * wsrep_incoming_addresses lists real addresses: the decision tells the groups apart by it (galera-flavour.ts viewOf).
 * The mysql client reaches every node by its Unix socket, which works across namespaces. Taking the veth down
 * leaves each half non-primary with size 2; the workflow, after an operator picks a node, runs pc.bootstrap on
 * that node only and leaves the other half non-primary; healing the link lets that half rejoin.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { actions, GaleraNodes, SCRIPTS } from './harness';

const NODES = ['n1', 'n2', 'n3', 'n4'];
const TAG = `mg${process.pid}`; // namespaces mg<pid>-a, mg<pid>-b; veth mg<pid>a, mg<pid>b
const ADDRS = ['192.168.77.11', '192.168.77.12', '192.168.77.13', '192.168.77.14'];
const base = 24000 + (process.pid % 50) * 100; // each namespace has its own ports; pid-derived anyway
const g = new GaleraNodes(NODES, base, { GALERA_HOSTS: ADDRS.join(' '), GALERA_NETNS: `${TAG}-a ${TAG}-a ${TAG}-b ${TAG}-b` });
const split = (op: 'up' | 'cut' | 'heal' | 'down') => execFileSync(path.join(SCRIPTS, 'split.sh'), [op, TAG], { stdio: 'inherit' });
const incoming = (ns: number[]) => ns.map((i) => `${ADDRS[i]}:${base + 10 * (i + 1)}`).join(',');
/** wsrep_incoming_addresses in a stable order (Galera lists the members in no particular order). */
const incomingOf = (n: string) => (g.status(n).wsrep_incoming_addresses ?? '').split(',').sort().join(',');

before(async () => {
  split('down'); // a namespace of a reused pid
  split('up');
  await g.setUp();
});
after(async () => {
  try {
    split('heal');
  } catch {
    // the namespaces may not exist (set-up failed)
  }
  await g.tearDown(); // kills every node, then removes the folder
  split('down');
});

test('real Galera, case 7: a 2+2 network split -> both halves non-primary; the operator picks n3: pc.bootstrap on n3 only, {n3, n4} primary, {n1, n2} left non-primary', async () => {
  g.startAll();
  g.write('n1', 5);
  g.write('n4', 3);
  await g.waitStatus(NODES, (s) => s.wsrep_cluster_status === 'Primary' && s.wsrep_cluster_size === '4' && s.wsrep_local_state_comment === 'Synced');
  for (const n of NODES) assert.equal(incomingOf(n), incoming([0, 1, 2, 3]), `${n}: real incoming addresses`);

  split('cut');
  await g.waitStatus(NODES, (s) => s.wsrep_cluster_status === 'non-Primary' && s.wsrep_cluster_size === '2');
  for (const n of ['n1', 'n2']) assert.equal(incomingOf(n), incoming([0, 1]), n);
  for (const n of ['n3', 'n4']) assert.equal(incomingOf(n), incoming([2, 3]), n);

  const { r, calls } = await g.recover((s) => {
    assert.equal(s.pending?.step, 'bootstrap (case 7)');
    assert.deepEqual(s.pending?.choices, NODES);
    assert.match(s.pending?.reason ?? '', /\{n1, n2\} or \{n3, n4\}; never both/);
    return 'n3';
  });
  assert.equal(r.outcome, 'repaired', r.summary);
  const decision = r.state.steps.find((s) => s.name === 'decision: case 7')?.reason ?? '';
  assert.match(decision, /split brain: \{n1, n2\} and \{n3, n4\} each hold exactly half of 4 nodes and are non-primary/);
  for (const n of NODES) assert.match(decision, new RegExp(`${n}: running, non-primary, size 2`));
  assert.ok(r.state.steps.some((s) => s.name === 'bootstrap recorded: n3'));
  assert.match(r.summary, /\{n3, n4\} bootstrapped as the primary component; \{n1, n2\} left non-primary/);
  // pc.bootstrap on the chosen node only; nothing started, nothing else bootstrapped.
  assert.deepEqual(actions(calls), ["n3: mysql -h 127.0.0.1 -P 3306 <<< SET GLOBAL wsrep_provider_options='pc.bootstrap=YES';"]);

  // The chosen group is the cluster, with every row written before the split; it takes writes.
  for (const n of ['n3', 'n4']) g.assertPrimary(n, 2);
  g.write('n4', 2);
  for (const n of ['n3', 'n4']) g.assertPrimary(n, 2);
  // The other half was left alone: still non-primary, refusing writes.
  for (const n of ['n1', 'n2']) {
    const s = g.status(n);
    assert.equal(s.wsrep_cluster_status, 'non-Primary', n);
    assert.equal(s.wsrep_cluster_size, '2', n);
  }
  const refused = g.sh('n1', 'mysql', [], 'INSERT INTO t.r VALUES (1000);\n');
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /WSREP has not yet prepared node for application use/);

  // When the network heals, the other half rejoins the primary component and catches up.
  split('heal');
  await g.waitStatus(NODES, (s) => s.wsrep_cluster_status === 'Primary' && s.wsrep_cluster_size === '4' && s.wsrep_local_state_comment === 'Synced', 90_000);
  g.assertHealthy();
});
