/**
 * deploy/systemd: the units pass `systemd-analyze verify` (with the paths of this checkout put in for
 * /opt/replication-medic, and this node for /usr/bin/node: verify checks that the executable exists), with
 * not even a warning; a broken unit does not (the check can fail). Their stop timeout is longer than the
 * worker's drain, and the environment file's names are the ones the service reads.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { connectConfig, tlsMode } from '../../client/connection';
import { parseConfig } from '../../config/load';
import { REPO_ROOT } from '../../worker/binaries';
import { msOf } from '../../workflows/duration';

const SYSTEMD = path.join(REPO_ROOT, 'deploy', 'systemd');
const UNITS = ['medic-worker.service', 'medic-api.service'];
const dir = mkdtempSync(path.join(os.tmpdir(), 'medic-units-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The unit as installed from this checkout, written under its own name into a temp folder. */
function installed(name: string, edit: (text: string) => string = (t) => t): string {
  const text = readFileSync(path.join(SYSTEMD, name), 'utf8').replaceAll('/opt/replication-medic', REPO_ROOT).replaceAll('/usr/bin/node', process.execPath);
  const sub = mkdtempSync(path.join(dir, 'u-'));
  const file = path.join(sub, name);
  writeFileSync(file, edit(text));
  return file;
}

/** `systemd-analyze verify`: passes only with exit 0 and nothing said (it exits 0 on an unknown key, with a warning). */
function verify(file: string): Promise<{ ok: boolean; said: string }> {
  return new Promise((resolve) => {
    execFile('/usr/bin/systemd-analyze', ['verify', '--man=no', file], (err, stdout, stderr) => {
      const said = `${stdout}${stderr}`.trim() || (err ? err.message : '');
      resolve({ ok: !err && said === '', said });
    });
  });
}

/** `Key=value` lines of a unit (the last one wins, as in systemd for single-valued keys). */
function keys(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of readFileSync(file, 'utf8').matchAll(/^([A-Za-z]+)=(.*)$/gm)) out[m[1]] = m[2];
  return out;
}

/** systemd's time span as the units write it: 30s, 11min. */
const spanMs = (s: string) => {
  const m = /^(\d+)(s|min)$/.exec(s);
  assert.ok(m, `a time span such as 30s or 11min: ${s}`);
  return Number(m[1]) * (m[2] === 'min' ? 60_000 : 1000);
};

test('the worker and API units pass systemd-analyze verify without a word, and their commands exist in the checkout', async () => {
  for (const name of UNITS) {
    const file = installed(name);
    const r = await verify(file);
    assert.ok(r.ok, `${name}: ${r.said}`);
    const k = keys(file);
    for (const exec of [k.ExecStart, k.ExecStartPre].filter(Boolean)) {
      const [node, script, command] = exec.split(' ');
      assert.equal(node, process.execPath);
      assert.ok(existsSync(script), `${name}: ${script} exists (built)`);
      assert.ok(['worker', 'api', 'setup'].includes(command), exec);
    }
    assert.equal(k.KillSignal, 'SIGTERM');
    assert.equal(k.Restart, 'on-failure');
    assert.equal(k.NoNewPrivileges, 'yes');
    assert.ok(k.User && k.User !== 'root', `${name}: a dedicated user`);
  }
});

test("the worker unit's stop timeout is longer than the default drain, and it runs medic setup before the worker", () => {
  const k = keys(path.join(SYSTEMD, 'medic-worker.service'));
  const drain = parseConfig({ inventory: { controlNode: 'node-a', hosts: { 'node-a': { address: '127.0.0.1', keyFile: '/k', insecureAcceptAnyHostKey: true } } } }, 'test').service.drainTimeout;
  assert.ok(spanMs(k.TimeoutStopSec) > msOf(drain), `TimeoutStopSec ${k.TimeoutStopSec} > drainTimeout ${drain}`);
  assert.match(k.ExecStartPre, / setup --config /);
  assert.match(k.ExecStart, / worker --config /);
});

test('a broken unit fails the check: an unknown key (a warning, exit 0) and a missing executable (exit 1)', async () => {
  const unknownKey = await verify(installed('medic-worker.service', (t) => t.replace('[Service]\n', '[Service]\nDrainTimeoutSec=10min\n')));
  assert.equal(unknownKey.ok, false);
  assert.match(unknownKey.said, /Unknown key 'DrainTimeoutSec' in section \[Service\]/);
  const missing = await verify(installed('medic-api.service', (t) => t.replaceAll(process.execPath, '/nonexistent/node')));
  assert.equal(missing.ok, false);
  assert.match(missing.said, /\/nonexistent\/node is not executable/);
});

test("medic.env.example: the standard TEMPORAL_* names, read as the service reads them (plain, mTLS, Temporal Cloud)", () => {
  const text = readFileSync(path.join(SYSTEMD, 'medic.env.example'), 'utf8');
  const env = (uncomment: RegExp) => {
    const out: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const m = /^#?([A-Z_]+)=(.*)$/.exec(line);
      if (m && (!line.startsWith('#') || uncomment.test(m[1]))) out[m[1]] = m[2];
    }
    return out;
  };
  const plain = connectConfig(env(/^$/));
  assert.equal(plain.connectionOptions.address, 'temporal-frontend.example.internal:7233');
  assert.equal(plain.namespace, 'replication-medic');
  assert.equal(tlsMode(plain.connectionOptions), 'none');
  // The example's certificate paths do not exist here: the files are read when the settings are.
  assert.throws(() => connectConfig(env(/^TEMPORAL_TLS_/)), /\/etc\/replication-medic\/tls\/(client|ca)\.(pem|key)/);
  const cloud = connectConfig(env(/^TEMPORAL_(API_KEY|ADDRESS|NAMESPACE)$/));
  assert.equal(cloud.connectionOptions.address, '<namespace>.<account>.tmprl.cloud:7233');
  assert.equal(tlsMode(cloud.connectionOptions), 'server TLS, API key');
});
