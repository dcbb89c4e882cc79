/**
 * The `medic` command line as one commander program: every command, its arguments and options with
 * their help, the version, and the epilog (environment, exit codes, completion). The completion scripts
 * (completion.ts) and the tests read the same definition, so a command cannot exist without its help.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import type { RunbookName } from '../../workflows/definitions';
import { checkRunId, RUN_STATUSES } from '../history';
import { BadRequest, RUNBOOKS } from '../runbooks';
import { completionScript, SHELLS } from './completion';
import { decide, DecisionOptions } from './decisions';
import { EXIT_CODES_HELP, ParseError } from './exit';
import { operatorHash } from './operator';
import * as runs from './runs';
import * as service from './service';

export const VERSION: string = (JSON.parse(readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as { version: string }).version;

export const RUNBOOK_NAMES = Object.keys(RUNBOOKS) as RunbookName[];
export const DECIDE_ACTIONS = ['retry', 'resolved', 'abort'] as const;

const RUN_HELP = 'the run ID: <runbook>/<target> (kust-replica/cox-1), dry-run/<runbook>/<target> for a dry run';

const EPILOG = `
A run is named by its ID, <runbook>/<target>: kust-replica/cox-1 (dry runs: dry-run/kust-replica/cox-1).

Temporal: alert, start, runs, show, history, watch, setup, worker and api talk to Temporal with the
standard TEMPORAL_* settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_*, TEMPORAL_API_KEY,
TEMPORAL_PROFILE), else to 127.0.0.1:7233.
Decisions: approve, reject and decide go through the medic API, MEDIC_API_URL (else http://<api.listen>
of the configuration), with your own API token: --token-file FILE, else MEDIC_TOKEN, else the file
$XDG_CONFIG_HOME/medic/token or ~/.config/medic/token (mode 0600: refused when group or others may open it).
--json: the result as JSON on stdout; a failure as {"error": "...", "exit": N} on stderr.

${EXIT_CODES_HELP}

Completion: source <(medic completion bash)   or   medic completion zsh > "\${fpath[1]}/_medic"
`;

/** A run ID argument, checked as it is parsed (malformed: bad usage; an unknown runbook: no such run). */
function runArgument(): Argument {
  return new Argument('<run>', RUN_HELP).argParser((raw: string) => {
    try {
      return checkRunId(raw);
    } catch (err) {
      if (err instanceof BadRequest) throw new InvalidArgumentError(err.message);
      throw err;
    }
  });
}

/** The options most commands share. */
const jsonOption = () => new Option('--json', 'print the result as JSON (a failure: {"error", "exit"} on stderr)');
const configOption = () => new Option('--config <file>', 'the configuration file').env('MEDIC_CONFIG').default('medic.yaml');

/** The configuration a command names (--config, MEDIC_CONFIG, ./medic.yaml). */
function configOf(cmd: Command): Config {
  return loadConfig(path.resolve(cmd.opts<{ config: string }>().config));
}

/** Per-runbook parameters for `medic start --help`, from the runbook catalogue. */
function startHelp(): string {
  const shorthand: Partial<Record<RunbookName, string>> = { 'kust-replica': 'cox-1', 'tarantool-replica': 'badger-3' };
  const lines = RUNBOOK_NAMES.map((name) => {
    const params = Object.keys(RUNBOOKS[name].params);
    const form = params.length === 0 ? '(no parameters)' : params.map((p) => `${p}=...`).join(' ');
    const short = shorthand[name] ? `, or: ${shorthand[name]}` : params.length === 1 ? `, or: <${params[0]}>` : '';
    return `  ${name.padEnd(19)} ${form}${short}`;
  });
  return `\nParameters:\n${lines.join('\n')}\n\nExamples:\n  medic start kust-replica cox-1 --dry-run\n  medic start autoflip fate\n  medic start ctlr-roles\n`;
}

/** `approve`, `reject` and `decide` share how they reach the API and who they are. */
function decisionCommand(cmd: Command): Command {
  return cmd
    .addOption(new Option('--by <name>', 'your operator name (optional: the API knows you by your token and refuses, 403, a name that is not yours)'))
    .addOption(new Option('--api-url <url>', 'the medic API (default: http://<api.listen> of the configuration)').env('MEDIC_API_URL'))
    .addOption(new Option('--token-file <file>', 'the file with your API token (default: MEDIC_TOKEN, else $XDG_CONFIG_HOME/medic/token or ~/.config/medic/token)'))
    .addOption(jsonOption())
    .addOption(configOption())
    .addHelpText('after', '\nThe decision goes through the medic API with your own token; the run records who decided.\n');
}

/**
 * The program. `done(code)` receives each command's exit code (commander's actions return nothing);
 * parse errors are thrown as ParseError (exit.ts), --help and --version as CommanderError with exit code 0.
 */
export function buildProgram(done: (code: number) => void = () => undefined): Command {
  const program = new Command('medic')
    .description('replication-medic: start, follow and decide the runs that repair replication')
    .version(VERSION, '-V, --version', 'print the version of medic')
    .helpOption('-h, --help', 'show the help')
    .helpCommand('help [command]', 'show the help of a command')
    .showSuggestionAfterError(true)
    // medic reports parse errors itself, in its own format (exit.ts); help and version still print.
    .configureOutput({ outputError: () => undefined })
    .exitOverride()
    .addHelpText('after', EPILOG);

  program
    .command('alert')
    .description('route a check_mk alert line and start (or join) its run')
    .argument('<line>', "the check_mk line, quoted: '2 snmpexec_mon_cox_1_status - - - replfailed'")
    .addOption(jsonOption())
    .addOption(configOption())
    .action(async (line: string, opts: runs.CommonOptions, cmd: Command) => done(await runs.alert(() => configOf(cmd), line, opts)));

  program
    .command('start')
    .description('start a runbook by hand (a run already open for the target is joined, not doubled)')
    .addArgument(new Argument('<runbook>', 'the runbook').choices(RUNBOOK_NAMES))
    .argument('[params...]', 'key=value parameters, or the shorthand (see below)')
    .option('--dry-run', 'run the read-only steps only; stop at the first change and show its command')
    .addOption(jsonOption())
    .addOption(configOption())
    .addHelpText('after', startHelp())
    .action(async (runbook: RunbookName, params: string[], opts: runs.CommonOptions & { dryRun?: boolean }, cmd: Command) => done(await runs.start(() => configOf(cmd), runbook, params, opts)));

  program
    .command('runs')
    .alias('list')
    .description('the runs, newest first')
    .addOption(new Option('--status <status>', 'only runs in this state (completed, failed, aborted: closed runs; the others: open runs)').choices(RUN_STATUSES))
    .addOption(new Option('--runbook <runbook>', 'only runs of this runbook').choices(RUNBOOK_NAMES))
    .addOption(jsonOption())
    .addOption(configOption())
    .action(async (opts: runs.CommonOptions & { status?: string; runbook?: string }, cmd: Command) => done(await runs.runs(() => configOf(cmd), opts)));

  program
    .command('show')
    .alias('status')
    .description("a run's state, its steps, the pending decision and the next timer")
    .addArgument(runArgument())
    .addOption(jsonOption())
    .addOption(configOption())
    .action(async (id: string, opts: runs.CommonOptions, cmd: Command) => done(await runs.show(() => configOf(cmd), id, opts)));

  program
    .command('history')
    .description("a run's timeline from its event history: hosts, commands, exit codes, output, timers, decisions (no worker needed)")
    .addArgument(runArgument())
    .addOption(jsonOption())
    .addOption(configOption())
    .action(async (id: string, opts: runs.CommonOptions, cmd: Command) => done(await runs.history(() => configOf(cmd), id, opts)));

  program
    .command('watch')
    .description('follow a run live: its current step and a countdown to the next timer; exits when the run closes')
    .addArgument(runArgument())
    .addOption(new Option('--json', 'one JSON object a second on stdout (a failure: {"error", "exit"} on stderr)'))
    .addOption(configOption())
    .action(async (id: string, opts: runs.CommonOptions, cmd: Command) => done(await runs.watch(() => configOf(cmd), id, opts)));

  decisionCommand(
    program
      .command('approve')
      .description('approve the approval a run waits for')
      .addArgument(runArgument())
      .option('--choice <value>', 'the chosen value, when the approval offers choices (ctlr-roles: the node to keep)')
      .option('--comment <text>', 'a comment, recorded with the decision'),
  ).action(async (id: string, opts: DecisionOptions, cmd: Command) => done(await decide(() => configOf(cmd), id, 'approve', { choice: opts.choice, comment: opts.comment }, opts)));

  decisionCommand(
    program
      .command('reject')
      .description('reject the approval a run waits for: the run ends without the step')
      .addArgument(runArgument())
      .requiredOption('--reason <text>', 'why (required; recorded with the decision)'),
  ).action(async (id: string, opts: DecisionOptions & { reason: string }, cmd: Command) => done(await decide(() => configOf(cmd), id, 'reject', { reason: opts.reason }, opts)));

  decisionCommand(
    program
      .command('decide')
      .description('answer an escalated run: retry the failed step, resolved by hand, or abort')
      .addArgument(runArgument())
      .addArgument(new Argument('<action>', 'retry the failed step, resolved by hand, or abort the run').choices(DECIDE_ACTIONS))
      .option('--choice <value>', 'run-again: with retry, start an unknown-outcome command anew')
      .option('--comment <text>', 'a comment, recorded with the decision'),
  ).action(async (id: string, action: string, opts: DecisionOptions, cmd: Command) => done(await decide(() => configOf(cmd), id, 'decide', { action, choice: opts.choice, comment: opts.comment }, opts)));

  program
    .command('doctor')
    .description('check hosts, tools, Temporal (and the notification URL) before the incident')
    .option('--notify', 'also send a test notification to notifications.url')
    .option('--scan <host>', "print the host's keys as known_hosts lines with fingerprints, to verify and paste")
    .addOption(jsonOption())
    .addOption(configOption())
    .action(async (opts: { json?: boolean; notify?: boolean; scan?: string }, cmd: Command) => {
      if (opts.scan === undefined) return done(await service.doctor(configOf(cmd), opts));
      // An address needs no configuration; an inventory name does (read only when there is one to read).
      let config: Config | undefined;
      try {
        config = configOf(cmd);
      } catch (err) {
        if (cmd.getOptionValueSource('config') === 'cli') throw err;
      }
      done(await service.scan(config, opts.scan, opts));
    });

  program
    .command('setup')
    .description('create the namespace and the search attributes when missing (idempotent)')
    .option('--retention <duration>', "a new namespace's retention: hours or days (72h, 30d)", '72h')
    .addOption(jsonOption())
    .addOption(configOption())
    .action(async (opts: { json?: boolean; retention: string }, cmd: Command) => done(await service.setup(configOf(cmd), opts)));

  program
    .command('worker')
    .description('the worker alone (no API, no embedded Temporal); SIGTERM drains it')
    .addOption(configOption())
    .action(async (_opts: unknown, cmd: Command) => done(await service.worker(configOf(cmd))));

  program
    .command('api')
    .description('the HTTP API alone (stateless: any number behind a load balancer); SIGTERM stops it')
    .addOption(configOption())
    .action(async (_opts: unknown, cmd: Command) => done(await service.api(configOf(cmd))));

  const operator = program.command('operator').description('administer operators (api.operators): make a credential and its hash');
  operator
    .command('hash')
    .description('print a new credential for an operator and the scrypt hash the configuration keeps')
    .option('--stdin', 'hash the credential read from stdin instead (one line, at least 16 characters)')
    .addOption(jsonOption())
    .addHelpText('after', '\nExample:\n  medic operator hash            # give the credential to the person, put the hash in api.operators.<name>.credentialHash\n')
    .action(async (opts: { stdin?: boolean; json?: boolean }) => done(await operatorHash(opts)));

  program
    .command('completion')
    .description('print the shell completion script (commands, options, runbook names)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(SHELLS))
    .addHelpText('after', '\nInstall:\n  bash: echo \'source <(medic completion bash)\' >> ~/.bashrc\n  zsh:  medic completion zsh > "${fpath[1]}/_medic"   (then: compinit)\n')
    .action((shell: (typeof SHELLS)[number]) => {
      process.stdout.write(completionScript(program, shell));
      done(0);
    });

  // A parse error names the command it happened in, to point at that command's --help.
  const every = (c: Command): Command[] => [c, ...c.commands.flatMap(every)];
  for (const cmd of every(program)) {
    const path: string[] = [];
    for (let c: Command | null = cmd; c; c = c.parent) path.unshift(c.name());
    const where = path.join(' ');
    cmd.exitOverride((err: CommanderError) => {
      if (err.exitCode === 0 || err.code === 'commander.help') throw err;
      throw new ParseError(err, where);
    });
  }
  return program;
}
