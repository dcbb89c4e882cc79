/**
 * approve, reject and decide: through the medic API (never straight to Temporal), with the operator's
 * own credential (credential.ts), so that the API can bind the decision to who is really deciding.
 *
 *   POST {api}/v1/runs/{run ID, URL-encoded as one segment}/approve  {choice?, comment?, by?}
 *                                                           /reject   {reason, by?}
 *                                                           /decide   {action, choice?, comment?, by?}
 * The API is MEDIC_API_URL (or --api-url), else http://<api.listen of the configuration>. `--by` is
 * sent only when given (the API refuses it with 403 when it is not the caller). The answer maps to the
 * exit codes of exit.ts: 200 done, 409 refused by the run and 404 no such run (1), 400 / 415 bad input
 * (2), connection refused or the API without Temporal (3), 401 / 403 not authorised (4).
 */
import type { Config } from '../../config/schema';
import type { DecisionRecord } from '../../workflows/definitions';
import { checkRunId } from '../history';
import { operatorToken } from './credential';
import { CliError, EXIT, usageError } from './exit';
import { print } from './format';

export interface DecisionOptions {
  json?: boolean;
  apiUrl?: string;
  tokenFile?: string;
  by?: string;
  choice?: string;
  comment?: string;
}

/** How long the CLI waits for the API's answer (the API itself gives the run 30 s). */
const ANSWER_TIMEOUT_MS = 60_000;

/** The API's base URL: --api-url / MEDIC_API_URL, else api.listen (a wildcard listen address: this host's loopback). */
export async function apiBaseUrl(apiUrl: string | undefined, config: () => Config): Promise<string> {
  if (apiUrl) {
    let url: URL;
    try {
      url = new URL(apiUrl);
    } catch {
      throw usageError(`MEDIC_API_URL / --api-url "${apiUrl.slice(0, 120)}" is not a URL; give one such as http://127.0.0.1:8480`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`MEDIC_API_URL / --api-url must be http:// or https://, got ${url.protocol}`);
    return url.href.replace(/\/+$/, '');
  }
  // Loaded only here: the API's module is not needed to talk to it.
  const { listenAddress } = await import('../../worker/serve-api');
  const { host, port } = listenAddress(config().api.listen);
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
  return `http://${reachable}:${port}`;
}

/** Why fetch failed, in the words of the system (ECONNREFUSED, ENOTFOUND, ...). */
function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if ((err as Error).name === 'TimeoutError') return `no answer within ${ANSWER_TIMEOUT_MS / 1000} s`;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

async function post(base: string, id: string, verb: string, body: Record<string, unknown>, credential: { token: string; from: string }): Promise<DecisionRecord> {
  const url = `${base}/v1/runs/${encodeURIComponent(id)}/${verb}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${credential.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      redirect: 'error',
      signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
    });
  } catch (err) {
    throw new CliError(`cannot reach the API at ${base}: ${causeOf(err)}; check MEDIC_API_URL (or api.listen in the configuration) and that medic api runs there`, EXIT.unreachable);
  }
  const text = await res.text();
  let answer: Record<string, unknown> = {};
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: reported below with the status
  }
  if (res.status === 200 && typeof answer.action === 'string') return answer as unknown as DecisionRecord;
  const error = typeof answer.error === 'string' ? answer.error : `HTTP ${res.status}${text ? `: ${text.replace(/\s+/g, ' ').slice(0, 200)}` : ''}`;
  switch (res.status) {
    case 400:
    case 415:
      throw usageError(error);
    case 401:
    case 403:
      throw new CliError(`not authorised by the API at ${base}: ${error} (credential from ${credential.from})`, EXIT.unauthorised);
    case 503:
      throw new CliError(`the API at ${base} cannot reach Temporal: ${error}`, EXIT.unreachable);
    case 404:
    case 409:
      throw new CliError(error, EXIT.failed);
    default:
      throw new CliError(`unexpected answer from the API at ${url}: ${error}`, EXIT.failed);
  }
}

/** Sends one decision and prints what the run recorded. */
export async function decide(config: () => Config, id: string, verb: 'approve' | 'reject' | 'decide', body: Record<string, unknown>, opts: DecisionOptions): Promise<number> {
  const workflowId = checkRunId(id);
  const base = await apiBaseUrl(opts.apiUrl, config);
  const credential = operatorToken(opts.tokenFile);
  const payload = Object.fromEntries(Object.entries({ ...body, by: opts.by }).filter(([, v]) => v !== undefined));
  const rec = await post(base, workflowId, verb, payload, credential);
  print(opts.json, `accepted: ${rec.action} by ${rec.by}${rec.choice ? ` (choice ${rec.choice})` : ''}`, rec);
  return EXIT.ok;
}
