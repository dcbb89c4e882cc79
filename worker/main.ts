/**
 * `npm start`: the whole service in one process tree.
 *   - Temporal: the embedded dev server (SQLite in the data dir, Web UI on 8233), or, with TEMPORAL_*
 *     settings, an existing cluster / Temporal Cloud (then no server is started);
 *   - the worker (runbook workflows + SSH activities);
 *   - the HTTP API.
 * Ctrl-C stops all three; the next start resumes unfinished runs (they are in Temporal's database).
 * The embedded server dies with this process however it ends (worker/keeper.ts); when the server ends
 * first, the service stops at once with exit code 1 and says why.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectConfig, usesExternalTemporal } from '../client/connection';
import { checkKeyFiles } from '../activities/key-files';
import { configPathFrom, ConfigError, loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import type { ApiTokens } from './http';
import { REPO_ROOT, temporalBinaries } from './binaries';
import { DevServer, DevServerError, startDevServer } from './devserver';
import { DataDirError } from './keeper';

/** What `npm start` prints is the service's own lines; the SDK and its core say only warnings and errors (MEDIC_SDK_LOG=INFO etc. for more). */
const SDK_LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;

/**
 * The Temporal libraries, the worker, the API and the workflow code (the build-time bundle, checked):
 * a few hundred ms of loading, done while the embedded server boots (startDevServer's `booting`).
 */
async function loadService() {
  const [{ Client }, { DefaultLogger, NativeConnection, Runtime }, { createApi }, { createWorker }, { workflowCode }, { enableEagerStart }] = await Promise.all([
    import('@temporalio/client'),
    import('@temporalio/worker'),
    import('./api'),
    import('./worker'),
    import('./bundle'),
    import('../client/runbooks'),
  ]);
  const asked = (process.env.MEDIC_SDK_LOG ?? 'WARN').toUpperCase();
  const level = (SDK_LOG_LEVELS as readonly string[]).includes(asked) ? (asked as (typeof SDK_LOG_LEVELS)[number]) : 'WARN';
  Runtime.install({ logger: new DefaultLogger(level), telemetryOptions: { logging: { forward: {}, filter: level } } });
  const workflows = workflowCode(undefined, (line) => console.log(`medic: ${line}`));
  return { Client, NativeConnection, createApi, createWorker, workflows, enableEagerStart };
}

function chooseConfigFile(): string {
  const explicit = process.argv.includes('--config') || process.env.MEDIC_CONFIG;
  const file = configPathFrom(process.argv);
  if (explicit || existsSync(file)) return file;
  const example = path.join(REPO_ROOT, 'config', 'medic.example.yaml');
  console.log(`medic: no ${file}; using the example configuration ${example} (copy it to medic.yaml and edit the inventory)`);
  return example;
}

/** Tokens from the configuration, else generated once and kept (mode 0600) in the data dir. */
function apiTokens(config: Config): { tokens: ApiTokens; file?: string } {
  if (config.api.webhookToken && config.api.operatorToken) return { tokens: { webhook: config.api.webhookToken, operator: config.api.operatorToken } };
  const file = path.join(config.service.dataDir, 'api-tokens.json');
  let stored: Partial<ApiTokens> = {};
  if (existsSync(file)) stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<ApiTokens>;
  const tokens: ApiTokens = {
    webhook: config.api.webhookToken ?? stored.webhook ?? randomBytes(24).toString('hex'),
    operator: config.api.operatorToken ?? stored.operator ?? randomBytes(24).toString('hex'),
  };
  writeFileSync(file, JSON.stringify(tokens, null, 2), { mode: 0o600 });
  return { tokens, file };
}

async function main(): Promise<void> {
  const config = loadConfig(chooseConfigFile());
  // Before anything starts: an SSH key readable by others refuses the start; a missing one is said.
  for (const missing of checkKeyFiles(config.inventory)) console.log(`medic: ${missing}; commands to ${/^hosts /.test(missing) ? 'those hosts' : 'that host'} fail until it exists`);
  mkdirSync(config.service.dataDir, { recursive: true });

  let stopping = false;
  let server: DevServer | undefined;
  let service: ReturnType<typeof loadService> | undefined;
  const load = () => (service ??= loadService());
  const external = usesExternalTemporal();
  if (!external) {
    server = await startDevServer({
      cli: temporalBinaries().cli,
      dataDir: config.service.dataDir,
      port: Number(process.env.MEDIC_TEMPORAL_PORT ?? 7233),
      uiPort: Number(process.env.MEDIC_UI_PORT ?? 8233),
      // Loading the rest overlaps the server's boot; a failure is reported where it is awaited.
      booting: () => void load().catch(() => undefined),
    });
    void server.exited.then((e) => {
      if (e.expected || stopping) return;
      console.error(`medic: ${e.message}`);
      console.error('medic: stopping (exit code 1)');
      process.exit(1);
    });
  }
  const { Client, NativeConnection, createApi, createWorker, workflows, enableEagerStart } = await load();
  const { connectionOptions, namespace: envNamespace } = connectConfig(process.env, server?.address);
  const namespace = envNamespace ?? config.service.namespace;
  const nativeConnection = await NativeConnection.connect(connectionOptions);
  // The API's client shares the worker's connection, so that its starts ask for eager workflow start: the
  // server hands the run's first workflow task back in the start's answer, to this worker (test/bench:
  // alert to first command p50 95 -> 47 ms on the bench lab).
  const client = new Client({ connection: nativeConnection, namespace });
  enableEagerStart(client);

  const worker = await createWorker(nativeConnection, config, { namespace, client, workflows });
  const workerDone = worker.run();

  const { tokens, file } = apiTokens(config);
  const api = createApi(client, config, tokens);
  const [host, port] = [config.api.listen.slice(0, config.api.listen.lastIndexOf(':')), Number(config.api.listen.slice(config.api.listen.lastIndexOf(':') + 1))];
  await new Promise<void>((resolve) => api.listen(port, host.replace(/^\[|\]$/g, ''), resolve));
  const addr = api.address();
  const apiUrl = typeof addr === 'object' && addr ? `http://${host}:${addr.port}` : config.api.listen;

  console.log(`medic: Temporal ${external ? `at ${connectionOptions.address} (external)` : `embedded at ${server?.address}, data in ${config.service.dataDir}`}`);
  if (server?.uiUrl) console.log(`medic: Web UI ${server.uiUrl}`);
  console.log(`medic: API ${apiUrl}${file ? ` (tokens in ${file})` : ''}`);
  console.log(`medic: worker on task queue ${config.service.taskQueue}, namespace ${namespace}; Ctrl-C stops`);
  // The fast part of `medic doctor` (client/doctor.ts), in the background once the API is up: a wrong host key,
  // an unreachable host or a refused login is said now, not at the first incident. Never stops the service.
  void import('../client/doctor')
    .then(({ runDoctor }) => runDoctor(config, { fast: true, connectTimeoutSeconds: 5 }))
    .then((results) => {
      for (const r of results.filter((x) => !x.ok)) console.log(`medic: doctor: ${r.host ? `${r.host}: ` : ''}${r.detail}${r.fix ? `; fix: ${r.fix}` : ''}`);
    })
    .catch((err: unknown) => console.log(`medic: doctor: could not run: ${err instanceof Error ? err.message : String(err)}`));

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`medic: ${signal}: stopping`);
    api.close();
    worker.shutdown();
    await workerDone.catch(() => undefined);
    await nativeConnection.close();
    if (server) await server.stop();
    console.log('medic: stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  await workerDone;
}

main().catch((err: unknown) => {
  if (err instanceof DevServerError || err instanceof DataDirError) console.error(`medic: ${err.message}`);
  else console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
