/**
 * Durability: a run waiting in the embedded dev server survives a full stop of server and worker;
 * after a restart on the same SQLite file it resumes where it was, and nothing runs twice.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { startRun } from '../../client/runbooks';
import { loadConfig } from '../../config/load';
import { labUp } from '../../lab/lab';
import { temporalBinaries } from '../../worker/binaries';
import { startDevServer } from '../../worker/devserver';
import { createWorker } from '../../worker/worker';
import { RunResult, stateQuery } from '../../workflows/definitions';
import { decideSigned } from '../helpers/decide';
import { freePort } from '../helpers/service';
import { eventually, quietRuntime, workflowBundle } from '../helpers/temporal';

async function up(dataDir: string, port: number, configPath: string) {
  const server = await startDevServer({ cli: temporalBinaries().cli, dataDir, port, uiPort: 0 });
  const native = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const worker = await createWorker(native, loadConfig(configPath), { workflowBundle: await workflowBundle(), client });
  const running = worker.run();
  return {
    client,
    async down() {
      worker.shutdown();
      await running;
      await native.close();
      await connection.close();
      await server.stop();
    },
  };
}

test('a run waiting for approval survives a stop of Temporal and the worker, and resumes after restart', async () => {
  quietRuntime();
  const lab = await labUp({ scenario: 'kust-replfailed', extraConfig: { approvals: { 'kust-replica': { clean: 'approve' } } } });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'medic-resume-'));
  const port = await freePort();
  try {
    const config = loadConfig(lab.configPath);
    const first = await up(dataDir, port, lab.configPath);
    await startRun(first.client, config, 'kust-replica', { service: 'cox', instance: 'cox-1' }, 'test');
    await eventually(() => first.client.workflow.getHandle('kust-replica/cox-1').query(stateQuery), (s) => s.status === 'awaiting-approval');
    await first.down();

    const second = await up(dataDir, port, lab.configPath);
    try {
      const handle = second.client.workflow.getHandle('kust-replica/cox-1');
      const s = await handle.query(stateQuery);
      assert.equal(s.status, 'awaiting-approval');
      assert.equal(s.steps[0].verdict, 'ok');
      await decideSigned(second.client, loadConfig(lab.configPath), 'kust-replica/cox-1', { action: 'approve', by: 'alice' });
      const r = (await handle.result()) as RunResult;
      assert.equal(r.outcome, 'repaired');
    } finally {
      await second.down();
    }
    assert.deepEqual(
      lab.log().map((e) => `${e.node}: ${e.tool} ${e.argv.join(' ')}`),
      ['vkt-control-01: ic map cox', 'vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1'],
    );
  } finally {
    await lab.down();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
