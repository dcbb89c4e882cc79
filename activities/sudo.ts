/**
 * Commands as an unprivileged login user with sudo (`sudo: true` for a host): the argv, still the
 * allow-listed paths quoted by command-line.ts, runs as `sudo -n -- <argv>`. Only the argv: the wrapper of
 * activities/journal.ts (pid announcement, journal files, the kill line) stays the login user's, so the
 * journal directory must be writable by that user.
 *
 * `-n`: sudo never prompts. A rule that needs a password, or a command the sudoers do not allow, makes
 * sudo itself exit 1 with one of its own messages on stderr, before the command starts; that is turned
 * into SshError 'sudo' (the activity layer: ApplicationFailure `Ssh:sudo`, not retried), since no
 * retry fixes a sudoers file. For a changing command under the journal it means the command did not
 * start (the journal entry records sudo's exit status 1 and message); workflows/run.ts counts `Ssh:sudo`
 * as settled, so a retry after the sudoers are fixed runs the step under a new journal key.
 *
 * Kill of a timed-out or cancelled command: the login user's kill line sends TERM to the wrapper's
 * process group, which holds sudo; sudo (its real uid is the login user's, so the user may signal it)
 * relays TERM to the command it runs as root. The KILL a second later reaches only the login user's
 * processes and sudo (which cannot relay KILL): a root command that ignores TERM outlives it.
 */
import type { HostConfig } from '../config/schema';
import type { RemoteCommand } from './command-line';
import { SshError } from './ssh';

export const SUDO_PREFIX = ['sudo', '-n', '--'] as const;

/** The argv that is run on the host: the command's own, behind `sudo -n --` when the host has `sudo: true`. */
export function sudoCommand(host: Pick<HostConfig, 'sudo'>, cmd: RemoteCommand): RemoteCommand {
  return host.sudo ? { ...cmd, argv: [...SUDO_PREFIX, ...cmd.argv] } : cmd;
}

/**
 * sudo's own refusals (sudo 1.9 and older wordings), one per line of its stderr. Each means that sudo
 * ran nothing.
 */
const REFUSALS: { re: RegExp; fix: string }[] = [
  { re: /^sudo: (?:a password is required|a terminal is required to read the password\b.*|sorry, you must have a tty to run sudo)$/m, // sudo -n says this both for a rule without NOPASSWD and for a path that no rule allows (it would authenticate first).
    fix: 'sudo wants a password: the rule lacks NOPASSWD, or no rule allows this exact path (or requiretty is set); give this path NOPASSWD in the sudoers' },
  { re: /^(?:Sorry, user \S+ is not allowed to execute .*|(?:sudo: )?\S+ is not in the sudoers file\b.*)$/m, fix: 'the sudoers do not allow this command: add its exact path to the NOPASSWD rule' },
  { re: /^sudo: \S+: command not found$/m, fix: 'the path does not exist on the host: fix the configured path' },
];

/** sudo's refusal line and what to fix, when a result is one (exit status 1 and sudo's message). */
export function sudoRefusal(result: { exitCode: number | null; stderr: string }): { line: string; fix: string } | undefined {
  if (result.exitCode !== 1) return undefined;
  for (const { re, fix } of REFUSALS) {
    const m = re.exec(result.stderr);
    if (m) return { line: m[0].trim(), fix };
  }
  return undefined;
}

/** Throws SshError 'sudo' when sudo refused the command on a `sudo: true` host; otherwise does nothing. */
export function checkSudo(name: string, host: Pick<HostConfig, 'sudo' | 'user'>, argv: readonly string[], result: { exitCode: number | null; stderr: string }): void {
  if (!host.sudo) return;
  const refusal = sudoRefusal(result);
  if (!refusal) return;
  const path = argv[0] ?? '';
  throw new SshError(
    `${name}: sudo refused ${path} for user ${host.user} (${JSON.stringify(refusal.line.slice(0, 200))}); the command did not run; ${refusal.fix}, e.g. "${host.user} ALL=(root) NOPASSWD: ${path}" in /etc/sudoers.d/; retrying will not help`,
    'sudo',
  );
}
