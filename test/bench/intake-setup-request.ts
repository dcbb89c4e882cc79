/**
 * autocannon's `setupRequest` for the intake benchmark, loaded by path inside autocannon's worker
 * thread (it requires a module whose export is the function). The case comes in the environment,
 * which a worker thread copies from its parent when it starts; each case starts a new worker.
 */
import type { Request } from 'autocannon';
import { bodies, CASE_ENV, CaseSpec } from './intake-requests';

const spec = JSON.parse(process.env[CASE_ENV] ?? 'null') as CaseSpec | null;
if (!spec) throw new Error(`${CASE_ENV} is not set: this module is loaded by test/bench/intake.ts's autocannon worker`);
const next = bodies(spec);

function setupRequest(request: Request): Request {
  request.body = next();
  return request;
}

export = setupRequest;
