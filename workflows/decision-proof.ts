/**
 * Verification of a decision's proof inside workflow code (issue 15): the API signs what an authenticated
 * operator decided (worker/decision-keys.ts, Ed25519 with node:crypto); the run checks the signature with
 * tweetnacl, pure JS and deterministic (node:crypto and Buffer do not exist in the workflow sandbox).
 * Only verification is used here: tweetnacl's random generator (its `require('crypto')`, bundled as an
 * empty module, worker/bundle.ts) is never called.
 */
import nacl from 'tweetnacl';
import { Decision, decisionPayload, DecisionProof } from './definitions';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard padded base64 -> bytes; undefined for anything else. */
function fromBase64(s: unknown): Uint8Array | undefined {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const body = s.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((body.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (const c of body) {
    acc = ((acc << 6) | B64.indexOf(c)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/**
 * The UTF-8 bytes of `s` as a Uint8Array of the workflow's own realm: the sandbox's TextEncoder is the host's,
 * and tweetnacl refuses a typed array of another realm (its instanceof check).
 */
const utf8 = (s: string) => Uint8Array.from(new TextEncoder().encode(s));

/** What a valid proof must answer: this run, and the decision pending now. */
export interface ProofContext {
  workflowId: string;
  /** `Pending.since` of the decision pending now (undefined: none is pending, so no proof is valid). */
  pendingSince: string | undefined;
  /** Base64 raw Ed25519 public keys (RunSettings.identity.publicKeys). */
  publicKeys: string[];
}

/**
 * The proof of `d` when it is valid: signed by one of the keys over decisionPayload(d, proof without its
 * signature), for this workflow and the pending decision (a proof cannot be replayed at a later gate or in
 * another run). Undefined when it is missing or not valid in any way.
 */
export function verifiedProof(d: Decision, ctx: ProofContext): DecisionProof | undefined {
  const p: unknown = d.proof;
  if (typeof p !== 'object' || p === null) return undefined;
  const { workflowId, pendingSince, via, source, at, signature } = p as Record<string, unknown>;
  if (ctx.pendingSince === undefined || workflowId !== ctx.workflowId || pendingSince !== ctx.pendingSince) return undefined;
  if ((via !== 'api' && via !== 'console') || typeof source !== 'string' || typeof at !== 'string') return undefined;
  const sig = fromBase64(signature);
  if (sig?.length !== nacl.sign.signatureLength) return undefined;
  const msg = utf8(decisionPayload(d, { workflowId, pendingSince, via, source, at }));
  const signedBy = ctx.publicKeys.some((k) => {
    const key = fromBase64(k);
    return key?.length === nacl.sign.publicKeyLength && nacl.sign.detached.verify(msg, sig, key);
  });
  return signedBy ? { workflowId, pendingSince, via, source, at, signature: signature as string } : undefined;
}
