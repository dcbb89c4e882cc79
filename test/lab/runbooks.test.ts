// Every runbook's commands, run by hand against the lab the way the service will run them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { labUp, type LabHandle } from '../../lab/lab';
import { LabSsh } from './lab-ssh';

const CONTROL = 'vkt-control-01';

async function withLab(scenario: string): Promise<{ lab: LabHandle; ssh: LabSsh; stop: () => Promise<void> }> {
  const lab = await labUp({ scenario });
  const ssh = new LabSsh(lab.configPath);
  return {
    lab,
    ssh,
    stop: async () => {
      await ssh.close();
      await lab.down();
    },
  };
}

describe('tarantool-replica', () => {
  let env: Awaited<ReturnType<typeof withLab>>;
  const SLAVE = 'vkt-4vm-675-standart-01';
  const MAIN = 'vkt-4vm-675-standart-02';
  const SLAVE_SRV = 'badger.vkt-4vm-675-standart-01.badger-3';
  before(async () => (env = await withLab('tarantool-broken')));
  after(() => env.stop());

  test('the map is tab-separated as in the original', async () => {
    const r = await env.ssh.run(CONTROL, 'ic', 'map', 'badger');
    assert.equal(r.code, 0);
    assert.ok(
      r.stdout.includes(
        'node\tbadger-3\t(268435456 buckets)\t\t\t\n' +
          'srv\tbadger.vkt-4vm-675-standart-01.badger-3\t\t10.32.0.1:2502\talive\tslave\n' +
          'srv\tbadger.vkt-4vm-675-standart-02.badger-3\t\t10.32.48.0:2502\talive\tmain\n',
      ),
      r.stdout,
    );
  });

  test('flipping before the replica is repaired is refused', async () => {
    const r = await env.ssh.run(SLAVE, 'ic', 'flip', SLAVE_SRV);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not ready to become main/);
  });

  test('clean, check units, flip, check map, restart the former main', async () => {
    const wrong = await env.ssh.run(MAIN, 'cleanTntReplica', 'badger-3');
    assert.equal(wrong.code, 1);

    const clean = await env.ssh.run(SLAVE, 'cleanTntReplica', 'badger-3');
    assert.equal(clean.code, 0, clean.stderr);
    assert.deepEqual(clean.stdout.trimEnd().split('\n').slice(-5), [
      'INFO: starting tarantool instance tarantool@badger-3',
      'INFO: successfully started tarantool@badger-3',
      'INFO: waiting 10 seconds',
      'INFO: starting IPROS instance badger-3',
      'INFO: successfully started badger-3',
    ]);
    const units = await env.ssh.run(SLAVE, 'systemctl', 'is-active', 'tarantool@badger-3', 'badger-3');
    assert.deepEqual([units.code, units.stdout], [0, 'active\nactive\n']);

    const flip = await env.ssh.run(SLAVE, 'ic', 'flip', SLAVE_SRV);
    assert.equal(flip.code, 0);
    assert.match(flip.stdout, /started/);
    assert.match(flip.stdout, /^OK$/m);

    const map = await env.ssh.run(SLAVE, 'ic', 'map', 'badger');
    assert.match(map.stdout, /srv\tbadger\.vkt-4vm-675-standart-01\.badger-3\t\t10\.32\.0\.1:2502\talive\tmain\n/);
    assert.match(map.stdout, /srv\tbadger\.vkt-4vm-675-standart-02\.badger-3\t\t10\.32\.48\.0:2502\talive\tslave\n/);

    const restart = await env.ssh.run(MAIN, 'systemctl', 'restart', 'tarantool@badger-3', 'badger-3');
    assert.deepEqual([restart.code, restart.stdout, restart.stderr], [0, '', '']);
    const actions = env.lab
      .log()
      .filter((e) => e.exitCode === 0 && (e.tool === 'clean_tnt_replica.sh' || (e.tool === 'ic' && e.argv[0] === 'flip') || (e.tool === 'systemctl' && e.argv[0] === 'restart')))
      .map((e) => `${e.node} ${e.tool} ${e.argv.join(' ')}`);
    assert.deepEqual(actions, [`${SLAVE} clean_tnt_replica.sh badger-3`, `${SLAVE} ic flip ${SLAVE_SRV}`, `${MAIN} systemctl restart tarantool@badger-3 badger-3`]);
  });

  test('unknown units behave like systemctl', async () => {
    const r = await env.ssh.run(MAIN, 'systemctl', 'restart', 'nope');
    assert.equal(r.code, 5);
    assert.equal(r.stderr, 'Failed to restart nope.service: Unit nope.service not found.\n');
  });
});

describe('tarantool-units-dead', () => {
  test('the IPROS unit is failed right after a successful clean', async () => {
    const env = await withLab('tarantool-units-dead');
    try {
      const clean = await env.ssh.run('vkt-4vm-675-standart-01', 'cleanTntReplica', 'badger-3');
      assert.equal(clean.code, 0);
      const units = await env.ssh.run('vkt-4vm-675-standart-01', 'systemctl', 'is-active', 'tarantool@badger-3', 'badger-3');
      assert.deepEqual([units.code, units.stdout], [3, 'active\nfailed\n']);
    } finally {
      await env.stop();
    }
  });
});

describe('autoflip', () => {
  test('blocked map -> set_autoflip enable -> enabled map (exact texts of the original)', async () => {
    const env = await withLab('autoflip-blocked');
    try {
      const before = await env.ssh.run(CONTROL, 'ic', 'map', 'fate');
      assert.equal(
        before.stdout,
        [
          'autoflip:  disable  due  to  previous  autoflip  -  have  to  unset  manually',
          '[ALERT]',
          'node 01      (4294967296  buckets)',
          '  srv  fate.onpremise.fate-1  10.32.0.1:2517  dead  slave  lastseen:',
          '2025-08-14/14:09:05',
          '  srv  fate.onpremise.fate-2  10.32.0.1:2553  alive  main',
          '',
        ].join('\n'),
      );
      const check = await env.ssh.run('vkt03', 'ctlrTopoCheck');
      assert.equal(check.stdout, '2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [fate]\n');
      const set = await env.ssh.run(CONTROL, 'ic', 'set_autoflip', 'fate', 'enable');
      assert.equal(set.code, 0);
      const afterMap = await env.ssh.run(CONTROL, 'ic', 'map', 'fate');
      assert.equal(
        afterMap.stdout,
        [
          'autoflip:  enable',
          'node  01    (4294967296  buckets)',
          '  srv  fate.onpremise.fate-1    10.32.0.1:2517  alive  slave',
          '  srv  fate.onpremise.fate-2    10.32.0.1:2553  alive  main',
          '',
        ].join('\n'),
      );
      const ok = await env.ssh.run('vkt03', 'ctlrTopoCheck');
      assert.equal(ok.stdout, '0 ctlr_topo_check - ctlr topology is OK\n');
    } finally {
      await env.stop();
    }
  });
});

describe('mysql-topology', () => {
  const R1 = 'files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306';
  const POD1 = 'files-mysql-mysql-cluster-im-db-mysql-1';

  test('broken replica: reup, pod phases, healed topology', async () => {
    const env = await withLab('mysql-broken-replica');
    try {
      const topo = await env.ssh.run(CONTROL, 'orchTopo');
      assert.equal(
        topo.stdout.split('\n').slice(0, 2).join('\n'),
        'files-mysql-mysql-cluster-im-db-mysql-0.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-0) [0s,ok,8.0.27-18,rw,ROW,>>,GTID]\n' +
          '- files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-1) [null,nonreplicating,8.0.27-18,ro,ROW,>>,GTID:errant]',
      );
      const master = await env.ssh.run(CONTROL, 'imUtils', '--reup-mysql-replica', 'files-mysql-mysql-cluster-im-db-mysql-0.mysql.files:3306');
      assert.equal(master.code, 1);
      const reup = await env.ssh.run(CONTROL, 'imUtils', '--reup-mysql-replica', R1);
      assert.equal(reup.code, 0);
      const lines = reup.stdout.trimEnd().split('\n');
      assert.equal(lines.length, 5);
      for (const l of lines) assert.match(l, /^\d\d [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \d+ \| (INFO|WARN) \| \S+ > .* \|$/);
      assert.match(lines[3], /> deleting pvc files:data-files-mysql-mysql-cluster-im-db-mysql-1 \|$/);
      assert.match(lines[4], /> deleting pod files:files-mysql-mysql-cluster-im-db-mysql-1 \|$/);

      const phases: string[] = [];
      for (let i = 0; i < 5; i++) {
        const po = await env.ssh.run(CONTROL, 'kubectl', '-n', 'files', 'get', 'po');
        const row = po.stdout.split('\n').find((l) => l.startsWith(POD1 + ' '))!;
        const [, ready, status] = row.split(/\s+/);
        phases.push(`${ready} ${status}`);
      }
      assert.deepEqual(phases, ['0/5 Pending', '0/5 Init:0/2', '2/5 Running', '5/5 Running', '5/5 Running']);
      const healed = await env.ssh.run(CONTROL, 'orchTopo');
      assert.match(healed.stdout, /^\+ files-mysql-mysql-cluster-im-db-mysql-1\.mysql\.files:3306 \(files-mysql-mysql-cluster-im-db-mysql-1\) \[0s,ok,8\.0\.27-18,ro,ROW,>>,GTID\]$/m);
    } finally {
      await env.stop();
    }
  });

  test('a pod stuck in Init keeps the replica broken', async () => {
    const env = await withLab('mysql-reup-stuck');
    try {
      await env.ssh.run(CONTROL, 'imUtils', '--reup-mysql-replica', R1);
      let last = '';
      for (let i = 0; i < 5; i++) last = (await env.ssh.run(CONTROL, 'kubectl', '-n', 'files', 'get', 'po')).stdout;
      assert.match(last, /files-mysql-mysql-cluster-im-db-mysql-1 +0\/5 +Init:0\/2 /);
      assert.match((await env.ssh.run(CONTROL, 'orchTopo')).stdout, /^- files-mysql-mysql-cluster-im-db-mysql-1\S+ \(\S+\) \[unknown,invalid,/m);
    } finally {
      await env.stop();
    }
  });

  test('errant transactions: cleared once, or never (persistent)', async () => {
    for (const [scenario, cleared] of [
      ['mysql-errant', true],
      ['mysql-errant-persistent', false],
    ] as const) {
      const env = await withLab(scenario);
      try {
        assert.match((await env.ssh.run(CONTROL, 'orchTopo')).stdout, /^\+ files-mysql-mysql-cluster-im-db-mysql-1\S+ \(\S+\) \[0s,ok,8\.0\.27-18,ro,ROW,>>,GTID:errant\]$/m);
        const fix = await env.ssh.run(CONTROL, 'imUtils', '--orch-fix-errants', R1);
        assert.equal(fix.code, 0);
        const topo = (await env.ssh.run(CONTROL, 'orchTopo')).stdout;
        assert.equal(/GTID:errant/.test(topo), !cleared, scenario);
      } finally {
        await env.stop();
      }
    }
  });

  test('two masters and a replica without master (exact lines of the original)', async () => {
    const two = await withLab('mysql-two-masters');
    try {
      const lines = (await two.ssh.run(CONTROL, 'orchTopo')).stdout.split('\n');
      assert.equal(lines[1], 'files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-1) [null,nonreplicating,8.0.27-18,ro,ROW,>>,GTID:errant]');
      assert.equal(lines[0], 'files-mysql-mysql-cluster-im-db-mysql-0.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-0) [0s,ok,8.0.27-18,rw,ROW,>>,GTID]');
    } finally {
      await two.stop();
    }
    const none = await withLab('mysql-no-master');
    try {
      const lines = (await none.ssh.run(CONTROL, 'orchTopo')).stdout.split('\n');
      assert.equal(lines[0], 'files-mysql-mysql-cluster-im-db-mysql-1.mysql.files:3306 (files-mysql-mysql-cluster-im-db-mysql-1) [null,nonreplicating,8.0.27-18,ro,ROW,>>,GTID:errant]');
      assert.match(lines[1], /^keycloak-mysql-mysql-cluster-im-db-mysql-0\.mysql\.keycloak:3306 /);
    } finally {
      await none.stop();
    }
  });
});

describe('ctlr-replica', () => {
  test('topology, the five steps on vkt04, then OK from vkt03', async () => {
    const env = await withLab('ctlr-dead-replica');
    const { ssh, lab } = env;
    try {
      const conf = await ssh.run('vkt03', 'cat', ssh.path('ctlrConf'));
      const bind = conf.stdout.split('\n').find((l) => l.startsWith('compot_bind '))!.split(' ')[1].split(':')[0];
      assert.equal(bind, '10.32.88.0');
      const topo = await ssh.exec('vkt03', [ssh.path('nc'), bind, '4020'], { stdin: 'ipros_cluster_show\n' });
      assert.equal(topo.stdout, 'vkt03.weave.local      10.32.88.0:2410  self main\nvkt04.weave.local      10.32.96.0:2410  dead\n');
      assert.equal(lab.log().at(-1)!.stdin, 'ipros_cluster_show\n');
      const bad = await ssh.run('vkt03', 'ctlrTopoCheck');
      assert.equal(bad.stdout, '2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on vkt04\n');

      const early = await ssh.run('vkt04', 'imDeployer', '--ctlr-repl', '--update');
      assert.equal(early.code, 1, 'im_deployer refuses while ctlr-1 runs');

      const data = ssh.path('ctlrData');
      assert.equal((await ssh.run('vkt04', 'systemctl', 'stop', 'ctlr-1')).code, 0);
      assert.equal((await ssh.run('vkt04', 'mv', data, `${data}.20251122_0510`)).code, 0);
      assert.equal((await ssh.run('vkt04', 'mkdir', '-p', `${data}/backup`, `${data}/df`, `${data}/log`)).code, 0);
      const unowned = await ssh.run('vkt04', 'imDeployer', '--ctlr-repl', '--update');
      assert.equal(unowned.code, 1);
      assert.match(unowned.stderr, /must be owned by quantum:quantum/);
      assert.equal((await ssh.run('vkt04', 'chown', '-R', 'quantum:quantum', `${data}/`)).code, 0);
      const dep = await ssh.run('vkt04', 'imDeployer', '--ctlr-repl', '--update');
      assert.equal(dep.code, 0, dep.stderr);
      const dis = await ssh.run('vkt04', 'systemctl', 'disable', 'ctlr-1');
      assert.equal(dis.code, 0);

      const files = lab.state().nodes.vkt04.files;
      assert.equal(files['/data/ctlr-1.20251122_0510/df/ctlr-1.df']?.type, 'file', 'the old data was moved aside');
      assert.equal(files['/data/ctlr-1/df']?.owner, 'quantum:quantum');
      assert.equal(lab.state().nodes.vkt04.units['ctlr-1'].enabled, false);

      assert.equal((await ssh.run('vkt03', 'ctlrTopoCheck')).stdout, '0 ctlr_topo_check - ctlr topology is OK\n');
      const healed = await ssh.exec('vkt03', [ssh.path('nc'), bind, '4020'], { stdin: 'ipros_cluster_show\n' });
      assert.equal(healed.stdout, 'vkt03.weave.local      10.32.88.0:2410  self main\nvkt04.weave.local      10.32.96.0:2410  alive\n');
      const missing = await ssh.run('vkt04', 'cat', '/nope');
      assert.deepEqual([missing.code, missing.stderr], [1, 'cat: /nope: No such file or directory\n']);
    } finally {
      await env.stop();
    }
  });

  test('two masters: demote vkt03, then vkt03 sees itself as self and vkt04 as alive main', async () => {
    const env = await withLab('ctlr-two-masters');
    const { ssh, lab } = env;
    try {
      const show = (node: string, host: string) => ssh.exec(node, [ssh.path('nc'), host, '4020'], { stdin: 'ipros_cluster_show\n' });
      assert.equal((await show('vkt03', '10.32.88.0')).stdout, 'vkt03.weave.local      10.32.88.0:2410  self main\nvkt04.weave.local      10.32.96.0:2410  dead\n');
      assert.equal((await show('vkt04', '10.32.96.0')).stdout, 'vkt03.weave.local      10.32.88.0:2410  dead\nvkt04.weave.local      10.32.96.0:2410  self main\n');
      for (const n of ['vkt03', 'vkt04']) assert.match((await ssh.run(n, 'cat', ssh.path('ctlrConf'))).stdout, /^ipros_cluster_main vkt03\.weave\.local$/m);

      const data = ssh.path('ctlrData');
      assert.equal((await ssh.run('vkt03', 'systemctl', 'stop', 'ctlr-1')).code, 0);
      assert.equal((await ssh.run('vkt03', 'cp', '-rp', data, `${data}.20251122_0520`)).code, 0);
      assert.equal((await ssh.run('vkt03', 'imDeployer', '--ctlr-repl', '--update')).code, 0);
      assert.equal((await ssh.run('vkt03', 'systemctl', 'disable', 'ctlr-1')).code, 0);
      assert.equal((await ssh.run('vkt03', 'ctlrTopoCheck')).stdout, '0 ctlr_topo_check - ctlr topology is OK\n');
      assert.equal((await show('vkt03', '10.32.88.0')).stdout, 'vkt03.weave.local      10.32.88.0:2410  self\nvkt04.weave.local      10.32.96.0:2410  alive main\n');
      assert.equal(lab.state().nodes.vkt03.files[`${data}.20251122_0520/df/ctlr-1.df`]?.owner, 'quantum:quantum', 'cp -p keeps owners');
      assert.match((await ssh.run('vkt03', 'cat', ssh.path('ctlrConf'))).stdout, /^ipros_cluster_main vkt04\.weave\.local$/m);
    } finally {
      await env.stop();
    }
  });

  test('peer not main', async () => {
    const env = await withLab('ctlr-peer-not-main');
    try {
      const r = await env.ssh.exec('vkt03', [env.ssh.path('nc'), '10.32.88.0', '4020'], { stdin: 'ipros_cluster_show\n' });
      assert.equal(r.stdout, 'vkt03.weave.local      10.32.88.0:2410  self\nvkt04.weave.local      10.32.96.0:2410  dead\n');
      const refused = await env.ssh.exec('vkt03', [env.ssh.path('nc'), '10.9.9.9', '4020'], { stdin: 'ipros_cluster_show\n' });
      assert.equal(refused.code, 1);
    } finally {
      await env.stop();
    }
  });
});

describe('manticore-cluster', () => {
  const status = async (ssh: LabSsh, node: string): Promise<Record<string, string>> => {
    const r = await ssh.exec(node, [ssh.path('mysql'), '-h', '127.0.0.1', '-P', '9306'], { stdin: "SHOW STATUS LIKE 'cluster_posts_%'" });
    assert.equal(r.code, 0, r.stderr);
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    assert.equal(header, 'Counter\tValue');
    return Object.fromEntries(rows.map((l) => l.split('\t') as [string, string]));
  };

  test('case 3: only the safe_to_bootstrap node may bootstrap; the others join', async () => {
    const env = await withLab('manticore-case3');
    const { ssh, lab } = env;
    try {
      const gra = await ssh.run('mc-b', 'cat', '/var/lib/manticore/posts/grastate.dat');
      assert.equal(gra.stdout, '# GALERA saved state\nversion: 2.1\nuuid:    2aa9bd5f-4d0c-11ee-8f2f-7a3b0bd5b6d2\nseqno:   130\nsafe_to_bootstrap: 1\n');
      const down = await ssh.exec('mc-a', [ssh.path('mysql'), '-h', '127.0.0.1', '-P', '9306', '-e', 'SHOW STATUS']);
      assert.equal(down.code, 1);
      assert.match(down.stderr, /^ERROR 2003 \(HY000\)/);
      const unsafe = await ssh.run('mc-c', 'manticoreNewCluster');
      assert.equal(unsafe.code, 1);
      assert.match(unsafe.stderr, /safe_to_bootstrap/);
      assert.equal((await ssh.run('mc-b', 'manticoreNewCluster')).code, 0);
      const s = await status(ssh, 'mc-b');
      assert.equal(s.cluster_posts_status, 'primary');
      assert.equal(s.cluster_posts_size, '1');
      for (const n of ['mc-a', 'mc-c']) assert.equal((await ssh.run(n, 'systemctl', 'start', 'manticore')).code, 0);
      const joining = await status(ssh, 'mc-a');
      assert.equal(joining.cluster_posts_node_state, 'joining');
      const synced = await status(ssh, 'mc-a');
      assert.deepEqual([synced.cluster_posts_status, synced.cluster_posts_size, synced.cluster_posts_node_state], ['primary', '3', 'synced']);
      assert.deepEqual(lab.state().manticore.clusters.posts.violations, []);
      assert.equal(lab.state().manticore.clusters.posts.bootstraps, 1);
    } finally {
      await env.stop();
    }
  });

  test('case 5: pc.bootstrap on the non-primary survivor, then the others join', async () => {
    const env = await withLab('manticore-case5');
    const { ssh, lab } = env;
    try {
      assert.equal((await status(ssh, 'mc-c')).cluster_posts_status, 'non-primary');
      const inactive = await ssh.run('mc-a', 'systemctl', 'is-active', 'manticore');
      assert.deepEqual([inactive.code, inactive.stdout], [3, 'failed\n']);
      const boot = await ssh.exec('mc-c', [ssh.path('mysql'), '-h', '127.0.0.1', '-P', '9306'], { stdin: "SET CLUSTER posts GLOBAL 'pc.bootstrap' = 1" });
      assert.deepEqual([boot.code, boot.stdout], [0, '']);
      assert.equal((await status(ssh, 'mc-c')).cluster_posts_status, 'primary');
      for (const n of ['mc-a', 'mc-b']) await ssh.run(n, 'systemctl', 'start', 'manticore');
      await status(ssh, 'mc-a');
      assert.equal((await status(ssh, 'mc-a')).cluster_posts_size, '3');
      assert.deepEqual(lab.state().manticore.clusters.posts.violations, []);
    } finally {
      await env.stop();
    }
  });

  test('case 6: evidence in searchd.log; --force on a stale node is recorded as a violation', async () => {
    const env = await withLab('manticore-case6');
    const { ssh, lab } = env;
    try {
      assert.match((await ssh.run('mc-b', 'cat', '/var/log/manticore/searchd.log')).stdout, /WSREP: Recovered position: 2aa9bd5f-4d0c-11ee-8f2f-7a3b0bd5b6d2:142$/m);
      assert.match((await ssh.run('mc-a', 'cat', '/var/lib/manticore/posts/grastate.dat')).stdout, /^seqno: {3}-1$/m);
      assert.equal((await ssh.run('mc-a', 'manticoreNewCluster', '--force')).code, 0);
      assert.match(lab.state().manticore.clusters.posts.violations.join('\n'), /mc-b has fresher data/);
    } finally {
      await env.stop();
    }
  });

  test('case 7: a second pc.bootstrap in the other half is recorded as a violation', async () => {
    const env = await withLab('manticore-case7');
    const { ssh, lab } = env;
    try {
      const sql = "SET CLUSTER posts GLOBAL 'pc.bootstrap' = 1";
      assert.equal((await status(ssh, 'mc-d')).cluster_posts_size, '2');
      await ssh.exec('mc-a', [ssh.path('mysql'), '-h', '127.0.0.1', '-P', '9306'], { stdin: sql });
      assert.equal((await status(ssh, 'mc-b')).cluster_posts_status, 'primary');
      assert.deepEqual(lab.state().manticore.clusters.posts.violations, []);
      await ssh.exec('mc-c', [ssh.path('mysql'), '-h', '127.0.0.1', '-P', '9306'], { stdin: sql });
      assert.equal(lab.state().manticore.clusters.posts.violations.length, 2);
    } finally {
      await env.stop();
    }
  });
});
