/**
 * What a remote command line looks like, and the host-side journal of commands that change something.
 *
 * Every command runs inside a short POSIX sh wrapper (pure text built here; the argv itself is still
 * only ever the allow-listed, quoted line of command-line.ts):
 *   - read-only commands announce the shell's pid on stderr first (`medic-pid:<pid>:<tag>`), so that a
 *     command that times out or is cancelled can be ended on the host (`kill` of its process group, over
 *     a second channel: OpenSSH refuses `signal` requests for root sessions);
 *   - commands that change something run under a journal `<journalDir>/<key>/` on the host. `mkdir` of
 *     the key is the at-most-once guard: a second start of the same key (a retry after a lost worker or a
 *     dropped connection) is refused by the host itself and reads the journal instead. The command's
 *     output goes to files, not to the SSH channel, so the command runs to its end whatever happens to
 *     the connection (no SIGPIPE on its next line); its exit status is written next to its output, where a
 *     later probe (read-only: `cat`) finds it.
 * The key is made by the workflow (run ID + step number), so the same step of the same run always has
 * the same key, on every worker.
 */
import { shellQuote } from './command-line';

/** A journal key, or a tag: made by this service; checked again here since it lands on the command line. */
export const JOURNAL_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Exit code of the wrapper when the journal entry exists already (the command was started before). */
export const ALREADY_STARTED = 125;
export const ALREADY_STARTED_MARK = 'medic-journal: already started';
const PID_MARK = 'medic-pid:';
const PROBE_MARK = 'medic-journal:';

function checkKey(kind: string, key: string): string {
  if (!JOURNAL_KEY.test(key)) throw new Error(`invalid journal ${kind} ${JSON.stringify(key.slice(0, 80))}`);
  return key;
}

/** The first statement of every wrapper, `medic-key=<key>;`: identifies the wrapper's shell in /proc/<pid>/cmdline (the `;` ends it, so key 1 never matches key 12). */
const marker = (key: string) => `medic-key=${key}`;
const isOurs = (key: string) => `grep -qF ${shellQuote(`${marker(key)};`)} /proc/"$p"/cmdline 2>/dev/null`;

/** Read-only command: announce the pid (with a tag that also identifies the shell in /proc), run, keep the exit status. */
export function plainWrapper(line: string, tag: string): string {
  checkKey('tag', tag);
  // `exit $?` after the command: bash must not exec the command in place of the shell (the tag is in the shell's cmdline).
  return `: ${marker(tag)}; echo ${PID_MARK}$$:${tag} >&2; ${line}; exit $?`;
}

/**
 * Changing command under the journal. `stdinBytes`: the length of what the client sends on stdin; a
 * shorter input (the connection dropped while it was sent) is refused before the command starts.
 * `day` (UTC, YYYY-MM-DD, the worker's clock): the sweep of entries older than 14 days runs at the first
 * changing command of each day on a host, not at every one (a `find` over every entry, thousands after
 * a busy fortnight, on each command).
 *
 * Every process the wrapper forks is the host's CPU and the command's latency (about 3 ms each on the
 * bench's 2 cores), so the common path forks only `mkdir` of the key, `date` and the command: the
 * folder check, the empty input (most commands have none: nothing to copy or count) and an empty
 * output or error file are shell builtins.
 */
export function journalWrapper(line: string, dir: string, key: string, stdinBytes: number, day = new Date().toISOString().slice(0, 10)): string {
  const j = shellQuote(`${dir}/${checkKey('key', key)}`);
  const d = shellQuote(dir);
  if (!/^\d{4}-\d\d-\d\d$/.test(day)) throw new Error(`invalid journal day ${JSON.stringify(day.slice(0, 20))}`);
  const swept = shellQuote(`${dir}/.swept-${day}`);
  const bytes = Math.trunc(stdinBytes);
  return [
    `: ${marker(key)}`,
    'umask 077',
    `{ [ -d ${d} ] || mkdir -p ${d}; } || exit ${ALREADY_STARTED + 1}`,
    // Entries older than 14 days are old incidents' records (once a day; the stamp is a file, never an entry).
    `[ -e ${swept} ] || { find ${d} -mindepth 1 -maxdepth 1 -type d -mtime +14 -exec rm -rf {} + 2>/dev/null; rm -f ${d}/.swept-*; : > ${swept}; }`,
    `mkdir ${j} 2>/dev/null || { echo '${ALREADY_STARTED_MARK}' ${j} >&2; exit ${ALREADY_STARTED}; }`,
    `echo $$ > ${j}/pid`,
    ...(bytes === 0
      ? [`: > ${j}/in`]
      : [`cat > ${j}/in`, `[ "$(wc -c < ${j}/in)" -eq ${bytes} ] || { echo 'medic-journal: incomplete input, not started' >&2; exit ${ALREADY_STARTED + 2}; }`]),
    `date -u +%Y-%m-%dT%H:%M:%SZ > ${j}/started`,
    `${line} < ${j}/in > ${j}/out 2> ${j}/err`,
    'rc=$?',
    `echo $rc > ${j}/rc`,
    `[ ! -s ${j}/out ] || cat ${j}/out`,
    `[ ! -s ${j}/err ] || cat ${j}/err >&2`,
    'exit $rc',
  ].join('; ');
}

/** Read-only probe of a journal entry: first stdout line `medic-journal:<state>:<rc>:<started>`, then the output; stderr the command's. */
export function probeLine(dir: string, key: string): string {
  const j = shellQuote(`${dir}/${checkKey('key', key)}`);
  return [
    `if [ ! -d ${j} ]; then echo ${PROBE_MARK}absent::; exit 0; fi`,
    `s=$(cat ${j}/started 2>/dev/null)`,
    `if [ -f ${j}/rc ]; then echo "${PROBE_MARK}done:$(cat ${j}/rc):$s"`,
    `elif [ -f ${j}/killed ]; then echo "${PROBE_MARK}killed::$s"`,
    `elif p=$(cat ${j}/pid 2>/dev/null) && ${isOurs(key)}; then echo "${PROBE_MARK}running::$s"; exit 0`,
    `elif [ -n "$s" ]; then echo "${PROBE_MARK}lost::$s"`,
    `else echo "${PROBE_MARK}not-started::"; fi`,
    `cat ${j}/out 2>/dev/null`,
    `cat ${j}/err >&2 2>/dev/null`,
    'exit 0',
  ].join('; ');
}

/**
 * Ends a command on the host: TERM to its process group, KILL a second later; only if the process whose
 * pid was recorded is still the shell of that command (its cmdline carries the key or tag).
 * `journal`: also marks the entry as killed (a later probe then knows why it has no exit status).
 */
export function killLine(pid: number | undefined, tag: string, journal?: { dir: string; key: string }): string {
  checkKey('tag', tag);
  const pidOf = journal ? `$(cat ${shellQuote(`${journal.dir}/${checkKey('key', journal.key)}`)}/pid 2>/dev/null)` : String(Math.trunc(pid ?? 0));
  const mark = journal ? `; echo killed > ${shellQuote(`${journal.dir}/${journal.key}`)}/killed` : '';
  return `p=${pidOf}; [ -n "$p" ] && [ "$p" -gt 1 ] && ${isOurs(tag)} && { kill -TERM -- -"$p" 2>/dev/null; sleep 1; kill -KILL -- -"$p" 2>/dev/null${mark}; }; exit 0`;
}

export type JournalState = 'absent' | 'not-started' | 'running' | 'done' | 'killed' | 'lost';

export interface Probe {
  state: JournalState;
  exitCode?: number;
  /** When the command started on the host (UTC, from the host's clock). */
  startedAt?: string;
  stdout: string;
}

/** Parses a probe's stdout; undefined when it is not a probe's answer (then nothing is known). */
export function parseProbe(stdout: string): Probe | undefined {
  const nl = stdout.indexOf('\n');
  const head = nl < 0 ? stdout : stdout.slice(0, nl);
  const m = /^medic-journal:(absent|not-started|running|done|killed|lost):(\d{0,3}):(\S*)$/.exec(head);
  if (!m) return undefined;
  const state = m[1] as JournalState;
  if (state === 'done' && m[2] === '') return undefined;
  return { state, ...(m[2] ? { exitCode: Number(m[2]) } : {}), ...(m[3] ? { startedAt: m[3] } : {}), stdout: nl < 0 ? '' : stdout.slice(nl + 1) };
}

/** Splits the pid announcement off the start of a read-only command's stderr. */
export function splitPid(stderr: string, tag: string): { pid?: number; rest: string } | undefined {
  const nl = stderr.indexOf('\n');
  if (nl < 0) return undefined; // not complete yet
  const m = new RegExp(`^${PID_MARK}(\\d+):${tag.replace(/[.]/g, '\\.')}$`).exec(stderr.slice(0, nl));
  return m ? { pid: Number(m[1]), rest: stderr.slice(nl + 1) } : { rest: stderr };
}
