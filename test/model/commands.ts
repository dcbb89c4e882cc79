/**
 * The generated steps of the model-based tests (fast-check commands) and their arbitraries: world events,
 * alerts (firing, duplicate, resolved), a start by hand, operator decisions (fitting or refused), time
 * advancing, worker restarts. Each step acts on the real system and is followed by the invariant checks
 * (ModelSystem.step); the fast-check model is empty: what may happen next is read from the real runs.
 */
import fc from 'fast-check';
import type { Policy } from '../../config/schema';
import type { DecideParams, ModelSystem, Start, Target } from './system';
import { describeEvent, WorldEvent } from './world';

type Model = Record<string, never>;

/** A generated step: its name (as fast-check prints the sequence) and what it does to the real system. */
class Step implements fc.AsyncCommand<Model, ModelSystem> {
  constructor(
    private readonly name: string,
    private readonly act: (s: ModelSystem) => Promise<string>,
  ) {}
  check(): boolean {
    return true;
  }
  async run(_m: Model, s: ModelSystem): Promise<void> {
    await s.step(this.name, () => this.act(s));
  }
  toString(): string {
    return this.name;
  }
}

const world = (e: WorldEvent) => new Step(`world(${describeEvent(e)})`, (s) => s.world(e));
const alert = (t: Exclude<Target, 'ctlr-roles'>, firing: boolean, from: string) =>
  new Step(t === 'ctlr-replica' ? `alert(ctlr_topo_check on ${from})` : `alert(${t}, ${firing ? 'firing' : 'resolved'})`, (s) => s.alert(t, firing, from));
const startByHand = new Step('start(ctlr-roles by hand)', (s) => s.startByHand());
const decideOn = (t: Target | 'pending', p: DecideParams) => new Step(`decide(${t}, ${p.verb}#${p.pick}, by ${p.by}, choice ${p.choice}, ${p.via})`, (s) => s.decide(t, p));
const advanceBy = (d: string) => new Step(`advance(${d})`, (s) => s.advance(d));
const restartWorker = (mode: 'now' | 'after-next') =>
  new Step(`restart-worker(${mode})`, async (s) => {
    if (mode === 'after-next') {
      s.restartAfterNextStep();
      return 'the next step restarts the worker right after acting';
    }
    await s.restartWorker();
    return 'worker restarted';
  });

const galeraNode = fc.constantFrom('mc-a', 'mc-b', 'mc-c');
const galeraEvent: fc.Arbitrary<WorldEvent> = fc.oneof(
  { weight: 4, arbitrary: galeraNode.map((node) => ({ kind: 'galera-crash' as const, node })) },
  { weight: 3, arbitrary: galeraNode.map((node) => ({ kind: 'galera-stop' as const, node })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'galera-outage' as const }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 60 }).map((restoreBack) => ({ kind: 'galera-outage' as const, restoreBack })) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 20 }).map((n) => ({ kind: 'galera-commit' as const, n })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'galera-bootstrap-by-hand' as const }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 60 }).map((back) => ({ kind: 'galera-restore' as const, back })) },
);
const fleetEvent: fc.Arbitrary<WorldEvent> = fc.oneof(
  { weight: 4, arbitrary: galeraEvent },
  { weight: 1, arbitrary: fc.constant({ kind: 'ctlr-replica-dies' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'ctlr-split-brain' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'kust-replfailed' as const }) },
);

const decideParams: fc.Arbitrary<DecideParams> = fc.record({
  verb: fc.oneof({ weight: 8, arbitrary: fc.constant('fitting' as const) }, { weight: 1, arbitrary: fc.constantFrom('approve' as const, 'reject' as const, 'retry' as const, 'resolved' as const, 'abort' as const) }),
  pick: fc.nat(99),
  by: fc.constantFrom('alice', 'alice', 'bob', 'bob', 'mallory'),
  choice: fc.constantFrom('none' as const, 'pick' as const, 'pick' as const, 'pick' as const, 'bogus' as const),
  via: fc.constantFrom('update' as const, 'update' as const, 'signal' as const),
});

const alertTarget = fc.constantFrom('galera' as const, 'galera' as const, 'ctlr-replica' as const, 'kust' as const);
const ctlrNode = fc.constantFrom('vkt03', 'vkt03', 'vkt03', 'vkt04');
const decide = decideParams.map((p) => decideOn('pending', p));
// Operators take their time: waits long enough for reminders, the Galera sync timeout and the flapping guard.
const advance = fc.constantFrom('30s', '30s', '1m', '1m', '2m', '6m', '16m', '31m', '61m').map(advanceBy);
const restart = fc.constantFrom<'now' | 'after-next'>('now', 'after-next').map(restartWorker);


/** The whole fleet: every runbook of the model, weighted (decisions and time matter most). */
const fleetStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fleetEvent.map(world) },
  { weight: 4, arbitrary: fc.tuple(alertTarget, ctlrNode).map(([t, from]) => alert(t, true, from)) },
  { weight: 1, arbitrary: fc.constantFrom('galera' as const, 'kust' as const).map((t) => alert(t, false, 'vkt03')) },
  { weight: 1, arbitrary: fc.constant(startByHand) },
  { weight: 6, arbitrary: decide },
  // Decisions for a named target, whatever it waits for (mostly refused: nothing pending, or a closed run).
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom<Target>('galera', 'ctlr-replica', 'ctlr-roles', 'kust'), decideParams).map(([t, p]) => decideOn(t, p)) },
  { weight: 6, arbitrary: advance },
  { weight: 1, arbitrary: restart },
);

/** One Galera cluster through incident after incident (crashes, stops, power loss, restores from backup). */
const galeraStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: galeraEvent.map(world) },
  { weight: 3, arbitrary: fc.constant(alert('galera', true, '')) },
  { weight: 1, arbitrary: fc.constant(alert('galera', false, '')) },
  { weight: 6, arbitrary: decide },
  { weight: 4, arbitrary: advance },
  { weight: 1, arbitrary: restart },
);

export const fleetSequence = fc.array(fleetStep, { minLength: 12, maxLength: 24 });
export const galeraSequence = fc.array(galeraStep, { minLength: 18, maxLength: 32 });

const policy = fc.constantFrom<Policy>('auto', 'approve');
const galeraStart = fc.constantFrom('healthy', 'manticore-case1', 'manticore-case2', 'manticore-case3', 'manticore-case4', 'manticore-case5', 'manticore-case6');

/** The fleet's first picture and the approval policies of a sequence. */
export const fleetStart: fc.Arbitrary<Start> = fc.record({
  galera: galeraStart,
  events: fc.subarray<WorldEvent>([{ kind: 'ctlr-replica-dies' }, { kind: 'kust-replfailed' }]),
  policies: fc.record({ clean: policy, reseed: policy, bootstrap: policy, flapGuard: fc.constant('1h') }),
});

export const galeraOnlyStart: fc.Arbitrary<Start> = fc.record({
  galera: galeraStart,
  events: fc.constant([]),
  // The flapping guard off in half of them: a recovery right after the first one then needs no "retry" first.
  policies: fc.record({ clean: fc.constant<Policy>('auto'), reseed: fc.constant<Policy>('auto'), bootstrap: policy, flapGuard: fc.constantFrom('1h', '0s') }),
  // Every sequence starts with a cluster the service has recovered once: its run recorded the bootstrap.
  recoveredOnce: fc.constant(true),
});
