/**
 * Bearer tokens are compared in constant time: `sameToken` answers right for equal, different,
 * different-length, empty and unicode tokens, and it always makes exactly one `timingSafeEqual` call on two
 * 32-byte digests, whatever the lengths: an early return on a length mismatch, a `===`, or a comparison of
 * the raw bytes (whose length is the token's) fails here. No timing is measured (that would be flaky).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { sameToken } from '../../worker/http';

const TOKEN = 'c0ffee'.repeat(8);
const CASES: { given: string; expected: string; same: boolean; what: string }[] = [
  { given: TOKEN, expected: TOKEN, same: true, what: 'equal' },
  { given: `${TOKEN.slice(0, -1)}f`, expected: TOKEN, same: false, what: 'same length, last character differs' },
  { given: `x${TOKEN.slice(1)}`, expected: TOKEN, same: false, what: 'same length, first character differs' },
  { given: TOKEN.slice(0, -1), expected: TOKEN, same: false, what: 'a prefix (one shorter)' },
  { given: `${TOKEN}0`, expected: TOKEN, same: false, what: 'one longer' },
  { given: 'x', expected: TOKEN, same: false, what: 'much shorter' },
  { given: TOKEN.repeat(50), expected: TOKEN, same: false, what: 'much longer' },
  { given: '', expected: TOKEN, same: false, what: 'empty given' },
  { given: TOKEN, expected: '', same: false, what: 'empty expected' },
  { given: '', expected: '', same: true, what: 'both empty' },
  { given: 'пароль-токен-✓-🔑', expected: 'пароль-токен-✓-🔑', same: true, what: 'equal unicode' },
  { given: 'пароль-токен-✓-🔐', expected: 'пароль-токен-✓-🔑', same: false, what: 'unicode, last emoji differs' },
  { given: 'café', expected: 'cafe\u0301', same: false, what: 'NFC vs NFD (no normalisation)' },
  { given: 'é', expected: 'Ã©', same: false, what: 'UTF-8 bytes of é read as Latin-1' },
  { given: 'a\u0000', expected: 'a', same: false, what: 'trailing NUL' },
];

test('sameToken: equal, different, different-length, empty and unicode tokens', () => {
  for (const c of CASES) assert.equal(sameToken(c.given, c.expected), c.same, c.what);
});

test('sameToken: one timingSafeEqual over two 32-byte digests for every pair, whatever the lengths', (t) => {
  const calls = t.mock.method(crypto, 'timingSafeEqual');
  for (const c of CASES) {
    const before = calls.mock.callCount();
    assert.equal(sameToken(c.given, c.expected), c.same, c.what);
    assert.equal(calls.mock.callCount() - before, 1, `${c.what}: exactly one constant-time comparison`);
    const [a, b] = calls.mock.calls[before].arguments as [Buffer, Buffer];
    assert.deepEqual([a.length, b.length], [32, 32], `${c.what}: compares fixed-size digests, not the tokens (${a.length}, ${b.length} bytes)`);
  }
});
