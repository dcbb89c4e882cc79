/**
 * The operator's own credential for the medic API: `--token-file FILE` when given, else $MEDIC_TOKEN,
 * else the token file in the user's configuration directory ($XDG_CONFIG_HOME/medic/token, or
 * ~/.config/medic/token). Like ssh with a private key, a token file that is not the user's own, or that
 * group or others may open, is refused (with the chmod that fixes it): a token that others can read is
 * a decision others can take in the operator's name.
 */
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError, EXIT } from './exit';

export function defaultTokenFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(base, 'medic', 'token');
}

const refuse = (message: string) => new CliError(message, EXIT.unauthorised);

/** The token and where it came from (for messages; never the token itself). */
export function operatorToken(tokenFile: string | undefined, env: NodeJS.ProcessEnv = process.env): { token: string; from: string } {
  if (tokenFile === undefined && env.MEDIC_TOKEN) return { token: env.MEDIC_TOKEN.trim(), from: 'MEDIC_TOKEN' };
  const file = path.resolve(tokenFile ?? defaultTokenFile(env));
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw refuse(
        tokenFile === undefined
          ? `no credential for the API: set MEDIC_TOKEN, or put your own API token in ${file} (then chmod 600 ${file}), or give --token-file FILE`
          : `the token file ${file} does not exist; give the file that holds your API token`,
      );
    }
    throw refuse(`cannot read the token file ${file}: ${(err as Error).message}`);
  }
  if (!st.isFile()) throw refuse(`the token file ${file} is not a file; give the file that holds your API token`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw refuse(`the token file ${file} belongs to another user (uid ${st.uid}); use a token file of your own`);
  const mode = st.mode & 0o777;
  if (mode & 0o077) throw refuse(`the token file ${file} is open to group or others (mode ${mode.toString(8).padStart(4, '0')}); make it yours alone: chmod 600 ${file}`);
  const lines = readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length !== 1 || /\s/.test(lines[0])) throw refuse(`the token file ${file} must hold one line: your API token`);
  return { token: lines[0], from: file };
}
