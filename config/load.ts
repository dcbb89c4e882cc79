import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { Config, ConfigSchema } from './schema';

export class ConfigError extends Error {}

/** Where the configuration is: `--config FILE`, else $MEDIC_CONFIG, else ./medic.yaml. */
export function configPathFrom(argv: string[], env: NodeJS.ProcessEnv = process.env): string {
  const i = argv.indexOf('--config');
  if (i >= 0 && argv[i + 1]) return path.resolve(argv[i + 1]);
  return path.resolve(env.MEDIC_CONFIG ?? 'medic.yaml');
}

/** Validates a parsed document; errors name the file, the path in it and what was expected. */
export function parseConfig(doc: unknown, file: string): Config {
  const result = ConfigSchema.safeParse(doc ?? {});
  if (result.success) return result.data;
  throw new ConfigError(`${file}: invalid configuration:\n${formatIssues(result.error)}`);
}

export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `  at ${issue.path.length ? issue.path.map(String).join('.') : '(top level)'}: ${issue.message}`)
    .join('\n');
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read the configuration: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  const config = parseConfig(doc, file);
  // Relative paths in the file are relative to the file, not to wherever the service was started.
  const base = path.dirname(file);
  config.service.dataDir = path.resolve(base, config.service.dataDir);
  // `~/` is the home directory of the user the service runs as (known_hosts files live there).
  const at = (p: string) => (p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : path.resolve(base, p));
  if (config.api.decisionKeyFile !== undefined) config.api.decisionKeyFile = at(config.api.decisionKeyFile);
  for (const o of Object.values(config.api.operators)) if (o.credentialFile !== undefined) o.credentialFile = at(o.credentialFile);
  for (const host of Object.values(config.inventory.hosts)) {
    if (host.keyFile !== undefined) host.keyFile = at(host.keyFile);
    if (host.keyPassphraseFile !== undefined) host.keyPassphraseFile = at(host.keyPassphraseFile);
    host.knownHostsFiles = host.knownHostsFiles.map(at);
    if (typeof host.agent === 'string') host.agent = at(host.agent);
  }
  return config;
}
