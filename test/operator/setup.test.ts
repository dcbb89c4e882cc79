/**
 * `medic setup` (client/setup.ts) against a real Temporal dev server started bare: no search attributes,
 * only the `default` namespace, while the configuration names another namespace, as on a fresh cluster.
 * The CLI runs as a child process (TEMPORAL_ADDRESS = the server); the server itself says what changed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { REPO_ROOT, temporalBinaries } from '../../worker/binaries';
import { DevServer, startDevServer } from '../../worker/devserver';
import { runNode, temporalEnv } from '../helpers/medic-cli';
import { freePort } from '../helpers/service';
import { eventually } from '../helpers/temporal';

const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
const TEXT = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT;
const NAMESPACE = 'medic-setup';

const dir = mkdtempSync(path.join(os.tmpdir(), 'medic-setup-'));
let server: DevServer;
let connection: Connection;
let configFile: string;

before(async () => {
  server = await startDevServer({ cli: temporalBinaries().cli, dataDir: path.join(dir, 'temporal'), port: await freePort(), uiPort: 0, searchAttributes: {}, notice: () => undefined });
  connection = await Connection.connect({ address: server.address });
  const doc = YAML.parse(readFileSync(path.join(REPO_ROOT, 'config', 'medic.example.yaml'), 'utf8')) as { service: Record<string, unknown> };
  doc.service.namespace = NAMESPACE;
  doc.service.dataDir = path.join(dir, 'data');
  configFile = path.join(dir, 'medic.yaml');
  writeFileSync(configFile, YAML.stringify(doc));
});
after(async () => {
  await connection?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const setup = (args: string[] = [], env: Record<string, string> = {}) => runNode(['setup', '--config', configFile, ...args], temporalEnv({ TEMPORAL_ADDRESS: server.address, ...env }));
const attributes = async (namespace: string) => (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
/** What the server holds for the namespace: its description (without the per-call fields) and its custom attributes. */
async function snapshot(namespace: string): Promise<unknown> {
  const d = await connection.workflowService.describeNamespace({ namespace });
  return JSON.parse(JSON.stringify({ info: d.namespaceInfo, config: d.config, replication: d.replicationConfig, attributes: await attributes(namespace) }));
}

test('a fresh cluster: the first medic setup creates the namespace and the three Keyword search attributes; a second changes nothing and says so', async () => {
  await assert.rejects(connection.workflowService.describeNamespace({ namespace: NAMESPACE }), /not found/i, 'the namespace does not exist yet');
  assert.equal((await attributes('default')).Runbook, undefined, 'the server has no search attributes of ours');

  const first = await setup(['--retention', '48h']);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stderr, '');
  assert.deepEqual(first.stdout.trim().split('\n'), [`medic: namespace ${NAMESPACE} created (retention 48h)`, `medic: search attributes Runbook, Target, RunStatus (Keyword) added to ${NAMESPACE}`]);
  const described = await connection.workflowService.describeNamespace({ namespace: NAMESPACE });
  assert.equal(Number(described.config?.workflowExecutionRetentionTtl?.seconds), 48 * 3600);
  const have = await attributes(NAMESPACE);
  assert.deepEqual([have.Runbook, have.Target, have.RunStatus], [KEYWORD, KEYWORD, KEYWORD]);

  const before = await snapshot(NAMESPACE);
  const second = await setup();
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, `medic: namespace ${NAMESPACE} and its search attributes Runbook, Target, RunStatus (Keyword) are in place: nothing to do\n`);
  const json = await setup(['--json']);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), { namespace: NAMESPACE, created: false, added: [], present: ['Runbook', 'Target', 'RunStatus'] });
  assert.deepEqual(await snapshot(NAMESPACE), before, 'the second and third runs changed nothing (retention 48h kept, not reset to the default 72h)');
});

test('TEMPORAL_NAMESPACE wins over the configuration; an attribute of another type there is refused by name and nothing is added', async () => {
  const other = 'medic-wrong-type';
  await connection.workflowService.registerNamespace({ namespace: other, workflowExecutionRetentionPeriod: msToTs('24h') });
  // Asked again while the new namespace is not yet known to the frontend's cache.
  const addText = () => connection.operatorService.addSearchAttributes({ namespace: other, searchAttributes: { Runbook: TEXT } }).catch(() => undefined);
  await eventually(() => addText().then(() => attributes(other)), (a) => a.Runbook === TEXT);
  const before = await snapshot(other);
  const refused = await setup([], { TEMPORAL_NAMESPACE: other });
  assert.equal(refused.code, 1, refused.stdout);
  assert.equal(refused.stdout, '');
  assert.equal(
    refused.stderr,
    `medic: namespace ${other}: search attribute Runbook exists as Text, medic needs Keyword; nothing changed: remove it (temporal operator search-attribute remove --namespace ${other} --name Runbook) or use another namespace\n`,
  );
  assert.deepEqual(await snapshot(other), before, 'Target and RunStatus were not added either');

  const bad = await setup(['--retention', '3 days']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--retention 3 days: expected hours or days such as 72h or 30d/);
});
