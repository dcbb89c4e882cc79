/**
 * What every benchmark section runs against: the lab with the bench tools (lab/bench-tools.ts) behind
 * real sshd, the embedded dev server (its own SQLite file, free loopback ports), the worker and the HTTP
 * API in this process, and a second worker for the bare floor workflow (test/bench/bare/workflows.ts).
 * Variants (eager workflow start, eager activity dispatch, worker tuning) are options, so a section can
 * measure with and without in the same run.
 */
import { closeSync, fstatSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import { enableEagerStart } from '../../client/runbooks';
import { BENCH_LOG, BenchToolCall, parseBenchLine } from '../../lab/bench-tools';
import { BENCH_HOSTS, labUp, LabHandle } from '../../lab/lab';
import { temporalBinaries } from '../../worker/binaries';
import { DevServer, startDevServer } from '../../worker/devserver';
import { createWorker, WorkerTuning } from '../../worker/worker';
import { freePort, listenApi } from '../helpers/service';
import { quietRuntime, workflowBundle } from '../helpers/temporal';

export interface BenchEnvOptions {
  /** Server dynamic config system.enableActivityEagerExecution (on by default in the embedded server, worker/devserver.ts; false: off). */
  eagerActivities?: boolean;
  /** Starts with requestEagerStart (the client on the worker's NativeConnection), as the service does; false: without. */
  eagerStart?: boolean;
  tuning?: WorkerTuning;
  /** Merged into the lab's service config (timers, ssh caps, ...). */
  extraConfig?: Record<string, unknown>;
  /** No worker for the runbooks (intake-only sections). */
  noWorker?: boolean;
  /** More server dynamic config (`--dynamic-config-value`), merged over the service's defaults. */
  dynamicConfig?: Record<string, string | number | boolean>;
  /** SQLite pragmas of the dev server's file (`--sqlite-pragma`). */
  sqlitePragma?: Record<string, string>;
  /** More arguments for the dev server (e.g. `--metrics-port N`). */
  serverArgs?: string[];
}

export interface BenchEnv {
  lab: LabHandle;
  /** The bench tools' calls as they happen. */
  log: BenchLogTail;
  config: Config;
  server: DevServer;
  dataDir: string;
  client: Client;
  apiUrl: string;
  tokens: { webhook: string; operator: string };
  /** Runs the bare floor workflow once: ms from the start call to the no-op activity starting, and to its result. */
  bare(id: string): Promise<{ toActivityMs: number; toResultMs: number }>;
  stop(): Promise<void>;
}

/** Wall clock in ms with sub-ms resolution, comparable with the bench tools' `date +%s%N`. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/** Waits set to 0 (the overhead sections) or to `every` (the scale section). */
export function timers(every: string): Record<string, string> {
  return { tarantoolSettle: every, tarantoolBeforeFlip: every, tarantoolFlipRetry: every, tarantoolBeforeVerify: every, flapGuard: '0s' };
}

/** The dev server's settings as `temporal server start-dev` has them (worker/devserver.ts changes them). */
export const CLI_SERVER_SETTINGS = { 'history.timerProcessorMaxTimeShift': '1s', 'system.forceSearchAttributesCacheRefreshOnRead': true, 'history.transferProcessorMaxPollRPS': 20 } as const;

let bareBundle: Promise<{ code: string }> | undefined;

export async function benchEnv(opts: BenchEnvOptions = {}): Promise<BenchEnv> {
  quietRuntime();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'medic-bench-'));
  const [lab, server] = await Promise.all([
    labUp({ scenario: 'healthy', tools: 'bench', extraConfig: opts.extraConfig ?? {} }),
    freePort().then((port) =>
      startDevServer({
        cli: temporalBinaries().cli,
        dataDir,
        port,
        uiPort: 0,
        notice: () => undefined,
        dynamicConfig: { ...(opts.eagerActivities === false ? { 'system.enableActivityEagerExecution': false } : {}), ...opts.dynamicConfig },
        sqlitePragma: opts.sqlitePragma,
        extraArgs: opts.serverArgs,
      }),
    ),
  ]);
  const config = loadConfig(lab.configPath);
  const native = await NativeConnection.connect({ address: server.address });
  const client = new Client({ connection: native, namespace: config.service.namespace });
  if (opts.eagerStart !== false) enableEagerStart(client);
  const workers: Worker[] = [];
  if (!opts.noWorker) workers.push(await createWorker(native, config, { workflowBundle: await workflowBundle(), client, tuning: opts.tuning }));
  const activityStarts = new Map<string, number>();
  bareBundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('./bare/workflows'), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: (m) => console.error(m) } });
  workers.push(
    await Worker.create({
      connection: native,
      namespace: config.service.namespace,
      taskQueue: 'bench-bare',
      workflowBundle: await bareBundle,
      activities: {
        async noop() {
          const at = nowMs();
          activityStarts.set(Context.current().info.workflowExecution?.workflowId ?? '', at);
          return 0;
        },
      },
      ...opts.tuning,
    }),
  );
  const running = workers.map((w) => w.run());
  const { api, apiUrl, tokens } = await listenApi(client, config);
  return {
    lab,
    log: new BenchLogTail(path.join(lab.dir, BENCH_LOG)),
    config,
    server,
    dataDir,
    client,
    apiUrl,
    tokens,
    async bare(id) {
      const t0 = nowMs();
      const h = await client.workflow.start('bareWorkflow', { taskQueue: 'bench-bare', workflowId: id, requestEagerStart: opts.eagerStart !== false });
      await h.result();
      const t1 = nowMs();
      return { toActivityMs: (activityStarts.get(id) ?? NaN) - t0, toResultMs: t1 - t0 };
    },
    async stop() {
      api.close();
      for (const w of workers) w.shutdown();
      await Promise.all(running.map((r) => r.catch(() => undefined)));
      await native.close();
      await Promise.all([server.stop(), lab.down()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An Alertmanager v4 notification as a real one looks (labels, annotations, generator URL). */
export function alertmanagerBody(alerts: { checkmkLine: string; status?: 'firing' | 'resolved'; alertname: string }[]): string {
  return JSON.stringify({
    version: '4',
    receiver: 'replication-medic',
    status: 'firing',
    groupKey: '{}:{alertname="bench"}',
    truncatedAlerts: 0,
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example:9093',
    alerts: alerts.map((a, i) => ({
      status: a.status ?? 'firing',
      labels: { alertname: a.alertname, severity: 'critical', job: 'checkmk', instance: `bench-${i}`, checkmk_line: a.checkmkLine },
      annotations: { summary: `replication broken (${a.checkmkLine.split(' ')[1]})`, runbook_url: 'https://wiki.example/replication' },
      startsAt: new Date().toISOString(),
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example:9090/graph?g0.expr=up',
      fingerprint: (i + 1).toString(16).padStart(16, '0'),
    })),
  });
}

/** The service and instance of bench target n (the bench tools answer for any `<svc>` / `<svc>-1`). */
export const benchTarget = (n: number, prefix = 'b') => ({ service: `${prefix}${n}`, instance: `${prefix}${n}-1` });
export const kustLine = (n: number, prefix = 'b') => `2 snmpexec_mon_${prefix}${n}_1_status - - - replfailed`;
export const tarantoolLine = (n: number, prefix = 'b') => `2 tarantool_${prefix}${n}_1_replication - - problems on upstreams:1`;
export { BENCH_HOSTS };

/** Median, p99 and friends of a sample (ms). */
export function stats(xs: number[]): { n: number; p50: number; p99: number; min: number; max: number; mean: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] : NaN);
  return { n: s.length, p50: q(0.5), p99: q(0.99), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN, mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

/**
 * Follows `<lab>/log/bench.jsonl` as it grows: `waitFor` resolves with the first call (logged so far or
 * later) that fits. The times it gives are the host's own (the call's start and end), not when it was noticed.
 */
export class BenchLogTail {
  private offset = 0;
  private rest = '';
  readonly calls: BenchToolCall[] = [];
  private timer?: NodeJS.Timeout;
  private waiters: { fits: (c: BenchToolCall) => boolean; resolve: (c: BenchToolCall) => void; reject: (e: Error) => void; deadline: number }[] = [];

  constructor(private readonly file: string) {}

  /** Reads what was appended since the last look. */
  poll(): void {
    const fd = openSync(this.file, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) [this.offset, this.rest, this.calls.length] = [0, '', 0];
      if (size > this.offset) {
        const buf = Buffer.alloc(size - this.offset);
        readSync(fd, buf, 0, buf.length, this.offset);
        this.offset = size;
        const text = this.rest + buf.toString('utf8');
        const lines = text.split('\n');
        this.rest = lines.pop() ?? '';
        for (const l of lines) if (l.trim()) this.calls.push(parseBenchLine(l));
      }
    } finally {
      closeSync(fd);
    }
    const now = Date.now();
    this.waiters = this.waiters.filter((w) => {
      const hit = this.calls.find(w.fits);
      if (hit) w.resolve(hit);
      else if (now > w.deadline) w.reject(new Error('timed out waiting for a command in the bench log'));
      else return true;
      return false;
    });
    if (this.waiters.length === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  waitFor(fits: (c: BenchToolCall) => boolean, timeoutMs = 30_000): Promise<BenchToolCall> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ fits, resolve, reject, deadline: Date.now() + timeoutMs });
      this.timer ??= setInterval(() => this.poll(), 3);
      this.poll();
    });
  }
}
