/**
 * Generated input over the alert intake (no server): check_mk lines (parsers/checkmk.ts) and
 * Alertmanager payloads (client/intake.ts). Arbitrary text, mutated real alerts and hostile values
 * never make them throw; whatever they route to a run passes that runbook's allow-lists; a hostile
 * value in a routed position is always refused; and valid generated alerts route to exactly their run.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { AlertmanagerPayloadSchema, routeAlertmanager, routeCheckMk } from '../../client/intake';
import { RUNBOOKS, workflowIdOf } from '../../client/runbooks';
import { parseCheckMkLine, parseCheckMkLines } from '../../parsers/checkmk';
import { recordFigures } from '../helpers/figures';
import { inLine, LINES, node, number, payload, RULES, service, VOCABULARY } from './alerts';
import { anyText, assertReason, assertRoutesSafe, hostile, mutated, settings, Tally } from './fuzz';

const tally = new Tally();
after(() => recordFigures('fuzz', tally.counts));

const ids = (routes: { runbook: keyof typeof RUNBOOKS; params: Record<string, string> }[]) => routes.map((r) => workflowIdOf(r.runbook, RUNBOOKS[r.runbook].target(r.params)));

/** Parse, then route: never a throw, every failure with a reason, every route safe. */
function intakeOf(line: string) {
  const parsed = parseCheckMkLine(line);
  assertReason(parsed, line);
  for (const r of parseCheckMkLines(line)) assertReason(r, line);
  if (!parsed.ok) return parsed;
  const routes = routeCheckMk(parsed.value);
  assertReason(routes, line);
  if (routes.ok) assertRoutesSafe(routes.value, line);
  return routes;
}

test('check_mk: arbitrary text and mutated RUNBOOKS.md alerts never throw, and route only values that pass their allow-lists', () => {
  let routed = 0;
  fc.assert(
    fc.property(fc.oneof(anyText(VOCABULARY), mutated(LINES), mutated(LINES.map((l) => `${l}\n${l}`))), (text) => {
      tally.add('check_mk lines tried');
      if (intakeOf(text).ok) routed++;
    }),
    settings(12000),
  );
  // The mutations keep many lines routable: the property looked at routed values, not only at refusals.
  assert.ok(routed > 600, `only ${routed} of the generated lines routed`);
  tally.add('check_mk lines tried that routed to a run', routed);
});

test('check_mk: a hostile value in a routed position (service, instance number, node, map) is always refused, with the reason', () => {
  const templates = [
    (h: string) => `2 snmpexec_mon_${h}_1_status - - - replfailed`,
    (h: string) => `2 snmpexec_mon_cox_${h}_status - - - replfailed`,
    (h: string) => `2 tarantool_${h}_3_replication - - problems on upstreams:1`,
    (h: string) => `2 tarantool_badger_3_rep${h}_master1 - - stopped`,
    (h: string) => `2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on ${h}`,
    (h: string) => `2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on vkt${h}04`,
    (h: string) => `2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [fate ${h}]`,
    (h: string) => `2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [${h}, cox]`,
    (h: string) => `2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [fa${h}te]`,
  ];
  fc.assert(
    fc.property(fc.nat(templates.length - 1), inLine, (i, h) => {
      tally.add('hostile check_mk lines tried');
      const line = templates[i](h);
      const r = intakeOf(line);
      assert.equal(r.ok, false, `${JSON.stringify(line)} routed: ${JSON.stringify(r)}`);
    }),
    settings(6000),
  );
});

test('check_mk: valid generated alerts route to exactly their run (service names with _, Go and comma map lists)', () => {
  const sep = fc.constantFrom(' ', ', ', ',', '  ,  ', ' ,', '\t');
  const cases = fc.oneof(
    fc.tuple(service, number).map(([s, n]) => ({ line: `2 snmpexec_mon_${s}_${n}_status - - - replfailed`, want: [`kust-replica/${s}-${n}`] })),
    fc.tuple(service, number, fc.constantFrom('replication', 'rep1_master1', 'rep12_master3')).map(([s, n, k]) => ({ line: `1 tarantool_${s}_${n}_${k} - - x`, want: [`tarantool-replica/${s}-${n}`] })),
    node.map((n) => ({ line: `2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on ${n}`, want: ['ctlr-replica/ctlr-1'] })),
    fc.tuple(fc.array(service, { minLength: 1, maxLength: 6 }), fc.array(sep, { minLength: 6, maxLength: 6 })).map(([maps, seps]) => ({
      line: `2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [${maps.map((m, i) => (i === 0 ? m : seps[i] + m)).join('')}]`,
      want: [...new Set(maps)].map((m) => `autoflip/${m}`),
    })),
  );
  fc.assert(
    fc.property(cases, ({ line, want }) => {
      tally.add('valid check_mk lines tried');
      const r = intakeOf(line);
      assert.ok(r.ok, `${line}: ${!r.ok && r.error}`);
      assert.deepEqual(ids(r.value), want, line);
    }),
    settings(4000),
  );
});

// ---- Alertmanager ----

test('Alertmanager: any JSON document and generated payloads with hostile labels never throw; accepted alerts route only safe values', () => {
  let accepted = 0;
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), payload), (doc) => {
      tally.add('Alertmanager payloads tried');
      const p = AlertmanagerPayloadSchema.safeParse(doc);
      if (!p.success) {
        assert.ok(p.error.issues.length > 0);
        return;
      }
      accepted++;
      for (const a of p.data.alerts) {
        tally.add('Alertmanager alerts routed');
        const r = routeAlertmanager(a, RULES);
        assertReason(r, a);
        if (r.ok) assertRoutesSafe(r.value, a);
      }
    }),
    settings(8000),
  );
  assert.ok(accepted > 200, `only ${accepted} payloads passed the schema`);
});

test('Alertmanager: a hostile value in the routed label or annotation is always refused; the valid value routes to its run', () => {
  const paths = [
    (v: string) => ({ labels: { runbook: 'kust-replica', service: 'cox', instance: v } }),
    (v: string) => ({ labels: { runbook: 'kust-replica', service: v, instance: 'cox-1' } }),
    (v: string) => ({ labels: { runbook: 'autoflip', map: v } }),
    (v: string) => ({ labels: { runbook: 'ctlr-replica', node: v } }),
    (v: string) => ({ labels: { alertname: 'KustReplFailed', service: 'cox', instance: v } }),
    (v: string) => ({ labels: { alertname: 'AutoflipBlocked', map: v } }),
    (v: string) => ({ labels: { alertname: 'GaleraDown', severity: 'critical' }, annotations: { cluster: v } }),
    (v: string) => ({ labels: { alertname: 'X' }, annotations: { checkmk_line: `2 snmpexec_mon_${v}_1_status - - - replfailed` } }),
    (v: string) => ({ labels: { check: `snmpexec_mon_cox_${v}_status` }, annotations: { summary: 'replfailed' } }),
    (v: string) => ({ labels: { check: 'ctlr_topo_check' }, annotations: { summary: `ctlr topology is BAD: autoflip blocked for maps: [${v}]` } }),
  ];
  const valid = ['cox-1', 'cox', 'fate', 'vkt04', 'cox-1', 'fate', 'posts', 'cox', '1', 'fate'];
  const want = ['kust-replica/cox-1', 'kust-replica/cox-1', 'autoflip/fate', 'ctlr-replica/ctlr-1', 'kust-replica/cox-1', 'autoflip/fate', 'manticore-cluster/posts', 'kust-replica/cox-1', 'kust-replica/cox-1', 'autoflip/fate'];
  const route = (i: number, v: string) => routeAlertmanager({ status: 'firing', annotations: {}, startsAt: '', ...paths[i](v) }, RULES);
  valid.forEach((v, i) => {
    const r = route(i, v);
    assert.ok(r.ok, `path ${i}: ${!r.ok && r.error}`);
    assert.deepEqual(ids(r.value), [want[i]], `path ${i}`);
  });
  fc.assert(
    fc.property(fc.nat(paths.length - 1), hostile, (i, h) => {
      tally.add('hostile Alertmanager alerts tried');
      const r = route(i, h);
      assertReason(r, h);
      assert.equal(r.ok, false, `path ${i} routed ${JSON.stringify(h)}: ${JSON.stringify(r)}`);
    }),
    settings(4000),
  );
});
