/**
 * The operator's side end to end: the real dev server, the worker, the HTTP API and the lab's sshd
 * hosts; the `medic` CLI runs as a child process (TEMPORAL_ADDRESS = the dev server, --config = the
 * lab's configuration). The lab's command log says what really ran where.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { temporal } from '@temporalio/proto';
import type { RunDescription, RunHistory, RunSummary } from '../../client/history';
import { settingsFor } from '../../client/runbooks';
import { RunbookKey, RunResult, RunState, RunStatusKey, stateQuery, TargetKey } from '../../workflows/definitions';
import { temporalEnv } from '../helpers/medic-cli';
import { eventually, quietHistoryLength } from '../helpers/temporal';
import { Service, startService } from '../helpers/service';

let svc: Service;
/** The lab's configuration with approvals required for the clean and the flapping guard off. */
let approvalConfig: string;
before(async () => {
  svc = await startService('kust-replfailed');
  const doc = YAML.parse(readFileSync(svc.lab.configPath, 'utf8')) as Record<string, unknown>;
  doc.approvals = { 'kust-replica': { clean: 'approve' } };
  doc.timers = { ...((doc.timers as object) ?? {}), flapGuard: '0s' };
  approvalConfig = path.join(path.dirname(svc.lab.configPath), 'medic-approve.yaml');
  writeFileSync(approvalConfig, YAML.stringify(doc));
});
after(async () => {
  await svc?.stop();
});

const CLI = path.resolve(__dirname, '../../client/cli.js');
const ALERT = '2 snmpexec_mon_cox_1_status - - - replfailed (first: 2023-05-10/10:08:27, last: 2023-05-10/11:34:02, total: 3406)';

/** The CLI's environment: Temporal for runs, the API with alice's own credential for decisions; `extra` (undefined: unset). */
function cliEnv(extra: Record<string, string | undefined> = {}) {
  const env: NodeJS.ProcessEnv = { ...temporalEnv({ TEMPORAL_ADDRESS: svc.server.address, MEDIC_API_URL: svc.apiUrl, MEDIC_TOKEN: svc.lab.operators.alice.token }), ...extra };
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
}

/** `medic <args> --config <lab config>` as a child process. */
function medic(args: string[], config = svc.lab.configPath, env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args, '--config', config], { env: cliEnv(env), timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

async function medicJson<T>(args: string[], config?: string): Promise<T> {
  const r = await medic([...args, '--json'], config);
  assert.equal(r.code, 0, `medic ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A call with `token`, else the token of the operator a body's `by` names (alice or bob), else alice's. */
async function api(method: string, urlPath: string, opts: { token?: string | null; body?: unknown; contentType?: string } = {}) {
  const by = (opts.body as { by?: unknown } | undefined)?.by;
  const token = opts.token === undefined ? svc.lab.operators[by === 'bob' ? 'bob' : 'alice'].token : opts.token;
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(`${svc.apiUrl}${urlPath}`, { method, headers, body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON (the metrics)
  }
  return { status: res.status, json, text };
}

const handle = (id: string) => svc.client.workflow.getHandle(id);
const state = (id: string) => handle(id).query(stateQuery);
const historyLength = async (id: string) => (await handle(id).fetchHistory()).events?.length ?? 0;
const EventType = temporal.api.enums.v1.EventType;
/** The types of the events a run's history gained after its first `from`. */
const eventTypesSince = async (id: string, from: number) => ((await handle(id).fetchHistory()).events ?? []).slice(from).map((e) => EventType[e.eventType ?? 0].replace(/^EVENT_TYPE_/, ''));
/**
 * A decision the run refuses is recorded in its state (the audit trail): a workflow task and the Update's
 * acceptance and completion (failed), nothing that acts (no activity, timer or signal).
 */
async function onlyRecordedSince(id: string, from: number): Promise<void> {
  const added = await eventTypesSince(id, from);
  assert.ok(added.length > 0 && added.every((t) => /^(WORKFLOW_TASK_(SCHEDULED|STARTED|COMPLETED)|WORKFLOW_EXECUTION_UPDATE_(ACCEPTED|COMPLETED))$/.test(t)), `only the run's record of the refusal was added: ${added.join(', ')}`);
}
/** The run's decision records after the first `from`, as [action, by, accepted, verified, via, source, step]. */
const auditSince = async (id: string, from: number) => (await state(id)).decisions.slice(from).map((d) => [d.action, d.by, d.accepted, d.verified, d.via, d.source, d.step]);
const enc = (id: string) => encodeURIComponent(id);
const labLog = () => svc.lab.log().map((e) => `${e.node}: ${path.basename(e.tool)} ${e.argv.join(' ')} -> ${e.exitCode}`);
const srvOf = (name: string) => svc.lab.state().maps.cox.blocks.flatMap((b) => b.srvs).find((s) => s.name === name);
const ids = (runs: RunSummary[]) => runs.map((r) => r.workflowId).sort();

let firstRepairClosedAt = '';

test('a run started through the API; medic show and medic history print its steps with hosts, commands, exit codes and times', async () => {
  const res = await api('POST', '/v1/runs', { body: { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1' } } });
  assert.equal(res.status, 201, res.text);
  assert.deepEqual([res.json.workflowId, res.json.started], ['kust-replica/cox-1', true]);
  const result = (await handle('kust-replica/cox-1').result()) as RunResult;
  assert.equal(result.outcome, 'repaired');
  firstRepairClosedAt = (await handle('kust-replica/cox-1').describe()).closeTime?.toISOString() ?? '';
  assert.deepEqual(labLog(), ['vkt-control-01: ic map cox -> 0', 'vkt-4vm-879-standart-02: clean_kust_replica.sh cox-1 -> 0']);

  const paths = svc.config.paths;
  const human = await medic(['history', 'kust-replica/cox-1']);
  assert.equal(human.code, 0, human.stderr);
  const T = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
  assert.match(human.stdout, /^kust-replica\/cox-1 \(kustReplica, run [0-9a-f-]+\): COMPLETED, repaired$/m);
  assert.match(human.stdout, new RegExp(`^ +\\d+\\. ${T}  find the slave @vkt-control-01  \\$ ${paths.ic} map cox  -> exit 0 \\(\\d+\\.\\d s\\)$`, 'm'));
  assert.match(human.stdout, new RegExp(`^ +\\d+\\. ${T}  clean the replica @vkt-4vm-879-standart-02  \\$ ${paths.cleanKustReplica} cox-1  -> exit 0 \\(\\d+\\.\\d s\\)$`, 'm'));
  assert.match(human.stdout, /^ +\| INFO: successfully started cox-1$/m);
  assert.match(human.stdout, new RegExp(`^ +\\d+\\. ${T}  closed: completed \\(repaired\\): replica cox\\.vkt-4vm-879-standart-02\\.cox-1 re-seeded and started$`, 'm'));

  const h = await medicJson<RunHistory>(['history', 'kust-replica/cox-1']);
  const cmds = h.entries.filter((e) => e.kind === 'command');
  assert.deepEqual(cmds.map((e) => [e.name, e.host, e.argv?.join(' '), e.exitCode]), [
    ['find the slave', 'vkt-control-01', `${paths.ic} map cox`, 0],
    ['clean the replica', 'vkt-4vm-879-standart-02', `${paths.cleanKustReplica} cox-1`, 0],
  ]);
  for (const c of cmds) assert.ok(Date.parse(c.endedAt ?? '') >= Date.parse(c.at), 'each command has a start and an end');
  assert.deepEqual(h.entries[0].input, { service: 'cox', instance: 'cox-1' });
  assert.equal(h.entries[0].source, 'api');

  const show = await medic(['show', 'kust-replica/cox-1']);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /kust-replica cox-1: completed \(repaired\)/);
  assert.match(show.stdout, /2\. .* clean the replica @vkt-4vm-879-standart-02  -> ok/);
  const status = await medic(['status', 'kust-replica/cox-1']);
  assert.equal(status.stdout, show.stdout, 'status is an alias of show');

  const byApi = await api('GET', `/v1/runs/${enc('kust-replica/cox-1')}/history`);
  assert.equal(byApi.status, 200);
  assert.deepEqual((byApi.json as unknown as RunHistory).entries, h.entries);
  const one = await api('GET', `/v1/runs/${enc('kust-replica/cox-1')}`);
  assert.deepEqual([one.status, one.json.status, (one.json.state as RunState).outcome], [200, 'completed', 'repaired']);
  const plain = await api('GET', '/v1/runs/kust-replica/cox-1');
  assert.deepEqual([plain.status, plain.json.workflowId], [200, 'kust-replica/cox-1'], 'the plain path form works too');
});

test('flapping guard: the same alert again within the hour escalates before the clean and changes nothing', async () => {
  svc.lab.setState((s) => {
    s.maps.cox.blocks[0].srvs[1].repl = 'replfailed';
  });
  const before = svc.lab.log().length;
  const res = await api('POST', '/v1/alerts/checkmk', { token: svc.tokens.webhook, body: ALERT, contentType: 'text/plain' });
  assert.equal(res.status, 202, res.text);
  const s = await eventually(() => state('kust-replica/cox-1'), (st) => st.status === 'escalated', 30_000);
  assert.equal(s.pending?.step, 'clean the replica');
  assert.equal(s.pending?.reason, `flapping guard: cox-1 was repaired at ${firstRepairClosedAt}`);
  assert.deepEqual(labLog().slice(before), ['vkt-control-01: ic map cox -> 0'], 'no clean ran');
  assert.equal(srvOf('cox.vkt-4vm-879-standart-02.cox-1')?.repl, 'replfailed');
});

test('a failing clean escalates; a second trigger (medic start) joins the open run', async () => {
  svc.lab.setState((s) => {
    s.faults.push({ tool: 'clean_kust_replica.sh', argsPrefix: ['cox-2'], failTimes: 1 });
  });
  const first = await medicJson<{ workflowId: string; started: boolean }>(['start', 'kust-replica', 'cox-2']);
  assert.deepEqual([first.workflowId, first.started], ['kust-replica/cox-2', true]);
  const s = await eventually(() => state('kust-replica/cox-2'), (st) => st.status === 'escalated', 30_000);
  assert.match(s.pending?.reason ?? '', /exit code 1/);
  const again = await medic(['start', 'kust-replica', 'cox-2']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^already open, recorded as seen again: kust-replica\/cox-2$/m);
  const joined = await api('POST', '/v1/runs', { body: { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-2' } } });
  assert.deepEqual([joined.status, joined.json.started], [200, false]);
  await eventually(() => state('kust-replica/cox-2'), (st) => st.seenAgain.count === 2);
});

test('dry run: only the read-only step runs (lab command log); it does not block or join the open real run', async () => {
  const before = svc.lab.log().length;
  const r = await medicJson<{ workflowId: string; started: boolean }>(['start', 'kust-replica', 'cox-1', '--dry-run']);
  assert.deepEqual([r.workflowId, r.started], ['dry-run/kust-replica/cox-1', true]);
  const result = (await handle('dry-run/kust-replica/cox-1').result()) as RunResult;
  assert.deepEqual([result.status, result.outcome], ['completed', 'dry-run']);
  const clean = result.state.steps.at(-1);
  assert.deepEqual([clean?.name, clean?.host, clean?.verdict, clean?.command], ['clean the replica', 'vkt-4vm-879-standart-02', 'would-run', `'${svc.config.paths.cleanKustReplica}' 'cox-1'`]);
  assert.deepEqual(labLog().slice(before), ['vkt-control-01: ic map cox -> 0']);
  assert.equal(srvOf('cox.vkt-4vm-879-standart-02.cox-1')?.repl, 'replfailed', 'nothing changed on any host');
  assert.equal((await state('kust-replica/cox-1')).status, 'escalated', 'the real run is untouched');
  const byApi = await api('POST', '/v1/runs', { body: { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1' }, dryRun: true } });
  assert.deepEqual([byApi.status, byApi.json.workflowId, byApi.json.started], [201, 'dry-run/kust-replica/cox-1', true]);
  assert.equal(((await handle('dry-run/kust-replica/cox-1').result()) as RunResult).outcome, 'dry-run');
  assert.deepEqual(labLog().slice(before), ['vkt-control-01: ic map cox -> 0', 'vkt-control-01: ic map cox -> 0']);
});

test('medic runs --status escalated lists exactly the escalated runs (and the API the same); abort through the API', async () => {
  const third = await api('POST', '/v1/runs', { body: { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-3' } } });
  assert.equal(third.status, 201);
  await eventually(() => state('kust-replica/cox-3'), (st) => st.status === 'escalated', 30_000);
  const expected = ['kust-replica/cox-1', 'kust-replica/cox-2', 'kust-replica/cox-3'];
  const listed = await eventually(() => medicJson<RunSummary[]>(['runs', '--status', 'escalated']), (rs) => ids(rs).join() === expected.join(), 30_000);
  assert.ok(listed.every((r) => r.status === 'escalated' && r.temporalStatus === 'RUNNING' && r.runbook === 'kust-replica'));
  const human = await medic(['runs', '--status', 'escalated']);
  assert.deepEqual(human.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]).sort(), expected);
  const byApi = await api('GET', '/v1/runs?status=escalated&runbook=kust-replica');
  assert.deepEqual(ids(byApi.json.runs as RunSummary[]), expected);
  const completed = await eventually(() => medicJson<RunSummary[]>(['runs', '--status', 'completed']), (rs) => rs.length === 3, 30_000);
  assert.deepEqual(ids(completed), ['dry-run/kust-replica/cox-1', 'dry-run/kust-replica/cox-1', 'kust-replica/cox-1']);
  const list = await medic(['list', '--runbook', 'kust-replica']);
  assert.equal(list.stdout.trim().split('\n').length, 6, 'list is an alias of runs: every run of this file so far');

  const abort = await api('POST', `/v1/runs/${enc('kust-replica/cox-3')}/decide`, { body: { action: 'abort', by: 'alice', comment: 'no such block' } });
  assert.equal(abort.status, 200, abort.text);
  assert.deepEqual([abort.json.action, abort.json.by, abort.json.accepted], ['abort', 'alice', true]);
  assert.equal(((await handle('kust-replica/cox-3').result()) as RunResult).outcome, 'aborted-by-operator');
  await eventually(() => medicJson<RunSummary[]>(['runs', '--status', 'escalated']), (rs) => ids(rs).join() === expected.slice(0, 2).join(), 30_000);
  await eventually(() => medicJson<RunSummary[]>(['runs', '--status', 'aborted']), (rs) => ids(rs).join() === 'kust-replica/cox-3', 30_000);
});

test("refused decisions change nothing but the run's record of the refusal; retry through the API; medic watch follows the run until it closes", async () => {
  const id = 'kust-replica/cox-2';
  const watcher = spawn(process.execPath, [CLI, 'watch', id, '--config', svc.lab.configPath], { env: cliEnv() });
  let watched = '';
  watcher.stdout.on('data', (d: Buffer) => (watched += d.toString()));
  const watchDone = new Promise<number | null>((resolve) => watcher.on('exit', (code) => resolve(code)));
  try {
    await eventually(async () => watched, (w) => /escalated/.test(w), 20_000);
    const shown = await medicJson<{ state: RunState }>(['show', id]);
    assert.ok(Date.parse(shown.state.nextTimerAt ?? '') > Date.now(), 'the next reminder is in the future');

    const h0 = await quietHistoryLength(handle(id));
    const d0 = (await state(id)).decisions.length;
    const wrongName = await api('POST', `/v1/runs/${enc(id)}/decide`, { token: svc.lab.operators.alice.token, body: { action: 'retry', by: 'mallory' } });
    assert.deepEqual([wrongName.status, wrongName.json.error], [403, '"by" must be you: you are alice; a decision is taken only as the operator who sends it']);
    const wrongVerb = await api('POST', `/v1/runs/${enc(id)}/approve`, { body: { by: 'alice' } });
    assert.equal(wrongVerb.status, 409);
    assert.match(String(wrongVerb.json.error), /"approve" is not a decision for a pending escalation/);
    // The CLI with alice's credential cannot decide as mallory; carol, a viewer, cannot decide at all.
    const cli = await medic(['decide', id, 'retry', '--by', 'mallory']);
    assert.equal(cli.code, 4);
    assert.equal(cli.stderr, `medic: not authorised by the API at ${svc.apiUrl}: "by" must be you: you are alice; a decision is taken only as the operator who sends it (credential from MEDIC_TOKEN)\n`);
    const viewer = await medic(['decide', id, 'retry'], undefined, { MEDIC_TOKEN: svc.lab.operators.carol.token });
    assert.equal(viewer.code, 4);
    assert.match(viewer.stderr, /: carol is a viewer: viewers cannot decide \(credential from MEDIC_TOKEN\)\n$/);
    // The 403s never reach the run; the run's own refusal (a wrong verb, from alice, verified) is its audit record and nothing else.
    await onlyRecordedSince(id, h0);
    assert.deepEqual(await auditSince(id, d0), [['approve', 'alice', false, true, 'api', '127.0.0.1', 'clean the replica']]);

    // A slow clean: while it runs, no decision is pending.
    svc.lab.setState((s) => {
      s.timing.cleanKustMs = 8000;
    });
    const retry = await api('POST', `/v1/runs/${enc(id)}/decide`, { body: { action: 'retry', by: 'alice', comment: 'fault cleared' } });
    assert.equal(retry.status, 200, retry.text);
    await eventually(() => state(id), (st) => st.status === 'running' && st.currentStep === 'clean the replica' && st.steps.at(-1)?.verdict === undefined);
    const h1 = await quietHistoryLength(handle(id), ['runCommand']);
    const none = await api('POST', `/v1/runs/${enc(id)}/decide`, { body: { action: 'retry', by: 'bob' } });
    assert.deepEqual([none.status, none.json.error], [409, 'refused: no decision is pending in this run']);
    assert.equal(await historyLength(id), h1, 'a decision when none is pending adds nothing to the history');
    const result = (await handle(id).result()) as RunResult;
    assert.equal(result.outcome, 'repaired');
    assert.equal(await watchDone, 0, 'watch exits when the run closes');
  } finally {
    svc.lab.setState((s) => {
      s.timing.cleanKustMs = 0;
    });
    watcher.kill();
  }
  const lines = watched.trim().split('\n');
  assert.match(lines[0], /^\S+Z kust-replica\/cox-2: escalated at "escalated: clean the replica" \(pending escalation: exit code 1\), next timer in \d+m\d\ds \(\S+Z\)$/);
  assert.ok(lines.some((l) => / kust-replica\/cox-2: running at "clean the replica"$/.test(l)), watched);
  assert.match(lines.at(-2) ?? '', / kust-replica\/cox-2: completed -> repaired$/);
  assert.equal(lines.at(-1), 'replica cox.vkt-4vm-879-standart-01.cox-2 re-seeded and started');
  const cleans = svc.lab.log().filter((e) => path.basename(e.tool) === 'clean_kust_replica.sh' && e.argv[0] === 'cox-2');
  assert.deepEqual(cleans.map((e) => [e.node, e.exitCode]), [
    ['vkt-4vm-879-standart-01', 1],
    ['vkt-4vm-879-standart-01', 0],
  ]);
});

test('the flapping-guard escalation resolved with medic decide (bob, with his own credential and no --by): the run closes without a clean', async () => {
  const cleansBefore = svc.lab.log().filter((e) => path.basename(e.tool) === 'clean_kust_replica.sh').length;
  const r = await medic(['decide', 'kust-replica/cox-1', 'resolved', '--comment', 'replica re-seeded by hand'], undefined, { MEDIC_TOKEN: svc.lab.operators.bob.token });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^accepted: resolved by bob$/m);
  const result = (await handle('kust-replica/cox-1').result()) as RunResult;
  assert.deepEqual([result.status, result.outcome], ['completed', 'resolved-by-operator']);
  assert.equal(svc.lab.log().filter((e) => path.basename(e.tool) === 'clean_kust_replica.sh').length, cleansBefore);
  const h = await medicJson<RunHistory>(['history', 'kust-replica/cox-1']);
  const decision = h.entries.find((e) => e.kind === 'decision');
  assert.deepEqual([decision?.via, decision?.decision?.action, decision?.decision?.by, decision?.accepted], ['update', 'resolved', 'bob', true]);
  assert.match(h.entries.find((e) => e.kind === 'notification')?.notification?.text ?? '', /\[ESCALATED\] kust-replica\/cox-1: clean the replica: flapping guard: cox-1 was repaired at /);
  const again = await medic(['decide', 'kust-replica/cox-1', 'retry', '--by', 'bob'], undefined, { MEDIC_TOKEN: svc.lab.operators.bob.token });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /refused: the run kust-replica\/cox-1 is closed \(completed\)/);
});

test('approval gate end to end: alice deciding as bob and a viewer are refused (403) and the run still waits, medic reject (bob) ends the run, an API approve lets the clean run', async () => {
  const id = 'kust-replica/cox-2';
  const cleans = () => svc.lab.log().filter((e) => path.basename(e.tool) === 'clean_kust_replica.sh' && e.argv[0] === 'cox-2').length;
  const before = cleans();
  const started = await medic(['start', 'kust-replica', 'cox-2'], approvalConfig);
  assert.equal(started.code, 0, started.stderr);
  const s = await eventually(() => state(id), (st) => st.status === 'awaiting-approval', 30_000);
  assert.match(s.pending?.reason ?? '', /clean_kust_replica\.sh cox-2 on vkt-4vm-879-standart-01/);
  await eventually(() => medicJson<RunSummary[]>(['runs', '--status', 'awaiting-approval']), (rs) => ids(rs).join() === id, 30_000);
  const h0 = await quietHistoryLength(handle(id));
  const asBob = await medic(['approve', id, '--by', 'bob']);
  assert.equal(asBob.code, 4);
  assert.match(asBob.stderr, /: "by" must be you: you are alice; a decision is taken only as the operator who sends it \(credential from MEDIC_TOKEN\)\n$/);
  const viewer = await medic(['approve', id], undefined, { MEDIC_TOKEN: svc.lab.operators.carol.token });
  assert.equal(viewer.code, 4);
  assert.match(viewer.stderr, /carol is a viewer: viewers cannot decide/);
  assert.equal(await historyLength(id), h0, 'refused decisions reach nothing');
  assert.equal((await state(id)).status, 'awaiting-approval', 'the run still waits');
  const asBobByBob = { MEDIC_TOKEN: svc.lab.operators.bob.token };
  const noReason = await medic(['reject', id, '--by', 'bob'], undefined, asBobByBob);
  assert.equal(noReason.code, 2);
  const reject = await medic(['reject', id, '--by', 'bob', '--reason', 'not during the sale'], undefined, asBobByBob);
  assert.equal(reject.code, 0, reject.stderr);
  const rejected = (await handle(id).result()) as RunResult;
  assert.deepEqual([rejected.status, rejected.outcome], ['aborted', 'rejected']);
  assert.match(rejected.summary, /bob rejected "clean the replica": not during the sale/);
  assert.equal(cleans(), before, 'a rejected clean never runs');

  await medic(['start', 'kust-replica', 'cox-2'], approvalConfig);
  await eventually(() => state(id), (st) => st.status === 'awaiting-approval', 30_000);
  const approve = await api('POST', `/v1/runs/${enc(id)}/approve`, { body: { by: 'alice', comment: 'go' } });
  assert.equal(approve.status, 200, approve.text);
  assert.equal(((await handle(id).result()) as RunResult).outcome, 'repaired');
  assert.equal(cleans(), before + 1);
});

test('medic runs --status failed lists the runs Temporal failed; show and history explain them', async () => {
  // Started past startRun's checks: the workflow itself refuses the hostile value before any command.
  const id = 'kust-replica/cox-7';
  const before = svc.lab.log().length;
  await svc.client.workflow.start('kustReplica', {
    taskQueue: svc.config.service.taskQueue,
    workflowId: id,
    args: [{ service: 'cox', instance: 'cox-7;reboot', settings: settingsFor(svc.config, 'kust-replica') }],
    typedSearchAttributes: [
      { key: RunbookKey, value: 'kust-replica' },
      { key: TargetKey, value: 'cox-7' },
      { key: RunStatusKey, value: 'running' },
    ],
  });
  await assert.rejects(handle(id).result());
  const failed = await eventually(() => medicJson<RunSummary[]>(['runs', '--status', 'failed']), (rs) => rs.length === 1, 30_000);
  assert.deepEqual([failed[0].workflowId, failed[0].status, failed[0].temporalStatus], [id, 'failed', 'FAILED']);
  const shown = await medicJson<RunDescription>(['show', id]);
  assert.deepEqual([shown.status, shown.state, shown.note], ['failed', undefined, 'the run ended failed; see its history']);
  const h = await medicJson<RunHistory>(['history', id]);
  assert.deepEqual([h.closed, h.closeStatus, h.outcome], [true, 'FAILED', 'failed']);
  assert.match(h.summary ?? '', /instance "cox-7;reboot" rejected: contains shell metacharacter ;/);
  assert.equal(svc.lab.log().length, before, 'nothing ran');
});

test('the API refuses a missing or wrong token, unknown runs, malformed IDs and bodies with clear 4xx; the CLI its bad input', async () => {
  const id = enc('kust-replica/cox-2');
  const cases: [string, string, Parameters<typeof api>[2], number, RegExp][] = [
    ['GET', '/v1/runs', { token: null }, 401, /missing bearer token/],
    ['GET', '/v1/runs', { token: 'not-the-operator-token' }, 403, /invalid token/],
    ['GET', '/v1/runs', { token: svc.tokens.webhook }, 403, /invalid token/],
    ['GET', '/metrics', { token: null }, 401, /missing bearer token/],
    ['POST', `/v1/runs/${id}/decide`, { token: null, body: { action: 'retry', by: 'alice' } }, 401, /missing bearer token/],
    ['GET', `/v1/runs/${enc('kust-replica/cox-9')}`, {}, 404, /no such run: kust-replica\/cox-9/],
    ['GET', `/v1/runs/${enc('kust-replica/cox-9')}/history`, {}, 404, /no such run/],
    ['GET', `/v1/runs/${enc('nosuch/cox-1')}`, {}, 404, /no runbook nosuch/],
    ['GET', `/v1/runs/${enc('kust-replica/cox-1;reboot')}`, {}, 400, /malformed run ID/],
    ['GET', '/v1/runs/%E0%A4%A', {}, 400, /malformed URL encoding/],
    ['GET', `/v1/runs/${id}/steps`, {}, 404, /no such route/],
    ['GET', '/v1/runs?status=broken', {}, 400, /unknown status "broken"/],
    ['GET', '/v1/runs?colour=red', {}, 400, /unknown query parameter "colour"/],
    ['POST', `/v1/runs/${id}/approve`, { body: '{"by": ' }, 400, /invalid JSON/],
    ['POST', `/v1/runs/${id}/approve`, { body: 'by=alice', contentType: 'text/plain' }, 415, /application\/json/],
    ['POST', `/v1/runs/${id}/approve`, { body: { by: 'alice', force: true } }, 400, /unknown field "force"/],
    ['POST', `/v1/runs/${id}/approve`, { token: svc.lab.operators.alice.token, body: { by: 'bob', comment: 'as bob' } }, 403, /"by" must be you: you are alice/],
    ['POST', `/v1/runs/${id}/approve`, { token: svc.lab.operators.carol.token, body: { comment: 'a viewer' } }, 403, /carol is a viewer: viewers cannot decide/],
    ['POST', `/v1/runs/${id}/approve`, { token: svc.tokens.operator, body: { comment: 'the shared token' } }, 403, /the shared operator token .* reads and starts runs only/],
    ['POST', `/v1/runs/${id}/reject`, { body: { by: 'bob' } }, 400, /"reason" is required/],
    ['POST', `/v1/runs/${id}/decide`, { body: { action: 'approve', by: 'bob' } }, 400, /"action" must be one of retry, resolved, abort/],
    ['POST', `/v1/runs/${enc('kust-replica/cox-9')}/decide`, { body: { action: 'retry', by: 'bob' } }, 404, /no such run/],
    ['POST', `/v1/runs/${id}/decide`, { body: { action: 'retry', by: 'bob' } }, 409, /the run kust-replica\/cox-2 is closed \(completed\)/],
    ['POST', '/v1/runs/kust-replica/cox-2/decision', { body: { action: 'retry', by: 'bob' } }, 409, /is closed/],
    ['POST', '/v1/runs', { body: { runbook: 'nosuch', params: {} } }, 400, /unknown runbook "nosuch"/],
    ['POST', '/v1/runs', { body: { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1' }, dryRun: 'yes' } }, 400, /"dryRun" must be true or false/],
    ['POST', '/v1/runs', { body: { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1;reboot' } } }, 400, /instance "cox-1;reboot" rejected/],
    ['DELETE', `/v1/runs/${id}`, {}, 405, /DELETE not allowed/],
  ];
  const before = svc.lab.log().length;
  for (const [method, url, opts, status, message] of cases) {
    const r = await api(method, url, opts);
    assert.equal(r.status, status, `${method} ${url}: ${r.text}`);
    assert.match(String(r.json.error), message, `${method} ${url}`);
  }
  assert.equal(svc.lab.log().length, before, 'nothing ran');

  const health = await api('GET', '/healthz', { token: null });
  assert.deepEqual([health.status, health.json.ok, health.json.temporal], [200, true, 'ok']);

  const cli: [string[], number, RegExp][] = [
    [['show', 'kust-replica/cox-9'], 1, /medic: no such run: kust-replica\/cox-9/],
    [['history', 'kust-replica/cox-9'], 1, /medic: no such run/],
    [['show', 'cox-1'], 2, /malformed run ID/],
    [['decide', 'kust-replica/cox-2', 'approve', '--by', 'alice'], 2, /'approve' is invalid for argument 'action'\. Allowed choices are retry, resolved, abort/],
    [['approve', 'kust-replica/cox-2'], 1, /^medic: refused: the run kust-replica\/cox-2 is closed \(completed\)/],
    [['approve', 'kust-replica/cox-9', '--by', 'alice'], 1, /medic: no such run/],
    [['runs', '--status', 'broken'], 2, /argument 'broken' is invalid\. Allowed choices are running, /],
    [['frobnicate'], 2, /unknown command 'frobnicate'/],
    [['show', 'kust-replica/cox-2', '--colour'], 2, /unknown option '--colour'; see medic show --help/],
  ];
  for (const [args, code, message] of cli) {
    const r = await medic(args);
    assert.equal(r.code, code, `medic ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, `medic ${args.join(' ')}`);
  }
});

test('GET /metrics: runs started and finished by runbook and outcome, escalations, pending gauges, step durations', async () => {
  const value = (text: string, series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  const finished = (outcome: string) => `medic_runs_finished_total{runbook="kust-replica",outcome="${outcome}"}`;
  // Visibility is eventually consistent: scrape until every run of this file is counted.
  const m = await eventually(
    async () => (await api('GET', '/metrics')).text,
    (t) => value(t, finished('repaired')) === 3 && value(t, finished('rejected')) === 1,
    30_000,
  );
  assert.equal(value(m, 'medic_runs_started_total{runbook="kust-replica",dry_run="false"}'), 7);
  assert.equal(value(m, finished('failed')), 1);
  assert.equal(value(m, 'medic_runs_started_total{runbook="kust-replica",dry_run="true"}'), 2);
  assert.equal(value(m, finished('dry-run')), 2);
  assert.equal(value(m, finished('aborted-by-operator')), 1);
  assert.equal(value(m, finished('resolved-by-operator')), 1);
  assert.equal(value(m, 'medic_escalations_total{runbook="kust-replica"}'), 3);
  assert.equal(value(m, 'medic_approvals_pending'), 0);
  assert.equal(value(m, 'medic_escalations_pending'), 0);
  assert.equal(value(m, 'medic_temporal_up'), 1);
  assert.ok((value(m, 'medic_step_duration_seconds_count{runbook="kust-replica",kind="command"}') ?? 0) >= 10);
  assert.ok((value(m, 'medic_step_duration_seconds_sum{runbook="kust-replica",kind="command"}') ?? 0) >= 8, 'the slow clean took 8 s');
  assert.equal(value(m, 'medic_step_duration_seconds_count{runbook="kust-replica",kind="approval"}'), 2);
  assert.equal(value(m, 'medic_alerts_total{result="started"}'), 1);
  assert.match(m, /^# TYPE medic_runs_finished_total counter$/m);
  // A second scrape counts nothing twice.
  const again = (await api('GET', '/metrics')).text;
  assert.equal(value(again, finished('repaired')), 3);
});

test("the CLI decides through the API with the operator's own credential: a wrong token, the shared token, alice as bob and an open token file are refused and the run still waits; alice approves from her 0600 token file; --json on alert, watch, approve and their failures", async () => {
  const id = 'kust-replica/cox-2';
  const started = await medicJson<{ workflowId: string; started: boolean }>(['start', 'kust-replica', 'cox-2'], approvalConfig);
  assert.deepEqual([started.workflowId, started.started], [id, true]);
  await eventually(() => state(id), (st) => st.status === 'awaiting-approval', 30_000);
  const watcher = spawn(process.execPath, [CLI, 'watch', id, '--json', '--config', svc.lab.configPath], { env: cliEnv() });
  let watched = '';
  watcher.stdout.on('data', (d: Buffer) => (watched += d.toString()));
  const watchDone = new Promise<number | null>((resolve) => watcher.on('exit', (code) => resolve(code)));
  try {
    const h0 = await quietHistoryLength(handle(id));
    const d0 = (await state(id)).decisions.length;
    const wrong = await medic(['approve', id, '--by', 'alice'], approvalConfig, { MEDIC_TOKEN: 'not-the-operator-token' });
    assert.deepEqual([wrong.code, wrong.stdout], [4, '']);
    assert.equal(wrong.stderr, `medic: not authorised by the API at ${svc.apiUrl}: invalid token (credential from MEDIC_TOKEN)\n`);

    // The token in the default file ($XDG_CONFIG_HOME/medic/token), which group members could read.
    const xdg = mkdtempSync(path.join(os.tmpdir(), 'medic-xdg-'));
    const tokenFile = path.join(xdg, 'medic', 'token');
    mkdirSync(path.dirname(tokenFile));
    writeFileSync(tokenFile, `${svc.lab.operators.alice.token}\n`, { mode: 0o640 });
    const fromFile = { MEDIC_TOKEN: undefined, XDG_CONFIG_HOME: xdg };
    const open = await medic(['approve', id, '--by', 'alice'], approvalConfig, fromFile);
    assert.deepEqual([open.code, open.stderr], [4, `medic: the token file ${tokenFile} is open to group or others (mode 0640); make it yours alone: chmod 600 ${tokenFile}\n`]);

    const shared = await medic(['approve', id], approvalConfig, { MEDIC_TOKEN: svc.tokens.operator });
    assert.equal(shared.code, 4);
    assert.match(shared.stderr, /: the shared operator token \(api\.operatorToken\) reads and starts runs only; decide with your own credential \(api\.operators\)/);
    const asBob = await medic(['approve', id, '--by', 'bob', '--json'], approvalConfig);
    assert.deepEqual([asBob.code, asBob.stdout], [4, '']);
    assert.deepEqual(JSON.parse(asBob.stderr), { error: `not authorised by the API at ${svc.apiUrl}: "by" must be you: you are alice; a decision is taken only as the operator who sends it (credential from MEDIC_TOKEN)`, exit: 4 });
    const refused = await medic(['decide', id, 'retry', '--json'], approvalConfig);
    assert.deepEqual([refused.code, refused.stdout], [1, '']);
    const refusal = JSON.parse(refused.stderr) as { error: string; exit: number };
    assert.equal(refusal.exit, 1);
    assert.match(refusal.error, /^refused: "retry" is not a decision for a pending approval/);
    // Only the run's refusal of "retry" reached it, recorded as alice's (verified, through the API); the others stopped at the API or the CLI.
    await onlyRecordedSince(id, h0);
    assert.deepEqual(await auditSince(id, d0), [['retry', 'alice', false, true, 'api', '127.0.0.1', 'clean the replica']]);
    assert.equal((await state(id)).status, 'awaiting-approval', 'the run still waits');

    // chmod 600, and no MEDIC_API_URL: the API is found at api.listen of the configuration.
    chmodSync(tokenFile, 0o600);
    const doc = YAML.parse(readFileSync(approvalConfig, 'utf8')) as { api?: Record<string, unknown> };
    doc.api = { ...(doc.api ?? {}), listen: new URL(svc.apiUrl).host };
    const listenConfig = path.join(path.dirname(approvalConfig), 'medic-listen.yaml');
    writeFileSync(listenConfig, YAML.stringify(doc));
    const approved = await medic(['approve', id, '--comment', 'go', '--json'], listenConfig, { ...fromFile, MEDIC_API_URL: undefined });
    assert.equal(approved.code, 0, approved.stderr);
    const rec = JSON.parse(approved.stdout) as Record<string, unknown>;
    assert.deepEqual([rec.action, rec.by, rec.comment, rec.accepted], ['approve', 'alice', 'go', true]);
    assert.equal(((await handle(id).result()) as RunResult).outcome, 'repaired');
    assert.equal(await watchDone, 0, 'watch --json exits when the run closes');
  } finally {
    watcher.kill();
  }
  const lines = watched.trim().split('\n').map((l) => JSON.parse(l) as { workflowId: string; status: string; pending?: { kind: string }; outcome?: string });
  assert.deepEqual([lines[0].workflowId, lines[0].status, lines[0].pending?.kind], [id, 'awaiting-approval', 'approval']);
  assert.deepEqual([lines.at(-1)?.status, lines.at(-1)?.outcome], ['completed', 'repaired']);

  svc.lab.setState((s) => {
    s.maps.cox.blocks[0].srvs[1].repl = 'replfailed';
  });
  const alert = await medicJson<{ workflowId: string; started: boolean }>(['alert', ALERT]);
  assert.deepEqual([alert.workflowId, alert.started], ['kust-replica/cox-1', true]);
  assert.equal(((await handle('kust-replica/cox-1').result()) as RunResult).outcome, 'repaired');
});
