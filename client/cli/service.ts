/**
 * The commands that set up and run the service (deploy/README.md): `doctor` before the incident,
 * `setup` once per namespace, then `worker` and `api`, each as many as needed. The worker and the API
 * are loaded only when asked for (the worker loads the SDK's native part).
 */
import { Connection } from '@temporalio/client';
import type { Config } from '../../config/schema';
import { connectConfig, connectOrExplain } from '../connection';
import { formatDoctor, formatScan, runDoctor, scanHostKeys, scanTarget } from '../doctor';
import { EXIT, usageError } from './exit';
import { print } from './format';

export async function doctor(config: Config, opts: { json?: boolean; notify?: boolean }): Promise<number> {
  const results = await runDoctor(config, { notify: opts.notify === true });
  print(opts.json, formatDoctor(results), results);
  return results.every((r) => r.ok) ? EXIT.ok : EXIT.failed;
}

/** `medic doctor --scan HOST`: an address needs no configuration, an inventory name does (`config` absent: none could be read). */
export async function scan(config: Config | undefined, host: string, opts: { json?: boolean }): Promise<number> {
  let target;
  try {
    target = scanTarget(config, host);
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const keys = await scanHostKeys(target.address, target.port);
  print(opts.json, `${target.note ? `# ${target.note}\n` : ''}${formatScan(target.address, target.port, keys)}`, { address: target.address, port: target.port, trusted: false, keys });
  return keys.length ? EXIT.ok : EXIT.failed;
}

export async function setup(config: Config, opts: { json?: boolean; retention: string }): Promise<number> {
  const { formatSetup, parseRetention, setupTemporal } = await import('../setup');
  try {
    parseRetention(opts.retention);
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const { connectionOptions, namespace } = connectConfig();
  const connection = await connectOrExplain(connectionOptions, (o) => Connection.connect(o));
  try {
    const result = await setupTemporal(connection, namespace ?? config.service.namespace, { retention: opts.retention });
    print(opts.json, formatSetup(result), result);
    return EXIT.ok;
  } finally {
    await connection.close();
  }
}

export async function worker(config: Config): Promise<number> {
  return (await (await import('../../worker/serve-worker')).runWorkerProcess(config));
}

export async function api(config: Config): Promise<number> {
  return (await (await import('../../worker/serve-api')).runApiProcess(config));
}
