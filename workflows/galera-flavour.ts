/**
 * manticore-cluster flavours: the commands that survey, start and bootstrap a node of a Galera cluster,
 * for Manticore Search (the default) and MariaDB. Pure: argv arrays (SQL on stdin, never in argv) and
 * parsers of their output; the workflow runs them with Run.step.
 */
import type { RemoteCommand } from '../activities/command-line';
import type { GaleraClusterConfig, Paths } from '../config/schema';
import { type GaleraStatus, type Grastate, parseClusterStatus, parseWsrepStatus } from '../parsers/galera';
import type { Parsed } from '../parsers/result';

export interface Flavour {
  name: 'manticore' | 'mariadb';
  isActive: RemoteCommand;
  grastate: RemoteCommand;
  status: RemoteCommand;
  parseStatus(text: string): Parsed<GaleraStatus>;
  /** The component's members as the node lists them (text only), from the status rows. */
  viewOf(s: GaleraStatus): string | undefined;
  /** Commands whose last output holds "WSREP: Recovered position" of a stopped node (the last one is read). */
  recover: RemoteCommand[];
  start: RemoteCommand;
  /** Start a new primary component from this (stopped) node; `force` for case 6. */
  bootstrap(force: boolean, grastate: Grastate | undefined): RemoteCommand[];
  /** Make the running node's non-primary component primary (cases 5 and 7). */
  pcBootstrap: RemoteCommand;
}

export function flavourOf(cluster: string, c: GaleraClusterConfig, p: Paths): Flavour {
  const sql = (stdin: string): RemoteCommand => ({ argv: [p.mysql, '-h', c.sqlHost, '-P', String(c.sqlPort), ...(c.sqlUser ? ['-u', c.sqlUser] : [])], stdin });
  const common = {
    isActive: { argv: [p.systemctl, 'is-active', c.unit] },
    grastate: { argv: [p.cat, c.grastatePath] },
    start: { argv: [p.systemctl, 'start', c.unit] },
  };
  if (c.flavour === 'mariadb') {
    const log = c.logPath ?? '/var/lib/mysql/wsrep-recover.log';
    return {
      name: 'mariadb',
      ...common,
      status: sql(`SHOW STATUS LIKE 'wsrep_%';\n`),
      parseStatus: parseWsrepStatus,
      viewOf: (s) => sortedList(s.raw.wsrep_incoming_addresses),
      recover: [{ argv: [p.mariadbd, '--user=mysql', '--wsrep-recover', `--log-error=${log}`] }, { argv: [p.cat, log] }],
      bootstrap: (force, g) =>
        force && g
          ? [
              // MariaDB has no --force: grastate.dat is rewritten with safe_to_bootstrap: 1 (tee keeps its owner), then the usual bootstrap.
              { argv: [p.tee, c.grastatePath], stdin: `# GALERA saved state\nversion: ${g.version}\nuuid:    ${g.uuid}\nseqno:   -1\nsafe_to_bootstrap: 1\n` },
              { argv: [p.galeraNewCluster] },
            ]
          : [{ argv: [p.galeraNewCluster] }],
      pcBootstrap: sql(`SET GLOBAL wsrep_provider_options='pc.bootstrap=YES';\n`),
    };
  }
  return {
    name: 'manticore',
    ...common,
    status: sql(`SHOW STATUS LIKE 'cluster_${cluster}_%'\n`),
    parseStatus: (text) => parseClusterStatus(text, cluster),
    viewOf: (s) => sortedList(s.raw[`cluster_${cluster}_nodes_view`]),
    recover: c.logPath ? [{ argv: [p.cat, c.logPath] }] : [],
    bootstrap: (force) => [{ argv: [p.manticoreNewCluster, ...(force ? ['--force'] : [])] }],
    pcBootstrap: sql(`SET CLUSTER ${cluster} GLOBAL 'pc.bootstrap' = 1\n`),
  };
}

function sortedList(v: string | undefined): string | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  return v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .sort()
    .join(',');
}
