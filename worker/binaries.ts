/**
 * The Temporal binaries: the project provisions them (scripts/provision-temporal.sh: environment,
 * then PATH, then the .tools cache, else build the CLI with `go install` / fetch the test server from
 * Maven Central). This asks the script once per process.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

let cached: { cli: string; testServer: string } | undefined;

export function temporalBinaries(): { cli: string; testServer: string } {
  if (cached) return cached;
  const out = execFileSync('bash', [path.join(REPO_ROOT, 'scripts', 'provision-temporal.sh'), '--print-paths'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const get = (key: string) => {
    const m = new RegExp(`^${key}=(.+)$`, 'm').exec(out);
    if (!m) throw new Error(`provision-temporal.sh did not print ${key}`);
    return m[1].trim();
  };
  cached = { cli: get('TEMPORAL_CLI'), testServer: get('TEMPORAL_TEST_SERVER') };
  return cached;
}
