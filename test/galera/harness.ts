/**
 * Real MariaDB Galera nodes for test/galera (scripts/install-galera.sh installs the packages): one folder per
 * node under a temporary folder of their own, set up by test/galera/nodes.sh. The same workflow, decision and
 * flavour commands run as in production; only the transport differs: instead of SSH, a local activity runs
 * each command's argv with NODE=<host>, and the configured paths are wrappers (symlinks to nodes.sh) that add
 * the node's --defaults-file / socket and map /galera/... to the node's folder.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities, ExecResult, RunCommandRequest } from '../../activities';
import { decideUpdate, RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { testSettings } from '../helpers/settings';
import { eventually, timeSkippingEnv, workflowBundle } from '../helpers/temporal';

export const SCRIPTS = path.resolve(__dirname, '../../../test/galera');
const TOOLS = ['systemctl', 'galera_new_cluster', 'cat', 'tee', 'mysql', 'mariadbd'];

/** The commands that change something: starts, bootstraps, grastate.dat rewrites, pc.bootstrap. */
export const actions = (calls: string[]) => calls.filter((c) => /: (systemctl start|galera_new_cluster|tee) |: galera_new_cluster$|pc\.bootstrap/.test(c));

export class GaleraNodes {
  root = '';
  env?: TestWorkflowEnvironment;
  /** Rows committed so far (ids 1..rows in t.r). */
  rows = 0;
  private seq = 0;

  /** `initEnv`: extra environment for `nodes.sh init` (GALERA_HOSTS, GALERA_NETNS). */
  constructor(
    readonly nodes: string[],
    readonly base: number,
    private readonly initEnv: Record<string, string> = {},
  ) {}

  galeraEnv = (): NodeJS.ProcessEnv => ({ ...process.env, GALERA_ROOT: this.root, GALERA_BASE: String(this.base) });

  /** The folder, the wrappers, `nodes.sh init`, the time-skipping Temporal test server. */
  async setUp(): Promise<void> {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-galera-'));
    fs.mkdirSync(path.join(this.root, 'bin'));
    for (const t of TOOLS) fs.symlinkSync(path.join(SCRIPTS, 'nodes.sh'), path.join(this.root, 'bin', t));
    execFileSync(path.join(SCRIPTS, 'nodes.sh'), ['init', String(this.nodes.length)], { env: { ...this.galeraEnv(), ...this.initEnv }, stdio: 'inherit' });
    this.env = await timeSkippingEnv();
  }

  /** Kills every node (whatever state it is in), stops Temporal, removes the folder. */
  async tearDown(): Promise<void> {
    for (const n of this.nodes) await this.kill9(n).catch(() => undefined);
    await this.env?.teardown();
    if (this.root) fs.rmSync(this.root, { recursive: true, force: true });
  }

  pidOf(n: string): number | undefined {
    try {
      return Number(fs.readFileSync(path.join(this.root, n, 'data', 'mysqld.pid'), 'utf8').trim()) || undefined;
    } catch {
      return undefined;
    }
  }

  alive(pid: number | undefined): boolean {
    if (!pid) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  async waitGone(pid: number | undefined): Promise<void> {
    for (let i = 0; i < 600 && this.alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(this.alive(pid), false, `mariadbd ${pid} still running`);
  }

  /** A wrapper (bin/<tool>) as the workflow would run it on `node`. */
  sh(node: string, tool: string, args: string[], stdin?: string) {
    return spawnSync(path.join(this.root, 'bin', tool), args, { env: { ...this.galeraEnv(), NODE: node }, input: stdin ?? '', encoding: 'utf8', timeout: 120_000 });
  }

  sql(node: string, text: string): string {
    const r = this.sh(node, 'mysql', [], text);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  }

  /** The node's wsrep_% status as name -> value. */
  status(node: string): Record<string, string> {
    return Object.fromEntries(
      this.sql(node, "SHOW STATUS LIKE 'wsrep_%';")
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((l) => l.split('\t') as [string, string]),
    );
  }

  /** Graceful stop (SIGTERM, as systemctl stop), waiting until the process is gone. */
  async stop(node: string): Promise<void> {
    const pid = this.pidOf(node);
    if (this.alive(pid)) process.kill(pid as number, 'SIGTERM');
    await this.waitGone(pid);
  }

  async kill9(node: string): Promise<void> {
    const pid = this.pidOf(node);
    if (this.alive(pid)) process.kill(pid as number, 'SIGKILL');
    await this.waitGone(pid);
  }

  /** The first node with a new cluster, then the others, each returning once it accepts connections. */
  startAll(): void {
    const first = this.sh(this.nodes[0], 'galera_new_cluster', []);
    assert.equal(first.status, 0, first.stderr);
    for (const n of this.nodes.slice(1)) {
      const r = this.sh(n, 'systemctl', ['start', 'mariadb']);
      assert.equal(r.status, 0, r.stderr);
    }
  }

  /** Commits `n` more rows through `node`. */
  write(node: string, n: number): void {
    let text = 'CREATE DATABASE IF NOT EXISTS t; CREATE TABLE IF NOT EXISTS t.r (id INT PRIMARY KEY);\n';
    for (let i = 0; i < n; i++) text += `INSERT INTO t.r VALUES (${++this.rows});\n`;
    this.sql(node, text);
  }

  /** The node is primary and synced in a component of `size`, and holds every committed row. */
  assertPrimary(node: string, size: number): void {
    const st = this.status(node);
    assert.equal(st.wsrep_cluster_status, 'Primary', node);
    assert.equal(st.wsrep_cluster_size, String(size), node);
    assert.equal(st.wsrep_local_state_comment, 'Synced', node);
    assert.match(this.sql(node, 'SELECT COUNT(*), COALESCE(MAX(id), 0) FROM t.r;'), new RegExp(`\\n${this.rows}\\t${this.rows}\\n`), `${node}: every committed row`);
  }

  /** Every node primary, synced, in one component of all nodes, with every committed row. */
  assertHealthy(): void {
    for (const n of this.nodes) this.assertPrimary(n, this.nodes.length);
  }

  /** Waits (real time) until every node in `nodes` reports a component as `ok` says. */
  async waitStatus(nodes: string[], ok: (s: Record<string, string>) => boolean, timeoutMs = 60_000): Promise<void> {
    await eventually(async () => nodes.map((n) => this.status(n)), (ss) => ss.every(ok), timeoutMs);
  }

  /**
   * The local transport: the argv as given (paths are the wrappers), NODE=<host>, stdin. Each call is recorded
   * as "<host>: <tool> <args>", SQL given to mysql as " <<< <stdin>".
   */
  private localActivities(calls: string[]): Activities {
    return {
      runCommand: async (req: RunCommandRequest): Promise<ExecResult> => {
        const tool = path.basename(req.argv[0]);
        calls.push(`${req.host}: ${tool} ${req.argv.slice(1).join(' ')}`.trim() + (tool === 'mysql' && req.stdin ? ` <<< ${req.stdin.trim()}` : ''));
        const r = spawnSync(req.argv[0], req.argv.slice(1), { env: { ...this.galeraEnv(), NODE: req.host }, input: req.stdin ?? '', encoding: 'utf8', timeout: 120_000 });
        return { host: req.host, command: req.argv.join(' '), exitCode: r.status, signal: r.signal ?? null, stdout: r.stdout ?? '', stderr: r.stderr ?? '', truncated: false, disconnected: false, timedOut: false, durationMs: 1 };
      },
      notify: async () => ({ delivered: true }),
    };
  }

  /** Runs the real manticoreCluster workflow (flavour mariadb) on these nodes; `approve` answers its one approval. */
  async recover(approve?: (s: RunState) => string | undefined): Promise<{ r: RunResult; calls: string[] }> {
    const env = this.env;
    assert.ok(env, 'setUp first');
    const calls: string[] = [];
    const bin = (t: string) => path.join(this.root, 'bin', t);
    const settings = testSettings('manticore-cluster', {
      paths: { systemctl: bin('systemctl'), galeraNewCluster: bin('galera_new_cluster'), cat: bin('cat'), tee: bin('tee'), mysql: bin('mysql'), mariadbd: bin('mariadbd') },
      timers: { galeraPoll: '1s', galeraSyncTimeout: '2m' },
      manticore: { clusters: { db: { flavour: 'mariadb', nodes: this.nodes, unit: 'mariadb', sqlPort: 3306, grastatePath: '/galera/data/grastate.dat', logPath: '/galera/recover.log' } } },
    });
    const taskQueue = `galera-${process.pid}-${++this.seq}`;
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities: this.localActivities(calls) });
    let r: RunResult | undefined;
    await worker.runUntil(async () => {
      const h = await env.client.workflow.start('manticoreCluster', { taskQueue, workflowId: `manticore-cluster/db-${this.seq}`, args: [{ cluster: 'db', settings }] });
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
}
