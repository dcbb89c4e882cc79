/**
 * The cluster nodes' Temporal configuration (deploy/cluster/config.ts), as the server reads it: each node's
 * four services bound to its own address with the shared ports, PostgreSQL persistence and SQL visibility,
 * the shard count, and with TLS: the frontend requires client certificates of the CA and the node's system
 * worker presents one. The rendered files are also checked by the real server in npm run test:cluster.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { dynamicConfig, nodeConfig, NodeSettings, SERVICES } from '../../deploy/cluster/config';

const ports = {
  grpc: { frontend: 21001, history: 21002, matching: 21003, worker: 21004 },
  membership: { frontend: 21011, history: 21012, matching: 21013, worker: 21014 },
  frontendHttp: 21020,
};
const base: NodeSettings = {
  ip: '127.0.0.3',
  ports,
  shards: 4,
  dynamicConfigFile: '/c/dynamicconfig.yaml',
  db: { host: '127.0.0.1', port: 25432, user: 'temporal', password: 'pw', database: 'temporal', visibilityDatabase: 'temporal_visibility' },
};
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

test('a node binds every service to its own address and broadcasts it; persistence and visibility are PostgreSQL; the shards as asked', () => {
  const c = parse(nodeConfig(base)) as Doc;
  for (const s of SERVICES) {
    assert.equal(c.services[s].rpc.bindOnIP, '127.0.0.3');
    assert.equal(c.services[s].rpc.grpcPort, ports.grpc[s]);
    assert.equal(c.services[s].rpc.membershipPort, ports.membership[s]);
  }
  assert.equal(c.global.membership.broadcastAddress, '127.0.0.3');
  assert.equal(c.persistence.numHistoryShards, 4);
  assert.equal(c.persistence.datastores[c.persistence.defaultStore].sql.pluginName, 'postgres12');
  assert.equal(c.persistence.datastores[c.persistence.visibilityStore].sql.databaseName, 'temporal_visibility');
  assert.equal(c.publicClient.hostPort, '127.0.0.3:21001', 'the system worker uses its own node');
  assert.equal(c.global.tls, undefined, 'no TLS unless asked');
});

test('with TLS the frontend requires client certificates of the CA, and the node\'s system worker presents one', () => {
  const tls = { serverCert: '/t/s.pem', serverKey: '/t/s.key', caCert: '/t/ca.pem', internalClientCert: '/t/c.pem', internalClientKey: '/t/c.key', serverName: 'localhost' };
  const c = parse(nodeConfig({ ...base, tls })) as Doc;
  assert.deepEqual(c.global.tls.frontend.server, { certFile: '/t/s.pem', keyFile: '/t/s.key', requireClientAuth: true, clientCaFiles: ['/t/ca.pem'] });
  assert.deepEqual(c.global.tls.systemWorker, { certFile: '/t/c.pem', keyFile: '/t/c.key', client: { serverName: 'localhost', rootCaFiles: ['/t/ca.pem'] } });
});

test('dynamic config is written in the server\'s file format: a list of {value, constraints} per key', () => {
  assert.deepEqual(parse(dynamicConfig({ 'system.enableActivityEagerExecution': true })), { 'system.enableActivityEagerExecution': [{ value: true, constraints: {} }] });
});
