/** The SSH executor against real sshd (the lab): pinned host keys, timeouts, cancellation, caps, disconnects. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { commandLine, shellQuote, UnsafeArgumentError } from '../../activities/command-line';
import { CappedOutput } from '../../activities/output-buffer';
import { SshError, SshPool } from '../../activities/ssh';
import { loadConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import { LabHandle, labUp } from '../../lab/lab';

let lab: LabHandle;
let config: Config;
before(async () => {
  lab = await labUp({ scenario: 'kust-replfailed' });
  config = loadConfig(lab.configPath);
});
after(async () => {
  await lab?.down();
});

const CONTROL = 'vkt-control-01';
const ic = () => config.paths.ic;

test('command lines: every argument must pass SAFE_ARG and is single-quoted', () => {
  assert.equal(commandLine({ argv: ['/opt/bin/ic', 'map', 'cox'] }), `'/opt/bin/ic' 'map' 'cox'`);
  for (const bad of ['cox;reboot', 'a b', "it's", '$(id)', '`id`', 'a|b', 'x\ny', '', 'a>b', 'x'.repeat(513)]) {
    assert.throws(() => commandLine({ argv: ['ic', bad] }), UnsafeArgumentError, JSON.stringify(bad));
  }
  assert.equal(shellQuote("a'b"), `'a'\\''b'`);
});

test('output cap keeps the head and the tail', () => {
  const out = new CappedOutput(20);
  out.push(Buffer.from('0123456789'));
  out.push(Buffer.from('abcdefghij'.repeat(5)));
  out.push(Buffer.from('THE-END'));
  assert.equal(out.truncated, true);
  assert.match(out.text(), /^0123456789\n\[\.\.\. \d+ bytes omitted \.\.\.\]\n.*THE-END$/);
  assert.equal(out.text().endsWith('hijTHE-END'), true);
});

test('runs a command on an inventory host with the pinned key and returns exit code and output', async () => {
  const pool = new SshPool(config);
  try {
    const r = await pool.exec(CONTROL, { argv: [ic(), 'map', 'cox'] });
    assert.equal(r.exitCode, 0);
    assert.match(r.stdout, /srv cox\.vkt-4vm-879-standart-02\.cox-1 10\.32\.96\.0:2510 alive slave/);
    assert.equal(r.disconnected, false);
    const again = await pool.exec(CONTROL, { argv: [ic(), 'map', 'nosuchservice'] });
    assert.notEqual(again.exitCode, 0);
  } finally {
    pool.close();
  }
});

test('a host key that does not match the pinned one is refused; an unknown host is refused', async () => {
  const other = config.inventory.hosts['vkt-4vm-879-standart-01'].hostKey as string;
  const wrong: Config = { ...config, inventory: { ...config.inventory, hosts: { ...config.inventory.hosts, [CONTROL]: { ...config.inventory.hosts[CONTROL], hostKey: other } } } };
  const pool = new SshPool(wrong);
  try {
    await assert.rejects(pool.exec(CONTROL, { argv: [ic(), 'map', 'cox'] }), (err: Error) => err instanceof SshError && err.kind === 'host-key' && /does not match the pinned key/.test(err.message));
    await assert.rejects(pool.exec('10.32.0.1', { argv: ['true'] }), (err: Error) => err instanceof SshError && err.kind === 'unknown-host');
    await assert.rejects(pool.exec(CONTROL, { argv: [ic(), 'map', 'cox;reboot'] }), (err: Error) => err instanceof SshError && err.kind === 'unsafe-command');
  } finally {
    pool.close();
  }
  assert.equal(lab.log().filter((e) => e.argv.includes('cox;reboot')).length, 0);
});

test('a hanging command is stopped at its timeout; a cancelled one ends on the host', async () => {
  lab.setState((s) => s.faults.push({ tool: 'ic', argsPrefix: ['map', 'badger'], hang: true }));
  const pool = new SshPool(config);
  try {
    const r = await pool.exec(CONTROL, { argv: [ic(), 'map', 'badger'] }, { timeoutMs: 1000 });
    assert.equal(r.timedOut, true);
    assert.ok(r.durationMs >= 1000 && r.durationMs < 10_000, `${r.durationMs}`);

    const ac = new AbortController();
    const running = pool.exec(CONTROL, { argv: [ic(), 'map', 'badger'] }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 500);
    await assert.rejects(running, (err: Error) => err instanceof SshError && err.kind === 'cancelled');
    // The remote process ended: the lab logs a command when it exits.
    const deadline = Date.now() + 10_000;
    while (lab.log().filter((e) => e.argv[1] === 'badger').length < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    assert.equal(lab.log().filter((e) => e.argv[1] === 'badger').length, 2);
  } finally {
    pool.close();
    lab.setState((s) => (s.faults = []));
  }
});

test('a dropped connection is reported as such, and the next command reconnects', async () => {
  lab.setState((s) => s.faults.push({ tool: 'ic', argsPrefix: ['map', 'fate'], disconnect: true, times: 1 }));
  const pool = new SshPool(config);
  try {
    const r = await pool.exec(CONTROL, { argv: [ic(), 'map', 'fate'] });
    assert.equal(r.disconnected, true);
    assert.equal(r.exitCode, null);
    const next = await pool.exec(CONTROL, { argv: [ic(), 'map', 'cox'] });
    assert.equal(next.exitCode, 0);
  } finally {
    pool.close();
    lab.setState((s) => (s.faults = []));
  }
});

test('output is capped (head and tail kept) and at most maxConcurrentPerHost commands run at once on a host', async () => {
  const big = `${'first line\n'}${'x'.repeat(100_000)}\nINFO: last line\n`;
  lab.setState((s) => s.faults.push({ tool: 'ic', argsPrefix: ['map', 'big'], output: big }, { tool: 'ic', argsPrefix: ['map', 'slow'], slowMs: 400 }));
  const pool = new SshPool({ ...config, ssh: { ...config.ssh, outputCapBytes: 4096, maxConcurrentPerHost: 2 } });
  try {
    const r = await pool.exec(CONTROL, { argv: [ic(), 'map', 'big'] });
    assert.equal(r.truncated, true);
    assert.ok(r.stdout.length < 4200);
    assert.match(r.stdout, /^first line/);
    assert.match(r.stdout, /INFO: last line\n$/);

    await Promise.all(Array.from({ length: 6 }, () => pool.exec(CONTROL, { argv: [ic(), 'map', 'slow'] })));
    const spans = lab
      .log()
      .filter((e) => e.argv[1] === 'slow')
      .map((e) => ({ end: Date.parse(e.time), start: Date.parse(e.time) - (e.durationMs ?? 0) }));
    assert.equal(spans.length, 6);
    // The most commands running at one instant (a sweep over start/end points; ends sort first).
    const points = spans.flatMap((sp) => [{ t: sp.start, d: 1 }, { t: sp.end, d: -1 }]).sort((a, b) => a.t - b.t || a.d - b.d);
    let running = 0;
    let most = 0;
    for (const p of points) most = Math.max(most, (running += p.d));
    assert.equal(most, 2, `at most ${most} commands ran at once`);
  } finally {
    pool.close();
    lab.setState((s) => (s.faults = []));
  }
});
