/** The model's invariant checks on hand-made observations: each sees its violation, and none sees one in a fleet that is fine. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadScenario } from '../../lab/scenario';
import type { RunState, StepRecord } from '../../workflows/definitions';
import { changersPerTarget, controllerPair, decisionsHonoured, galeraSafety, openRunsPerTarget, RunView } from './invariants';
import type { BootstrapSeen, LabCall } from './lab-hosts';

const run = (workflowId: string, runId: string, status: string, steps: Partial<StepRecord>[] = [], outcome?: string): RunView => {
  const state = { runbook: workflowId.split('/')[0], target: workflowId.split('/')[1], status: 'running', steps, decisions: [], seenAgain: { count: 0 } } as unknown as RunState;
  return { workflowId, runId, status, state, ...(outcome ? { result: { status: 'completed', outcome, summary: '', state } } : {}) };
};
const call = (workflowId: string, runId: string, host: string, changes: boolean): LabCall => ({ workflowId, runId, host, tool: 'systemctl', argv: ['stop', 'ctlr-1'], exitCode: 0, changes });

test('one open repair per workflow ID: two open executions of one ID are seen, one open and one closed are not', () => {
  assert.deepEqual(openRunsPerTarget([run('kust-replica/cox-1', 'a', 'COMPLETED'), run('kust-replica/cox-1', 'b', 'RUNNING')]), []);
  assert.deepEqual(openRunsPerTarget([run('kust-replica/cox-1', 'a', 'RUNNING'), run('kust-replica/cox-1', 'b', 'RUNNING')]), ['two open repairs of kust-replica/cox-1: runs a, b']);
});

test('the hosts of one target changed by two open runs at once are seen (one of them closed: not)', () => {
  const targets = { 'ctlr-1': ['vkt03', 'vkt04'] };
  const calls = [call('ctlr-replica/ctlr-1', 'a', 'vkt04', true), call('ctlr-roles/ctlr-1', 'b', 'vkt03', true), call('kust-replica/cox-1', 'c', 'vkt03', false)];
  const both = [run('ctlr-replica/ctlr-1', 'a', 'RUNNING'), run('ctlr-roles/ctlr-1', 'b', 'RUNNING'), run('kust-replica/cox-1', 'c', 'RUNNING')];
  assert.deepEqual(changersPerTarget(calls, both, targets), ['ctlr-1: changed by 2 open runs at once (ctlr-replica/ctlr-1#a, ctlr-roles/ctlr-1#b)']);
  assert.deepEqual(changersPerTarget(calls, [run('ctlr-replica/ctlr-1', 'a', 'COMPLETED'), both[1], both[2]], targets), []);
});

test('Galera: the lab model\'s violations, and a bootstrap below an earlier one of the same cluster UUID', () => {
  const s = loadScenario('healthy');
  const b = (position: number, uuid = 'u1', cluster = 'posts'): BootstrapSeen => ({ cluster, uuid, position, node: 'mc-a', workflowId: 'manticore-cluster/posts' });
  assert.deepEqual(galeraSafety(s, [b(130), b(131), b(131)]), []);
  assert.deepEqual(galeraSafety(s, [b(130), b(90, 'u2'), b(90, 'u1', 'other')]), [], 'another UUID or cluster is another history');
  assert.deepEqual(galeraSafety(s, [b(142), b(130), b(140)]), [
    'posts bootstrapped from mc-a at position 130 by manticore-cluster/posts, below position 142 that manticore-cluster/posts bootstrapped it from (mc-a)',
    'posts bootstrapped from mc-a at position 140 by manticore-cluster/posts, below position 142 that manticore-cluster/posts bootstrapped it from (mc-a)',
  ]);
  s.manticore.clusters.posts.violations.push('pc.bootstrap on mc-a while mc-b already form(s) a primary component: two clusters');
  assert.deepEqual(galeraSafety(s, []), ['lab posts: pc.bootstrap on mc-a while mc-b already form(s) a primary component: two clusters']);
});

test('the controller pair: a running main is fine (two as well: a split brain to repair); none running is seen', () => {
  const s = loadScenario('healthy');
  assert.deepEqual(controllerPair(s), []);
  s.nodes.vkt03.units['ctlr-1'].active = 'inactive';
  assert.deepEqual(controllerPair(s), ['no running controller main: vkt03 main inactive, vkt04 replica active']);
  s.ctlr!.nodes.vkt04.role = 'main';
  assert.deepEqual(controllerPair(s), []);
});

test('escalations and approvals end only by an operator\'s decision sent after they began; success after an escalation needs "retry"', () => {
  const esc = (verdict: string, outcome?: string) => run('kust-replica/cox-1', 'a', outcome ? 'COMPLETED' : 'RUNNING', [{ n: 1, name: 'escalated: clean', kind: 'escalation', startedAt: '2026-12-01T10:00:00.000Z', endedAt: '2026-12-01T10:05:00.000Z', verdict: verdict as StepRecord['verdict'] }], outcome);
  const at = (iso: string) => Date.parse(iso);
  const retry = { workflowId: 'kust-replica/cox-1', runId: 'a', action: 'retry', atMs: at('2026-12-01T10:04:00.000Z') };
  assert.deepEqual(decisionsHonoured([esc('retry', 'repaired')], [retry]), []);
  assert.match(decisionsHonoured([esc('retry', 'repaired')], [])[0], /step 1 "escalated: clean" ended retry .* without an operator's decision/);
  assert.match(decisionsHonoured([esc('retry')], [{ ...retry, atMs: at('2026-12-01T09:59:00.000Z') }])[0], /without an operator's decision after 2026-12-01T10:00:00.000Z/, 'a decision sent before the escalation does not count');
  assert.match(decisionsHonoured([esc('retry')], [{ ...retry, runId: 'other' }])[0], /without an operator's decision/, 'nor one sent to another run');
  const resolved = { ...retry, action: 'resolved' };
  assert.deepEqual(decisionsHonoured([esc('resolved', 'resolved-by-operator')], [resolved]), []);
  assert.deepEqual(decisionsHonoured([esc('resolved', 'repaired')], [resolved]), ['kust-replica/cox-1#a: ended repaired after an escalation that was not answered "retry"']);
});
