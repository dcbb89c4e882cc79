/**
 * The whole service for integration tests: a lab scenario behind real sshd, the embedded dev server
 * (headless, on free loopback ports, its own SQLite file), the worker and the HTTP API.
 */
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import { freePort, labUp, LabHandle } from '../../lab/lab';
import { createApi } from '../../worker/api';
import { temporalBinaries } from '../../worker/binaries';
import { DevServer, startDevServer } from '../../worker/devserver';
import { createWorker } from '../../worker/worker';
import { quietRuntime, workflowBundle } from './temporal';

/** A port free now, drawn below the ephemeral range (lab/lab.ts). */
export { freePort };

/** The HTTP API on a free loopback port, with the config's tokens (or fixed test ones). */
export async function listenApi(client: Client, config: Config): Promise<{ api: http.Server; apiUrl: string; tokens: { webhook: string; operator: string } }> {
  const tokens = { webhook: config.api.webhookToken ?? 'w'.repeat(32), operator: config.api.operatorToken ?? 'o'.repeat(32) };
  const api: http.Server = createApi(client, config, tokens);
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  return { api, apiUrl: `http://127.0.0.1:${(api.address() as net.AddressInfo).port}`, tokens };
}

export interface Service {
  lab: LabHandle;
  config: Config;
  server: DevServer;
  client: Client;
  apiUrl: string;
  tokens: { webhook: string; operator: string };
  stop(): Promise<void>;
}

export async function startService(scenario: string, extraConfig: Record<string, unknown> = {}): Promise<Service> {
  quietRuntime();
  const [labR, serverR] = await Promise.allSettled([
    labUp({ scenario, extraConfig }),
    freePort().then((port) => startDevServer({ cli: temporalBinaries().cli, dataDir: mkdtempSync(path.join(os.tmpdir(), 'medic-temporal-')), port, uiPort: 0 })),
  ]);
  if (labR.status === 'rejected' || serverR.status === 'rejected') {
    await Promise.all([labR.status === 'fulfilled' && labR.value.down(), serverR.status === 'fulfilled' && serverR.value.stop()]);
    throw labR.status === 'rejected' ? labR.reason : (serverR as PromiseRejectedResult).reason;
  }
  const [lab, server] = [labR.value, serverR.value];
  try {
    return await serve(lab, server);
  } catch (err) {
    // A failed start must not leave sshd nodes and a dev server behind (they keep the test process alive).
    await Promise.all([server.stop(), lab.down()]);
    throw err;
  }
}

async function serve(lab: LabHandle, server: DevServer): Promise<Service> {
  const config = loadConfig(lab.configPath);
  const native = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: config.service.namespace });
  const worker: Worker = await createWorker(native, config, { workflowBundle: await workflowBundle(), client });
  const running = worker.run();
  const { api, apiUrl, tokens } = await listenApi(client, config);
  return {
    lab,
    config,
    server,
    client,
    apiUrl,
    tokens,
    async stop() {
      api.close();
      worker.shutdown();
      await running.catch(() => undefined);
      await native.close();
      await connection.close();
      await Promise.all([server.stop(), lab.down()]);
    },
  };
}
