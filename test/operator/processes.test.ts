/**
 * The processes a deployment runs, each alone (deploy/README.md): `medic worker` and `medic api` as separate
 * child processes (`node dist/client/cli.js ...`) against a real Temporal dev server on a free port, named
 * only by TEMPORAL_ADDRESS, and the lab's sshd hosts. The lab's command log says what really ran where.
 *   - a run started through the API process's POST /v1/runs is carried out by the worker process;
 *   - SIGTERM to the worker while its command runs on a host drains: the command is not cancelled, it ends
 *     on the host by itself, the worker exits 0, and a new worker finishes the run; the command ran once;
 *   - a Temporal that refuses the connection is named, with the TLS mode, by each of the processes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { labUp, LabHandle } from '../../lab/lab';
import type { RunResult } from '../../workflows/definitions';
import { temporalBinaries } from '../../worker/binaries';
import { DevServer, startDevServer } from '../../worker/devserver';
import { MedicProcess, runNode, spawnMedic, temporalEnv } from '../helpers/medic-cli';
import { freePort } from '../helpers/service';
import { eventually } from '../helpers/temporal';

const EventType = temporal.api.enums.v1.EventType;
const MAIN = path.resolve(__dirname, '../../worker/main.js');

const dir = mkdtempSync(path.join(os.tmpdir(), 'medic-processes-'));
let lab: LabHandle;
let server: DevServer;
let connection: Connection;
let client: Client;
let apiUrl: string;
const processes: MedicProcess[] = [];

before(async () => {
  const [labR, serverR] = await Promise.allSettled([
    labUp({ scenario: 'kust-replfailed' }),
    freePort().then((port) => startDevServer({ cli: temporalBinaries().cli, dataDir: path.join(dir, 'temporal'), port, uiPort: 0, notice: () => undefined })),
  ]);
  if (labR.status === 'fulfilled') lab = labR.value;
  if (serverR.status === 'fulfilled') server = serverR.value;
  if (labR.status === 'rejected' || serverR.status === 'rejected') throw labR.status === 'rejected' ? labR.reason : (serverR as PromiseRejectedResult).reason;
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection, namespace: 'default' });
});
after(async () => {
  for (const p of processes) p.kill();
  await Promise.all(processes.map((p) => p.exited));
  await connection?.close();
  await Promise.all([server?.stop(), lab?.down()]);
  rmSync(dir, { recursive: true, force: true });
});

/** `medic worker|api --config <the lab's config>`, TEMPORAL_ADDRESS = the test's server and nothing else of Temporal's. */
function medic(command: 'worker' | 'api'): MedicProcess {
  const p = spawnMedic([command, '--config', lab.configPath], temporalEnv({ TEMPORAL_ADDRESS: server.address }));
  processes.push(p);
  return p;
}

const WORKER_READY = /^medic: worker on task queue replication-medic, namespace default at 127\.0\.0\.1:\d+ \(TLS: none\); SIGTERM drains \(up to 10m\)$/m;

async function startWorker(): Promise<MedicProcess> {
  const w = medic('worker');
  await w.waitFor(WORKER_READY);
  return w;
}

function startRun(instance: string) {
  const token = (lab.config.api as { operatorToken: string }).operatorToken;
  return fetch(`${apiUrl}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ runbook: 'kust-replica', params: { service: 'cox', instance } }),
  });
}

const cleansOf = (instance: string) => lab.log().filter((e) => e.tool === 'clean_kust_replica.sh' && e.argv[0] === instance).map((e) => `${e.node}: ${e.argv.join(' ')} -> ${e.exitCode}`);

/** The pids (worker identity pid@host) that started the run's activities. */
async function activityWorkers(workflowId: string): Promise<number[]> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  return events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED).map((e) => Number(String(e.activityTaskStartedEventAttributes?.identity).split('@')[0]));
}

let worker: MedicProcess;

test('medic worker and medic api, separate processes: a kust-replica run started through POST /v1/runs completes on the lab', async () => {
  worker = await startWorker();
  const api = medic('api');
  apiUrl = (await api.waitFor(/^medic: API (http:\/\/127\.0\.0\.1:\d+)$/m))[1];
  await api.waitFor(/^medic: Temporal at 127\.0\.0\.1:\d+ \(TLS: none\), namespace default; SIGTERM stops$/m);
  // Start-up output: one line per fact.
  assert.deepEqual(api.output().trim().split('\n').length, 2, api.output());
  assert.ok(worker.output().trim().split('\n').every((l) => l.startsWith('medic: ')), worker.output());
  assert.ok(worker.output().trim().split('\n').length <= 2, worker.output());

  const res = await startRun('cox-1');
  assert.equal(res.status, 201, await res.text());
  const result = (await client.workflow.getHandle('kust-replica/cox-1').result()) as RunResult;
  assert.equal(result.outcome, 'repaired', result.summary);
  assert.deepEqual(
    lab.log().map((e) => `${e.node}: ${e.tool} ${e.argv.join(' ')} -> ${e.exitCode}`),
    ['vkt-control-01: ic map cox -> 0', 'vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1 -> 0'],
  );
  assert.deepEqual(await activityWorkers('kust-replica/cox-1'), [worker.child.pid, worker.child.pid], 'the worker process ran both commands');
});

test('SIGTERM to medic worker while a command runs: the command is not cancelled and ends on its host, the worker exits 0; a new worker finishes the run, the command ran once', async () => {
  assert.ok(worker?.running() && apiUrl, 'the worker and the API of the first test');
  lab.setState((s) => {
    s.maps.cox.blocks[1].srvs[1].repl = 'replfailed';
    s.faults.push({ id: 'drain', tool: 'clean_kust_replica.sh', argsPrefix: ['cox-2'], hold: true, times: 1 });
  });
  const res = await startRun('cox-2');
  assert.equal(res.status, 201, await res.text());
  const held = await eventually(async () => lab.held('drain'), (h) => h.length === 1, 60_000);

  worker.child.kill('SIGTERM');
  await worker.waitFor(/^medic: SIGTERM: draining: no new tasks; 1 activity under way get up to 10m to finish$/m, 10_000);
  // Draining, not cancelling: a cancelled command would be ended on the host (its process group killed) at once.
  await sleep(3000);
  assert.ok(worker.running(), `the worker waits for its command:\n${worker.output()}`);
  assert.deepEqual(lab.held('drain').map((h) => h.pid), held.map((h) => h.pid), 'the command still runs on its host');
  assert.deepEqual(cleansOf('cox-2'), []);

  lab.release('drain');
  const exit = await Promise.race([worker.exited, sleep(60_000, 'still running after 60 s', { ref: false })]);
  assert.deepEqual(exit, { code: 0, signal: null }, worker.output());
  assert.match(worker.output(), /^medic: drained; stopped$/m);
  assert.deepEqual(cleansOf('cox-2'), ['vkt-4vm-879-standart-01: cox-2 -> 0'], 'the command ended by itself, with its real exit status');
  const handle = client.workflow.getHandle('kust-replica/cox-2');
  assert.equal((await handle.describe()).status.name, 'RUNNING', 'the run waits for a worker');

  const next = await startWorker();
  const result = (await handle.result()) as RunResult;
  assert.equal(result.outcome, 'repaired', result.summary);
  assert.equal(result.state.steps.find((s) => s.name === 'clean the replica')?.recovered, undefined, 'its result came from the drained worker, not from the journal');
  assert.deepEqual(cleansOf('cox-2'), ['vkt-4vm-879-standart-01: cox-2 -> 0'], 'the clean ran once');
  assert.deepEqual(await activityWorkers('kust-replica/cox-2'), [worker.child.pid, worker.child.pid]);
  assert.ok(next.running());
});

test('medic api stops on SIGTERM with exit code 0', async () => {
  const api = processes.find((p) => p.running() && /medic: API /.test(p.output()));
  assert.ok(api, 'the API process of the first test');
  api.child.kill('SIGTERM');
  assert.deepEqual(await api.exited, { code: 0, signal: null }, api.output());
  assert.match(api.output(), /^medic: SIGTERM: stopping\nmedic: stopped\n$/m);
});

test('a refused connection names the address and the TLS mode: medic worker, medic api, medic setup and npm start', async () => {
  const address = `127.0.0.1:${await freePort()}`; // nothing listens there
  const [crt, key] = [path.join(dir, 'client.pem'), path.join(dir, 'client.key')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', crt, '-subj', '/CN=medic-test', '-days', '1'], { stdio: 'ignore' });
  const mtls = { TEMPORAL_TLS_CLIENT_CERT_PATH: crt, TEMPORAL_TLS_CLIENT_KEY_PATH: key, TEMPORAL_TLS_SERVER_CA_CERT_PATH: crt, TEMPORAL_TLS_SERVER_NAME: 'temporal.test' };
  const cases: [string, string[], Record<string, string>, string, string?][] = [
    ['medic worker', ['worker'], {}, 'none'],
    ['medic api', ['api'], mtls, 'mTLS with client cert (own CA, server name temporal.test)'],
    ['medic setup', ['setup'], { TEMPORAL_TLS: 'true' }, 'server TLS'],
    ['npm start', [], { TEMPORAL_API_KEY: 'not-a-real-key' }, 'server TLS, API key', MAIN],
  ];
  const outcomes = await Promise.all(cases.map(([, args, env, , script]) => runNode([...args, '--config', lab.configPath], temporalEnv({ TEMPORAL_ADDRESS: address, ...env }), script)));
  for (const [i, [name, , , mode, script]] of cases.entries()) {
    const { code, stdout, stderr } = outcomes[i];
    // The CLI's exit code for "cannot reach Temporal" is 3 (client/cli/exit.ts); npm start's failures are 1.
    assert.equal(code, script ? 1 : 3, `${name}: ${stdout}${stderr}`);
    const expected = `medic: cannot connect to Temporal at ${address} (TLS: ${mode}): `;
    assert.ok(stderr.startsWith(expected), `${name}: expected a line starting ${JSON.stringify(expected)}, got:\n${stderr}`);
    assert.equal(stderr.trim().split('\n').length, 1, `${name}: one line:\n${stderr}`);
  }
});
