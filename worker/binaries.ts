/**
 * The Temporal binaries: the project provisions them (scripts/provision-temporal.sh: environment,
 * then PATH, then the .tools cache, else build the CLI with `go install` / fetch the test server from
 * Maven Central). This asks the script once per process.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Runs a provisioning script with --print-paths and returns the KEY=<path> lines it printed for `keys`. */
export function printedPaths<K extends string>(script: string, keys: readonly K[]): Record<K, string> {
  const out = execFileSync('bash', [path.join(REPO_ROOT, 'scripts', script), '--print-paths'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const get = (key: string) => {
    const m = new RegExp(`^${key}=(.+)$`, 'm').exec(out);
    if (!m) throw new Error(`${script} did not print ${key}`);
    return m[1].trim();
  };
  return Object.fromEntries(keys.map((k) => [k, get(k)])) as Record<K, string>;
}

let cached: { cli: string; testServer: string } | undefined;

export function temporalBinaries(): { cli: string; testServer: string } {
  if (cached) return cached;
  const p = printedPaths('provision-temporal.sh', ['TEMPORAL_CLI', 'TEMPORAL_TEST_SERVER']);
  cached = { cli: p.TEMPORAL_CLI, testServer: p.TEMPORAL_TEST_SERVER };
  return cached;
}
