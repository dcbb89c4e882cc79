import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClusterStatus, parseGrastate, parseStatusRows, parseWsrepRecover, parseWsrepStatus } from '../../parsers/galera';

const UUID = '220dcdcb-1629-11e4-add3-aec059ad3734';
const GRASTATE = `# GALERA saved state
version: 2.1
uuid:    ${UUID}
seqno:   -1
safe_to_bootstrap: 0
`;

test('parseGrastate: crashed node (seqno -1), graceful last node, old format', () => {
  assert.deepEqual(parseGrastate(GRASTATE), { ok: true, value: { version: '2.1', uuid: UUID, seqno: -1, safeToBootstrap: false } });
  const last = GRASTATE.replace('seqno:   -1', 'seqno:   1133').replace('safe_to_bootstrap: 0', 'safe_to_bootstrap:\t1').replace(/\n/g, '\r\n');
  assert.deepEqual(parseGrastate(`\n${last}\n\n`), { ok: true, value: { version: '2.1', uuid: UUID, seqno: 1133, safeToBootstrap: true } });
  const old = parseGrastate(GRASTATE.replace('safe_to_bootstrap: 0\n', ''));
  assert.deepEqual(old, { ok: true, value: { version: '2.1', uuid: UUID, seqno: -1 } });
  assert.equal(parseGrastate(GRASTATE.replace('uuid:    ', 'uuid:')).ok, true);
});

test('parseGrastate: errors', () => {
  const err = (t: string) => {
    const r = parseGrastate(t);
    assert.equal(r.ok, false, t);
    return r.ok ? { error: '' } : r;
  };
  assert.deepEqual(err(`${GRASTATE}garbage\n`), { ok: false, error: 'unrecognised grastate.dat line "garbage"', line: 6 });
  assert.match(err('').error, /missing or invalid version/);
  assert.match(err(GRASTATE.replace(/uuid.*\n/, '')).error, /missing or invalid uuid/);
  assert.match(err(GRASTATE.replace(UUID, 'not-a-uuid')).error, /missing or invalid uuid "not-a-uuid"/);
  assert.match(err(GRASTATE.replace('seqno:   -1', 'seqno: abc')).error, /missing or invalid seqno "abc"/);
  assert.match(err(GRASTATE.replace('seqno:   -1', 'seqno: -2')).error, /missing or invalid seqno "-2"/);
  assert.match(err(GRASTATE.replace('seqno:   -1', 'seqno: 99999999999999999999')).error, /invalid seqno/);
  assert.match(err(GRASTATE.replace(/seqno.*\n/, '')).error, /missing or invalid seqno/);
  assert.match(err(GRASTATE.replace('safe_to_bootstrap: 0', 'safe_to_bootstrap: 2')).error, /invalid safe_to_bootstrap "2"/);
  assert.match(err(`${GRASTATE}seqno: 5\n`).error, /seqno given twice/);
  assert.match(err(GRASTATE.replace('version: 2.1', 'version: two')).error, /invalid version/);
  assert.match(err(GRASTATE.replace('seqno:   -1', 'seqno: -1 5')).error, /unrecognised grastate.dat line/);
});

// mysql client table output, shaped like the Manticore manual's SHOW STATUS example.
const MANTICORE_TABLE = `+------------------------------+-------------------------------------------+
| Counter                      | Value                                     |
+------------------------------+-------------------------------------------+
| cluster_posts_state_uuid     | fba97c45-36df-11e9-a84e-eb09d14b8ea7      |
| cluster_posts_conf_id        | 1                                         |
| cluster_posts_status         | primary                                   |
| cluster_posts_size           | 3                                         |
| cluster_posts_local_index    | 0                                         |
| cluster_posts_node_state     | synced                                    |
| cluster_posts_last_committed | 1133                                      |
| cluster_posts_indexes        | pq1,pq_posts                              |
| cluster_posts_nodes_view     | 10.10.0.1:9312,10.10.0.1:9320:replication |
| cluster_posts_sst_stage      | send files                                |
| cluster_posts_last_error     |                                           |
+------------------------------+-------------------------------------------+
`;

test('parseClusterStatus: ASCII table', () => {
  const r = parseClusterStatus(MANTICORE_TABLE, 'posts');
  assert.ok(r.ok);
  assert.equal(r.value.status, 'primary');
  assert.equal(r.value.size, 3);
  assert.equal(r.value.nodeState, 'synced');
  assert.equal(r.value.lastCommitted, 1133);
  assert.equal(r.value.raw.cluster_posts_sst_stage, 'send files');
  assert.equal(r.value.raw.cluster_posts_last_error, '');
  assert.equal(r.value.raw.cluster_posts_nodes_view, '10.10.0.1:9312,10.10.0.1:9320:replication');
  assert.equal(Object.keys(r.value.raw).length, 11);
});

test('parseClusterStatus: batch (-B) output with and without header, non-primary, disconnected', () => {
  const batch = 'Counter\tValue\ncluster_posts_status\tnon_primary\ncluster_posts_size\t1\ncluster_posts_node_state\tjoining\n';
  assert.deepEqual(parseClusterStatus(batch, 'posts'), {
    ok: true,
    value: {
      status: 'non-primary',
      size: 1,
      nodeState: 'joining',
      raw: { cluster_posts_status: 'non_primary', cluster_posts_size: '1', cluster_posts_node_state: 'joining' },
    },
  });
  const noHeader = 'cluster_posts_status\tdisconnected\r\ncluster_posts_sst_stage\tsend files\r\n';
  const r = parseClusterStatus(noHeader, 'posts');
  assert.ok(r.ok);
  assert.equal(r.value.status, 'disconnected');
  assert.equal(r.value.size, undefined);
  assert.equal(r.value.raw.cluster_posts_sst_stage, 'send files');
});

test("parseClusterStatus: rows of another cluster matched by LIKE's _ wildcard are ignored", () => {
  const both = 'cluster_post_status\tnon_primary\ncluster_post_size\t1\ncluster_posts_status\tprimary\ncluster_posts_size\t3\n';
  const post = parseClusterStatus(both, 'post');
  assert.ok(post.ok);
  assert.deepEqual([post.value.status, post.value.size, Object.keys(post.value.raw)], ['non-primary', 1, ['cluster_post_status', 'cluster_post_size']]);
  // the reverse cannot happen: LIKE 'cluster_posts_%' never returns cluster_post_* rows
  assert.deepEqual(parseClusterStatus(both, 'posts'), { ok: false, error: 'unrecognised status row "cluster_post_status non_primary"', line: 1 });
});

test('parseClusterStatus: errors', () => {
  const err = (t: string, c = 'posts') => {
    const r = parseClusterStatus(t, c);
    assert.equal(r.ok, false, t);
    return r.ok ? '' : r.error;
  };
  assert.match(err(''), /no cluster_posts_status row/);
  assert.match(err(MANTICORE_TABLE, 'other'), /unrecognised status row "\| cluster_posts_state_uuid/);
  assert.match(err('Empty set (0.00 sec)', 'other'), /no cluster_other_status row/);
  assert.match(err(MANTICORE_TABLE, 'posts;drop'), /cluster "posts;drop" rejected/);
  assert.match(err(MANTICORE_TABLE.replace('| primary  ', '| weird    ')), /unknown cluster status "weird"/);
  assert.match(err(MANTICORE_TABLE.replace('| 3        ', '| three    ')), /cluster_posts_size is not an integer: "three"/);
  assert.match(err(`${MANTICORE_TABLE}| cluster_posts_status | primary\n`), /malformed table row/);
  assert.match(err(`${MANTICORE_TABLE}| cluster_posts_status | primary |\n`), /cluster_posts_status given twice/);
  assert.match(err('ERROR 2002 (HY000): Can\'t connect to MySQL server on \'127.0.0.1:9306\''), /unrecognised status row/);
});

// MariaDB Galera: SHOW STATUS LIKE 'wsrep_%' (a subset of rows).
const WSREP_TABLE = `+---------------------------+--------------------------------------+
| Variable_name             | Value                                |
+---------------------------+--------------------------------------+
| wsrep_cluster_conf_id     | 3                                    |
| wsrep_cluster_size        | 3                                    |
| wsrep_cluster_state_uuid  | ${UUID} |
| wsrep_cluster_status      | Primary                              |
| wsrep_last_committed      | 1133                                 |
| wsrep_local_state_comment | Synced                               |
| wsrep_ready               | ON                                   |
+---------------------------+--------------------------------------+
`;

test('parseWsrepStatus: table and batch output', () => {
  const r = parseWsrepStatus(WSREP_TABLE);
  assert.ok(r.ok);
  assert.deepEqual([r.value.status, r.value.size, r.value.nodeState, r.value.lastCommitted], ['primary', 3, 'synced', 1133]);
  assert.equal(r.value.raw.wsrep_cluster_state_uuid, UUID);
  const batch = parseWsrepStatus('Variable_name\tValue\nwsrep_cluster_status\tNon-Primary\nwsrep_cluster_size\t1\nwsrep_local_state_comment\tInitialized\n');
  assert.ok(batch.ok);
  assert.deepEqual([batch.value.status, batch.value.size, batch.value.nodeState], ['non-primary', 1, 'initialized']);
  assert.equal((parseWsrepStatus('wsrep_cluster_status Disconnected') as { value: { status: string } }).value.status, 'disconnected');
  assert.match((parseWsrepStatus('wsrep_ready OFF') as { error: string }).error, /no wsrep_cluster_status row/);
  assert.match((parseWsrepStatus('ERROR 1045 (28000): Access denied') as { error: string }).error, /unrecognised status row/);
  assert.match((parseWsrepStatus('wsrep_cluster_status Primary-ish') as { error: string }).error, /unknown cluster status/);
});

test('parseStatusRows: skips borders, headers and row counts', () => {
  assert.deepEqual(parseStatusRows(`${WSREP_TABLE}7 rows in set (0.001 sec)\n`, 'wsrep_%').ok, true);
  assert.deepEqual(parseStatusRows('Empty set (0.00 sec)\n', 'wsrep_%'), { ok: true, value: {} });
  assert.deepEqual(parseStatusRows('a_1  1\naX2\n', 'a_%'), { ok: true, value: { a_1: '1', aX2: '' } });
  assert.deepEqual(parseStatusRows('b_1 1', 'a_%'), { ok: false, error: 'unrecognised status row "b_1 1"', line: 1 });
});

test('parseWsrepRecover: recovered position from a --wsrep-recover log', () => {
  const log = `2024-05-14 10:00:00 0 [Note] Starting MariaDB 10.6.17 as process 1234
2024-05-14 10:00:01 0 [Note] WSREP: Recovered position: ${UUID}:1122
2024-05-14 10:00:01 0 [Note] mysqld: Shutdown complete
`;
  assert.deepEqual(parseWsrepRecover(log), { ok: true, value: { uuid: UUID, seqno: 1122 } });
  assert.deepEqual(parseWsrepRecover(`${log.replace(/\n/g, '\r\n')}WSREP: Recovered position: ${UUID}:1122\n`), { ok: true, value: { uuid: UUID, seqno: 1122 } });
  assert.deepEqual(parseWsrepRecover(`[Note] WSREP: Recovered position: 00000000-0000-0000-0000-000000000000:-1`), {
    ok: true,
    value: { uuid: '00000000-0000-0000-0000-000000000000', seqno: -1 },
  });
  assert.deepEqual(parseWsrepRecover('mysqld: Shutdown complete'), { ok: false, error: 'no "WSREP: Recovered position" line' });
  assert.match((parseWsrepRecover(`WSREP: Recovered position: ${UUID}:abc`) as { error: string }).error, /malformed recovered position/);
  assert.match((parseWsrepRecover('WSREP: Recovered position: nonsense:5') as { error: string }).error, /malformed recovered position/);
  assert.match((parseWsrepRecover(`${log}WSREP: Recovered position: ${UUID}:1123\n`) as { error: string }).error, /several different recovered positions/);
});
