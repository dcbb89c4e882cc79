/**
 * Writes the figures of the last reliability run into RELIABILITY.md (between the `figures` markers):
 * what the suites recorded in .data/figures (test/helpers/figures.ts), a suite's parts added up, with
 * the machine and the commit. Run after `npm test` and `npm run test:chaos`:
 *   node dist/scripts/reliability-report.js
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIGURES_DIR, Figures } from '../test/helpers/figures';

const ROOT = path.resolve(__dirname, '..', '..');
const DOC = path.join(ROOT, 'RELIABILITY.md');
const BEGIN = '<!-- figures:begin (scripts/reliability-report.ts) -->';
const END = '<!-- figures:end -->';

/** chaos-kust-replica-worker.123.json -> chaos; fuzz.456.json -> fuzz. */
const suiteOf = (file: string) => file.replace(/\.\d+\.json$/, '').replace(/\.json$/, '').replace(/^chaos-.*/, 'chaos');

function collect(): Map<string, { figures: Map<string, number>; notes: string[]; at: string }> {
  const out = new Map<string, { figures: Map<string, number>; notes: string[]; at: string }>();
  let files: string[] = [];
  try {
    files = readdirSync(FIGURES_DIR).filter((f) => f.endsWith('.json')).sort();
  } catch {
    /* none */
  }
  for (const f of files) {
    const doc = JSON.parse(readFileSync(path.join(FIGURES_DIR, f), 'utf8')) as Figures;
    const suite = suiteOf(f);
    const entry = out.get(suite) ?? { figures: new Map<string, number>(), notes: [], at: '' };
    for (const [k, v] of Object.entries(doc.figures)) entry.figures.set(k, (entry.figures.get(k) ?? 0) + v);
    entry.notes.push(...(doc.notes ?? []));
    if ((doc.at ?? '') > entry.at) entry.at = doc.at ?? '';
    out.set(suite, entry);
  }
  return out;
}

/** The crash matrix as a table: runbook x kind -> cases, passed, changing commands run twice. */
function chaosTable(figures: Map<string, number>): string[] {
  const runbooks = [...new Set([...figures.keys()].map((k) => /^(\S+) (worker|tree) cases$/.exec(k)?.[1]).filter((r): r is string => Boolean(r)))];
  if (!runbooks.length) return [];
  const get = (k: string) => figures.get(k) ?? 0;
  const rows = runbooks.map((r) => `| ${r} | ${get(`${r} commands`)} | ${get(`${r} waits`)} | ${get(`${r} worker cases`)} (${get(`${r} worker passed`)} passed) | ${get(`${r} tree cases`)} (${get(`${r} tree passed`)} passed) | ${get(`${r} worker changing commands run twice`) + get(`${r} tree changing commands run twice`)} | ${get(`${r} worker seconds`) + get(`${r} tree seconds`)} |`);
  const total = (suffix: string) => runbooks.reduce((n, r) => n + get(`${r} worker ${suffix}`) + get(`${r} tree ${suffix}`), 0);
  const others = [...figures].filter(([k]) => !/^\S+ ((worker|tree) .*|commands|waits)$/.test(k)).map(([k, v]) => `- ${k}: ${v}`);
  return [
    '| runbook | commands | waits | worker killed: cases | whole tree killed: cases | changing commands run twice | seconds |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    `| **all** | | | | **${total('cases')} cases, ${total('passed')} passed** | **${total('changing commands run twice')}** | ${total('seconds')} |`,
    '',
    ...others,
    ...(others.length ? [''] : []),
  ];
}

function render(): string {
  const suites = collect();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    /* not a checkout */
  }
  const lines = [BEGIN, '', `Last run: commit ${commit}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}.`, ''];
  for (const [suite, { figures, notes }] of [...suites].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`**${suite}**`, '');
    if (suite === 'chaos') lines.push(...chaosTable(figures));
    else {
      lines.push('| figure | value |', '|---|---|');
      for (const [k, v] of figures) lines.push(`| ${k} | ${v} |`);
      lines.push('');
    }
    for (const n of notes) lines.push(`- ${n}`);
    if (notes.length) lines.push('');
  }
  if (!suites.size) lines.push('(no figures recorded: run `npm test` and `npm run test:chaos` first)', '');
  lines.push(END);
  return lines.join('\n');
}

const doc = readFileSync(DOC, 'utf8');
const from = doc.indexOf(BEGIN);
const to = doc.indexOf(END);
if (from < 0 || to < from) throw new Error(`${DOC} has no figures markers`);
writeFileSync(DOC, doc.slice(0, from) + render() + doc.slice(to + END.length));
console.log(`reliability-report: figures of ${collect().size} suites written into ${DOC}`);
