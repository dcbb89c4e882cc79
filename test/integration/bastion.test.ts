/**
 * Jump hosts (issue 14, items 4 and 6) against real sshd: the lab's nodes run in a network namespace of
 * their own, reachable only through a bastion (lab/bastion.ts). Commands go through the bastion's pooled
 * connection; a direct connection fails; the bastion's and the nodes' host keys are checked; a bastion
 * that is down is named; a connection that stops answering is found dead by keep-alive and replaced,
 * together with the connections running through it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, test } from 'node:test';
import { SshError, SshPool } from '../../activities/ssh';
import { loadConfig } from '../../config/load';
import type { Config, HostConfig } from '../../config/schema';
import { bastionLabUp, sweepStaleBastionNamespaces, type BastionLabHandle } from '../../lab/bastion';
import { pidAlive } from '../../lab/store';
import { eventually } from '../helpers/temporal';

const BASTION = 'bastion-01';
const NODE_A = 'vkt-4vm-879-standart-01';
const NODE_B = 'vkt-4vm-879-standart-02';

let bl: BastionLabHandle;
let config: Config;
before(async () => {
  bl = await bastionLabUp({ scenario: 'kust-replfailed', bastionName: BASTION, extraConfig: { ssh: { connectTimeoutSeconds: 5 } } });
  config = loadConfig(bl.configPath);
});
after(async () => {
  await bl?.down();
});

/** The config with some hosts changed (a key, a jump, a port). */
function withHosts(patch: Record<string, Partial<HostConfig> & { jump?: string | undefined }>, ssh: Partial<Config['ssh']> = {}): Config {
  const hosts = { ...config.inventory.hosts };
  for (const [name, p] of Object.entries(patch)) hosts[name] = { ...hosts[name], ...p };
  return { ...config, ssh: { ...config.ssh, ...ssh }, inventory: { ...config.inventory, hosts } };
}

const icMap = () => ({ argv: [config.paths.ic, 'map', 'cox'] });
const ranOn = (node: string): number => bl.lab.log().filter((e) => e.node === node && e.tool === 'ic').length;

async function rejection(p: Promise<unknown>): Promise<SshError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SshError, `not an SshError: ${String(err)}`);
    return err;
  }
  assert.fail('the command ran');
}

test('the lab config puts every node behind the bastion', () => {
  assert.equal(config.inventory.hosts[NODE_A].jump, BASTION);
  assert.equal(config.inventory.hosts[BASTION].jump, undefined);
  assert.equal(config.inventory.hosts[BASTION].address, bl.bastion.address);
});

test('through the bastion a lab command runs on the node; the direct connection to the node fails', async () => {
  const pool = new SshPool(config);
  try {
    const before = ranOn(NODE_A);
    const r = await pool.exec(NODE_A, icMap());
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /srv cox\.vkt-4vm-879-standart-02\.cox-1 10\.32\.96\.0:2510 alive slave/);
    assert.equal(ranOn(NODE_A), before + 1, 'the lab logged the call on the node');
  } finally {
    pool.close();
  }
  const direct = new SshPool(withHosts({ [NODE_A]: { jump: undefined } }));
  try {
    const err = await rejection(direct.exec(NODE_A, icMap()));
    assert.equal(err.kind, 'connect');
    const { address, port } = bl.nodes[NODE_A];
    assert.match(err.message, new RegExp(`^cannot connect to ${NODE_A} \\(${address.replace(/\./g, '\\.')}:${port}\\): .*ECONNREFUSED`));
  } finally {
    direct.close();
  }
});

test('commands on two nodes behind the bastion and on the bastion itself share one bastion connection', async () => {
  const pool = new SshPool(config);
  try {
    const [a, b, own] = await Promise.all([pool.exec(NODE_A, icMap()), pool.exec(NODE_B, icMap()), pool.exec(BASTION, { argv: ['/bin/echo', 'on-the-bastion'] })]);
    assert.equal(a.exitCode, 0, a.stderr);
    assert.equal(b.exitCode, 0, b.stderr);
    assert.equal(own.stdout.trim(), 'on-the-bastion');
    assert.equal(bl.connectionsTo(BASTION).length, 1, 'one TCP connection from the service to the bastion');
    assert.equal(bl.connectionsTo(NODE_A).length, 1);
    assert.equal(bl.connectionsTo(NODE_B).length, 1);
    // Again: the same connections, nothing new opened.
    const ports = bl.connectionsTo(BASTION);
    await Promise.all([pool.exec(NODE_A, icMap()), pool.exec(NODE_B, icMap())]);
    assert.deepEqual(bl.connectionsTo(BASTION), ports);
  } finally {
    pool.close();
  }
});

test('a chain: a node reached through another node that is itself behind the bastion', async () => {
  const pool = new SshPool(withHosts({ [NODE_A]: { jump: NODE_B } }));
  try {
    const r = await pool.exec(NODE_A, icMap());
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(bl.connectionsTo(BASTION).length, 1);
  } finally {
    pool.close();
  }
});

test('a node behind the bastion whose host key does not match is refused, as a direct one is', async () => {
  const pool = new SshPool(withHosts({ [NODE_A]: { hostKey: config.inventory.hosts[NODE_B].hostKey } }));
  try {
    const before = ranOn(NODE_A);
    const err = await rejection(pool.exec(NODE_A, icMap()));
    assert.equal(err.kind, 'host-key');
    assert.match(err.message, new RegExp(`^host key of ${NODE_A} \\(.*\\) does not match the pinned key`));
    assert.equal(ranOn(NODE_A), before, 'nothing ran');
    // The bastion's connection is fine and stays usable.
    assert.equal((await pool.exec(NODE_B, icMap())).exitCode, 0);
  } finally {
    pool.close();
  }
});

test("the bastion's own host key is verified: a mismatch is a host-key refusal naming the jump host", async () => {
  const pool = new SshPool(withHosts({ [BASTION]: { hostKey: config.inventory.hosts[NODE_B].hostKey } }));
  try {
    const err = await rejection(pool.exec(NODE_A, icMap()));
    assert.equal(err.kind, 'host-key');
    assert.match(err.message, new RegExp(`^cannot reach ${NODE_A} through jump host ${BASTION} \\(${bl.bastion.address.replace(/\./g, '\\.')}:22\\): the jump host's host key was refused: host key of ${BASTION} `));
  } finally {
    pool.close();
  }
});

test('a node whose sshd the bastion cannot reach: the error says the jump host could not connect to it', async () => {
  const pool = new SshPool(withHosts({ [NODE_A]: { port: bl.nodes[NODE_A].port + 1 } }));
  try {
    const err = await rejection(pool.exec(NODE_A, icMap()));
    assert.equal(err.kind, 'connect');
    assert.match(err.message, new RegExp(`^cannot reach ${NODE_A} \\(.*\\) through jump host ${BASTION} \\(.*\\): the jump host could not connect to it: `));
  } finally {
    pool.close();
  }
});

test('keep-alive: a bastion that stops answering is found dead, and the next command runs on new connections', async () => {
  const pool = new SshPool(withHosts({}, { keepaliveIntervalSeconds: 1, keepaliveCountMax: 2 }));
  let frozen: number[] = [];
  try {
    assert.equal((await pool.exec(NODE_A, icMap())).exitCode, 0);
    const bastionBefore = bl.connectionsTo(BASTION);
    const nodeBefore = bl.connectionsTo(NODE_A);
    assert.equal(bastionBefore.length, 1);
    assert.equal(nodeBefore.length, 1);
    // The session processes serving our connection stop (the listener goes on): the TCP connection stays
    // up, the SSH connection answers nothing, as a hung host or a dead link behind a NAT.
    frozen = bl.sshdPids(BASTION).slice(1);
    assert.ok(frozen.length > 0);
    for (const p of frozen) process.kill(p, 'SIGSTOP');
    // Keep-alive finds it dead and the pool closes it (nothing else would: no command is running).
    await eventually(async () => bl.connectionsTo(BASTION), (ports) => ports.length === 0, 30_000);
    for (const p of frozen) process.kill(p, 'SIGKILL');
    await eventually(async () => frozen.filter(pidAlive), (alive) => alive.length === 0);
    const r = await pool.exec(NODE_A, icMap());
    assert.equal(r.exitCode, 0, r.stderr);
    const bastionAfter = bl.connectionsTo(BASTION);
    const nodeAfter = bl.connectionsTo(NODE_A);
    assert.equal(bastionAfter.length, 1);
    assert.ok(!bastionBefore.includes(bastionAfter[0]), 'a new connection to the bastion');
    assert.equal(nodeAfter.length, 1);
    assert.ok(!nodeBefore.includes(nodeAfter[0]), 'a new connection to the node through it');
  } finally {
    for (const p of frozen.filter(pidAlive)) process.kill(p, 'SIGKILL');
    pool.close();
  }
});

// Last: the bastion does not come back.
test('a bastion that is down: the error names the jump host and its address', async () => {
  await bl.stopBastion();
  const pool = new SshPool(config);
  try {
    const err = await rejection(pool.exec(NODE_A, icMap()));
    assert.equal(err.kind, 'connect');
    assert.match(err.message, new RegExp(`^cannot reach ${NODE_A} through jump host ${BASTION} \\(${bl.bastion.address.replace(/\./g, '\\.')}:22\\): cannot connect to ${BASTION} .*ECONNREFUSED`));
  } finally {
    pool.close();
  }
});

test('down() removes the namespace, its veth and the sshds in it', async () => {
  const ns = bl.netns;
  const pids = [...bl.sshdPids(NODE_A), ...bl.sshdPids(NODE_B)];
  assert.ok(pids.length > 0 && pids.every(pidAlive));
  await bl.down();
  assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(ns));
  assert.ok(!execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }).includes(bl.veth), 'the veth went with the namespace');
  await eventually(async () => pids.filter(pidAlive), (alive) => alive.length === 0);
});

test("a namespace left by a killed earlier run (its creator's pid is gone) is swept", async () => {
  const dead = spawn('/bin/true');
  await once(dead, 'exit');
  const ns = `medic-bst-${dead.pid}-abc123`;
  execFileSync('ip', ['netns', 'add', ns]);
  const inside = spawn('ip', ['netns', 'exec', ns, 'sleep', '600'], { stdio: 'ignore' });
  try {
    await eventually(async () => execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }), (out) => out.trim() !== '');
    const ours = `medic-bst-${process.pid}-def456`; // a live creator: kept
    execFileSync('ip', ['netns', 'add', ours]);
    try {
      const swept = sweepStaleBastionNamespaces();
      assert.ok(swept.includes(ns));
      assert.ok(!swept.includes(ours));
      const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
      assert.ok(!list.includes(ns));
      assert.ok(list.includes(ours));
      await once(inside, 'exit');
    } finally {
      execFileSync('ip', ['netns', 'del', ours]);
    }
  } finally {
    inside.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

test('a run killed by SIGKILL leaves no namespace behind (its watchdog removes it)', async () => {
  const mod = path.join(__dirname, '..', '..', 'lab', 'bastion.js');
  const script = `require(${JSON.stringify(mod)}).bastionLabUp({ scenario: 'healthy' }).then((h) => { console.log(JSON.stringify({ ns: h.netns, dir: h.lab.dir })); setInterval(() => {}, 1e6); })`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let made: { ns: string; dir: string } | undefined;
  try {
    const [line] = (await once(readline.createInterface({ input: child.stdout! }), 'line')) as [string];
    made = JSON.parse(line) as { ns: string; dir: string };
    assert.ok(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(made.ns));
    child.kill('SIGKILL');
    await eventually(async () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), (list) => !list.includes(made!.ns));
  } finally {
    child.kill('SIGKILL');
    if (made) {
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      sweepStaleBastionNamespaces(); // its creator is dead: kills what is left in it, if the watchdog did not
      fs.rmSync(made.dir, { recursive: true, force: true });
    }
  }
});
