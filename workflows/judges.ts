/** Judges shared by runbooks: turn a command's output into a verdict, using the pure parsers. */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { ExecResult } from '../activities';
import { findReplicaPair, IcMap, IcNode, IcSrv, parseIcMap } from '../parsers/icmap';
import { endsWithLines } from '../parsers/output';
import { check } from '../parsers/patterns';
import { fail, ok, Parsed } from '../parsers/result';

/**
 * `ic map` as the runs judge it. Runs recorded before node blocks could be named like an instance with `_`
 * (`node video_conf-2`) replay with the old judgement: such a run had escalated, and must go on doing so.
 */
export function parseRunMap(text: string): Parsed<IcMap> {
  return parseIcMap(text, { instanceNodeNames: patched('icmap-instance-node-names') });
}

/** `ic map` output -> the instance's slave and main (exactly one of each), or why not. */
export function replicaPair(instance: string) {
  return (r: ExecResult): Parsed<{ node: IcNode; slave: IcSrv; main: IcSrv }> => {
    const map = parseRunMap(r.stdout);
    if (!map.ok) return fail(`ic map output not understood: ${map.error}${map.line ? ` (line ${map.line})` : ''}`);
    return findReplicaPair(map.value, instance);
  };
}

/** The output must end with exactly these lines (white space tolerant). */
export function endsWith(expected: string[]) {
  return (r: ExecResult): Parsed<true> => {
    const v = endsWithLines(r.stdout, expected);
    return v.ok ? ok(true) : fail(v.reason);
  };
}

/** Validates a workflow input value; a bad one fails the run at once (it must never reach a command line). */
export function validInput(pattern: RegExp, kind: string, value: string): string {
  const v = check(pattern, kind, value);
  if (!v.ok) throw ApplicationFailure.nonRetryable(v.error, 'InvalidInput');
  return v.value;
}
