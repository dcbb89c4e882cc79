/**
 * Generated webhook bodies through the real HTTP API (worker/api.ts on a real dev server and worker,
 * the lab behind real sshd):
 * - malformed and hostile bodies always get a 4xx with a message, nothing crashes, nothing rejects
 *   unhandled, and the server still answers;
 * - size limits: 10 MB bodies (declared or streamed), 100k alerts, 100k-deep JSON, a huge check_mk
 *   body: each a clear 4xx, fast, without the server reading more than its limit; a realistic grouped
 *   notification of 1,000 alerts is accepted;
 * - no run starts from invalid input (the workflows listed in Temporal are exactly the valid ones);
 * - generated alerts, valid and hostile, act on the lab: every argument on every command the lab
 *   logged passes SAFE_ARG, and no hostile fragment appears in any command line or stdin.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { SAFE_ARG } from '../../activities/command-line';
import { createApi } from '../../worker/api';
import { stateQuery } from '../../workflows/definitions';
import { recordFigures } from '../helpers/figures';
import { Service, startService } from '../helpers/service';
import { inLine, LINES, node, number, payload, service, VOCABULARY } from './alerts';
import { anyText, hostile, mutated, SEED, settings, Tally, trapUnhandled } from './fuzz';

const tally = new Tally();
let svc: Service;
let trap: ReturnType<typeof trapUnhandled>;
/** Runs that valid input started (the only workflows Temporal may list). */
const validRuns = new Set<string>();

before(async () => {
  trap = trapUnhandled();
  svc = await startService('healthy', {
    timers: { tarantoolSettle: '1s', tarantoolBeforeFlip: '1s', tarantoolFlipRetry: '1s', tarantoolBeforeVerify: '1s', autoflipRetry: '1s', replicationPoll: '1s', replicationPollMax: '2s', mysqlErrantRecheck: '1s', mysqlPodPoll: '1s', galeraPoll: '1s' },
  });
});
after(async () => {
  recordFigures('fuzz', tally.counts);
  trap?.release();
  await svc?.stop();
});

interface Answer {
  status: number;
  error?: string;
  results?: { workflowId: string; action: string; unroutable?: string }[];
}

async function post(route: string, body: string | Buffer, type: string, token = svc.tokens.webhook): Promise<Answer> {
  const res = await fetch(`${svc.apiUrl}/v1/alerts/${route}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': type }, body });
  const text = await res.text();
  let doc: Omit<Answer, 'status'> = {};
  try {
    doc = JSON.parse(text) as Omit<Answer, 'status'>;
  } catch {
    assert.fail(`${res.status} answer is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, ...doc };
}

async function assertAnswers(): Promise<void> {
  const res = await fetch(`${svc.apiUrl}/healthz`);
  assert.equal(res.status, 200, 'the API still answers');
}

function assertRefused(a: Answer, what: string): void {
  assert.ok(a.status >= 400 && a.status < 500, `${what}: ${a.status} ${JSON.stringify(a).slice(0, 300)}`);
  assert.ok(typeof a.error === 'string' && a.error.trim() !== '', `${what}: no error message`);
}

// ---- malformed bodies ----

const CHECK_NAMES = /snmpexec_mon_|tarantool_|orch_topo_check|ctlr_topo_check/g;
/** Text without any routable check name: whatever else it holds, no line of it can start a run. */
const checkmkGarbage = fc.oneof(anyText(VOCABULARY), mutated(LINES)).map((t) => t.replace(CHECK_NAMES, 'x_'));
const TEMPLATES = [
  (h: string) => `2 snmpexec_mon_${h}_1_status - - - replfailed`,
  (h: string) => `2 tarantool_badger_${h}_replication - - problems on upstreams:1`,
  (h: string) => `2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on ${h}`,
  (h: string) => `2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [fate ${h}]`,
];
const hostileLine = fc.tuple(fc.nat(TEMPLATES.length - 1), inLine).map(([i, h]) => ({ line: TEMPLATES[i](h), fragment: h }));

const amAlert = (labels: Record<string, string>, annotations: Record<string, string> = {}) => ({ status: 'firing', labels, annotations, startsAt: '2026-11-22T10:00:00Z', endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: '0a1b' });
const amPayload = (alerts: unknown[]) => ({ version: '4', receiver: 'medic', status: 'firing', alerts, groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://127.0.0.1:9093', groupKey: '{}:{}', truncatedAlerts: 0 });
const GOOD = amAlert({ alertname: 'X', runbook: 'kust-replica', service: 'cox', instance: 'cox-2' });
/** One change each that makes a payload violate the version 4 webhook format. */
const BREAKS: ((p: Record<string, unknown>) => void)[] = [
  (p) => (p.version = '3'),
  (p) => delete p.receiver,
  (p) => (p.alerts = []),
  (p) => (p.alerts = 'all of them'),
  (p) => (p.surprise = '$(reboot)'),
  (p) => (p.truncatedAlerts = -1),
  (p) => (p.alerts = [{ ...GOOD, status: 'burning' }]),
  (p) => (p.alerts = [{ ...GOOD, extra: 1 }]),
  (p) => (p.alerts = [{ ...GOOD, labels: { ...GOOD.labels, 'bad-name;rm': 'x' } }]),
  (p) => (p.alerts = [{ ...GOOD, labels: { ...GOOD.labels, service: 'cox\u0001' } }]),
  (p) => (p.alerts = [{ ...GOOD, labels: { ...GOOD.labels, service: 'x'.repeat(1025) } }]),
  (p) => (p.alerts = [{ ...GOOD, fingerprint: 'not hex' }]),
  (p) => (p.alerts = [{ ...GOOD, labels: 'alertname=X' }]),
];
/** Alerts in the format whose routed value is hostile (every path of client/intake.ts routeAlertmanager). */
const AM_PATHS = [
  (v: string) => amAlert({ runbook: 'kust-replica', service: 'cox', instance: v }),
  (v: string) => amAlert({ runbook: 'autoflip', map: v }),
  (v: string) => amAlert({ runbook: 'manticore-cluster', cluster: v }),
  (v: string) => amAlert({ alertname: 'X' }, { checkmk_line: `2 snmpexec_mon_${v}_1_status - - - replfailed` }),
  (v: string) => amAlert({ check: 'ctlr_topo_check' }, { summary: `ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on ${v}` }),
];
const hostileAlert = fc.tuple(fc.nat(AM_PATHS.length - 1), hostile).map(([i, h]) => AM_PATHS[i](h));

type Req = { route: 'checkmk' | 'alertmanager'; body: string; type?: string; token?: string };
const malformed: fc.Arbitrary<Req> = fc.oneof(
  checkmkGarbage.map((body) => ({ route: 'checkmk' as const, body })),
  fc.array(hostileLine, { minLength: 1, maxLength: 3 }).map((ls) => ({ route: 'checkmk' as const, body: ls.map((l) => l.line).join('\n') })),
  anyText(['{', '}', '[', ']', '"version"', ':', '"4"', ',', 'null', '"alerts"']).map((body) => ({ route: 'alertmanager' as const, body })),
  fc.jsonValue().map((v) => ({ route: 'alertmanager' as const, body: JSON.stringify(v) ?? 'undefined' })),
  fc.tuple(fc.nat(BREAKS.length - 1), payload).map(([i, p]) => {
    const doc = structuredClone(p) as Record<string, unknown>;
    BREAKS[i](doc);
    return { route: 'alertmanager' as const, body: JSON.stringify(doc) };
  }),
  fc.array(hostileAlert, { minLength: 1, maxLength: 3 }).map((alerts) => ({ route: 'alertmanager' as const, body: JSON.stringify(amPayload(alerts)) })),
  fc.constantFrom<Req>(
    { route: 'checkmk', body: LINES[0], type: 'application/json' },
    { route: 'alertmanager', body: JSON.stringify(amPayload([GOOD])), type: 'text/plain' },
    { route: 'alertmanager', body: JSON.stringify(amPayload([GOOD])), type: 'application/x-www-form-urlencoded' },
    { route: 'checkmk', body: LINES[0], token: 'not-the-webhook-token-at-all' },
    { route: 'alertmanager', body: JSON.stringify(amPayload([GOOD])), token: '' },
  ),
);

test('malformed and hostile webhook bodies: always a 4xx with a message; nothing crashes; the server still answers', async () => {
  await fc.assert(
    fc.asyncProperty(malformed, async (req) => {
      tally.add('webhook bodies through the API');
      const a = await post(req.route, req.body, req.type ?? (req.route === 'checkmk' ? 'text/plain' : 'application/json'), req.token);
      assertRefused(a, `${req.route} ${JSON.stringify(req.body).slice(0, 200)}`);
    }),
    settings(1000),
  );
  await assertAnswers();
  trap.check();
});

// ---- size limits ----

/** The API as the service builds it, on its own port, telling how many bytes it read from each request's socket. */
async function measuredApi(): Promise<{ url: URL; readOf: () => number[]; close: () => void }> {
  const api = createApi(svc.client, svc.config, svc.tokens);
  const read: number[] = [];
  api.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    res.on('finish', () => read.push(socket.bytesRead));
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  return { url: new URL(`http://127.0.0.1:${(api.address() as net.AddressInfo).port}`), readOf: () => read, close: () => api.close() };
}

/** Streams `size` bytes of `chunk` (chunked, no Content-Length unless declared) and returns the answer as soon as it comes. */
function stream(url: URL, route: string, type: string, size: number, chunk: Buffer, declare = false): Promise<{ status: number; body: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${svc.tokens.webhook}`, 'content-type': type };
    if (declare) headers['content-length'] = size;
    const req = http.request({ host: url.hostname, port: url.port, method: 'POST', path: `/v1/alerts/${route}`, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - t0 }));
    });
    let answered = false;
    req.on('response', () => (answered = true));
    // After an early answer the server closes: the rest of the upload fails (EPIPE / reset), as expected.
    req.on('error', (err) => (answered ? undefined : reject(err)));
    let sent = 0;
    const pump = () => {
      while (sent < size && !answered && !req.destroyed) {
        const piece = chunk.subarray(0, Math.min(chunk.length, size - sent));
        sent += piece.length;
        if (!req.write(piece)) return void req.once('drain', pump);
      }
      if (!answered && !req.destroyed) req.end();
    };
    pump();
  });
}

const realisticAlert = (i: number) => ({
  status: 'firing',
  labels: {
    alertname: 'KustReplFailed',
    cluster: 'prod-msk-1',
    container: 'snmp-exporter',
    endpoint: 'http-metrics',
    namespace: 'monitoring',
    prometheus: 'monitoring/k8s',
    env: 'production',
    instance: `vkt-4vm-879-standart-02.example.net:${9100 + (i % 50)}`,
    job: 'snmp-exporter',
    service: 'cox',
    severity: 'critical',
    team: 'messaging-platform',
    pod: `snmp-exporter-7d9f8b6c5-${i.toString(36).padStart(5, '0')}`,
  },
  annotations: {
    summary: 'KUST replica cox-1 gets no data from its master',
    description: 'snmpexec_mon_cox_1_status reports replfailed for 15m on vkt-4vm-879-standart-02 (first: 2023-05-10/10:08:27, total: 3406). See the runbook.',
    runbook_url: 'https://wiki.example.net/ops/runbooks/kust-replica',
    checkmk_line: '2 snmpexec_mon_cox_1_status - - - replfailed (first: 2023-05-10/10:08:27, last: 2023-05-10/11:34:02, total: 3406)',
  },
  startsAt: '2026-11-22T10:00:00.123456789Z',
  endsAt: '0001-01-01T00:00:00Z',
  generatorURL: 'http://prometheus-0.prometheus.monitoring.svc:9090/graph?g0.expr=snmpexec_mon_status%7Bservice%3D%22cox%22%2Cstate%3D%22replfailed%22%7D+%3E+0&g0.tab=1',
  fingerprint: (0x3f2c1e0b + i).toString(16),
});

test('size limits: 10 MB bodies, 100k alerts, 100k-deep JSON and a huge check_mk body get a clear 4xx fast, the server reads no more than its limit, nothing starts', async () => {
  const api = await measuredApi();
  const MB = 1024 * 1024;
  const json = 'application/json';
  try {
    const cases: { what: string; route: string; type: string; size: number; chunk: Buffer; declare?: boolean; status: number; error: RegExp; readAtMost: number }[] = [
      { what: '10 MB check_mk body, declared', route: 'checkmk', type: 'text/plain', size: 10 * MB, chunk: Buffer.from(`${LINES[0]}\n`.repeat(1000)), declare: true, status: 413, error: /body larger than 65536 bytes/, readAtMost: 256 * 1024 },
      { what: '10 MB check_mk body, streamed', route: 'checkmk', type: 'text/plain', size: 10 * MB, chunk: Buffer.from(`${LINES[0]}\n`.repeat(1000)), status: 413, error: /body larger than 65536 bytes/, readAtMost: 64 * 1024 + 256 * 1024 },
      { what: '10 MB Alertmanager body, declared', route: 'alertmanager', type: json, size: 10 * MB, chunk: Buffer.alloc(64 * 1024, ' '), declare: true, status: 413, error: /body larger than 4194304 bytes/, readAtMost: 256 * 1024 },
      { what: '10 MB Alertmanager body, streamed', route: 'alertmanager', type: json, size: 10 * MB, chunk: Buffer.alloc(64 * 1024, ' '), status: 413, error: /body larger than 4194304 bytes/, readAtMost: 4 * MB + 256 * 1024 },
    ];
    for (const c of cases) {
      const answered = api.readOf().length;
      const r = await stream(api.url, c.route, c.type, c.size, c.chunk, c.declare);
      tally.add('oversized bodies through the API');
      assert.equal(r.status, c.status, `${c.what}: ${r.body}`);
      assert.match(r.body, c.error, c.what);
      for (let i = 0; i < 100 && api.readOf().length === answered; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      const read = api.readOf().at(-1) ?? Infinity;
      assert.ok(read <= c.readAtMost, `${c.what}: the server read ${read} bytes (at most ${c.readAtMost})`);
      tally.add(`bytes the server read of the ${c.what}`, read);
      assert.ok(r.ms < 10_000, `${c.what}: answered after ${r.ms} ms`);
    }

    const tiny = { status: 'firing', labels: { a: 'b' }, startsAt: '' };
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const bodies: { what: string; route: string; type: string; body: string; status: number; error: RegExp }[] = [
      { what: '100k alerts in one payload', route: 'alertmanager', type: json, body: JSON.stringify(amPayload(Array.from({ length: 100_000 }, () => tiny))), status: 413, error: /body larger than 4194304 bytes/ },
      { what: '1,001 alerts in one payload', route: 'alertmanager', type: json, body: JSON.stringify(amPayload(Array.from({ length: 1001 }, () => tiny))), status: 413, error: /more than 1000 alerts in one notification/ },
      { what: 'JSON nested 100k levels', route: 'alertmanager', type: json, body: deep(100_000), status: 400, error: /not an Alertmanager version 4 payload/ },
      { what: 'objects nested 100k levels in a label', route: 'alertmanager', type: json, body: JSON.stringify(amPayload([GOOD])).replace('"cox-2"', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`), status: 400, error: /alerts\.0\.labels\.instance/ },
      { what: 'arrays nested 100k levels in an alert', route: 'alertmanager', type: json, body: JSON.stringify(amPayload([GOOD])).replace('"cox-2"', deep(100_000)), status: 400, error: /alerts\.0\.labels\.instance/ },
      { what: '20,000 check_mk lines', route: 'checkmk', type: 'text/plain', body: '2 x - y\n'.repeat(20_000).slice(0, 60_000), status: 413, error: /more than 1000 lines/ },
      { what: '1,000 lines of which the last is malformed', route: 'checkmk', type: 'text/plain', body: `${'2 some_check - text\n'.repeat(999)}2`, status: 400, error: /line 1000: .*no \(or an unterminated\) service name/ },
    ];
    for (const b of bodies) {
      const t0 = Date.now();
      const a = await post(b.route, b.body, b.type);
      tally.add('oversized bodies through the API');
      assert.equal(a.status, b.status, `${b.what}: ${JSON.stringify(a).slice(0, 300)}`);
      assert.match(a.error ?? '', b.error, b.what);
      assert.ok((a.error ?? '').length <= 4096, `${b.what}: a ${a.error?.length}-character error`);
      assert.ok(Date.now() - t0 < 10_000, `${b.what}: answered after ${Date.now() - t0} ms`);
    }

    // A sender that vanishes mid-body (declared 100 kB, sent 10 bytes): the server neither crashes nor hangs on it.
    await new Promise<void>((resolve) => {
      const socket = net.connect({ host: api.url.hostname, port: Number(api.url.port) }, () => {
        socket.write(`POST /v1/alerts/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${svc.tokens.webhook}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"version":`);
        setTimeout(() => socket.destroy(), 50);
      });
      socket.on('close', () => resolve());
      socket.on('error', () => undefined);
    });
    tally.add('oversized bodies through the API');
  } finally {
    api.close();
  }
  await assertAnswers();
  trap.check();
});

test('a realistic grouped Alertmanager notification of 1,000 alerts (over 1 MiB) is accepted and starts its one run', async () => {
  // group_by: [alertname], max_alerts: 1000; kube-prometheus labels. The former 1 MiB limit refused it (413), and
  // Alertmanager does not retry a 4xx: the whole group would have been lost.
  const grouped = JSON.stringify(amPayload(Array.from({ length: 1000 }, (_, i) => realisticAlert(i))));
  assert.ok(grouped.length > 1024 * 1024, `${grouped.length} bytes`);
  const a = await post('alertmanager', grouped, 'application/json');
  assert.equal(a.status, 202, JSON.stringify(a).slice(0, 300));
  assert.deepEqual([...new Set(a.results?.map((r) => `${r.workflowId} ${r.action}`))], ['kust-replica/cox-1 started', 'kust-replica/cox-1 joined-quietly']);
  validRuns.add('kust-replica/cox-1');
  await assertAnswers();
  trap.check();
});

test('no run started from invalid input: the workflows in Temporal are exactly those valid input started', async () => {
  const listed = async () => {
    const ids: string[] = [];
    for await (const wf of svc.client.workflow.list()) ids.push(wf.workflowId);
    return ids.sort();
  };
  // Visibility may lag a start by a moment: wait until the valid runs are listed, then compare.
  let ids = await listed();
  for (let i = 0; i < 200 && [...validRuns].some((id) => !ids.includes(id)); i++) {
    await new Promise((r) => setTimeout(r, 100));
    ids = await listed();
  }
  const fromInvalid = ids.filter((id) => !validRuns.has(id));
  tally.add('runs started from invalid input', fromInvalid.length);
  assert.deepEqual(ids, [...validRuns].sort(), `runs started from invalid input: ${fromInvalid.join(', ')}`);
  // And the lab ran commands for the valid run only (ic map cox, the clean of cox-1).
  assert.ok(svc.lab.log().every((e) => e.argv.includes('cox') || e.argv.includes('cox-1')), JSON.stringify(svc.lab.log().map((e) => `${e.tool} ${e.argv.join(' ')}`)));
  trap.check();
});

// ---- generated alerts acting on the lab ----

interface Generated {
  route: 'checkmk' | 'alertmanager';
  body: string;
  fragments: string[];
  valid: number;
}
const validLine = fc.oneof(
  fc.tuple(fc.oneof(fc.constantFrom('cox', 'badger', 'fate', 'video_conf'), service), fc.constantFrom('1', '2', '3')).map(([s, n]) => `2 snmpexec_mon_${s}_${n}_status - - - replfailed`),
  fc.tuple(fc.oneof(fc.constant('badger'), service), fc.oneof(fc.constantFrom('1', '3'), number)).map(([s, n]) => `2 tarantool_${s}_${n}_replication - - problems on upstreams:1`),
  fc.oneof(fc.constantFrom('vkt04', 'vkt03'), node).map((n) => `2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on ${n}`),
  fc.uniqueArray(fc.oneof(fc.constantFrom('fate', 'cox'), service), { minLength: 1, maxLength: 3 }).map((ms) => `2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [${ms.join(' ')}]`),
  fc.constant("2 orch_topo_check - orch topology is BAD: see 'im_utils --check-orch' for details"),
);
const generated: fc.Arbitrary<Generated> = fc.oneof(
  fc.tuple(fc.array(validLine, { maxLength: 3 }), fc.array(hostileLine, { maxLength: 3 })).map(([good, bad]) => ({
    route: 'checkmk' as const,
    body: [...good, ...bad.map((b) => b.line)].sort().join('\n'),
    fragments: bad.map((b) => b.fragment),
    valid: good.length,
  })),
  fc
    .tuple(fc.array(fc.oneof(fc.constantFrom('posts', 'cox'), service), { maxLength: 2 }), fc.array(fc.tuple(fc.nat(AM_PATHS.length - 1), hostile), { maxLength: 3 }))
    .map(([clusters, bad]) => ({
      route: 'alertmanager' as const,
      body: JSON.stringify(amPayload([...clusters.map((c) => amAlert({ runbook: 'manticore-cluster', cluster: c })), ...bad.map(([i, h]) => AM_PATHS[i](h))])),
      fragments: bad.map(([, h]) => h),
      valid: clusters.length,
    })),
);

async function atRest(id: string): Promise<boolean> {
  const handle = svc.client.workflow.getHandle(id);
  if ((await handle.describe()).status.name !== 'RUNNING') return true;
  const s = await handle.query(stateQuery).catch(() => undefined);
  return s?.status === 'awaiting-approval' || s?.status === 'escalated';
}

test('generated alerts, valid and hostile, act on the lab: every logged argument passes SAFE_ARG and no hostile fragment reaches a command line', async () => {
  const bodies = fc.sample(generated, { seed: SEED, numRuns: 40 });
  const fragments = bodies.flatMap((b) => b.fragments);
  const started = new Set<string>();
  for (const g of bodies) {
    tally.add('generated alert bodies sent to the service with the lab');
    tally.add('hostile values sent to the service with the lab', g.fragments.length);
    const a = await post(g.route, g.body, g.route === 'checkmk' ? 'text/plain' : 'application/json');
    if (a.status === 202) {
      assert.ok(g.valid > 0, `no valid alert, yet accepted: ${g.body}`);
      for (const r of a.results ?? []) if (r.action === 'started') started.add(r.workflowId);
    } else assertRefused(a, g.body);
  }
  assert.ok(started.size >= 5, `only ${started.size} runs started`);
  tally.add('runs started by generated valid alerts', started.size);

  // Let them act: each run works until it closes, escalates or waits for an approval.
  const pending = new Set(started);
  const deadline = Date.now() + 180_000;
  while (pending.size > 0 && Date.now() < deadline) {
    for (const id of [...pending]) if (await atRest(id)) pending.delete(id);
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 250));
  }
  assert.deepEqual([...pending], [], 'runs still acting after 3 minutes');

  const log = svc.lab.log();
  let unsafe = 0;
  for (const e of log) {
    for (const arg of e.argv) if (!SAFE_ARG.test(arg)) unsafe++;
    for (const f of fragments) {
      const line = `${e.argv.join(' ')}\n${e.stdin ?? ''}`;
      assert.ok(!line.includes(f), `hostile fragment ${JSON.stringify(f)} reached ${e.node}: ${e.tool} ${line}`);
    }
  }
  tally.add('lab commands checked', log.length);
  tally.add('command lines with a value that failed its allow-list', unsafe);
  assert.equal(unsafe, 0, JSON.stringify(log.filter((e) => e.argv.some((a) => !SAFE_ARG.test(a)))));
  // The generated values did reach the hosts: a map of a generated service was asked for.
  assert.ok(log.some((e) => e.tool === 'ic' && e.argv[0] === 'map' && !['cox', 'badger', 'fate', 'video_conf'].includes(e.argv[1])), 'no generated service reached a command');

  // Terminate what is still open (escalated or waiting for an approval).
  for await (const wf of svc.client.workflow.list({ query: "ExecutionStatus = 'Running'" })) await svc.client.workflow.getHandle(wf.workflowId).terminate('fuzz suite finished');
  await assertAnswers();
  trap.check();
});
