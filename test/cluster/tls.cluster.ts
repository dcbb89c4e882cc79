/**
 * The cluster with mTLS on its frontends (certificates made here), the service configured only with the
 * standard TEMPORAL_TLS_* settings: `medic setup`, `medic worker` and `medic api` connect and autoflip's
 * lookups of open replication runs work on PostgreSQL (SQL advanced visibility). A client without a
 * certificate, or with one of another CA, is refused; a worker so configured fails with a line that names
 * the address and the TLS mode.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Connection } from '@temporalio/client';
import type { CommandLogEntry } from '../../lab/types';
import { RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { makeCerts, TestCerts } from './certs';
import { runNode } from '../helpers/medic-cli';
import { ClusterEnv, clusterEnv, sleep, until } from './harness';

let env: ClusterEnv;
let certs: TestCerts;

before(async () => {
  certs = makeCerts(mkdtempSync(path.join(os.tmpdir(), 'medic-certs-')), ['127.0.0.2', '127.0.0.3']);
  env = await clusterEnv({
    lab: {
      scenario: 'autoflip-blocked-replfailed',
      extraConfig: { timers: { autoflipRetry: '1s', replicationPoll: '1s', replicationPollMax: '2s' }, approvals: { 'kust-replica': { clean: 'approve' } } },
    },
    cluster: {
      tls: { serverCert: certs.serverCert, serverKey: certs.serverKey, caCert: certs.caCert, internalClientCert: certs.clientCert, internalClientKey: certs.clientKey, serverName: certs.serverName },
    },
    temporalEnv: {
      TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
      TEMPORAL_TLS_SERVER_NAME: certs.serverName,
    },
  });
  await env.addWorker();
});
after(async () => env?.stop());

const post = (route: string, token: string, contentType: string, body: string) =>
  fetch(`${env.api.url}${route}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
const state = (id: string): Promise<RunState> => env.client.workflow.getHandle(id).query(stateQuery);
const line = (e: CommandLogEntry) => `${e.node}: ${e.tool} ${e.argv.join(' ')} -> ${e.exitCode}`;

test('over mTLS: autoflip waits for the open KUST repair it finds in PostgreSQL visibility, then enables the map', { timeout: 5 * 60_000 }, async () => {
  const alert = (text: string) => post('/v1/alerts/checkmk', env.config.api.webhookToken!, 'text/plain', text);
  assert.equal((await alert('2 snmpexec_mon_fate_1_status - - - replfailed (first: 2025-08-14/14:09:05, last: 2025-08-14/14:19:05, total: 600)')).status, 202);
  await until('the KUST repair awaiting approval', () => state('kust-replica/fate-1'), (s) => s.status === 'awaiting-approval');
  assert.equal((await alert('2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [fate]')).status, 202);
  await until('autoflip waiting for the repair', () => state('autoflip/fate'), (s) => s.currentStep === 'wait for kust-replica/fate-1 to finish' && s.status === 'waiting');
  await sleep(3000);
  assert.equal((await state('autoflip/fate')).status, 'waiting', 'still waiting several looks later');
  assert.ok(!env.lab.log().some((e) => e.argv[0] === 'set_autoflip'), 'no set_autoflip while the repair is open');

  const approve = await post('/v1/runs/kust-replica%2Ffate-1/approve', env.lab.operators.alice.token, 'application/json', JSON.stringify({ by: 'alice' }));
  assert.equal(approve.status, 200);
  assert.equal(((await env.client.workflow.getHandle('kust-replica/fate-1').result()) as RunResult).outcome, 'repaired');
  assert.equal(((await env.client.workflow.getHandle('autoflip/fate').result()) as RunResult).outcome, 'repaired');
  assert.deepEqual(env.lab.log().map(line), [
    'vkt-control-01: ic map fate -> 0',
    'vkt-control-01: ic map fate -> 0',
    'onpremise: clean_kust_replica.sh fate-1 -> 0',
    'vkt-control-01: ic set_autoflip fate enable -> 0',
    'vkt-control-01: ic map fate -> 0',
  ]);
  assert.equal(env.lab.state().maps.fate.autoflip, 'enable');
});

test('the frontends refuse a client without a certificate and one with a certificate of another CA', { timeout: 2 * 60_000 }, async () => {
  const ca = readFileSync(certs.caCert);
  const attempt = (tls: NonNullable<Parameters<typeof Connection.connect>[0]>['tls']) =>
    Connection.connect({ address: env.cluster.frontends[0], connectTimeout: 3_000, tls }).then(
      async (c) => {
        try {
          await c.workflowService.getSystemInfo({});
          return 'answered';
        } finally {
          await c.close();
        }
      },
      (err: Error) => `refused: ${err.message}`,
    );
  assert.match(await attempt({ serverNameOverride: certs.serverName, serverRootCACertificate: ca }), /^refused/);
  assert.match(await attempt({ serverNameOverride: certs.serverName, serverRootCACertificate: ca, clientCertPair: { crt: readFileSync(certs.rogueCert), key: readFileSync(certs.rogueKey) } }), /^refused/);
  // The same call with the right certificate answers (so the refusals are about the certificate).
  assert.equal(await attempt({ serverNameOverride: certs.serverName, serverRootCACertificate: ca, clientCertPair: { crt: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } }), 'answered');
  // Nor does plain text get through.
  assert.match(await attempt(undefined), /^refused/);
});

test('medic worker without a client certificate fails, naming the address and the TLS mode', { timeout: 2 * 60_000 }, async () => {
  const { TEMPORAL_TLS_CLIENT_CERT_PATH: _c, TEMPORAL_TLS_CLIENT_KEY_PATH: _k, ...withoutCert } = env.env;
  const r = await runNode(['worker', '--config', env.lab.configPath], withoutCert, undefined, 60_000);
  const said = `${r.stdout}${r.stderr}`;
  // It exits by itself with 1 (a worker that got in would run until the timeout kills it).
  assert.equal(r.code, 1, `exit code 1, not killed: ${said}`);
  const address = env.cluster.frontends[0].replace(/\./g, '\\.');
  assert.match(said, new RegExp(`cannot connect to Temporal at ${address} \\(TLS: server TLS`), `names the address and the TLS mode: ${said}`);
});
