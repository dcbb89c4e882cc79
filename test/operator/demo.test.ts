/**
 * `npm run demo` as a newcomer runs it (node dist/lab/demo.js, in a folder of its own): every runbook's
 * alert starts its run (the ctlr-replica alert joins the open ctlr-roles run of the same controller pair),
 * the five runs without a gate repair their target, kust-replica and ctlr-roles wait for an operator,
 * and Ctrl-C (SIGINT) stops the service and the lab: exit 0 and no process of the demo left.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { eventually } from '../helpers/temporal';

const DEMO = path.resolve(__dirname, '../../lab/demo.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'medic-demo-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Processes whose command line names the demo's folder (the service, the embedded Temporal, the lab's sshds and tools). */
function demoProcesses(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(dir)) out.push(`${pid}: ${cmd.slice(0, 120)}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test('npm run demo: one run per runbook, two waiting for an operator, the rest repaired; Ctrl-C leaves nothing running', { timeout: 180_000 }, async () => {
  const demo = spawn(process.execPath, [DEMO], { env: { ...process.env, MEDIC_DEMO_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  demo.stdout.on('data', (d: Buffer) => (out += d.toString()));
  demo.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
  try {
    await eventually(async () => out, (o) => o.includes('demo: Ctrl-C stops') || demo.exitCode !== null, 120_000);
    assert.match(out, /demo: Ctrl-C stops/);
    for (const id of ['kust-replica/cox-1', 'tarantool-replica/badger-3', 'autoflip/fate', 'mysql-topology/fleet', 'ctlr-roles/ctlr-1', 'manticore-cluster/posts']) assert.match(out, new RegExp(`demo:   started ${id}\\n`), out);
    assert.match(out, /ctlr-replica\/ctlr-1: joined the open run of the same target/);
    const apiUrl = /medic: API (http:\/\/\S+)/.exec(out)?.[1];
    assert.ok(apiUrl, out);
    const config = parse(readFileSync(path.join(dir, 'medic.yaml'), 'utf8')) as { api: { operatorToken: string } };
    const statuses = async () => {
      const res = await fetch(`${apiUrl}/v1/runs`, { headers: { authorization: `Bearer ${config.api.operatorToken}` } });
      const body = (await res.json()) as { runs: { workflowId: string; status: string }[] };
      return Object.fromEntries(body.runs.map((r) => [r.workflowId, r.status]));
    };
    const expected = {
      'kust-replica/cox-1': 'awaiting-approval',
      'ctlr-roles/ctlr-1': 'awaiting-approval',
      'tarantool-replica/badger-3': 'completed',
      'autoflip/fate': 'completed',
      'mysql-topology/fleet': 'completed',
      'mysql-topology/files': 'completed',
      'manticore-cluster/posts': 'completed',
    };
    const seen = await eventually(statuses, (s) => JSON.stringify(Object.entries(s).sort()) === JSON.stringify(Object.entries(expected).sort()), 90_000).catch(async () => statuses());
    assert.deepEqual(seen, expected);
  } finally {
    demo.kill('SIGINT');
  }
  assert.equal(await exited, 0, out);
  assert.deepEqual(demoProcesses(), []);
});
