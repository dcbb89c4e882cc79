/**
 * `npm run cluster -- up|status|down` as an operator uses it: `up` leaves the cluster running in the
 * background and prints the frontends; `status` answers for both nodes and names every shard's owner; a second
 * `up` says it is already up; `down` stops everything it started (no server or database process is left) and
 * `status` then says down with exit 1.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../lab/lab';
import { listProcesses } from '../../worker/proc';
import { temporalEnv } from '../helpers/medic-cli';

const CLUSTER_CLI = path.join(REPO_ROOT, 'dist', 'deploy', 'cluster', 'cli.js');
const exec = promisify(execFile);

async function cluster(dir: string, ...args: string[]): Promise<{ code: number; out: string }> {
  return exec(process.execPath, [CLUSTER_CLI, ...args, '--dir', dir], { env: temporalEnv({}), timeout: 300_000 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: Error & { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
  );
}

/** The processes running from this cluster's folder (its servers, their keepers, its database). */
const processesOf = (dir: string) => listProcesses().filter((p) => p.argv.some((a) => a.startsWith(dir)));

test('npm run cluster: up in the background, status, a second up, down leaves nothing running', { timeout: 5 * 60_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medic-cluster-cli-'));
  try {
    const up = await cluster(dir, 'up');
    assert.equal(up.code, 0, up.out);
    const m = /node-1 (127\.0\.0\.2:\d+), node-2 (127\.0\.0\.3:\d+)/.exec(up.out);
    assert.ok(m, `up names both frontends: ${up.out}`);
    assert.match(up.out, new RegExp(`TEMPORAL_ADDRESS=${m[1].replace(/\./g, '\\.')}`));
    assert.ok(processesOf(dir).length >= 3, 'the servers and the database run after up returned');

    // Until the history service has taken all four shards (it takes them as it starts; a second or so).
    let status = await cluster(dir, 'status');
    for (const deadline = Date.now() + 30_000; !/shard owners: 1@\S+ 2@\S+ 3@\S+ 4@\S+/.test(status.out) && Date.now() < deadline; ) status = await cluster(dir, 'status');
    assert.equal(status.code, 0, status.out);
    assert.match(status.out, new RegExp(`node-1 ${m[1].replace(/\./g, '\\.')}: answers`));
    assert.match(status.out, new RegExp(`node-2 ${m[2].replace(/\./g, '\\.')}: answers`));
    assert.match(status.out, /shard owners: 1@node-\d 2@node-\d 3@node-\d 4@node-\d/);

    const again = await cluster(dir, 'up');
    assert.equal(again.code, 0);
    assert.match(again.out, /already up/);

    const down = await cluster(dir, 'down');
    assert.equal(down.code, 0, down.out);
    assert.deepEqual(processesOf(dir).map((p) => p.argv.join(' ').slice(0, 120)), [], 'nothing of the cluster is left running');
    const after = await cluster(dir, 'status');
    assert.equal(after.code, 1);
    assert.match(after.out, /down/);
  } finally {
    await cluster(dir, 'down');
    rmSync(dir, { recursive: true, force: true });
  }
});
