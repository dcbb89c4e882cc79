/**
 * `medic operator hash`, for the administrator who adds an operator to `api.operators`: a new credential
 * (to give to the person, who keeps it in their token file) and its scrypt hash (the only thing the
 * configuration keeps); or, with --stdin, the hash of a credential the person chose. The credential is
 * never an argument (it would be in the shell history and the process list).
 */
import { EXIT, usageError } from './exit';
import { print } from './format';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function operatorHash(opts: { stdin?: boolean; json?: boolean }): Promise<number> {
  const { hashCredential, newCredential } = await import('../../worker/identity');
  if (opts.stdin) {
    const credential = (await readStdin()).trim();
    // The rule of the API's credential files (worker/identity.ts).
    if (credential.length < 16 || /\s/.test(credential)) throw usageError('the credential on stdin must be one line of at least 16 characters without spaces');
    const hash = hashCredential(credential);
    print(opts.json, hash, { hash });
    return EXIT.ok;
  }
  const credential = newCredential();
  const hash = hashCredential(credential);
  print(
    opts.json,
    [
      `credential: ${credential}`,
      '  give it to the operator (into their ~/.config/medic/token, mode 0600, or MEDIC_TOKEN); it is not kept anywhere',
      `hash: ${hash}`,
      '  for the configuration: api.operators.<name>.credentialHash (or a credentialFile, mode 0600)',
    ].join('\n'),
    { credential, hash },
  );
  return EXIT.ok;
}
