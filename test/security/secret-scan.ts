/**
 * Looking for secrets in recorded text: each secret in every form it could take on the way (raw,
 * JSON-escaped once or twice, URL-encoded, hex, base64 / base64url at each of the three byte alignments,
 * a Buffer's JSON byte list), and shapes that any private key or token has, for corpora whose secrets
 * are not known (the committed replay histories).
 */
import { createPrivateKey } from 'node:crypto';
import { utils } from 'ssh2';

export interface Secret {
  name: string;
  value: Buffer;
  /**
   * Random throughout (a token, a key): also look for every 20-character piece of every form, so that a
   * truncated or partial leak is found too (20 random characters never match by chance).
   */
  pieces?: boolean;
}
/** One recorded thing: a log, a history (binary, read as latin1), an API answer. */
export interface Corpus {
  where: string;
  text: string;
}

/** Base64 of `value` as it appears inside a longer encoded run: the characters that depend only on it. */
function base64Inside(value: Buffer, alignment: number, url: boolean): string {
  const b = Buffer.concat([Buffer.alloc(alignment), value]).toString(url ? 'base64url' : 'base64');
  return b.slice([0, 2, 3][alignment], Math.floor((alignment + value.length) / 3) * 4);
}

/** Every form of the secret worth searching for (12 characters at least, so that nothing matches by chance). */
export function encodedForms(value: Buffer): { form: string; text: string }[] {
  const utf8 = value.toString('utf8');
  const forms = [
    { form: 'raw', text: utf8 },
    { form: 'latin1 bytes', text: value.toString('latin1') },
    { form: 'JSON-escaped', text: JSON.stringify(utf8).slice(1, -1) },
    { form: 'JSON-escaped twice', text: JSON.stringify(JSON.stringify(utf8)).slice(1, -1) },
    { form: 'JSON-escaped, / as \\/', text: JSON.stringify(utf8).slice(1, -1).replace(/\//g, '\\/') },
    { form: 'URL-encoded', text: encodeURIComponent(utf8) },
    { form: 'hex', text: value.toString('hex') },
    { form: 'byte list', text: [...value].join(',') },
  ];
  for (const url of [false, true]) for (const a of [0, 1, 2]) forms.push({ form: `${url ? 'base64url' : 'base64'} (alignment ${a})`, text: base64Inside(value, a, url) });
  const seen = new Set<string>();
  return forms.filter((f) => f.text.length >= 12 && !seen.has(f.text) && seen.add(f.text));
}

const PIECE = 20;

/** Each secret found: "<secret> (<form>) in <where>", or "a 20-character piece of <secret> (<form>) in <where>". */
export function findSecrets(secrets: Secret[], corpora: Corpus[]): string[] {
  const found: string[] = [];
  const pieces = new Map<string, string>();
  for (const s of secrets) {
    for (const f of encodedForms(s.value)) {
      for (const c of corpora) if (c.text.includes(f.text)) found.push(`${s.name} (${f.form}) in ${c.where}`);
      for (let i = 0; s.pieces && i + PIECE <= f.text.length; i++) {
        const piece = f.text.slice(i, i + PIECE);
        if (!pieces.has(piece)) pieces.set(piece, `${s.name} (${f.form})`);
      }
    }
  }
  // One pass over each corpus, every window looked up among the pieces.
  for (const c of corpora) {
    const hits = new Set<string>();
    for (let i = 0; pieces.size && i + PIECE <= c.text.length; i++) {
      const hit = pieces.get(c.text.slice(i, i + PIECE));
      if (hit) hits.add(hit);
    }
    for (const h of hits) found.push(`a ${PIECE}-character piece of ${h} in ${c.where}`);
  }
  return found;
}

/**
 * The secrets of an OpenSSH private key file: its text (by pieces too: a single line of it, or a slice of
 * its base64, is a leak) and the private key itself (for ed25519 the 32-byte seed), in case it leaks decoded.
 */
export function privateKeySecrets(name: string, fileText: string): Secret[] {
  const parsed = utils.parseKey(fileText);
  if (parsed instanceof Error) throw parsed;
  const jwk = createPrivateKey(parsed.getPrivatePEM()).export({ format: 'jwk' });
  if (!jwk.d) throw new Error(`${name}: no private part`);
  return [
    { name: `${name} (file)`, value: Buffer.from(fileText), pieces: true },
    { name: `${name} (private key bytes)`, value: Buffer.from(jwk.d, 'base64url'), pieces: true },
  ];
}

/** Shapes that a private key or token has, whoever's: key armour and OpenSSH's magic, long hex or base64 runs, a bearer credential. */
const SHAPES: { what: string; re: RegExp }[] = [
  { what: 'PEM private key armour', re: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/ },
  { what: 'OpenSSH private key magic', re: /openssh-key-v1|b3BlbnNzaC1rZXktdjE/ },
  { what: 'a bearer credential', re: /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/i },
  { what: 'a credential field', re: /"?(webhookToken|operatorToken|apiKey|api[_-]key|password|passwd|secret)"?\s*[:=]/i },
  { what: 'a hex run of 32+ characters (a generated token)', re: /(?<![0-9A-Fa-f])[0-9A-Fa-f]{32,}(?![0-9A-Fa-f])/ },
  { what: 'a base64 run of 40+ characters (key material)', re: /(?<![A-Za-z0-9+/])(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[0-9])[A-Za-z0-9+/]{40,}={0,2}/ },
];

/**
 * What is known not to be secret and has one of those shapes: the SDK's build ID of a workflow bundle
 * (`@temporalio/worker@<version>+<sha256 of the bundle>`), removed before the shapes are looked for.
 */
/**
 * Public values that look like key material: the SDK's build ID; the API's decision public keys in a run's
 * settings (`identity.publicKeys`, 32 bytes) and the Ed25519 signatures of decisions (`proof.signature`, 64
 * bytes). Only exactly those fields and lengths are let through: a private key's base64 is longer.
 */
const NOT_SECRET = [
  /@temporalio\/worker@[0-9A-Za-z.-]+\+[0-9a-f]{64}/g,
  /(\\?"publicKeys\\?":\[(?:\\?"[A-Za-z0-9+/]{43}=\\?",?)+\])/g,
  /(\\?"signature\\?":\\?"[A-Za-z0-9+/]{86}==\\?")/g,
];

/** Each secret-shaped string: "<what> in <where>: <excerpt>". */
export function findSecretShapes(corpora: Corpus[]): string[] {
  const found: string[] = [];
  for (const c of corpora) {
    const text = NOT_SECRET.reduce((t, re) => t.replace(re, '<public>'), c.text);
    for (const s of SHAPES) {
      const m = s.re.exec(text);
      if (m) found.push(`${s.what} in ${c.where}: ${JSON.stringify(text.slice(Math.max(0, m.index - 20), m.index + m[0].length + 20))}`);
    }
  }
  return found;
}
