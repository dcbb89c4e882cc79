/**
 * The `medic` command line itself, as an operator meets it (the compiled CLI as a child process): its help
 * against the program's own command list (a command or option without help fails here), --version against
 * package.json, the exit codes and messages of bad usage, of an unreachable Temporal or API and of an
 * unusable credential, --json failures, and the bash completion script run in a real bash (zsh: see
 * below). Decisions against a real API: operator-e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Command } from 'commander';
import { RUN_STATUSES } from '../../client/history';
import { RUNBOOKS } from '../../client/runbooks';
import { buildProgram } from '../../client/cli/program';
import { freePort } from '../../lab/lab';
import { Finished, runNode, temporalEnv } from '../helpers/medic-cli';

const REPO = path.resolve(__dirname, '../../..');
const EXAMPLE_CONFIG = path.join(REPO, 'config', 'medic.example.yaml');
const program = buildProgram();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'medic-cli-'));
/** No configuration directory of the user running the tests. */
const emptyXdg = path.join(tmp, 'xdg-empty');
mkdirSync(emptyXdg);

function medic(args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return runNode(args, temporalEnv({ XDG_CONFIG_HOME: emptyXdg, ...env }));
}

/** Help text with its line wrapping undone. */
const flat = (text: string) => text.replace(/\s+/g, ' ');
const names = (c: Command) => [c.name(), ...c.aliases()];
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The commands the CLI had before commander: each must still exist (as a name or an alias). */
const EVERY_COMMAND = ['alert', 'start', 'runs', 'list', 'show', 'status', 'history', 'watch', 'approve', 'reject', 'decide', 'doctor', 'setup', 'worker', 'api', 'operator', 'completion'];
/** Every command and subcommand (`operator hash`), with the words that call it. */
const everyCommand = (parent: Command, words: string[] = []): { c: Command; words: string[] }[] =>
  parent.commands.flatMap((c) => [{ c, words: [...words, c.name()] }, ...everyCommand(c, [...words, c.name()])]);

test('medic --help lists every command of the program with its description, and the environment and exit codes; -h and medic help say the same', async () => {
  assert.deepEqual(
    EVERY_COMMAND.filter((n) => !program.commands.some((c) => names(c).includes(n))),
    [],
    'every command of the CLI is still there',
  );
  const help = await medic(['--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.equal(help.stderr, '');
  assert.match(help.stdout, /^Usage: medic \[options\] \[command\]\n/);
  for (const c of program.commands) {
    assert.ok(c.description().length >= 10, `medic ${c.name()} has a description`);
    const line = new RegExp(`^  ${escape(names(c).join('|'))} .*  ${escape(c.description().slice(0, 30))}`, 'm');
    assert.match(help.stdout, line, `medic --help lists ${c.name()} with its description`);
  }
  assert.match(help.stdout, /^  help \[command\] +show the help of a command$/m);
  for (const code of ['0  done', '1  failed or refused', '2  bad usage', '3  cannot reach Temporal or the medic API', '4  not authorised']) {
    assert.match(help.stdout, new RegExp(`^  ${escape(code)}`, 'm'), `exit code ${code}`);
  }
  for (const word of ['MEDIC_API_URL', 'MEDIC_TOKEN', 'TEMPORAL_ADDRESS', '~/.config/medic/token', 'medic completion bash', 'medic completion zsh', '{"error": "...", "exit": N} on stderr']) {
    assert.ok(help.stdout.includes(word), `the help names ${word}`);
  }
  assert.equal((await medic(['-h'])).stdout, help.stdout);
  assert.equal((await medic(['help'])).stdout, help.stdout);
});

test('medic <command> --help describes every argument, option and subcommand of that command; medic help <command> and the aliases say the same', async () => {
  for (const { c, words } of everyCommand(program)) {
    const r = await medic([...words, '--help']);
    assert.equal(r.code, 0, `medic ${words.join(' ')} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: medic ${escape([...words.slice(0, -1), names(c).join('|')].join(' '))} `), words.join(' '));
    const text = flat(r.stdout);
    assert.ok(text.includes(flat(c.description())), `medic ${c.name()} --help: the description`);
    for (const a of c.registeredArguments) {
      assert.ok(a.description.length > 0, `medic ${c.name()}: argument ${a.name()} has a description`);
      assert.ok(text.includes(`${a.name()} ${flat(a.description)}`), `medic ${c.name()} --help: argument ${a.name()}`);
    }
    for (const o of c.options) {
      assert.ok(o.description.length > 0, `medic ${c.name()}: option ${o.flags} has a description`);
      assert.ok(text.includes(`${o.flags} ${flat(o.description)}`), `medic ${c.name()} --help: option ${o.flags}`);
    }
    for (const sub of c.commands) {
      assert.ok(sub.description().length >= 10, `medic ${words.join(' ')} ${sub.name()} has a description`);
      assert.ok(text.includes(flat(sub.description())), `medic ${words.join(' ')} --help lists ${sub.name()}`);
    }
    assert.ok(text.includes('-h, --help show the help'), `medic ${c.name()} --help: -h`);
    assert.equal((await medic([...words.slice(0, -1), 'help', c.name()])).stdout, r.stdout, `medic help ${words.join(' ')}`);
    for (const alias of c.aliases()) assert.equal((await medic([alias, '--help'])).stdout, r.stdout, `medic ${alias} --help`);
  }
  const start = flat((await medic(['start', '--help'])).stdout);
  for (const [runbook, spec] of Object.entries(RUNBOOKS)) {
    const params = Object.keys(spec.params);
    assert.ok(start.includes(`${runbook} ${params.length ? params.map((p) => `${p}=...`).join(' ') : '(no parameters)'}`), `medic start --help: the parameters of ${runbook}`);
  }
});

test('medic --version and -V print the version in package.json', async () => {
  const { version } = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await medic([flag]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${version}\n`, ''], flag);
  }
});

test('bad usage exits 2 with one line that says what is wrong and where to look, and changes nothing; with --json as {"error", "exit"} on stderr', async () => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /^medic: unknown command 'frobnicate'; see medic --help\n$/],
    [['shw', 'kust-replica/cox-1'], /^medic: unknown command 'shw' \(Did you mean show\?\); see medic --help\n$/],
    [['show'], /^medic: missing required argument 'run'; see medic show --help\n$/],
    [['show', 'kust-replica/cox-1', 'kust-replica/cox-2'], /^medic: too many arguments for 'show'\. Expected 1 argument but got 2; see medic show --help\n$/],
    [['show', 'kust-replica/cox-1', '--colour'], /^medic: unknown option '--colour'; see medic show --help\n$/],
    [['show', 'cox-1'], /^medic: .*'cox-1' is invalid for argument 'run'\. malformed run ID "cox-1" \(expected <runbook>\/<target> or dry-run\/<runbook>\/<target>\); see medic show --help\n$/],
    [['runs', '--status', 'broken'], new RegExp(`^medic: option '--status <status>' argument 'broken' is invalid\\. Allowed choices are ${RUN_STATUSES.join(', ')}; see medic runs --help\\n$`)],
    [['start', 'nosuch'], /^medic: .*'nosuch' is invalid for argument 'runbook'\. Allowed choices are kust-replica, .*; see medic start --help\n$/],
    [['start', 'ctlr-roles', 'ctlr-1'], /^medic: ctlr-roles takes no parameters \(its run is always ctlr-roles\/ctlr-1\), got "ctlr-1"; start it with: medic start ctlr-roles\n$/],
    [['start', 'kust-replica', 'cox-1', 'instance=cox-2'], /^medic: kust-replica: parameter instance given twice\n$/],
    [['alert', 'not a check_mk line'], /^medic: not a check_mk line: /],
    [['decide', 'kust-replica/cox-1', 'approve'], /^medic: .*'approve' is invalid for argument 'action'\. Allowed choices are retry, resolved, abort; see medic decide --help\n$/],
    [['reject', 'kust-replica/cox-1'], /^medic: required option '--reason <text>' not specified; see medic reject --help\n$/],
    [['approve', 'kust-replica/cox-1', '--api-url', 'ftp://127.0.0.1/'], /^medic: MEDIC_API_URL \/ --api-url must be http:\/\/ or https:\/\/, got ftp:\n$/],
    [['operator', 'hash', 'alice'], /^medic: too many arguments for 'hash'\. Expected 0 arguments but got 1; see medic operator hash --help\n$/],
    [['completion', 'fish'], /^medic: .*'fish' is invalid for argument 'shell'\. Allowed choices are bash, zsh; see medic completion --help\n$/],
  ];
  // No configuration file and nothing listening: bad input is refused before either is needed.
  const env = { MEDIC_CONFIG: path.join(tmp, 'absent.yaml'), TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`, MEDIC_TOKEN: 't'.repeat(32) };
  for (const [args, message] of cases) {
    const r = await medic(args, env);
    assert.deepEqual([r.code, r.stdout], [2, ''], `medic ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, `medic ${args.join(' ')}`);
    assert.equal(r.stderr.split('\n').length, 2, `one line, ending in a newline: ${JSON.stringify(r.stderr)}`);
    // --json where the command has it (completion prints a script, not a result).
    const command = everyCommand(program).find(({ c, words }) => words.slice(0, -1).every((w, i) => w === args[i]) && names(c).includes(args[words.length - 1]))?.c;
    if (command && !command.options.some((o) => o.long === '--json')) continue;
    const json = await medic([...args, '--json'], env);
    assert.deepEqual([json.code, json.stdout], [2, ''], `medic ${args.join(' ')} --json`);
    const error = JSON.parse(json.stderr) as { error: string; exit: number };
    assert.deepEqual(Object.keys(error), ['error', 'exit']);
    assert.equal(error.exit, 2);
    assert.equal(`medic: ${error.error}\n`, r.stderr, 'the same message');
  }
  const none = await medic([]);
  assert.equal(none.code, 2, 'no command at all');
  assert.match(none.stderr, /^Usage: medic \[options\] \[command\]\n[\s\S]*Commands:/);
});

test('Temporal or the API out of reach exits 3 and names the address; a missing or unsafe credential exits 4 before anything is sent', async () => {
  const port = await freePort(); // nothing listens there
  const api = `http://127.0.0.1:${port}`;
  const [temporal, temporalJson] = await Promise.all([
    medic(['show', 'kust-replica/cox-1', '--config', EXAMPLE_CONFIG], { TEMPORAL_ADDRESS: `127.0.0.1:${port}` }),
    medic(['runs', '--json', '--config', EXAMPLE_CONFIG], { TEMPORAL_ADDRESS: `127.0.0.1:${port}` }),
  ]);
  assert.equal(temporal.code, 3, temporal.stderr);
  assert.match(temporal.stderr, new RegExp(`^medic: cannot connect to Temporal at 127\\.0\\.0\\.1:${port} \\(TLS: none\\): .+\\n$`));
  assert.equal(temporalJson.code, 3);
  assert.equal((JSON.parse(temporalJson.stderr) as { exit: number }).exit, 3);

  const unreachable = await medic(['approve', 'kust-replica/cox-1'], { MEDIC_API_URL: api, MEDIC_TOKEN: 't'.repeat(32) });
  assert.equal(unreachable.code, 3, unreachable.stderr);
  assert.equal(unreachable.stderr, `medic: cannot reach the API at ${api}: ECONNREFUSED; check MEDIC_API_URL (or api.listen in the configuration) and that medic api runs there\n`);

  // The credential is checked before the API is asked: were anything sent, the answer would be exit 3.
  const noToken = await medic(['approve', 'kust-replica/cox-1'], { MEDIC_API_URL: api });
  const defaultFile = path.join(emptyXdg, 'medic', 'token');
  assert.equal(noToken.code, 4, noToken.stderr);
  assert.equal(noToken.stderr, `medic: no credential for the API: set MEDIC_TOKEN, or put your own API token in ${defaultFile} (then chmod 600 ${defaultFile}), or give --token-file FILE\n`);

  const xdg = path.join(tmp, 'xdg');
  const file = path.join(xdg, 'medic', 'token');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${'a'.repeat(32)}\n`);
  for (const mode of [0o644, 0o640, 0o604, 0o620]) {
    chmodSync(file, mode);
    const open = await medic(['reject', 'kust-replica/cox-1', '--reason', 'no'], { MEDIC_API_URL: api, XDG_CONFIG_HOME: xdg });
    assert.equal(open.code, 4, `mode ${mode.toString(8)}: ${open.stderr}`);
    assert.equal(open.stderr, `medic: the token file ${file} is open to group or others (mode 0${mode.toString(8)}); make it yours alone: chmod 600 ${file}\n`);
  }
  // --token-file wins over MEDIC_TOKEN (the file named on the command line is the one meant).
  const explicit = await medic(['decide', 'kust-replica/cox-1', 'retry', '--token-file', file], { MEDIC_API_URL: api, MEDIC_TOKEN: 't'.repeat(32) });
  assert.equal(explicit.code, 4, explicit.stderr);
  assert.match(explicit.stderr, /chmod 600 /);
  const json = await medic(['approve', 'kust-replica/cox-1', '--json'], { MEDIC_API_URL: api, XDG_CONFIG_HOME: xdg });
  assert.deepEqual(JSON.parse(json.stderr), { error: `the token file ${file} is open to group or others (mode 0620); make it yours alone: chmod 600 ${file}`, exit: 4 });

  chmodSync(file, 0o600);
  const accepted = await medic(['approve', 'kust-replica/cox-1'], { MEDIC_API_URL: api, XDG_CONFIG_HOME: xdg });
  assert.equal(accepted.code, 3, `a 0600 token file is used (then the API is out of reach): ${accepted.stderr}`);
  writeFileSync(file, '\n');
  const empty = await medic(['approve', 'kust-replica/cox-1'], { MEDIC_API_URL: api, XDG_CONFIG_HOME: xdg });
  assert.deepEqual([empty.code, empty.stderr], [4, `medic: the token file ${file} must hold one line: your API token\n`]);
});

/** `medic completion bash` sourced in a real bash; each `words` is completed as if TAB was pressed after its last word. */
async function bashComplete(lines: string[][]): Promise<string[][]> {
  const script = path.join(tmp, 'medic.bash');
  const r = await medic(['completion', 'bash']);
  assert.equal(r.code, 0, r.stderr);
  writeFileSync(script, r.stdout);
  const calls = lines.map((words) => `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; COMPREPLY=(); _medic; echo "\${COMPREPLY[*]}"`);
  const out = await new Promise<string>((resolve, reject) =>
    execFile('bash', ['-c', `source '${script}'\n${calls.join('\n')}`], { cwd: path.join(REPO, 'config') }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  );
  return out.split('\n').slice(0, -1).map((l) => (l ? l.split(' ') : []));
}

test('bash completion (sourced in bash): commands, each command\'s options, runbook names, statuses, actions, run IDs, files', async () => {
  const runbooks = Object.keys(RUNBOOKS);
  const every = [...program.commands.flatMap(names), 'help'];
  const optionsOf = (c: Command) => [...c.options.flatMap((o) => [o.short, o.long].filter((f): f is string => !!f)), '-h', '--help'];
  const cases: [string[], string[]][] = [
    [['medic', ''], every],
    [['medic', 'st'], ['start', 'status']],
    [['medic', '-'], ['-h', '--help', '-V', '--version']],
    ...program.commands.map((c): [string[], string[]] => [['medic', c.name(), '-'], optionsOf(c)]),
    [['medic', 'start', ''], runbooks],
    [['medic', 'start', '--dry-run', 'kust-replica', ''], ['service=', 'instance=']],
    [['medic', 'start', 'autoflip', 'm'], ['map=']],
    [['medic', 'start', 'ctlr-roles', ''], []],
    [['medic', 'runs', '--status', ''], [...RUN_STATUSES]],
    [['medic', 'list', '--status', 'a'], ['awaiting-approval', 'aborted']],
    [['medic', 'runs', '--runbook', 'ctlr'], ['ctlr-replica', 'ctlr-roles']],
    [['medic', 'runs', '--config', 'medic.yaml', '--st'], ['--status']],
    [['medic', 'show', ''], [...runbooks.map((r) => `${r}/`), 'dry-run/']],
    [['medic', 'history', 'kust'], ['kust-replica/']],
    [['medic', 'watch', 'dry-run/t'], ['dry-run/tarantool-replica/']],
    [['medic', 'decide', 'kust-replica/cox-1', ''], ['retry', 'resolved', 'abort']],
    [['medic', 'decide', '--comment', 'x', 'kust-replica/cox-1', 'r'], ['retry', 'resolved']],
    [['medic', 'approve', '--config', 'medic.ex'], ['medic.example.yaml']],
    [['medic', 'approve', '--token-file', 'sch'], ['schema.ts']],
    [['medic', 'help', 'de'], ['decide']],
    [['medic', 'completion', ''], ['bash', 'zsh']],
    [['medic', 'operator', ''], ['hash']],
    [['medic', 'operator', 'hash', '-'], ['--stdin', '--json', '-h', '--help']],
    [['medic', 'frobnicate', ''], []],
  ];
  const got = await bashComplete(cases.map(([words]) => words));
  for (const [i, [words, expected]] of cases.entries()) assert.deepEqual(got[i], expected, `medic completion bash: ${words.join(' ')}<TAB>`);
});

test('zsh completion: the script names every command, its options and values (zsh is not installed here: its text is checked)', async (t) => {
  const r = await medic(['completion', 'zsh']);
  assert.equal(r.code, 0, r.stderr);
  const script = r.stdout;
  assert.match(script, /^#compdef medic\n/);
  assert.match(script, /\n {2}_medic "\$@"\nelse\n {2}compdef _medic medic\nfi\n$/);
  const branch = (c: Command) => {
    const m = new RegExp(`\\n {8}${escape(names(c).join('|'))}\\)\\n([\\s\\S]*?)\\n {10};;`).exec(script);
    assert.ok(m, `a branch for ${c.name()}`);
    return m[1];
  };
  for (const c of program.commands) {
    for (const n of names(c)) assert.ok(script.includes(`\n    '${n}:`), `${n} in the command list`);
    const body = branch(c);
    for (const o of c.options) assert.ok(body.includes(`'${o.long}${o.required || o.optional ? '=' : ''}[`), `${c.name()}: ${o.long}`);
    for (const a of c.registeredArguments) if (a.argChoices) assert.ok(body.includes(`:${a.name()}:(${a.argChoices.join(' ')})'`), `${c.name()}: the values of ${a.name()}`);
  }
  assert.ok(branch(program.commands.find((c) => c.name() === 'runs') as Command).includes(`:status:(${RUN_STATUSES.join(' ')})'`));
  const operator = program.commands.find((c) => c.name() === 'operator') as Command;
  assert.match(branch(operator), /local -a subcommands=\('hash:print a new credential[^']*'\)[\s\S]*\n {14}hash\)\n {16}shift words; \(\( CURRENT-- \)\)\n {16}_arguments -s \\\n {18}'--stdin\[[\s\S]*'--json\[/);
  assert.ok(branch(program.commands.find((c) => c.name() === 'show') as Command).includes("'1:run:_medic_run'"));
  // Quoting: every line's single quotes pair up (an escaped quote is '\'').
  for (const line of script.split('\n').filter((l) => !l.startsWith('#'))) assert.equal((line.replace(/'\\''/g, '').match(/'/g) ?? []).length % 2, 0, `unbalanced quotes: ${line}`);
  const zsh = await new Promise<string | undefined>((resolve) => execFile('sh', ['-c', 'command -v zsh'], (err, stdout) => resolve(err ? undefined : stdout.trim())));
  if (!zsh) {
    t.diagnostic('zsh is not installed: the script was checked as text only');
    return;
  }
  const file = path.join(tmp, '_medic');
  writeFileSync(file, script);
  await new Promise<void>((resolve, reject) => execFile(zsh, ['-n', file], (err, _o, stderr) => (err ? reject(new Error(stderr)) : resolve())));
});

test('medic operator hash: a new credential and a scrypt hash that verifies it (as the API checks it); --stdin hashes a given one; --json', async () => {
  const { verifyCredential } = await import('../../worker/identity');
  const made = await medic(['operator', 'hash', '--json']);
  assert.equal(made.code, 0, made.stderr);
  const { credential, hash } = JSON.parse(made.stdout) as { credential: string; hash: string };
  assert.match(credential, /^[A-Za-z0-9_-]{43}$/);
  assert.match(hash, /^scrypt\$16384\$8\$1\$/);
  assert.ok(verifyCredential(credential, hash), 'the hash verifies the credential');
  assert.ok(!verifyCredential(`${credential}x`, hash), 'and no other');
  const human = await medic(['operator', 'hash']);
  assert.match(human.stdout, /^credential: \S{43}\n {2}give it to the operator .*\nhash: scrypt\$\S+\n {2}for the configuration: api\.operators\.<name>\.credentialHash/);

  const chosen = 'a-credential-of-my-own-choosing';
  const given = await new Promise<Finished>((resolve) => {
    const child = execFile(process.execPath, [path.join(REPO, 'dist/client/cli.js'), 'operator', 'hash', '--stdin'], { env: temporalEnv({}) }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
    child.stdin?.end(`${chosen}\n`);
  });
  assert.equal(given.code, 0, given.stderr);
  assert.ok(verifyCredential(chosen, given.stdout.trim()), 'the hash of the credential on stdin');
  assert.doesNotMatch(given.stdout, new RegExp(chosen), 'a given credential is not printed back');
});
