/**
 * manticore-cluster end to end against the lab: the seven cases of the Manticore guide, each loaded into
 * the lab's simulated cluster, repaired by the real worker over SSH; the lab's rule checker
 * (state.manticore.clusters.posts.violations) must stay empty.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRun } from '../../client/runbooks';
import type { Config } from '../../config/schema';
import { loadScenario } from '../../lab/scenario';
import { RunResult, stateQuery } from '../../workflows/definitions';
import { decideSigned } from '../helpers/decide';
import { eventually } from '../helpers/temporal';
import { Service, startService } from '../helpers/service';

let svc: Service;
before(async () => {
  // Case 7 needs the fourth node (mc-d); the other cases use the three-node cluster of their scenario.
  svc = await startService('manticore-case7', { timers: { flapGuard: '1ms', galeraPoll: '1s' } });
});
after(async () => {
  await svc?.stop();
});

const MC = ['mc-a', 'mc-b', 'mc-c', 'mc-d'];

/**
 * Each case is an incident of a cluster of its own (its own cluster UUID): run one after another on one
 * cluster, case 6's bootstrap at position 142 followed by case 7's positions 129-130 is exactly the data
 * loss the position guard refuses.
 */
const uuidOfCase = (n: number) => `2aa9bd5f-4d0c-11ee-8f2f-7a3b0bd5b6d${n}`;

/** Loads scenario manticore-case<n>'s cluster into the running lab; returns the config to start the run with. */
function loadCase(n: number, uuid = uuidOfCase(n)): Config {
  const st = loadScenario(`manticore-case${n}`);
  svc.lab.setState((s) => {
    s.manticore.clusters.posts = { ...st.manticore.clusters.posts, uuid };
    for (const node of MC) if (st.nodes[node]) s.nodes[node].units = st.nodes[node].units;
  });
  const config = structuredClone(svc.config);
  const posts = config.manticore?.clusters.posts;
  assert.ok(posts);
  posts.nodes = Object.keys(st.manticore.clusters.posts.nodes);
  return config;
}

async function runCase(n: number, decide?: { choice?: string; expectChoices: string[] }) {
  const config = loadCase(n);
  const from = svc.lab.log().length;
  const started = await startRun(svc.client, config, 'manticore-cluster', { cluster: 'posts' }, 'test');
  assert.deepEqual(started, { workflowId: 'manticore-cluster/posts', started: true });
  const handle = svc.client.workflow.getHandle(started.workflowId);
  if (decide) {
    const s = await eventually(() => handle.query(stateQuery), (s) => s.status === 'awaiting-approval' || s.status === 'escalated' || s.status === 'completed', 60_000);
    assert.equal(s.status, 'awaiting-approval', JSON.stringify(s.pending ?? s.summary));
    assert.deepEqual(s.pending?.choices, decide.expectChoices);
    // Nothing has changed before the operator's approval.
    assert.deepEqual(changes(from), []);
    await decideSigned(svc.client, config, started.workflowId, { action: 'approve', by: 'alice', ...(decide.choice ? { choice: decide.choice } : {}) });
  }
  const r = (await handle.result()) as RunResult;
  assert.equal(r.outcome, 'repaired', r.summary);
  const c = svc.lab.state().manticore.clusters.posts;
  assert.deepEqual(c.violations, []);
  return { r, changes: changes(from), cluster: c };
}

/** What the run changed, in order: node, tool and arguments (SQL from stdin). */
function changes(from: number): string[] {
  return svc.lab
    .log()
    .slice(from)
    .filter((e) => (e.tool === 'systemctl' && e.argv[0] === 'start') || e.tool === 'manticore_new_cluster' || (e.tool === 'mysql' && /SET /.test(e.stdin ?? '')))
    .map((e) => `${e.node}: ${[e.tool, ...e.argv].join(' ')}${e.tool === 'mysql' ? ` <${(e.stdin ?? '').trim()}>` : ''} -> ${e.exitCode}`);
}

const allPrimary = (c: ReturnType<typeof svc.lab.state>['manticore']['clusters']['posts'], nodes: string[]) => {
  const units = svc.lab.state().nodes;
  for (const n of nodes) {
    assert.equal(c.nodes[n].component, 'primary', n);
    assert.equal(units[n].units.manticore.active, 'active', n);
  }
};

test('case 1: the gracefully stopped node is started and rejoins; no bootstrap', async () => {
  const { changes, cluster } = await runCase(1);
  assert.deepEqual(changes, ['mc-c: systemctl start manticore -> 0']);
  assert.equal(cluster.bootstraps, 0);
  allPrimary(cluster, ['mc-a', 'mc-b', 'mc-c']);
});

test('case 2: two stopped nodes start one at a time; no bootstrap', async () => {
  const { changes, cluster } = await runCase(2);
  assert.deepEqual(changes, ['mc-b: systemctl start manticore -> 0', 'mc-c: systemctl start manticore -> 0']);
  assert.equal(cluster.bootstraps, 0);
  allPrimary(cluster, ['mc-a', 'mc-b', 'mc-c']);
});

test('case 3: the last node stopped (safe_to_bootstrap) starts first with manticore_new_cluster; no transaction lost', async () => {
  const { changes, cluster } = await runCase(3);
  assert.deepEqual(changes, ['mc-b: manticore_new_cluster -> 0', 'mc-a: systemctl start manticore -> 0', 'mc-c: systemctl start manticore -> 0']);
  assert.equal(cluster.bootstraps, 1);
  assert.equal(cluster.lastCommitted, 130);
  allPrimary(cluster, ['mc-a', 'mc-b', 'mc-c']);
});

test('case 4: the crashed node is started and rejoins', async () => {
  const { changes, cluster } = await runCase(4);
  assert.deepEqual(changes, ['mc-c: systemctl start manticore -> 0']);
  assert.equal(cluster.bootstraps, 0);
  allPrimary(cluster, ['mc-a', 'mc-b', 'mc-c']);
});

test('case 5: after the operator confirms, pc.bootstrap on the survivor, then the crashed nodes start', async () => {
  const { changes, cluster } = await runCase(5, { expectChoices: ['mc-c'] });
  assert.deepEqual(changes, [
    "mc-c: mysql -h 127.0.0.1 -P 9306 <SET CLUSTER posts GLOBAL 'pc.bootstrap' = 1> -> 0",
    'mc-a: systemctl start manticore -> 0',
    'mc-b: systemctl start manticore -> 0',
  ]);
  assert.equal(cluster.bootstraps, 1);
  assert.equal(cluster.lastCommitted, 130);
  allPrimary(cluster, ['mc-a', 'mc-b', 'mc-c']);
});

test('case 6: the freshest node (recovered position 142) starts with manticore_new_cluster --force after approval', async () => {
  const { r, changes, cluster } = await runCase(6, { expectChoices: ['mc-b'] });
  assert.deepEqual(changes, ['mc-b: manticore_new_cluster --force -> 0', 'mc-a: systemctl start manticore -> 0', 'mc-c: systemctl start manticore -> 0']);
  assert.equal(cluster.bootstraps, 1);
  assert.equal(cluster.lastCommitted, 142);
  assert.match(r.state.steps.find((s) => s.name === 'decision: case 6')?.reason ?? '', /mc-b: position 142 \(recovered position\)/);
  allPrimary(cluster, ['mc-a', 'mc-b', 'mc-c']);
});

test('case 7: split brain 2+2: the operator picks one group; pc.bootstrap there only; the other half stays non-primary', async () => {
  const { r, changes, cluster } = await runCase(7, { choice: 'mc-b', expectChoices: ['mc-a', 'mc-b', 'mc-c', 'mc-d'] });
  assert.deepEqual(changes, ["mc-b: mysql -h 127.0.0.1 -P 9306 <SET CLUSTER posts GLOBAL 'pc.bootstrap' = 1> -> 0"]);
  assert.equal(cluster.bootstraps, 1);
  allPrimary(cluster, ['mc-a', 'mc-b']);
  assert.deepEqual([cluster.nodes['mc-c'].component, cluster.nodes['mc-d'].component], ['non-primary', 'non-primary']);
  assert.match(r.summary, /\{mc-a, mc-b\} bootstrapped as the primary component; \{mc-c, mc-d\} left non-primary/);
});

test('a healthy cluster: nothing to do, read-only', async () => {
  const config = loadCase(1);
  svc.lab.setState((s) => {
    for (const n of ['mc-a', 'mc-b', 'mc-c']) {
      s.nodes[n].units.manticore.active = 'active';
      s.manticore.clusters.posts.nodes[n].component = 'primary';
    }
  });
  const from = svc.lab.log().length;
  const started = await startRun(svc.client, config, 'manticore-cluster', { cluster: 'posts' }, 'test');
  const r = (await svc.client.workflow.getHandle(started.workflowId).result()) as RunResult;
  assert.equal(r.outcome, 'nothing-to-do');
  assert.deepEqual(changes(from), []);
  assert.equal(svc.lab.log().slice(from).length, 9);
});
