/**
 * The request bodies of the intake benchmark (test/bench/intake.ts): realistic Alertmanager webhook
 * payloads (version 4), one alert or many per notification. Used by the benchmark itself and, through
 * intake-setup-request.ts, inside autocannon's worker thread, which builds every request anew.
 */

/** What the worker thread is to send in one case; passed in the environment (MEDIC_BENCH_CASE). */
export interface CaseSpec {
  /** new: every alert a target never seen; pool: cycle over `pool` targets (numbers base..base+pool-1). */
  targets: 'new' | 'pool';
  status: 'firing' | 'resolved';
  /** Alerts per notification. */
  batch: number;
  /** Target numbers: service `<prefix><n>`, instance `<prefix><n>-1`. */
  prefix: string;
  base: number;
  pool: number;
}

export const CASE_ENV = 'MEDIC_BENCH_CASE';

const STARTS_AT = '2026-11-22T10:00:00.000Z';
const ENDS_AT = '2026-11-22T10:05:00.000Z';

/** One alert as Alertmanager sends it for kust-replica service `<prefix><n>`, instance `<prefix><n>-1`. */
export function amAlert(prefix: string, n: number, status: 'firing' | 'resolved'): object {
  const service = `${prefix}${n}`;
  const line = `2 snmpexec_mon_${service}_1_status - - - replfailed (first: 2026-11-22/10:00:00, last: 2026-11-22/10:04:00, total: 3406)`;
  return {
    status,
    labels: {
      alertname: 'KustReplFailed',
      instance: `${service}-1`,
      job: 'checkmk-local',
      severity: 'critical',
      service,
      team: 'dbre',
      checkmk_line: line,
    },
    annotations: {
      summary: `KUST replica ${service}-1 replication failed`,
      description: `check_mk reports replfailed for ${service}-1 on the control node; the replica stops applying changes until it is repaired.`,
      runbook_url: 'https://wiki.example.internal/runbooks/kust-replica',
    },
    startsAt: STARTS_AT,
    endsAt: status === 'resolved' ? ENDS_AT : '0001-01-01T00:00:00Z',
    generatorURL: `http://prometheus.example.internal:9090/graph?g0.expr=checkmk_service_state%7Bservice%3D%22snmpexec_mon_${service}_1_status%22%7D+%3E+1&g0.tab=1`,
    fingerprint: (0x1000000000000 + n).toString(16).padStart(16, '0'),
  };
}

export function amPayload(alerts: object[], status: 'firing' | 'resolved'): string {
  return JSON.stringify({
    version: '4',
    receiver: 'replication-medic',
    status,
    alerts,
    groupLabels: { alertname: 'KustReplFailed' },
    commonLabels: { alertname: 'KustReplFailed', job: 'checkmk-local', severity: 'critical', team: 'dbre' },
    commonAnnotations: { runbook_url: 'https://wiki.example.internal/runbooks/kust-replica' },
    externalURL: 'http://alertmanager.example.internal:9093',
    groupKey: '{}/{severity="critical"}:{alertname="KustReplFailed"}',
    truncatedAlerts: 0,
  });
}

/** Builds successive bodies of one case: numbers run on across calls (new targets) or cycle (pool). */
export function bodies(spec: CaseSpec): () => string {
  let next = 0;
  return () => {
    const alerts = [];
    for (let i = 0; i < spec.batch; i++) {
      const k = next++;
      alerts.push(amAlert(spec.prefix, spec.base + (spec.targets === 'new' ? k : k % spec.pool), spec.status));
    }
    return amPayload(alerts, spec.status);
  };
}
