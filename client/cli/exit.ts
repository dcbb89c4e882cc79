/**
 * The CLI's exit codes and how a failure is told: one line on stderr (`medic: <what happened>; <what to
 * do>`), or with --json one JSON object on stderr (`{"error": "...", "exit": N}`), so that stdout only
 * ever carries results.
 */
import { CommanderError } from 'commander';
import { ConfigError } from '../../config/load';
import { TemporalUnreachable } from '../connection';
import { BadRequest } from '../runbooks';

export const EXIT = {
  /** Done (for doctor: every check passed). */
  ok: 0,
  /** Failed, or refused by the run (nothing changed), or no such run. */
  failed: 1,
  /** Bad usage: an unknown command or option, a missing or malformed argument; nothing was sent. */
  usage: 2,
  /** Cannot reach Temporal or the medic API (or the API cannot reach Temporal). */
  unreachable: 3,
  /** Not authorised: no usable credential, or the API refused it. */
  unauthorised: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit codes as --help and the README list them. */
export const EXIT_CODES_HELP = `Exit codes:
  0  done
  1  failed or refused (nothing changed), or no such run
  2  bad usage (unknown command or option, missing or malformed argument)
  3  cannot reach Temporal or the medic API
  4  not authorised (no usable credential, or the API refused it)`;

/** A failure with its exit code and the message the operator reads. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);

/** A parse error of commander, with the command it happened in (to point at its --help). */
export class ParseError extends Error {
  constructor(
    readonly commanderError: CommanderError,
    readonly commandPath: string,
  ) {
    super(commanderError.message);
  }
}

export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof ParseError || err instanceof BadRequest) return EXIT.usage;
  if (err instanceof TemporalUnreachable) return EXIT.unreachable;
  return EXIT.failed;
}

/** The message, ending in what to do where the error itself does not say. */
export function messageOf(err: unknown): string {
  if (err instanceof ParseError) {
    const what = err.message.replace(/^error: /, '').replace(/\s+/g, ' ').trim().replace(/\.$/, '');
    return `${what}; see ${err.commandPath} --help`;
  }
  if (err instanceof ConfigError && /cannot read the configuration/.test(err.message)) return `${err.message}; give the file with --config FILE or MEDIC_CONFIG`;
  return err instanceof Error ? err.message : String(err);
}

/** Writes the failure to stderr; returns its exit code. */
export function reportError(err: unknown, json: boolean, write: (text: string) => void = (t) => process.stderr.write(t)): ExitCode {
  const code = exitCodeOf(err);
  const message = messageOf(err);
  write(json ? `${JSON.stringify({ error: message, exit: code })}\n` : `medic: ${message}\n`);
  return code;
}
