/**
 * manticore-cluster on REAL Galera (MariaDB flavour): three mariadbd nodes on loopback ports under a
 * temporary folder of their own (scripts/install-galera.sh installs the packages). The same workflow,
 * decision and flavour commands run; only the transport differs: instead of SSH, a local activity runs
 * each command's argv with NODE=<host>, and the configured paths are wrappers (test/galera/nodes.sh)
 * that add the node's --defaults-file / socket and map /galera/... to the node's folder.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities, ExecResult, RunCommandRequest } from '../../activities';
import { decideUpdate, RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { testSettings } from '../helpers/settings';
import { eventually, timeSkippingEnv, workflowBundle } from '../helpers/temporal';

const SCRIPT = path.resolve(__dirname, '../../../test/galera/nodes.sh');
const NODES = ['n1', 'n2', 'n3'];
let root: string;
let env: TestWorkflowEnvironment;
const base = 24000 + (process.pid % 50) * 100;
const tools = ['systemctl', 'galera_new_cluster', 'cat', 'tee', 'mysql', 'mariadbd'];
const galeraEnv = () => ({ ...process.env, GALERA_ROOT: root, GALERA_BASE: String(base) });

function pidOf(n: string): number | undefined {
  try {
    return Number(fs.readFileSync(path.join(root, n, 'data', 'mysqld.pid'), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}
function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
async function waitGone(pid: number | undefined) {
  for (let i = 0; i < 600 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(alive(pid), false, `mariadbd ${pid} still running`);
}
const sh = (node: string, tool: string, args: string[], stdin?: string) =>
  spawnSync(path.join(root, 'bin', tool), args, { env: { ...galeraEnv(), NODE: node }, input: stdin ?? '', encoding: 'utf8', timeout: 120_000 });
const sql = (node: string, text: string) => {
  const r = sh(node, 'mysql', [], text);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};
async function stop(node: string) {
  const pid = pidOf(node);
  if (alive(pid)) process.kill(pid as number, 'SIGTERM');
  await waitGone(pid);
}
async function kill9(node: string) {
  const pid = pidOf(node);
  if (alive(pid)) process.kill(pid as number, 'SIGKILL');
  await waitGone(pid);
}
function startAll() {
  assert.equal(sh('n1', 'galera_new_cluster', []).status, 0);
  for (const n of NODES.slice(1)) assert.equal(sh(n, 'systemctl', ['start', 'mariadb']).status, 0);
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-galera-'));
  fs.mkdirSync(path.join(root, 'bin'));
  for (const t of tools) fs.symlinkSync(SCRIPT, path.join(root, 'bin', t));
  execFileSync(SCRIPT, ['init', String(NODES.length)], { env: galeraEnv(), stdio: 'inherit' });
  env = await timeSkippingEnv();
});
after(async () => {
  for (const n of NODES) await kill9(n).catch(() => undefined);
  await env?.teardown();
  fs.rmSync(root, { recursive: true, force: true });
});

/** The local transport: the argv as given (paths are the wrappers), NODE=<host>, stdin. */
function localActivities(calls: string[]): Activities {
  return {
    runCommand: async (req: RunCommandRequest): Promise<ExecResult> => {
      calls.push(`${req.host}: ${path.basename(req.argv[0])} ${req.argv.slice(1).join(' ')}`.trim());
      const r = spawnSync(req.argv[0], req.argv.slice(1), { env: { ...galeraEnv(), NODE: req.host }, input: req.stdin ?? '', encoding: 'utf8', timeout: 120_000 });
      return { host: req.host, command: req.argv.join(' '), exitCode: r.status, signal: r.signal ?? null, stdout: r.stdout ?? '', stderr: r.stderr ?? '', truncated: false, disconnected: false, timedOut: false, durationMs: 1 };
    },
    notify: async () => ({ delivered: true }),
  };
}

let seq = 0;
async function recover(approve?: (s: RunState) => string | undefined): Promise<{ r: RunResult; calls: string[] }> {
  const calls: string[] = [];
  const bin = (t: string) => path.join(root, 'bin', t);
  const settings = testSettings('manticore-cluster', {
    paths: { systemctl: bin('systemctl'), galeraNewCluster: bin('galera_new_cluster'), cat: bin('cat'), tee: bin('tee'), mysql: bin('mysql'), mariadbd: bin('mariadbd') },
    timers: { galeraPoll: '1s', galeraSyncTimeout: '2m' },
    manticore: { clusters: { db: { flavour: 'mariadb', nodes: NODES, unit: 'mariadb', sqlPort: 3306, grastatePath: '/galera/data/grastate.dat', logPath: '/galera/recover.log' } } },
  });
  const taskQueue = `galera-${++seq}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities: localActivities(calls) });
  let r: RunResult | undefined;
  await worker.runUntil(async () => {
    const h = await env.client.workflow.start('manticoreCluster', { taskQueue, workflowId: `manticore-cluster/db-${seq}`, args: [{ cluster: 'db', settings }] });
    try {
      if (approve) {
        const s = await eventually(() => h.query(stateQuery), (s) => s.status !== 'running' && s.status !== 'waiting', 120_000);
        assert.equal(s.status, 'awaiting-approval', JSON.stringify(s.pending));
        await h.executeUpdate(decideUpdate, { args: [{ action: 'approve', by: 'alice', choice: approve(s) }] });
      }
      r = (await h.result()) as RunResult;
    } finally {
      await h.terminate('test finished').catch(() => undefined);
    }
  });
  assert.ok(r);
  return { r, calls };
}

let rows = 0;
function write(node: string, n: number) {
  let text = 'CREATE DATABASE IF NOT EXISTS t; CREATE TABLE IF NOT EXISTS t.r (id INT PRIMARY KEY);\n';
  for (let i = 0; i < n; i++) text += `INSERT INTO t.r VALUES (${++rows});\n`;
  sql(node, text);
}
function assertHealthy() {
  for (const n of NODES) {
    const st = sql(n, "SHOW STATUS LIKE 'wsrep_%';");
    assert.match(st, /wsrep_cluster_status\tPrimary/, n);
    assert.match(st, /wsrep_cluster_size\t3/, n);
    assert.match(sql(n, 'SELECT COUNT(*) FROM t.r;'), new RegExp(`\\n${rows}\\n`), `${n}: every committed row`);
  }
}

test('real Galera, case 3: graceful stops n3, n2, n1 -> galera_new_cluster on n1 (safe_to_bootstrap), then n2, n3', async () => {
  startAll();
  write('n1', 5);
  write('n3', 3);
  for (const n of ['n3', 'n2', 'n1']) await stop(n);
  const { r, calls } = await recover();
  assert.equal(r.outcome, 'repaired', r.summary);
  assert.match(r.state.steps.find((s) => s.name === 'decision: case 3')?.reason ?? '', /n1 stopped last/);
  assert.deepEqual(calls.filter((c) => /galera_new_cluster|start/.test(c)), ['n1: galera_new_cluster', 'n2: systemctl start mariadb', 'n3: systemctl start mariadb']);
  assertHealthy();
});

test('real Galera, case 5: kill -9 of n2 and n3 -> n1 non-primary; approved pc.bootstrap on n1, then n2, n3 start', async () => {
  write('n2', 4);
  await kill9('n2');
  await kill9('n3');
  await eventually(async () => sql('n1', "SHOW STATUS LIKE 'wsrep_cluster_status';"), (t) => /non-Primary/i.test(t), 60_000);
  const { r, calls } = await recover((s) => {
    assert.deepEqual(s.pending?.choices, ['n1']);
    return 'n1';
  });
  assert.equal(r.outcome, 'repaired', r.summary);
  assert.deepEqual(calls.filter((c) => /galera_new_cluster|systemctl start/.test(c)), ['n2: systemctl start mariadb', 'n3: systemctl start mariadb']);
  assert.ok(r.state.steps.some((s) => s.name === 'bootstrap n1' && s.verdict === 'ok'));
  assertHealthy();
});

test('real Galera, case 6: kill -9 of all three -> recovered positions, approved forced bootstrap of the freshest, then the others', async () => {
  write('n1', 6);
  for (const n of NODES) await kill9(n);
  const { r, calls } = await recover((s) => {
    assert.ok((s.pending?.choices ?? []).length >= 1);
    assert.match(s.pending?.evidence ?? '', /position \d+ \(recovered position\)/);
    return s.pending?.proposal;
  });
  assert.equal(r.outcome, 'repaired', r.summary);
  const boot = calls.filter((c) => /galera_new_cluster|tee/.test(c));
  assert.equal(boot.length, 2);
  assert.match(boot[0], /^n\d: tee \/galera\/data\/grastate.dat$/);
  assertHealthy();
  for (const n of NODES) await stop(n);
});
