/**
 * The one place where a remote command line is made. A command is an argv array; every element must
 * match SAFE_ARG (no white space, no quotes, no shell metacharacters) and is then single-quoted.
 * Nothing else ever reaches the remote shell, so no code path can splice raw text into it.
 */
export interface RemoteCommand {
  /** argv[0] is the program (a configured path), the rest its arguments. */
  argv: string[];
  /** Bytes sent to the command's standard input (e.g. `ipros_cluster_show` for nc), then EOF. */
  stdin?: string;
}

/** Letters, digits and `_ . / : @ % + = , -`; 1 to 512 characters; not starting with `-` unless an option. */
export const SAFE_ARG = /^[A-Za-z0-9_./:@%+=,-]{1,512}$/;

export class UnsafeArgumentError extends Error {
  constructor(readonly index: number, readonly value: string) {
    super(`refusing to run: argument ${index} ${JSON.stringify(value.slice(0, 80))} does not match ${SAFE_ARG}`);
    this.name = 'UnsafeArgumentError';
  }
}

/** POSIX single quoting; SAFE_ARG already excludes `'`, the replace is a second line of defence. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(cmd: RemoteCommand): string {
  if (cmd.argv.length === 0) throw new UnsafeArgumentError(0, '');
  cmd.argv.forEach((arg, i) => {
    if (!SAFE_ARG.test(arg)) throw new UnsafeArgumentError(i, arg);
  });
  return cmd.argv.map(shellQuote).join(' ');
}
