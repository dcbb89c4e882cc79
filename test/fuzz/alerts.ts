/** Generators of alerts for the generated-input suites: check_mk vocabulary, valid values, Alertmanager payloads. */
import fc from 'fast-check';
import type { RoutingRule } from '../../client/intake';
import { hostile, mutated } from './fuzz';
import { RUNBOOK_ALERTS } from './samples';

export const LINES = RUNBOOK_ALERTS.map(([l]) => l);
export const VOCABULARY = [
  ...LINES.flatMap((l) => l.split(' ')),
  'snmpexec_mon_',
  'tarantool_',
  '_status',
  '_replication',
  '_rep1_master1',
  'ctlr_topo_check',
  'orch_topo_check',
  'ctlr topology is BAD: ',
  'autoflip blocked for maps: ',
  'check ctlr logs on ',
  '"',
  '=',
  ';',
  '|',
];

/** No line breaks: a check_mk body is split into lines before parsing (a fragment must stay in its position). */
export const inLine = hostile.map((h) => h.replace(/[\r\n]/g, '')).filter((h) => h !== '' && !/^\s|\s$/.test(h));
export const service = fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/);
export const number = fc.stringMatching(/^[0-9]{1,4}$/);
export const node = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/);

export const RULES: RoutingRule[] = [
  { match: { alertname: '~Kust.*' }, runbook: 'kust-replica', params: { service: '$labels.service', instance: '$labels.instance' } },
  { match: { alertname: 'AutoflipBlocked' }, runbook: 'autoflip', params: { map: '$labels.map' } },
  { match: { alertname: 'GaleraDown', severity: 'critical' }, runbook: 'manticore-cluster', params: { cluster: '$annotations.cluster' } },
];
const LABEL_NAMES = ['alertname', 'runbook', 'service', 'instance', 'map', 'node', 'cluster', 'check', 'checkmk_line', 'severity', '__proto__', 'constructor', 'toString', 'hasOwnProperty'];
/** Mostly values a real payload carries, sometimes hostile, mutated or arbitrary ones (each field breaks the schema only now and then). */
const labelValue = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('KustReplFailed', 'AutoflipBlocked', 'GaleraDown', 'critical', 'kust-replica', 'autoflip', 'manticore-cluster', 'cox', 'cox-1', 'fate', 'posts', 'vkt04', ...LINES) },
  { weight: 3, arbitrary: hostile },
  { weight: 2, arbitrary: mutated(LINES) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constant('x'.repeat(1025)) },
);
const rarely = <T, U>(usual: fc.Arbitrary<T>, odd: fc.Arbitrary<U>) => fc.oneof({ weight: 12, arbitrary: usual }, { weight: 1, arbitrary: odd });
const labels = fc.dictionary(rarely(fc.constantFrom(...LABEL_NAMES), fc.string({ maxLength: 10 })), labelValue, { maxKeys: 5 });
const alert = fc.record(
  {
    status: rarely(fc.constantFrom('firing', 'resolved'), fc.string()),
    labels,
    annotations: labels,
    startsAt: fc.constantFrom('2026-11-22T10:00:00Z', ''),
    endsAt: fc.constantFrom('0001-01-01T00:00:00Z', '2026-11-22T11:00:00Z'),
    generatorURL: fc.constantFrom('', 'http://prometheus:9090/graph?g0.expr=up'),
    fingerprint: rarely(fc.stringMatching(/^[0-9a-f]{1,16}$/), fc.string({ maxLength: 8 })),
  },
  { requiredKeys: ['status', 'labels', 'startsAt'] },
);
/** Alertmanager webhook payloads (version 4), mostly well-formed, with hostile and odd values in them. */
export const payload = fc.record({
  version: rarely(fc.constant('4'), fc.jsonValue()),
  receiver: fc.constant('medic'),
  status: fc.constantFrom('firing', 'resolved'),
  alerts: rarely(fc.array(alert, { minLength: 1, maxLength: 3 }), fc.constant([])),
  groupLabels: fc.constant({}),
  commonLabels: labels,
  commonAnnotations: fc.constant({}),
  externalURL: fc.constant('http://127.0.0.1:9093'),
  groupKey: fc.constant('{}:{}'),
  truncatedAlerts: rarely(fc.constant(0), fc.integer()),
});
