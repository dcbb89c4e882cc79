import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fail, firstError, ok } from '../../parsers/result';
import { hasControlChars, nonBlankLines, normalizeWs, show, splitLines, toInt, words } from '../../parsers/text';

test('text: line splitting and white-space normalisation', () => {
  assert.deepEqual(splitLines('a\r\nb\nc\rd'), ['a', 'b', 'c', 'd']);
  assert.equal(normalizeWs(' \ta  \t b \r'), 'a b');
  assert.deepEqual(nonBlankLines('x\r\n \t\r\n y\tz \n'), [
    { no: 1, raw: 'x', text: 'x' },
    { no: 3, raw: ' y\tz ', text: 'y z' },
  ]);
  assert.deepEqual(words('  a\t\tb  '), ['a', 'b']);
  assert.deepEqual(words(' \t '), []);
});

test('text: toInt, show, hasControlChars', () => {
  assert.equal(toInt('-1'), -1);
  assert.equal(toInt('1133'), 1133);
  for (const bad of ['', '1.5', '0x10', ' 1', '1e3', '99999999999999999']) assert.equal(toInt(bad), undefined, bad);
  assert.equal(show('ab'), '"ab"');
  assert.equal(show('abcdef', 3), '"abc..."');
  assert.equal(hasControlChars('a\tb'), true);
  assert.equal(hasControlChars('a\u007fb'), true);
  assert.equal(hasControlChars('abc'), false);
});

test('result: ok, fail, firstError', () => {
  assert.deepEqual(ok(1), { ok: true, value: 1 });
  assert.deepEqual(fail('x'), { ok: false, error: 'x' });
  assert.deepEqual(fail('x', 3), { ok: false, error: 'x', line: 3 });
  assert.equal(firstError(ok(1), fail('a'), fail('b')), 'a');
  assert.equal(firstError(ok(1)), undefined);
});
