/**
 * `npm run cluster -- up|status|down [--dir DIR]`: the project's two-node Temporal cluster on PostgreSQL
 * (deploy/cluster/cluster.ts), in the background, for trying `medic worker` / `medic api` against a real
 * cluster by hand. Default folder .data/cluster (MEDIC_CLUSTER_DIR). The runs stay in the folder's database
 * between `down` and the next `up`.
 *
 *   up       starts it (a detached owner process keeps it; its log is <dir>/cluster.log) and prints the
 *            frontends and the TEMPORAL_ADDRESS line to use; a second `up` says it is already up
 *   status   the owner, each node (pid, frontend answering) and who owns each history shard; exit 1 when down
 *   down     stops it (nodes, then the database); exit 0 also when it was not up
 * `up` also takes --nodes N (default 2) and --shards N (default 4; fixed once the database exists).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../worker/binaries';
import { isRunning, processInfo, waitUntilGone } from '../../worker/proc';
import { startCluster } from './cluster';

interface State {
  pid: number;
  startTime: number;
  frontends: string[];
  nodes: { name: string; ip: string; frontend: string }[];
  postgres: string;
  shards: number;
}

const usage = 'usage: npm run cluster -- up|status|down [--dir DIR] [--nodes N] [--shards N]';

function stateFile(dir: string): string {
  return path.join(dir, 'cluster.json');
}

function readState(dir: string): State | undefined {
  try {
    const s = JSON.parse(readFileSync(stateFile(dir), 'utf8')) as State;
    return isRunning(s.pid, s.startTime) ? s : undefined;
  } catch {
    return undefined;
  }
}

function say(line: string): void {
  console.log(`cluster: ${line}`);
}

/** The owner: starts the cluster, writes the state file, and keeps everything up until SIGTERM / SIGINT. */
async function serve(dir: string, sizes: { nodes?: number; shards?: number }): Promise<void> {
  const cluster = await startCluster({ dir, notice: say, ...sizes });
  const me = processInfo(process.pid);
  const state: State = {
    pid: process.pid,
    startTime: me?.startTime ?? 0,
    frontends: cluster.frontends,
    nodes: cluster.nodes.map((n) => ({ name: n.name, ip: n.ip, frontend: n.frontend })),
    postgres: `${cluster.postgres.host}:${cluster.postgres.port}`,
    shards: cluster.shards,
  };
  writeFileSync(stateFile(dir), JSON.stringify(state, null, 2));
  say(`up: ${cluster.frontends.join(', ')}`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say('stopping');
    await cluster.stop();
    rmSync(stateFile(dir), { force: true });
    say('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  // The database dying under the owner is said in its log; `status` shows each node.
  void cluster.postgres.exited.then((why) => !stopping && say(`PostgreSQL exited: ${why}`));
}

async function up(dir: string, sizeArgs: string[]): Promise<number> {
  const s = readState(dir);
  if (s) {
    say(`already up (owner pid ${s.pid}): ${s.frontends.join(', ')}`);
    return 0;
  }
  mkdirSync(dir, { recursive: true });
  rmSync(stateFile(dir), { force: true });
  const logFile = path.join(dir, 'cluster.log');
  const log = openSync(logFile, 'a');
  const t0 = Date.now();
  const owner = spawn(process.execPath, [__filename, 'serve', '--dir', dir, ...sizeArgs], { detached: true, stdio: ['ignore', log, log], cwd: REPO_ROOT });
  owner.unref();
  let exited = false;
  owner.once('exit', () => (exited = true));
  for (;;) {
    const st = readState(dir);
    if (st) {
      say(`up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${st.nodes.map((n) => `${n.name} ${n.frontend}`).join(', ')}; PostgreSQL ${st.postgres}; ${st.shards} history shards`);
      say(`use: TEMPORAL_ADDRESS=${st.frontends[0]} npx medic setup   (then medic worker / medic api with the same setting)`);
      return 0;
    }
    if (exited || Date.now() - t0 > 600_000) {
      say(`failed to start; the last lines of ${logFile}:`);
      console.log(readFileSync(logFile, 'utf8').trim().split('\n').slice(-15).join('\n'));
      return 1;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function status(dir: string): Promise<number> {
  const s = readState(dir);
  if (!s) {
    say(`down (${dir})`);
    return 1;
  }
  const { Connection } = await import('@temporalio/client');
  say(`up: owner pid ${s.pid}, PostgreSQL ${s.postgres}, ${s.shards} history shards`);
  let healthy = true;
  for (const n of s.nodes) {
    const answer = await Connection.connect({ address: n.frontend, connectTimeout: 2_000 })
      .then(async (c) => {
        try {
          const info = await c.workflowService.getSystemInfo({});
          return `answers (server ${info.serverVersion})`;
        } finally {
          await c.close();
        }
      })
      .catch((err: Error) => {
        healthy = false;
        return `does not answer: ${err.message}`;
      });
    say(`${n.name} ${n.frontend}: ${answer}`);
  }
  try {
    const { shardOwners } = await import('./cluster');
    const [host, port] = s.postgres.split(':');
    const password = readFileSync(path.join(dir, 'postgres', 'password'), 'utf8').trim();
    const owners = shardOwners({ host, port: Number(port), user: 'temporal', password, database: 'temporal' });
    say(`shard owners: ${Object.entries(owners).map(([id, ip]) => `${id}@${s.nodes.find((n) => n.ip === ip)?.name ?? ip}`).join(' ')}`);
  } catch (err) {
    healthy = false;
    say(`shard owners unknown: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  return healthy ? 0 : 1;
}

async function down(dir: string): Promise<number> {
  const s = readState(dir);
  if (!s) {
    say('not up');
    return 0;
  }
  process.kill(s.pid, 'SIGTERM');
  if (!(await waitUntilGone(s.pid, 60_000, s.startTime))) {
    say(`owner pid ${s.pid} did not stop within 60 s`);
    return 1;
  }
  say('down');
  return 0;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args.splice(i, 2)[1] : undefined;
  };
  const dir = path.resolve(option('--dir') ?? process.env.MEDIC_CLUSTER_DIR ?? path.join(REPO_ROOT, '.data', 'cluster'));
  const sizes = { nodes: option('--nodes'), shards: option('--shards') };
  for (const [k, v] of Object.entries(sizes)) {
    if (v !== undefined && !/^[1-9]\d{0,3}$/.test(v)) {
      console.error(`--${k} must be a positive number (got ${v}); ${usage}`);
      return 2;
    }
  }
  const sizeArgs = Object.entries(sizes).flatMap(([k, v]) => (v ? [`--${k}`, v] : []));
  switch (args[0]) {
    case 'up':
      return up(dir, sizeArgs);
    case 'status':
      return status(dir);
    case 'down':
      return down(dir);
    case 'serve':
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
      await serve(dir, { nodes: sizes.nodes ? Number(sizes.nodes) : undefined, shards: sizes.shards ? Number(sizes.shards) : undefined });
      return -1; // keeps running until a signal
    default:
      console.error(usage);
      return 2;
  }
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
