/**
 * Real samples for the generated-input suites: the alert lines of RUNBOOKS.md, and what the lab's
 * simulated tools print for every scenario (the same code that answers the service over SSH).
 */
import { listScenarios, loadScenario } from '../../lab/scenario';
import { instanceHost } from '../../lab/tools/orch';
import { TOOLS } from '../../lab/tools/registry';
import type { LabState } from '../../lab/types';

/** Every check_mk alert line of RUNBOOKS.md (and the underscore / several-maps forms), with the runs it starts. */
export const RUNBOOK_ALERTS: [string, string[]][] = [
  ['2 snmpexec_mon_cox_1_status - - - replfailed (first: 2023-05-10/10:08:27, last: 2023-05-10/11:34:02, total: 3406)', ['kust-replica/cox-1']],
  ['2 tarantool_badger_3_rep1_master1 slave_lag=0.01s;500.0;1000.0 slave_lag=0.01s;500.0;1000.0 replication status stopped(!)', ['tarantool-replica/badger-3']],
  ['2 tarantool_badger_3_replication - - problems on upstreams:1', ['tarantool-replica/badger-3']],
  ["2 orch_topo_check - orch topology is BAD: see 'im_utils --check-orch' for details", ['mysql-topology/fleet']],
  ['2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on vkt04', ['ctlr-replica/ctlr-1']],
  ['2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [fate]', ['autoflip/fate']],
  ['2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [fate, cox]', ['autoflip/fate', 'autoflip/cox']],
  ['2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [fate cox]', ['autoflip/fate', 'autoflip/cox']],
  ['2 snmpexec_mon_mon_cox_12_status - - - replfailed', ['kust-replica/mon_cox-12']],
  ['2 snmpexec_mon_video_conf_2_status - - - replfailed', ['kust-replica/video_conf-2']],
];

/** The kinds of tool output the runbooks parse (parsers/*). */
export type OutputKind = 'icmap' | 'orchtopo' | 'reup' | 'kubectl' | 'ctlrTopology' | 'ctlrConf' | 'checkLine' | 'clusterStatus' | 'grastate' | 'wsrepRecover' | 'clean';

export interface ToolSample {
  kind: OutputKind;
  /** scenario: node: command, for messages */
  where: string;
  text: string;
}

function runTool(state: LabState, node: string, tool: string, argv: string[], stdin?: string): string {
  const r = TOOLS[tool]({ dir: '/nonexistent', node, tool, argv, state, now: Date.parse('2026-12-01T10:00:00Z'), stdin });
  return r.out + (r.err ?? '');
}

/** What the lab's tools print in every scenario, per output kind (a few hundred real outputs). */
export function labOutputs(): ToolSample[] {
  const out: ToolSample[] = [];
  for (const { name } of listScenarios()) {
    const s = loadScenario(name);
    const add = (kind: OutputKind, node: string, tool: string, argv: string[], stdin?: string) =>
      out.push({ kind, where: `${name}: ${node}: ${tool} ${argv.join(' ')}`, text: runTool(s, node, tool, argv, stdin) });
    const control = s.controlNode;
    for (const m of Object.keys(s.maps)) add('icmap', control, 'ic', ['map', m]);
    add('orchtopo', control, 'orch_topo.sh', []);
    for (const [ns, cl] of Object.entries(s.mysql.clusters)) {
      add('kubectl', control, 'kubectl', ['-n', ns, 'get', 'po']);
      const replica = cl.instances.find((i) => i.marker !== '');
      if (replica) add('reup', control, 'im_utils', ['--reup-mysql-replica', instanceHost(ns, replica)]);
      add('kubectl', control, 'kubectl', ['-n', ns, 'get', 'po']);
    }
    for (const [node, c] of Object.entries(s.ctlr?.nodes ?? {})) {
      add('ctlrTopology', node, 'nc', [c.compotBind.split(':')[0], '4020'], 'ipros_cluster_show\n');
      // What `fgrep ipros_cluster` and `fgrep compot_bind` print of the file (the form parseCtlrConf reads).
      add('ctlrConf', node, 'cat', [s.ctlr?.confPath ?? '/usr/local/etc/ctlr-1.conf']);
      const conf = out[out.length - 1];
      conf.text = conf.text.split('\n').filter((l) => /ipros_cluster|compot_bind/.test(l)).join('\n');
      add('checkLine', node, 'ctlr_topo_check.sh', []);
    }
    for (const [cname, c] of Object.entries(s.manticore.clusters)) {
      for (const node of Object.keys(c.nodes)) {
        add('clusterStatus', node, 'mysql', ['-h', '127.0.0.1', '-P', String(c.sqlPort)], `SHOW STATUS LIKE 'cluster_${cname}_%'`);
        add('grastate', node, 'cat', [`${c.dataDir}/${cname}/grastate.dat`]);
        add('wsrepRecover', node, 'cat', [c.logPath]);
      }
    }
    for (const m of Object.values(s.maps)) {
      for (const b of m.blocks) {
        const slave = b.srvs.find((x) => x.role === 'slave');
        const host = slave?.name.split('.').slice(1, -1).join('.');
        if (slave && host) add('clean', host, m.kind === 'kust' ? 'clean_kust_replica.sh' : 'clean_tnt_replica.sh', [slave.name.split('.').pop() ?? '']);
      }
    }
  }
  return out;
}
