import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type CheckMkLine, checkText, classifyCheckMk, parseCheckMkLine, parseCheckMkLines } from '../../parsers/checkmk';

// The alert lines of RUNBOOKS.md / seed 000.
const KUST = '2 snmpexec_mon_cox_1_status - - - replfailed (first: 2023-05-10/10:08:27, last: 2023-05-10/11:34:02, total: 3406)';
const TNT_MASTER = '2 tarantool_badger_3_rep1_master1 slave_lag=0.01s;500.0;1000.0 slave_lag=0.01s;500.0;1000.0 replication status stopped(!)';
const TNT_REPL = '2 tarantool_badger_3_replication - - problems on upstreams:1';
const ORCH = "2 orch_topo_check - orch topology is BAD: see 'im_utils --check-orch' for details";
const CTLR = '2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on vkt04';
const AUTOFLIP = '2 ctlr_topo_check - - ctlr topology is BAD: autoflip blocked for maps: [fate]';

function line(s: string): CheckMkLine {
  const r = parseCheckMkLine(s);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

function classify(s: string) {
  return classifyCheckMk(line(s));
}

test('checkmk: KUST alert keeps the extra dashes in the text', () => {
  const l = line(KUST);
  assert.deepEqual(l, {
    state: 2,
    service: 'snmpexec_mon_cox_1_status',
    metrics: [],
    text: '- - replfailed (first: 2023-05-10/10:08:27, last: 2023-05-10/11:34:02, total: 3406)',
    raw: KUST,
  });
  assert.equal(checkText(l), 'replfailed (first: 2023-05-10/10:08:27, last: 2023-05-10/11:34:02, total: 3406)');
  assert.deepEqual(classifyCheckMk(l), { ok: true, value: { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1' } } });
});

test('checkmk: tarantool rep1_master1 alert, second metrics-looking field stays in the text', () => {
  const l = line(TNT_MASTER);
  assert.equal(l.service, 'tarantool_badger_3_rep1_master1');
  assert.deepEqual(l.metrics, [{ name: 'slave_lag', value: '0.01s', warn: '500.0', crit: '1000.0' }]);
  assert.equal(l.text, 'slave_lag=0.01s;500.0;1000.0 replication status stopped(!)');
  assert.deepEqual(classifyCheckMk(l), { ok: true, value: { runbook: 'tarantool-replica', params: { service: 'badger', instance: 'badger-3' } } });
});

test('checkmk: tarantool replication alert', () => {
  const l = line(TNT_REPL);
  assert.equal(l.text, '- problems on upstreams:1');
  assert.deepEqual(classifyCheckMk(l), { ok: true, value: { runbook: 'tarantool-replica', params: { service: 'badger', instance: 'badger-3' } } });
});

test('checkmk: orchestrator and controller alerts', () => {
  assert.equal(line(ORCH).text, "orch topology is BAD: see 'im_utils --check-orch' for details");
  assert.deepEqual(classify(ORCH), { ok: true, value: { runbook: 'mysql-topology', params: {} } });
  assert.deepEqual(classify(CTLR), { ok: true, value: { runbook: 'ctlr-replica', params: { node: 'vkt04' } } });
  assert.deepEqual(classify(AUTOFLIP), { ok: true, value: { runbook: 'autoflip', params: { maps: ['fate'] } } });
  assert.deepEqual(classify(AUTOFLIP.replace('[fate]', '[fate, cox_media,fate]')), {
    ok: true,
    value: { runbook: 'autoflip', params: { maps: ['fate', 'cox_media'] } },
  });
});

test('checkmk: service names with underscores; the instance number is the last numeric field', () => {
  assert.deepEqual(classify('2 snmpexec_mon_cox_media_12_status - replfailed'), {
    ok: true,
    value: { runbook: 'kust-replica', params: { service: 'cox_media', instance: 'cox_media-12' } },
  });
  assert.deepEqual(classify('2 tarantool_my_svc_2_1_replication - problems'), {
    ok: true,
    value: { runbook: 'tarantool-replica', params: { service: 'my_svc_2', instance: 'my_svc_2-1' } },
  });
  assert.deepEqual(classify('2 tarantool_a1_7_rep2_master10 - -'), {
    ok: true,
    value: { runbook: 'tarantool-replica', params: { service: 'a1', instance: 'a1-7' } },
  });
});

test('checkmk: state 0 lines classify the same way (the caller resolves)', () => {
  const l = line('0 snmpexec_mon_cox_1_status - OK');
  assert.equal(l.state, 0);
  assert.deepEqual(classifyCheckMk(l), { ok: true, value: { runbook: 'kust-replica', params: { service: 'cox', instance: 'cox-1' } } });
});

test('checkmk: white space, CRLF, quoted service, P state, full metrics', () => {
  const l = line('  2\t snmpexec_mon_cox_1_status\t-\t\treplfailed   (first) \r\n');
  assert.equal(l.service, 'snmpexec_mon_cox_1_status');
  assert.equal(l.text, 'replfailed (first)');
  assert.equal(l.raw.includes('\r'), false);
  const p = line('P "My Service" count=5;10:20;30;0;100|load=1.5 some  text');
  assert.equal(p.state, 'P');
  assert.equal(p.service, 'My Service');
  assert.deepEqual(p.metrics, [
    { name: 'count', value: '5', warn: '10:20', crit: '30', min: '0', max: '100' },
    { name: 'load', value: '1.5' },
  ]);
  assert.equal(p.text, 'some text');
  assert.equal(line('1 svc x=1;;;0;').metrics[0].min, '0');
  assert.equal(line('3 svc -').text, '');
  assert.match((classifyCheckMk(p) as { error: string }).error, /no runbook for check "My Service"/);
});

test('checkmk: malformed lines are errors', () => {
  const err = (s: string) => {
    const r = parseCheckMkLine(s);
    assert.equal(r.ok, false, s);
    return r.ok ? '' : r.error;
  };
  assert.match(err('4 svc - text'), /must start with a state 0-3 or P/);
  assert.match(err('CRIT svc - text'), /must start with a state/);
  assert.match(err('22 svc - text'), /must start with a state/);
  assert.match(err(''), /must start with a state/);
  assert.match(err('2'), /no \(or an unterminated\) service name/);
  assert.match(err('2 "unterminated svc - text'), /unterminated/);
  assert.match(err('2 svc'), /no metrics field/);
  assert.match(err('2 svc foo text'), /invalid metric "foo"/);
  assert.match(err('2 svc lag=abc text'), /invalid metric "lag=abc"/);
  assert.match(err('2 svc lag=1;2;3;4;5;6 text'), /invalid metric/);
  assert.match(err('2 svc lag=1;x text'), /invalid metric/);
  assert.match(err('2 svc a=1|b text'), /invalid metric "b"/);
  assert.match(err(`${KUST}\n${TNT_REPL}`), /must not contain line breaks/);
});

test('checkmk: parseCheckMkLines skips blank lines and numbers the errors (seed wraps the tarantool alert)', () => {
  const seed = `2 tarantool_badger_3_rep1_master1 slave_lag=0.01s;500.0;1000.0 slave_lag=0.01s;500.0;1000.0
replication status stopped(!)

2 tarantool_badger_3_replication - - problems on upstreams:1
`;
  const rs = parseCheckMkLines(seed);
  assert.equal(rs.length, 3);
  assert.ok(rs[0].ok);
  assert.equal(rs[0].value.text, 'slave_lag=0.01s;500.0;1000.0');
  assert.equal(rs[1].ok, false);
  assert.equal(rs[1].ok ? 0 : rs[1].line, 2);
  assert.ok(rs[2].ok);
  assert.equal(rs[2].value.service, 'tarantool_badger_3_replication');
  assert.deepEqual(parseCheckMkLines('\r\n  \n'), []);
});

test('classifyCheckMk: unknown checks and unsafe values are refused', () => {
  const err = (s: string) => {
    const r = classify(s);
    assert.equal(r.ok, false, s);
    return r.ok ? '' : r.error;
  };
  assert.match(err('2 snmpexec_mon_Cox_1_status - x'), /no runbook for check/);
  assert.match(err('2 snmpexec_mon_cox_status - x'), /no runbook for check/);
  assert.match(err('2 snmpexec_mon_cox_12345_status - x'), /no runbook for check/);
  assert.match(err('2 tarantool_badger_3_status - x'), /no runbook for check/);
  assert.match(err(`2 snmpexec_mon_${'a'.repeat(70)}_1_status - x`), /service .* rejected/);
  assert.match(err('0 ctlr_topo_check - ctlr topology is OK'), /not a known problem/);
  assert.match(err('2 ctlr_topo_check - ctlr topology is BAD: disk full'), /unknown ctlr_topo_check problem/);
  assert.match(err('2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on $(reboot)'), /node "\$\(reboot\)" rejected: contains shell metacharacter \$/);
  assert.match(err('2 ctlr_topo_check - ctlr topology is BAD: ctlr has no active replicas, check ctlr logs on vkt04.weave..local'), /node .* rejected/);
  assert.match(err('2 ctlr_topo_check - ctlr topology is BAD: autoflip blocked for maps: [fate;reboot]'), /map "fate;reboot" rejected: contains shell metacharacter ;/);
  assert.match(err('2 ctlr_topo_check - ctlr topology is BAD: autoflip blocked for maps: []'), /map is empty/);
  assert.match(err('2 ctlr_topo_check - ctlr topology is BAD: autoflip blocked for maps: [Fate]'), /map "Fate" rejected/);
  assert.match(err('2 ctlr_topo_check - ctlr topology is BAD: autoflip blocked for maps: fate'), /unknown ctlr_topo_check problem/);
});

test('classifyCheckMk: several blocked maps, separated as Go prints a slice (blanks), by commas, or both', () => {
  const maps = (list: string) => classify(AUTOFLIP.replace('[fate]', list));
  const fateCox = { ok: true, value: { runbook: 'autoflip', params: { maps: ['fate', 'cox'] } } };
  assert.deepEqual(maps('[fate cox]'), fateCox);
  assert.deepEqual(maps('[fate, cox]'), fateCox);
  assert.deepEqual(maps('[fate,cox]'), fateCox);
  assert.deepEqual(maps('[ fate\tcox ]'), fateCox);
  assert.deepEqual(maps('[fate cox_media, badger fate]'), { ok: true, value: { runbook: 'autoflip', params: { maps: ['fate', 'cox_media', 'badger'] } } });
  // An empty element is not silently skipped: the list is not what the check prints.
  assert.match((maps('[fate,,cox]') as { error: string }).error, /map is empty/);
  assert.match((maps('[fate, ,cox]') as { error: string }).error, /map is empty/);
  assert.match((maps('[,fate]') as { error: string }).error, /map is empty/);
  assert.match((maps('[fate cox$(reboot)]') as { error: string }).error, /map "cox\$\(reboot\)" rejected: contains shell metacharacter \$/);
  // One run per map: a line naming more maps than any fleet has is refused as a whole.
  const many = Array.from({ length: 101 }, (_, i) => `m${i}`);
  assert.match((maps(`[${many.join(' ')}]`) as { error: string }).error, /more than 100 maps in one ctlr_topo_check line \(101\)/);
  const hundred = maps(`[${many.slice(0, 100).join(' ')}]`);
  assert.deepEqual(hundred.ok && hundred.value.params.maps, many.slice(0, 100));
});
