#!/usr/bin/env node
// npm run lab -- up <scenario> [--dir D] | log [--dir D] [--json] | state [--dir D] | fault '<json>' [--dir D] | down [--dir D] | scenarios
import * as fs from 'node:fs';
import * as path from 'node:path';
import { labDown, labUp, REPO_ROOT } from './lab';
import { listScenarios } from './scenario';
import { readCommandLog, readState, reapDeadTools, updateState } from './store';
import type { CommandFault } from './types';

function usage(): never {
  process.stderr.write(
    [
      'usage: npm run lab -- <command> [--dir D]',
      '  up <scenario> [--dir D]   start the lab in the background (default dir: <repo>/.lab)',
      '  log [--dir D] [--json]    the command log',
      '  state [--dir D]           the simulated state (JSON)',
      "  fault '<json>' [--dir D]  add a command fault, e.g. '{\"tool\":\"ic\",\"failTimes\":1}'",
      '  down [--dir D]            stop the lab',
      '  scenarios                 list the scenarios',
      '',
    ].join('\n'),
  );
  process.exit(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let dir = path.join(REPO_ROOT, '.lab');
  const pos: string[] = [];
  let json = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--dir') dir = path.resolve(args[++i] ?? usage());
    else if (args[i].startsWith('--dir=')) dir = path.resolve(args[i].slice(6));
    else if (args[i] === '--json') json = true;
    else pos.push(args[i]);
  }
  const [cmd, arg] = pos;
  switch (cmd) {
    case 'up': {
      if (!arg) usage();
      const lab = await labUp({ scenario: arg, dir, detached: true });
      process.stdout.write(`lab up: scenario ${lab.scenario} in ${lab.startupMs} ms\nconfig: ${lab.configPath}\n`);
      const st = lab.state();
      for (const [n, a] of Object.entries(lab.nodes)) process.stdout.write(`  ${n.padEnd(26)} ${a.address}:${a.port}${n === st.controlNode ? '  (control node)' : ''}\n`);
      process.stdout.write(`operators: ${Object.entries(lab.operators).map(([n, o]) => `${n} (${o.role})`).join(', ')}; their credentials in ${path.join(lab.dir, 'operators.json')}\n`);
      process.stdout.write(`ssh: ssh -i ${path.join(lab.dir, 'keys', 'id_ed25519')} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p <port> root@<address> "${path.join(lab.dir, 'bin', 'ic')}" map cox\n`);
      return;
    }
    case 'down':
      process.stdout.write((await labDown(dir)) ? `lab in ${dir} stopped\n` : `no lab in ${dir}\n`);
      return;
    case 'log': {
      reapDeadTools(dir);
      const entries = readCommandLog(dir);
      for (const e of entries) {
        if (json) {
          process.stdout.write(JSON.stringify(e) + '\n');
          continue;
        }
        const argv = e.argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
        const stdin = e.stdin !== undefined ? `  <<< ${JSON.stringify(e.stdin)}` : '';
        const fault = e.fault ? `  [${e.fault}]` : '';
        process.stdout.write(`${e.time}  ${e.node.padEnd(24)} exit=${String(e.exitCode).padEnd(4)} ${e.tool}${argv ? ' ' + argv : ''}${stdin}${fault}\n`);
      }
      if (!json) process.stdout.write(`(${entries.length} commands)\n`);
      return;
    }
    case 'state':
      process.stdout.write(JSON.stringify(readState(dir), null, 2) + '\n');
      return;
    case 'fault': {
      if (!arg) usage();
      const f = JSON.parse(arg) as CommandFault;
      if (typeof f.tool !== 'string') throw new Error('a fault needs "tool"');
      updateState(dir, (s) => {
        s.faults.push(f);
      });
      process.stdout.write('fault added\n');
      return;
    }
    case 'scenarios':
      for (const s of listScenarios()) process.stdout.write(`${s.name.padEnd(28)} ${s.description}\n`);
      return;
    default:
      usage();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`lab: ${(e as Error).message}\n`);
  if (!fs.existsSync(path.join(__dirname, 'tools', 'main.js'))) process.stderr.write('(build first: npx tsc -p .)\n');
  process.exit(1);
});
