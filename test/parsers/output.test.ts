import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containsWord, endsWithLines, kustCleanExpected, tntCleanExpected } from '../../parsers/output';

const KUST_OUT = `removing /data/kust/cox-1/snap/000001.snap
removing /data/kust/cox-1/wal/000002.xlog
INFO: stopping cox-1
INFO: starting cox-1
INFO: successfully started cox-1
`;

const TNT_OUT = `removing /var/lib/tarantool/badger-3/00000000000000000042.snap
INFO: starting tarantool instance tarantool@badger-3
INFO: successfully started tarantool@badger-3
INFO: waiting 10 seconds
INFO: starting IPROS instance badger-3
INFO: successfully started badger-3
`;

test('kustCleanExpected / tntCleanExpected: the lines of RUNBOOKS.md', () => {
  assert.deepEqual(kustCleanExpected('cox-1'), ['INFO: starting cox-1', 'INFO: successfully started cox-1']);
  assert.deepEqual(tntCleanExpected('badger-3'), [
    'INFO: starting tarantool instance tarantool@badger-3',
    'INFO: successfully started tarantool@badger-3',
    'INFO: waiting 10 seconds',
    'INFO: starting IPROS instance badger-3',
    'INFO: successfully started badger-3',
  ]);
});

test('endsWithLines: accepts the expected tail, tolerant of white space', () => {
  assert.deepEqual(endsWithLines(KUST_OUT, kustCleanExpected('cox-1')), { ok: true, reason: 'output ends with the expected 2 line(s)' });
  assert.equal(endsWithLines(TNT_OUT, tntCleanExpected('badger-3')).ok, true);
  const messy = TNT_OUT.replace(/ /g, ' \t  ').replace(/\n/g, '  \r\n\r\n') + '\n\n   \n';
  assert.equal(endsWithLines(messy, tntCleanExpected('badger-3')).ok, true);
  assert.equal(endsWithLines('INFO:   starting\tcox-1\rINFO: successfully started cox-1', kustCleanExpected('cox-1')).ok, true);
});

test('endsWithLines: rejects a different, reordered, longer or shorter tail', () => {
  assert.deepEqual(endsWithLines(KUST_OUT, kustCleanExpected('cox-2')), {
    ok: false,
    reason: 'line 1 of the last 2: expected "INFO: starting cox-2", got "INFO: starting cox-1"',
  });
  const failed = KUST_OUT.replace('INFO: successfully started cox-1', 'ERROR: failed to start cox-1');
  assert.match(endsWithLines(failed, kustCleanExpected('cox-1')).reason, /line 2 of the last 2: expected "INFO: successfully started cox-1", got "ERROR: failed to start cox-1"/);
  assert.equal(endsWithLines(`${KUST_OUT}WARN: something else\n`, kustCleanExpected('cox-1')).ok, false);
  const swapped = TNT_OUT.replace('INFO: waiting 10 seconds\nINFO: starting IPROS instance badger-3', 'INFO: starting IPROS instance badger-3\nINFO: waiting 10 seconds');
  assert.equal(endsWithLines(swapped, tntCleanExpected('badger-3')).ok, false);
  assert.equal(endsWithLines('INFO: starting tarantool instance tarantool@badger-3', tntCleanExpected('badger-3')).ok, false);
  assert.match(endsWithLines('', kustCleanExpected('cox-1')).reason, /output has 0 non-blank line\(s\), expected at least 2/);
  // exact tokens: case and punctuation matter
  assert.equal(endsWithLines('info: starting cox-1\nINFO: successfully started cox-1', kustCleanExpected('cox-1')).ok, false);
  assert.equal(endsWithLines(`${KUST_OUT.trim()}.`, kustCleanExpected('cox-1')).ok, false);
});

test('endsWithLines: an empty expectation is refused', () => {
  assert.deepEqual(endsWithLines(KUST_OUT, []), { ok: false, reason: 'expected lines must be non-empty' });
  assert.equal(endsWithLines(KUST_OUT, ['  ']).ok, false);
});

test('containsWord: whole words only, case-sensitive', () => {
  assert.equal(containsWord('instance badger-3 started', ['started', 'OK']), true);
  assert.equal(containsWord('flip: OK\n', ['started', 'OK']), true);
  assert.equal(containsWord('[OK]', ['OK']), true);
  assert.equal(containsWord('started.', ['started']), true);
  assert.equal(containsWord('restarted badger-3', ['started']), false);
  assert.equal(containsWord('started_at=now', ['started']), false);
  assert.equal(containsWord('OKAY', ['OK']), false);
  assert.equal(containsWord('ok', ['OK']), false);
  assert.equal(containsWord('error: flip refused', ['started', 'OK']), false);
  assert.equal(containsWord('anything', []), false);
  assert.equal(containsWord('anything', ['']), false);
  // words are literal text, not regular expressions
  assert.equal(containsWord('x a+b y', ['a+b']), true);
  assert.equal(containsWord('x aab y', ['a+b']), false);
});
