#!/usr/bin/env node
/**
 * medic: the operator's command line (`medic --help` lists every command, `medic <command> --help` its
 * arguments and options). Runs are started and read straight from Temporal (TEMPORAL_* settings, else
 * the embedded server on 127.0.0.1:7233); decisions go through the medic API with the operator's own
 * token. It reads the same configuration file as the service (--config FILE, MEDIC_CONFIG, ./medic.yaml).
 *
 *   medic alert '<check_mk line>'                start the runbook an alert line routes to
 *   medic start <runbook> [key=value|value]... [--dry-run]   start a runbook by hand
 *   medic runs [--status S] [--runbook R]        runs, newest first (`list` is an alias)
 *   medic show <run>                             the run's state and its steps (`status` is an alias)
 *   medic history <run>                          the run's timeline from its event history (no worker needed)
 *   medic watch <run>                            live: current step, countdown to the next timer; exits when the run closes
 *   medic approve <run> [--choice X] [--comment T]              through the API (MEDIC_API_URL, MEDIC_TOKEN)
 *   medic reject <run> --reason T
 *   medic decide <run> retry|resolved|abort [--choice run-again] [--comment T]
 *   medic doctor [--notify]                      check hosts, tools, Temporal (and the notification URL) before the incident
 *   medic doctor --scan HOST                     the host's keys as known_hosts lines with fingerprints, to verify and paste
 *   medic setup [--retention 72h]                create the namespace and the search attributes if missing (idempotent)
 *   medic worker                                 the worker alone (no API, no embedded server); SIGTERM drains
 *   medic api                                    the HTTP API alone (stateless: any number behind a load balancer)
 *   medic completion bash|zsh                    the shell completion script
 * <run> is the run ID: <runbook>/<target> (dry runs: dry-run/<runbook>/<target>).
 * The parts: cli/program.ts (the commands and their help), cli/runs.ts (Temporal), cli/decisions.ts and
 * cli/credential.ts (the API), cli/service.ts (doctor, setup, worker, api), cli/completion.ts,
 * cli/exit.ts (exit codes: 0 done, 1 failed or refused, 2 bad usage, 3 unreachable, 4 not authorised).
 */
import { CommanderError } from 'commander';
import { EXIT, reportError } from './cli/exit';
import { buildProgram } from './cli/program';

/** Runs one command line; resolves with the exit code (failures already reported on stderr). */
export async function runCli(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    // --help, --version (exit 0), or no command at all (the help went to stderr: bad usage).
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return reportError(err, argv.includes('--json'));
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
