/** Routing of every alert in RUNBOOKS.md (check_mk lines, and the same alerts as Alertmanager webhooks). */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { AlertmanagerPayloadSchema, Delivery, Intake, Route, routeAlertmanager, routeCheckMk } from '../client/intake';
import { RUNBOOKS, workflowIdOf } from '../client/runbooks';
import { loadScenario } from '../lab/scenario';
import { ctlrTopoCheck } from '../lab/tools/ctlr';
import { parseCheckMkLine } from '../parsers/checkmk';
import { RUNBOOK_ALERTS } from './fuzz/samples';
import { testConfig } from './helpers/settings';
import { createAlertHandler } from '../worker/alerts';

function ids(routes: { runbook: keyof typeof RUNBOOKS; params: Record<string, string> }[]): string[] {
  return routes.map((r) => workflowIdOf(r.runbook, RUNBOOKS[r.runbook].target(r.params)));
}

test('every check_mk alert line of RUNBOOKS.md routes to its runbook and target', () => {
  for (const [line, expected] of RUNBOOK_ALERTS) {
    const parsed = parseCheckMkLine(line);
    assert.ok(parsed.ok, line);
    const routes = routeCheckMk(parsed.value);
    assert.ok(routes.ok, `${line}: ${!routes.ok && routes.error}`);
    assert.deepEqual(ids(routes.value), expected, line);
  }
});

test("the lab's own ctlr_topo_check line with two blocked maps ([cox fate], as Go prints a slice) routes to one autoflip run per map", () => {
  const state = loadScenario('autoflip-blocked-two-maps');
  const out = ctlrTopoCheck({ dir: '/nonexistent', node: 'vkt03', tool: 'ctlr_topo_check.sh', argv: [], state, now: Date.now() });
  assert.equal(out.code, 0);
  assert.match(out.out, /autoflip blocked for maps: \[cox fate\]\n$/);
  const parsed = parseCheckMkLine(out.out);
  assert.ok(parsed.ok, !parsed.ok ? parsed.error : '');
  const routes = routeCheckMk(parsed.value);
  assert.ok(routes.ok, !routes.ok ? routes.error : '');
  assert.deepEqual(ids(routes.value), ['autoflip/cox', 'autoflip/fate']);
});

test('kust and tarantool routes carry service and instance; ctlr carries the suspect node', () => {
  const route = (line: string) => {
    const p = parseCheckMkLine(line);
    assert.ok(p.ok);
    const r = routeCheckMk(p.value);
    assert.ok(r.ok);
    return r.value;
  };
  assert.deepEqual(route(RUNBOOK_ALERTS[0][0]), [{ runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1' } }]);
  assert.deepEqual(route(RUNBOOK_ALERTS[2][0]), [{ runbook: 'tarantool-replica', params: { service: 'badger', instance: 'badger-3' } }]);
  assert.deepEqual(route(RUNBOOK_ALERTS[4][0]), [{ runbook: 'ctlr-replica', params: { node: 'vkt04' } }]);
});

test('the same alerts as Alertmanager webhooks: check_mk line in an annotation, or the check label with a summary', () => {
  for (const [line, expected] of RUNBOOK_ALERTS) {
    const a = { status: 'firing' as const, labels: { alertname: 'Replication' }, annotations: { checkmk_line: line }, startsAt: '' };
    const r = routeAlertmanager(a, []);
    assert.ok(r.ok, line);
    assert.deepEqual(ids(r.value), expected);
  }
  const viaCheck = routeAlertmanager({ status: 'firing', labels: { check: 'tarantool_badger_3_replication' }, annotations: { summary: 'problems on upstreams:1' }, startsAt: '' }, []);
  assert.ok(viaCheck.ok);
  assert.deepEqual(ids(viaCheck.value), ['tarantool-replica/badger-3']);
});

test('unroutable and hostile alerts are refused with the reason', () => {
  const lines = [
    '2 some_other_check - disk full',
    '2 snmpexec_mon_cox$(reboot)_1_status - - - replfailed',
    '2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on vkt04;reboot',
  ];
  for (const line of lines) {
    const p = parseCheckMkLine(line);
    const r = p.ok ? routeCheckMk(p.value) : p;
    assert.equal(r.ok, false, line);
  }
});

test('the Alertmanager schema accepts what Alertmanager 0.25 sends and refuses unknown fields', () => {
  const payload = {
    receiver: 'medic',
    status: 'firing',
    alerts: [{ status: 'firing', labels: { alertname: 'A' }, annotations: {}, startsAt: '2026-11-22T10:00:00Z', endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: '0a1b' }],
    groupLabels: {},
    commonLabels: { alertname: 'A' },
    commonAnnotations: {},
    externalURL: 'http://127.0.0.1:9093',
    version: '4',
    groupKey: '{}:{}',
    truncatedAlerts: 0,
  };
  assert.equal(AlertmanagerPayloadSchema.safeParse(payload).success, true);
  assert.equal(AlertmanagerPayloadSchema.safeParse({ ...payload, extra: 1 }).success, false);
  assert.equal(AlertmanagerPayloadSchema.safeParse({ ...payload, alerts: [{ ...payload.alerts[0], labels: { 'a b': 'x' } }] }).success, false);
});

// ---- delivery: what a storm costs in Temporal calls (a fake Temporal that counts them) ----

const tick = () => new Promise((r) => setImmediate(r));

/** A fake of the few Temporal client calls the intake makes: runs by ID, open or closed; every call counted, each answered a tick later. */
class FakeTemporal {
  readonly runs = new Map<string, { open: boolean }>();
  readonly calls: string[] = [];
  down = false;
  /** Calls (by prefix) that Temporal answers late. */
  readonly slow = new Set<string>();
  /** The most calls under way at once. */
  maxInFlight = 0;
  private inFlight = 0;
  private async rpc(what: string): Promise<void> {
    this.calls.push(what);
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    const ticks = [...this.slow].some((p) => what.startsWith(p)) ? 10 : 1;
    for (let i = 0; i < ticks; i++) await tick();
    this.inFlight--;
    if (this.down) throw new Error('temporal: connection refused');
  }
  count(prefix: string): number {
    return this.calls.filter((c) => c.startsWith(prefix)).length;
  }
  readonly client = {
    connection: { withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn() },
    workflow: {
      getHandle: (id: string) => ({
        describe: async () => {
          await this.rpc(`describe ${id}`);
          const run = this.runs.get(id);
          if (!run) throw new WorkflowNotFoundError('not found', id, undefined);
          return { status: { name: run.open ? 'RUNNING' : 'COMPLETED' }, closeTime: run.open ? undefined : new Date(0), runId: 'r1' };
        },
        signal: async (def: { name: string }) => {
          const open = this.runs.get(id)?.open; // as of the time the signal reaches Temporal; the answer may come later
          await this.rpc(`signal ${def.name} ${id}`);
          if (!open) throw new WorkflowNotFoundError('workflow execution already completed', id, undefined);
        },
      }),
      start: async (type: string, opts: { workflowId: string }) => {
        await this.rpc(`start ${opts.workflowId}`);
        if (this.runs.get(opts.workflowId)?.open) throw new WorkflowExecutionAlreadyStartedError('already started', opts.workflowId, type);
        this.runs.set(opts.workflowId, { open: true });
      },
    },
  };
}

function intakeOn(fake: FakeTemporal) {
  const clock = { t: 1_000_000 };
  const intake = new Intake(fake.client as unknown as Client, testConfig(), () => clock.t, 1000);
  return { intake, clock };
}
const cox1: Route = { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1' } };
const tally = (ds: Delivery[]) => ds.reduce<Record<string, number>>((m, d) => ({ ...m, [d.action]: (m[d.action] ?? 0) + 1 }), {});

test('a storm of concurrent duplicates for an open run costs one start attempt and one "seen again" signal, not one per alert', async () => {
  const fake = new FakeTemporal();
  fake.runs.set('kust-replica/cox-1', { open: true });
  const { intake } = intakeOn(fake);
  const ds = await Promise.all(Array.from({ length: 200 }, () => intake.deliver(cox1, true, 'alertmanager')));
  assert.deepEqual(tally(ds), { joined: 1, 'joined-quietly': 199 });
  assert.ok(ds.every((d) => d.workflowId === 'kust-replica/cox-1'));
  assert.deepEqual(fake.calls, ['describe kust-replica/cox-1', 'start kust-replica/cox-1', 'signal seenAgain kust-replica/cox-1']);
  assert.deepEqual({ joined: intake.counters.joined, joinedQuietly: intake.counters.joinedQuietly }, { joined: 1, joinedQuietly: 199 });
});

test('duplicates within the window after Temporal said "open" are answered from memory; after it, Temporal is asked again', async () => {
  const fake = new FakeTemporal();
  const { intake, clock } = intakeOn(fake);
  assert.equal((await intake.deliver(cox1, true, 'a')).action, 'started');
  assert.equal((await intake.deliver(cox1, true, 'a')).action, 'joined'); // the first duplicate: "seen again"
  const asked = fake.calls.length;
  for (let i = 0; i < 40; i++) {
    clock.t += 10; // 400 ms in all: the first half of the window of the last answer
    assert.equal((await intake.deliver(cox1, true, 'a')).action, 'joined-quietly');
  }
  assert.equal(fake.calls.length, asked, 'no Temporal call for a duplicate within the window');
  clock.t += 700; // 1.1 s after the last answer, and no duplicate in its second half
  assert.equal((await intake.deliver(cox1, true, 'a')).action, 'joined-quietly');
  assert.deepEqual(fake.calls.slice(asked), ['describe kust-replica/cox-1', 'start kust-replica/cox-1']);
});

test('an alert after the run closed starts the next run at most the window later', async () => {
  const fake = new FakeTemporal();
  const { intake, clock } = intakeOn(fake);
  await intake.deliver(cox1, true, 'a');
  await intake.deliver(cox1, true, 'a');
  fake.runs.set('kust-replica/cox-1', { open: false }); // the run finishes
  // Within the window of the last "open" the alert may be answered as joining the closed run (the
  // documented price), but by the first alert after the window at the latest, the next run has started.
  for (const step of [600, 400]) {
    clock.t += step;
    await intake.deliver(cox1, true, 'a');
    for (let j = 0; j < 5; j++) await tick(); // a renewal in the background, if any, is answered
  }
  assert.equal(fake.runs.get('kust-replica/cox-1')?.open, true);
  assert.equal(intake.counters.started, 2);
  assert.equal(fake.count('start'), 3);
});

test('a steady storm renews its knowledge in the background: no duplicate waits for Temporal, one renewal per half window', async () => {
  const fake = new FakeTemporal();
  fake.runs.set('kust-replica/cox-1', { open: true });
  const { intake, clock } = intakeOn(fake);
  await intake.deliver(cox1, true, 'a'); // joined ("seen again")
  const asked = fake.calls.length;
  for (let i = 0; i < 300; i++) {
    clock.t += 10; // 3 s of duplicates, 100 per second
    // An answer from memory comes before the next turn of the event loop; one that waits for Temporal does not.
    const d = await Promise.race([intake.deliver(cox1, true, 'a'), tick().then(() => 'waited for Temporal' as const)]);
    assert.notEqual(d, 'waited for Temporal', `duplicate ${i}`);
    for (let j = 0; j < 5; j++) await tick(); // a renewal in the background, if any, is answered
  }
  const renewals = fake.count('start') - 1; // the first: the join before the storm
  assert.ok(renewals >= 5 && renewals <= 6, `${renewals} renewals in 3 s`);
  assert.equal(fake.calls.length - asked, renewals * 2, 'each renewal: a describe and a refused start');
  assert.equal(intake.counters.joinedQuietly, 300);
  assert.equal(intake.counters.started, 0);
});

test('when Temporal fails, every waiting duplicate fails with it and nothing is remembered', async () => {
  const fake = new FakeTemporal();
  fake.down = true;
  const { intake } = intakeOn(fake);
  const rs = await Promise.allSettled(Array.from({ length: 20 }, () => intake.deliver(cox1, true, 'a')));
  assert.ok(rs.every((r) => r.status === 'rejected'));
  assert.equal(fake.count('describe'), 1);
  fake.down = false;
  assert.equal((await intake.deliver(cox1, true, 'a')).action, 'started');
  assert.equal(intake.counters.started, 1);
  assert.equal(intake.counters.joinedQuietly, 0);
});

test('resolved: concurrent resolutions of an open run send one signal; of a run not open, one refused signal, then memory for the window; a start forgets it', async () => {
  const fake = new FakeTemporal();
  fake.runs.set('kust-replica/cox-1', { open: true });
  const { intake, clock } = intakeOn(fake);
  const ds = await Promise.all(Array.from({ length: 100 }, () => intake.deliver(cox1, false, 'a')));
  assert.deepEqual(tally(ds), { 'resolved-recorded': 1, 'resolved-already-recorded': 99 });
  assert.equal(fake.count('signal alertResolved'), 1);
  assert.equal(intake.counters.resolved, 1);

  const cox2: Route = { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-2' } };
  const gone = await Promise.all(Array.from({ length: 100 }, () => intake.deliver(cox2, false, 'a')));
  assert.deepEqual(tally(gone), { 'resolved-no-open-run': 100 });
  clock.t += 900;
  assert.equal((await intake.deliver(cox2, false, 'a')).action, 'resolved-no-open-run');
  assert.equal(fake.count('signal alertResolved kust-replica/cox-2'), 1);
  assert.equal((await intake.deliver(cox2, true, 'a')).action, 'started'); // no open run known: a firing alert still starts
  assert.equal((await intake.deliver(cox2, false, 'a')).action, 'resolved-recorded');
  assert.equal(fake.count('signal alertResolved kust-replica/cox-2'), 2);
});

test('a late "no open run" answer to a resolution does not hide a run started since: the next resolution is recorded', async () => {
  const fake = new FakeTemporal();
  const { intake } = intakeOn(fake);
  fake.slow.add('signal');
  const resolving = intake.deliver(cox1, false, 'a'); // reaches Temporal before the run exists, answered late
  assert.equal((await intake.deliver(cox1, true, 'a')).action, 'started');
  assert.equal((await resolving).action, 'resolved-no-open-run');
  fake.slow.clear();
  assert.equal((await intake.deliver(cox1, false, 'a')).action, 'resolved-recorded');
});

test('webhook: the deliveries of one notification run side by side, but in body order for the same run and for runbooks that share a target', async () => {
  const fake = new FakeTemporal();
  const tokens = { webhook: 'w'.repeat(32), operator: 'o'.repeat(32) };
  const handler = createAlertHandler(fake.client as unknown as Client, testConfig(), tokens);
  const server = http.createServer((req, res) => void handler(req, res, ['alertmanager']).catch((err: Error) => res.writeHead(500).end(err.message)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const alert = (status: string, labels: Record<string, string>) => ({ status, labels, annotations: {}, startsAt: '2026-11-22T10:00:00Z' });
    const kust = (n: number, status = 'firing') => alert(status, { runbook: 'kust-replica', service: `b${n}`, instance: `b${n}-1` });
    const alerts = [
      ...Array.from({ length: 40 }, (_, n) => kust(n)),
      kust(7, 'resolved'), // after its firing alert: recorded on the run that alert started
      alert('firing', { runbook: 'ctlr-replica', node: 'vkt04' }),
      alert('firing', { runbook: 'ctlr-roles' }), // shares ctlr-1: joins the ctlr-replica run, never a second run
    ];
    const body = JSON.stringify({ version: '4', receiver: 'medic', status: 'firing', alerts });
    const res = await fetch(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.webhook}`, 'content-type': 'application/json' },
      body,
    });
    assert.equal(res.status, 202);
    const { results } = (await res.json()) as { results: Delivery[] };
    assert.deepEqual(
      results.map((r) => `${r.workflowId} ${r.action}`),
      [...Array.from({ length: 40 }, (_, n) => `kust-replica/b${n}-1 started`), 'kust-replica/b7-1 resolved-recorded', 'ctlr-replica/ctlr-1 started', 'ctlr-roles/ctlr-1 joined'],
    );
    assert.equal(fake.count('start ctlr-roles'), 0);
    assert.ok(fake.maxInFlight > 1 && fake.maxInFlight <= 16, `${fake.maxInFlight} calls at once`);
  } finally {
    server.close();
  }
});
