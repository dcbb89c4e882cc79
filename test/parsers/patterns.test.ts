import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLUSTER, HOST, HOSTPORT, INSTANCE, MAP, NAMESPACE, NODE, POD, SERVICE, check } from '../../parsers/patterns';

const accepts = (p: RegExp, values: string[]) => {
  for (const v of values) assert.deepEqual(check(p, 'value', v), { ok: true, value: v }, v);
};
const rejects = (p: RegExp, values: string[]) => {
  for (const v of values) assert.equal(check(p, 'value', v).ok, false, v);
};

test('patterns: allow-lists accept the values seen in the runbooks', () => {
  accepts(SERVICE, ['cox', 'badger', 'fate', 'cox_media', 'a']);
  accepts(MAP, ['fate']);
  accepts(INSTANCE, ['cox-1', 'badger-3', 'cox_media-12', 'fate-2']);
  accepts(HOST, ['vkt-4vm-879-standart-01', 'onpremise', 'vkt03.weave.local', '10.32.0.1', 'files-mysql-mysql-cluster-im-db-mysql-1.mysql.files', 'a']);
  accepts(NODE, ['vkt04', 'cox-1', 'badger-3', '01']);
  accepts(NAMESPACE, ['files', 'keycloak', 'store']);
  accepts(POD, ['files-mysql-mysql-cluster-im-db-mysql-1', 'data-files-mysql-mysql-cluster-im-db-mysql-1']);
  accepts(CLUSTER, ['posts', 'Posts_1', '_x']);
  accepts(HOSTPORT, ['10.32.0.1:2510', 'files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306', 'h:1', 'h:65535']);
});

test('patterns: allow-lists reject malformed values', () => {
  rejects(SERVICE, ['Cox', '1cox', 'cox-1', '_cox', 'a'.repeat(64)]);
  rejects(INSTANCE, ['cox', 'cox-', 'cox-12345', 'Cox-1', '-1']);
  rejects(HOST, ['-vkt', 'vkt-', 'vkt03.', '.vkt03', 'vkt_03', `${'a'.repeat(64)}.b`, 'vkt03:22']);
  rejects(NODE, ['vkt04.weave.local', '-x']);
  rejects(NAMESPACE, ['Files', 'files_1', 'a'.repeat(64)]);
  rejects(CLUSTER, ['1posts', 'posts-1']);
  rejects(HOSTPORT, ['h', 'h:0', 'h:65536', 'h:0022', ':22', 'h:22:33']);
});

test('check: clear errors for dangerous input', () => {
  assert.deepEqual(check(SERVICE, 'service', ''), { ok: false, error: 'service is empty' });
  assert.deepEqual(check(SERVICE, 'service', 'cox;reboot'), { ok: false, error: 'service "cox;reboot" rejected: contains shell metacharacter ;' });
  assert.deepEqual(check(HOST, 'host', 'a..b'), { ok: false, error: 'host "a..b" rejected: contains ".."' });
  assert.deepEqual(check(HOST, 'host', '../etc'), { ok: false, error: 'host "../etc" rejected: contains ".."' });
  assert.deepEqual(check(SERVICE, 'service', 'cox 1'), { ok: false, error: 'service "cox 1" rejected: contains white space' });
  assert.deepEqual(check(SERVICE, 'service', 'cox\u0001'), { ok: false, error: 'service "cox\\u0001" rejected: contains control characters' });
  assert.deepEqual(check(SERVICE, 'service', 'cox\n'), { ok: false, error: 'service "cox\\n" rejected: contains control characters' });
  for (const v of ['$(id)', '`id`', 'a|b', 'a&b', 'a>b', "a'b", 'a"b', 'a\\b', 'a*', 'a?', 'a!', '~a', 'a#', 'a{b}', 'a[0]']) {
    assert.match((check(HOST, 'host', v) as { error: string }).error, /contains shell metacharacter/, v);
  }
  const long = 'a'.repeat(254);
  assert.match((check(HOST, 'host', long) as { error: string }).error, /longer than 253 characters \(254\)/);
  assert.match((check(SERVICE, 'service', '-rf') as { error: string }).error, /does not match the allowed service pattern/);
  assert.match((check(SERVICE, 'service', 'сox') as { error: string }).error, /does not match/); // Cyrillic "с"
});
