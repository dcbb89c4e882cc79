/** manticore-cluster's pure decision: every case of the Manticore guide and every refusal. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SAFE_ARG } from '../../activities/command-line';
import { GaleraClusterSchema, PathsSchema } from '../../config/schema';
import type { GaleraStatus } from '../../parsers/galera';
import { bootstrapPosition, checkBootstrapRecord, chosenBootstrap, decide, EMPTY_UUID, NodeSurvey, Plan, samePlan } from '../../workflows/galera-decision';
import { flavourOf } from '../../workflows/galera-flavour';

const U = '2aa9bd5f-4d0c-11ee-8f2f-7a3b0bd5b6d2';
const OTHER = '9f1c0c7e-1111-11ef-8000-000000000001';

const status = (s: GaleraStatus['status'], size: number, nodeState = s === 'primary' ? 'synced' : 'joining', lastCommitted = 130): GaleraStatus => ({ status: s, size, nodeState, lastCommitted, raw: {} });
const up = (node: string, st: GaleraStatus, view = 'all', uuid = U): NodeSurvey => ({ node, running: true, unitState: 'active', grastate: { version: '2.1', uuid, seqno: -1, safeToBootstrap: false }, status: st, view });
const stopped = (node: string, seqno: number, safe: boolean | undefined, uuid = U): NodeSurvey => ({
  node,
  running: false,
  unitState: 'inactive',
  grastate: { version: '2.1', uuid, seqno, ...(safe === undefined ? {} : { safeToBootstrap: safe }) },
});
const crashed = (node: string, recovered?: number, uuid = U): NodeSurvey => ({
  node,
  running: false,
  unitState: 'failed',
  grastate: { version: '2.1', uuid, seqno: -1, safeToBootstrap: false },
  ...(recovered === undefined ? {} : { recovered: { uuid, seqno: recovered } }),
});
const plan = (...nodes: NodeSurvey[]) => decide({ cluster: 'posts', nodes });
const recover = (p: Plan) => {
  assert.equal(p.kind, 'recover', JSON.stringify(p));
  return p as Extract<Plan, { kind: 'recover' }>;
};
const cannot = (p: Plan, why: RegExp) => {
  assert.equal(p.kind, 'cannot-decide', JSON.stringify(p));
  assert.match(p.reasons[0], why);
};

test('healthy: every node primary and synced; a donor counts as synced', () => {
  const p = plan(up('mc-a', status('primary', 3)), up('mc-b', status('primary', 3, 'donor')), up('mc-c', status('primary', 3)));
  assert.equal(p.kind, 'healthy');
  assert.match(p.reasons[0], /all 3 nodes are primary and synced/);
});

test('case 1: one node stopped gracefully, the rest primary: start it, no bootstrap', () => {
  const p = recover(plan(up('mc-a', status('primary', 2)), up('mc-b', status('primary', 2)), stopped('mc-c', 120, false)));
  assert.equal(p.case, 1);
  assert.equal(p.bootstrap, undefined);
  assert.deepEqual(p.start, ['mc-c']);
  assert.match(p.summary, /mc-c was stopped gracefully and mc-a, mc-b form\(s\) the primary component \(size 2\)/);
});

test('case 2: two stopped, one primary left: start both one at a time', () => {
  const p = recover(plan(up('mc-a', status('primary', 1)), stopped('mc-b', 120, false), stopped('mc-c', 124, false)));
  assert.equal(p.case, 2);
  assert.equal(p.bootstrap, undefined);
  assert.deepEqual(p.start, ['mc-b', 'mc-c']);
});

test('case 3: all stopped gracefully: the safe_to_bootstrap node (highest seqno) first, automatic unless policy', () => {
  const p = recover(plan(stopped('mc-a', 126, false), stopped('mc-b', 130, true), stopped('mc-c', 124, false)));
  assert.equal(p.case, 3);
  assert.deepEqual(p.bootstrap, { how: 'new-cluster', node: 'mc-b', choices: ['mc-b'], alwaysApproval: false });
  assert.deepEqual(p.start, ['mc-a', 'mc-c']);
  // Older Galera without safe_to_bootstrap: the unique highest seqno.
  const old = recover(plan(stopped('mc-a', 126, undefined), stopped('mc-b', 131, undefined), stopped('mc-c', 124, undefined)));
  assert.equal(old.bootstrap?.node, 'mc-b');
});

test('case 3 refusals: safe node not the highest, several safe nodes, no safe node, tie without the flag, different UUIDs', () => {
  cannot(plan(stopped('mc-a', 140, false), stopped('mc-b', 130, true), stopped('mc-c', 124, false)), /mc-b says safe_to_bootstrap: 1 but has seqno 130, lower than 140/);
  cannot(plan(stopped('mc-a', 130, true), stopped('mc-b', 130, true), stopped('mc-c', 124, false)), /several nodes say safe_to_bootstrap: 1 \(mc-a, mc-b\)/);
  cannot(plan(stopped('mc-a', 130, false), stopped('mc-b', 130, false), stopped('mc-c', 124, false)), /no node says safe_to_bootstrap: 1/);
  cannot(plan(stopped('mc-a', 130, undefined), stopped('mc-b', 130, undefined), stopped('mc-c', 1, undefined)), /highest seqno 130 is on several nodes/);
  // A node of another cluster UUID with a huge seqno must not win a comparison, nor be compared at all.
  cannot(plan(stopped('mc-a', 126, false), stopped('mc-b', 130, true), stopped('mc-c', 9999, false, OTHER)), /different cluster UUIDs .*cannot be compared/);
});

test('case 3: a node with an empty state (all-zero UUID) is never chosen, only started afterwards', () => {
  const p = recover(plan(stopped('mc-a', -1, false, EMPTY_UUID), stopped('mc-b', 130, true), stopped('mc-c', 124, false)));
  assert.equal(p.case, 3);
  assert.equal(p.bootstrap?.node, 'mc-b');
  assert.deepEqual(p.start, ['mc-a', 'mc-c']);
  assert.ok(p.reasons.some((r) => /mc-a has an empty state \(all-zero UUID/.test(r)));
  cannot(plan(stopped('mc-a', -1, false, EMPTY_UUID), stopped('mc-b', -1, false, EMPTY_UUID)), /every node has an empty state/);
});

test('case 4: one node crashed, the other two keep quorum: start it', () => {
  const p = recover(plan(up('mc-a', status('primary', 2)), up('mc-b', status('primary', 2)), crashed('mc-c', 127)));
  assert.equal(p.case, 4);
  assert.equal(p.bootstrap, undefined);
  assert.deepEqual(p.start, ['mc-c']);
});

test('case 5: two crashed, the survivor non-primary: pc.bootstrap on it after an operator (always), then start the others', () => {
  const p = recover(plan(crashed('mc-a', 128), crashed('mc-b', 128), up('mc-c', status('non-primary', 1), 'c')));
  assert.equal(p.case, 5);
  assert.deepEqual(p.bootstrap, { how: 'pc-bootstrap', node: 'mc-c', choices: ['mc-c'], alwaysApproval: true });
  assert.deepEqual(p.start, ['mc-a', 'mc-b']);
  assert.match(p.summary, /after an operator confirms the others are really down/);
});

test('case 5 refusals: empty survivor, a non-primary majority, several survivor groups', () => {
  cannot(plan(crashed('mc-a', 128), crashed('mc-b', 128), up('mc-c', status('non-primary', 1), 'c', EMPTY_UUID)), /survivors mc-c have an empty state/);
  cannot(plan(crashed('mc-a', 128), up('mc-b', status('non-primary', 2), 'bc'), up('mc-c', status('non-primary', 2), 'bc')), /majority yet non-primary/);
  cannot(
    plan(crashed('mc-a'), up('mc-b', status('non-primary', 1), 'b'), up('mc-c', status('non-primary', 1), 'c'), crashed('mc-d'), crashed('mc-e')),
    /several non-primary groups/,
  );
});

test('case 6: all crashed, no seqno anywhere: the freshest recovered position, forced, always with an operator', () => {
  const p = recover(plan(crashed('mc-a', 140), crashed('mc-b', 142), crashed('mc-c', 139)));
  assert.equal(p.case, 6);
  assert.deepEqual(p.bootstrap, { how: 'new-cluster-force', node: 'mc-b', choices: ['mc-b'], alwaysApproval: true });
  assert.deepEqual(p.start, ['mc-a', 'mc-c']);
  assert.ok(p.reasons.includes('mc-b: position 142 (recovered position)'));
  // A tie: the operator may choose any of the freshest, never a staler one.
  const tie = recover(plan(crashed('mc-a', 142), crashed('mc-b', 142), crashed('mc-c', 139)));
  assert.deepEqual(tie.bootstrap?.choices, ['mc-a', 'mc-b']);
  assert.equal(chosenBootstrap(tie.bootstrap!, 'mc-b'), 'mc-b');
  assert.equal(chosenBootstrap(tie.bootstrap!, 'mc-c'), undefined);
});

test('case 6 refusals: unknown position, different UUIDs, recovered UUID not the grastate one; an emptied node is never chosen', () => {
  cannot(plan(crashed('mc-a', 140), crashed('mc-b'), crashed('mc-c', 139)), /no last committed position is known for mc-b/);
  cannot(plan(crashed('mc-a', 140), crashed('mc-b', 900, OTHER), crashed('mc-c', 139)), /different cluster UUIDs .*cannot be compared/);
  const wrong = { ...crashed('mc-b', 900), recovered: { uuid: OTHER, seqno: 900 } };
  cannot(plan(crashed('mc-a', 140), wrong, crashed('mc-c', 139)), /mc-b: the recovered position's UUID differs from grastate.dat's/);
  // The emptied node (aborted SST: all-zero UUID) is excluded even though its log claims a high position.
  const emptied = { ...crashed('mc-b', undefined, EMPTY_UUID), recovered: { uuid: EMPTY_UUID, seqno: 999 } };
  const p = recover(plan(crashed('mc-a', 140), emptied, crashed('mc-c', 139)));
  assert.equal(p.bootstrap?.node, 'mc-a');
  assert.deepEqual(p.bootstrap?.choices, ['mc-a']);
  assert.ok(p.reasons.some((r) => /mc-b has an empty state/.test(r)));
});

test('case 7: split brain 2+2, both halves non-primary: one group, chosen by an operator (always); the fresher group proposed', () => {
  const p = recover(
    plan(
      up('mc-a', status('non-primary', 2, 'joining', 130), 'ab'),
      up('mc-b', status('non-primary', 2, 'joining', 130), 'ab'),
      up('mc-c', status('non-primary', 2, 'joining', 129), 'cd'),
      up('mc-d', status('non-primary', 2, 'joining', 129), 'cd'),
    ),
  );
  assert.equal(p.case, 7);
  assert.deepEqual(p.bootstrap, { how: 'pc-bootstrap', node: 'mc-a', choices: ['mc-a', 'mc-b', 'mc-c', 'mc-d'], groups: [['mc-a', 'mc-b'], ['mc-c', 'mc-d']], alwaysApproval: true });
  assert.deepEqual(p.start, []);
  const other = recover(plan(up('mc-a', status('non-primary', 2, 'joining', 1), 'ab'), up('mc-b', status('non-primary', 2, 'joining', 1), 'ab'), up('mc-c', status('non-primary', 2, 'joining', 5), 'cd'), up('mc-d', status('non-primary', 2, 'joining', 5), 'cd')));
  assert.equal(other.bootstrap?.node, 'mc-c');
});

test('case 7 refusals: groups not halves, membership unknown, different UUIDs', () => {
  const np = (n: string, v: string | undefined, size: number, uuid = U) => ({ ...up(n, status('non-primary', size), v ?? 'x', uuid), view: v });
  cannot(plan(np('mc-a', 'a', 1), np('mc-b', 'bcd', 3), np('mc-c', 'bcd', 3), np('mc-d', 'bcd', 3)), /do not split into two halves/);
  cannot(plan(np('mc-a', undefined, 2), np('mc-b', 'ab', 2), np('mc-c', 'cd', 2), np('mc-d', 'cd', 2)), /membership is not reported/);
  cannot(plan(np('mc-a', 'ab', 2), np('mc-b', 'ab', 2), np('mc-c', 'cd', 2, OTHER), np('mc-d', 'cd', 2, OTHER)), /different cluster UUIDs/);
});

test('never bootstrap while any node reports a primary component', () => {
  // A primary node plus a non-primary running node (a partition): no pc.bootstrap, no start.
  cannot(plan(up('mc-a', status('primary', 1)), up('mc-b', status('non-primary', 1), 'b'), crashed('mc-c', 1)), /run\(s\) outside the primary component of mc-a .*nothing is bootstrapped while a primary component exists/);
  // Two primaries that disagree about their size: two components already.
  cannot(plan(up('mc-a', status('primary', 1)), up('mc-b', status('primary', 1)), stopped('mc-c', 1, false)), /primary nodes disagree/);
  // Whatever the stopped nodes' grastate says (safe_to_bootstrap: 1), a primary elsewhere means start, not bootstrap.
  const p = recover(plan(up('mc-a', status('primary', 1)), stopped('mc-b', 130, true), crashed('mc-c')));
  assert.equal(p.bootstrap, undefined);
  assert.equal(p.case, 2);
});

test('cannot decide: an unreachable node, garbled output, a joining primary, a unit in transition', () => {
  cannot(plan({ node: 'mc-a', unreachable: 'could not run the command: connect ECONNREFUSED' }, stopped('mc-b', 130, true), stopped('mc-c', 1, false)), /mc-a could not be reached .*may still be running a component/);
  cannot(plan({ ...stopped('mc-a', 1, false), garbled: ['grastate.dat: missing or invalid uuid'] }, stopped('mc-b', 130, true), stopped('mc-c', 1, false)), /mc-a: grastate.dat: missing or invalid uuid/);
  cannot(plan(up('mc-a', status('primary', 2)), up('mc-b', status('primary', 2, 'joining')), stopped('mc-c', 1, false)), /mc-b is joining: wait until the state transfer ends/);
  cannot(plan({ node: 'mc-a', unitState: 'activating', garbled: ['systemctl is-active: the unit is activating (in transition)'] }, stopped('mc-b', 130, true)), /in transition/);
  cannot(plan({ node: 'mc-a', running: true, unitState: 'active' }, stopped('mc-b', 130, true)), /mc-a runs but reported no cluster status/);
});

test('samePlan: the plan approved is the plan still true', () => {
  const a = plan(crashed('mc-a', 140), crashed('mc-b', 142), crashed('mc-c', 139));
  assert.equal(samePlan(a, plan(crashed('mc-a', 140), crashed('mc-b', 142), crashed('mc-c', 139))), true);
  assert.equal(samePlan(a, plan(crashed('mc-a', 143), crashed('mc-b', 142), crashed('mc-c', 139))), false);
  assert.equal(samePlan(a, plan(up('mc-a', status('primary', 1)), crashed('mc-b', 142), crashed('mc-c', 139))), false);
});

test('flavours: argv safe for the command line, SQL on stdin; MariaDB maps start, bootstrap, status, recover', () => {
  const paths = PathsSchema.parse({});
  const m = flavourOf('posts', GaleraClusterSchema.parse({ nodes: ['mc-a', 'mc-b'], grastatePath: '/var/lib/manticore/posts/grastate.dat', logPath: '/var/log/manticore/searchd.log' }), paths);
  assert.deepEqual(m.status, { argv: ['mysql', '-h', '127.0.0.1', '-P', '9306'], stdin: "SHOW STATUS LIKE 'cluster_posts_%'\n" });
  assert.deepEqual(m.pcBootstrap.stdin, "SET CLUSTER posts GLOBAL 'pc.bootstrap' = 1\n");
  assert.deepEqual(m.bootstrap(false, undefined), [{ argv: ['manticore_new_cluster'] }]);
  assert.deepEqual(m.bootstrap(true, undefined), [{ argv: ['manticore_new_cluster', '--force'] }]);
  assert.deepEqual([m.start.argv, m.isActive.argv, m.grastate.argv], [['systemctl', 'start', 'manticore'], ['systemctl', 'is-active', 'manticore'], ['cat', '/var/lib/manticore/posts/grastate.dat']]);
  assert.deepEqual(m.recover, [{ argv: ['cat', '/var/log/manticore/searchd.log'] }]);

  const g = flavourOf('db', GaleraClusterSchema.parse({ flavour: 'mariadb', nodes: ['n1', 'n2', 'n3'], sqlPort: 3306, sqlUser: 'medic', unit: 'mariadb', grastatePath: '/var/lib/mysql/grastate.dat', logPath: '/var/lib/mysql/recover.log' }), paths);
  assert.deepEqual(g.status, { argv: ['mysql', '-h', '127.0.0.1', '-P', '3306', '-u', 'medic'], stdin: "SHOW STATUS LIKE 'wsrep_%';\n" });
  assert.equal(g.pcBootstrap.stdin, "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES';\n");
  assert.deepEqual(g.bootstrap(false, undefined), [{ argv: ['galera_new_cluster'] }]);
  const forced = g.bootstrap(true, { version: '2.1', uuid: U, seqno: -1, safeToBootstrap: false });
  assert.deepEqual(forced.map((c) => c.argv), [['tee', '/var/lib/mysql/grastate.dat'], ['galera_new_cluster']]);
  assert.match(forced[0].stdin ?? '', new RegExp(`uuid: +${U}\\nseqno: +-1\\nsafe_to_bootstrap: 1\\n$`));
  assert.deepEqual(g.recover.map((c) => c.argv), [['mariadbd', '--user=mysql', '--wsrep-recover', '--log-error=/var/lib/mysql/recover.log'], ['cat', '/var/lib/mysql/recover.log']]);
  assert.equal(g.viewOf({ status: 'primary', raw: { wsrep_incoming_addresses: '127.0.0.1:3307, 127.0.0.1:3306' } }), '127.0.0.1:3306,127.0.0.1:3307');
  for (const f of [m, g]) {
    for (const cmd of [f.status, f.pcBootstrap, f.start, f.isActive, f.grastate, ...f.recover, ...f.bootstrap(true, { version: '2.1', uuid: U, seqno: -1 })]) {
      for (const a of cmd.argv) assert.match(a, SAFE_ARG, a);
    }
  }
});

// ---- position guard: never bootstrap below the position a previous run bootstrapped from ----

const record = (seqno: number, uuid = U) => ({ uuid, seqno, node: 'mc-b', at: '2026-12-01T10:00:00.000Z', workflowId: 'manticore-cluster/posts', runId: 'run-1' });
const guarded = (last: ReturnType<typeof record>, ...nodes: NodeSurvey[]) => decide({ cluster: 'posts', nodes, lastBootstrap: last });

test('position guard, case 6: the freshest crashed node is below the recorded bootstrap: refused, the positions written out', () => {
  const p = guarded(record(150), crashed('mc-a', 140), crashed('mc-b', 142), crashed('mc-c', 139));
  cannot(p, /^position guard: refused to bootstrap from mc-b \(position 142\): lower than position 150, from which manticore-cluster\/posts bootstrapped posts from mc-b at position 150 \(cluster 2aa9bd5f-.*\) at 2026-12-01T10:00:00.000Z; the transactions after that position would be lost/);
  // The case's own reasoning follows, so the operator sees what the run would have done.
  assert.ok(p.reasons.some((r) => /freshest data \(position 142\) is on mc-b/.test(r)));
  // At the recorded position itself: allowed (nothing is lost), and the reasons say the guard was checked.
  const same = recover(guarded(record(142), crashed('mc-a', 140), crashed('mc-b', 142), crashed('mc-c', 139)));
  assert.deepEqual(same.bootstrap?.choices, ['mc-b']);
  assert.ok(same.reasons.some((r) => /^position guard: at or above position 142/.test(r)));
});

test('position guard, case 3: the safe_to_bootstrap node below the record is refused; cases without a bootstrap are untouched', () => {
  cannot(guarded(record(131), stopped('mc-a', 126, false), stopped('mc-b', 130, true), stopped('mc-c', 124, false)), /^position guard: refused to bootstrap from mc-b \(position 130\): lower than position 131/);
  assert.equal(recover(guarded(record(130), stopped('mc-a', 126, false), stopped('mc-b', 130, true), stopped('mc-c', 124, false))).bootstrap?.node, 'mc-b');
  // Case 1 starts a node into the running primary component: no bootstrap, no guard, whatever its position.
  const start = recover(guarded(record(999), up('mc-a', status('primary', 2)), up('mc-b', status('primary', 2)), stopped('mc-c', 120, false)));
  assert.equal(start.case, 1);
  assert.ok(!start.reasons.some((r) => r.startsWith('position guard')));
});

test('position guard, cases 5 and 7: a running candidate is judged by its last committed position; lower choices are withdrawn', () => {
  cannot(guarded(record(131), crashed('mc-a', 128), crashed('mc-b', 128), up('mc-c', status('non-primary', 1, 'joining', 130), 'c')), /refused to bootstrap from mc-c \(position 130\): lower than position 131/);
  // Case 7: the group at 129 is no longer a choice; the operator can only pick the group at 130.
  const split = recover(
    guarded(
      record(130),
      up('mc-a', status('non-primary', 2, 'joining', 130), 'ab'),
      up('mc-b', status('non-primary', 2, 'joining', 130), 'ab'),
      up('mc-c', status('non-primary', 2, 'joining', 129), 'cd'),
      up('mc-d', status('non-primary', 2, 'joining', 129), 'cd'),
    ),
  );
  assert.deepEqual(split.bootstrap?.choices, ['mc-a', 'mc-b']);
  assert.equal(split.bootstrap?.node, 'mc-a');
  assert.ok(split.reasons.some((r) => /^position guard: mc-c \(position 129\), mc-d \(position 129\) not offered: lower than position 130/.test(r)));
  assert.equal(chosenBootstrap(split.bootstrap!, 'mc-c'), undefined);
});

test('position guard: a record of another cluster UUID does not apply (said in the reasons); a candidate without a position is never taken', () => {
  const p = recover(guarded(record(500, OTHER), crashed('mc-a', 140), crashed('mc-b', 142), crashed('mc-c', 139)));
  assert.equal(p.bootstrap?.node, 'mc-b');
  assert.ok(p.reasons.some((r) => r === `position guard: mc-b belongs to cluster ${U}, not ${OTHER} of the recorded bootstrap; the record does not apply to it`));
  // A survivor that reports no last committed position cannot be shown to be at or above the record.
  const blind = { ...up('mc-c', status('non-primary', 1), 'c'), status: { status: 'non-primary' as const, size: 1, nodeState: 'joining', raw: {} } };
  cannot(guarded(record(1), crashed('mc-a', 128), crashed('mc-b', 128), blind), /refused to bootstrap from mc-c \(position unknown\)/);
  // Without a record: no guard (the first bootstrap of a cluster, or the record aged out).
  assert.equal(recover(plan(crashed('mc-a', 128), crashed('mc-b', 128), blind)).bootstrap?.node, 'mc-c');
});

test('bootstrap records: checked field by field before a run uses one', () => {
  assert.deepEqual(checkBootstrapRecord(record(7)), { ok: true, value: record(7) });
  for (const bad of [undefined, 'x', { ...record(7), uuid: 'nope' }, { ...record(7), seqno: -1 }, { ...record(7), seqno: 1.5 }, { ...record(7), node: 'a b' }, { ...record(7), runId: undefined }]) {
    const r = checkBootstrapRecord(bad);
    assert.equal(r.ok, false, JSON.stringify(bad));
  }
  assert.deepEqual(bootstrapPosition(crashed('mc-a', 140)), { uuid: U, seqno: 140 });
  assert.deepEqual(bootstrapPosition(stopped('mc-a', 126, false)), { uuid: U, seqno: 126 });
  assert.deepEqual(bootstrapPosition(up('mc-a', status('non-primary', 1, 'joining', 77), 'a')), { uuid: U, seqno: 77 });
  assert.equal(bootstrapPosition(crashed('mc-a')), undefined);
});
