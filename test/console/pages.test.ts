/**
 * The console's pieces without a browser: escaping (every value a run can carry reaches the page as text),
 * the sessions' expiry and cookie attributes, the CSRF check, and the runs list's order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunDescription, RunHistory, RunSummary } from '../../client/history';
import { checkCsrf } from '../../worker/console/csrf';
import { escapeHtml, html } from '../../worker/console/html';
import { page } from '../../worker/console/layout';
import { runMain, runParts } from '../../worker/console/run-page';
import { ordered, runsMain, runsPart } from '../../worker/console/runs-page';
import { cookie, Sessions } from '../../worker/console/sessions';
import { HttpError } from '../../worker/http';

const EVIL = `<script>alert(1)</script><img src=x onerror="alert(2)">' " \` &amp;`;

test('html: interpolated values are escaped (text, attributes, arrays), Html values are kept, nothing is escaped twice', () => {
  assert.equal(escapeHtml(`<a href="x" title='y'>\`&`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&#96;&amp;');
  const inner = html`<b>${EVIL}</b>`;
  const out = html`<p title="${EVIL}">${inner}${[EVIL, 1, null, undefined, false]}</p>`.text;
  assert.ok(!out.includes('<script') && !out.includes('<img'), out);
  assert.equal(out.match(/<b>/g)?.length, 1, 'markup written in the template stays markup');
  assert.ok(out.includes('&amp;amp;'), 'the text "&amp;" is shown as typed');
  assert.ok(out.includes('1</p>'), 'numbers render; null, undefined and false render nothing');
});

test("a run's page with hostile values everywhere (output, comment, host, reason, evidence, choices) contains no markup of theirs", () => {
  const session = { operator: { name: 'alice', role: 'operator' as const }, csrf: 'c'.repeat(43), createdAt: 0, expiresAt: Infinity };
  const d: RunDescription = {
    workflowId: 'kust-replica/cox-1',
    runId: 'r',
    workflowType: 'kustReplica',
    temporalStatus: 'RUNNING',
    status: 'awaiting-approval',
    startTime: '2026-01-01T00:00:00.000Z',
    historyLength: 10,
    state: {
      runbook: 'kust-replica',
      target: EVIL,
      status: 'awaiting-approval',
      currentStep: EVIL,
      pending: { kind: 'approval', step: EVIL, reason: EVIL, evidence: EVIL, since: EVIL, choices: [EVIL, 'vkt04'], proposal: EVIL },
      steps: [],
      decisions: [{ action: 'approve', by: EVIL, comment: EVIL, choice: EVIL, at: EVIL, accepted: false, refusal: EVIL, step: EVIL, via: 'console', source: EVIL }],
      seenAgain: { count: 0 },
      summary: EVIL,
    },
  };
  const h: RunHistory = {
    workflowId: d.workflowId,
    runId: 'r',
    closed: false,
    events: 3,
    entries: [
      { n: 1, kind: 'started', at: '2026-01-01T00:00:00.000Z', name: EVIL, input: { instance: EVIL }, source: EVIL },
      { n: 2, kind: 'command', at: '2026-01-01T00:00:01.000Z', endedAt: '2026-01-01T00:00:02.000Z', name: EVIL, host: EVIL, command: EVIL, exitCode: 1, output: EVIL },
      { n: 3, kind: 'decision', at: '2026-01-01T00:00:03.000Z', via: 'update', decision: { action: 'reject', by: EVIL, comment: EVIL }, accepted: false, refusal: EVIL },
      { n: 4, kind: 'notification', at: '2026-01-01T00:00:04.000Z', notification: { kind: 'approval', text: EVIL } },
    ],
  };
  const out = page('x', runMain(d, runParts(d, h, session)), { session, live: '/console/runs/kust-replica%2Fcox-1' }).text;
  const tags = [...out.matchAll(/<(script|img)\b[^>]*>/g)].map((m) => m[0]);
  assert.deepEqual(tags, ['<script src="/console/static/console.js" defer>'], 'only the page\'s own script tag');
  assert.ok(!out.includes('onerror="'), 'no event handler attribute (its quotes are escaped wherever the text is)');
  assert.ok(out.split('&lt;script&gt;alert(1)&lt;/script&gt;').length > 10, 'the values are shown, as text');
  const list: RunSummary[] = [{ workflowId: 'kust-replica/cox-1', runId: 'r', runbook: EVIL, target: EVIL, status: EVIL, temporalStatus: 'RUNNING', startTime: '2026-01-01T00:00:00.000Z' }];
  const listed = runsMain({ status: EVIL, runbook: EVIL }, runsPart(list)).text;
  assert.ok(!listed.includes('<script') && !listed.includes('<img'), listed);
});

test('sessions: a session ends at its timeout (then it is gone and reported as expired); log out destroys it; IDs are random', () => {
  let now = 1_000_000;
  const sessions = new Sessions(60_000, () => now);
  const alice = sessions.create({ name: 'alice', role: 'operator' });
  const bob = sessions.create({ name: 'bob', role: 'operator' });
  assert.match(alice.id, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(alice.id, bob.id);
  assert.notEqual(alice.session.csrf, bob.session.csrf);
  assert.equal(sessions.lookup(alice.id).session?.operator.name, 'alice');
  assert.deepEqual(sessions.lookup('not-a-session'), { expired: false });
  assert.deepEqual(sessions.lookup(undefined), { expired: false });
  now += 59_999;
  assert.equal(sessions.lookup(alice.id).session?.operator.name, 'alice', 'still valid 1 ms before its end');
  sessions.destroy(bob.id);
  assert.deepEqual(sessions.lookup(bob.id), { expired: false }, 'logged out: gone');
  now += 1;
  assert.deepEqual(sessions.lookup(alice.id), { expired: true });
  assert.deepEqual(sessions.lookup(alice.id), { expired: false }, 'an ended session is removed from the store');
  assert.equal(sessions.size, 0);
});

test('sessions: the store is bounded; the oldest sessions go first', () => {
  const sessions = new Sessions(60_000, Date.now, 3);
  const ids = ['a', 'b', 'c', 'd'].map((name) => sessions.create({ name, role: 'viewer' }).id);
  assert.equal(sessions.size, 3);
  assert.equal(sessions.lookup(ids[0]).session, undefined);
  assert.equal(sessions.lookup(ids[3]).session?.operator.name, 'd');
});

test('cookies: HttpOnly, SameSite=Strict, Path=/console; Secure only over TLS; Max-Age=0 clears', () => {
  assert.equal(cookie('medic_session', 'abc', { secure: false }), 'medic_session=abc; Path=/console; HttpOnly; SameSite=Strict');
  assert.equal(cookie('medic_session', '', { secure: true, maxAge: 0 }), 'medic_session=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict; Secure');
});

test('CSRF: a form passes only with the exact token of its session', () => {
  const token = 'x'.repeat(43);
  checkCsrf(new URLSearchParams({ csrf: token }), token);
  for (const form of [new URLSearchParams(), new URLSearchParams({ csrf: '' }), new URLSearchParams({ csrf: `${token}x` }), new URLSearchParams({ csrf: token.slice(1) })]) {
    assert.throws(() => checkCsrf(form, token), (err: unknown) => err instanceof HttpError && err.status === 403, form.toString());
  }
  assert.throws(() => checkCsrf(new URLSearchParams({ csrf: token }), undefined), (err: unknown) => err instanceof HttpError && err.status === 403, 'no expected token: refused');
});

test('the runs list: waiting for approval first, then escalated, then the rest, newest first within each', () => {
  const run = (id: string, status: string, startTime: string): RunSummary => ({ workflowId: id, runId: id, status, temporalStatus: 'RUNNING', startTime });
  const runs = [
    run('a', 'completed', '2026-01-01T00:00:05Z'),
    run('b', 'escalated', '2026-01-01T00:00:01Z'),
    run('c', 'awaiting-approval', '2026-01-01T00:00:02Z'),
    run('d', 'running', '2026-01-01T00:00:09Z'),
    run('e', 'escalated', '2026-01-01T00:00:03Z'),
    run('f', 'awaiting-approval', '2026-01-01T00:00:01Z'),
  ];
  assert.deepEqual(ordered(runs).map((r) => r.workflowId), ['c', 'f', 'e', 'b', 'd', 'a']);
});
