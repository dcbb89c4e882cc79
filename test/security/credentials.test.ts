/**
 * Operator credentials, the configuration of identities and the decision key, without a server:
 *   - hashCredential / verifyCredential: the self-describing scrypt hash, a new salt each time, right and
 *     wrong credentials, a tampered hash, cost bounds; verification is one constant-time comparison;
 *   - Identities over the three ways a credential is kept (a hash in the config, a file with the credential,
 *     a file with its hash), files others may read refused, one credential for two operators naming neither;
 *   - the configuration refuses approver lists naming unknown operators, viewers, runbooks or gates;
 *   - settingsFor puts the runbook's approver lists and the decision public key into a run's settings;
 *   - the decision key: created 0600 with its .pub, its signatures verify with node:crypto and with
 *     tweetnacl (what runs verify with) and break when any signed field changes; starters read the .pub
 *     when the private key is not theirs; with neither, a clear error.
 */
import assert from 'node:assert/strict';
import crypto, { createPublicKey, verify } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import nacl from 'tweetnacl';
import { settingsFor } from '../../client/runbooks';
import { ConfigError, parseConfig } from '../../config/load';
import { decisionPayload, type DecisionProof } from '../../workflows/definitions';
import { DecisionKeys, decisionPublicKey } from '../../worker/decision-keys';
import { hashCredential, Identities, parseCredentialHash, verifyCredential } from '../../worker/identity';

const dir = mkdtempSync(path.join(os.tmpdir(), 'medic-credentials-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Cheap hashes for the tests that are not about the default cost. */
const CHEAP = { N: 1024, r: 8, p: 1 };
const SECRET = 'Zq3-alice-credential-0123456789';

function file(name: string, text: string, mode = 0o600): string {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  chmodSync(f, mode);
  return f;
}

/** A valid configuration with these `api` settings over a minimal inventory. */
function config(api: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return parseConfig(
    {
      service: { dataDir: path.join(dir, 'data') },
      inventory: { controlNode: 'ctl-1', hosts: { 'ctl-1': { address: '127.0.0.1', keyFile: '/dev/null', insecureAcceptAnyHostKey: true } } },
      api,
      ...extra,
    },
    'test.yaml',
  );
}
/** The configuration's error text, or '' when it is valid. */
function configError(api: Record<string, unknown>): string {
  try {
    config(api);
    return '';
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
}

test('hashCredential: scrypt$N$r$p$salt$hash at the default cost, a new salt each time; verifyCredential takes exactly the credential', () => {
  const h = hashCredential(SECRET);
  assert.match(h, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(hashCredential(SECRET), h, 'two hashes of one credential differ (salt)');
  assert.equal(verifyCredential(SECRET, h), true);
  for (const wrong of ['', SECRET.slice(0, -1), `${SECRET}x`, `${SECRET.slice(0, -1)}8`, SECRET.toUpperCase(), ` ${SECRET}`]) assert.equal(verifyCredential(wrong, h), false, JSON.stringify(wrong));
  const parts = h.split('$');
  const hash = Buffer.from(parts[5], 'base64');
  hash[0] ^= 1;
  assert.equal(verifyCredential(SECRET, [...parts.slice(0, 5), hash.toString('base64')].join('$')), false, 'a tampered hash matches nothing');
  assert.equal(verifyCredential(SECRET, hashCredential(SECRET, CHEAP)), true, 'the cost is read from the hash');
  assert.match(hashCredential(SECRET, CHEAP), /^scrypt\$1024\$8\$1\$/);
});

test('credential hashes: costs out of bounds, non-powers of two and short hashes are refused', () => {
  const salt = Buffer.alloc(16, 1).toString('base64');
  const h32 = Buffer.alloc(32, 2).toString('base64');
  for (const [text, why] of [
    [`scrypt$2097152$8$1$${salt}$${h32}`, /N must be a power of 2 from 1024 to 1048576/],
    [`scrypt$3000$8$1$${salt}$${h32}`, /N must be a power of 2/],
    [`scrypt$512$8$1$${salt}$${h32}`, /N must be/],
    [`scrypt$1024$0$1$${salt}$${h32}`, /r must be 1 to 32/],
    [`scrypt$1024$8$17$${salt}$${h32}`, /p must be 1 to 16/],
    [`scrypt$1024$8$1$${salt}$${Buffer.alloc(8).toString('base64')}`, /16 to 64 bytes/],
    [`bcrypt$1024$8$1$${salt}$${h32}`, /not a credential hash/],
  ] as const) assert.throws(() => parseCredentialHash(text), why, text);
  assert.throws(() => hashCredential(SECRET, { N: 1000, r: 8, p: 1 }), /power of 2/);
});

test('verifyCredential: one timingSafeEqual over two buffers of the hash length, right or wrong, whatever the length given', (t) => {
  const h = hashCredential(SECRET, CHEAP);
  const calls = t.mock.method(crypto, 'timingSafeEqual');
  for (const given of [SECRET, 'x', SECRET.repeat(40), '']) {
    const before = calls.mock.callCount();
    verifyCredential(given, h);
    assert.equal(calls.mock.callCount() - before, 1, JSON.stringify(given.slice(0, 10)));
    const [a, b] = calls.mock.calls[before].arguments as [Buffer, Buffer];
    assert.deepEqual([a.length, b.length], [32, 32]);
  }
});

test('Identities: a hash in the config, a file with the credential, a file with its hash; each credential names its operator only', () => {
  const creds = { alice: `alice-${'a'.repeat(20)}`, bob: `bob-${'b'.repeat(20)}`, carol: `carol-${'c'.repeat(20)}` };
  const ids = new Identities(
    config({
      operators: {
        alice: { role: 'operator', credentialHash: hashCredential(creds.alice, CHEAP) },
        bob: { role: 'operator', credentialFile: file('bob.credential', `${creds.bob}\n`) },
        carol: { role: 'viewer', credentialFile: file('carol.hash', `${hashCredential(creds.carol, CHEAP)}\n`) },
      },
    }),
  );
  assert.deepEqual(ids.byCredential(creds.alice), { name: 'alice', role: 'operator' });
  assert.deepEqual(ids.byCredential(creds.bob), { name: 'bob', role: 'operator' });
  assert.deepEqual(ids.byCredential(creds.carol), { name: 'carol', role: 'viewer' });
  // Again (from the cache of checked credentials): the same answers.
  assert.deepEqual(ids.byCredential(creds.bob), { name: 'bob', role: 'operator' });
  for (const wrong of ['', `${creds.bob}\n`, creds.bob.slice(0, -1), `${creds.alice}x`, hashCredential(creds.carol, CHEAP), 'o'.repeat(5000)]) assert.equal(ids.byCredential(wrong), undefined, JSON.stringify(wrong.slice(0, 30)));
  assert.equal(ids.byCredential(''), undefined);
  assert.deepEqual(ids.list().map((o) => o.name).sort(), ['alice', 'bob', 'carol']);
});

test('Identities: one credential for two operators names neither', () => {
  const ids = new Identities(
    config({
      operators: {
        alice: { role: 'operator', credentialHash: hashCredential(SECRET, CHEAP) },
        mallory: { role: 'operator', credentialFile: file('mallory.credential', SECRET) },
      },
    }),
  );
  assert.equal(ids.byCredential(SECRET), undefined);
});

test('Identities: credential files that others may read, missing ones, short credentials are refused at start, naming operator and file', () => {
  const open = file('open.credential', `${'x'.repeat(24)}\n`, 0o644);
  const build = (o: Record<string, unknown>) => () => new Identities(config({ operators: { bob: { role: 'operator', ...o } } }));
  assert.throws(build({ credentialFile: open }), (e: Error) => e instanceof ConfigError && e.message === `api.operators.bob.credentialFile ${open} has mode 0644: readable or writable by group or others (chmod 600 it)`);
  assert.throws(build({ credentialFile: path.join(dir, 'nosuch') }), /api\.operators\.bob\.credentialFile .*nosuch cannot be read: ENOENT/);
  assert.throws(build({ credentialFile: file('short.credential', 'short') }), /at least 16 characters/);
  assert.throws(build({ credentialFile: file('badhash.credential', 'scrypt$3$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==') }), /api\.operators\.bob\.credentialFile .*: not a credential hash|N must be/);
});

test('configuration: approver lists name operators of role operator, runbooks and gates that exist; one credential per operator; proxies are addresses', () => {
  const h = hashCredential(SECRET, CHEAP);
  const operators = { alice: { role: 'operator', credentialHash: h }, carol: { role: 'viewer', credentialHash: h } };
  assert.equal(configError({ operators, approvers: ['alice'], approverLists: { 'ctlr-roles': { gates: { keep: ['alice'] } }, 'manticore-cluster': { approvers: ['alice'], gates: { bootstrap: ['alice'] } } } }), '');
  assert.match(configError({ operators, approvers: ['alice', 'mallory'] }), /at api\.approvers\.1: mallory is not in api\.operators/);
  assert.match(configError({ approvers: ['alice'] }), /at api\.approvers\.0: alice is not in api\.operators/);
  assert.match(configError({ operators, approvers: ['carol'] }), /at api\.approvers\.0: carol is a viewer: approvers must have role operator/);
  assert.match(configError({ operators, approverLists: { 'kust-replica': { gates: { reseed: ['alice'] } } } }), /at api\.approverLists\.kust-replica\.gates\.reseed: kust-replica has no gate reseed \(its gates: clean\)/);
  assert.match(configError({ operators, approverLists: { 'ctlr-roles': { gates: { keep: ['bob'] } } } }), /at api\.approverLists\.ctlr-roles\.gates\.keep\.0: bob is not in api\.operators/);
  assert.match(configError({ operators, approverLists: { 'kust-replica': { approvers: ['carol'] } } }), /carol is a viewer/);
  assert.match(configError({ operators, approverLists: { nosuch: { approvers: ['alice'] } } }), /at api\.approverLists\.nosuch: unknown runbook nosuch/);
  assert.match(configError({ operators: { alice: { role: 'operator' } } }), /at api\.operators\.alice: give exactly one of credentialHash and credentialFile/);
  assert.match(configError({ operators: { alice: { role: 'operator', credentialHash: h, credentialFile: '/x' } } }), /give exactly one of credentialHash and credentialFile/);
  assert.match(configError({ operators: { alice: { role: 'admin', credentialHash: h } } }), /at api\.operators\.alice\.role/);
  assert.match(configError({ operators: { alice: { role: 'operator', credentialHash: 'plaintext-credential' } } }), /a hash made by `medic operator hash`/);
  assert.match(configError({ operators: { 'al ice': { role: 'operator', credentialHash: h } } }), /at api\.operators\.al ice: Invalid key in record/);
  assert.match(configError({ trustedProxies: ['proxy.example'] }), /at api\.trustedProxies\.0: an IP address or a network/);
  assert.match(configError({ trustedProxies: ['10.0.0.0/33'] }), /at api\.trustedProxies\.0/);
  assert.equal(configError({ trustedProxies: ['127.0.0.5', '10.1.0.0/16', '::1', 'fd00::/8'] }), '');
  assert.match(configError({ directDecisions: 'sometimes' }), /at api\.directDecisions/);
});

test('settingsFor: the runbook approver lists, the gates of its own, and the decision public key with the direct-decision setting', () => {
  const h = hashCredential(SECRET, CHEAP);
  const keyFile = path.join(dir, 'settings', 'decision-key.pem');
  const keys = DecisionKeys.loadOrCreate(keyFile);
  const c = config({
    operators: { alice: { role: 'operator', credentialHash: h }, bob: { role: 'operator', credentialHash: h }, dave: { role: 'operator', credentialHash: h } },
    approvers: ['alice', 'bob', 'dave'],
    approverLists: { 'manticore-cluster': { approvers: ['alice', 'bob'], gates: { bootstrap: ['alice'] } }, 'ctlr-roles': { gates: { keep: ['bob'] } } },
    decisionKeyFile: keyFile,
  });
  const pick = (rb: Parameters<typeof settingsFor>[1]) => {
    const s = settingsFor(c, rb);
    return { approvers: s.approvers, stepApprovers: s.stepApprovers, identity: s.identity };
  };
  const identity = { publicKeys: [keys.publicKeyBase64()], direct: 'refuse' };
  assert.deepEqual(pick('manticore-cluster'), { approvers: ['alice', 'bob'], stepApprovers: { bootstrap: ['alice'] }, identity });
  assert.deepEqual(pick('ctlr-roles'), { approvers: ['alice', 'bob', 'dave'], stepApprovers: { keep: ['bob'] }, identity });
  assert.deepEqual(pick('kust-replica'), { approvers: ['alice', 'bob', 'dave'], stepApprovers: undefined, identity });
  const allow = config({ decisionKeyFile: keyFile, directDecisions: 'allow' });
  assert.deepEqual(settingsFor(allow, 'autoflip').identity, { publicKeys: [keys.publicKeyBase64()], direct: 'allow' });
});

test('the decision key: created 0600 beside a 0644 .pub; signatures verify with node:crypto and tweetnacl and break when any signed field changes', () => {
  const keyFile = path.join(dir, 'new', 'sub', 'decision-key.pem');
  const keys = DecisionKeys.loadOrCreate(keyFile);
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.equal(statSync(`${keyFile}.pub`).mode & 0o777, 0o644);
  assert.match(readFileSync(keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(DecisionKeys.loadOrCreate(keyFile).publicKeyBase64(), keys.publicKeyBase64(), 'the next start keeps the key');
  const raw = Buffer.from(keys.publicKeyBase64(), 'base64');
  assert.equal(raw.length, 32);
  const pub = createPublicKey(readFileSync(`${keyFile}.pub`, 'utf8'));
  assert.equal(Buffer.from(pub.export({ format: 'jwk' }).x ?? '', 'base64url').toString('base64'), keys.publicKeyBase64(), 'the .pub holds the same key');

  const decision = { action: 'approve' as const, by: 'alice', choice: 'vkt04', comment: 'go' };
  const proof = keys.sign(decision, { workflowId: 'ctlr-roles/ctlr-1', pendingSince: '2026-12-06T10:00:00.000Z', via: 'api', source: '192.0.2.7', at: '2026-12-06T10:01:00.000Z' });
  const ok = (d: typeof decision, p: DecisionProof) => {
    const payload = Buffer.from(decisionPayload(d, p), 'utf8');
    const sig = Buffer.from(p.signature, 'base64');
    const byNode = verify(null, payload, pub, sig);
    assert.equal(nacl.sign.detached.verify(payload, sig, raw), byNode, 'tweetnacl and node:crypto agree');
    return byNode;
  };
  assert.equal(ok(decision, proof), true);
  assert.equal(ok({ ...decision, by: 'bob' }, proof), false, 'another operator');
  assert.equal(ok({ ...decision, choice: 'vkt03' }, proof), false, 'another choice');
  assert.equal(ok({ ...decision, action: 'reject' as 'approve' }, proof), false, 'another action');
  assert.equal(ok(decision, { ...proof, pendingSince: '2026-12-06T11:00:00.000Z' }), false, 'another pending decision');
  assert.equal(ok(decision, { ...proof, workflowId: 'ctlr-roles/ctlr-2' }), false, 'another run');
  assert.equal(ok(decision, { ...proof, source: '192.0.2.8' }), false, 'another source');
  const other = DecisionKeys.loadOrCreate(path.join(dir, 'other', 'decision-key.pem'));
  assert.equal(ok(decision, other.sign(decision, proof)), false, 'another key');
});

test('starters: the public key from the .pub when the private key is not usable here; neither: a clear error; the API refuses a key others may read', () => {
  const keyFile = path.join(dir, 'starter', 'decision-key.pem');
  const keys = DecisionKeys.loadOrCreate(keyFile);
  const c = config({ decisionKeyFile: keyFile });
  // Others may read it: the API refuses it; a starter still finds the public key in the .pub.
  chmodSync(keyFile, 0o644);
  assert.throws(() => DecisionKeys.load(keyFile), (e: Error) => e instanceof ConfigError && e.message === `decision key ${keyFile} has mode 0644: readable or writable by group or others (chmod 600 it)`);
  assert.equal(decisionPublicKey(c), keys.publicKeyBase64());
  const none = config({ decisionKeyFile: path.join(dir, 'nokey', 'decision-key.pem') });
  assert.throws(
    () => settingsFor(none, 'kust-replica'),
    (e: Error) => e instanceof ConfigError && /no decision key to start runs with: .*nokey\/decision-key\.pem cannot be read: ENOENT, and .*decision-key\.pem\.pub is missing\. The API creates both on its first start/.test(e.message),
  );
  writeFileSync(path.join(dir, 'notakey.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', { mode: 0o600 });
  assert.throws(() => DecisionKeys.load(path.join(dir, 'notakey.pem')), /is not an Ed25519 private key/);
});
