/**
 * Benchmark: an alert storm against the webhook. One run is open for kust-replica/cox-1 (no worker,
 * so it stays open); then N duplicate firing alerts arrive in batches. Reports wall time, alerts/s,
 * and how many history events the storm added (the bound: one "seen again" signal per interval).
 *
 *   npm run bench:storm -- [--alerts 100000] [--batch 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { startRun } from '../../client/runbooks';
import { createApi } from '../../worker/api';
import { temporalBinaries } from '../../worker/binaries';
import { startDevServer } from '../../worker/devserver';
import { freePort } from '../helpers/service';
import { testConfig } from '../helpers/settings';

async function main() {
  const { values } = parseArgs({ options: { alerts: { type: 'string', default: '100000' }, batch: { type: 'string', default: '1000' } } });
  const total = Number(values.alerts);
  const batch = Number(values.batch);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'medic-bench-'));
  const server = await startDevServer({ cli: temporalBinaries().cli, dataDir, port: await freePort(), uiPort: 0 });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const config = testConfig();
  const tokens = { webhook: 'w'.repeat(32), operator: 'o'.repeat(32) };
  const api = createApi(client, config, tokens);
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(api.address() as net.AddressInfo).port}/v1/alerts/alertmanager`;
  try {
    await startRun(client, config, 'kust-replica', { service: 'cox', instance: 'cox-1' }, 'bench');
    const handle = client.workflow.getHandle('kust-replica/cox-1');
    const before = (await handle.fetchHistory()).events?.length ?? 0;
    const alert = { status: 'firing', labels: { alertname: 'KustReplFailed', checkmk_line: '2 snmpexec_mon_cox_1_status - - - replfailed' }, annotations: {}, startsAt: '2026-11-22T10:00:00Z' };
    const body = JSON.stringify({ version: '4', receiver: 'medic', status: 'firing', alerts: Array.from({ length: batch }, () => alert), groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: '', groupKey: '{}', truncatedAlerts: 0 });
    const t0 = process.hrtime.bigint();
    for (let sent = 0; sent < total; sent += batch) {
      const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${tokens.webhook}`, 'content-type': 'application/json' }, body });
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const after = (await handle.fetchHistory()).events?.length ?? 0;
    console.log(`alert storm: ${total} duplicate alerts in batches of ${batch}: ${seconds.toFixed(2)} s, ${Math.round(total / seconds)} alerts/s, ${Math.round((total / batch / seconds) * 10) / 10} requests/s`);
    console.log(`history events: ${before} before, ${after} after (+${after - before})`);
    await handle.terminate('benchmark done');
  } finally {
    api.close();
    await connection.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
