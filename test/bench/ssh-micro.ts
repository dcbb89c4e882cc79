/**
 * The SSH pool alone against the bench lab (a profiling aid): per command wall time and the lab sshd's
 * CPU (with the shells and tools it reaped), plain and under the journal, one at a time and 20 at once.
 *   node dist/test/bench/ssh-micro.js [n] [cap]
 */
import { loadConfig } from '../../config/load';
import { SshPool } from '../../activities/ssh';
import { labUp } from '../../lab/lab';
import { cpuSeconds } from '../../worker/proc';
import { nowMs } from './harness';

async function main() {
  const n = Number(process.argv[2] ?? 200);
  const cap = Number(process.argv[3] ?? 4);
  const lab = await labUp({ scenario: 'healthy', tools: 'bench', extraConfig: { ssh: { maxConcurrentPerHost: cap } } });
  try {
    const config = loadConfig(lab.configPath);
    const pool = new SshPool(config);
    const host = config.inventory.controlNode;
    const sshd = () => lab.sshdPids(host).reduce((a, p) => a + cpuSeconds(p), 0);
    await pool.exec(host, { argv: ['/bin/true'] });
    const measure = async (name: string, conc: number, run: (i: number) => Promise<unknown>) => {
      const c0 = sshd();
      const t0 = nowMs();
      let next = 0;
      await Promise.all(Array.from({ length: conc }, async () => {
        for (let i = next++; i < n; i = next++) await run(i);
      }));
      const ms = (nowMs() - t0) / n;
      console.log(`${name.padEnd(34)} ${conc} at a time: ${ms.toFixed(1)} ms per command (wall / n), sshd CPU ${(((sshd() - c0) / n) * 1000).toFixed(1)} ms per command`);
    };
    const tag = Date.now().toString(36);
    for (const conc of [1, 20]) {
      await measure('plain /bin/true', conc, () => pool.exec(host, { argv: ['/bin/true'] }));
      await measure('journaled /bin/true', conc, (i) => pool.exec(host, { argv: ['/bin/true'] }, { journal: `micro-${tag}-${conc}-${i}` }));
    }
    pool.close();
  } finally {
    await lab.down();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
