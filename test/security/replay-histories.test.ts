/**
 * The committed replay histories (test/replay/histories/**) hold no private key material and nothing
 * shaped like a token: they are recorded from test runs and published with the code. First shown: the
 * scanner finds a planted key, a planted token in each encoding, and the shapes it looks for.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { test } from 'node:test';
import { temporal } from '@temporalio/proto';
import { recordFigures } from '../helpers/figures';
import { Corpus, encodedForms, findSecrets, findSecretShapes, privateKeySecrets, Secret } from './secret-scan';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const HISTORIES = path.join(ROOT, 'test', 'replay', 'histories');
/** The tokens that test helpers give the API when a configuration has none. */
const TEST_TOKENS: Secret[] = [
  { name: 'test webhook token', value: Buffer.from('w'.repeat(32)) },
  { name: 'test operator token', value: Buffer.from('o'.repeat(32)) },
];

function freshKey(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medic-scan-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'scan-test', '-f', path.join(dir, 'k')]);
    return readFileSync(path.join(dir, 'k'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the scanner finds a secret in each of its forms, a key leaked whole, by line or as its private bytes, and every shape', () => {
  const token: Secret = { name: 'token', value: Buffer.from('medic-operator-5f2c9a0e41b7d3c8a6e0f19b') };
  for (const f of encodedForms(token.value)) {
    const found = findSecrets([token], [{ where: 'planted', text: `{"event":"x","v":"..${f.text}.."}` }]);
    assert.ok(found.includes(`token (${f.form}) in planted`), f.form);
  }
  assert.deepEqual(findSecrets([token], [{ where: 'clean', text: 'medic-operator-5f2c9a0e41b7d3c8a6e0f19 (one short)' }]), []);
  const truncated = findSecrets([{ ...token, pieces: true }], [{ where: 'an error', text: 'invalid token r-5f2c9a0e41b7d3c8a6...' }]);
  assert.deepEqual(truncated, ['a 20-character piece of token (raw) in an error'], 'a piece of a random secret is found');

  const key = freshKey();
  const secrets = privateKeySecrets('key', key);
  const seed = secrets.at(-1)?.value as Buffer;
  assert.equal(seed.length, 32);
  const leaks: Corpus[] = [
    { where: 'a logged config', text: JSON.stringify({ privateKey: key }) },
    { where: 'one line', text: `error near ${key.split('\n')[2]}` },
    { where: 'a Buffer as JSON', text: JSON.stringify({ privateKey: Buffer.from(key) }) },
    { where: 'the seed in hex', text: `d=${seed.toString('hex')}` },
    { where: 'the seed, binary', text: `\u0000\u0012${seed.toString('latin1')}\u0000` },
    { where: 'a slice of its base64', text: `key ${Buffer.from(key).toString('base64').slice(101, 130)}...` },
  ];
  for (const c of leaks) assert.ok(findSecrets(secrets, [c]).length > 0, c.where);

  const shaped: Corpus[] = [
    { where: 'pem', text: key },
    { where: 'pkcs8', text: '-----BEGIN PRIVATE KEY-----' },
    { where: 'bearer', text: 'authorization: Bearer abcdefgh1234' },
    { where: 'field', text: '{"operatorToken":"x"}' },
    { where: 'hex', text: `token ${'0123456789abcdef'.repeat(3)} ` },
    { where: 'base64', text: Buffer.from('some private key material, 30+ bytes').toString('base64') },
  ];
  for (const c of shaped) assert.ok(findSecretShapes([c]).some((f) => f.includes(` in ${c.where}: `)), c.where);
  assert.deepEqual(findSecretShapes([{ where: 'build id', text: `"@temporalio/worker@1.24.0+${'fb08279a'.repeat(8)}"` }]), [], 'the SDK build ID is not a secret');
  // The decision public key in a run's settings and a decision's signature are public; 64 bytes of key in the same field are not let through.
  const pub = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 13 + 5) & 255)).toString('base64');
  const sig = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 29 + 3) & 255)).toString('base64');
  assert.equal(findSecretShapes([{ where: 'bare', text: `${pub} ${sig}` }]).length, 1, 'outside those fields they have the shape of key material');
  assert.deepEqual(findSecretShapes([{ where: 'settings', text: `{"identity":{"publicKeys":["${pub}"],"direct":"refuse"}}` }, { where: 'proof', text: `{"signature":"${sig}"}` }]), [], 'public keys and signatures are not secrets');
  assert.equal(findSecretShapes([{ where: 'a private key as a public one', text: `{"publicKeys":["${Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 255)).toString('base64')}"]}` }]).length, 1);
});

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

test('committed replay histories: no private key, no token, nothing shaped like one', () => {
  const corpora: Corpus[] = [];
  let events = 0;
  for (const file of files(HISTORIES)) {
    const raw = readFileSync(file);
    const bytes = file.endsWith('.gz') ? zlib.gunzipSync(raw) : raw;
    if (file.endsWith('.binpb.gz')) events += temporal.api.history.v1.History.decode(bytes).events?.length ?? 0;
    corpora.push({ where: path.relative(ROOT, file), text: bytes.toString('latin1') });
  }
  assert.ok(corpora.length > 0 && events > 0, 'histories found');
  assert.deepEqual([...findSecretShapes(corpora), ...findSecrets(TEST_TOKENS, corpora)], []);
  recordFigures('security', { 'replay history files scanned': corpora.length, 'replay history events scanned': events, 'secrets or secret shapes found in replay histories': 0 });
});
