/**
 * The cluster's own PostgreSQL: Debian's server binaries (scripts/install-postgres.sh), an instance with its
 * own data directory under the cluster's folder, TCP on one loopback address and a free port, no Unix socket,
 * password authentication (scram) with a password generated into the folder (mode 0600). It runs as the system
 * user medic-pg when started by root (initdb and postgres refuse root), and under a keeper (worker/keeper.ts),
 * so it stops when its owner process dies, however it dies. Nothing outside the folder is touched.
 *
 * The schemas: temporal-sql-tool (scripts/provision-temporal-server.sh) creates the two databases, sets up the
 * versioned schemas on first use and updates them on every start (a no-op when current).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { DataDirLock, describeExit, lockDataDir } from '../../worker/keeper';
import type { DatabaseSettings } from './config';

const run = promisify(execFile);

export const PG_USER = 'medic-pg';
const DB_USER = 'temporal';

export interface PostgresOptions {
  /** The instance's folder (created): data/, password, log. */
  dir: string;
  host?: string;
  port: number;
  sqlTool: string;
  schemaDir: string;
  /** One line per fact. */
  notice?: (line: string) => void;
}

export interface Postgres extends DatabaseSettings {
  /** Fast shutdown (SIGINT), KILL after the keeper's grace period. */
  stop(): Promise<void>;
  exited: Promise<string>;
}

/** The newest Debian server binaries: $PG_BIN, else /usr/lib/postgresql/<highest>/bin. */
export function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(path.join(root, v, 'bin', 'postgres'))) : [];
  if (!versions.length) throw new Error(`no PostgreSQL server in ${root}: run scripts/install-postgres.sh`);
  return path.join(root, versions.sort((a, b) => Number(b) - Number(a))[0], 'bin');
}

const asRoot = () => process.getuid?.() === 0;

/** argv run as medic-pg when we are root (setpriv execs, so the keeper's signals reach postgres itself). */
function asPgUser(argv: string[]): string[] {
  return asRoot() ? ['setpriv', `--reuid=${PG_USER}`, `--regid=${PG_USER}`, '--init-groups', '--', ...argv] : argv;
}

function pgIds(): { uid: number; gid: number } | undefined {
  if (!asRoot()) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${PG_USER}:`));
  if (!line) throw new Error(`no system user ${PG_USER}: run scripts/install-postgres.sh`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function waitForPort(host: string, port: number, alive: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) return false;
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export async function startPostgres(opts: PostgresOptions): Promise<Postgres> {
  const host = opts.host ?? '127.0.0.1';
  const dir = path.resolve(opts.dir);
  const data = path.join(dir, 'data');
  const pwFile = path.join(dir, 'password');
  const bin = postgresBin();
  const ids = pgIds();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (ids) chownSync(dir, ids.uid, ids.gid);
  if (!existsSync(pwFile)) writeFileSync(pwFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  if (ids) chownSync(pwFile, ids.uid, ids.gid);
  const password = readFileSync(pwFile, 'utf8').trim();

  if (!existsSync(path.join(data, 'PG_VERSION'))) {
    const [cmd, ...args] = asPgUser([path.join(bin, 'initdb'), '-D', data, '-U', DB_USER, `--pwfile=${pwFile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-instructions']);
    await run(cmd, args).catch((err: Error & { stderr?: string }) => {
      throw new Error(`initdb of ${data} failed: ${err.stderr?.trim() || err.message}`);
    });
  }

  const log = openSync(path.join(dir, 'postgres.log'), 'a');
  let lock: DataDirLock;
  try {
    lock = await lockDataDir(dir, {
      output: log,
      notice: opts.notice ?? (() => undefined),
      // No Unix socket: TCP on the one loopback address only. fsync stays on (the cluster is durable like production).
      server: asPgUser([path.join(bin, 'postgres'), '-D', data, '-h', host, '-p', String(opts.port), '-c', 'unix_socket_directories=', '-c', 'max_connections=300']),
    });
    await lock.run();
  } finally {
    closeSync(log);
  }
  if (!(await waitForPort(host, opts.port, lock.running, 30_000))) {
    await lock.kill();
    throw new Error(`PostgreSQL did not listen on ${host}:${opts.port} (${lock.running() ? 'still starting after 30 s' : describeExit(await lock.exited)}); see ${path.join(dir, 'postgres.log')}`);
  }
  const pg: Postgres = {
    host,
    port: opts.port,
    user: DB_USER,
    password,
    database: 'temporal',
    visibilityDatabase: 'temporal_visibility',
    stop: async () => void (await lock.release()),
    exited: lock.exited.then(describeExit),
  };
  try {
    await setupSchemas(pg, opts, dir);
  } catch (err) {
    await lock.kill();
    throw err;
  }
  return pg;
}

/** Both databases with their versioned schemas: created once (a marker file says so), updated on every start. */
async function setupSchemas(pg: Postgres, opts: PostgresOptions, dir: string): Promise<void> {
  const env = { ...process.env, SQL_HOST: pg.host, SQL_PORT: String(pg.port), SQL_USER: pg.user, SQL_PASSWORD: pg.password };
  const tool = async (database: string, ...args: string[]) => {
    await run(opts.sqlTool, ['--plugin', 'postgres12', '--db', database, ...args], { env }).catch((err: Error & { stderr?: string; stdout?: string }) => {
      throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed: ${(err.stderr || err.stdout || err.message).trim().split('\n').slice(-3).join(' | ')}`);
    });
  };
  for (const [database, folder] of [
    [pg.database, 'temporal'],
    [pg.visibilityDatabase, 'visibility'],
  ] as const) {
    const marker = path.join(dir, `schema-${database}.created`);
    if (!existsSync(marker)) {
      await tool(database, 'create-database', '--defaultdb', 'postgres').catch((err: Error) => {
        if (!/already exists/.test(err.message)) throw err;
      });
      await tool(database, 'setup-schema', '-v', '0.0');
      writeFileSync(marker, '');
    }
    await tool(database, 'update-schema', '-d', path.join(opts.schemaDir, folder, 'versioned'));
  }
}
