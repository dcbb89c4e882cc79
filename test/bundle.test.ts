/**
 * The build-time workflow bundle (worker/bundle.ts): it is used only while every file webpack read for
 * it still has its hash and the SDK is the same; anything else makes the worker bundle at start, saying
 * why. A small workflows module of its own (under .data/, so that node_modules resolves) stands in for
 * dist/workflows, which other tests use at the same time; and the real build: after `npm test`'s set-up
 * the worker takes dist/workflow-bundle.js without a word.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { BUNDLE_FILE, buildWorkflowBundle, prebuiltBundle, workflowCode } from '../worker/bundle';
import { REPO_ROOT } from '../worker/binaries';

mkdirSync(path.join(REPO_ROOT, '.data'), { recursive: true });
const dir = mkdtempSync(path.join(REPO_ROOT, '.data', 'bundle-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const index = path.join(dir, 'workflows', 'index.js');
const helper = path.join(dir, 'workflows', 'helper.js');
const bundleFile = path.join(dir, 'out', 'workflow-bundle.js');
const manifestFile = path.join(dir, 'out', 'workflow-bundle.json');

test('a bundle is current until one of its inputs, its SDK or the bundle itself changes', async () => {
  mkdirSync(path.dirname(index), { recursive: true });
  writeFileSync(index, "const { sleep } = require('@temporalio/workflow');\nconst { value } = require('./helper');\nexports.tinyWorkflow = async () => { await sleep(1); return value; };\n");
  writeFileSync(helper, 'exports.value = 1;\n');
  const built = await buildWorkflowBundle({ workflowsPath: index, bundleFile });
  assert.ok(built.bytes > 100_000, `a bundle with the SDK's workflow library: ${built.bytes} bytes`);
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { sdk: string; inputs: Record<string, string> };
  const inputs = Object.keys(manifest.inputs).map((f) => path.resolve(path.dirname(manifestFile), f));
  assert.ok(inputs.includes(index) && inputs.includes(helper), `the module and what it imports are inputs: ${inputs.filter((f) => f.startsWith(dir)).join(', ')}`);
  assert.ok(inputs.some((f) => f.includes(`${path.sep}@temporalio${path.sep}workflow${path.sep}`)), 'the SDK workflow library files are inputs too');

  const current = prebuiltBundle(bundleFile);
  assert.ok('code' in current && current.code.includes('tinyWorkflow'), JSON.stringify('stale' in current && current.stale));

  writeFileSync(helper, 'exports.value = 2;\n');
  assert.deepEqual(prebuiltBundle(bundleFile), { stale: `${helper} changed since the workflow bundle was built` });
  writeFileSync(helper, 'exports.value = 1;\n');
  assert.ok('code' in prebuiltBundle(bundleFile), 'the same content again: current again');
  unlinkSync(helper);
  assert.deepEqual(prebuiltBundle(bundleFile), { stale: `${helper} is gone since the workflow bundle was built` });
  writeFileSync(helper, 'exports.value = 1;\n');

  const good = readFileSync(manifestFile, 'utf8');
  writeFileSync(manifestFile, JSON.stringify({ ...manifest, sdk: '0.0.1' }));
  assert.match(JSON.stringify(prebuiltBundle(bundleFile)), /the prebuilt workflow bundle is of SDK 0\.0\.1, this worker's is \d/);
  writeFileSync(manifestFile, good);

  const code = readFileSync(bundleFile, 'utf8');
  writeFileSync(bundleFile, code.slice(0, code.length / 2));
  assert.deepEqual(prebuiltBundle(bundleFile), { stale: `${bundleFile} is not the file its manifest describes` });
  writeFileSync(bundleFile, code);
  assert.ok('code' in prebuiltBundle(bundleFile));

  unlinkSync(manifestFile);
  assert.deepEqual(prebuiltBundle(bundleFile), { stale: `no prebuilt workflow bundle (${bundleFile})` });
});

test('the workflow code a worker takes: given, else MEDIC_WORKFLOW_BUNDLE, else the build-time bundle (current after the set-up)', () => {
  const notices: string[] = [];
  const notice = (l: string) => notices.push(l);
  assert.deepEqual(workflowCode({ code: 'given' }, notice, { MEDIC_WORKFLOW_BUNDLE: '/x.js' }), { workflowBundle: { code: 'given' } });
  assert.deepEqual(workflowCode(undefined, notice, { MEDIC_WORKFLOW_BUNDLE: '/x.js' }), { workflowBundle: { codePath: '/x.js' } });
  const built = workflowCode(undefined, notice, {});
  assert.deepEqual(notices, [], `scripts/bootstrap.sh built ${BUNDLE_FILE} for the current dist/workflows`);
  assert.ok('workflowBundle' in built && 'code' in built.workflowBundle && built.workflowBundle.code.length > 100_000);
});

test('tweetnacl bundles into workflow code (its unused require of crypto as an empty module); crypto anywhere else is still refused', async () => {
  const nacl = path.join(dir, 'nacl', 'index.js');
  mkdirSync(path.dirname(nacl), { recursive: true });
  writeFileSync(nacl, "const nacl = require('tweetnacl');\nexports.verifying = async () => nacl.sign.detached.verify(new Uint8Array(1), new Uint8Array(64), new Uint8Array(32));\n");
  const built = await buildWorkflowBundle({ workflowsPath: nacl, bundleFile: path.join(dir, 'nacl-out', 'workflow-bundle.js') });
  assert.ok(built.inputs > 0);
  assert.match(readFileSync(path.join(dir, 'nacl-out', 'workflow-bundle.js'), 'utf8'), /crypto \(ignored\)/);

  const own = path.join(dir, 'own', 'index.js');
  mkdirSync(path.dirname(own), { recursive: true });
  writeFileSync(own, "const { randomBytes } = require('crypto');\nexports.random = async () => randomBytes(4).length;\n");
  await assert.rejects(buildWorkflowBundle({ workflowsPath: own, bundleFile: path.join(dir, 'own-out', 'workflow-bundle.js') }), /disallowed modules:\s+- 'crypto'/);
});
