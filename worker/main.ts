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
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { connectConfig, connectOrExplain, TemporalUnreachable, usesExternalTemporal } from '../client/connection';
import { configPathFrom, ConfigError, loadConfig } from '../config/load';
import { REPO_ROOT, temporalBinaries } from './binaries';
import { DevServer, DevServerError, startDevServer } from './devserver';
import { DataDirError } from './keeper';
import { doctorInBackground, sayMissingKeyFiles } from './start-checks';

/**
 * The Temporal libraries, the worker, the API and the workflow code (the build-time bundle, checked):
 * a few hundred ms of loading, done while the embedded server boots (startDevServer's `booting`).
 * What `npm start` prints is the service's own lines (serve-worker.ts installSdkRuntime).
 */
async function loadService() {
  const [{ Client }, { NativeConnection }, { serveApi }, { createWorker }, { workflowCode }, { enableEagerStart }, { installSdkRuntime }] = await Promise.all([
    import('@temporalio/client'),
    import('@temporalio/worker'),
    import('./serve-api'),
    import('./worker'),
    import('./bundle'),
    import('../client/runbooks'),
    import('./serve-worker'),
  ]);
  installSdkRuntime();
  const workflows = workflowCode(undefined, (line) => console.log(`medic: ${line}`));
  return { Client, NativeConnection, serveApi, createWorker, workflows, enableEagerStart };
}

function chooseConfigFile(): string {
  const explicit = process.argv.includes('--config') || process.env.MEDIC_CONFIG;
  const file = configPathFrom(process.argv);
  if (explicit || existsSync(file)) return file;
  const example = path.join(REPO_ROOT, 'config', 'medic.example.yaml');
  console.log(`medic: no ${file}; using the example configuration ${example} (copy it to medic.yaml and edit the inventory)`);
  return example;
}

async function main(): Promise<void> {
  const config = loadConfig(chooseConfigFile());
  sayMissingKeyFiles(config);
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
  const { Client, NativeConnection, serveApi, createWorker, workflows, enableEagerStart } = await load();
  const { connectionOptions, namespace: envNamespace } = connectConfig(process.env, server?.address);
  const namespace = envNamespace ?? config.service.namespace;
  const nativeConnection = await connectOrExplain(connectionOptions, (o) => NativeConnection.connect(o));
  // The API's client shares the worker's connection, so that its starts ask for eager workflow start: the
  // server hands the run's first workflow task back in the start's answer, to this worker (test/bench:
  // alert to first command p50 95 -> 47 ms on the bench lab).
  const client = new Client({ connection: nativeConnection, namespace });
  enableEagerStart(client);

  const worker = await createWorker(nativeConnection, config, { namespace, client, workflows });
  const workerDone = worker.run();

  const { api, url: apiUrl, tokensFile: file } = await serveApi(client, config);

  console.log(`medic: Temporal ${external ? `at ${connectionOptions.address} (external)` : `embedded at ${server?.address}, data in ${config.service.dataDir}`}`);
  if (server?.uiUrl) console.log(`medic: Web UI ${server.uiUrl}`);
  console.log(`medic: API ${apiUrl} (console ${apiUrl}/console)${file ? ` (tokens in ${file})` : ''}`);
  console.log(`medic: worker on task queue ${config.service.taskQueue}, namespace ${namespace}; Ctrl-C stops`);
  doctorInBackground(config);

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
  if (err instanceof DevServerError || err instanceof DataDirError || err instanceof TemporalUnreachable) console.error(`medic: ${err.message}`);
  else console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
