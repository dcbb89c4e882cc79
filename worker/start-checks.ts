/**
 * The checks a worker process makes as it starts (`npm start`, `medic worker`), before any incident needs
 * the hosts. Light to load: main.ts runs them while the embedded server boots.
 */
import { checkKeyFiles } from '../activities/key-files';
import type { Config } from '../config/schema';

/** Before anything starts: an SSH key readable by others refuses the start (checkKeyFiles throws); a missing one is said. */
export function sayMissingKeyFiles(config: Config): void {
  for (const missing of checkKeyFiles(config.inventory)) console.log(`medic: ${missing}; commands to ${/^hosts /.test(missing) ? 'those hosts' : 'that host'} fail until it exists`);
}

/**
 * The fast part of `medic doctor` (client/doctor.ts), in the background: a wrong host key, an unreachable
 * host or a refused login is said now, not at the first incident. Never stops the process.
 */
export function doctorInBackground(config: Config): void {
  void import('../client/doctor')
    .then(({ runDoctor }) => runDoctor(config, { fast: true, connectTimeoutSeconds: 5 }))
    .then((results) => {
      for (const r of results.filter((x) => !x.ok)) console.log(`medic: doctor: ${r.host ? `${r.host}: ` : ''}${r.detail}${r.fix ? `; fix: ${r.fix}` : ''}`);
    })
    .catch((err: unknown) => console.log(`medic: doctor: could not run: ${err instanceof Error ? err.message : String(err)}`));
}
