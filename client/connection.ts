/**
 * Where Temporal is. With any of the standard TEMPORAL_* settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE, read by @temporalio/envconfig)
 * the service connects there and starts no server; without them it runs its embedded dev server.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { ClientConnectConfig } from '@temporalio/envconfig';

export const EMBEDDED_ADDRESS = '127.0.0.1:7233';

export function usesExternalTemporal(env: NodeJS.ProcessEnv = process.env): boolean {
  return Object.keys(env).some((k) => k === 'TEMPORAL_ADDRESS' || k === 'TEMPORAL_PROFILE' || k === 'TEMPORAL_CONFIG_FILE' || k === 'TEMPORAL_API_KEY');
}

export function connectConfig(env: NodeJS.ProcessEnv = process.env, fallbackAddress = EMBEDDED_ADDRESS): ClientConnectConfig {
  const cfg = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  if (!env.TEMPORAL_ADDRESS && !usesExternalTemporal(env)) cfg.connectionOptions.address = fallbackAddress;
  return cfg;
}
