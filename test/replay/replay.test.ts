/**
 * Replay: every recorded history (test/replay/histories/<release>/, written by scripts/record-histories.sh
 * from the time-skipping suites) must replay against the current workflow code. A change to a released
 * workflow's command sequence without `patched()` makes a resumed run of the old version fail; this is
 * where that shows up, before any worker does it in production.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { DeterminismViolationError } from '@temporalio/workflow';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import * as workflows from '../../workflows';
import { loadHistories } from '../helpers/histories';
import { quietRuntime, workflowBundle } from '../helpers/temporal';

const DIR = path.resolve(__dirname, '../../../test/replay/histories');
const EventType = temporal.api.enums.v1.EventType;

async function replay(histories: { workflowId: string; history: temporal.api.history.v1.History }[]) {
  quietRuntime();
  const results: { workflowId: string; error?: unknown }[] = [];
  for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle(), replayName: 'replay-test' }, histories)) results.push(r);
  return results;
}

const typeOf = (h: temporal.api.history.v1.History) => h.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '?';

test('every recorded history replays against the current workflow code', async () => {
  const recorded = loadHistories(DIR);
  // Every runbook workflow has recorded histories (a new workflow needs a recording before its release).
  assert.deepEqual([...new Set(recorded.map((r) => typeOf(r.history)))].sort(), Object.keys(workflows).sort());
  const results = await replay(recorded);
  assert.equal(results.length, recorded.length);
  // One at a time, in order (Worker.runReplayHistories): the i-th result is the i-th file's.
  const failed = results.flatMap((r, i) => (r.error === undefined ? [] : [`${recorded[i].file} (${r.workflowId}): ${String(r.error)}`]));
  assert.deepEqual(failed, [], `histories that no longer replay (a released command sequence changed without patched()):\n${failed.join('\n')}`);
});

test('a history whose commands differ from the code is reported as a determinism violation (the check can fail)', async () => {
  const recorded = loadHistories(DIR).find((r) => typeOf(r.history) === 'kustReplica');
  assert.ok(recorded);
  // As if the released code had started with a timer where the current code runs `ic map`.
  const history = temporal.api.history.v1.History.decode(temporal.api.history.v1.History.encode(recorded.history).finish());
  const scheduled = history.events?.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
  assert.ok(scheduled?.activityTaskScheduledEventAttributes);
  const attrs = scheduled.activityTaskScheduledEventAttributes;
  scheduled.eventType = EventType.EVENT_TYPE_TIMER_STARTED;
  scheduled.activityTaskScheduledEventAttributes = null;
  scheduled.timerStartedEventAttributes = { timerId: '1', workflowTaskCompletedEventId: attrs.workflowTaskCompletedEventId };
  const [r] = await replay([{ workflowId: recorded.workflowId, history }]);
  assert.ok(r.error instanceof DeterminismViolationError, `expected a determinism violation, got ${String(r.error)}`);
});
