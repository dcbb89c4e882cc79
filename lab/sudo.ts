/**
 * The lab's unprivileged login user with sudo (issue 14, item 5), made at test time:
 *   - the user `medic-lab` (useradd --system, a home of its own, shell /bin/bash), created if absent and
 *     left in place (idempotent; nothing of a lab lives in it). Its password field is `*`, not `!`:
 *     sshd without PAM refuses any login to an account locked with `!`, keys included;
 *   - it logs in to the lab's sshds with the lab's client key: the lab's sshd_config has a shared
 *     AuthorizedKeysFile (`<lab.dir>/keys/authorized_keys`) and StrictModes no; sshd reads that file as
 *     the user, so the lab dir (mkdtemp: 0700) is opened to traversal (0711);
 *   - a journal dir owned by the user (the journal wrapper runs as the login user, only the argv gets sudo);
 *   - a sudoers drop-in `/etc/sudoers.d/medic-lab-<hex>` (no dot in the name: sudo skips such files)
 *     allowing exactly the given tool paths, validated with `visudo -cf` before it is moved into place,
 *     mode 0440, removed by `remove()` (call it in a finally / after hook). It keeps LAB_NODE and LAB_DIR
 *     (sshd's SetEnv of the lab) through sudo's env_reset and logs every sudo attempt of the user to
 *     `<lab.dir>/log/sudo.log`. A drop-in left by a test process killed outright (no hook runs) is swept
 *     by the next labSudo once that lab's sshds are gone.
 * Needs root and Debian's sudo (scripts/install-sudo.sh).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './lab';

export const LAB_SUDO_USER = 'medic-lab';
const HOME = '/var/lib/medic-lab';

export interface SudoRule {
  /** Exact command paths the rule allows. */
  paths: string[];
  /** false: the rule asks for a password (what `sudo -n` refuses). Default true. */
  nopasswd?: boolean;
}

export interface LabSudo {
  user: string;
  /** A journal dir the user owns: `ssh.journalDir` for a config whose hosts log in as the user. */
  journalDir: string;
  /** Where sudo logs every attempt of the user (allowed and refused). */
  sudoLog: string;
  sudoersFile: string;
  /** Replaces the drop-in with this rule (validated first; the old one stays when the new one is invalid). */
  setRule(rule: SudoRule): void;
  /** The lines sudo logged so far (one per attempt). */
  sudoLogLines(): string[];
  /** Removes the drop-in (idempotent). */
  remove(): void;
}

function ensureSudo(): void {
  if (fs.existsSync('/usr/bin/sudo') && fs.existsSync('/usr/sbin/visudo')) return;
  execFileSync('bash', [path.join(REPO_ROOT, 'scripts', 'install-sudo.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function userExists(user: string): boolean {
  try {
    execFileSync('id', ['-u', user], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Creates the lab's login user if absent (several test processes may race: a lost race is fine). */
export function ensureLabUser(user = LAB_SUDO_USER): void {
  if (!userExists(user)) {
    try {
      execFileSync('useradd', ['--system', '--shell', '/bin/bash', '--home-dir', HOME, '--create-home', '--password', '*', user], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      if (!userExists(user)) throw err;
    }
  }
}

/** sudoers paths: the lab's are mkdtemp names; refuse anything sudoers would read differently. */
const SUDOERS_PATH = /^\/[A-Za-z0-9_./-]+$/;

function ruleText(user: string, dir: string, sudoLog: string, rule: SudoRule): string {
  for (const p of rule.paths) if (!SUDOERS_PATH.test(p)) throw new Error(`lab sudo: path ${JSON.stringify(p)} cannot go in a sudoers rule`);
  if (!rule.paths.length) throw new Error('lab sudo: a rule needs at least one path');
  return [
    `# lab ${dir}: written by lab/sudo.ts for a test, removed after it`,
    `Defaults:${user} env_keep += "LAB_NODE LAB_DIR"`,
    `Defaults:${user} logfile="${sudoLog}"`,
    `${user} ALL=(root) ${rule.nopasswd === false ? 'PASSWD' : 'NOPASSWD'}: ${rule.paths.join(', ')}`,
    '',
  ].join('\n');
}

/** A lab dir whose sshds still run (the lab's watchdog kills them when the test process dies). */
function labAlive(dir: string): boolean {
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'lab.json'), 'utf8')) as { nodes: Record<string, { pid: number }> };
    return Object.values(meta.nodes).some((n) => {
      try {
        process.kill(n.pid, 0);
        return true;
      } catch {
        return false;
      }
    });
  } catch {
    // No lab.json: a lab still being set up (keep its drop-in) or a dir that is gone (sweep it).
    return fs.existsSync(dir) && !fs.existsSync(path.join(dir, 'lab.json'));
  }
}

/** Drop-ins of labs that are gone (a test process killed before its after hook): their first line names the lab dir. */
function sweepStale(user: string): void {
  for (const name of fs.readdirSync('/etc/sudoers.d')) {
    if (!name.startsWith(`${user}-`)) continue;
    const file = path.join('/etc/sudoers.d', name);
    const m = /^# lab (\S+): written by lab\/sudo\.ts/.exec(fs.readFileSync(file, 'utf8'));
    if (m && !labAlive(m[1])) fs.rmSync(file, { force: true });
  }
}

/** Sets up the user, its journal dir and a sudoers drop-in for the lab in `labDir`. */
export function labSudo(labDir: string, rule: SudoRule, user = LAB_SUDO_USER): LabSudo {
  ensureSudo();
  ensureLabUser(user);
  sweepStale(user);
  fs.chmodSync(labDir, 0o711);
  const journalDir = path.join(labDir, `journal-${user}`);
  fs.mkdirSync(journalDir, { recursive: true, mode: 0o700 });
  execFileSync('chown', [`${user}:`, journalDir]);
  const sudoLog = path.join(labDir, 'log', 'sudo.log');
  const sudoersFile = `/etc/sudoers.d/${user}-${randomBytes(6).toString('hex')}`;
  const setRule = (r: SudoRule) => {
    const tmp = path.join(labDir, `sudoers-${randomBytes(4).toString('hex')}`);
    try {
      fs.writeFileSync(tmp, ruleText(user, labDir, sudoLog, r), { mode: 0o440 });
      execFileSync('/usr/sbin/visudo', ['-cf', tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
      // Copied, then renamed within /etc/sudoers.d: sudo never reads a half-written file.
      const staged = `/etc/sudoers.d/.${path.basename(sudoersFile)}.new`;
      fs.copyFileSync(tmp, staged);
      fs.chmodSync(staged, 0o440);
      fs.renameSync(staged, sudoersFile);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  };
  setRule(rule);
  // Also on a test process that exits without its after hook (an uncaught error, process.exit).
  const onExit = () => fs.rmSync(sudoersFile, { force: true });
  process.once('exit', onExit);
  return {
    user,
    journalDir,
    sudoLog,
    sudoersFile,
    setRule,
    sudoLogLines: () => {
      try {
        // sudo wraps long log entries onto indented continuation lines.
        return fs.readFileSync(sudoLog, 'utf8').split(/\n(?!\s)/).filter((l) => l.trim() !== '');
      } catch {
        return [];
      }
    },
    remove: () => {
      process.removeListener('exit', onExit);
      fs.rmSync(sudoersFile, { force: true });
    },
  };
}
