/**
 * The embedded Temporal: `temporal server start-dev` with a SQLite file, so runs survive a restart,
 * the Web UI, and the project's search attributes registered.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';

export interface DevServerOptions {
  cli: string;
  dataDir: string;
  /** gRPC port (default 7233) and Web UI port (default 8233); 0 = no UI. */
  port?: number;
  uiPort?: number;
  ip?: string;
  namespace?: string;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

function waitForPort(host: string, port: number, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`temporal dev server exited with code ${child.exitCode}`));
      const sock = net.connect({ host, port }, () => {
        sock.destroy();
        resolve();
      });
      sock.on('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`temporal dev server did not listen on ${host}:${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/**
 * The port accepts connections a moment before the frontend serves: calls then fail with "Frontend is not
 * healthy yet" (seen on a fresh SQLite file under load). Wait until GetSystemInfo answers.
 */
async function waitForFrontend(address: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`temporal dev server exited with code ${child.exitCode}`);
    try {
      const c = await Connection.connect({ address, connectTimeout: 2_000 });
      try {
        await c.workflowService.getSystemInfo({});
        return;
      } finally {
        await c.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`temporal dev server at ${address} not healthy within ${timeoutMs} ms: ${err instanceof Error ? err.message : String(err)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port ?? 7233;
  const uiPort = opts.uiPort ?? 8233;
  mkdirSync(opts.dataDir, { recursive: true });
  const args = [
    'server', 'start-dev',
    '--db-filename', path.join(opts.dataDir, 'temporal.sqlite'),
    '--ip', ip,
    '--port', String(port),
    '--namespace', opts.namespace ?? 'default',
    '--log-level', 'warn',
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
    ...(uiPort ? ['--ui-ip', ip, '--ui-port', String(uiPort)] : ['--headless']),
  ];
  const log = openSync(path.join(opts.dataDir, 'temporal.log'), 'a');
  const child = spawn(opts.cli, args, { stdio: ['ignore', log, log] });
  try {
    await waitForPort(ip, port, 60_000, child);
    await waitForFrontend(`${ip}:${port}`, 60_000, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address: `${ip}:${port}`,
    uiUrl: uiPort ? `http://${ip}:${uiPort}` : undefined,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
