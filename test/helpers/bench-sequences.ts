/**
 * The command sequences a correct run leaves in the bench tools' log (lab/bench-tools.ts), per runbook and
 * target: which tool, on which host, with which arguments, in order, each exiting 0. Used by the scale
 * benchmark and the cluster tests to judge that every run did exactly its repair, nothing twice.
 */
import type { BenchToolCall } from '../../lab/bench-tools';
import { BENCH_HOSTS } from '../../lab/lab';

type Want = [node: string, tool: string, args: string][];

function follows(calls: BenchToolCall[], mine: (c: BenchToolCall) => boolean, want: Want): boolean {
  const got = calls.filter(mine).sort((a, b) => a.startMs - b.startMs);
  return got.length === want.length && got.every((c, i) => c.node === want[i][0] && c.tool === want[i][1] && c.argv.join(' ') === want[i][2] && c.exitCode === 0);
}

/** tarantool-replica for `<service>`/`<instance>`: map, clean, is-active, flip, map again, restart of the old main. */
export function tarantoolCorrect(calls: BenchToolCall[], service: string, instance: string): boolean {
  const slave = `${service}.${BENCH_HOSTS.slaveHost}.${instance}`;
  return follows(calls, (c) => c.argv.includes(service) || c.argv.includes(instance) || c.argv.includes(slave), [
    ['vkt-control-01', 'ic', `map ${service}`],
    [BENCH_HOSTS.slaveHost, 'clean_tnt_replica.sh', instance],
    [BENCH_HOSTS.slaveHost, 'systemctl', `is-active tarantool@${instance} ${instance}`],
    [BENCH_HOSTS.slaveHost, 'ic', `flip ${slave}`],
    [BENCH_HOSTS.slaveHost, 'ic', `map ${service}`],
    [BENCH_HOSTS.mainHost, 'systemctl', `restart tarantool@${instance} ${instance}`],
  ]);
}

/** kust-replica for `<service>`/`<instance>`: map on the control node, then one clean on the slave's host. */
export function kustCorrect(calls: BenchToolCall[], service: string, instance: string): boolean {
  return follows(calls, (c) => c.argv.includes(service) || c.argv.includes(instance), [
    ['vkt-control-01', 'ic', `map ${service}`],
    [BENCH_HOSTS.slaveHost, 'clean_kust_replica.sh', instance],
  ]);
}
