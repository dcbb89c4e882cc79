/**
 * The HTTP API on its listen address, for `npm start` (worker/main.ts) and `medic api` (this file's
 * runApiProcess: the API alone, against the Temporal the TEMPORAL_* settings name; it keeps no state of its
 * own, so any number of them can stand behind a load balancer). Tokens come from the configuration, else
 * are generated once into the data dir (mode 0600), so that every API process on one host answers to the same.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { connectConfig, connectOrExplain, describeTarget } from '../client/connection';
import type { Config } from '../config/schema';
import { createApi } from './api';
import type { ApiTokens } from './http';
import { onStopSignal } from './stop-signals';

/** Tokens from the configuration, else generated once and kept (mode 0600) in the data dir. */
export function apiTokens(config: Config): { tokens: ApiTokens; file?: string } {
  if (config.api.webhookToken && config.api.operatorToken) return { tokens: { webhook: config.api.webhookToken, operator: config.api.operatorToken } };
  const file = path.join(config.service.dataDir, 'api-tokens.json');
  let stored: Partial<ApiTokens> = {};
  if (existsSync(file)) stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<ApiTokens>;
  const tokens: ApiTokens = {
    webhook: config.api.webhookToken ?? stored.webhook ?? randomBytes(24).toString('hex'),
    operator: config.api.operatorToken ?? stored.operator ?? randomBytes(24).toString('hex'),
  };
  mkdirSync(config.service.dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify(tokens, null, 2), { mode: 0o600 });
  return { tokens, file };
}

/** `api.listen` (`host:port`, `[::1]:8480`): the host as written (brackets kept, for the URL) and the port. */
export function listenAddress(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  return { host: listen.slice(0, colon), port: Number(listen.slice(colon + 1)) };
}

/** The API listening; `url` has the port it got (`api.listen` may say 0). */
export async function serveApi(client: Client, config: Config): Promise<{ api: http.Server; url: string; tokensFile?: string }> {
  const { tokens, file } = apiTokens(config);
  const api = createApi(client, config, tokens);
  if (Object.keys(config.api.operators).length === 0) console.log('medic: no api.operators: nobody can decide through the API (README "Operators and approvals")');
  const { host, port } = listenAddress(config.api.listen);
  await new Promise<void>((resolve, reject) => {
    api.once('error', reject);
    api.listen(port, host.replace(/^\[|\]$/g, ''), () => {
      api.off('error', reject);
      resolve();
    });
  });
  const addr = api.address();
  const url = typeof addr === 'object' && addr ? `http://${host}:${addr.port}` : config.api.listen;
  return { api, url, tokensFile: file };
}

/** Stops taking connections and ends the idle keep-alive ones; resolves when the server is closed. */
export function closeApi(api: http.Server): Promise<void> {
  return new Promise((resolve) => {
    api.close(() => resolve());
    api.closeIdleConnections();
  });
}

/** `medic api`: serves until SIGTERM / SIGINT, then lets the requests under way finish; resolves with the exit code (0). */
export async function runApiProcess(config: Config): Promise<number> {
  const { connectionOptions, namespace: envNamespace } = connectConfig();
  const namespace = envNamespace ?? config.service.namespace;
  const connection = await connectOrExplain(connectionOptions, (o) => Connection.connect(o));
  try {
    const { api, url, tokensFile } = await serveApi(new Client({ connection, namespace }), config);
    console.log(`medic: API ${url}${tokensFile ? ` (tokens in ${tokensFile})` : ''}`);
    console.log(`medic: Temporal at ${describeTarget(connectionOptions)}, namespace ${namespace}; SIGTERM stops`);
    const signal = await new Promise<string>((resolve) => onStopSignal(resolve));
    console.log(`medic: ${signal}: stopping`);
    await closeApi(api);
    console.log('medic: stopped');
    return 0;
  } finally {
    await connection.close();
  }
}
