import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCheckLine, parseCtlrConf, parseCtlrTopology } from '../../parsers/ctlr';

// Seed 000 / RUNBOOKS.md ctlr-replica step 1 (two spaces before the flags).
const MAIN_SEES_DEAD = `vkt03.weave.local      10.32.88.0:2410  self main
vkt04.weave.local      10.32.96.0:2410  dead
`;
// ctlr-roles step 4 (single space).
const DEMOTED_VIEW = `vkt03.weave.local      10.32.88.0:2410 self
vkt04.weave.local      10.32.96.0:2410 alive main
`;

test('parseCtlrTopology: self main / dead', () => {
  assert.deepEqual(parseCtlrTopology(MAIN_SEES_DEAD), {
    ok: true,
    value: [
      { node: 'vkt03', fqdn: 'vkt03.weave.local', address: '10.32.88.0:2410', self: true, role: 'main', state: 'self' },
      { node: 'vkt04', fqdn: 'vkt04.weave.local', address: '10.32.96.0:2410', self: false, role: '', state: 'dead' },
    ],
  });
});

test('parseCtlrTopology: self / alive main, alive, tabs and CRLF', () => {
  const r = parseCtlrTopology(DEMOTED_VIEW);
  assert.ok(r.ok);
  assert.deepEqual(
    r.value.map((e) => [e.node, e.self, e.role, e.state]),
    [
      ['vkt03', true, '', 'self'],
      ['vkt04', false, 'main', 'alive'],
    ],
  );
  const healthy = parseCtlrTopology('\r\nvkt03.weave.local\t10.32.88.0:2410\tself main\t\r\nvkt04.weave.local 10.32.96.0:2410 alive\r\n\r\n');
  assert.ok(healthy.ok);
  assert.deepEqual(
    healthy.value.map((e) => e.state),
    ['self', 'alive'],
  );
});

test('parseCtlrTopology: errors', () => {
  const err = (t: string) => {
    const r = parseCtlrTopology(t);
    assert.equal(r.ok, false, t);
    return r.ok ? { error: '' } : r;
  };
  assert.equal(err('').error, 'empty ctlr topology output');
  assert.deepEqual(err(`${MAIN_SEES_DEAD}vkt05.weave.local 10.32.1.0:2410 zombie\n`), {
    ok: false,
    error: 'unrecognised ctlr topology line "vkt05.weave.local 10.32.1.0:2410 zombie"',
    line: 3,
  });
  assert.match(err('vkt03.weave.local 10.32.88.0:2410 main self').error, /unrecognised ctlr topology line/);
  assert.match(err('vkt03.weave.local 10.32.88.0:2410 self main extra').error, /unrecognised ctlr topology flags "self main extra"/);
  assert.match(err('vkt03.weave.local 10.32.88.0:2410 alive master').error, /unrecognised ctlr topology flags/);
  assert.match(err('vkt03.weave.local 10.32.88.0:2410').error, /unrecognised ctlr topology line/);
  assert.match(err(MAIN_SEES_DEAD.replace('dead', 'self')).error, /two lines marked self/);
  assert.match(err(`${MAIN_SEES_DEAD}vkt04.weave.local 10.32.96.0:2410 alive\n`).error, /duplicate node vkt04.weave.local/);
  assert.match(err('vkt03;reboot 10.32.88.0:2410 self main').error, /fqdn "vkt03;reboot" rejected/);
  assert.match(err('vkt03.weave.local 10.32.88.0 self main').error, /address "10.32.88.0" rejected/);
  assert.match(err('connection refused').error, /unrecognised ctlr topology line/);
});

// Seed: `fgrep ipros_cluster /usr/local/etc/ctlr-1.conf`.
const CONF = `ipros_clustered true
ipros_cluster_add vkt04.weave.local 10.32.96.0:2410
ipros_cluster_add vkt03.weave.local 10.32.32.0:2410
ipros_cluster_main vkt03.weave.local
`;

test('parseCtlrConf: ipros_cluster lines and compot_bind', () => {
  assert.deepEqual(parseCtlrConf(CONF), {
    ok: true,
    value: {
      clustered: true,
      members: [
        { fqdn: 'vkt04.weave.local', address: '10.32.96.0:2410' },
        { fqdn: 'vkt03.weave.local', address: '10.32.32.0:2410' },
      ],
      main: 'vkt03.weave.local',
    },
  });
  const withBind = parseCtlrConf(`# ipros_cluster_main vkt04.weave.local\r\n${CONF.replace(/ /g, '\t')}\r\ncompot_bind 10.32.88.0:4020\r\n`);
  assert.ok(withBind.ok);
  assert.equal(withBind.value.main, 'vkt03.weave.local');
  assert.deepEqual(withBind.value.compotBind, { host: '10.32.88.0', port: 4020 });
  assert.deepEqual(parseCtlrConf('compot_bind vkt03.weave.local:4020'), {
    ok: true,
    value: { members: [], compotBind: { host: 'vkt03.weave.local', port: 4020 } },
  });
  assert.deepEqual(parseCtlrConf('ipros_clustered false'), { ok: true, value: { clustered: false, members: [] } });
});

test('parseCtlrConf: errors', () => {
  const err = (t: string) => {
    const r = parseCtlrConf(t);
    assert.equal(r.ok, false, t);
    return r.ok ? '' : r.error;
  };
  assert.match(err(`${CONF}ipros_cluster_main vkt04.weave.local\n`), /ipros_cluster_main given twice/);
  assert.match(err('ipros_clustered yes'), /unrecognised ctlr config line "ipros_clustered yes"/);
  assert.match(err('ipros_cluster_timeout 5'), /unrecognised ctlr config line/);
  assert.match(err('ipros_cluster_add vkt04.weave.local'), /unrecognised ctlr config line/);
  assert.match(err('ipros_cluster_add vkt04.weave.local 10.32.96.0'), /address "10.32.96.0" rejected/);
  assert.match(err('ipros_cluster_add vkt04$.weave.local 10.32.96.0:2410'), /fqdn .* rejected: contains shell metacharacter \$/);
  assert.match(err(`${CONF}ipros_cluster_add vkt04.weave.local 10.32.96.1:2410`), /member vkt04.weave.local added twice/);
  assert.match(err('compot_bind 10.32.88.0'), /compot_bind "10.32.88.0" rejected/);
  assert.match(err('compot_bind 10.32.88.0:4020\ncompot_bind 10.32.88.1:4020'), /compot_bind given twice/);
});

test('parseCheckLine: ctlr_topo_check.sh output', () => {
  const good = parseCheckLine('0 ctlr_topo_check - ctlr topology is OK\n');
  assert.ok(good.ok);
  assert.equal(good.value.healthy, true);
  assert.equal(good.value.check.service, 'ctlr_topo_check');
  const bad = parseCheckLine('2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on vkt04');
  assert.ok(bad.ok);
  assert.equal(bad.value.healthy, false);
  assert.equal(bad.value.check.state, 2);
  assert.equal(parseCheckLine('\r\n0\tctlr_topo_check  -  ctlr  topology is OK \r\n').ok, true);
});

test('parseCheckLine: errors', () => {
  const err = (t: string) => {
    const r = parseCheckLine(t);
    assert.equal(r.ok, false, t);
    return r.ok ? '' : r.error;
  };
  assert.match(err(''), /expected exactly one check line, got 0/);
  assert.match(err('0 ctlr_topo_check - ctlr topology is OK\n0 ctlr_topo_check - ctlr topology is OK'), /got 2/);
  assert.match(err('0 orch_topo_check - orch topology is OK'), /expected ctlr_topo_check, got "orch_topo_check"/);
  assert.match(err('0 ctlr_topo_check - ctlr topology is BAD: x'), /state 0 contradicts text/);
  assert.match(err('2 ctlr_topo_check - ctlr topology is OK'), /state 2 contradicts text/);
  assert.match(err('0 ctlr_topo_check - ctlr topology is OK!'), /state 0 contradicts/);
  assert.match(err('bash: ctlr_topo_check.sh: command not found'), /must start with a state/);
});
