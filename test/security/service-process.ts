/**
 * The service as `npm start` runs it, `node dist/worker/main.js --config FILE`, as a child process: its own
 * embedded Temporal on a free port (no Web UI), every line it prints kept.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../helpers/service';

export interface ServiceProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved as they came. */
  output(): string;
  /** The API's URL once it listens (undefined when the process exited first). */
  apiUrl?: string;
  temporalAddress: string;
  /** The exit code (null: ended by a signal). */
  exited: Promise<number | null>;
  /** SIGTERM (the service stops its worker, API and Temporal), then SIGKILL to whatever still names dataDir. */
  stop(): Promise<void>;
}

const MAIN = path.resolve(__dirname, '../../worker/main.js');

/** Processes whose command line names `needle` (a data dir of this test): what a failed start may leave. */
function processesNaming(needle: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Starts the service; resolves once the API listens or the process has exited. `dataDir` is the config's service.dataDir. */
export async function startServiceProcess(configFile: string, dataDir: string): Promise<ServiceProcess> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, MEDIC_TEMPORAL_PORT: String(port), MEDIC_UI_PORT: '0' };
  // The embedded Temporal, whatever the caller's environment says (TEMPORAL_CLI only says where the binary is).
  for (const k of Object.keys(env)) if (k.startsWith('TEMPORAL_') && k !== 'TEMPORAL_CLI') delete env[k];
  const child = spawn(process.execPath, [MAIN, '--config', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const apiUrl = await new Promise<string | undefined>((resolve) => {
    const collect = (b: Buffer) => {
      out += b.toString();
      const m = /^medic: API (http:\/\/\S+)/m.exec(out);
      if (m) resolve(m[1]);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    void exited.then(() => resolve(undefined));
  });
  const cleanUp = () => {
    for (const pid of processesNaming(dataDir)) process.kill(pid, 'SIGKILL');
  };
  if (!apiUrl) cleanUp();
  return {
    child,
    output: () => out,
    apiUrl,
    temporalAddress: `127.0.0.1:${port}`,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.kill('SIGTERM');
        await exited;
        clearTimeout(kill);
      }
      // Until main.ts stops its embedded Temporal when it fails, that server outlives a failed start.
      cleanUp();
    },
  };
}
