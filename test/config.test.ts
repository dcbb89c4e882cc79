import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../config/load';
import { consoleUrl, runPageUrl } from '../config/schema';
import { REPO_ROOT } from '../worker/binaries';

function write(text: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'medic-config-')), 'medic.yaml');
  writeFileSync(file, text);
  return file;
}

test('the example configuration is valid and carries the production defaults', () => {
  const config = loadConfig(path.join(REPO_ROOT, 'config', 'medic.example.yaml'));
  assert.equal(config.inventory.controlNode, 'vkt-control-01');
  assert.equal(config.paths.orchTopo, '/usr/local/bin/orch_topo.sh');
  assert.equal(config.paths.ctlrConf, '/usr/local/etc/ctlr-1.conf');
  assert.equal(config.timers.tarantoolBeforeFlip, '5m');
  assert.equal(config.timers.mysqlErrantRecheck, '2m');
  assert.equal(config.approvals['kust-replica']?.clean, 'auto');
  assert.equal(config.approvals['manticore-cluster']?.bootstrap, 'auto');
  assert.ok(path.isAbsolute(config.service.dataDir));
});

test('errors name the file, the path in it and what was expected', () => {
  const file = write(`inventory:\n  controlNode: ctl\n  hosts:\n    ctl: { address: 127.0.0.1, keyFile: k }\ntimers:\n  tarantoolSettle: ten seconds\n`);
  assert.throws(() => loadConfig(file), (err: Error) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.match(err.message, /at timers\.tarantoolSettle: a duration such as 500ms, 10s, 5m or 1h/);
    assert.match(err.message, /at inventory\.hosts\.ctl\.hostKey: hostKey is required/);
    return true;
  });
});

test('unknown keys, a control node outside the inventory and unsafe paths are refused', () => {
  const file = write(
    `inventory:\n  controlNode: nowhere\n  hosts:\n    ctl: { address: 127.0.0.1, keyFile: k, insecureAcceptAnyHostKey: true }\npaths:\n  ic: "ic; rm -rf /"\nsurprise: 1\n`,
  );
  assert.throws(() => loadConfig(file), (err: Error) => {
    assert.match(err.message, /at inventory\.controlNode: controlNode must be one of inventory\.hosts/);
    assert.match(err.message, /at paths\.ic: a command name or absolute path/);
    assert.match(err.message, /surprise/);
    return true;
  });
});

test('a misspelt approval step or runbook is refused (a typo must not leave a dangerous step automatic)', () => {
  const inv = `inventory:\n  controlNode: ctl\n  hosts:\n    ctl: { address: 127.0.0.1, keyFile: k, insecureAcceptAnyHostKey: true }\n`;
  assert.throws(() => loadConfig(write(`${inv}approvals:\n  mysql-topology:\n    fix_errants: approve\n`)), /at approvals\.mysql-topology: .*fix_errants/s);
  assert.throws(() => loadConfig(write(`${inv}approvals:\n  kust_replica:\n    clean: approve\n`)), /at approvals: .*kust_replica/s);
  assert.throws(() => loadConfig(write(`${inv}approvals:\n  kust-replica:\n    clean: ask\n`)), /at approvals\.kust-replica\.clean/);
  const ok = loadConfig(write(`${inv}approvals:\n  mysql-topology:\n    fix-errants: approve\n`));
  assert.equal(ok.approvals['mysql-topology']?.['fix-errants'], 'approve');
});

test('hosts a runbook will use must be in the inventory; intake rules must name a runbook', () => {
  const inv = `inventory:\n  controlNode: ctl\n  hosts:\n    ctl: { address: 127.0.0.1, keyFile: k, insecureAcceptAnyHostKey: true }\n    vkt03: { address: 127.0.0.2, keyFile: k, insecureAcceptAnyHostKey: true }\n`;
  assert.throws(() => loadConfig(write(`${inv}ctlr:\n  nodes: [vkt03, vkt04]\n`)), /at ctlr\.nodes\.1: vkt04 is not in inventory\.hosts/);
  assert.throws(() => loadConfig(write(`${inv}ctlr:\n  nodes: [vkt03, vkt03]\n`)), /at ctlr\.nodes\.1: vkt03 is listed twice/);
  assert.throws(
    () => loadConfig(write(`${inv}manticore:\n  clusters:\n    posts: { nodes: [ctl, mc-b], sqlPort: 9306, grastatePath: /var/lib/manticore/grastate.dat }\n`)),
    /at manticore\.clusters\.posts\.nodes\.1: mc-b is not in inventory\.hosts/,
  );
  assert.throws(() => loadConfig(write(`${inv}intake:\n  rules:\n    - { match: { alertname: X }, runbook: kust-replcia }\n`)), /at intake\.rules\.0\.runbook: unknown runbook kust-replcia/);
  assert.deepEqual(loadConfig(write(`${inv}ctlr:\n  nodes: [vkt03, ctl]\n`)).ctlr?.nodes, ['vkt03', 'ctl']);
});

test('invalid YAML and a missing file are reported with the file name', () => {
  assert.throws(() => loadConfig(write('inventory: [unclosed')), /medic\.yaml: not valid YAML/);
  assert.throws(() => loadConfig('/nonexistent/medic.yaml'), /\/nonexistent\/medic\.yaml: cannot read/);
});

test('inventory defaults: a host can be its address alone and inherits user, port, keys, known_hosts, jump and sudo', () => {
  const file = write(
    [
      'inventory:',
      '  controlNode: ctl-01',
      '  defaults: { user: medic, port: 2222, keyFile: keys/medic, keyPassphraseEnv: MEDIC_KEY_PASSPHRASE, knownHostsFiles: [~/.ssh/known_hosts, known_hosts], jump: bastion, sudo: true }',
      '  hosts:',
      '    ctl-01: 192.0.2.10',
      '    db-01: { address: 192.0.2.11, user: dba, sudo: false, knownHostsFiles: [/etc/ssh/ssh_known_hosts] }',
      '    bastion: { address: 198.51.100.7, port: 22, sudo: false }',
      '    direct: { address: 192.0.2.12, jump: null, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0000000000000000000000000000000000000000000" }',
      '',
    ].join('\n'),
  );
  const base = path.dirname(file);
  const { hosts } = loadConfig(file).inventory;
  assert.deepEqual(hosts['ctl-01'], {
    address: '192.0.2.10',
    port: 2222,
    user: 'medic',
    keyFile: path.join(base, 'keys/medic'),
    keyPassphraseEnv: 'MEDIC_KEY_PASSPHRASE',
    knownHostsFiles: [path.join(os.homedir(), '.ssh/known_hosts'), path.join(base, 'known_hosts')],
    jump: 'bastion',
    sudo: true,
    insecureAcceptAnyHostKey: false,
  });
  assert.equal(hosts['db-01'].user, 'dba');
  assert.equal(hosts['db-01'].sudo, false);
  assert.deepEqual(hosts['db-01'].knownHostsFiles, ['/etc/ssh/ssh_known_hosts'], 'an override replaces the list, as OpenSSH does');
  assert.equal(hosts['db-01'].jump, 'bastion');
  assert.equal(hosts.bastion.jump, undefined, 'the jump host does not jump through itself');
  assert.equal(hosts.bastion.port, 22);
  assert.equal(hosts.direct.jump, undefined, 'jump: null connects directly whatever the defaults say');
});

test('inventory defaults: a host with no host key source, no way to log in, or a bad jump is refused', () => {
  const inv = (defaults: string, hosts: string[]) => write(['inventory:', '  controlNode: ctl-01', `  defaults: ${defaults}`, '  hosts:', ...hosts.map((h) => `    ${h}`), ''].join('\n'));
  assert.throws(() => loadConfig(inv('{ keyFile: k }', ['ctl-01: 192.0.2.10'])), /at inventory\.hosts\.ctl-01\.hostKey: hostKey is required .*knownHostsFiles/);
  assert.throws(() => loadConfig(inv('{ knownHostsFiles: [kh] }', ['ctl-01: 192.0.2.10'])), /at inventory\.hosts\.ctl-01\.keyFile: no way to log in: set keyFile or agent/);
  assert.doesNotThrow(() => loadConfig(inv('{ knownHostsFiles: [kh], agent: true }', ['ctl-01: 192.0.2.10'])));
  assert.throws(() => loadConfig(inv('{ knownHostsFiles: [kh], keyFile: k, jump: gone }', ['ctl-01: 192.0.2.10'])), /at inventory\.hosts\.ctl-01\.jump: jump host gone is not in inventory\.hosts/);
  assert.throws(
    () => loadConfig(inv('{ knownHostsFiles: [kh], keyFile: k }', ['ctl-01: { address: 192.0.2.10, jump: b-01 }', 'b-01: { address: 192.0.2.11, jump: ctl-01 }'])),
    /at inventory\.hosts\.ctl-01\.jump: jump hosts form a loop: ctl-01 -> b-01 -> ctl-01/,
  );
  assert.throws(() => loadConfig(inv('{ knownHostsFiles: [kh], keyFile: k, keyPassphraseFile: p, keyPassphraseEnv: P }', ['ctl-01: 192.0.2.10'])), /keyPassphraseFile and keyPassphraseEnv: give one/);
  assert.throws(() => loadConfig(inv('{ knownHostsFiles: [kh], keyFile: k, keyPassphrase: secret }', ['ctl-01: 192.0.2.10'])), /at inventory\.defaults: Unrecognized key.*keyPassphrase/s, 'a passphrase is never taken from the configuration itself');
  assert.throws(() => loadConfig(inv('{ keyFile: k }', ['ctl-01: "192.0.2.10; rm -rf /"'])), /at inventory\.hosts\.ctl-01\.address: an IP address or DNS name/);
});

test("the console's public URL: api.publicUrl without a trailing slash, else http://<api.listen>/console; run pages encode the ID", () => {
  const base = `inventory:\n  controlNode: ctl\n  hosts:\n    ctl: { address: 127.0.0.1, keyFile: k, insecureAcceptAnyHostKey: true }\n`;
  const byDefault = loadConfig(write(`${base}api:\n  listen: 127.0.0.1:9480\n`));
  assert.equal(consoleUrl(byDefault), 'http://127.0.0.1:9480/console');
  assert.equal(runPageUrl(byDefault, 'kust-replica/cox-1'), 'http://127.0.0.1:9480/console/runs/kust-replica%2Fcox-1');
  const set = loadConfig(write(`${base}api:\n  publicUrl: https://medic.example/ops/console/\n  sessionTimeout: 30m\n`));
  assert.equal(runPageUrl(set, 'dry-run/ctlr-roles/ctlr-1'), 'https://medic.example/ops/console/runs/dry-run%2Fctlr-roles%2Fctlr-1');
  assert.equal(set.api.sessionTimeout, '30m');
  assert.throws(() => loadConfig(write(`${base}api:\n  publicUrl: javascript:alert(1)\n`)), /at api\.publicUrl/);
  assert.throws(() => loadConfig(write(`${base}api:\n  sessionTimeout: forever\n`)), /at api\.sessionTimeout: a duration/);
});
