// check_mk local-check lines: `<state> <service> <metrics|-> <text>`, and which runbook an alert starts.
import { INSTANCE, MAP, NODE, SERVICE, check } from './patterns';
import { type Parsed, fail, ok } from './result';
import { hasControlChars, normalizeWs, show, splitLines } from './text';

export interface CheckMkMetric {
  name: string;
  value: string;
  warn?: string;
  crit?: string;
  min?: string;
  max?: string;
}

export interface CheckMkLine {
  state: 0 | 1 | 2 | 3 | 'P';
  service: string;
  metrics: CheckMkMetric[];
  /** the rest of the line, white space normalised; may start with further `-` fields */
  text: string;
  raw: string;
}

export type Runbook = 'kust-replica' | 'tarantool-replica' | 'mysql-topology' | 'ctlr-replica' | 'autoflip';

const METRIC_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const METRIC_VALUE = /^-?[0-9]+(?:\.[0-9]+)?[A-Za-z%]*$/;
const LEVEL = /^(?:-?[0-9]+(?:\.[0-9]+)?(?::-?[0-9]+(?:\.[0-9]+)?)?)?$/;
const LEVEL_KEYS = ['warn', 'crit', 'min', 'max'] as const;

export function parseCheckMkLine(line: string): Parsed<CheckMkLine> {
  const raw = line.replace(/[\r\n]+$/, '');
  if (/[\r\n]/.test(raw)) return fail('a check_mk line must not contain line breaks (use parseCheckMkLines)');
  const rest = raw.replace(/^\s+/, '');
  const st = /^([0-3P])(?:\s+|$)/.exec(rest);
  if (!st) return fail(`check_mk line must start with a state 0-3 or P: ${show(raw)}`);
  const state = st[1] === 'P' ? 'P' : (Number(st[1]) as 0 | 1 | 2 | 3);
  const afterState = rest.slice(st[0].length);
  const svc = afterState.startsWith('"') ? /^"([^"]+)"(?:\s+|$)/.exec(afterState) : /^(\S+)(?:\s+|$)/.exec(afterState);
  if (!svc) return fail(`check_mk line has no (or an unterminated) service name: ${show(raw)}`);
  if (hasControlChars(svc[1])) return fail('service name contains control characters');
  const afterSvc = afterState.slice(svc[0].length);
  const m = /^(\S+)(?:\s+|$)/.exec(afterSvc);
  if (!m) return fail(`check_mk line has no metrics field (use - for none): ${show(raw)}`);
  const metrics = m[1] === '-' ? ok<CheckMkMetric[]>([]) : parseMetrics(m[1]);
  if (!metrics.ok) return metrics;
  return ok({ state, service: svc[1], metrics: metrics.value, text: normalizeWs(afterSvc.slice(m[0].length)), raw });
}

function parseMetrics(field: string): Parsed<CheckMkMetric[]> {
  const out: CheckMkMetric[] = [];
  for (const part of field.split('|')) {
    const eq = part.indexOf('=');
    const [value, ...levels] = part.slice(eq + 1).split(';');
    const name = part.slice(0, eq);
    if (eq <= 0 || !METRIC_NAME.test(name) || !METRIC_VALUE.test(value) || levels.length > 4 || !levels.every((l) => LEVEL.test(l))) {
      return fail(`invalid metric ${show(part)} (expected name=value;warn;crit;min;max)`);
    }
    const metric: CheckMkMetric = { name, value };
    levels.forEach((l, i) => {
      if (l !== '') metric[LEVEL_KEYS[i]] = l;
    });
    out.push(metric);
  }
  return ok(out);
}

/** Parses every non-blank line; errors carry their line number. */
export function parseCheckMkLines(text: string): Parsed<CheckMkLine>[] {
  const out: Parsed<CheckMkLine>[] = [];
  splitLines(text).forEach((line, i) => {
    if (line.trim() === '') return;
    const r = parseCheckMkLine(line);
    out.push(r.ok ? r : fail(r.error, i + 1));
  });
  return out;
}

/** The text without leading `-` fields (some checks print extra empty perfdata columns). */
export function checkText(line: CheckMkLine): string {
  return line.text.replace(/^(?:-(?: |$))+/, '');
}

const KUST = /^snmpexec_mon_([a-z][a-z0-9_]*)_([0-9]{1,4})_status$/;
const TARANTOOL = /^tarantool_([a-z][a-z0-9_]*)_([0-9]{1,4})_(?:replication|rep[0-9]+_master[0-9]+)$/;
const CTLR_BAD = 'ctlr topology is BAD: ';
const NO_REPLICAS = /^ctlr has no active replicas, check ctlr logs on (\S+)$/;
const AUTOFLIP = /^autoflip blocked for maps: \[([^\]]*)\]$/;
/** One autoflip run per map; a line naming more is not the check's output (client/runbooks.ts startRuns has the same bound). */
const MAX_MAPS = 100;

type Classified = Parsed<{ runbook: Runbook; params: Record<string, string | string[]> }>;

/**
 * Which runbook a check line belongs to, with validated parameters. The state is not looked at:
 * the caller decides whether a line raises (1-3) or resolves (0) an alert.
 */
export function classifyCheckMk(line: CheckMkLine): Classified {
  const svc = line.service;
  const instanceCheck = (runbook: Runbook, m: RegExpExecArray): Classified => {
    const service = check(SERVICE, 'service', m[1]);
    if (!service.ok) return service;
    const instance = check(INSTANCE, 'instance', `${m[1]}-${m[2]}`);
    if (!instance.ok) return instance;
    return ok({ runbook, params: { service: service.value, instance: instance.value } });
  };
  let m = KUST.exec(svc);
  if (m) return instanceCheck('kust-replica', m);
  m = TARANTOOL.exec(svc);
  if (m) return instanceCheck('tarantool-replica', m);
  if (svc === 'orch_topo_check') return ok({ runbook: 'mysql-topology', params: {} });
  if (svc !== 'ctlr_topo_check') return fail(`no runbook for check ${show(svc)}`);

  const text = checkText(line);
  if (!text.startsWith(CTLR_BAD)) return fail(`ctlr_topo_check text is not a known problem: ${show(text)}`);
  const problem = text.slice(CTLR_BAD.length);
  m = NO_REPLICAS.exec(problem);
  if (m) {
    const node = check(NODE, 'node', m[1]);
    return node.ok ? ok({ runbook: 'ctlr-replica', params: { node: node.value } }) : node;
  }
  m = AUTOFLIP.exec(problem);
  if (!m) return fail(`unknown ctlr_topo_check problem: ${show(problem)}`);
  // The check prints the list as Go prints a slice (`[fate cox]`); `[fate, cox]` and mixed forms mean the same.
  // An empty element (`[fate,,cox]`, `[]`) is refused, not skipped.
  const names = m[1].trim().split(/\s*,\s*|\s+/);
  if (names.length > MAX_MAPS) return fail(`more than ${MAX_MAPS} maps in one ctlr_topo_check line (${names.length})`);
  const maps = new Set<string>();
  for (const name of names) {
    const v = check(MAP, 'map', name);
    if (!v.ok) return v;
    maps.add(v.value);
  }
  return ok({ runbook: 'autoflip', params: { maps: [...maps] } });
}
