/**
 * The project's own Temporal cluster on one machine: PostgreSQL (deploy/cluster/postgres.ts) and N server
 * nodes (default 2), each running all four services on its own loopback address (127.0.0.2, 127.0.0.3, ...),
 * sharing the database, with more than one history shard (default 4). Each node and the database run under a
 * keeper (worker/keeper.ts): they stop when the process that started them dies, however it dies. A node can
 * be killed (SIGKILL, as a machine loss) and started again on its folder; it rejoins through the database.
 *
 * Used by `npm run cluster` (deploy/cluster/cli.ts), `npm run test:cluster` and `npm run bench:cluster`.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { printedPaths } from '../../worker/binaries';
import { waitUntilServing } from '../../worker/devserver';
import { DataDirLock, describeExit, lockDataDir } from '../../worker/keeper';
import { CLUSTER_DYNAMIC_CONFIG, ClusterPorts, dynamicConfig, FrontendTls, nodeConfig, SERVICES } from './config';
import { Postgres, startPostgres } from './postgres';

export interface ClusterOptions {
  /** The cluster's folder: postgres/, node-1/, node-2/, ... (kept between starts: the runs are in the database). */
  dir: string;
  nodes?: number;
  shards?: number;
  /** The nodes' addresses: 127.0.0.<firstIp + i>; default 2 (127.0.0.2, 127.0.0.3). */
  firstIp?: number;
  /** mTLS on the frontends (certificates made by the caller). */
  tls?: FrontendTls;
  /** Dynamic config over CLUSTER_DYNAMIC_CONFIG. */
  dynamicConfig?: Record<string, unknown>;
  notice?: (line: string) => void;
}

export interface ClusterNode {
  name: string;
  ip: string;
  /** host:port of its frontend. */
  frontend: string;
  pid(): number | undefined;
  running(): boolean;
  /** SIGKILL to the server (a lost machine); resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts it again on its folder (after kill or stop); resolves once its frontend answers. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface Cluster {
  dir: string;
  nodes: ClusterNode[];
  /** The frontends' addresses, node 1 first. */
  frontends: string[];
  postgres: Postgres;
  shards: number;
  tls?: FrontendTls;
  /** Which node's history service owns each shard now, from the shards table (by node address). */
  shardOwners(): Record<number, string>;
  stop(): Promise<void>;
}

const SERVER_START_TIMEOUT_MS = 90_000;

/** The cluster binaries (scripts/provision-temporal-server.sh: environment, PATH, .tools, else built). */
export function serverBinaries(): { server: string; sqlTool: string; schemaDir: string } {
  const p = printedPaths('provision-temporal-server.sh', ['TEMPORAL_SERVER', 'TEMPORAL_SQL_TOOL', 'TEMPORAL_SCHEMA_DIR']);
  return { server: p.TEMPORAL_SERVER, sqlTool: p.TEMPORAL_SQL_TOOL, schemaDir: p.TEMPORAL_SCHEMA_DIR };
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Distinct ports free on every one of the addresses, below the ephemeral range (lab/lab.ts freePort says why). */
export async function freePortsOn(hosts: string[], count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count; tries++) {
    if (tries > 2000) throw new Error(`no ${count} free ports on ${hosts.join(', ')} between 20000 and 31000`);
    const p = 20000 + Math.floor(Math.random() * 11000);
    if (ports.includes(p)) continue;
    if ((await Promise.all(hosts.map((h) => portFree(h, p)))).every(Boolean)) ports.push(p);
  }
  return ports;
}

/** A client connection's TLS settings for a cluster with mTLS, from a client certificate of its CA. */
export function clientTls(tls: FrontendTls, cert = tls.internalClientCert, key = tls.internalClientKey) {
  return { serverNameOverride: tls.serverName, serverRootCACertificate: readFileSync(tls.caCert), clientCertPair: { crt: readFileSync(cert), key: readFileSync(key) } };
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const dir = path.resolve(opts.dir);
  const count = opts.nodes ?? 2;
  const shards = opts.shards ?? 4;
  const first = opts.firstIp ?? 2;
  const notice = opts.notice ?? (() => undefined);
  const ips = Array.from({ length: count }, (_, i) => `127.0.0.${first + i}`);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755); // the database runs as medic-pg and must reach its folder inside
  const bins = serverBinaries();
  const [pgPort, ...p] = await freePortsOn(['127.0.0.1', ...ips], 1 + 2 * SERVICES.length + 1);
  const ports: ClusterPorts = {
    grpc: Object.fromEntries(SERVICES.map((s, i) => [s, p[i]])) as ClusterPorts['grpc'],
    membership: Object.fromEntries(SERVICES.map((s, i) => [s, p[SERVICES.length + i]])) as ClusterPorts['membership'],
    frontendHttp: p[2 * SERVICES.length],
  };
  const postgres = await startPostgres({ dir: path.join(dir, 'postgres'), port: pgPort, sqlTool: bins.sqlTool, schemaDir: bins.schemaDir, notice });
  const dynFile = path.join(dir, 'dynamicconfig.yaml');
  writeFileSync(dynFile, dynamicConfig({ ...CLUSTER_DYNAMIC_CONFIG, ...opts.dynamicConfig }));

  const nodes = ips.map((ip, i) => makeNode(`node-${i + 1}`, ip, { dir, server: bins.server, ports, shards, postgres, dynFile, tls: opts.tls, notice }));
  try {
    // The first node alone first: it creates the cluster metadata; the others join it.
    await nodes[0].start();
    await Promise.all(nodes.slice(1).map((n) => n.start()));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    await postgres.stop();
    throw err;
  }
  return {
    dir,
    nodes,
    frontends: nodes.map((n) => n.frontend),
    postgres,
    shards,
    tls: opts.tls,
    shardOwners: () => shardOwners(postgres),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      await postgres.stop();
    },
  };
}

interface NodeContext {
  dir: string;
  server: string;
  ports: ClusterPorts;
  shards: number;
  postgres: Postgres;
  dynFile: string;
  tls?: FrontendTls;
  notice: (line: string) => void;
}

function makeNode(name: string, ip: string, ctx: NodeContext): ClusterNode {
  const nodeDir = path.join(ctx.dir, name);
  const configDir = path.join(nodeDir, 'config');
  const frontend = `${ip}:${ctx.ports.grpc.frontend}`;
  let lock: DataDirLock | undefined;
  let pid: number | undefined;
  const running = () => lock?.running() ?? false;
  return {
    name,
    ip,
    frontend,
    pid: () => (running() ? pid : undefined),
    running,
    async start() {
      if (running()) return;
      mkdirSync(configDir, { recursive: true });
      // The file holds the database password: the owner only.
      writeFileSync(
        path.join(configDir, 'node.yaml'),
        nodeConfig({ ip, ports: ctx.ports, shards: ctx.shards, dynamicConfigFile: ctx.dynFile, tls: ctx.tls, db: { ...ctx.postgres } }),
        { mode: 0o600 },
      );
      const logFile = path.join(nodeDir, 'temporal.log');
      const log = openSync(logFile, 'a');
      try {
        lock = await lockDataDir(nodeDir, { output: log, notice: ctx.notice, server: [ctx.server, '--root', '/', '--config', configDir, '--env', 'node', '--allow-no-auth', 'start'] });
        pid = await lock.run();
      } finally {
        closeSync(log);
      }
      const l = lock;
      const ok = await waitUntilServing(frontend, l.running, SERVER_START_TIMEOUT_MS, ctx.tls && clientTls(ctx.tls)).catch(async (err: Error) => {
        await l.kill();
        throw new Error(`${name}: ${err.message}; see ${logFile}`);
      });
      if (!ok) throw new Error(`${name} (pid ${pid}) exited during start-up with ${describeExit(await l.exited)}; see ${logFile}`);
    },
    async kill() {
      if (!lock || !pid || !running()) return;
      process.kill(pid, 'SIGKILL');
      await lock.exited;
    },
    async stop() {
      if (lock && running()) await lock.release();
    },
  };
}

/** shard id -> the address of the history host that owns it (the ShardInfo blob's owner field, "ip:port"). */
export function shardOwners(pg: Pick<Postgres, 'host' | 'port' | 'user' | 'password' | 'database'>): Record<number, string> {
  const out = execFileSync('psql', ['-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', pg.database, '-At', '-F', ' ', '-c', "select shard_id, encode(data, 'hex') from shards order by shard_id"], {
    encoding: 'utf8',
    env: { ...process.env, PGPASSWORD: pg.password, PGCONNECT_TIMEOUT: '5' },
  });
  const owners: Record<number, string> = {};
  for (const line of out.trim().split('\n').filter(Boolean)) {
    const [id, hex] = line.split(' ');
    const m = /(127\.\d+\.\d+\.\d+):(\d+)/.exec(Buffer.from(hex, 'hex').toString('latin1'));
    if (m) owners[Number(id)] = m[1];
  }
  return owners;
}
