/**
 * The Temporal server configuration of one node of the project's cluster (pure: the values in, the YAML out).
 * Every node runs all four services (frontend, history, matching, worker) on its own loopback address, with
 * the same ports on each address; membership goes through the shared database (ringpop seeds from the
 * cluster_membership table), so nodes find each other with no seed list. Persistence and advanced
 * visibility are PostgreSQL (plugin postgres12). Optional TLS on the frontend: server certificate, client
 * certificates required (mTLS), and the node's own system worker presenting a client certificate.
 */
import { stringify } from 'yaml';

export const SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** One port per service for gRPC and one for membership (plus the frontend's HTTP API), the same on every node. */
export interface ClusterPorts {
  grpc: Record<ServiceName, number>;
  membership: Record<ServiceName, number>;
  frontendHttp: number;
}

export interface DatabaseSettings {
  host: string;
  port: number;
  user: string;
  /** The password goes into the node's config file (mode 0600), never into an argv or a log line. */
  password: string;
  database: string;
  visibilityDatabase: string;
}

export interface FrontendTls {
  /** The frontend's certificate and key, and the CA its clients' certificates must be signed by. */
  serverCert: string;
  serverKey: string;
  caCert: string;
  /** A client certificate of that CA for the node's own system worker (it calls the frontend too). */
  internalClientCert: string;
  internalClientKey: string;
  /** The name in the server certificate that clients check (e.g. "localhost"). */
  serverName: string;
}

export interface NodeSettings {
  ip: string;
  ports: ClusterPorts;
  shards: number;
  db: DatabaseSettings;
  dynamicConfigFile: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  tls?: FrontendTls;
}

function sqlStore(db: DatabaseSettings, database: string, maxConns: number) {
  return {
    sql: {
      pluginName: 'postgres12',
      databaseName: database,
      connectAddr: `${db.host}:${db.port}`,
      connectProtocol: 'tcp',
      user: db.user,
      password: db.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  };
}

export function nodeConfig(n: NodeSettings): string {
  const services = Object.fromEntries(
    SERVICES.map((s) => [
      s,
      { rpc: { grpcPort: n.ports.grpc[s], membershipPort: n.ports.membership[s], bindOnIP: n.ip, ...(s === 'frontend' ? { httpPort: n.ports.frontendHttp } : {}) } },
    ]),
  );
  const frontend = `${n.ip}:${n.ports.grpc.frontend}`;
  const client = n.tls ? { serverName: n.tls.serverName, rootCaFiles: [n.tls.caCert] } : undefined;
  const config = {
    log: { stdout: true, level: n.logLevel ?? 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: n.shards,
      datastores: {
        'postgres-default': sqlStore(n.db, n.db.database, 20),
        'postgres-visibility': sqlStore(n.db, n.db.visibilityDatabase, 4),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: n.ip },
      ...(n.tls
        ? {
            tls: {
              frontend: {
                server: { certFile: n.tls.serverCert, keyFile: n.tls.serverKey, requireClientAuth: true, clientCaFiles: [n.tls.caCert] },
                client,
              },
              systemWorker: { certFile: n.tls.internalClientCert, keyFile: n.tls.internalClientKey, client },
            },
          }
        : {}),
    },
    services,
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: frontend } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    // The node's system worker reaches the cluster through its own node's frontend.
    publicClient: { hostPort: frontend },
    dynamicConfigClient: { filepath: n.dynamicConfigFile, pollInterval: '10s' },
  };
  return stringify(config);
}

/**
 * Dynamic config shared by the nodes (the file's format: each key a list of {value, constraints}). The same
 * two latency settings as the embedded dev server (worker/devserver.ts says why): eager activity dispatch,
 * and timers that fire on time.
 */
export const CLUSTER_DYNAMIC_CONFIG: Readonly<Record<string, unknown>> = {
  'system.enableActivityEagerExecution': true,
  'history.timerProcessorMaxTimeShift': '1ms',
};

export function dynamicConfig(values: Readonly<Record<string, unknown>> = CLUSTER_DYNAMIC_CONFIG): string {
  return stringify(Object.fromEntries(Object.entries(values).map(([k, v]) => [k, [{ value: v, constraints: {} }]])));
}
