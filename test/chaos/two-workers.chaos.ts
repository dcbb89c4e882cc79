/**
 * Two workers on one task queue: the one running the changing command is SIGKILLed while the command
 * runs on the host; the other worker takes the run over, reads the command's outcome from the host's
 * journal, and finishes the repair. Nothing runs twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { temporal } from '@temporalio/proto';
import type { RunResult } from '../../workflows/definitions';
import { recordFigures } from '../helpers/figures';
import { changes, Lane, line } from './harness';
import { SCRIPTS } from './scripts';

const EventType = temporal.api.enums.v1.EventType;

test('two workers: the one running clean_kust_replica.sh is killed mid-command; the other finishes the run, the clean ran once', { timeout: 10 * 60_000 }, async () => {
  const script = { ...SCRIPTS['kust-replica'], config: {}, faults: [] };
  const lane = new Lane('worker', script);
  await lane.up();
  const second = await lane.spawn();
  try {
    lane.lab.setState((s) => s.faults.push({ id: 'clean', tool: 'clean_kust_replica.sh', hold: true, times: 1 }));
    const started = await lane.api('POST', '/v1/runs', { runbook: 'kust-replica', params: script.params });
    assert.equal(started?.status, 201);
    const id = script.runs[0];
    const deadline = Date.now() + 60_000;
    while (lane.lab.held('clean').length === 0) {
      assert.ok(Date.now() < deadline, 'the clean never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    // Which worker runs the clean: its pending activity's worker identity (pid@host). (The history gets
    // ActivityTaskStarted only when the attempt ends.)
    let runner: number | undefined;
    while (runner === undefined) {
      assert.ok(Date.now() < deadline, 'no worker identity for the running clean');
      const pending = (await lane.client.workflow.getHandle(id).describe()).raw.pendingActivities ?? [];
      const identity = pending.find((a) => a.activityType?.name === 'runCommand')?.lastWorkerIdentity;
      runner = identity ? Number(identity.split('@')[0]) : undefined;
      if (runner === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    const survivor = runner === second.child.pid ? undefined : second;
    if (survivor) await lane.crash(); // the first service runs it
    else process.kill(second.child.pid as number, 'SIGKILL');
    lane.lab.release('clean');
    if (survivor) lane.use(survivor);
    const r = (await lane.client.workflow.getHandle(id).result()) as RunResult;
    assert.equal(r.outcome, 'repaired', r.summary);
    const log = lane.lab.log();
    assert.deepEqual(log.filter(changes).map(line), ['vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1'], 'the clean ran once');
    const events = await lane.history(id);
    const finisher = events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED).map((e) => Number(String(e.activityTaskStartedEventAttributes?.identity).split('@')[0]));
    assert.notEqual(finisher[finisher.length - 1], runner, 'the last attempt ran on the other worker');
    assert.match(r.state.steps.find((s) => s.name === 'clean the replica')?.recovered ?? '', /journal/);
    recordFigures('chaos-two-workers', { 'two workers: runs finished by the other worker': 1, 'two workers: changing commands run twice': log.filter(changes).length - 1 });
  } finally {
    if (second.child.exitCode === null && second.child.signalCode === null) second.child.kill('SIGKILL');
    await lane.down();
  }
});
