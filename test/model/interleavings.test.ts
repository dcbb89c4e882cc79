/**
 * Model-based: generated interleavings of alerts (firing, duplicate, resolved), a start by hand, operator
 * decisions (fitting and refused, as Update and as Signal), worker restarts and time, against the time-skipping
 * server with the lab's tools on an in-memory fleet. After every step: never two open repairs of one target,
 * at most one Galera bootstrap per incident and none while a primary exists, never below an earlier bootstrap's
 * position, never both controllers demoted, no escalation or approval ended without an operator, no escalated
 * run ending as a success without "retry".
 *
 * Fixed seeds, reproducible (each sequence has a server of its own). A failure prints the seed, the path, every step
 * with what it did, and the violation. MEDIC_MODEL_SEED (base seed), MEDIC_MODEL_RUNS (sequences per property),
 * MEDIC_MODEL_PATH (replay the failing sequence only; pick its property with --test-name-pattern), MEDIC_MODEL_SHRINK=1
 * (shrink it; slow: every try is a real sequence), MEDIC_MODEL_DEBUG=1 (print every step as it runs).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { recordFigures } from '../helpers/figures';
import { fleetSequence, fleetStart, galeraOnlyStart, galeraSequence } from './commands';
import { ModelSystem, Start } from './system';

const SEED = Number(process.env.MEDIC_MODEL_SEED ?? 1312);
/** Sequences per property (MEDIC_MODEL_RUNS: both). */
const RUNS = { fleet: Number(process.env.MEDIC_MODEL_RUNS ?? 8), galera: Number(process.env.MEDIC_MODEL_RUNS ?? 12) };

const totals = { violations: 0, sequences: 0, commands: 0, restarts: 0, started: 0, joined: 0, decisions: 0, refused: 0, unroutable: 0, bootstraps: 0, guardRefusals: 0 };

/** Runs `runs` generated sequences; a failure names the seed, the path to replay it and every step it took. */
async function generated(name: keyof typeof RUNS, seed: number, start: fc.Arbitrary<Start>, sequence: typeof fleetSequence): Promise<void> {
  const numRuns = RUNS[name];
  console.log(`model ${name}: seed ${seed}, ${numRuns} sequences (replay a failure: MEDIC_MODEL_SEED=${SEED} MEDIC_MODEL_PATH=<path> node --test --test-name-pattern='${name === 'fleet' ? 'whole fleet' : 'Galera'}' dist/test/model/interleavings.test.js)`);
  const t0 = Date.now();
  const before = totals.commands;
  const property = fc.assert(
    fc.asyncProperty(start, sequence, async (s, steps) => {
      const sys = await ModelSystem.create(s);
      let failure: unknown;
      await fc.asyncModelRun(() => ({ model: {}, real: sys }), steps).catch((err: unknown) => (failure = err));
      totals.sequences++;
      for (const k of ['commands', 'restarts', 'started', 'joined', 'decisions', 'refused', 'unroutable'] as const) totals[k] += sys.stats[k];
      totals.bootstraps += sys.hosts.bootstraps.length;
      totals.guardRefusals += sys.hosts.notifications.filter((n) => n.kind === 'escalation' && /position guard: refused/.test(n.reason ?? '')).length;
      // A sequence that cannot be closed fails too, but never hides the failure of one of its steps.
      await sys.close().catch((err: unknown) => (failure ??= err));
      if (failure) throw failure;
    }),
    { seed, numRuns, includeErrorInReport: true, endOnFailure: process.env.MEDIC_MODEL_SHRINK !== '1', ...(process.env.MEDIC_MODEL_PATH ? { path: process.env.MEDIC_MODEL_PATH } : {}) },
  );
  await property.catch((err: unknown) => {
    totals.violations++;
    throw err;
  });
  console.log(`model ${name}: ${totals.commands - before} steps in ${Math.round((Date.now() - t0) / 1000)} s`);
}

test('the whole fleet: generated interleavings keep every safety invariant', async () => {
  await generated('fleet', SEED, fleetStart, fleetSequence);
});

test('one Galera cluster through incident after incident: never two bootstraps, never a bootstrap below an earlier one', async () => {
  await generated('galera', SEED + 1, galeraOnlyStart, galeraSequence);
});

/**
 * Found by this model (fixed): ctlr-replica (its alert turned out to be a split brain) and ctlr-roles (started by
 * hand) were two open runs of one controller pair; both waited for "keep which?", and two operators answering
 * differently demoted both controllers. Now a start while the other runbook's run of the pair is open joins it, and
 * ctlr-roles looks again after its approval before it demotes anything.
 */
test('two triggers for the controller pair, kept nodes chosen differently: one run, never both controllers demoted', async () => {
  const sys = await ModelSystem.create({ galera: 'healthy', events: [{ kind: 'ctlr-split-brain' }], policies: { clean: 'auto', reseed: 'auto', bootstrap: 'auto', flapGuard: '1h' } });
  try {
    await sys.step('alert(ctlr_topo_check on vkt03)', () => sys.alert('ctlr-replica', true, 'vkt03'));
    await sys.step('start(ctlr-roles by hand)', () => sys.startByHand());
    assert.equal(await sys.open('ctlr-roles/ctlr-1'), false, 'the start joined the open ctlr-replica run of the pair');
    await sys.step('decide(ctlr-replica, approve, keep vkt03)', () => sys.decide('ctlr-replica', { verb: 'approve', pick: 0, by: 'alice', choice: 'pick', via: 'update' }));
    await sys.step('decide(ctlr-roles, approve, keep vkt04)', () => sys.decide('ctlr-roles', { verb: 'approve', pick: 1, by: 'bob', choice: 'pick', via: 'update' }));
  } finally {
    await sys.close();
  }
});

after(() => {
  console.log(`model: ${JSON.stringify(totals)}`);
  recordFigures('model', {
    'sequences generated': totals.sequences,
    'commands executed': totals.commands,
    'worker restarts': totals.restarts,
    'runs started': totals.started,
    'alerts joined to an open run': totals.joined,
    'operator decisions': totals.decisions,
    'decisions refused': totals.refused,
    'Galera bootstraps': totals.bootstraps,
    'bootstraps refused by the position guard': totals.guardRefusals,
    // fast-check stops a property at its first failing sequence: this counts the properties that found one.
    'invariant violations': totals.violations,
  });
});
