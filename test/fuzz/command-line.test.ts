/**
 * The command builder (activities/command-line.ts) over arbitrary argv: commandLine either throws
 * UnsafeArgumentError naming the first element that fails SAFE_ARG, or every element passed SAFE_ARG
 * and the line, split by a real POSIX sh (dash) and by bash as they would split it on the host, gives
 * back exactly the argv.
 */
import assert from 'node:assert/strict';
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { commandLine, SAFE_ARG, UnsafeArgumentError } from '../../activities/command-line';
import { recordFigures } from '../helpers/figures';
import { hostile, settings, Tally } from './fuzz';

const tally = new Tally();

/**
 * A shell that splits lines the way it parses a command: `eval "set -- <line>"`, then prints each word
 * NUL-terminated and a \x01 line as the end. No PATH, no globbing; and only lines made of SAFE_ARG
 * characters, quotes, backslashes and blanks are ever given to it (checked before), so a broken
 * builder can make the comparison fail but cannot run anything.
 */
class Splitter {
  private readonly sh: ChildProcessWithoutNullStreams;
  private buffer = Buffer.alloc(0);
  private waiting?: { resolve: (words: string[]) => void; reject: (err: Error) => void };
  private exited?: string;

  constructor(readonly shell: string) {
    const script = `set -f; while IFS= read -r line; do eval "set -- $line"; for a in "$@"; do printf '%s\\0' "$a"; done; printf '\\001\\n'; done`;
    this.sh = spawn(shell, ['-c', script], { env: { PATH: '' } });
    this.sh.stdout.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      const end = this.buffer.indexOf('\x01\n');
      if (end < 0 || !this.waiting) return;
      const words = this.buffer.subarray(0, end).toString('utf8').split('\0').slice(0, -1);
      this.buffer = this.buffer.subarray(end + 2);
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve(words);
    });
    let stderr = '';
    this.sh.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    this.sh.on('exit', (code) => {
      this.exited = `${shell} exited (${code}): ${stderr}`;
      this.waiting?.reject(new Error(this.exited));
    });
  }

  split(line: string): Promise<string[]> {
    assert.match(line, /^[A-Za-z0-9_./:@%+=,\- '\\]*$/, 'only a line of safe characters is given to the shell');
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.sh.stdin.write(`${line}\n`);
    });
  }

  close(): void {
    this.sh.stdin.end();
  }
}

let shells: Splitter[] = [];
before(() => {
  shells = ['/bin/sh', '/bin/bash'].map((s) => new Splitter(s));
});
after(() => {
  for (const s of shells) s.close();
  recordFigures('fuzz', tally.counts);
});

/** White space, quotes, expansions, operators, globs, comments, escapes, control and non-ASCII characters. */
const SHELL_SPECIAL = /[\s'"`$;&|<>(){}[\]*?!~#^\\\x00-\x1f\x7f-\u{10ffff}]/u;
const safe = fc.stringMatching(/^[A-Za-z0-9_./:@%+=,-]{1,40}$/);
const element = fc.oneof(
  { weight: 6, arbitrary: safe },
  { weight: 2, arbitrary: hostile },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom('', "'", "a'b", ' ', '-', '--', 'a b', 'x'.repeat(512), 'x'.repeat(513), '=', '%', '@') },
);

test('commandLine: refuses any argv with an element outside SAFE_ARG (naming the first), else quotes it so that sh and bash split it back into exactly the argv', async () => {
  let built = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(element, { maxLength: 8 }), async (argv) => {
      tally.add('argv tried on the command builder');
      const firstBad = argv.length === 0 ? 0 : argv.findIndex((a) => !SAFE_ARG.test(a));
      let line: string;
      try {
        line = commandLine({ argv });
      } catch (err) {
        assert.ok(err instanceof UnsafeArgumentError, String(err));
        assert.equal(err.index, firstBad);
        assert.ok(argv.length === 0 || !SAFE_ARG.test(argv[err.index]));
        return;
      }
      assert.equal(firstBad, -1, `built a line from ${JSON.stringify(argv)}`);
      // Independent of SAFE_ARG's definition: nothing the shell treats specially, and every word single-quoted.
      for (const a of argv) assert.doesNotMatch(a, SHELL_SPECIAL, `built a line from ${JSON.stringify(a)}`);
      assert.match(line, /^'[^']+'(?: '[^']+')*$/);
      built++;
      for (const sh of shells) assert.deepEqual(await sh.split(line), argv, `${sh.shell} split ${line}`);
    }),
    settings(6000),
  );
  assert.ok(built > 500, `only ${built} argv were built into lines`);
  tally.add('command lines built and split back by sh and bash', built);
});
