/**
 * Alert intake, shared by the webhook routes and the CLI: validate an alert, route it to runbook
 * runs (the rule table in the configuration, then the built-in check_mk routes), and deliver it:
 * a firing alert starts the run or joins the open one; a resolved alert is recorded on the open run.
 *
 * Storms: the run ID is the dedup key. A firing duplicate for an open run sends at most one
 * "seen again" signal per run per `intake.seenAgainInterval`, and a resolved alert is signalled once,
 * so 100,000 duplicates add a bounded number of history events. They cost few Temporal calls too:
 * concurrent deliveries for the same run ID share one call (single flight), and what Temporal answered
 * (the run is open: a start or an AlreadyStarted; no open run: a resolution refused) is taken as true
 * for KNOWN_OPEN_MS after the answer, so that duplicates within that window are answered from memory
 * (in its second half, one of them renews the answer in the background). The price: an alert within that
 * window after its run closed joins the closed run; the first one after it starts the new run.
 */
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import type { Config } from '../config/schema';
import { classifyCheckMk, CheckMkLine, parseCheckMkLine } from '../parsers/checkmk';
import { fail, ok, Parsed } from '../parsers/result';
import { alertResolvedSignal, RunbookName } from '../workflows/definitions';
import { msOf } from '../workflows/duration';
import { isRunbook, RUNBOOKS, startRun, validateParams, workflowIdOf } from './runbooks';

export interface Route {
  runbook: RunbookName;
  params: Record<string, string>;
}

/** A routed check_mk classification; a list-valued parameter (autoflip `maps`) means one run per element. */
function toRoutes(runbook: string, params: Record<string, string | string[]>): Parsed<Route[]> {
  if (!isRunbook(runbook)) return fail(`runbook ${runbook} is not available in this service`);
  const lists = Object.entries(params).filter(([, v]) => Array.isArray(v)) as [string, string[]][];
  const scalars = Object.fromEntries(Object.entries(params).filter(([, v]) => !Array.isArray(v))) as Record<string, string>;
  const expanded: Record<string, string>[] =
    lists.length === 0 ? [scalars] : lists[0][1].map((v) => ({ ...scalars, [lists[0][0].replace(/s$/, '')]: v }));
  try {
    return ok(expanded.map((p) => ({ runbook, params: validateParams(runbook, p) })));
  } catch (err) {
    return fail((err as Error).message);
  }
}

export function routeCheckMk(line: CheckMkLine): Parsed<Route[]> {
  const c = classifyCheckMk(line);
  if (!c.ok) return c;
  return toRoutes(c.value.runbook, c.value.params);
}

// ---- Alertmanager (webhook payload version 4) ----

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** No control characters but tab and newline (annotations are prose), bounded length. */
const text = (max: number) =>
  z
    .string()
    .max(max, `longer than ${max} characters`)
    .refine((s) => !/[\x00-\x08\x0b-\x1f\x7f]/.test(s), 'contains control characters');
const labelMap = (max: number) =>
  z
    .record(z.string().regex(LABEL_NAME, 'a label name ([A-Za-z_][A-Za-z0-9_]*)'), text(max))
    .refine((m) => Object.keys(m).length <= 64, 'more than 64 entries');

export const AlertSchema = z
  .object({
    status: z.enum(['firing', 'resolved']),
    labels: labelMap(1024),
    annotations: labelMap(8192).default({}),
    startsAt: z.string().max(64),
    endsAt: z.string().max(64).optional(),
    generatorURL: z.string().max(2048).optional(),
    fingerprint: z.string().regex(/^[0-9a-f]{1,64}$/, 'hex').optional(),
  })
  .strict();

export const AlertmanagerPayloadSchema = z
  .object({
    version: z.literal('4'),
    receiver: text(256),
    status: z.enum(['firing', 'resolved']),
    alerts: z.array(AlertSchema).min(1).max(1000),
    groupLabels: labelMap(1024).default({}),
    commonLabels: labelMap(1024).default({}),
    commonAnnotations: labelMap(8192).default({}),
    externalURL: z.string().max(2048).default(''),
    groupKey: text(4096).optional(),
    truncatedAlerts: z.number().int().min(0).default(0),
  })
  .strict();

export type AmAlert = z.infer<typeof AlertSchema>;

export interface RoutingRule {
  /** Label name -> exact value, or `~regex` (anchored). */
  match: Record<string, string>;
  runbook: string;
  /** Parameter -> `$labels.NAME`, `$annotations.NAME` or a literal. */
  params: Record<string, string>;
}

function ruleMatches(rule: RoutingRule, labels: Record<string, string>): boolean {
  return Object.entries(rule.match).every(([name, want]) => {
    const got = labels[name];
    if (got === undefined) return false;
    return want.startsWith('~') ? new RegExp(`^(?:${want.slice(1)})$`).test(got) : got === want;
  });
}

function fill(template: string, a: AmAlert): string | undefined {
  const m = /^\$(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(template);
  return m ? a[m[1] as 'labels' | 'annotations'][m[2]] : template;
}

/**
 * Routes one Alertmanager alert: (1) the first configured rule that matches its labels; (2) a
 * check_mk line carried in the `checkmk_line` annotation or label; (3) a `runbook` label with the
 * runbook's parameters as labels; (4) a `check` label (the check_mk service name) with the
 * `summary` / `description` annotation as the check's text.
 */
export function routeAlertmanager(a: AmAlert, rules: RoutingRule[]): Parsed<Route[]> {
  const rule = rules.find((r) => ruleMatches(r, a.labels));
  if (rule) {
    const params: Record<string, string> = {};
    for (const [k, t] of Object.entries(rule.params)) {
      const v = fill(t, a);
      if (v === undefined) return fail(`rule for ${rule.runbook}: ${t} is missing in the alert`);
      params[k] = v;
    }
    return toRoutes(rule.runbook, params);
  }
  const line = a.annotations.checkmk_line ?? a.labels.checkmk_line;
  if (line !== undefined) {
    const parsed = parseCheckMkLine(line);
    if (!parsed.ok) return fail(`checkmk_line: ${parsed.error}`);
    return routeCheckMk(parsed.value);
  }
  if (a.labels.runbook !== undefined) {
    if (!isRunbook(a.labels.runbook)) return fail(`runbook label names no runbook of this service`);
    const names = Object.keys(RUNBOOKS[a.labels.runbook].params);
    return toRoutes(a.labels.runbook, Object.fromEntries(names.filter((n) => a.labels[n] !== undefined).map((n) => [n, a.labels[n]])));
  }
  if (a.labels.check !== undefined) {
    const summary = (a.annotations.summary ?? a.annotations.description ?? '').replace(/\s+/g, ' ').trim() || '-';
    const parsed = parseCheckMkLine(`2 ${a.labels.check} - ${summary}`);
    if (!parsed.ok) return fail(`check label: ${parsed.error}`);
    return routeCheckMk(parsed.value);
  }
  return fail('no routing rule matches, and the alert carries no checkmk_line, runbook or check label');
}

// ---- delivery ----

export type Delivery =
  | { workflowId: string; action: 'started' | 'joined' | 'joined-quietly' }
  | { workflowId: string; action: 'resolved-recorded' | 'resolved-already-recorded' | 'resolved-no-open-run' };

export interface IntakeCounters {
  received: number;
  started: number;
  joined: number;
  joinedQuietly: number;
  resolved: number;
  unroutable: number;
  rejected: number;
}

/**
 * How long an answer of Temporal about a run ID (open, or no open run) stands in for asking again. Short,
 * because it is also how late an alert after the run closed may be in starting the next run.
 */
export const KNOWN_OPEN_MS = 1000;

export class Intake {
  readonly counters: IntakeCounters = { received: 0, started: 0, joined: 0, joinedQuietly: 0, resolved: 0, unroutable: 0, rejected: 0 };
  private lastSeenSignal = new Map<string, number>();
  private resolvedSent = new Map<string, number>();
  /** Run ID -> what Temporal last said about it and when: open (joining openId, another ID for a shared target) or no open run. */
  private known = new Map<string, { open: boolean; openId: string; at: number }>();
  /** The call to Temporal under way per firing / resolved run ID; concurrent deliveries wait for it. */
  private inFlight = new Map<string, Promise<Delivery>>();
  private lastSweep = 0;
  private readonly intervalMs: number;

  constructor(
    private readonly client: Client,
    private readonly config: Config,
    private readonly now: () => number = Date.now,
    private readonly knownOpenMs: number = KNOWN_OPEN_MS,
  ) {
    this.intervalMs = msOf(config.intake.seenAgainInterval);
  }

  /**
   * Resolves only after Temporal accepted the start or the signal (for a duplicate: accepted the start
   * or the join of its run at most knownOpenMs ago); throws when Temporal is unreachable.
   */
  async deliver(route: Route, firing: boolean, source: string): Promise<Delivery> {
    const workflowId = workflowIdOf(route.runbook, RUNBOOKS[route.runbook].target(route.params));
    this.forgetOld();
    const key = `${firing ? 'firing' : 'resolved'}:${workflowId}`;
    const known = this.fromMemory(workflowId, firing);
    if (known) {
      if (firing) this.refreshAhead(route, workflowId, key, source);
      return known;
    }
    const pending = this.inFlight.get(key);
    if (pending) return this.follow(pending, firing);
    return this.lead(key, () => (firing ? this.fire(route, workflowId, source) : this.resolve(workflowId, source)));
  }

  private lead(key: string, call: () => Promise<Delivery>): Promise<Delivery> {
    const p = call().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  /**
   * In the second half of the window, one duplicate asks Temporal again in the background (a start, as in
   * the foreground), so that a steady storm renews what memory knows without waiting for Temporal, and an
   * alert after the run closed starts the next run then. If that fails, the entry runs out and the next
   * duplicate asks in the foreground.
   */
  private refreshAhead(route: Route, workflowId: string, key: string, source: string): void {
    const k = this.known.get(workflowId);
    if (!k || this.now() - k.at < this.knownOpenMs / 2 || this.inFlight.has(key)) return;
    this.lead(key, () => this.fire(route, workflowId, source, true)).catch(() => undefined);
  }

  /** A delivery that arrived while the same one was under way: it is a duplicate of it (and fails with it). */
  private async follow(pending: Promise<Delivery>, firing: boolean): Promise<Delivery> {
    const d = await pending;
    if (firing) {
      this.counters.joinedQuietly++;
      return { workflowId: d.workflowId, action: 'joined-quietly' };
    }
    return { workflowId: d.workflowId, action: d.action === 'resolved-no-open-run' ? 'resolved-no-open-run' : 'resolved-already-recorded' };
  }

  /** The answer when memory holds it: a duplicate of a run known open with no "seen again" due, a resolution already recorded or with no open run. */
  private fromMemory(workflowId: string, firing: boolean): Delivery | undefined {
    if (!firing && this.resolvedSent.has(workflowId)) return { workflowId, action: 'resolved-already-recorded' };
    const k = this.known.get(workflowId);
    if (!k || this.now() - k.at >= this.knownOpenMs) return undefined;
    if (!firing) return k.open ? undefined : { workflowId, action: 'resolved-no-open-run' };
    if (!k.open || this.seenAgainDue(k.openId)) return undefined;
    this.counters.joinedQuietly++;
    return { workflowId, action: 'joined-quietly' };
  }

  private seenAgainDue(id: string): boolean {
    const last = this.lastSeenSignal.get(id);
    return last === undefined || this.now() - last >= this.intervalMs;
  }

  /** In the background (refreshAhead), the alert was already answered and counted: only a run that starts is counted. */
  private async fire(route: Route, workflowId: string, source: string, background = false): Promise<Delivery> {
    const out = await startRun(this.client, this.config, route.runbook, route.params, source, (id) => {
      if (!this.seenAgainDue(id)) return false;
      this.lastSeenSignal.set(id, this.now());
      return true;
    });
    this.known.set(workflowId, { open: true, openId: out.workflowId, at: this.now() });
    if (out.started) {
      this.counters.started++;
      this.resolvedSent.delete(workflowId);
      return { workflowId, action: 'started' };
    }
    if (background) return { workflowId, action: out.signalled ? 'joined' : 'joined-quietly' };
    if (out.signalled) {
      this.counters.joined++;
      return { workflowId, action: 'joined' };
    }
    this.counters.joinedQuietly++;
    return { workflowId, action: 'joined-quietly' };
  }

  private async resolve(workflowId: string, source: string): Promise<Delivery> {
    const asked = this.now();
    try {
      await this.client.workflow.getHandle(workflowId).signal(alertResolvedSignal, { source, at: new Date(asked).toISOString() });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        // "No open run" as of the time asked; a start answered since then knows better.
        const k = this.known.get(workflowId);
        if (!k || k.at < asked) this.known.set(workflowId, { open: false, openId: workflowId, at: asked });
        return { workflowId, action: 'resolved-no-open-run' };
      }
      throw err;
    }
    this.resolvedSent.set(workflowId, this.now());
    this.counters.resolved++;
    return { workflowId, action: 'resolved-recorded' };
  }

  /**
   * Bounded memory: entries older than the interval (answers of Temporal older than knownOpenMs) carry no
   * information. At most one sweep per second, so that a storm over many runs does not sweep per alert.
   */
  private forgetOld(): void {
    const now = this.now();
    if (now - this.lastSweep < Math.max(1000, this.knownOpenMs)) return;
    this.lastSweep = now;
    for (const [k, v] of this.known) if (now - v.at >= this.knownOpenMs) this.known.delete(k);
    if (this.lastSeenSignal.size + this.resolvedSent.size < 10_000) return;
    const cutoff = now - this.intervalMs;
    for (const m of [this.lastSeenSignal, this.resolvedSent]) for (const [k, t] of m) if (t < cutoff) m.delete(k);
  }
}
