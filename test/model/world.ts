/**
 * What happens to the fleet outside the service, for the model-based tests: Galera nodes crash or stop,
 * the cluster keeps committing, every node's data is restored from an older backup; the controller replica
 * dies or takes the main role too; the KUST replica stops replicating. Each event changes the in-memory
 * LabState the way the lab's own model would (a crash loses quorum when the rest is not a majority), and
 * says what it did ("" when it does not apply now).
 */
import { TOOLS } from '../../lab/tools/registry';
import { syncManticoreFiles } from '../../lab/tools/manticore';
import type { LabState, ManticoreCluster } from '../../lab/types';

export type WorldEvent =
  | { kind: 'galera-crash'; node: string }
  | { kind: 'galera-stop'; node: string }
  /** Every running node crashes at once (a power loss); `restoreBack`: their disks come back from a snapshot that much older. */
  | { kind: 'galera-outage'; restoreBack?: number }
  | { kind: 'galera-commit'; n: number }
  /** Someone bootstraps by hand, outside the service: `manticore_new_cluster --force` on the freshest node, only with no primary anywhere. */
  | { kind: 'galera-bootstrap-by-hand' }
  | { kind: 'galera-restore'; back: number }
  | { kind: 'ctlr-replica-dies' }
  | { kind: 'ctlr-split-brain' }
  | { kind: 'kust-replfailed' };

export const describeEvent = (e: WorldEvent): string => Object.values(e).join(' ');

const running = (s: LabState, c: ManticoreCluster, n: string) => s.nodes[n]?.units[c.unit]?.active === 'active';
const primaries = (s: LabState, c: ManticoreCluster) => Object.keys(c.nodes).filter((n) => running(s, c, n) && c.nodes[n].component === 'primary');

/** The one Galera cluster of a model world (its name changes per generated sequence). */
export function galera(s: LabState): [string, ManticoreCluster] {
  const [entry] = Object.entries(s.manticore.clusters);
  return entry;
}

export function applyEvent(s: LabState, e: WorldEvent): string {
  const done = e.kind.startsWith('galera') ? galeraEvent(s, e) : e.kind.startsWith('ctlr') ? ctlrEvent(s, e) : kustEvent(s);
  syncManticoreFiles(s);
  return done;
}

function galeraEvent(s: LabState, e: WorldEvent): string {
  const [name, c] = galera(s);
  const before = primaries(s, c);
  let done = '';
  if (e.kind === 'galera-crash' && running(s, c, e.node)) {
    const x = c.nodes[e.node];
    if (x.component === 'primary') x.recovered = c.lastCommitted;
    Object.assign(x, { component: 'non-primary', seqno: -1, safeToBootstrap: 0, joinPolls: 0, gvwstate: true });
    s.nodes[e.node].units[c.unit].active = 'failed';
    const rest = before.filter((n) => n !== e.node);
    // A component that lost its majority by a crash (not a graceful leave) stops being primary.
    if (before.includes(e.node) && rest.length * 2 <= before.length) {
      for (const n of rest) Object.assign(c.nodes[n], { component: 'non-primary', recovered: c.lastCommitted, gvwstate: true });
    }
    done = `${e.node} crashed at position ${x.recovered}`;
  } else if (e.kind === 'galera-outage' && Object.keys(c.nodes).some((n) => running(s, c, n))) {
    const down = Object.keys(c.nodes).filter((n) => running(s, c, n));
    for (const node of down) galeraEvent(s, { kind: 'galera-crash', node });
    done = `power loss: ${down.join(', ')} crashed`;
    if (e.restoreBack) done += `; ${galeraEvent(s, { kind: 'galera-restore', back: e.restoreBack })}`;
  } else if (e.kind === 'galera-stop' && running(s, c, e.node)) {
    TOOLS.systemctl({ dir: '/nonexistent', node: e.node, tool: 'systemctl', argv: ['stop', c.unit], state: s, now: Date.now() });
    done = `${e.node} stopped at seqno ${c.nodes[e.node].seqno}`;
  } else if (e.kind === 'galera-bootstrap-by-hand' && !before.length) {
    const node = Object.keys(c.nodes).reduce((a, b) => (c.nodes[b].recovered > c.nodes[a].recovered ? b : a));
    if (running(s, c, node)) TOOLS.systemctl({ dir: '/nonexistent', node, tool: 'systemctl', argv: ['stop', c.unit], state: s, now: Date.now() });
    const r = TOOLS.manticore_new_cluster({ dir: '/nonexistent', node, tool: 'manticore_new_cluster', argv: ['--force'], state: s, now: Date.now() });
    done = `an operator bootstrapped ${node} by hand (position ${c.lastCommitted}, exit ${r.code})`;
  } else if (e.kind === 'galera-commit' && before.length) {
    c.lastCommitted += e.n;
    done = `${e.n} transactions committed (position ${c.lastCommitted})`;
  } else if (e.kind === 'galera-restore' && Object.keys(c.nodes).every((n) => !running(s, c, n))) {
    for (const x of Object.values(c.nodes)) {
      x.recovered = Math.max(0, x.recovered - e.back);
      if (x.seqno >= 0) x.seqno = Math.max(0, x.seqno - e.back);
    }
    c.lastCommitted = Math.max(...Object.values(c.nodes).map((x) => x.recovered));
    done = `every node of ${name} restored from a backup ${e.back} transactions older`;
  }
  // The primary component is gone: a new incident (the lab counts at most one bootstrap per incident).
  if (before.length && !primaries(s, c).length) c.bootstraps = 0;
  return done;
}

function ctlrEvent(s: LabState, e: WorldEvent): string {
  const c = s.ctlr;
  if (!c) return '';
  const nodes = Object.values(c.nodes);
  const replica = nodes.find((n) => n.role === 'replica');
  const up = Object.keys(c.nodes).every((n) => s.nodes[n].units[c.unit]?.active === 'active');
  if (!replica || !up || nodes.filter((n) => n.role === 'main').length !== 1) return '';
  if (e.kind === 'ctlr-replica-dies' && replica.healthy) {
    replica.healthy = false;
    return `the replica ${replica.fqdn} stopped replicating`;
  }
  if (e.kind === 'ctlr-split-brain') {
    replica.role = 'main';
    return `${replica.fqdn} took the main role too: two masters`;
  }
  return '';
}

function kustEvent(s: LabState): string {
  const slave = s.maps.cox?.blocks.find((b) => b.node === 'cox-1')?.srvs.find((x) => x.role === 'slave');
  if (!slave || slave.repl !== 'ok') return '';
  slave.repl = 'replfailed';
  return `${slave.name} stopped replicating`;
}
