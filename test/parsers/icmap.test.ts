import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type IcMap, findReplicaPair, parseIcMap } from '../../parsers/icmap';

// RUNBOOKS.md kust-replica step 2 / seed 000 (spaces, indented srv lines).
const COX = `node cox-1 (2147483648 buckets)
  srv cox.vkt-4vm-879-standart-01.cox-1 10.32.0.1:2510 alive main
  srv cox.vkt-4vm-879-standart-02.cox-1 10.32.96.0:2510 alive slave
`;

// Seed 000 tarantool step 2: tab-separated, trailing tabs on the node line, an empty tab column.
const BADGER =
  'node\tbadger-3\t(268435456 buckets)\t\t\t\n' +
  'srv\tbadger.vkt-4vm-675-standart-01.badger-3\t\t10.32.0.1:2502\talive\tslave\n' +
  'srv\tbadger.vkt-4vm-675-standart-02.badger-3\t\t10.32.48.0:2502\talive\tmain\n';

// Autoflip step 1: disabled header, [ALERT] line, lastseen value wrapped onto the next line.
const FATE_BLOCKED = `autoflip:  disable  due  to  previous  autoflip  -  have  to  unset  manually
[ALERT]
node 01      (4294967296  buckets)
  srv  fate.onpremise.fate-1  10.32.0.1:2517  dead  slave  lastseen:
2025-08-14/14:09:05
  srv  fate.onpremise.fate-2  10.32.0.1:2553  alive  main
`;

// Autoflip step 4 / seed step 6: enabled again.
const FATE_ENABLED = `autoflip:  enable
node  01    (4294967296  buckets)
  srv  fate.onpremise.fate-1    10.32.0.1:2517  alive  slave
  srv  fate.onpremise.fate-2    10.32.0.1:2553  alive  main
`;

function parsed(text: string): IcMap {
  const r = parseIcMap(text);
  assert.ok(r.ok, r.ok ? '' : `${r.error} (line ${r.line})`);
  return r.value;
}

function errorOf(text: string): { error: string; line?: number } {
  const r = parseIcMap(text);
  assert.equal(r.ok, false, 'expected a parse error');
  return r.ok ? { error: '' } : r;
}

test('icmap: KUST map with spaces', () => {
  const map = parsed(COX);
  assert.equal(map.autoflip, undefined);
  assert.equal(map.nodes.length, 1);
  assert.equal(map.nodes[0].name, 'cox-1');
  assert.equal(map.nodes[0].buckets, '2147483648');
  assert.deepEqual(map.nodes[0].srvs[1], {
    fullName: 'cox.vkt-4vm-879-standart-02.cox-1',
    service: 'cox',
    host: 'vkt-4vm-879-standart-02',
    instance: 'cox-1',
    address: '10.32.96.0:2510',
    state: 'alive',
    role: 'slave',
    extra: [],
  });
  const pair = findReplicaPair(map, 'cox-1');
  assert.ok(pair.ok);
  assert.equal(pair.value.slave.host, 'vkt-4vm-879-standart-02');
  assert.equal(pair.value.main.host, 'vkt-4vm-879-standart-01');
  assert.equal(pair.value.node.name, 'cox-1');
});

test('icmap: tab-separated tarantool map with empty columns and trailing tabs', () => {
  const map = parsed(BADGER);
  assert.equal(map.nodes[0].name, 'badger-3');
  assert.equal(map.nodes[0].buckets, '268435456');
  const pair = findReplicaPair(map, 'badger-3');
  assert.ok(pair.ok);
  assert.equal(pair.value.slave.fullName, 'badger.vkt-4vm-675-standart-01.badger-3');
  assert.equal(pair.value.slave.host, 'vkt-4vm-675-standart-01');
  assert.equal(pair.value.main.host, 'vkt-4vm-675-standart-02');
  assert.equal(pair.value.main.address, '10.32.48.0:2502');
});

test('icmap: autoflip disabled, [ALERT] line, wrapped lastseen, onpremise host', () => {
  const map = parsed(FATE_BLOCKED);
  assert.deepEqual(map.autoflip, { enabled: false, reason: 'due to previous autoflip - have to unset manually', alert: true });
  assert.equal(map.nodes.length, 1);
  assert.equal(map.nodes[0].name, '01');
  const [dead, alive] = map.nodes[0].srvs;
  assert.equal(dead.host, 'onpremise');
  assert.equal(dead.state, 'dead');
  assert.equal(dead.role, 'slave');
  assert.equal(dead.lastseen, '2025-08-14/14:09:05');
  assert.deepEqual(dead.extra, []);
  assert.equal(alive.lastseen, undefined);
  assert.equal(alive.role, 'main');
  // the block is found through its srvs (node name `01` is not an instance)
  for (const inst of ['fate-1', 'fate-2']) {
    const pair = findReplicaPair(map, inst);
    assert.ok(pair.ok);
    assert.equal(pair.value.slave.instance, 'fate-1');
    assert.equal(pair.value.main.instance, 'fate-2');
  }
});

test('icmap: autoflip enabled', () => {
  const map = parsed(FATE_ENABLED);
  assert.deepEqual(map.autoflip, { enabled: true, alert: false });
  assert.deepEqual(
    map.nodes[0].srvs.map((s) => [s.instance, s.state, s.role]),
    [
      ['fate-1', 'alive', 'slave'],
      ['fate-2', 'alive', 'main'],
    ],
  );
});

test('icmap: header with [ALERT] glued to the same line, bare disable', () => {
  const glued = parsed(FATE_BLOCKED.replace('manually\n[ALERT]', 'manually[ALERT]'));
  assert.deepEqual(glued.autoflip, { enabled: false, reason: 'due to previous autoflip - have to unset manually', alert: true });
  const bare = parsed(`autoflip: disable\n${COX}`);
  assert.deepEqual(bare.autoflip, { enabled: false, alert: false });
});

test('icmap: CRLF, blank lines and trailing tabs/blanks give the same result', () => {
  const messy = `\r\n\r\n${FATE_BLOCKED.split('\n').map((l) => `${l} \t `).join('\r\n\r\n')}\r\n\r\n`;
  assert.deepEqual(parsed(messy), parsed(FATE_BLOCKED));
  assert.deepEqual(parsed(BADGER.replace(/\n/g, '\r\n')), parsed(BADGER));
  assert.deepEqual(parsed(COX.replace(/ /g, '\t')), parsed(COX));
});

test('icmap: lastseen on the same line, extra tokens, srv without role', () => {
  const map = parsed(
    'node 01 (4294967296 buckets)\n' +
      '  srv fate.onpremise.fate-1 10.32.0.1:2517 dead slave lastseen: 2025-08-14/14:09:05 flag1\n' +
      '  srv fate.onpremise.fate-2 10.32.0.1:2553 alive\n',
  );
  const [a, b] = map.nodes[0].srvs;
  assert.equal(a.lastseen, '2025-08-14/14:09:05');
  assert.deepEqual(a.extra, ['flag1']);
  assert.equal(b.role, '');
  const pair = findReplicaPair(map, 'fate-1');
  assert.deepEqual(pair, { ok: false, error: 'node 01: no main (exactly one required)' });
});

test('icmap: host names with dots are split at the first and last dot', () => {
  const map = parsed('node cox-1 (1 buckets)\nsrv cox.vkt03.weave.local.cox-1 10.32.0.1:2510 alive main\n');
  const s = map.nodes[0].srvs[0];
  assert.deepEqual([s.service, s.host, s.instance], ['cox', 'vkt03.weave.local', 'cox-1']);
});

test('icmap: garbage and malformed lines are errors with line numbers', () => {
  assert.deepEqual(errorOf(`${COX}Segmentation fault\n`), { ok: false, error: 'unrecognised line "Segmentation fault"', line: 4 });
  assert.equal(errorOf('').error, 'no node blocks in ic map output');
  assert.equal(errorOf('autoflip: enable\n').error, 'no node blocks in ic map output');
  assert.match(errorOf('  srv cox.h.cox-1 10.32.0.1:2510 alive main\n').error, /before any node/);
  assert.match(errorOf('node cox-1 2147483648 buckets\n').error, /malformed node line/);
  assert.match(errorOf('node cox-1 (2147483648 buckets)\n').error, /has no srv lines/);
  assert.match(errorOf(COX.replace('alive slave', 'zombie slave')).error, /unknown srv state "zombie"/);
  assert.match(errorOf(COX.replace('alive slave', 'alive standby')).error, /unknown srv role "standby"/);
  assert.match(errorOf(FATE_BLOCKED.replace('dead  slave  lastseen:\n2025-08-14/14:09:05', 'dead lastseen: 2025-08-14/14:09:05 slave')).error, /role slave out of place/);
  assert.match(errorOf(COX.replace('cox.vkt-4vm-879-standart-02.cox-1', 'cox.vkt-4vm-879-standart-02')).error, /not <service>\.<host>\.<instance>/);
  assert.match(errorOf(COX.replace('cox.vkt-4vm-879-standart-02', 'co$x.vkt-4vm-879-standart-02')).error, /shell metacharacter \$/);
  assert.match(errorOf(COX.replace('10.32.96.0:2510', '10.32.96.0:99999')).error, /address/);
  assert.match(errorOf(COX.replace('.cox-1 10.32.96.0', '.cox-1x 10.32.96.0')).error, /instance "cox-1x"/);
  assert.match(errorOf(`[ALERT]\n${COX}`).error, /\[ALERT\] line not directly after/);
  assert.match(errorOf(`${COX}autoflip: enable\n`).error, /before the first node/);
  assert.match(errorOf(`autoflip: maybe\n${COX}`).error, /unrecognised autoflip header/);
  assert.match(errorOf(`autoflip: enable since today\n${COX}`).error, /unexpected text after/);
  assert.match(errorOf(`${COX}${COX}`).error, /duplicate node "cox-1"/);
  // lastseen without a timestamp, on the same or the next line
  assert.match(errorOf(FATE_BLOCKED.replace('\n2025-08-14/14:09:05', '')).error, /lastseen: without a valid timestamp/);
  assert.match(errorOf(FATE_BLOCKED.replace('2025-08-14/14:09:05', 'yesterday')).error, /lastseen: without a valid timestamp/);
});

test('findReplicaPair: refuses anything but exactly one slave and one main', () => {
  const map = parsed(COX);
  assert.deepEqual(findReplicaPair(map, 'cox-2'), { ok: false, error: 'no node block for instance cox-2' });
  assert.match((findReplicaPair(map, 'cox-1;reboot') as { error: string }).error, /shell metacharacter/);
  const twoSlaves = parsed(COX.replace('alive main', 'alive slave'));
  assert.deepEqual(findReplicaPair(twoSlaves, 'cox-1'), { ok: false, error: 'node cox-1: 2 slaves (exactly one required)' });
  const noSlave = parsed(COX.replace('alive slave', 'alive main'));
  assert.deepEqual(findReplicaPair(noSlave, 'cox-1'), { ok: false, error: 'node cox-1: no slave (exactly one required)' });
  const threeSrvs = parsed(`${COX}  srv cox.vkt-4vm-879-standart-03.cox-1 10.32.97.0:2510 alive main\n`);
  assert.deepEqual(findReplicaPair(threeSrvs, 'cox-1'), { ok: false, error: 'node cox-1: 2 mains (exactly one required)' });
  const twoBlocks = parsed(`${COX}node cox-2 (1 buckets)\n  srv cox.h.cox-1 10.32.0.9:2510 alive main\n`);
  assert.match((findReplicaPair(twoBlocks, 'cox-1') as { error: string }).error, /appears in 2 node blocks: cox-1, cox-2/);
});

test('icmap: autoflip header with tabs, [ALERT] after a blank, and a disable reason other than the previous autoflip', () => {
  const tabbed = parsed(FATE_BLOCKED.replace(/^autoflip: {2}disable.*manually\n\[ALERT\]/, 'autoflip:\tdisable\tdue to previous autoflip - have to unset manually [ALERT]'));
  assert.deepEqual(tabbed.autoflip, { enabled: false, reason: 'due to previous autoflip - have to unset manually', alert: true });
  // autoflip re-enables only the "previous autoflip" block: another reason must stay visible to it.
  const other = parsed(`autoflip:  disable  by  operator  maintenance\n${COX}`);
  assert.deepEqual(other.autoflip, { enabled: false, reason: 'by operator maintenance', alert: false });
});

// Intake accepts `snmpexec_mon_video_conf_2_status` (service video_conf, instance video_conf-2): its map must parse too.
const VIDEO_CONF = `node video_conf-1 (2147483648 buckets)
  srv video_conf.vkt-4vm-879-standart-01.video_conf-1 10.32.0.1:2520 alive main
  srv video_conf.vkt-4vm-879-standart-02.video_conf-1 10.32.96.0:2520 alive slave
node video_conf-2 (2147483648 buckets)
  srv video_conf.vkt-4vm-879-standart-02.video_conf-2 10.32.96.0:2521 alive main
  srv video_conf.vkt-4vm-879-standart-01.video_conf-2 10.32.0.1:2521 alive slave
`;

test('icmap: node blocks named like instances with an underscore in the service (video_conf-2)', () => {
  const map = parsed(VIDEO_CONF);
  assert.deepEqual(map.nodes.map((n) => n.name), ['video_conf-1', 'video_conf-2']);
  const pair = findReplicaPair(map, 'video_conf-2');
  assert.ok(pair.ok, pair.ok ? '' : pair.error);
  assert.equal(pair.value.node.name, 'video_conf-2');
  assert.deepEqual([pair.value.slave.service, pair.value.slave.host, pair.value.slave.instance], ['video_conf', 'vkt-4vm-879-standart-01', 'video_conf-2']);
  assert.equal(pair.value.main.fullName, 'video_conf.vkt-4vm-879-standart-02.video_conf-2');
  // The same in the tab-separated and the wide layout.
  assert.deepEqual(parsed(VIDEO_CONF.replace(/ /g, '\t')), map);
  assert.deepEqual(parsed(VIDEO_CONF.replace(/ \(/g, '      (').replace(/ buckets/g, '  buckets')), map);
  // Still refused: what no instance or node name may contain.
  assert.match(errorOf(VIDEO_CONF.replace('node video_conf-2', 'node video_conf-2;reboot')).error, /node name "video_conf-2;reboot" rejected: contains shell metacharacter ;/);
  assert.match(errorOf(VIDEO_CONF.replace('node video_conf-2', 'node _video-2')).error, /node name "_video-2" rejected/);
  assert.match(errorOf(VIDEO_CONF.replace('node video_conf-2', 'node video_conf')).error, /node name "video_conf" rejected/);
});
