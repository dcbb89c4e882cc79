/**
 * The API's decision key: an Ed25519 key (PKCS8 PEM, `api.decisionKeyFile`, default
 * `<service.dataDir>/decision-key.pem`) with which the API signs each decision an authenticated operator
 * takes (workflows/definitions.ts DecisionProof). Every run carries the public key in its settings and
 * accepts only decisions signed by it (unless `api.directDecisions: allow`).
 *
 * The API creates the key on its first start when the file is missing (mode 0600, written whole or not at
 * all), and beside it `<file>.pub` (the public key, SPKI PEM, mode 0644) for processes that start runs but
 * may not read the private key (a `medic start` by another user). Several API processes share one key file.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, sign } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config/load';
import type { Config } from '../config/schema';
import type { DecisionSigner } from '../client/history';
import { type Decision, type DecisionIdentity, decisionPayload, type DecisionProof } from '../workflows/definitions';

/** The private key file of this configuration. */
export function decisionKeyFile(config: Config): string {
  return config.api.decisionKeyFile ?? path.join(config.service.dataDir, 'decision-key.pem');
}

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

/** Base64 of the raw 32-byte Ed25519 public key (what RunSettings.identity.publicKeys holds). */
function rawBase64(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url').toString('base64');
}

export class DecisionKeys {
  private constructor(
    private readonly privateKey: KeyObject,
    readonly file: string,
  ) {}

  /** Reads the key file; throws ConfigError when it is missing, unreadable, too open or not an Ed25519 key. */
  static load(file: string): DecisionKeys {
    let pem: string;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new ConfigError(`decision key ${file} is not a regular file`);
      if ((st.mode & 0o077) !== 0) throw new ConfigError(`decision key ${file} has mode ${octal(st.mode)}: readable or writable by group or others (chmod 600 it)`);
      pem = readFileSync(file, 'utf8');
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`decision key ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      const key = createPrivateKey(pem);
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key`);
      return new DecisionKeys(key, file);
    } catch (err) {
      throw new ConfigError(`decision key ${file} is not an Ed25519 private key (PKCS8 PEM): ${(err as Error).message}`);
    }
  }

  /** The key of this file, created (0600, and `<file>.pub`) when there is none yet. */
  static loadOrCreate(file: string): DecisionKeys {
    try {
      statSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`decision key ${file} cannot be read: ${(err as NodeJS.ErrnoException).code}`);
      createKeyFile(file);
    }
    const keys = DecisionKeys.load(file);
    keys.writePublicFile();
    return keys;
  }

  /** `<file>.pub` when it is missing (a start that ended between the two files). */
  private writePublicFile(): void {
    try {
      writeFileSync(`${this.file}.pub`, createPublicKey(this.privateKey).export({ format: 'pem', type: 'spki' }), { mode: 0o644, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }

  /** The API's key for this configuration (created on first use). */
  static forConfig(config: Config): DecisionKeys {
    return DecisionKeys.loadOrCreate(decisionKeyFile(config));
  }

  /** Base64 of the raw 32-byte public key. */
  publicKeyBase64(): string {
    return rawBase64(createPublicKey(this.privateKey));
  }

  /** The decision's proof: an Ed25519 signature over decisionPayload(decision, proof). */
  sign(decision: Pick<Decision, 'action' | 'by' | 'choice' | 'comment'>, proof: Omit<DecisionProof, 'signature'>): DecisionProof {
    const signature = sign(null, Buffer.from(decisionPayload(decision, proof), 'utf8'), this.privateKey).toString('base64');
    return { ...proof, signature };
  }

  /** A signer for sendDecision: through `via`, from `source`, signed now. */
  signer(via: DecisionProof['via'], source: string): DecisionSigner {
    return (decision, workflowId, pending) => this.sign(decision, { workflowId, pendingSince: pending.since, via, source, at: new Date().toISOString() });
  }
}

/** Writes a new key: to a temporary file first, then linked into place, so that a reader never sees half a key and two API processes starting at once keep one key. */
function createKeyFile(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  try {
    linkSync(tmp, file);
  } catch (err) {
    // Another process created it meanwhile: that key it is.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
}

const publicKeys = new Map<string, string>();

/**
 * The public key runs of this configuration accept, for a process that starts runs: derived from the
 * private key when this process may read it, else read from `<file>.pub`. Throws a ConfigError when there
 * is neither (a run started without the key could never be decided). Kept per file once read.
 */
export function decisionPublicKey(config: Config): string {
  const file = decisionKeyFile(config);
  const known = publicKeys.get(file);
  if (known) return known;
  let key: string;
  try {
    key = DecisionKeys.load(file).publicKeyBase64();
  } catch (privateErr) {
    try {
      key = rawBase64(createPublicKey(readFileSync(`${file}.pub`, 'utf8')));
    } catch (publicErr) {
      const why = (publicErr as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be used: ${(publicErr as Error).message}`;
      throw new ConfigError(
        `no decision key to start runs with: ${(privateErr as Error).message}, and ${file}.pub ${why}. ` +
          'The API creates both on its first start (api.decisionKeyFile, default <service.dataDir>/decision-key.pem); start it once, or give this user read access to the .pub file',
      );
    }
  }
  publicKeys.set(file, key);
  return key;
}

/** What every run of this configuration gets as `settings.identity`. */
export function decisionIdentity(config: Config): DecisionIdentity {
  return { publicKeys: [decisionPublicKey(config)], direct: config.api.directDecisions };
}
