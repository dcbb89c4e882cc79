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
import { freePort, labUp, LabHandle, REPO_ROOT } from '../../lab/lab';
import { temporalBinaries } from '../../worker/binaries';
import { DevServer, startDevServer } from '../../worker/devserver';

const CLI = path.join(REPO_ROOT, 'dist', 'client', 'cli.js');
const MAIN = path.join(REPO_ROOT, 'dist', 'worker', 'main.js');
const CONTROL = 'vkt-control-01';
/** The host whose pinned key is planted wrong. */
const WRONG_KEY = 'vkt-4vm-879-standart-02';
/** The host whose sudo rule is planted broken (once sudo support is in the pool and the lab). */
const SUDO_HOST = 'mc-b';
const MISSING_TOOL = '/nonexistent/medic-doctor/orch_topo.sh';

let lab: LabHandle;
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
});

after(async () => {
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

test(
  'planted faults with a broken sudo rule: exactly the three failures, exit 1',
  { todo: 'sudo support (issue 14 item 5: sudo -n in the pool, SshError kind sudo, sudo in the lab) is not on this branch' },
  async () => {
    const file = configWith('faults-sudo', (c) => {
      c.inventory.hosts[WRONG_KEY].hostKey = strangerHostKey;
      c.paths.orchTopo = MISSING_TOOL;
      // sudo on a host whose sudoers allows nothing without a password for the login user.
      c.inventory.hosts[SUDO_HOST].sudo = true;
    });
    const { code, results } = await doctorJson(file);
    assert.deepEqual(failures(results), [`ssh ${WRONG_KEY}`, `sudo ${SUDO_HOST}`, `tool ${CONTROL}`]);
    assert.equal(code, 1);
  },
);

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
