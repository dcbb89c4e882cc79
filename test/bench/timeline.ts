/**
 * Where the time of a run goes (a profiling aid, not a section of `npm run bench`): runs kust-replica and
 * tarantool-replica one at a time (waits `--wait`, default 1ms) and prints the median gap between
 * consecutive history events (server clock) and the host-side command starts and ends (bench log), e.g.
 *   node dist/test/bench/timeline.js --runs 10 [--no-eager-start] [--no-eager-activities] [--autoscaling-pollers] [--dc key=json ...]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startRun } from '../../client/runbooks';
import { cpuSeconds } from '../../worker/proc';
import { benchEnv, BenchEnv, benchTarget, nowMs, timers } from './harness';
import { runPoints } from './overhead';

async function main() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '10' },
      wait: { type: 'string', default: '1ms' },
      'no-eager-start': { type: 'boolean', default: false },
      'no-eager-activities': { type: 'boolean', default: false },
      'autoscaling-pollers': { type: 'boolean', default: false },
      dc: { type: 'string', multiple: true, default: [] },
      pragma: { type: 'string', multiple: true, default: [] },
      'server-arg': { type: 'string', multiple: true, default: [] },
      runbook: { type: 'string', multiple: true, default: ['kust-replica', 'tarantool-replica'] },
      throughput: { type: 'string', default: '0' },
      concurrency: { type: 'string', default: '50' },
      batch: { type: 'string', default: '1' },
    },
  });
  const dynamicConfig = Object.fromEntries((values.dc ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), JSON.parse(kv.slice(kv.indexOf('=') + 1)) as string | number | boolean]));
  const env = await benchEnv({ eagerStart: !values['no-eager-start'], eagerActivities: !values['no-eager-activities'], dynamicConfig, serverArgs: values['server-arg'], sqlitePragma: Object.fromEntries((values.pragma ?? []).map((kv) => kv.split('='))), ...(values['autoscaling-pollers'] ? { tuning: { workflowTaskPollerBehavior: { type: 'autoscaling' }, activityTaskPollerBehavior: { type: 'autoscaling' } } } : {}), extraConfig: { timers: timers(values.wait ?? '1ms') } });
  try {
    if (Number(values.throughput) > 0) {
      for (const runbook of values.runbook ?? []) await throughput(env, runbook, Number(values.throughput), Number(values.concurrency));
      return;
    }
    for (const runbook of values.runbook ?? []) {
      const gaps = new Map<string, number[]>();
      const walls: number[] = [];
      const add = (k: string, v: number) => gaps.set(k, [...(gaps.get(k) ?? []), v]);
      const runs = Number(values.runs);
      const batch = Number(values.batch);
      const oneRun = async (i: number) => {
        const { service, instance } = benchTarget(1000 + i + 3, `t${runbook[0]}${batch}`);
        const t0 = nowMs();
        const res = await fetch(`${env.apiUrl}/v1/runs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${env.tokens.operator}`, 'content-type': 'application/json' },
          body: JSON.stringify({ runbook, params: { service, instance } }),
        });
        if (res.status !== 201) throw new Error(`${res.status} ${await res.text()}`);
        const tPosted = nowMs();
        const h = env.client.workflow.getHandle(`${runbook}/${instance}`);
        await h.result();
        const t1 = nowMs();
        if (i < 0) return;
        walls.push(t1 - t0);
        env.log.poll();
        const cmds = env.log.calls.filter((c) => c.argv.some((a) => a === service || a === instance || a.endsWith(`.${instance}`)));
        const points = await runPoints(env, `${runbook}/${instance}`, t0, t1, cmds, [{ at: tPosted, what: 'POST answered' }]);
        for (let k = 1; k < points.length; k++) add(`${String(k).padStart(2)} ${points[k - 1].what} -> ${points[k].what}`, points[k].at - points[k - 1].at);
      };
      for (let i = -3; i < 0; i++) await oneRun(i);
      for (let i = 0; i < runs; i += batch) await Promise.all(Array.from({ length: Math.min(batch, runs - i) }, (_, k) => oneRun(i + k)));
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
      console.log(`\n${runbook}: wall p50 ${med(walls).toFixed(1)} ms (${walls.length} runs); median gaps (ms):`);
      for (const [k, v] of gaps) if (v.length >= walls.length / 2) console.log(`  ${med(v).toFixed(1).padStart(7)}  ${k}`);
    }
  } finally {
    await env.stop();
  }
}

/** n runs, `concurrency` open at a time: runs/s and the CPU each part took per run. */
async function throughput(env: BenchEnv, runbook: string, n: number, concurrency: number): Promise<void> {
  const sshd = () => Object.keys(env.lab.nodes).flatMap((node) => env.lab.sshdPids(node)).reduce((a, p) => a + cpuSeconds(p), 0);
  const cpu = () => ({ server: cpuSeconds(env.server.pid), bench: cpuSeconds(process.pid), sshd: sshd(), total: totalCpuS() });
  const c0 = cpu();
  const t0 = nowMs();
  let next = 0;
  const one = async () => {
    for (let i = next++; i < n; i = next++) {
      const { service, instance } = benchTarget(i, `q${runbook[0]}`);
      await startRun(env.client, env.config, runbook, { service, instance }, 'bench');
      const r = (await env.client.workflow.getHandle(`${runbook}/${instance}`).result()) as { outcome: string };
      if (r.outcome !== 'repaired') throw new Error(`${runbook}/${instance}: ${JSON.stringify(r)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, one));
  const s = (nowMs() - t0) / 1000;
  const c1 = cpu();
  const per = (k: keyof typeof c0) => (((c1[k] - c0[k]) / n) * 1000).toFixed(1);
  console.log(`${runbook}: ${n} runs, ${concurrency} at a time: ${(n / s).toFixed(1)} runs/s; CPU ms per run: server ${per('server')}, bench process (worker, API) ${per('bench')}, lab sshd ${per('sshd')}, whole machine ${per('total')}`);
}

function totalCpuS(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6]) / 100;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
