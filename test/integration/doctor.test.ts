/**
 * `medic doctor` (issue 14, item 7) against the real lab (sshd on loopback) and a real Temporal dev
 * server: a healthy lab passes every check (exit 0); planted faults show as exactly those failures
 * (exit 1); `--scan` prints the keys that ssh-keygen itself fingerprints and finds; the service's
 * start-up says what the fast part found, after the API is up.
 */
import assert from 'node:assert/strict';
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import type { CheckResult } from '../../client/doctor';
import { toolsByHost } from '../../client/doctor';
import { parseConfig } from '../../config/load';
import { freePort, labUp, LabHandle, REPO_ROOT, TOOL_PATH_KEYS } from '../../lab/lab';
import { LAB_SUDO_USER, LabSudo, labSudo } from '../../lab/sudo';
import { temporalBinaries } from '../../worker/binaries';
import { DevServer, startDevServer } from '../../worker/devserver';

const CLI = path.join(REPO_ROOT, 'dist', 'client', 'cli.js');
const MAIN = path.join(REPO_ROOT, 'dist', 'worker', 'main.js');
const CONTROL = 'vkt-control-01';
/** The host whose pinned key is planted wrong. */
const WRONG_KEY = 'vkt-4vm-879-standart-02';
/** The host that logs in as the unprivileged lab user with sudo (its rule planted broken in one case). */
const SUDO_HOST = 'mc-b';
const MISSING_TOOL = '/nonexistent/medic-doctor/orch_topo.sh';

let lab: LabHandle;
/** The sudoers drop-in for SUDO_HOST's login user: every lab tool path, NOPASSWD (cases change it and put it back). */
let sudo: LabSudo | undefined;
let toolPaths: string[];
let server: DevServer;
let tmp: string;
/** A valid host key line that is no lab node's key. */
let strangerHostKey: string;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-doctor-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stranger', '-f', path.join(tmp, 'stranger')]);
  strangerHostKey = fs.readFileSync(path.join(tmp, 'stranger.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  const [labR, serverR] = await Promise.allSettled([
    labUp({ scenario: 'healthy' }),
    freePort().then((port) => startDevServer({ cli: temporalBinaries().cli, dataDir: path.join(tmp, 'temporal'), port, uiPort: 0, notice: () => undefined })),
  ]);
  if (labR.status === 'fulfilled') lab = labR.value;
  if (serverR.status === 'fulfilled') server = serverR.value;
  if (labR.status === 'rejected') throw labR.reason;
  if (serverR.status === 'rejected') throw serverR.reason;
  toolPaths = Object.values(TOOL_PATH_KEYS).map(labPath);
  sudo = labSudo(lab.dir, { paths: toolPaths });
});

after(async () => {
  // The drop-in goes even when a case failed, before the lab dir it names.
  sudo?.remove();
  await Promise.all([lab?.down(), server?.stop()]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: server.address };
  delete e.TEMPORAL_NAMESPACE;
  return e;
}

function medic(args: string[], childEnv = env()): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: childEnv, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The parts of the lab's config the cases change. */
interface LabConfig {
  service: Record<string, unknown>;
  inventory: { hosts: Record<string, Record<string, unknown>> };
  paths: Record<string, string>;
  notifications?: { url: string };
}

/** The lab's config with `change` applied, written to a file of its own. */
function configWith(name: string, change: (c: LabConfig) => void): string {
  const c = structuredClone(lab.config) as unknown as LabConfig;
  change(c);
  const file = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(file, YAML.stringify(c));
  return file;
}

async function doctorJson(configPath: string, extra: string[] = [], childEnv = env()): Promise<{ code: number; results: CheckResult[]; stderr: string }> {
  const r = await medic(['doctor', '--json', '--config', configPath, ...extra], childEnv);
  let results: CheckResult[];
  try {
    results = JSON.parse(r.stdout) as CheckResult[];
  } catch {
    throw new Error(`medic doctor --json printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, results, stderr: r.stderr };
}

/** A `paths.*` value of the lab's config. */
const labPath = (key: string): string => (lab.config.paths as Record<string, string>)[key];

const failures = (rs: CheckResult[]) => rs.filter((r) => !r.ok).map((r) => `${r.check} ${r.host ?? '-'}`).sort();

test('toolsByHost: the control node, the replica hosts, the ctlr pair and the manticore nodes get the paths their runbooks run there', () => {
  const config = parseConfig(lab.config, lab.configPath);
  const byHost = toolsByHost(config);
  const keys = (h: string) => (byHost.get(h) ?? []).map((n) => n.key).sort();
  assert.deepEqual(keys(CONTROL), ['ic', 'imUtils', 'kubectl', 'orchTopo']);
  assert.deepEqual(keys(WRONG_KEY), ['cleanKustReplica', 'cleanTntReplica', 'ic', 'systemctl']);
  assert.ok(keys('vkt03').includes('imDeployer') && keys('vkt03').includes('nc') && !keys(WRONG_KEY).includes('imDeployer'));
  assert.ok(keys('mc-a').includes('manticoreNewCluster') && keys('mc-a').includes('mysql'));
  // Without a ctlr or manticore section those runbooks do not count.
  const bare = parseConfig({ ...lab.config, ctlr: undefined, manticore: undefined }, lab.configPath);
  const bareKeys = (toolsByHost(bare).get('vkt03') ?? []).map((n) => n.key).sort();
  assert.deepEqual(bareKeys, ['cleanKustReplica', 'cleanTntReplica', 'ic', 'systemctl']);
  assert.ok((byHost.get(WRONG_KEY) ?? []).every((n) => n.asReplica));
});

test('a healthy lab: every check passes and medic doctor exits 0', async () => {
  const { code, results, stderr } = await doctorJson(lab.configPath);
  assert.deepEqual(failures(results), [], JSON.stringify(results.filter((r) => !r.ok), null, 2));
  assert.equal(code, 0, stderr);
  const checks = new Set(results.map((r) => `${r.check} ${r.host ?? '-'}`));
  for (const host of Object.keys(lab.nodes)) {
    assert.ok(checks.has(`ssh ${host}`), `ssh ${host}`);
    assert.ok(checks.has(`tool ${host}`), `tool ${host}`);
  }
  for (const c of ['ctlr-conf vkt03', 'ctlr-conf vkt04', 'temporal -', 'namespace -', 'search-attributes -']) assert.ok(checks.has(c), c);
  // The table: the same verdict, read by a human.
  const table = await medic(['doctor', '--config', lab.configPath]);
  assert.equal(table.code, 0, table.stdout + table.stderr);
  assert.match(table.stdout, new RegExp(`all ${results.length} checks passed`));
  assert.doesNotMatch(table.stdout, /FAIL/);
});

test('planted faults (a wrong pinned host key, a missing tool): exactly those failures, each with its fix, exit 1', async () => {
  const file = configWith('faults', (c) => {
    c.inventory.hosts[WRONG_KEY].hostKey = strangerHostKey;
    c.paths.orchTopo = MISSING_TOOL;
  });
  const { code, results } = await doctorJson(file);
  assert.deepEqual(failures(results), [`ssh ${WRONG_KEY}`, `tool ${CONTROL}`], JSON.stringify(results.filter((r) => !r.ok), null, 2));
  assert.equal(code, 1);
  const key = results.find((r) => r.check === 'ssh' && r.host === WRONG_KEY);
  assert.match(key?.detail ?? '', /does not match/);
  assert.match(key?.fix ?? '', /--scan/);
  const tool = results.find((r) => r.check === 'tool' && r.host === CONTROL);
  assert.match(tool?.detail ?? '', new RegExp(`paths\\.orchTopo \\(${MISSING_TOOL}\\).*mysql-topology`));
  assert.ok(tool?.fix);
  const table = await medic(['doctor', '--config', file]);
  assert.equal(table.code, 1);
  assert.match(table.stdout, /^FAIL/);
  assert.match(table.stdout, /2 of \d+ checks failed/);
});

test('Temporal: a namespace that does not exist, and a server that does not answer, are failures of their own', async () => {
  const missing = await doctorJson(lab.configPath, [], { ...env(), TEMPORAL_NAMESPACE: 'no-such-namespace' });
  assert.deepEqual(failures(missing.results), ['namespace -']);
  assert.equal(missing.code, 1);
  assert.match(missing.results.find((r) => r.check === 'namespace')?.fix ?? '', /namespace create no-such-namespace/);
  const down = await doctorJson(lab.configPath, [], { ...env(), TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` });
  assert.deepEqual(failures(down.results), ['temporal -']);
  assert.equal(down.code, 1);
});

/** The lab's config with SUDO_HOST logging in as the lab's unprivileged user with `sudo: true`. */
function withSudoHost(c: LabConfig): void {
  c.inventory.hosts[SUDO_HOST].user = (sudo as LabSudo).user;
  c.inventory.hosts[SUDO_HOST].sudo = true;
}

test('a sudo host (unprivileged login, a NOPASSWD rule of exactly the tool paths): the sudo check and its tool checks pass, exit 0', async () => {
  const file = configWith('sudo-healthy', withSudoHost);
  const { code, results, stderr } = await doctorJson(file);
  assert.deepEqual(failures(results), [], JSON.stringify(results.filter((r) => !r.ok), null, 2));
  assert.equal(code, 0, stderr);
  const of = (check: string) => results.find((r) => r.check === check && r.host === SUDO_HOST);
  assert.match(of('ssh')?.detail ?? '', new RegExp(`^${LAB_SUDO_USER}@`));
  assert.equal(of('sudo')?.ok, true);
  // The tool checks ran (as `sudo -n -l <path>`) and found every path the manticore runbook runs on it.
  assert.match(of('tool')?.detail ?? '', /tool paths found \(.*manticoreNewCluster/);
  // The same tool checks find a path outside the rule: one tool failure, the sudo check still passes.
  const s = sudo as LabSudo;
  const mysql = labPath('mysql');
  s.setRule({ paths: toolPaths.filter((p) => p !== mysql) });
  try {
    const narrow = await doctorJson(file);
    assert.deepEqual(failures(narrow.results), [`tool ${SUDO_HOST}`], JSON.stringify(narrow.results.filter((r) => !r.ok), null, 2));
    const tool = narrow.results.find((r) => r.check === 'tool' && r.host === SUDO_HOST && !r.ok);
    assert.match(tool?.detail ?? '', new RegExp(`paths\\.mysql \\(${mysql}\\).*not allowed or not found by sudo`));
    assert.match(tool?.fix ?? '', /sudoers rule/);
    assert.equal(narrow.code, 1);
  } finally {
    s.setRule({ paths: toolPaths });
  }
});

test('planted faults: wrong host key, missing tool AND a broken sudo rule give exactly three failures, each with its fix, exit 1', async () => {
  const s = sudo as LabSudo;
  // The rule lacks NOPASSWD: `sudo -n` refuses everything (it would ask for a password).
  s.setRule({ paths: toolPaths, nopasswd: false });
  try {
    const file = configWith('faults-sudo', (c) => {
      c.inventory.hosts[WRONG_KEY].hostKey = strangerHostKey;
      c.paths.orchTopo = MISSING_TOOL;
      withSudoHost(c);
    });
    const { code, results } = await doctorJson(file);
    assert.deepEqual(failures(results), [`ssh ${WRONG_KEY}`, `sudo ${SUDO_HOST}`, `tool ${CONTROL}`], JSON.stringify(results.filter((r) => !r.ok), null, 2));
    assert.equal(code, 1);
    for (const r of results.filter((x) => !x.ok)) assert.ok(r.fix, `${r.check} ${r.host ?? '-'} has no fix`);
    // The login itself worked; sudo's own answer is shown, and the fix says NOPASSWD.
    assert.equal(results.find((r) => r.check === 'ssh' && r.host === SUDO_HOST)?.ok, true);
    const bad = results.find((r) => r.check === 'sudo' && r.host === SUDO_HOST);
    assert.match(bad?.detail ?? '', /a password is required/);
    assert.match(bad?.fix ?? '', new RegExp(`${LAB_SUDO_USER} ALL=\\(root\\) NOPASSWD`));
    // Its tool checks were skipped (they would all fail for the same reason), not reported as failures.
    assert.equal(results.filter((r) => r.check === 'tool' && r.host === SUDO_HOST).length, 0);
    const table = await medic(['doctor', '--config', file]);
    assert.equal(table.code, 1);
    assert.match(table.stdout, /3 of \d+ checks failed/);
    assert.equal(table.stdout.match(/^ {6}fix: /gm)?.length, 3, table.stdout);
  } finally {
    s.setRule({ paths: toolPaths });
  }
});

test('--notify: the notification URL gets a test message in the notify shape; an endpoint that refuses it is a failure', async () => {
  const bodies: unknown[] = [];
  let status = 204;
  const hook = http.createServer((req, res) => {
    let b = '';
    req.on('data', (d: Buffer) => (b += d.toString()));
    req.on('end', () => {
      bodies.push({ method: req.method, type: req.headers['content-type'], body: JSON.parse(b) as unknown });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(hook.address() as net.AddressInfo).port}/hook/secret-token`;
    const file = configWith('notify', (c) => (c.notifications = { url }));
    const good = await doctorJson(file, ['--notify']);
    assert.equal(good.code, 0, JSON.stringify(good.results.filter((r) => !r.ok)));
    assert.equal(bodies.length, 1);
    const got = bodies[0] as { method: string; type: string; body: Record<string, unknown> };
    assert.equal(got.method, 'POST');
    assert.equal(got.type, 'application/json');
    for (const k of ['text', 'kind', 'runId', 'runbook', 'target', 'link']) assert.equal(typeof got.body[k], 'string', k);
    // Without --notify nothing is sent.
    await doctorJson(file);
    assert.equal(bodies.length, 1);
    status = 500;
    const bad = await doctorJson(file, ['--notify']);
    assert.equal(bad.code, 1);
    assert.deepEqual(failures(bad.results), ['notify -']);
    // The URL's path may hold a token: not shown.
    assert.doesNotMatch(JSON.stringify(bad.results), /secret-token/);
  } finally {
    hook.close();
  }
});

test('--scan prints known_hosts lines whose fingerprints are ssh-keygen\'s and that ssh-keygen -F finds; it trusts nothing', async () => {
  const node = 'vkt03';
  const { address, port } = lab.nodes[node];
  const pub = path.join(lab.dir, 'nodes', node, 'host_ed25519_key.pub');
  const expected = execFileSync('ssh-keygen', ['-lf', pub], { encoding: 'utf8' }).trim().split(/\s+/)[1];
  for (const target of [node, `${address}:${port}`]) {
    const r = await medic(['doctor', '--scan', target, '--config', lab.configPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Nothing is trusted/);
    const lines = r.stdout.split('\n');
    const keyLines = lines.filter((l) => l && !l.startsWith('#'));
    assert.equal(keyLines.length, 1, r.stdout);
    assert.equal(keyLines[0].split(' ').slice(1).join(' '), fs.readFileSync(pub, 'utf8').trim().split(/\s+/).slice(0, 2).join(' '));
    assert.ok(keyLines[0].startsWith(`[${address}]:${port} `));
    const comment = lines[lines.indexOf(keyLines[0]) + 1];
    assert.equal(comment.split(/\s+/)[2], expected, comment);
    const known = path.join(tmp, `known_hosts-${target.replace(/\W/g, '_')}`);
    fs.writeFileSync(known, `${keyLines[0]}\n`);
    const found = execFileSync('ssh-keygen', ['-F', `[${address}]:${port}`, '-f', known], { encoding: 'utf8' });
    assert.ok(found.includes(keyLines[0]), found);
  }
  // Nowhere to connect: said, exit 1.
  const none = await medic(['doctor', '--scan', `127.0.0.1:${await freePort()}`]);
  assert.equal(none.code, 1);
  assert.match(none.stdout, /no key received/);
});

test('the service says at start what the fast part of doctor finds (a wrong host key), after its API is up', async (t) => {
  const dataDir = path.join(tmp, 'service-data');
  const file = configWith('service', (c) => {
    c.service = { ...c.service, dataDir };
    c.inventory.hosts[WRONG_KEY].hostKey = strangerHostKey;
  });
  const child: ChildProcess = spawn(process.execPath, [MAIN, '--config', file], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /^medic: doctor: .*$/m.exec(out);
      if (m) resolve(m[0]);
    });
    void exited.then(() => reject(new Error(`medic exited before the doctor line:\n${out}`)));
  });
  assert.ok(line.startsWith(`medic: doctor: ${WRONG_KEY}: `), line);
  assert.match(line, /does not match/);
  assert.ok(out.indexOf('medic: API ') >= 0 && out.indexOf('medic: API ') < out.indexOf('medic: doctor:'), out);
  // One line per failure: the healthy hosts say nothing.
  child.kill('SIGTERM');
  await exited;
  assert.equal(out.match(/^medic: doctor:/gm)?.length, 1, out);
});
