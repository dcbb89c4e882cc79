// Checks on free-form command output (clean_*_replica.sh, ic flip).
import { nonBlankLines, normalizeWs, show } from './text';

/** The last non-blank lines of output, white space normalised, must equal expected in order. */
export function endsWithLines(output: string, expected: string[]): { ok: boolean; reason: string } {
  const want = expected.map(normalizeWs);
  if (want.length === 0 || want.some((w) => w === '')) return { ok: false, reason: 'expected lines must be non-empty' };
  const got = nonBlankLines(output).map((l) => l.text);
  if (got.length < want.length) {
    return { ok: false, reason: `output has ${got.length} non-blank line(s), expected at least ${want.length} ending with ${show(want[0])}` };
  }
  const tail = got.slice(got.length - want.length);
  for (let i = 0; i < want.length; i++) {
    if (tail[i] !== want[i]) {
      return { ok: false, reason: `line ${i + 1} of the last ${want.length}: expected ${show(want[i])}, got ${show(tail[i])}` };
    }
  }
  return { ok: true, reason: `output ends with the expected ${want.length} line(s)` };
}

/** Expected end of `clean_kust_replica.sh <instance>`. */
export function kustCleanExpected(instance: string): string[] {
  return [`INFO: starting ${instance}`, `INFO: successfully started ${instance}`];
}

/** Expected end of `clean_tnt_replica.sh <instance>`. */
export function tntCleanExpected(instance: string): string[] {
  return [
    `INFO: starting tarantool instance tarantool@${instance}`,
    `INFO: successfully started tarantool@${instance}`,
    'INFO: waiting 10 seconds',
    `INFO: starting IPROS instance ${instance}`,
    `INFO: successfully started ${instance}`,
  ];
}

/** True if output contains one of words as a whole word (case-sensitive; word characters are [A-Za-z0-9_]). */
export function containsWord(output: string, words: string[]): boolean {
  return words.some((w) => {
    if (w === '') return false;
    const escaped = w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(`(?<![A-Za-z0-9_])${escaped}(?![A-Za-z0-9_])`).test(output);
  });
}
