/** Routing of every alert in RUNBOOKS.md (check_mk lines, and the same alerts as Alertmanager webhooks). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlertmanagerPayloadSchema, routeAlertmanager, routeCheckMk } from '../client/intake';
import { RUNBOOKS, workflowIdOf } from '../client/runbooks';
import { loadScenario } from '../lab/scenario';
import { ctlrTopoCheck } from '../lab/tools/ctlr';
import { parseCheckMkLine } from '../parsers/checkmk';
import { RUNBOOK_ALERTS } from './fuzz/samples';

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
