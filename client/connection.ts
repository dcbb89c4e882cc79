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

type ConnectionOptions = ClientConnectConfig['connectionOptions'];

/** How the connection is secured, in the words an operator checks: none, server TLS, mTLS with client cert; plus an API key. */
export function tlsMode(options: ConnectionOptions): string {
  const tls = options.tls;
  const mode = !tls ? 'none' : typeof tls === 'object' && tls.clientCertPair ? 'mTLS with client cert' : 'server TLS';
  const details = typeof tls === 'object' && tls ? [tls.serverRootCACertificate ? 'own CA' : '', tls.serverNameOverride ? `server name ${tls.serverNameOverride}` : ''].filter(Boolean) : [];
  return `${mode}${details.length ? ` (${details.join(', ')})` : ''}${options.apiKey ? ', API key' : ''}`;
}

/** Where and how a process talks to Temporal, for its start-up line: `127.0.0.1:7233 (TLS: none)`. */
export function describeTarget(options: ConnectionOptions): string {
  return `${options.address ?? EMBEDDED_ADDRESS} (TLS: ${tlsMode(options)})`;
}

/** Temporal did not answer: the message names the address and the TLS mode, in one line. */
export class TemporalUnreachable extends Error {}

/**
 * The SDK's connect (client Connection or worker NativeConnection), with a failure that says where it
 * tried and how, instead of the SDK's bare "Failed to connect before the deadline".
 */
export async function connectOrExplain<T>(options: ConnectionOptions, connect: (options: ConnectionOptions) => Promise<T>): Promise<T> {
  try {
    return await connect(options);
  } catch (err) {
    // The worker's core says `tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connect error", ..., Os { ..., message: "Connection refused" })))`.
    const raw = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
    const core = /ConnectError\("([^"]+)".*message: "([^"]+)"/.exec(raw);
    const why = core ? `${core[1]}: ${core[2]}` : raw;
    throw new TemporalUnreachable(`cannot connect to Temporal at ${describeTarget(options)}: ${why}`);
  }
}
