/**
 * mysql-topology: the MySQL cluster topology is bad (RUNBOOKS.md, "mysql-topology").
 * Alert: `2 orch_topo_check - orch topology is BAD: see 'im_utils --check-orch' for details`.
 *
 * Two workflows:
 *   - `mysqlTopology` (`mysql-topology/fleet`, no parameters) reads `orch_topo.sh`, judges every
 *     cluster, starts one child run `mysql-topology/<namespace>` per cluster that is not healthy,
 *     waits for them and reports per cluster;
 *   - `mysqlTopologyCluster` (`mysql-topology/<namespace>`) re-reads `orch_topo.sh` itself and does
 *     what the runbook says for its cluster: escalate (two masters, a replica without a master,
 *     anything not understood), re-seed a broken replica, or fix errant transactions.
 *
 * The fleet run waits for its children, so it stays the one open run for the alert: a repeated alert
 * joins it ("seen again") instead of starting a parallel repair. So that an escalated cluster, which
 * may wait days for an operator, does not hold up the others, every further alert makes the fleet
 * run read the topology again and start a run for any other cluster that has broken meanwhile (each
 * cluster gets at most one run per fleet run). The children are started with ParentClosePolicy
 * ABANDON: terminating the fleet run never cuts a repair short between its steps.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { condition, ParentClosePolicy, rootCause, startChild, workflowInfo } from '@temporalio/workflow';
import type { ExecResult } from '../activities';
import { judgeCluster, OrchCluster, OrchInstance, OrchTopology, OrchVerdict, parseKubectlPods, parseOrchTopology, parseReupLog } from '../parsers/orchtopo';
import { NAMESPACE } from '../parsers/patterns';
import { show } from '../parsers/text';
import { RunbookKey, RunResult, RunSettings, RunStatusKey, TargetKey } from './definitions';
import { msOf } from './duration';
import { validInput } from './judges';
import { fail, ok, Run, runbook, Verdict } from './run';

export interface MysqlTopologyInput {
  settings: RunSettings;
}

export interface MysqlClusterInput {
  namespace: string;
  settings: RunSettings;
}

const RUNBOOK = 'mysql-topology';
export const clusterRunId = (namespace: string) => `${RUNBOOK}/${namespace}`;

/** The fleet: judge every cluster, one child run per cluster that needs anything, wait for them, report per cluster. */
export async function mysqlTopology(input: MysqlTopologyInput): Promise<RunResult> {
  return runbook(RUNBOOK, 'fleet', input.settings, async (run) => {
    /** Per cluster, in the order orch_topo.sh lists them: what was found and how its run ended. */
    const report = new Map<string, string>();
    const ended: string[] = [];
    const open = new Map<string, Promise<void>>();
    const handled = new Set<string>();
    let alerts = run.state.seenAgain.count;
    for (;;) {
      // 1. On the control node: `orch_topo.sh`; every line must be understood and belong to a cluster.
      const topo = await run.must({ name: 'read the topology', host: run.control, cmd: { argv: [run.paths.orchTopo] }, judge: topology });
      // 2. Judge each cluster on its own: every cluster that is not healthy gets its own run.
      for (const [namespace, cluster] of Object.entries(topo.clusters)) {
        const verdict = judgeCluster(cluster);
        if (verdict.kind === 'healthy' || handled.has(namespace)) {
          if (!report.has(namespace)) report.set(namespace, 'healthy');
          continue;
        }
        handled.add(namespace);
        const id = clusterRunId(namespace);
        const what = `${describe(verdict)} -> ${id}`;
        try {
          const child = await startChild(mysqlTopologyCluster, {
            workflowId: id,
            args: [{ namespace, settings: input.settings }],
            parentClosePolicy: ParentClosePolicy.ABANDON,
            workflowIdReusePolicy: 'ALLOW_DUPLICATE',
            ...(input.settings.workflowTaskTimeout ? { workflowTaskTimeout: msOf(input.settings.workflowTaskTimeout) } : {}),
            typedSearchAttributes: [
              { key: RunbookKey, value: RUNBOOK },
              { key: TargetKey, value: namespace },
              { key: RunStatusKey, value: 'running' },
            ],
            memo: { source: workflowInfo().workflowId },
          });
          run.note(`started ${id}`, `${namespace}: ${describe(verdict)}`);
          report.set(namespace, `${what}: running`);
          const done = child.result().then(
            (r) => {
              report.set(namespace, `${what}: ${r.outcome}`);
              ended.push(r.outcome);
            },
            (err: unknown) => {
              report.set(namespace, `${what}: ended without a result (${err instanceof Error ? rootCause(err) : String(err)})`);
              ended.push('failed');
            },
          );
          open.set(namespace, done.finally(() => open.delete(namespace)));
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          run.note(`${id} is already open`, `${namespace}: ${describe(verdict)}; left to the open run`);
          report.set(namespace, `${what}: already open, left to it`);
          ended.push('left to another run');
        }
      }
      if (open.size === 0) break;
      // 3. Wait for the cluster runs; another alert meanwhile: read again (a cluster broken since gets its run now).
      run.note('waiting for the cluster runs', [...open.keys()].map(clusterRunId).join(', '));
      await condition(() => open.size === 0 || run.state.seenAgain.count > alerts);
      if (open.size === 0) break;
      alerts = run.state.seenAgain.count;
    }
    // 4. Report per cluster.
    const summary = [...report].map(([ns, line]) => `${ns}: ${line}`).join('; ');
    if (ended.every((o) => o === 'nothing-to-do')) return { outcome: 'nothing-to-do', summary };
    return { outcome: ended.every((o) => o === 'repaired' || o === 'nothing-to-do') ? 'repaired' : 'escalated', summary };
  });
}

/** One cluster: re-read, then escalate, re-seed a broken replica, or fix errant transactions. */
export async function mysqlTopologyCluster(input: MysqlClusterInput): Promise<RunResult> {
  const namespace = validInput(NAMESPACE, 'namespace', input.namespace);

  return runbook(RUNBOOK, namespace, input.settings, async (run) => {
    // 1-2. `orch_topo.sh` again; two masters, a replica without a master or anything not understood escalates (changes nothing).
    const verdict = await run.must({ name: `read the topology of ${namespace}`, host: run.control, cmd: { argv: [run.paths.orchTopo] }, judge: actionable(namespace) });
    if (verdict.kind === 'healthy') return { outcome: 'nothing-to-do', summary: `cluster ${namespace} is healthy at the re-read` };
    for (const replica of verdict.replicas) {
      if (verdict.kind === 'broken-replica') await reseed(run, namespace, replica);
      else await fixErrants(run, namespace, replica);
    }
    const hosts = verdict.replicas.map((r) => r.hostPort).join(', ');
    return { outcome: 'repaired', summary: verdict.kind === 'broken-replica' ? `re-seeded ${hosts}; replicating again` : `errant transactions fixed on ${hosts}` };
  });
}

/** Broken replica (`-`): re-seed it, wait for its pod, check it replicates (RUNBOOKS.md, 2, "broken replica"). */
async function reseed(run: Run, namespace: string, replica: OrchInstance): Promise<void> {
  const p = run.paths;
  const hp = replica.hostPort;
  await run.approval('reup', { step: `re-seed ${hp}`, summary: `run ${p.imUtils} --reup-mysql-replica ${hp} on ${run.control} (deletes the replica's pvc and pod)` });
  // a. `im_utils --reup-mysql-replica <host:port>` on the control node; its log names the namespace and the pod.
  const { pod } = await run.must({ name: `re-seed ${hp}`, host: run.control, changes: true, cmd: { argv: [p.imUtils, '--reup-mysql-replica', hp] }, judge: reupOf(namespace, replica.pod) });
  // b. `kubectl -n <ns> get po` every mysqlPodPoll until the pod is 5/5 Running; after mysqlPodGiveUp: escalate.
  await waitForPod(run, namespace, pod);
  // c. `orch_topo.sh`: the replica must be `+` and replicating; once more after mysqlRecheckRetry, then escalate.
  await run.retryOnce({ name: `check ${hp} replicates`, host: run.control, cmd: { argv: [p.orchTopo] }, judge: replicaState(namespace, hp, 'replicating') }, run.timers.mysqlRecheckRetry);
}

/** Errant transactions (`+ ... GTID:errant`): fix, wait 2 min, check; once more; then escalate. */
async function fixErrants(run: Run, namespace: string, replica: OrchInstance): Promise<void> {
  const p = run.paths;
  const hp = replica.hostPort;
  await run.approval('fix-errants', { step: `fix errant transactions on ${hp}`, summary: `run ${p.imUtils} --orch-fix-errants ${hp} on ${run.control}` });
  await run.retryOnceAll(`fix errant transactions on ${hp}`, async () => {
    // a. `im_utils --orch-fix-errants <host:port>` on the control node.
    const fix = await run.step({ name: `fix errant transactions on ${hp}`, host: run.control, changes: true, cmd: { argv: [p.imUtils, '--orch-fix-errants', hp] }, judge: noErrors });
    if (!fix.ok) return fix;
    // b. Wait 2 minutes (mysqlErrantRecheck).
    await run.wait(`${hp}: wait before the recheck`, run.timers.mysqlErrantRecheck);
    // c. `orch_topo.sh`: the replica must be clean.
    return run.step({ name: `check ${hp} is clean`, host: run.control, cmd: { argv: [p.orchTopo] }, judge: replicaState(namespace, hp, 'clean') });
  });
}

/** Polls the re-created pod; a pod that is not 5/5 Running by the give-up time, or output not understood, escalates. */
async function waitForPod(run: Run, namespace: string, pod: string): Promise<void> {
  const giveUp = run.timers.mysqlPodGiveUp;
  const poll = { name: `wait for pod ${namespace}/${pod} to be 5/5 Running`, host: run.control, cmd: { argv: [run.paths.kubectl, '-n', namespace, 'get', 'po'] }, judge: podOf(pod) };
  let deadline = Date.now() + msOf(giveUp);
  for (;;) {
    await run.wait(`pod ${pod}: next poll`, run.timers.mysqlPodPoll);
    const v = await run.step(poll);
    if (v.ok && v.value.ready) return;
    if (v.ok && Date.now() < deadline) continue;
    await run.escalate(poll.name, v.ok ? `pod ${pod} is not 5/5 Running after ${giveUp} (last: ${v.value.shown})` : v.error, v.evidence);
    // The operator said retry: poll for another give-up period.
    deadline = Date.now() + msOf(giveUp);
  }
}

// ---- judges ----

const both = (r: ExecResult) => (r.stderr ? `${r.stdout}\n${r.stderr}` : r.stdout);

/** Every line understood and attributed to a cluster (a line that is not could belong to any of them). */
function topology(r: ExecResult): Verdict<OrchTopology> {
  const topo = parseOrchTopology(r.stdout);
  if (topo.errors.length > 0) return fail(`orch_topo.sh output not understood: ${topo.errors.map((e) => `line ${e.line}: ${e.error}`).join('; ')}`);
  return ok(topo);
}

function clusterIn(topo: OrchTopology, namespace: string): Verdict<OrchCluster> {
  if (!Object.hasOwn(topo.clusters, namespace)) return fail(`cluster ${namespace} is not in the topology`);
  return ok(topo.clusters[namespace]);
}

function describe(v: OrchVerdict): string {
  switch (v.kind) {
    case 'healthy':
      return 'healthy';
    case 'two-masters':
      return 'two masters';
    case 'no-master':
      return 'a replica without a master';
    case 'broken-replica':
      return `broken replica ${v.replicas.map((i) => i.hostPort).join(', ')}`;
    case 'errant':
      return `errant transactions on ${v.replicas.map((i) => i.hostPort).join(', ')}`;
    case 'unparseable':
      return `not understood: ${v.reason}`;
  }
}

type Actionable = Extract<OrchVerdict, { kind: 'healthy' | 'broken-replica' | 'errant' }>;

/** The cluster's verdict, if the runbook says to act on it (or that nothing needs doing); otherwise a failure that escalates. */
function actionable(namespace: string) {
  return (r: ExecResult): Verdict<Actionable> => {
    const topo = topology(r);
    if (!topo.ok) return topo;
    const cluster = clusterIn(topo.value, namespace);
    if (!cluster.ok) return cluster;
    const v = judgeCluster(cluster.value);
    if (v.kind === 'two-masters' || v.kind === 'no-master' || v.kind === 'unparseable') return fail(`cluster ${namespace}: ${describe(v)}; the runbook says escalate and change nothing`);
    return ok(v);
  };
}

/** After a repair: the cluster still has one master, and the replica is `+`, replicating (and, for errants, clean). */
function replicaState(namespace: string, hostPort: string, want: 'replicating' | 'clean') {
  return (r: ExecResult): Verdict<true> => {
    const topo = topology(r);
    if (!topo.ok) return topo;
    const cluster = clusterIn(topo.value, namespace);
    if (!cluster.ok) return cluster;
    const v = judgeCluster(cluster.value);
    if (v.kind === 'two-masters' || v.kind === 'no-master' || v.kind === 'unparseable') return fail(`cluster ${namespace}: ${describe(v)}`);
    const i = cluster.value.instances.find((x) => x.hostPort === hostPort);
    if (!i) return fail(`${hostPort} is not in the topology`);
    if (i.marker !== 'replica') return fail(`${hostPort} is ${i.marker === 'broken' ? 'still a broken replica (-)' : 'shown as a master'}: [${i.lag},${i.status}]`);
    if (i.status !== 'ok' && i.status !== 'lag') return fail(`${hostPort} is ${i.status}`);
    if (want === 'clean' && i.errant) return fail(`${hostPort} still has errant transactions (GTID:errant)`);
    return ok(true);
  };
}

/** `im_utils --reup-mysql-replica` must name exactly the replica's namespace and pod. */
function reupOf(namespace: string, pod: string) {
  return (r: ExecResult): Verdict<{ namespace: string; pod: string }> => {
    const log = parseReupLog(both(r));
    if (!log.ok) return fail(`im_utils output not understood: ${log.error}`);
    if (log.value.namespace !== namespace || log.value.pod !== pod) return fail(`im_utils deleted pod ${log.value.namespace}:${log.value.pod}, expected ${namespace}:${pod}`);
    return ok({ namespace: log.value.namespace, pod: log.value.pod });
  };
}

/** `im_utils --orch-fix-errants`: exit 0 and no error in its log (the recheck tells whether it worked). */
function noErrors(r: ExecResult): Verdict<true> {
  const bad = both(r)
    .split(/\r?\n/)
    .find((l) => /\|\s*(?:ERROR|FATAL|PANIC)\s*\|/.test(l));
  return bad === undefined ? ok(true) : fail(`im_utils reported an error: ${show(bad.trim())}`);
}

/** The pod's line in `kubectl get po` (absent right after its deletion: not ready yet). */
function podOf(pod: string) {
  return (r: ExecResult): Verdict<{ ready: boolean; shown: string }> => {
    // kubectl prints "No resources found in <ns> namespace." on stderr.
    const pods = parseKubectlPods(r.stdout.trim() === '' ? r.stderr : r.stdout);
    if (!pods.ok) return fail(`kubectl output not understood: ${pods.error}`);
    const p = pods.value.find((x) => x.name === pod);
    if (!p) return ok({ ready: false, shown: 'not listed' });
    return ok({ ready: p.ready === 5 && p.readyTotal === 5 && p.status === 'Running', shown: `${p.ready}/${p.readyTotal} ${p.status}` });
  };
}
