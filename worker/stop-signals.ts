/** SIGINT and SIGTERM for the long-running `medic` processes: the first one stops, later ones are only said. */

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** Calls `stop` once, at the first SIGINT or SIGTERM; another signal while it stops changes nothing. */
export function onStopSignal(stop: (signal: StopSignal) => void): void {
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) {
        console.log(`medic: ${signal}: already stopping`);
        return;
      }
      stopping = true;
      stop(signal);
    });
  }
}
