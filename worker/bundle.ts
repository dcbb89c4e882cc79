/**
 * The workflow code a worker runs, bundled at build time instead of at every start (webpack takes a
 * second or more): scripts/bundle-workflows.ts (run by scripts/bootstrap.sh after tsc) writes
 * dist/workflow-bundle.js and, next to it, dist/workflow-bundle.json: the SDK version that bundled it,
 * the bundle's hash, and every file webpack read for it (the compiled workflows and what they import:
 * parsers, the SDK's workflow library, ...) with its hash. A worker uses the bundle only while the SDK
 * is the same and each of those files still has its hash; else it bundles at start, as without one.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BundleOptions } from '@temporalio/worker';

const DIST = path.resolve(__dirname, '..');
export const BUNDLE_FILE = path.join(DIST, 'workflow-bundle.js');
/** The compiled workflows' entry point (dist/workflows/index.js). */
export const WORKFLOWS_PATH = path.join(DIST, 'workflows', 'index.js');

interface Manifest {
  /** @temporalio/worker's version (its bundler made the bundle; its worker must load it). */
  sdk: string;
  /** sha256 of the bundle file. */
  bundle: string;
  /** Every file webpack read, relative to the manifest's folder -> sha256. */
  inputs: Record<string, string>;
}

export type WorkflowCode = { workflowBundle: { code: string } | { codePath: string } } | { workflowsPath: string; bundlerOptions: typeof WORKFLOW_BUNDLER_OPTIONS };

type WebpackConfig = Parameters<NonNullable<BundleOptions['webpackConfigHook']>>[0];
type Externals = (data: { request?: string; context?: string }, callback: (err?: Error, result?: string) => void) => unknown;
const TWEETNACL = path.dirname(require.resolve('tweetnacl/package.json'));

/**
 * tweetnacl (decision proofs, workflows/decision-proof.ts) has a `require('crypto')` for its random
 * generator, which the workflows never call: it bundles as an empty module (tweetnacl's `browser` field,
 * and the SDK's alias of every disallowed module), but the SDK's check for disallowed modules sees the
 * request first and refuses the bundle. This lets that one request through from tweetnacl's own folder;
 * `crypto` anywhere else in workflow code is still refused. (The SDK's `ignoreModules: ['crypto']` would
 * let it through from everywhere.)
 */
function allowTweetnaclCrypto(config: WebpackConfig): WebpackConfig {
  const check = config.externals;
  if (typeof check !== 'function') return config; // not the SDK's check as we know it: its refusal stands
  const externals: Externals = (data, callback) =>
    data.request === 'crypto' && data.context === TWEETNACL ? callback() : (check as unknown as Externals)(data, callback);
  return { ...config, externals: externals as WebpackConfig['externals'] };
}

/** What every bundling of the workflows takes: bundleWorkflowCode's options, or Worker.create's `bundlerOptions`. */
export const WORKFLOW_BUNDLER_OPTIONS = { webpackConfigHook: allowTweetnaclCrypto } as const;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const manifestOf = (bundleFile: string) => bundleFile.replace(/\.js$/, '') + '.json';

function sdkVersion(): string {
  return (JSON.parse(readFileSync(require.resolve('@temporalio/worker/package.json'), 'utf8')) as { version: string }).version;
}

/** Writes via a temp file and a rename, so a reader sees the old file or the new one, never half of one. */
function writeAtomically(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/**
 * Bundles `workflowsPath` into `bundleFile` (default dist/workflow-bundle.js) and writes its manifest;
 * webpack's own report is not printed (errors are). Returns the bundle's size and the number of inputs.
 */
export async function buildWorkflowBundle(opts: { workflowsPath?: string; bundleFile?: string } = {}): Promise<{ bytes: number; inputs: number }> {
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const bundleFile = opts.bundleFile ?? BUNDLE_FILE;
  let read: string[] = [];
  const quiet = () => undefined;
  const { code } = await bundleWorkflowCode({
    workflowsPath: opts.workflowsPath ?? WORKFLOWS_PATH,
    logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: (m) => console.error(m), error: (m) => console.error(m) },
    // The files webpack read (fileDependencies: modules and the package.json files it consulted).
    webpackConfigHook: (given) => {
      const config = WORKFLOW_BUNDLER_OPTIONS.webpackConfigHook(given);
      return {
        ...config,
        plugins: [
          ...(config.plugins ?? []),
          {
            apply: (compiler) =>
              compiler.hooks.afterCompile.tap('medic-bundle-inputs', (compilation) => {
                read = [...compilation.fileDependencies];
              }),
          },
        ],
      };
    },
  });
  const dir = path.dirname(bundleFile);
  const inputs: Record<string, string> = {};
  for (const f of read.sort()) {
    let data: Buffer;
    try {
      data = readFileSync(f);
    } catch {
      continue; // webpack's in-memory entry point, or a file that went away: nothing to compare later
    }
    inputs[path.relative(dir, f)] = sha256(data);
  }
  if (!Object.keys(inputs).some((f) => path.resolve(dir, f) === path.resolve(opts.workflowsPath ?? WORKFLOWS_PATH))) {
    throw new Error(`bundle-workflows: webpack did not report reading ${opts.workflowsPath ?? WORKFLOWS_PATH}; cannot tell when the bundle is stale`);
  }
  mkdirSync(dir, { recursive: true });
  writeAtomically(bundleFile, code);
  const manifest: Manifest = { sdk: sdkVersion(), bundle: sha256(code), inputs };
  writeAtomically(manifestOf(bundleFile), JSON.stringify(manifest, null, 1) + '\n');
  return { bytes: Buffer.byteLength(code), inputs: Object.keys(inputs).length };
}

/** The bundle built at build time when it is current, else why not (a short phrase). */
export function prebuiltBundle(bundleFile = BUNDLE_FILE): { code: string } | { stale: string } {
  let manifest: Manifest;
  let code: string;
  try {
    manifest = JSON.parse(readFileSync(manifestOf(bundleFile), 'utf8')) as Manifest;
    code = readFileSync(bundleFile, 'utf8');
  } catch {
    return { stale: `no prebuilt workflow bundle (${bundleFile})` };
  }
  if (manifest.sdk !== sdkVersion()) return { stale: `the prebuilt workflow bundle is of SDK ${manifest.sdk}, this worker's is ${sdkVersion()}` };
  if (manifest.bundle !== sha256(code)) return { stale: `${bundleFile} is not the file its manifest describes` };
  const dir = path.dirname(bundleFile);
  for (const [f, hash] of Object.entries(manifest.inputs ?? {})) {
    let now: string | undefined;
    try {
      now = sha256(readFileSync(path.resolve(dir, f)));
    } catch {
      now = undefined;
    }
    if (now !== hash) return { stale: `${path.resolve(dir, f)} ${now ? 'changed' : 'is gone'} since the workflow bundle was built` };
  }
  return { code };
}

/**
 * The workflow code for Worker.create: a bundle the caller gives (tests), else the file named by
 * MEDIC_WORKFLOW_BUNDLE (written by bundleWorkflowCode; used as it is), else the build-time bundle when it
 * is current, else the workflows bundled now (then `notice` says why, in one line).
 */
export function workflowCode(given: { code: string } | undefined, notice: (line: string) => void, env: NodeJS.ProcessEnv = process.env): WorkflowCode {
  if (given) return { workflowBundle: given };
  if (env.MEDIC_WORKFLOW_BUNDLE) return { workflowBundle: { codePath: env.MEDIC_WORKFLOW_BUNDLE } };
  const prebuilt = prebuiltBundle();
  if ('code' in prebuilt) return { workflowBundle: prebuilt };
  notice(`${prebuilt.stale}: bundling the workflows now (npm start builds it)`);
  return { workflowsPath: WORKFLOWS_PATH, bundlerOptions: WORKFLOW_BUNDLER_OPTIONS };
}
