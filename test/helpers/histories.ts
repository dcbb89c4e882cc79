/**
 * Recording of workflow histories for the replay test (test/replay). With MEDIC_RECORD_HISTORIES=<dir>
 * set (scripts/record-histories.sh sets it), every run a time-skipping test drives has its event history
 * written to <dir>/<test file>--<n>--<workflow ID, URI-encoded>.binpb.gz (n counts the runs recorded in
 * that file; a history does not hold its workflow ID, and a run that checks it, such as a decision's proof,
 * must replay under its own) as gzipped binary protobuf (temporal.api.history.v1.History; the SDK's historyToJSON fails on its nested protobufjs). before the test ends it; otherwise nothing happens.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import * as workflows from '../../workflows';

let recorded = 0;

export async function recordHistory(handle: WorkflowHandle): Promise<void> {
  const dir = process.env.MEDIC_RECORD_HISTORIES;
  if (!dir) return;
  const history = await handle.fetchHistory();
  // Only the product's workflows (a test's own workflow cannot replay against the product's code).
  const type = history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '';
  if (!Object.hasOwn(workflows, type)) return;
  const file = path.basename(process.argv[1] ?? 'test').replace(/\.test\.js$/, '');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${file}--${String(++recorded).padStart(3, '0')}--${encodeURIComponent(handle.workflowId)}.binpb.gz`), zlib.gzipSync(temporal.api.history.v1.History.encode(history).finish(), { level: 9 }));
}

/**
 * Every recorded history below `dir` (any depth), decoded, with the workflow ID it ran under (folders recorded
 * before 2026-12-06 named it with every character but [A-Za-z0-9_.-] as '_': their commands do not depend on it).
 */
export function loadHistories(dir: string): { file: string; workflowId: string; history: temporal.api.history.v1.History }[] {
  const out: { file: string; workflowId: string; history: temporal.api.history.v1.History }[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.binpb.gz')) {
        const history = temporal.api.history.v1.History.decode(zlib.gunzipSync(fs.readFileSync(p)));
        const named = /^.+?--\d+--(.+)\.binpb\.gz$/.exec(e.name);
        out.push({ file: path.relative(dir, p), workflowId: named ? decodeURIComponent(named[1]) : e.name.replace(/\.binpb\.gz$/, ''), history });
      }
    }
  };
  walk(dir);
  return out;
}
