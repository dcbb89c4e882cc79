#!/usr/bin/env node
/**
 * `npm run demo`: a newcomer's first minutes. Brings up the lab (real sshd on loopback, the simulated
 * fleet of lab/scenarios/demo.yaml with one fault for every runbook) and the service against it (the
 * embedded Temporal, the worker, the API and the console), fires one alert per runbook through the
 * webhooks, and prints where to look: the console, a demo login, the CLI lines, the Temporal Web UI.
 * kust-replica waits for an operator's approval before it cleans the replica, and ctlr-roles waits for an
 * operator to choose the controller to keep. Ctrl-C stops everything; nothing outlives it.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { labUp, REPO_ROOT } from './lab';

const say = (line: string) => process.stdout.write(`demo: ${line}\n`);

/** A port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** One alert per runbook, as monitoring sends them (check_mk lines, or Alertmanager with a `runbook` label). */
const CHECKMK_LINES = [
  '2 snmpexec_mon_cox_1_status - - - replfailed (first: 2026-12-06/10:08:27, last: 2026-12-06/11:34:02, total: 3406)',
  '2 tarantool_badger_3_rep1_master1 slave_lag=0.01s;500.0;1000.0 slave_lag=0.01s;500.0;1000.0 replication status stopped(!)',
  '2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [fate]',
  "2 orch_topo_check - orch topology is BAD: see 'im_utils --check-orch' for details",
];
const ALERTMANAGER_ALERTS: { labels: Record<string, string>; annotations: Record<string, string> }[] = [
  { labels: { alertname: 'CtlrTwoMasters', runbook: 'ctlr-roles' }, annotations: { summary: 'vkt03 and vkt04 both say self main' } },
  { labels: { alertname: 'ManticoreClusterDegraded', runbook: 'manticore-cluster', cluster: 'posts' }, annotations: { summary: 'mc-c is not in the primary component' } },
];
/** Fired after ctlr-roles: the same controller pair, so it joins that run instead of starting a second repair. */
const CTLR_REPLICA_LINE = '2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on vkt04';

async function post(url: string, token: string, type: string, body: string): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': type }, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url}: ${res.status} ${text}`);
  return JSON.parse(text) as unknown;
}

function alertmanagerPayload(alerts: { labels: Record<string, string>; annotations: Record<string, string> }[]): string {
  const now = new Date().toISOString();
  return JSON.stringify({
    version: '4',
    groupKey: '{}:{alertname="demo"}',
    status: 'firing',
    receiver: 'medic',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://127.0.0.1:9093',
    truncatedAlerts: 0,
    alerts: alerts.map((a, i) => ({ status: 'firing', labels: a.labels, annotations: a.annotations, startsAt: now, endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: `d3m0${i}`.replace(/[^0-9a-f]/g, '0').padEnd(16, '0') })),
  });
}

/** What the intake answered, one line per run. */
function startedLines(answer: unknown): string[] {
  const results = (answer as { results?: ({ workflowId?: string; action?: string; unroutable?: string } | null)[] }).results ?? [];
  return results.map((r) => (r?.unroutable ? `not routed: ${r.unroutable}` : r?.action === 'started' ? `started ${r.workflowId}` : `${r?.workflowId ?? '?'}: joined the open run of the same target (no second repair)`));
}

async function main(): Promise<void> {
  // MEDIC_DEMO_DIR: another folder (the demo's test runs it beside a developer's own demo).
  const dir = process.env.MEDIC_DEMO_DIR ? path.resolve(process.env.MEDIC_DEMO_DIR) : path.join(REPO_ROOT, '.demo');
  const lab = await labUp({
    scenario: 'demo',
    dir,
    extraConfig: {
      // Waits of seconds instead of the procedures' minutes, so that every repair ends while you watch.
      timers: { tarantoolSettle: '2s', tarantoolBeforeFlip: '5s', tarantoolFlipRetry: '5s', tarantoolBeforeVerify: '5s', autoflipRetry: '5s', replicationPoll: '2s', replicationPollMax: '10s', mysqlErrantRecheck: '5s', mysqlPodPoll: '2s', flapGuard: '0s' },
      approvals: { 'kust-replica': { clean: 'approve' } },
    },
  });
  const [temporalPort, uiPort] = [await freePort(), await freePort()];
  const service = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'worker', 'main.js'), '--config', lab.configPath], {
    env: { ...process.env, MEDIC_TEMPORAL_PORT: String(temporalPort), MEDIC_UI_PORT: String(uiPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The service's whole output (the SDK's warnings of failed attempts included) goes to a file; its own
  // start lines are shown here.
  const logFile = path.join(dir, 'service.log');
  const log = fs.createWriteStream(logFile);
  service.stderr.pipe(log);
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping the service and the lab');
    if (service.exitCode === null) {
      const exited = new Promise((r) => service.once('exit', r));
      service.kill('SIGINT');
      await exited;
    }
    await lab.down();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  service.once('exit', (code) => {
    if (!stopping) {
      say(`the service stopped (exit ${code}); see its lines above`);
      void stop(1);
    }
  });

  // The service's own start lines, as an operator sees them; the API's URL is read from them.
  const apiUrl = await new Promise<string>((resolve) => {
    let partial = '';
    service.stdout.on('data', (d: Buffer) => {
      log.write(d);
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('medic: ')) process.stdout.write(`${line}\n`);
        const m = /^medic: API (http:\/\/\S+)/.exec(line);
        if (m) resolve(m[1]);
      }
    });
  });
  const cfg = lab.config as { api: { webhookToken: string } };
  try {
    await fireAlerts(apiUrl, cfg.api.webhookToken, dir, uiPort, Object.keys(lab.nodes).length);
    const { alice, carol } = lab.operators;
    say(`console: ${apiUrl}/console (operator alice, credential ${alice.token}; viewer carol, credential ${carol.token})`);
    // The CLI reads runs from Temporal and decides through the API, as alice.
    say(`CLI, in another shell: export MEDIC_CONFIG=${lab.configPath} TEMPORAL_ADDRESS=127.0.0.1:${temporalPort} MEDIC_API_URL=${apiUrl} MEDIC_TOKEN=${alice.token}`);
    say('  then: npm run medic -- runs; npm run medic -- show kust-replica/cox-1; npm run medic -- approve kust-replica/cox-1');
    say(`credentials of the demo's operators: ${path.join(dir, 'operators.json')}`);
    say('Ctrl-C stops the service and the lab');
  } catch (err) {
    say(`could not fire the alerts: ${err instanceof Error ? err.message : String(err)}`);
    await stop(1);
  }
}

async function fireAlerts(apiUrl: string, webhookToken: string, dir: string, uiPort: number, hosts: number): Promise<void> {
  const cfg = { api: { webhookToken } };
  const runs: string[] = [];
  for (const line of CHECKMK_LINES) runs.push(...startedLines(await post(`${apiUrl}/v1/alerts/checkmk`, cfg.api.webhookToken, 'text/plain', `${line}\n`)));
  runs.push(...startedLines(await post(`${apiUrl}/v1/alerts/alertmanager`, cfg.api.webhookToken, 'application/json', alertmanagerPayload(ALERTMANAGER_ALERTS))));
  runs.push(...startedLines(await post(`${apiUrl}/v1/alerts/checkmk`, cfg.api.webhookToken, 'text/plain', `${CTLR_REPLICA_LINE}\n`)));

  say(`lab: ${hosts} hosts behind real sshd on 127.0.0.x (scenario demo, in ${dir})`);
  say(`alerts fired, one per runbook:`);
  for (const r of runs) say(`  ${r}`);
  say('waiting for you: kust-replica/cox-1 (approve the clean) and ctlr-roles/ctlr-1 (choose the controller to keep)');
  say(`Temporal Web UI: http://127.0.0.1:${uiPort}`);
  say(`the service's full output: ${path.join(dir, 'service.log')}`);
}

main().catch((err: unknown) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
