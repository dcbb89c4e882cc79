/**
 * The service refuses to start with an SSH key file that group or others may read or write (OpenSSH's
 * "UNPROTECTED PRIVATE KEY FILE"), a missing one or one that is not a regular file: the check itself,
 * createWorker against a real (time-skipping) Temporal server, and `node dist/worker/main.js` as a process.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import YAML from 'yaml';
import { checkKeyFiles, KeyFileError } from '../../activities/key-files';
import type { Config } from '../../config/schema';
import { createWorker } from '../../worker/worker';
import { testConfig } from '../helpers/settings';
import { timeSkippingEnv, workflowBundle } from '../helpers/temporal';
import { startServiceProcess } from './service-process';

const dir = mkdtempSync(path.join(os.tmpdir(), 'medic-keyfiles-'));
/** A key file with this mode (the content does not matter to the check). */
function keyFile(name: string, mode: number): string {
  const file = path.join(dir, name);
  writeFileSync(file, '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n-----END OPENSSH PRIVATE KEY-----\n');
  chmodSync(file, mode);
  return file;
}
/** The test configuration (control node vkt-control-01 and the ctlr pair) with these key files. */
function configWith(keys: Record<string, string>): Config {
  const config = testConfig({ ctlr: { nodes: ['ctlr-a', 'ctlr-b'] } });
  for (const [host, file] of Object.entries(keys)) config.inventory.hosts[host].keyFile = file;
  for (const h of Object.values(config.inventory.hosts)) if (h.keyFile === '/dev/null') h.keyFile = keys['vkt-control-01'];
  return config;
}

let env: TestWorkflowEnvironment;
before(async () => {
  env = await timeSkippingEnv();
});
after(async () => {
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

test('the check: 0600 and 0400 pass; group/other bits and a directory are refused, naming host, file and mode; a missing file is reported', () => {
  const good = keyFile('good', 0o600);
  assert.doesNotThrow(() => checkKeyFiles(configWith({ 'vkt-control-01': good }).inventory));
  assert.doesNotThrow(() => checkKeyFiles(configWith({ 'vkt-control-01': keyFile('readonly', 0o400) }).inventory));
  const link = path.join(dir, 'link-to-good');
  symlinkSync(good, link);
  assert.doesNotThrow(() => checkKeyFiles(configWith({ 'vkt-control-01': link }).inventory), 'a symlink to a private key is fine (as for OpenSSH)');

  for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602, 0o610, 0o601, 0o660, 0o666, 0o777]) {
    const file = keyFile(`mode-${mode.toString(8)}`, mode);
    const m = `0${mode.toString(8)}`;
    assert.throws(
      () => checkKeyFiles(configWith({ 'vkt-control-01': good, 'ctlr-b': file }).inventory),
      (err: Error) => err instanceof KeyFileError && err.message.includes(`host ctlr-b: SSH key file ${file} has mode ${m}: UNPROTECTED PRIVATE KEY FILE`) && !/vkt-control-01|ctlr-a/.test(err.message),
      `mode ${m}`,
    );
  }
  const missing = path.join(dir, 'no-such-key');
  const folder = path.join(dir, 'a-folder');
  mkdirSync(folder);
  assert.throws(
    () => checkKeyFiles(configWith({ 'vkt-control-01': good, 'ctlr-a': missing, 'ctlr-b': folder }).inventory),
    (err: Error) => err instanceof KeyFileError && err.message.includes(`host ctlr-b: SSH key file ${folder} is not a regular file`) && !err.message.includes('ctlr-a'),
  );
  // A key that is not there (yet) is no risk: reported, not refused (the example configuration names keys a new machine lacks).
  assert.deepEqual(checkKeyFiles(configWith({ 'vkt-control-01': good, 'ctlr-a': missing }).inventory), [`host ctlr-a: SSH key file ${missing} does not exist`]);
  // One line per missing file, naming every host that uses it (the example configuration: three hosts, one key).
  assert.deepEqual(checkKeyFiles(configWith({ 'vkt-control-01': missing, 'ctlr-a': missing, 'ctlr-b': good }).inventory), [`hosts vkt-control-01, ctlr-a: SSH key file ${missing} does not exist`]);
});

test('createWorker rejects a 0644 key before any worker exists; with 0600 it creates a worker that runs', async () => {
  const open = keyFile('open-for-worker', 0o644);
  const bundle = await workflowBundle();
  const refused = await createWorker(env.nativeConnection, configWith({ 'vkt-control-01': keyFile('ok-for-worker', 0o600), 'ctlr-a': open }), { workflowBundle: bundle }).then(
    // A worker that was created after all is shut down at once, so that the failure below is reported (not a hang).
    (w) => w.runUntil(async () => 'a worker was created with a 0644 key'),
    (err: Error) => err,
  );
  assert.ok(refused instanceof KeyFileError, String(refused));
  assert.ok(refused.message.includes(`host ctlr-a: SSH key file ${open} has mode 0644: UNPROTECTED PRIVATE KEY FILE`), refused.message);
  chmodSync(open, 0o600);
  const worker = await createWorker(env.nativeConnection, configWith({ 'vkt-control-01': open }), { workflowBundle: bundle });
  await worker.runUntil(async () => {
    assert.equal(worker.getState(), 'RUNNING');
  });
});

test('node dist/worker/main.js with a 0644 key exits non-zero and says why', async () => {
  const dataDir = path.join(dir, 'service-data');
  const key = keyFile('main-key', 0o644);
  const configFile = path.join(dir, 'medic.yaml');
  writeFileSync(
    configFile,
    YAML.stringify({
      service: { dataDir },
      api: { listen: '127.0.0.1:0' },
      inventory: { controlNode: 'vkt-control-01', hosts: { 'vkt-control-01': { address: '127.0.0.1', keyFile: key, insecureAcceptAnyHostKey: true } } },
    }),
  );
  const svc = await startServiceProcess(configFile, dataDir);
  try {
    assert.equal(svc.apiUrl, undefined, `the API never listened: ${svc.output()}`);
    assert.notEqual(await svc.exited, 0, svc.output());
    assert.ok(svc.output().includes(`host vkt-control-01: SSH key file ${key} has mode 0644: UNPROTECTED PRIVATE KEY FILE`), svc.output());
  } finally {
    // Started after all (the assertions above then fail): stop it rather than leave it running.
    await svc.stop();
  }
});
