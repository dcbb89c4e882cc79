/**
 * Item 1: alert to first command. From the webhook POST (Alertmanager v4, one alert) to the first SSH
 * command of the run starting on the lab host (`ic map <svc>` in the bench log, host clock), one at a
 * time and `concurrent` at once, each alert a new target. Floors in the same environment: a direct ssh2
 * exec of the same command on a fresh connection and on a reused one (to the tool's start), and the
 * bare workflow (start call to its no-op activity starting).
 */
import { LabSsh } from '../lab/lab-ssh';
import { alertmanagerBody, benchTarget, BenchEnv, kustLine, nowMs, stats } from './harness';

export interface LatencyFigures {
  oneAtATime: ReturnType<typeof stats>;
  atOnce: ReturnType<typeof stats> & { concurrency: number };
  sshFresh: ReturnType<typeof stats>;
  sshReused: ReturnType<typeof stats>;
  bareToActivity: ReturnType<typeof stats>;
  bareToResult: ReturnType<typeof stats>;
}

async function postAlert(env: BenchEnv, n: number, prefix: string): Promise<void> {
  const res = await fetch(`${env.apiUrl}/v1/alerts/alertmanager`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.tokens.webhook}`, 'content-type': 'application/json' },
    body: alertmanagerBody([{ alertname: 'KustReplFailed', checkmkLine: kustLine(n, prefix) }]),
  });
  const text = await res.text();
  if (res.status !== 202 || !text.includes('"started"')) throw new Error(`alert ${n}: ${res.status} ${text.slice(0, 300)}`);
}

/** POST one alert for target n; ms until its first command started on the host. The run is awaited to its end. */
async function alertToFirstCommand(env: BenchEnv, n: number, prefix: string): Promise<number> {
  const { service, instance } = benchTarget(n, prefix);
  const t0 = nowMs();
  await postAlert(env, n, prefix);
  const first = await env.log.waitFor((c) => c.tool === 'ic' && c.argv[0] === 'map' && c.argv[1] === service);
  const result = (await env.client.workflow.getHandle(`kust-replica/${instance}`).result()) as { outcome: string };
  if (result.outcome !== 'repaired') throw new Error(`kust-replica/${instance} ended ${JSON.stringify(result)}`);
  return first.startMs - t0;
}

export async function benchLatency(env: BenchEnv, opts: { alerts: number; concurrency: number; floors: number; prefix: string }): Promise<LatencyFigures> {
  const { alerts, concurrency, floors, prefix } = opts;
  // Warm-up (first bundle load, first connections): not counted.
  for (let i = 0; i < 5; i++) await alertToFirstCommand(env, 900_000 + i, prefix);
  for (let i = 0; i < 5; i++) await env.bare(`bare-warm-${prefix}-${i}`);

  const one: number[] = [];
  for (let i = 1; i <= alerts; i++) one.push(await alertToFirstCommand(env, i, prefix));
  const many: number[] = [];
  for (let base = alerts + 1; base <= 2 * alerts; base += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, 2 * alerts + 1 - base) }, (_, k) => base + k);
    many.push(...(await Promise.all(batch.map((n) => alertToFirstCommand(env, n, prefix)))));
  }

  const ssh = new LabSsh(env.lab.configPath);
  const control = ssh.config.inventory.controlNode;
  const ic = ssh.path('ic');
  const toStart = async (exec: () => Promise<unknown>, service: string) => {
    const t0 = nowMs();
    await exec();
    return (await env.log.waitFor((c) => c.tool === 'ic' && c.argv[1] === service)).startMs - t0;
  };
  const fresh: number[] = [];
  const reused: number[] = [];
  await ssh.run(control, 'ic', 'map', `${prefix}floorwarm`);
  for (let i = 0; i < floors; i++) {
    const once = new LabSsh(env.lab.configPath);
    fresh.push(await toStart(() => once.exec(control, [ic, 'map', `${prefix}fresh${i}`]), `${prefix}fresh${i}`));
    await once.close();
    reused.push(await toStart(() => ssh.exec(control, [ic, 'map', `${prefix}reused${i}`]), `${prefix}reused${i}`));
  }
  await ssh.close();

  const bareA: number[] = [];
  const bareR: number[] = [];
  for (let i = 0; i < floors; i++) {
    const b = await env.bare(`bare-${prefix}-${i}`);
    bareA.push(b.toActivityMs);
    bareR.push(b.toResultMs);
  }
  return {
    oneAtATime: stats(one),
    atOnce: { ...stats(many), concurrency },
    sshFresh: stats(fresh),
    sshReused: stats(reused),
    bareToActivity: stats(bareA),
    bareToResult: stats(bareR),
  };
}
