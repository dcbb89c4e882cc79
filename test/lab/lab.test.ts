// The lab itself: real sshds, pinned host keys, exact tool output, shared state, command log, faults.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { labUp, type LabHandle } from '../../lab/lab';
import { LabSsh, waitFor } from './lab-ssh';

const CONTROL = 'vkt-control-01';
const SLAVE = 'vkt-4vm-879-standart-02';
const MAIN = 'vkt-4vm-879-standart-01';

describe('lab: kust-replfailed over real sshd', () => {
  let lab: LabHandle;
  let ssh: LabSsh;

  before(async () => {
    lab = await labUp({ scenario: 'kust-replfailed', extraConfig: { ssh: { commandTimeoutSeconds: 7 } } });
    ssh = new LabSsh(lab.configPath);
  });
  after(async () => {
    await ssh?.close();
    await lab?.down();
  });

  test('starts quickly, writes the service config and binds only loopback', () => {
    assert.ok(lab.startupMs < 5000, `startup took ${lab.startupMs} ms`);
    const cfg = ssh.config as unknown as Record<string, Record<string, unknown>>;
    assert.equal(cfg.inventory.controlNode, CONTROL);
    for (const [name, h] of Object.entries(ssh.config.inventory.hosts)) {
      assert.match(h.address, /^127\./, name);
      assert.equal(h.address, lab.nodes[name].address);
      assert.equal(h.port, lab.nodes[name].port);
      assert.match(h.hostKey, /^ssh-ed25519 [A-Za-z0-9+/=]+$/);
      assert.equal(h.user, 'root');
    }
    assert.ok(ssh.config.inventory.hosts.onpremise, 'the srv host "onpremise" is an inventory node');
    assert.deepEqual((cfg.ctlr as { nodes: string[] }).nodes, ['vkt03', 'vkt04']);
    assert.equal(ssh.path('ctlrConf'), '/usr/local/etc/ctlr-1.conf');
    assert.equal(ssh.path('ctlrData'), '/data/ctlr-1');
    for (const key of ['ic', 'cleanKustReplica', 'cleanTntReplica', 'orchTopo', 'imUtils', 'kubectl', 'systemctl', 'nc', 'cat', 'mv', 'cp', 'mkdir', 'chown', 'imDeployer', 'ctlrTopoCheck', 'manticoreNewCluster', 'mysql']) {
      const p = ssh.path(key);
      assert.ok(p.startsWith(path.join(lab.dir, 'bin') + '/'), key);
      assert.ok(fs.statSync(p).mode & 0o100, `${key} is executable`);
    }
    assert.equal((cfg.ssh as Record<string, number>).commandTimeoutSeconds, 7, 'extraConfig is deep-merged');
    assert.equal((cfg.ssh as Record<string, number>).maxConcurrentPerHost, 4);
  });

  test('refuses a host whose key does not match the pinned one', async () => {
    const other = ssh.config.inventory.hosts[MAIN].hostKey;
    await assert.rejects(ssh.connect(CONTROL, { hostKey: other }));
  });

  test('ic map cox prints the exact map', async () => {
    const r = await ssh.run(CONTROL, 'ic', 'map', 'cox');
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      [
        'node cox-1 (2147483648 buckets)',
        '  srv cox.vkt-4vm-879-standart-01.cox-1 10.32.0.1:2510 alive main',
        '  srv cox.vkt-4vm-879-standart-02.cox-1 10.32.96.0:2510 alive slave',
        'node cox-2 (2147483648 buckets)',
        '  srv cox.vkt-4vm-879-standart-02.cox-2 10.32.96.0:2511 alive main',
        '  srv cox.vkt-4vm-879-standart-01.cox-2 10.32.0.1:2511 alive slave',
        '',
      ].join('\n'),
    );
    assert.equal(r.stderr, '');
  });

  test('clean_kust_replica.sh on a host without that slave fails like the real script', async () => {
    const onMain = await ssh.run(MAIN, 'cleanKustReplica', 'cox-1');
    assert.equal(onMain.code, 1);
    assert.match(onMain.stderr, /ERROR: cox-1 is main on this host/);
    const onControl = await ssh.run(CONTROL, 'cleanKustReplica', 'cox-1');
    assert.equal(onControl.code, 1);
    assert.match(onControl.stderr, /not configured on this host \(vkt-control-01\)/);
    const unknown = await ssh.run(SLAVE, 'cleanKustReplica', 'badger-3');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /not a KUST instance/);
    assert.equal(lab.state().maps.cox.blocks[0].srvs[1].repl, 'replfailed', 'nothing changed');
  });

  test('clean_kust_replica.sh on the slave host repairs the replica and is logged', async () => {
    const r = await ssh.run(SLAVE, 'cleanKustReplica', 'cox-1');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.ok(lines.filter((l) => l.startsWith('INFO: deleting ')).length >= 3);
    assert.deepEqual(lines.slice(-2), ['INFO: starting cox-1', 'INFO: successfully started cox-1']);
    assert.equal(lab.state().maps.cox.blocks[0].srvs[1].repl, 'ok');
    const last = lab.log().at(-1)!;
    assert.equal(last.node, SLAVE);
    assert.equal(last.tool, 'clean_kust_replica.sh');
    assert.deepEqual(last.argv, ['cox-1']);
    assert.equal(last.exitCode, 0);
    assert.ok(!Number.isNaN(Date.parse(last.time)));
  });

  test('the command log records every call with node, argv and exit code', () => {
    const log = lab.log();
    const cleans = log.filter((e) => e.tool === 'clean_kust_replica.sh');
    assert.deepEqual(
      cleans.map((e) => [e.node, e.exitCode]),
      [
        [MAIN, 1],
        [CONTROL, 1],
        [SLAVE, 1],
        [SLAVE, 0],
      ],
    );
    assert.ok(log.some((e) => e.tool === 'ic' && e.node === CONTROL && e.argv.join(' ') === 'map cox' && e.exitCode === 0));
  });

  test('failTimes: the first N calls fail, then the real tool answers', async () => {
    lab.setState((s) => s.faults.push({ tool: 'ic', argsPrefix: ['map', 'fate'], failTimes: 2 }));
    const a = await ssh.run(CONTROL, 'ic', 'map', 'fate');
    const b = await ssh.run(CONTROL, 'ic', 'map', 'fate');
    const c = await ssh.run(CONTROL, 'ic', 'map', 'fate');
    const other = await ssh.run(CONTROL, 'ic', 'map', 'cox');
    assert.deepEqual([a.code, b.code, c.code, other.code], [1, 1, 0, 0]);
    assert.match(a.stderr, /simulated failure/);
    assert.equal(a.stdout, '');
    assert.match(c.stdout, /^autoflip: {2}enable\n/);
    assert.equal(lab.log().filter((e) => e.fault === 'failTimes').length, 2);
  });

  test('output fault: wrong output with exit 0, state untouched', async () => {
    lab.setState((s) => s.faults.push({ tool: 'clean_kust_replica.sh', node: MAIN, output: 'INFO: starting cox-2\nERROR: something odd\n', times: 1 }));
    lab.setState((s) => {
      s.maps.cox.blocks[1].srvs[1].repl = 'replfailed';
    });
    const r = await ssh.run(MAIN, 'cleanKustReplica', 'cox-2');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'INFO: starting cox-2\nERROR: something odd\n');
    assert.equal(lab.state().maps.cox.blocks[1].srvs[1].repl, 'replfailed');
    const again = await ssh.run(MAIN, 'cleanKustReplica', 'cox-2');
    assert.match(again.stdout, /INFO: successfully started cox-2\n$/);
    assert.equal(lab.state().maps.cox.blocks[1].srvs[1].repl, 'ok');
  });

  test('disconnect fault: partial output, then the channel closes without an exit status', async () => {
    lab.setState((s) => s.faults.push({ tool: 'orch_topo.sh', disconnect: true, times: 1 }));
    const r = await ssh.run(CONTROL, 'orchTopo');
    assert.equal(r.closedWithoutExit, true);
    assert.equal(r.code, null);
    assert.ok(r.stdout.length > 0 && !r.stdout.includes('\n'), `partial line, got ${JSON.stringify(r.stdout)}`);
    // The tool itself goes on after the drop; without withEffects it ends as SIGPIPE would end it, changing nothing.
    const e = await waitFor(() => lab.log().find((x) => x.tool === 'orch_topo.sh' && x.fault === 'disconnect'));
    assert.equal(e.exitCode, 141);
    // The next command reconnects and works.
    const next = await ssh.run(CONTROL, 'orchTopo');
    assert.equal(next.code, 0);
    assert.equal(next.stdout.split('\n').length, 7);
  });

  test('hang fault: never exits; closing the channel ends it (logged with exitCode null)', async () => {
    lab.setState((s) => s.faults.push({ tool: 'kubectl', hang: true, times: 1 }));
    const t0 = Date.now();
    const r = await ssh.exec(CONTROL, [ssh.path('kubectl'), '-n', 'files', 'get', 'po'], {
      onChannel: (ch) => setTimeout(() => ch.close(), 700),
    });
    assert.ok(Date.now() - t0 >= 650);
    // The tool notices the closed channel and ends; sshd may still relay its status (129) before closing.
    assert.notEqual(r.code, 0);
    const e = await waitFor(() => lab.log().find((x) => x.tool === 'kubectl' && x.fault === 'hang'), 5000);
    assert.equal(e.exitCode, null);
    const again = await ssh.run(CONTROL, 'kubectl', '-n', 'files', 'get', 'po');
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^NAME {3,}READY {3}STATUS {4}RESTARTS {3}AGE\n/);
  });

  test('slowMs delays the answer', async () => {
    lab.setState((s) => s.faults.push({ tool: 'ic', node: MAIN, slowMs: 400, times: 1 }));
    const t0 = Date.now();
    const r = await ssh.run(MAIN, 'ic', 'map', 'cox');
    assert.equal(r.code, 0);
    assert.ok(Date.now() - t0 >= 400);
  });

  test('a tool that is not installed on a node is "not found"', async () => {
    lab.setState((s) => {
      s.nodes.vkt03.tools = ['systemctl', 'cat'];
    });
    const r = await ssh.run('vkt03', 'ic', 'map', 'cox');
    assert.equal(r.code, 127);
    assert.match(r.stderr, /bin\/ic: No such file or directory/);
    assert.equal((await ssh.run('vkt03', 'systemctl', 'is-active', 'ctlr-1')).code, 0);
    lab.setState((s) => {
      delete s.nodes.vkt03.tools;
    });
  });

  test('concurrent commands from several nodes keep one consistent state and log', async () => {
    const before = lab.state().calls.systemctl ?? 0;
    const logged = lab.log().filter((e) => e.tool === 'systemctl').length;
    const nodes = [CONTROL, MAIN, SLAVE, 'vkt03', 'vkt04'];
    const runs = nodes.flatMap((n) => [0, 1, 2, 3].map(() => ssh.run(n, 'systemctl', 'is-active', 'ctlr-1')));
    const res = await Promise.all(runs);
    for (const [i, r] of res.entries()) {
      const n = nodes[Math.floor(i / 4)];
      if (n === 'vkt03' || n === 'vkt04') assert.deepEqual([r.code, r.stdout], [0, 'active\n']);
      else assert.deepEqual([r.code, r.stdout], [3, 'inactive\n']);
    }
    assert.equal(lab.state().calls.systemctl, before + 20);
    assert.equal(lab.log().filter((e) => e.tool === 'systemctl').length, logged + 20);
  });
});

describe('lab: lifecycle', () => {
  test('down() stops every sshd; a lab dir can be reused', async () => {
    const dir = fs.mkdtempSync('/tmp/medic-lab-test-');
    const a = await labUp({ scenario: 'healthy', dir });
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'lab.json'), 'utf8')) as { nodes: Record<string, { pid: number }> };
    const pids = Object.values(meta.nodes).map((n) => n.pid);
    assert.ok(pids.every((p) => fs.existsSync(`/proc/${p}`)));
    const b = await labUp({ scenario: 'autoflip-blocked', dir }); // stops and wipes the first one
    assert.equal(b.state().scenario, 'autoflip-blocked');
    await a.down();
    await b.down();
    const alive = (p: number): boolean => {
      try {
        return !/\) [ZX] /.test(fs.readFileSync(`/proc/${p}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    await waitFor(() => !pids.some(alive) || undefined, 3000);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
