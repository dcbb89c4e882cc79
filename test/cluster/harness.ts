/**
 * What every cluster test runs against: the project's two-node Temporal cluster on PostgreSQL
 * (deploy/cluster), `medic setup` run once against it, a lab behind real sshd, and the service as separate
 * processes, exactly as a deployment runs them: any number of `medic worker` and one `medic api`, all with
 * the standard TEMPORAL_* settings pointing at node 1's frontend (node 2 is the one the clients do not use).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { loadConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import { Cluster, ClusterOptions, clientTls, startCluster } from '../../deploy/cluster/cluster';
import { labUp, LabHandle, LabUpOptions } from '../../lab/lab';
import { workflowBundleEnv } from '../chaos/harness';
import { MedicProcess, runNode, spawnMedic, temporalEnv } from '../helpers/medic-cli';

const EventType = temporal.api.enums.v1.EventType;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ClusterEnvOptions {
  lab: LabUpOptions;
  cluster?: Partial<ClusterOptions>;
  /** TEMPORAL_* settings for every process (TLS), over TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE. */
  temporalEnv?: Record<string, string>;
}

export interface ClusterEnv {
  cluster: Cluster;
  lab: LabHandle;
  config: Config;
  client: Client;
  /** The environment of every medic process: no TEMPORAL_* of the test's own, the cluster's. */
  env: NodeJS.ProcessEnv;
  workers: MedicProcess[];
  api: { url: string; process: MedicProcess };
  /** Starts one more `medic worker` and waits until it polls. */
  addWorker(): Promise<MedicProcess>;
  /** POST /v1/runs through `medic api`. */
  startRun(runbook: string, params: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }>;
  stop(): Promise<void>;
}

/** A long-running `medic` command (test/helpers/medic-cli.ts), once `ready` matches what it printed; killed when it does not get there. */
export async function startMedic(args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<MedicProcess> {
  const p = spawnMedic(args, env);
  await p.waitFor(ready).catch((err: unknown) => {
    p.kill();
    throw err;
  });
  return p;
}

export async function clusterEnv(opts: ClusterEnvOptions): Promise<ClusterEnv> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medic-cluster-'));
  const [labR, clusterR] = await Promise.allSettled([labUp(opts.lab), startCluster({ dir, ...opts.cluster })]);
  if (labR.status === 'rejected' || clusterR.status === 'rejected') {
    await Promise.all([labR.status === 'fulfilled' && labR.value.down(), clusterR.status === 'fulfilled' && clusterR.value.stop()]);
    throw labR.status === 'rejected' ? labR.reason : (clusterR as PromiseRejectedResult).reason;
  }
  const [lab, cluster] = [labR.value, clusterR.value];
  const config = loadConfig(lab.configPath);
  const env = temporalEnv({ ...(await workflowBundleEnv()), TEMPORAL_ADDRESS: cluster.frontends[0], TEMPORAL_NAMESPACE: config.service.namespace, ...opts.temporalEnv });
  const workers: MedicProcess[] = [];
  let apiProc: MedicProcess | undefined;
  let connection: Connection | undefined;
  const stop = async () => {
    for (const p of [...workers, apiProc]) p?.kill();
    await Promise.all([...workers, apiProc].map((p) => p?.exited));
    await connection?.close();
    await Promise.all([cluster.stop(), lab.down()]);
    rmSync(dir, { recursive: true, force: true }); // the database and the nodes' files: nothing is left behind
  };
  try {
    // The namespace and the search attributes, as an operator sets up a new cluster: `medic setup`.
    const setup = await runNode(['setup', '--config', lab.configPath], env);
    if (setup.code !== 0 || !/namespace/i.test(setup.stdout + setup.stderr)) throw new Error(`medic setup exited ${setup.code}:\n${setup.stdout}${setup.stderr}`);
    connection = await Connection.connect({ address: cluster.frontends[0], ...(cluster.tls ? { tls: clientTls(cluster.tls) } : {}) });
    const client = new Client({ connection, namespace: config.service.namespace });
    const addWorker = async () => {
      const w = await startMedic(['worker', '--config', lab.configPath], env, /worker on task queue/);
      workers.push(w);
      return w;
    };
    apiProc = await startMedic(['api', '--config', lab.configPath], env, /API (http:\/\/\S+)/);
    const url = /API (http:\/\/\S+)/.exec(apiProc.output())![1];
    return {
      cluster,
      lab,
      config,
      client,
      env,
      workers,
      api: { url, process: apiProc },
      addWorker,
      async startRun(runbook, params) {
        const res = await fetch(`${url}/v1/runs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${config.api.operatorToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ runbook, params }),
          signal: AbortSignal.timeout(30_000),
        });
        return { status: res.status, json: (await res.json()) as Record<string, unknown> };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The pids (from the SDK's identity `pid@host`) of the workers that started activities of a run. */
export async function activityWorkers(client: Client, workflowId: string): Promise<number[]> {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  return (h.events ?? [])
    .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    .map((e) => Number(String(e.activityTaskStartedEventAttributes?.identity ?? '').split('@')[0]))
    .filter((n) => n > 0);
}

/** Polls `probe` until `ok`, every 100 ms, failing after `timeoutMs` with `what`. */
export async function until<T>(what: string, probe: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(v)?.slice(0, 300)})`);
    await sleep(100);
  }
}
