/**
 * The replica tools for benchmarks: `ic` (map / flip), `clean_kust_replica.sh`, `clean_tnt_replica.sh`
 * and `systemctl` (is-active / restart) as small `/bin/sh` scripts instead of the simulated fleet's Node
 * processes (about 100 ms each, and one state file under one lock: fine for a test, not for 1,000 runs at
 * once). They answer like the simulated tools for any service `<svc>` whose instance is `<svc>-1`: the
 * slave on `slaveHost`, the main on `mainHost`, the roles swapped once `ic flip` named the slave (a marker
 * file per srv). Each call appends one JSON line to `<lab>/log/bench.jsonl` with its start and end on the
 * host (ns, `date +%s%N`), so a benchmark can tell when the first command started and how long the
 * commands themselves took. A test can hold a tool's calls on the host (holdBenchTool).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface BenchToolCall {
  tool: string;
  node: string;
  argv: string[];
  /** Host clock, ms since the epoch (fractional). */
  startMs: number;
  endMs: number;
  exitCode: number;
}

export const BENCH_LOG = path.join('log', 'bench.jsonl');

/**
 * One bash tool: `body` computes `out` and `rc` from "$@"; the common head and tail log the call. bash,
 * not sh, for $EPOCHREALTIME and printf -v: the tool forks nothing (a `date` and a `$(...)` were ~3 ms
 * of host CPU each, counted in the benchmarks' throughput and partly in their overhead figures).
 */
function script(dir: string, tool: string, body: string[]): string {
  return [
    '#!/bin/bash',
    `# lab bench tool: ${tool} (lab/bench-tools.ts); LAB_NODE/LAB_DIR come from sshd's SetEnv`,
    's=${EPOCHREALTIME/[.,]/}000',
    `L="\${LAB_DIR:-${dir}}"`,
    'rc=0; out=""',
    // Only plain names reach these tools (the service quotes argv); anything else is a usage error.
    'for a in "$@"; do case "$a" in *[!A-Za-z0-9._@-]*|"") echo "bad argument" >&2; exit 2;; esac; done',
    // A test holds every call of this tool while <lab>/bench-hold/<tool> exists (a command under way when a
    // worker dies); <tool>.started says one is held. Builtins only when nothing is held.
    `if [ -e "$L/bench-hold/${tool}" ]; then : > "$L/bench-hold/${tool}.started"; while [ -e "$L/bench-hold/${tool}" ]; do sleep 0.05; done; fi`,
    ...body,
    '[ -n "$out" ] && printf "%s\\n" "$out"',
    'e=${EPOCHREALTIME/[.,]/}000',
    'args=""; for a in "$@"; do args="$args${args:+,}\\"$a\\""; done',
    `printf '{"tool":"${tool}","node":"%s","argv":[%s],"start":%s,"end":%s,"exit":%s}\\n' "\${LAB_NODE:-?}" "$args" "$s" "$e" "$rc" >> "$L/${BENCH_LOG}"`,
    'exit $rc',
    '',
  ].join('\n');
}

/** Overwrites the lab's wrappers of these four tools in `<dir>/bin` with the bench scripts. */
export function writeBenchTools(dir: string, hosts: { slaveHost: string; mainHost: string }): void {
  const { slaveHost: a, mainHost: b } = hosts;
  const flips = path.join(dir, 'bench-flips');
  fs.mkdirSync(flips, { recursive: true });
  fs.writeFileSync(path.join(dir, BENCH_LOG), '');
  const tools: Record<string, string[]> = {
    ic: [
      'case "$1" in',
      ' map) svc=$2; i="$svc-1"',
      `   if [ -e "${flips}/$svc.${a}.$i" ]; then ra=main; rb=slave; else ra=slave; rb=main; fi`,
      `   printf -v out 'node %s (268435456 buckets)\\n  srv %s.${a}.%s 10.32.0.1:2502 alive %s\\n  srv %s.${b}.%s 10.32.48.0:2502 alive %s' "$i" "$svc" "$i" "$ra" "$svc" "$i" "$rb";;`,
      ` flip) : > "${flips}/$2"; out="srv $2 started";;`,
      ' *) out="Usage: ic map <map> | ic flip <srv>"; rc=2;;',
      'esac',
    ],
    'clean_kust_replica.sh': ['printf -v out "INFO: stopping %s\\nINFO: starting %s\\nINFO: successfully started %s" "$1" "$1" "$1"'],
    'clean_tnt_replica.sh': [
      'i=$1',
      'printf -v out "INFO: starting tarantool instance tarantool@%s\\nINFO: successfully started tarantool@%s\\nINFO: waiting 10 seconds\\nINFO: starting IPROS instance %s\\nINFO: successfully started %s" "$i" "$i" "$i" "$i"',
    ],
    systemctl: [
      'case "$1" in',
      " is-active) nl=$'\\n'; for u in \"${@:2}\"; do out=\"$out${out:+$nl}active\"; done;;", // "${@:2}": the log keeps the verb
      ' restart) ;;',
      ' *) out="Unknown command verb $1."; rc=1;;',
      'esac',
    ],
  };
  for (const [tool, body] of Object.entries(tools)) fs.writeFileSync(path.join(dir, 'bin', tool), script(dir, tool, body), { mode: 0o755 });
}

/** The calls the bench tools logged so far, in the order they ended. */
export function readBenchLog(dir: string): BenchToolCall[] {
  const text = fs.readFileSync(path.join(dir, BENCH_LOG), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(parseBenchLine);
}

export function parseBenchLine(line: string): BenchToolCall {
  const j = JSON.parse(line) as { tool: string; node: string; argv: string[]; start: number; end: number; exit: number };
  return { tool: j.tool, node: j.node, argv: j.argv, startMs: j.start / 1e6, endMs: j.end / 1e6, exitCode: j.exit };
}

/** Forgets the calls logged so far and the flips (the next round starts from the first state). */
export function resetBench(dir: string): void {
  fs.writeFileSync(path.join(dir, BENCH_LOG), '');
  const flips = path.join(dir, 'bench-flips');
  fs.rmSync(flips, { recursive: true, force: true });
  fs.mkdirSync(flips, { recursive: true });
}

/** Holds every later call of `tool` on the hosts until the returned release() (the call then ends normally). */
export function holdBenchTool(dir: string, tool: string): { started: () => boolean; release: () => void } {
  const holds = path.join(dir, 'bench-hold');
  fs.mkdirSync(holds, { recursive: true });
  fs.writeFileSync(path.join(holds, tool), '');
  return {
    started: () => fs.existsSync(path.join(holds, `${tool}.started`)),
    release: () => fs.rmSync(path.join(holds, tool), { force: true }),
  };
}
