/**
 * The SSH fault matrix (issue 13, item 3): every fault has one defined outcome, checked against real
 * sshd (the lab) at the SshPool level, through the activity (its failure type and whether Temporal
 * retries it), and, for the faults that happen during one run, against the whole service (dev server,
 * worker, lab). The lab's command log and its journal folder say what really ran on the hosts.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure, type Logger } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type RunCommandRequest } from '../../activities';
import { parseProbe, probeLine } from '../../activities/journal';
import { ExecOptions, ExecResult, SshError, SshErrorKind, SshPool } from '../../activities/ssh';
import { startRun } from '../../client/runbooks';
import { parseConfig } from '../../config/load';
import type { Config, HostConfig } from '../../config/schema';
import type { CommandLogEntry } from '../../lab/types';
import { pidAlive } from '../../lab/store';
import { Decision, RunResult, stateQuery } from '../../workflows/definitions';
import { decideSigned } from '../helpers/decide';
import { recordFigures } from '../helpers/figures';
import { Service, startService } from '../helpers/service';
import { eventually } from '../helpers/temporal';

const CONTROL = 'vkt-control-01';
/** Hosts of the runs (each run its own, so that one fault does not leak into the next). */
const KUST_A = 'vkt-4vm-879-standart-01'; // slave of cox-2
const KUST_B = 'vkt-4vm-879-standart-02'; // slave of cox-1
const TNT_SLAVE = 'vkt-4vm-675-standart-01'; // slave of badger-3
/** Hosts of the pool-level cases that change a host for good (rekey) or stop it. */
const REKEYED = 'mc-c';
const STOPPED = 'mc-b';
const DEAD = 'vkt-dead-01';
const CONNECT_TIMEOUT_S = 2;
/** Command timeouts: longer than a lab tool's start on a busy machine, so the tool is running when they fire. */
const TIMEOUT_S = 4;

let svc: Service;
let tmp: string;
/** A client key that no lab host accepts. */
let strangerKey: string;
/** A loopback address and port where nothing listens (no other test uses 127.0.0.250). */
const deadAddress = '127.0.0.250';
let deadPort: number;
/** Accepts TCP and never says a word (the connect timeout). */
let silent: net.Server;
let silentAccepted = 0;
let silentOpen = 0;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-sshfaults-'));
  strangerKey = path.join(tmp, 'stranger_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stranger', '-f', strangerKey]);
  deadPort = await new Promise<number>((resolve, reject) => {
    const s = net.createServer().once('error', reject);
    s.listen(0, deadAddress, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
  const sockets = new Set<net.Socket>();
  silent = net.createServer((sock) => {
    silentAccepted++;
    silentOpen++;
    sockets.add(sock);
    sock.on('close', () => {
      silentOpen--;
      sockets.delete(sock);
    });
    sock.on('error', () => undefined);
    sock.resume(); // reads (and drops) what the client says, so that its close is seen
  });
  silent.on('close', () => sockets.forEach((s) => s.destroy()));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const strangerPub = fs.readFileSync(`${strangerKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  svc = await startService('tarantool-broken', {
    ssh: { connectTimeoutSeconds: CONNECT_TIMEOUT_S, heartbeatTimeout: '3s' },
    timers: { tarantoolSettle: '0s', tarantoolBeforeFlip: '0s', tarantoolFlipRetry: '0s', tarantoolBeforeVerify: '0s' },
    approvals: { 'tarantool-replica': { flip: 'approve' }, 'kust-replica': { clean: 'approve' } },
    // A KUST host that is down (connection refused), for the run-level case of fault 1.
    inventory: { hosts: { [DEAD]: { address: deadAddress, port: deadPort, user: 'root', keyFile: strangerKey, hostKey: strangerPub } } },
  });
});

after(async () => {
  await svc?.stop();
  await new Promise((r) => silent?.close(r));
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  recordFigures('ssh-faults', { 'SSH faults tested': faultsPassed.size, 'SSH fault cases run': casesRun, 'SSH fault cases passed': casesPassed });
});

// ---------------------------------------------------------------------------------------------
// Helpers

let casesRun = 0;
let casesPassed = 0;
const faultsPassed = new Set<number>();
const faultsFailed = new Set<number>();
/** Errors nobody handled (an ssh2 'error' event without a listener would crash a worker). */
const uncaught: string[] = [];
process.on('uncaughtExceptionMonitor', (err) => uncaught.push(String(err)));
/** One case of fault number `fault` (1-10, as in the issue); counted for the figures. */
function fault(n: number, name: string, fn: () => Promise<void>): void {
  test(`fault ${n}: ${name}`, async () => {
    casesRun++;
    const before = uncaught.length;
    try {
      await fn();
      assert.deepEqual(uncaught.slice(before), [], 'no uncaught exception');
    } catch (err) {
      faultsFailed.add(n);
      faultsPassed.delete(n);
      throw err;
    }
    casesPassed++;
    if (!faultsFailed.has(n)) faultsPassed.add(n);
  });
}

const lab = () => svc.lab;
const ic = () => svc.config.paths.ic;
const journalDir = () => svc.config.ssh.journalDir;
const newKey = (what: string) => `sshfaults-${what}-${randomBytes(4).toString('hex')}`;
const entry = (e: CommandLogEntry) => `${e.node}: ${e.tool} ${e.argv.join(' ')} -> ${e.exitCode}`;

/** The service's config with some hosts replaced or added, and other ssh settings. */
function configWith(hosts: Record<string, Partial<HostConfig>> = {}, ssh: Partial<Config['ssh']> = {}): Config {
  const all = { ...svc.config.inventory.hosts };
  for (const [name, h] of Object.entries(hosts)) all[name] = { ...(all[name] ?? all[CONTROL]), ...h };
  return { ...svc.config, ssh: { ...svc.config.ssh, ...ssh }, inventory: { ...svc.config.inventory, hosts: all } };
}

/** A fresh pool for one case (closed after it). */
async function withPool<T>(config: Config, fn: (pool: SshPool) => Promise<T>): Promise<T> {
  const pool = new SshPool(config);
  try {
    return await fn(pool);
  } finally {
    pool.close();
  }
}

/** Faults pushed for one case, removed after it. */
async function withFaults<T>(faults: Parameters<Parameters<Service['lab']['setState']>[0]>[0]['faults'], fn: () => Promise<T>): Promise<T> {
  lab().setState((s) => s.faults.push(...faults));
  try {
    return await fn();
  } finally {
    lab().setState((s) => (s.faults = []));
  }
}

async function rejectsWith(p: Promise<unknown>, kind: SshErrorKind, message: RegExp): Promise<SshError> {
  let caught: unknown;
  await p.then(
    (v) => assert.fail(`expected an SshError ${kind}, got ${JSON.stringify(v).slice(0, 300)}`),
    (err: unknown) => (caught = err),
  );
  assert.ok(caught instanceof SshError, String(caught));
  assert.equal(caught.kind, kind, caught.message);
  assert.match(caught.message, message);
  return caught;
}

const silentLogger: Logger = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Runs the activity (activities/index.ts) in an activity context, as the worker does; returns its result or its ApplicationFailure. */
async function activity(config: Config, req: RunCommandRequest): Promise<ExecResult | ApplicationFailure> {
  const pool = new SshPool(config);
  try {
    // Quiet: the failures are what the cases expect (the harness would log each one as a warning).
    return await new MockActivityEnvironment({ heartbeatTimeoutMs: 3000 }, { logger: silentLogger }).run(createActivities(config, pool).runCommand, req);
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  } finally {
    pool.close();
  }
}

function assertFailure(r: ExecResult | ApplicationFailure, type: string, nonRetryable: boolean): ApplicationFailure {
  assert.ok(r instanceof ApplicationFailure, `expected the activity to fail with ${type}, it returned ${JSON.stringify(r).slice(0, 300)}`);
  assert.equal(r.type, type, r.message);
  assert.equal(r.nonRetryable, nonRetryable, `${type}: nonRetryable`);
  return r;
}

/** The host's journal entry of `key`, read with the service's own probe (the lab's hosts share this machine's files). */
function probe(key: string) {
  return parseProbe(spawnSync('bash', ['-c', probeLine(journalDir(), key)], { encoding: 'utf8' }).stdout);
}

/** Log entries of one command line (`[<tool path>, ...args]`) on any node. */
const calls = (argv: string[]) => lab().log().filter((e) => e.tool === path.basename(argv[0]) && e.argv.join(' ') === argv.slice(1).join(' '));

/** The tool process `pid` is gone from the host: not running, its run/tools record removed. */
async function assertGone(pid: number): Promise<void> {
  const record = path.join(lab().dir, 'run', 'tools', String(pid));
  await eventually(async () => !pidAlive(pid) && !fs.existsSync(record), Boolean, 10_000).catch(() => undefined);
  assert.equal(pidAlive(pid), false, `tool process ${pid} still runs on the host`);
  assert.equal(fs.existsSync(record), false, `run/tools/${pid} is still there`);
}

/** Waits until the lab holds exactly one call of hold fault `id`; returns it (with the tool's pid). */
async function heldCall(id: string): Promise<CommandLogEntry & { pid: number }> {
  const [held] = await eventually(async () => lab().held(id), (h) => h.length === 1, 20_000);
  assert.ok(pidAlive(held.pid), 'the held tool runs');
  assert.ok(fs.existsSync(path.join(lab().dir, 'run', 'tools', String(held.pid))), 'the lab records the running tool');
  return held;
}

/** SIGSTOP a node's sshd (listener and sessions) while `fn` runs; SIGCONT always. */
async function whileStopped<T>(node: string, fn: () => Promise<T>): Promise<T> {
  const pids = lab().sshdPids(node);
  assert.ok(pids.length >= 1, `no sshd for ${node}`);
  const send = (sig: NodeJS.Signals) =>
    pids.forEach((p) => {
      try {
        process.kill(p, sig);
      } catch {
        /* a session that ended meanwhile */
      }
    });
  send('SIGSTOP');
  try {
    return await fn();
  } finally {
    send('SIGCONT');
  }
}

/** Settles or not within `ms`: for "still waiting" checks. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

const state = (h: WorkflowHandle) => h.query(stateQuery);
const decide = (h: WorkflowHandle, action: Decision['action'], extra: Pick<Decision, 'comment' | 'choice'> = {}) => decideSigned(svc.client, svc.config, h.workflowId, { action, by: 'alice', ...extra });

/** The failed activities of a run (the history keeps each one's last attempt): that attempt's number, the failure type, whether Temporal may retry it. */
async function activityFailures(h: WorkflowHandle): Promise<{ attempt: number; type: string; nonRetryable: boolean; message: string }[]> {
  const events = (await h.fetchHistory()).events ?? [];
  const byId = new Map(events.map((e) => [String(e.eventId), e]));
  return events.flatMap((e) => {
    const a = e.activityTaskFailedEventAttributes;
    if (!a) return [];
    const info = a.failure?.applicationFailureInfo;
    return [{ attempt: byId.get(String(a.startedEventId))?.activityTaskStartedEventAttributes?.attempt ?? 0, type: info?.type ?? '', nonRetryable: Boolean(info?.nonRetryable), message: a.failure?.message ?? '' }];
  });
}

/** Starts a kust-replica run and waits until it asks for the approval of its clean. */
async function kustRunAtGate(instance: string): Promise<WorkflowHandle> {
  const run = await startRun(svc.client, svc.config, 'kust-replica', { service: 'cox', instance }, 'test');
  assert.equal(run.started, true);
  const h = svc.client.workflow.getHandle(run.workflowId);
  await eventually(() => state(h), (s) => s.status === 'awaiting-approval', 30_000);
  return h;
}

// ---------------------------------------------------------------------------------------------
// 1. Connection refused

fault(1, 'connection refused: a fast "connect" error naming host and address; a changing command leaves nothing on the host', async () => {
  const config = configWith({ [DEAD]: { address: deadAddress, port: deadPort, keyFile: svc.config.inventory.hosts[CONTROL].keyFile } });
  const key = newKey('refused');
  const before = lab().log().length;
  await withPool(config, async (pool) => {
    for (const opts of [{}, { journal: key }] as ExecOptions[]) {
      const t0 = Date.now();
      await rejectsWith(pool.exec(DEAD, { argv: [ic(), 'map', 'cox'] }, opts), 'connect', new RegExp(`cannot connect to ${DEAD} \\(${deadAddress}:${deadPort}\\): .*ECONNREFUSED`));
      assert.ok(Date.now() - t0 < CONNECT_TIMEOUT_S * 1000, `refused at once, not after the connect timeout (${Date.now() - t0} ms)`);
    }
  });
  assert.equal(fs.existsSync(path.join(journalDir(), key)), false, 'no journal entry');
  assert.equal(lab().log().length, before);
  // Temporal may retry it: the host may come back.
  assertFailure(await activity(config, { host: DEAD, argv: [ic(), 'map', 'cox'] }), 'Ssh:connect', false);
});

fault(1, 'connection refused during a run: the clean is retried by the activity, then the run escalates naming the host; nothing ran', async () => {
  lab().setState((s) =>
    s.maps.cox.blocks.push({
      node: 'cox-7',
      buckets: 2147483648,
      srvs: [
        { name: `cox.${KUST_A}.cox-7`, addr: '10.32.0.1:2517', status: 'alive', role: 'main', repl: 'ok' },
        { name: `cox.${DEAD}.cox-7`, addr: '10.32.0.9:2517', status: 'alive', role: 'slave', repl: 'replfailed' },
      ],
    }),
  );
  const from = lab().log().length;
  const h = await kustRunAtGate('cox-7');
  await decide(h, 'approve');
  const s = await eventually(() => state(h), (st) => st.status === 'escalated', 90_000);
  assert.equal(s.pending?.step, 'clean the replica');
  assert.match(s.pending?.reason ?? '', new RegExp(`cannot connect to ${DEAD} \\(${deadAddress}:${deadPort}\\)`));
  const failures = await activityFailures(h);
  assert.deepEqual(failures.map((f) => [f.type, f.nonRetryable]), [['Ssh:connect', false]]);
  assert.equal(failures[0].attempt, 5, 'the changing proxy tried 5 times before the run escalated');
  assert.deepEqual(lab().log().slice(from).map(entry), [`${CONTROL}: ic map cox -> 0`], 'only the read-only map ran');
  const runId = (await h.describe()).runId;
  const entries = fs.existsSync(journalDir()) ? fs.readdirSync(journalDir()) : [];
  assert.deepEqual(entries.filter((k) => k.startsWith(runId)), [], 'no journal entry of this run on any host');
  await decide(h, 'abort', { comment: 'host down' });
  assert.equal(((await h.result()) as RunResult).status, 'aborted');
});

// ---------------------------------------------------------------------------------------------
// 2. Connect timeout

fault(2, 'connect timeout: a listener that accepts TCP and never answers fails after connectTimeoutSeconds', async () => {
  const { port } = silent.address() as net.AddressInfo;
  const config = configWith({ silent: { address: '127.0.0.1', port } });
  const accepted = silentAccepted;
  const key = newKey('silent');
  await withPool(config, async (pool) => {
    for (const opts of [{}, { journal: key }] as ExecOptions[]) {
      const t0 = Date.now();
      await rejectsWith(pool.exec('silent', { argv: [ic(), 'map', 'cox'] }, opts), 'connect', new RegExp(`cannot connect to silent \\(127\\.0\\.0\\.1:${port}\\): Timed out while waiting for handshake`));
      const took = Date.now() - t0;
      assert.ok(took >= CONNECT_TIMEOUT_S * 1000 && took < CONNECT_TIMEOUT_S * 1000 + 5000, `failed after ${took} ms`);
    }
  });
  assert.equal(silentAccepted - accepted, 2, 'each command did reach the listener');
  // ssh2 reports a second error once the socket is gone ("Connection lost before handshake"): it must find a listener.
  await eventually(async () => silentOpen, (n) => n === 0, 10_000);
  await new Promise((r) => setTimeout(r, 200));
});

// ---------------------------------------------------------------------------------------------
// 3. Authentication refused

fault(3, 'authentication refused: its own kind "auth", not retried, nothing ran', async () => {
  const config = configWith({ [CONTROL]: { keyFile: strangerKey } });
  const before = lab().log().length;
  const key = newKey('auth');
  await withPool(config, (pool) =>
    rejectsWith(pool.exec(CONTROL, { argv: [ic(), 'map', 'cox'] }, { journal: key }), 'auth', new RegExp(`${CONTROL} \\(127\\.0\\.0\\.\\d+:\\d+\\) refused the service's SSH key for user root: .*retrying will not help`)),
  );
  assert.equal(fs.existsSync(path.join(journalDir(), key)), false, 'no journal entry');
  assertFailure(await activity(config, { host: CONTROL, argv: [ic(), 'map', 'cox'] }), 'Ssh:auth', true);
  assert.equal(lab().log().length, before);
});

// ---------------------------------------------------------------------------------------------
// 4. Unknown host key

fault(4, 'unknown host key: a host without a pinned key is refused by the configuration', async () => {
  const doc = structuredClone(lab().config) as { inventory: { hosts: Record<string, Record<string, unknown>> } };
  delete doc.inventory.hosts[KUST_A].hostKey;
  assert.throws(() => parseConfig(doc, 'medic.yaml'), new RegExp(`medic.yaml: invalid configuration:\\n  at inventory\\.hosts\\.${KUST_A}\\.hostKey: hostKey is required`));
});

fault(4, 'a host key that does not match the pinned one: refused ("host-key", not retried), never connected', async () => {
  const config = configWith({ [CONTROL]: { hostKey: svc.config.inventory.hosts[KUST_A].hostKey } });
  const key = newKey('hostkey');
  const before = lab().log().length;
  await withPool(config, async (pool) => {
    for (const opts of [{}, { journal: key }] as ExecOptions[]) {
      await rejectsWith(pool.exec(CONTROL, { argv: [ic(), 'map', 'cox'] }, opts), 'host-key', new RegExp(`host key of ${CONTROL} \\(127\\.0\\.0\\.\\d+:\\d+\\) does not match the pinned key: refusing to connect`));
    }
  });
  assertFailure(await activity(config, { host: CONTROL, argv: [ic(), 'map', 'cox'] }), 'Ssh:host-key', true);
  assert.equal(lab().log().length, before, 'nothing in the command log');
  assert.equal(fs.existsSync(path.join(journalDir(), key)), false, 'no journal entry');
});

// ---------------------------------------------------------------------------------------------
// 5. Host key changed

fault(5, 'host key changed: the connection opened before is dropped by the sshd restart; the new one is verified again and refused', async () => {
  await withPool(configWith(), async (pool) => {
    const first = await pool.exec(REKEYED, { argv: [ic(), 'map', 'cox'] });
    assert.equal(first.exitCode, 0);
    const newHostKey = await lab().rekey(REKEYED);
    assert.notEqual(newHostKey, svc.config.inventory.hosts[REKEYED].hostKey);
    for (const opts of [{}, { journal: newKey('rekeyed') }] as ExecOptions[]) {
      await rejectsWith(pool.exec(REKEYED, { argv: [ic(), 'map', 'cox'] }, opts), 'host-key', new RegExp(`host key of ${REKEYED} .* does not match the pinned key`));
    }
    // The host is up, with its new key: pinning that key (an operator's decision) connects again.
    const pinned = await withPool(configWith({ [REKEYED]: { hostKey: newHostKey } }), (p) => p.exec(REKEYED, { argv: [ic(), 'map', 'cox'] }));
    assert.equal(pinned.exitCode, 0);
  });
  assert.equal(calls([ic(), 'map', 'cox']).filter((e) => e.node === REKEYED).length, 2, 'the command ran before the change and with the new key pinned, never in between');
});

fault(5, 'host key changed while a changing command runs: its outcome is unknown (refused to read the journal over the new key)', async () => {
  const id = newKey('hold-rekey');
  const argv = [ic(), 'map', 'badger'];
  await withFaults([{ id, tool: 'ic', node: REKEYED, argsPrefix: ['map', 'badger'], hold: true, times: 1 }], async () => {
    const newHostKey = await lab().rekey(REKEYED); // a known key for this case's connection
    await withPool(configWith({ [REKEYED]: { hostKey: newHostKey } }), async (pool) => {
      const key = newKey('rekey-running');
      const running = pool.exec(REKEYED, { argv }, { journal: key });
      await heldCall(id);
      await lab().rekey(REKEYED);
      lab().release(id);
      await rejectsWith(running, 'outcome-unknown', /outcome unknown: .*host key of mc-c .* does not match the pinned key/);
      // The command itself ran to its end on the host, once; the service claimed nothing about it.
      await eventually(async () => probe(key)?.state, (st) => st === 'done', 10_000);
      assert.equal(calls(argv).filter((e) => e.node === REKEYED).length, 1);
    });
  });
});

fault(5, 'host key changed between two commands of one run: the flip is refused and escalated, an operator retry is refused again, no flip ran', async () => {
  const from = lab().log().length;
  const run = await startRun(svc.client, svc.config, 'tarantool-replica', { service: 'badger', instance: 'badger-3' }, 'test');
  const h = svc.client.workflow.getHandle(run.workflowId);
  const gate = await eventually(() => state(h), (s) => s.status === 'awaiting-approval', 30_000);
  assert.equal(gate.pending?.step, 'flip the roles');
  assert.deepEqual(lab().log().slice(from).map(entry), [
    `${CONTROL}: ic map badger -> 0`,
    `${TNT_SLAVE}: clean_tnt_replica.sh badger-3 -> 0`,
    `${TNT_SLAVE}: systemctl is-active tarantool@badger-3 badger-3 -> 0`,
  ]);
  await lab().rekey(TNT_SLAVE);
  await decide(h, 'approve');
  const hostKeyRefused = new RegExp(`host key of ${TNT_SLAVE} \\(127\\.0\\.0\\.\\d+:\\d+\\) does not match the pinned key: refusing to connect`);
  const escalated = await eventually(() => state(h), (s) => s.status === 'escalated', 30_000);
  assert.equal(escalated.pending?.step, 'flip the roles');
  assert.match(escalated.pending?.reason ?? '', hostKeyRefused);
  await decide(h, 'retry');
  const again = await eventually(() => state(h), (s) => s.status === 'escalated' && s.decisions.length === 2, 30_000);
  assert.match(again.pending?.reason ?? '', hostKeyRefused);
  // Each flip attempt: refused at connect, one activity attempt each (never retried by Temporal).
  const failures = await activityFailures(h);
  assert.equal(failures.length, 3, 'retryOnce: two attempts, then the operator retry');
  for (const f of failures) assert.deepEqual([f.type, f.nonRetryable, f.attempt], ['Ssh:host-key', true, 1], f.message);
  assert.deepEqual(lab().log().slice(from).filter((e) => e.argv[0] === 'flip'), [], 'no flip ran');
  assert.equal(lab().state().maps.badger.blocks[1].srvs[0].role, 'slave', 'roles unchanged');
  await decide(h, 'abort', { comment: 'host key changed' });
  assert.equal(((await h.result()) as RunResult).status, 'aborted');
});

// ---------------------------------------------------------------------------------------------
// 6. Command timeout

fault(6, 'command timeout: timeoutSeconds of the request, else ssh.commandTimeoutSeconds; the result says timedOut, the output so far is kept', async () => {
  const argv = [ic(), 'map', 'slowpoke'];
  await withFaults([{ tool: 'ic', argsPrefix: ['map', 'slowpoke'], hang: true, partial: 'partial output\n' }], async () => {
    const [viaRequest, viaConfig] = await Promise.all([
      // The request's own timeout (activities/index.ts maps timeoutSeconds), over a long default.
      activity(configWith({}, { commandTimeoutSeconds: 120 }), { host: CONTROL, argv, timeoutSeconds: TIMEOUT_S }),
      // The configured default.
      withPool(configWith({}, { commandTimeoutSeconds: TIMEOUT_S }), (pool) => pool.exec(CONTROL, { argv })),
    ]);
    for (const r of [viaRequest, viaConfig]) {
      assert.ok(!(r instanceof ApplicationFailure), String(r));
      assert.equal(r.timedOut, true);
      assert.equal(r.disconnected, false);
      assert.ok(r.durationMs >= TIMEOUT_S * 1000 && r.durationMs < TIMEOUT_S * 1000 + 10_000, `${r.durationMs} ms`);
      assert.equal(r.stdout, 'partial output\n', 'the output so far is kept');
    }
    await eventually(async () => calls(argv), (c) => c.length === 2, 10_000);
    assert.deepEqual(calls(argv).map((e) => [e.exitCode, e.fault]), [[null, 'hang'], [null, 'hang']], 'both ended on the host');
  });
});

// ---------------------------------------------------------------------------------------------
// 7. Hung command: ended on the host

fault(7, 'hung read-only command: at its timeout, and when cancelled, the tool process is ended on the host', async () => {
  const id = newKey('hung-ro');
  const argv = [ic(), 'map', 'hung'];
  await withFaults([{ id, tool: 'ic', argsPrefix: ['map', 'hung'], hold: true }], async () => {
    await withPool(configWith(), async (pool) => {
      const timedOut = pool.exec(CONTROL, { argv }, { timeoutMs: TIMEOUT_S * 1000 });
      const first = await heldCall(id);
      const r = await timedOut;
      assert.equal(r.timedOut, true);
      await assertGone(first.pid);

      const ac = new AbortController();
      const cancelled = pool.exec(CONTROL, { argv }, { signal: ac.signal });
      const second = await heldCall(id);
      ac.abort();
      await rejectsWith(cancelled, 'cancelled', /cancelled/);
      await assertGone(second.pid);
    });
  });
  assert.deepEqual(calls(argv).map((e) => [e.exitCode, e.fault]), [[null, 'hold'], [null, 'hold']], 'the lab logged both ends');
});

fault(7, 'hung changing command: ended on the host at its timeout, the journal says killed, a retry of the key reads that and starts nothing', async () => {
  const id = newKey('hung-rw');
  const key = newKey('hung-rw');
  const argv = [ic(), 'set_autoflip', 'fate', 'disable'];
  await withFaults([{ id, tool: 'ic', argsPrefix: ['set_autoflip', 'fate'], hold: true }], async () => {
    await withPool(configWith(), async (pool) => {
      const running = pool.exec(CONTROL, { argv }, { journal: key, timeoutMs: TIMEOUT_S * 1000 });
      const held = await heldCall(id);
      const r = await running;
      assert.equal(r.timedOut, true);
      await assertGone(held.pid);
      assert.equal(probe(key)?.state, 'killed');
      const retry = await pool.exec(CONTROL, { argv }, { journal: key });
      assert.equal(retry.signal, 'KILL');
      assert.equal(retry.exitCode, null);
      assert.match(retry.recovered ?? '', /ended on the host at its timeout/);
    });
  });
  assert.deepEqual(calls(argv).map((e) => [e.exitCode, e.fault]), [[null, 'hold']], 'started once, ended by the kill');
  assert.equal(lab().state().maps.fate.autoflip, 'enable', 'the held command never did its work');
});

// ---------------------------------------------------------------------------------------------
// 8. Disconnect mid-command

fault(8, 'disconnect of a read-only command: "disconnected", and the activity fails retryably (Temporal asks again)', async () => {
  await withFaults([{ tool: 'ic', argsPrefix: ['map', 'fate'], disconnect: true, times: 2 }], async () => {
    const r = await withPool(configWith(), (pool) => pool.exec(CONTROL, { argv: [ic(), 'map', 'fate'] }));
    assert.equal(r.disconnected, true);
    assert.equal(r.exitCode, null);
    assertFailure(await activity(configWith(), { host: CONTROL, argv: [ic(), 'map', 'fate'] }), 'Ssh:disconnected', false);
  });
});

fault(8, 'disconnect of a changing command: the real exit status and output come from the journal; it ran once, the state changed once', async () => {
  const srvOf = (name: string) => lab().state().maps.fate.blocks[0].srvs.find((s) => s.name === name);
  assert.equal(srvOf('fate.onpremise.fate-1')?.role, 'slave');
  const argv = [ic(), 'flip', 'fate.onpremise.fate-1'];
  await withFaults([{ tool: 'ic', argsPrefix: ['flip'], disconnect: true, withEffects: true, times: 1 }], async () => {
    const r = await withPool(configWith(), (pool) => pool.exec('onpremise', { argv }, { journal: newKey('flip') }));
    assert.equal(r.disconnected, false, 'the journal knew the end');
    assert.equal(r.exitCode, 0);
    assert.match(r.stdout, /OK/);
    assert.match(r.recovered ?? '', /read from the host's journal .*the connection dropped while it ran/);
  });
  assert.deepEqual(calls(argv).map((e) => [e.exitCode, e.fault]), [[0, 'disconnect']], 'ran once');
  assert.equal(srvOf('fate.onpremise.fate-1')?.role, 'main', 'flipped once (a second flip would have refused or swapped back)');
  assert.equal(srvOf('fate.onpremise.fate-2')?.role, 'slave');
  // Without effects the tool died of the dropped connection (exit 141): that, too, is what comes back.
  await withFaults([{ tool: 'ic', argsPrefix: ['flip'], disconnect: true, times: 1 }], async () => {
    const r = await withPool(configWith(), (pool) => pool.exec('onpremise', { argv: [ic(), 'flip', 'fate.onpremise.fate-2'] }, { journal: newKey('flip') }));
    assert.equal(r.exitCode, 141);
    assert.match(r.recovered ?? '', /the connection dropped while it ran/);
  });
  assert.equal(srvOf('fate.onpremise.fate-2')?.role, 'slave', 'no effect');
});

fault(8, 'disconnect of a read-only step during a run: the activity asks again and the run repairs', async () => {
  const from = lab().log().length;
  await withFaults([{ tool: 'ic', node: CONTROL, argsPrefix: ['map', 'cox'], disconnect: true, times: 1 }], async () => {
    const h = await kustRunAtGate('cox-2');
    await decide(h, 'approve');
    const r = (await h.result()) as RunResult;
    assert.equal(r.outcome, 'repaired');
    const failures = await activityFailures(h);
    assert.deepEqual(failures, [], 'the retried attempt succeeded (only the last failure would be in the history)');
  });
  assert.deepEqual(lab().log().slice(from).map(entry), [`${CONTROL}: ic map cox -> 141`, `${CONTROL}: ic map cox -> 0`, `${KUST_A}: clean_kust_replica.sh cox-2 -> 0`]);
});

// ---------------------------------------------------------------------------------------------
// 9. Output over the cap

fault(9, 'output over the cap: head and tail kept and marked truncated, for read-only and changing commands and for a journal read-back', async () => {
  const big = `first line\n${'x'.repeat(50_000)}\n${'y'.repeat(50_000)}\nINFO: last line\n`;
  const check = (r: ExecResult, what: string) => {
    assert.equal(r.truncated, true, what);
    assert.ok(r.stdout.length < 4300, `${what}: ${r.stdout.length} characters kept`);
    assert.match(r.stdout, /^first line\n/, what);
    assert.match(r.stdout, /\[\.\.\. \d+ bytes omitted \.\.\.\]/, what);
    assert.match(r.stdout, /INFO: last line\n$/, what);
  };
  await withFaults([{ tool: 'ic', argsPrefix: ['map', 'big'], output: big }], async () => {
    await withPool(configWith({}, { outputCapBytes: 4096 }), async (pool) => {
      const argv = [ic(), 'map', 'big'];
      check(await pool.exec(CONTROL, { argv }), 'read-only');
      const key = newKey('big');
      check(await pool.exec(CONTROL, { argv }, { journal: key }), 'changing');
      const readBack = await pool.exec(CONTROL, { argv }, { journal: key });
      assert.match(readBack.recovered ?? '', /it had been started before/);
      check(readBack, 'read back from the journal');
    });
    assert.equal(calls([ic(), 'map', 'big']).length, 2, 'the read-back started nothing');
  });
});

// ---------------------------------------------------------------------------------------------
// 10. A host that stops answering and comes back

fault(10, 'host stops answering while a changing command runs: it completes once, its result arrives after the host answers again', async () => {
  const id = newKey('stop');
  const key = newKey('stop');
  const argv = [ic(), 'map', 'cox'];
  await withFaults([{ id, tool: 'ic', node: STOPPED, argsPrefix: ['map', 'cox'], hold: true, times: 1 }], async () => {
    await withPool(configWith(), async (pool) => {
      const running = pool.exec(STOPPED, { argv }, { journal: key });
      await heldCall(id);
      let continuedAt = 0;
      await whileStopped(STOPPED, async () => {
        lab().release(id);
        await eventually(async () => probe(key)?.state, (st) => st === 'done', 10_000);
        assert.equal(await settlesWithin(running, 2000), false, 'no result while the host does not answer');
        continuedAt = Date.now();
      });
      const r = await running;
      assert.ok(Date.now() >= continuedAt);
      assert.equal(r.exitCode, 0);
      assert.match(r.stdout, /node cox-1/);
      // A pause shorter than the keepalive budget (3 x 15 s) keeps the connection: the result comes on the command's own channel.
      assert.equal(r.recovered, undefined, 'straight from its channel');
    });
  });
  assert.equal(calls(argv).filter((e) => e.node === STOPPED).length, 1, 'ran once');
});

fault(10, 'host stops answering when a run reaches it: the clean retries its connection and repairs once the host answers', async () => {
  const from = lab().log().length;
  const h = await kustRunAtGate('cox-1');
  let describe: Awaited<ReturnType<WorkflowHandle['describe']>> | undefined;
  await whileStopped(KUST_B, async () => {
    await decide(h, 'approve');
    // Until the connection has failed at least once: the activity's next attempt is pending.
    describe = await eventually(() => h.describe(), (d) => (d.raw.pendingActivities ?? []).some((a) => (a.attempt ?? 0) >= 2), 60_000);
  });
  const lastFailure = describe?.raw.pendingActivities?.[0]?.lastFailure?.message ?? '';
  assert.match(lastFailure, new RegExp(`${KUST_B}.*(Timed out while waiting for handshake|did not open a channel)`));
  const r = (await h.result()) as RunResult;
  assert.equal(r.outcome, 'repaired');
  assert.deepEqual(lab().log().slice(from).map(entry), [`${CONTROL}: ic map cox -> 0`, `${KUST_B}: clean_kust_replica.sh cox-1 -> 0`], 'one clean');
  assert.equal(r.state.steps.find((st) => st.name === 'clean the replica')?.verdict, 'ok');
});

fault(10, 'host stops answering past a command\'s timeout: the command is given up (not ended: the host did not answer); the journal keeps the changing one for a retry', async () => {
  const id = newKey('frozen');
  const key = newKey('frozen');
  const node = 'mc-a';
  const readOnly = [ic(), 'map', 'frozen'];
  const changing = [ic(), 'map', 'cox'];
  await withFaults([{ id, tool: 'ic', node, argsPrefix: ['map'], hold: true }], async () => {
    await withPool(configWith(), async (pool) => {
      const both = Promise.allSettled([pool.exec(node, { argv: readOnly }, { timeoutMs: TIMEOUT_S * 1000 }), pool.exec(node, { argv: changing }, { journal: key, timeoutMs: TIMEOUT_S * 1000 })]);
      const held = await eventually(async () => lab().held(id), (h) => h.length === 2, 20_000);
      await whileStopped(node, async () => {
        // The timeouts fire, the kill gets no answer: the commands are given up, not waited for until the host is back.
        assert.equal(await settlesWithin(both, (TIMEOUT_S + 3 * CONNECT_TIMEOUT_S + 5) * 1000), true, 'given up while the host does not answer');
        for (const r of await both) {
          assert.equal(r.status, 'rejected');
          const err = (r as PromiseRejectedResult).reason as SshError;
          assert.equal(err.kind, 'connect', err.message);
          assert.match(err.message, new RegExp(`${node} did not answer: the command reached its timeout \\(${TIMEOUT_S} s\\) and could not be ended on the host`));
        }
        for (const h of held) assert.ok(pidAlive(h.pid), 'not ended: the host did not answer (and the service does not claim it was)');
        assert.equal(probe(key)?.state, 'running');
      });
      lab().release(id);
      // Once the host answers, the same key reads the changing command's real outcome; it ran once.
      const retry = await pool.exec(node, { argv: changing }, { journal: key });
      assert.equal(retry.exitCode, 0);
      assert.match(retry.recovered ?? '', /it had been started before/);
      assert.match(retry.stdout, /node cox-1/);
    });
  });
  assert.equal(calls(changing).filter((e) => e.node === node).length, 1, 'ran once');
});
