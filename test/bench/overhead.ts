/**
 * Item 2: orchestration overhead per step. kust-replica (2 commands) and tarantool-replica (6 commands,
 * 4 waits) end to end with every wait set to 0: from the start (POST /v1/runs) to the run's result,
 * minus the sum of its commands' own times on the host (bench log), divided by the number of commands.
 */
import { benchTarget, BenchEnv, nowMs, stats } from './harness';

export interface RunbookOverhead {
  runbook: string;
  commands: number;
  endToEnd: ReturnType<typeof stats>;
  commandsOwn: ReturnType<typeof stats>;
  perStep: ReturnType<typeof stats>;
}

export const OVERHEAD_RUNBOOKS = [
  { runbook: 'kust-replica', commands: 2 },
  { runbook: 'tarantool-replica', commands: 6 },
] as const;

/** One run of `runbook` for target n, through the API, awaited: wall ms and the commands' own ms. */
export async function runOnce(env: BenchEnv, runbook: string, n: number, prefix: string): Promise<{ wallMs: number; ownMs: number; commands: number }> {
  const { service, instance } = benchTarget(n, prefix);
  const t0 = nowMs();
  const res = await fetch(`${env.apiUrl}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.tokens.operator}`, 'content-type': 'application/json' },
    body: JSON.stringify({ runbook, params: { service, instance } }),
  });
  if (res.status !== 201) throw new Error(`start ${runbook} ${instance}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
  const result = (await env.client.workflow.getHandle(`${runbook}/${instance}`).result()) as { outcome: string };
  const wallMs = nowMs() - t0;
  if (result.outcome !== 'repaired') throw new Error(`${runbook}/${instance} ended ${JSON.stringify(result)}`);
  env.log.poll();
  const mine = env.log.calls.filter((c) => c.argv.some((a) => a === service || a === instance || a.endsWith(`.${instance}`)));
  return { wallMs, ownMs: mine.reduce((s, c) => s + (c.endMs - c.startMs), 0), commands: mine.length };
}

export async function benchOverhead(env: BenchEnv, opts: { runs: number; prefix: string; warmUp?: number; runbooks?: readonly string[] }): Promise<RunbookOverhead[]> {
  const out: RunbookOverhead[] = [];
  for (const { runbook, commands } of OVERHEAD_RUNBOOKS.filter((r) => !opts.runbooks || opts.runbooks.includes(r.runbook))) {
    const prefix = `${opts.prefix}${runbook[0]}`; // a service of its own per runbook (the commands are told apart by it)
    for (let i = 0; i < (opts.warmUp ?? 3); i++) await runOnce(env, runbook, 800_000 + i, `${prefix}w`); // warm-up
    const wall: number[] = [];
    const own: number[] = [];
    const per: number[] = [];
    for (let i = 1; i <= opts.runs; i++) {
      const r = await runOnce(env, runbook, i, prefix);
      if (r.commands !== commands) throw new Error(`${runbook} run ${i}: ${r.commands} commands in the bench log, expected ${commands}`);
      wall.push(r.wallMs);
      own.push(r.ownMs);
      per.push((r.wallMs - r.ownMs) / commands);
    }
    out.push({ runbook, commands, endToEnd: stats(wall), commandsOwn: stats(own), perStep: stats(per) });
  }
  return out;
}
