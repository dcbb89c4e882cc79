/**
 * Figures of the reliability suites (cases run, crashes survived, inputs tried, ...): each test process
 * writes `<suite>.<pid>.json` into $MEDIC_FIGURES_DIR (default .data/figures), so that test files running
 * at the same time never overwrite each other; scripts/reliability-report.ts adds up a suite's parts
 * and writes the figures section of RELIABILITY.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const FIGURES_DIR = process.env.MEDIC_FIGURES_DIR ?? path.resolve(__dirname, '..', '..', '..', '.data', 'figures');

export interface Figures {
  suite: string;
  /** e.g. { "check_mk lines tried": 20000, "runs started from invalid input": 0 } */
  figures: Record<string, number>;
  /** Anything that did not behave as designed, one line each. */
  notes?: string[];
  at?: string;
}

/** Adds to (or sets) this suite's figures; several test files of one suite may contribute. */
export function recordFigures(suite: string, figures: Record<string, number>, notes: string[] = []): void {
  mkdirSync(FIGURES_DIR, { recursive: true });
  const file = path.join(FIGURES_DIR, `${suite}.${process.pid}.json`);
  let old: Figures = { suite, figures: {} };
  try {
    old = JSON.parse(readFileSync(file, 'utf8')) as Figures;
  } catch {
    /* first entry */
  }
  const merged: Figures = { suite, figures: { ...old.figures, ...figures }, notes: [...(old.notes ?? []), ...notes], at: new Date().toISOString() };
  writeFileSync(file, `${JSON.stringify(merged, null, 2)}\n`);
}
