/**
 * The web console end to end in real Chromium (Debian's, driven by playwright-core): the lab (real sshd
 * hosts, split-brain controllers and KUST maps), the dev server, the worker and the API process serving the
 * console. Operators alice and bob decide, carol is a viewer (the lab's api.operators). What a decision did
 * is read back from the run and from the lab's command log; screenshots land in .data/screenshots/.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { request as playwrightRequest } from 'playwright-core';
import { runHistory } from '../../client/history';
import { topologyFrom } from '../../lab/tools/ctlr';
import { createApi } from '../../worker/api';
import { RunResult, RunState, stateQuery } from '../../workflows/definitions';
import { Service, startService } from '../helpers/service';
import { eventually, quietHistoryLength } from '../helpers/temporal';
import { launchChromium, screenshot } from './browser';

let svc: Service;
let browser: Browser;
before(async () => {
  // Split-brain controllers (ctlr-roles) and the KUST maps; the KUST clean needs an approval; each run of a
  // target may follow the last one's repair at once (the flapping guard is tested elsewhere).
  const [s, b] = await Promise.all([startService('ctlr-two-masters', { approvals: { 'kust-replica': { clean: 'approve' } }, timers: { flapGuard: '0s' } }), launchChromium()]);
  svc = s;
  browser = b;
});
after(async () => {
  await browser?.close();
  await svc?.stop();
});

const enc = encodeURIComponent;
const runUrl = (id: string, base = svc.apiUrl) => `${base}/console/runs/${enc(id)}`;
const handle = (id: string) => svc.client.workflow.getHandle(id);
const stateOf = (id: string) => handle(id).query(stateQuery);
const historyLength = async (id: string) => (await handle(id).fetchHistory()).events?.length ?? 0;
const credential = (name: 'alice' | 'bob' | 'carol') => svc.lab.operators[name].token;
/** The lab's command log from entry `from` on, `<node>: <tool> <argv> -> <exit>`, with the date stamps as <ts>. */
const logFrom = (from: number) => svc.lab.log().slice(from).map((e) => `${e.node}: ${path.basename(e.tool)} ${e.argv.join(' ')} -> ${e.exitCode}`.replace(/\.\d{8}_\d{4}\b/g, '.<ts>'));
const CTLR_READS = ['vkt03: cat /usr/local/etc/ctlr-1.conf -> 0', 'vkt04: cat /usr/local/etc/ctlr-1.conf -> 0', 'vkt03: nc 10.32.88.0 4020 -> 0', 'vkt04: nc 10.32.96.0 4020 -> 0'];

async function startRun(runbook: string, params: Record<string, string>): Promise<string> {
  const res = await fetch(`${svc.apiUrl}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${svc.tokens.operator}`, 'content-type': 'application/json' },
    body: JSON.stringify({ runbook, params }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const { workflowId } = (await res.json()) as { workflowId: string };
  await eventually(() => stateOf(workflowId), (s: RunState) => s.status === 'awaiting-approval', 60_000);
  return workflowId;
}

/** A KUST replica of cox (block 0: cox-1, block 1: cox-2) that gets no data: its run asks to clean it. */
function breakReplica(block: 0 | 1): void {
  svc.lab.setState((s) => {
    s.maps.cox.blocks[block].srvs[1].repl = 'replfailed';
  });
}

/** A new browser context (its own cookies) signed in through the login form. */
async function signIn(name: 'alice' | 'bob' | 'carol', base = svc.apiUrl): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/console`);
  assert.match(page.url(), /\/console\/login\?next=%2Fconsole$/, 'no session: the login page');
  await page.fill('#login-name', name);
  await page.fill('#login-credential', credential(name));
  await page.click('button[type=submit]');
  await page.waitForURL(/\/console\/runs$/);
  assert.equal(await page.textContent('#operator'), name);
  return { context, page };
}

/** The main frame's navigations from now on (the page updating itself makes none). */
function countNavigations(page: Page): () => number {
  let n = 0;
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) n++;
  });
  return () => n;
}

test('alice signs in, finds the split-brain run waiting for approval first in the list with its evidence, approves it and watches it complete', async () => {
  const id = await startRun('ctlr-roles', {});
  const from = svc.lab.log().length;
  const { context, page } = await signIn('alice');
  try {
    const first = page.locator('#runs tbody tr').first();
    assert.equal(await first.getAttribute('data-run'), id);
    assert.equal(await first.locator('.status').textContent(), 'awaiting-approval');
    assert.match((await page.textContent('#runs-summary')) ?? '', /1 waiting for a decision/);
    await first.locator('a').click();
    await page.waitForURL(runUrl(id));

    assert.equal(await page.textContent('#pending-step'), 'choose the main to keep');
    assert.equal(await page.textContent('#proposal'), 'vkt03');
    assert.equal(await page.textContent('#choices'), 'vkt03, vkt04');
    const evidence = (await page.textContent('#evidence')) ?? '';
    for (const node of ['vkt03', 'vkt04']) assert.match(evidence, new RegExp(`${node}`), 'the evidence names both nodes');
    assert.match(evidence, /self main/, "the evidence shows the nodes' topology");
    assert.equal(await page.inputValue('#choice'), 'vkt03', 'the proposal is preselected');
    assert.ok((await page.locator('#run-timeline li[data-kind=command]').count()) >= 4, 'the reads are on the timeline');
    await screenshot(page, 'console-ctlr-roles-approval');

    const navigations = countNavigations(page);
    await page.fill('#approve-comment', 'vkt03 is the intended main');
    await page.click('#approve');
    await page.waitForURL(runUrl(id));
    assert.equal(await page.textContent('#notice'), 'Approved (vkt03) as alice.');
    const afterApprove = navigations();
    // The run goes on by itself; the page follows without being reloaded.
    await page.locator('#run-status .status', { hasText: 'completed' }).waitFor({ timeout: 90_000 });
    assert.equal(await page.textContent('#run-outcome'), 'repaired');
    assert.match((await page.textContent('#run-summary')) ?? '', /vkt03 kept as the controller main; vkt04 demoted/);
    assert.equal(navigations(), afterApprove, 'the page updated itself: no reload, no navigation');
    assert.match((await page.textContent('#live')) ?? '', /updated/);
    assert.equal(await page.textContent('#no-pending'), 'The run is closed: nothing to decide.');
    const audit = page.locator('#run-decisions tbody tr');
    assert.equal(await audit.count(), 1);
    assert.match((await audit.first().textContent()) ?? '', /alice.*approve \(vkt03\).*vkt03 is the intended main.*accepted/);
    await screenshot(page, 'console-ctlr-roles-completed');

    const r = (await handle(id).result()) as RunResult;
    const d = r.state.decisions[0];
    assert.deepEqual([d.by, d.action, d.choice, d.comment, d.accepted], ['alice', 'approve', 'vkt03', 'vkt03 is the intended main', true]);
    // What reached the run: the decision signed for alice, through the console, from her address.
    const sent = (await runHistory(svc.client, id)).entries.find((e) => e.kind === 'decision')?.decision;
    assert.deepEqual([sent?.by, sent?.proof?.via, sent?.proof?.source, sent?.proof?.workflowId], ['alice', 'console', '127.0.0.1', id]);
    assert.deepEqual(logFrom(from).slice(-6), ['vkt04: systemctl stop ctlr-1 -> 0', 'vkt04: cp -rp /data/ctlr-1 /data/ctlr-1.<ts> -> 0', 'vkt04: im_deployer --ctlr-repl --update -> 0', 'vkt04: systemctl disable ctlr-1 -> 0', 'vkt04: ctlr_topo_check.sh  -> 0', 'vkt04: nc 10.32.96.0 4020 -> 0']);
  } finally {
    await context.close();
  }
});

test('ctlr-roles: bob chooses the node to keep (vkt04, not the proposal) from the offered choices; the run keeps vkt04 and demotes vkt03', async () => {
  svc.lab.setState((s) => {
    s.ctlr!.nodes.vkt04.role = 'main';
  });
  const from = svc.lab.log().length;
  const id = await startRun('ctlr-roles', {});
  const { context, page } = await signIn('bob');
  try {
    await page.goto(runUrl(id));
    const options = await page.locator('#choice option').evaluateAll((os) => os.map((o) => o.getAttribute('value')));
    assert.deepEqual(options, ['vkt03', 'vkt04']);
    await page.selectOption('#choice', 'vkt04');
    await screenshot(page, 'console-ctlr-roles-choice');
    // The README's picture (docs/console.png): the window down to the controls.
    await page.setViewportSize({ width: 1100, height: 1420 });
    await screenshot(page, 'console-readme', false);
    await page.click('#approve');
    assert.equal(await page.textContent('#notice'), 'Approved (vkt04) as bob.');
    await page.locator('#run-status .status', { hasText: 'completed' }).waitFor({ timeout: 90_000 });
    assert.match((await page.textContent('#run-summary')) ?? '', /vkt04 kept as the controller main; vkt03 demoted/);
    assert.deepEqual(logFrom(from), [
      ...CTLR_READS,
      ...CTLR_READS,
      'vkt03: systemctl stop ctlr-1 -> 0',
      'vkt03: cp -rp /data/ctlr-1 /data/ctlr-1.<ts> -> 0',
      'vkt03: im_deployer --ctlr-repl --update -> 0',
      'vkt03: systemctl disable ctlr-1 -> 0',
      'vkt03: ctlr_topo_check.sh  -> 0',
      'vkt03: nc 10.32.88.0 4020 -> 0',
    ]);
    assert.equal(topologyFrom(svc.lab.state(), 'vkt04'), 'vkt03.weave.local      10.32.88.0:2410  alive\nvkt04.weave.local      10.32.96.0:2410  self main\n');
    const r = (await handle(id).result()) as RunResult;
    assert.deepEqual([r.state.decisions[0].by, r.state.decisions[0].choice], ['bob', 'vkt04']);
  } finally {
    await context.close();
  }
});

test('keyboard only: bob signs in, tabs to the run and to its approve control and presses Enter; every control has a label', async () => {
  breakReplica(0);
  const id = await startRun('kust-replica', { service: 'cox', instance: 'cox-1' });
  const cleans = () => svc.lab.log().filter((e) => path.basename(e.tool) === 'clean_kust_replica.sh' && e.argv[0] === 'cox-1').length;
  const before = cleans();
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${svc.apiUrl}/console/login`);
    // The name field gets the focus by itself (autofocus, which Chromium applies at its next rendering, after
    // the load event: typing before then went to the page's body on a loaded machine); the rest is typing, Tab and Enter.
    // (Polled with page.evaluate: waitForFunction evaluates its string in the page, which the console's CSP forbids.)
    const focused = () => page.evaluate<boolean>("document.activeElement !== null && document.activeElement.id === 'login-name'");
    await eventually(focused, (f) => f, 10_000).catch(() => assert.fail('the name field of the login page never had the focus (autofocus)'));
    await page.keyboard.type('bob');
    await page.keyboard.press('Tab');
    await page.keyboard.type(credential('bob'));
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/console\/runs$/);
    /** Presses Tab until the focused element matches; returns how many presses it took. */
    const tabTo = async (selector: string): Promise<number> => {
      for (let n = 1; n <= 60; n++) {
        await page.keyboard.press('Tab');
        if (await page.evaluate(`document.activeElement !== null && document.activeElement.matches(${JSON.stringify(selector)})`)) return n;
      }
      assert.fail(`Tab never reached ${selector}`);
    };
    await tabTo(`a[href="/console/runs/${enc(id)}"]`);
    await page.keyboard.press('Enter');
    await page.waitForURL(runUrl(id));
    assert.match((await page.textContent('#pending-reason')) ?? '', /clean_kust_replica\.sh cox-1 on vkt-4vm-879-standart-02/);

    // In the page (this project compiles without the DOM library: the browser's code is a string).
    const unlabelled = await page.evaluate<string[]>(`(() => {
      const out = [];
      for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
        if (![...el.labels].some((l) => l.textContent.trim() !== '')) out.push(el.outerHTML);
      }
      for (const b of document.querySelectorAll('button')) if (b.textContent.trim() === '') out.push(b.outerHTML);
      return out;
    })()`);
    assert.deepEqual(unlabelled, [], 'controls without a label');

    const presses = await tabTo('#approve');
    assert.ok(presses > 1, 'reached by Tab');
    await page.keyboard.press('Enter');
    await page.waitForURL(runUrl(id));
    assert.equal(await page.textContent('#notice'), 'Approved as bob.');
    await page.locator('#run-status .status', { hasText: 'completed' }).waitFor({ timeout: 60_000 });
    assert.equal(await page.textContent('#run-outcome'), 'repaired');
    assert.equal(cleans(), before + 1, 'the clean ran once');
  } finally {
    await context.close();
  }
});

let viewerRun = '';
test('carol (viewer) sees the pending approval but no control; her forged approve POST is refused by the server and changes nothing', async () => {
  breakReplica(1);
  viewerRun = await startRun('kust-replica', { service: 'cox', instance: 'cox-2' });
  const h0 = await quietHistoryLength(handle(viewerRun));
  const { context, page } = await signIn('carol');
  try {
    assert.equal(await page.textContent('#role'), 'viewer');
    await page.goto(runUrl(viewerRun));
    assert.match((await page.textContent('#pending-reason')) ?? '', /clean_kust_replica\.sh cox-2/);
    assert.match((await page.textContent('#viewer-note')) ?? '', /viewer/);
    assert.equal(await page.locator('form.decide, #approve, #reject, #choice').count(), 0, 'no decision control for a viewer');
    await screenshot(page, 'console-viewer');

    // The session's own CSRF token (from the log-out form), so that only the role check stands in the way.
    const csrf = await page.getAttribute('form.who input[name=csrf]', 'value');
    const forged = await page.request.post(`${runUrl(viewerRun)}/decide`, { form: { csrf: csrf ?? '', action: 'approve', comment: 'forged' }, maxRedirects: 0 });
    assert.equal(forged.status(), 403);
    const body = await forged.text();
    assert.match(body, /<p id="notice" class="notice refused" role="alert">carol is a viewer: viewers cannot decide<\/p>/, 'the refusal is on the page, plainly');
    const s = await stateOf(viewerRun);
    assert.deepEqual([s.status, s.decisions], ['awaiting-approval', []]);
    assert.equal(await historyLength(viewerRun), h0, 'nothing reached the run');
  } finally {
    await context.close();
  }
});

test("CSRF: a POST without the session's token is refused (403) and changes nothing: a form on another local site, no token, a wrong one, another session's", async () => {
  const id = viewerRun;
  const h0 = await quietHistoryLength(handle(id));
  const { context, page } = await signIn('alice');
  // Another web site on this machine (127.0.0.1 on another port is the same *site*: SameSite cookies go along,
  // so the token is what stops it) whose page posts an approval to the console as soon as it loads.
  const attacker = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<form id="f" method="post" action="${runUrl(id)}/decide"><input name="action" value="approve"><input name="comment" value="csrf"></form><script>document.getElementById('f').submit()</script>`);
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  try {
    const evil = await context.newPage();
    const answer = evil.waitForResponse((r) => r.url() === `${runUrl(id)}/decide`);
    await evil.goto(`http://127.0.0.1:${(attacker.address() as net.AddressInfo).port}/`);
    const res = await answer;
    assert.equal(res.status(), 403, 'the cross-site form is refused');
    await evil.waitForLoadState();
    assert.match((await evil.textContent('#error')) ?? '', /security token is missing or wrong \(CSRF check\)/);

    const alicesToken = (await page.getAttribute('form.who input[name=csrf]', 'value')) ?? '';
    const other = await signIn('bob');
    const bobsToken = (await other.page.getAttribute('form.who input[name=csrf]', 'value')) ?? '';
    await other.context.close();
    assert.notEqual(alicesToken, bobsToken);
    for (const [what, form] of [
      ['no token', { action: 'approve' }],
      ['an empty token', { csrf: '', action: 'approve' }],
      ['a wrong token', { csrf: `${alicesToken.slice(0, -1)}${alicesToken.endsWith('A') ? 'B' : 'A'}`, action: 'approve' }],
      ["another session's token", { csrf: bobsToken, action: 'approve' }],
    ] as const) {
      const r = await page.request.post(`${runUrl(id)}/decide`, { form, maxRedirects: 0 });
      assert.equal(r.status(), 403, `${what}: ${r.status()}`);
      assert.match(await r.text(), /CSRF check/, what);
    }
    const logout = await page.request.post(`${svc.apiUrl}/console/logout`, { form: {}, maxRedirects: 0 });
    assert.equal(logout.status(), 403, 'log out needs the token too (no forced log-out)');
    assert.equal((await page.request.get(`${svc.apiUrl}/console/runs`, { maxRedirects: 0 })).status(), 200, 'the session is still there');

    // The login form: without the login cookie's token (another site posting credentials it knows) it is refused.
    const bare = await playwrightRequest.newContext();
    const login = await bare.post(`${svc.apiUrl}/console/login`, { form: { csrf: 'x'.repeat(32), name: 'alice', credential: credential('alice') }, maxRedirects: 0 });
    assert.equal(login.status(), 403);
    assert.equal(login.headers()['set-cookie'], undefined, 'no session');
    await bare.dispose();

    const s = await stateOf(id);
    assert.deepEqual([s.status, s.decisions], ['awaiting-approval', []]);
    assert.equal(await historyLength(id), h0, 'nothing reached the run');
  } finally {
    attacker.close();
    await context.close();
  }
});

test('a reason full of markup is shown as text: alice rejects with it, and no element of it appears in the page', async () => {
  const id = viewerRun;
  const EVIL = `<img src="x" id="pwned-img" onerror="window.pwned=1"><script>window.pwned=2</script><b id="pwned-b">bold</b>`;
  const { context, page } = await signIn('alice');
  try {
    await page.goto(runUrl(id));
    await page.fill('#reject-reason', EVIL);
    await page.click('#reject');
    await page.waitForURL(runUrl(id));
    assert.equal(await page.textContent('#notice'), 'Rejected as alice.');
    await page.locator('#run-status .status', { hasText: 'aborted' }).waitFor({ timeout: 30_000 });
    await page.reload();
    assert.match((await page.textContent('#run-decisions tbody tr')) ?? '', new RegExp(`alice.*reject.*${EVIL.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.ok(((await page.textContent('#run-timeline')) ?? '').includes(EVIL), 'the timeline shows it as text');
    assert.ok(((await page.textContent('#run-summary')) ?? '').includes(EVIL), 'the summary too');
    assert.equal(await page.locator('#pwned-img, #pwned-b').count(), 0, 'no element of the reason exists');
    assert.equal(await page.evaluate('typeof window.pwned'), 'undefined', 'none of it ran');
    const r = (await handle(id).result()) as RunResult;
    assert.deepEqual([r.outcome, r.state.decisions[0].comment], ['rejected', EVIL]);
  } finally {
    await context.close();
  }
});

test('an ended session sends the browser to the login page: the open page by itself, and any later request', async () => {
  // A second API process on the same Temporal whose sessions last 2 s.
  const config = { ...svc.config, api: { ...svc.config.api, sessionTimeout: '2s' } };
  const api = createApi(svc.client, config, svc.tokens);
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(api.address() as net.AddressInfo).port}`;
  const { context, page } = await signIn('alice', base);
  try {
    const cookie = (await context.cookies()).find((c) => c.name === 'medic_session');
    assert.ok(cookie, 'the session cookie');
    assert.deepEqual([cookie.httpOnly, cookie.sameSite, cookie.path], [true, 'Strict', '/console']);
    await page.goto(`${base}/console/runs?runbook=ctlr-roles`);
    // The live update gets 401 once the session ended and goes to the login page itself.
    await page.waitForURL(/\/console\/login\?expired=1&next=/, { timeout: 15_000 });
    assert.equal(await page.textContent('#login-message'), 'Your session has ended. Sign in again.');
    await screenshot(page, 'console-session-ended');
    // The old cookie names nothing any more.
    await context.addCookies([{ ...cookie, expires: -1 }]);
    await page.goto(runUrl('ctlr-roles/ctlr-1', base));
    assert.match(page.url(), /\/console\/login\?next=%2Fconsole%2Fruns%2Fctlr-roles%252Fctlr-1$/);
    // Signing in again leads back to the page asked for.
    await page.fill('#login-name', 'alice');
    await page.fill('#login-credential', credential('alice'));
    await page.click('button[type=submit]');
    await page.waitForURL(runUrl('ctlr-roles/ctlr-1', base));
  } finally {
    await context.close();
    api.close();
  }
});

test('sign-in refusals say nothing about which part was wrong; log out ends the session on the server', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    const messages: string[] = [];
    for (const [name, cred] of [
      ['alice', 'wrong-credential-0000000000000000'],
      ['mallory', credential('alice')],
      ['bob', credential('alice')],
    ]) {
      await page.goto(`${svc.apiUrl}/console/login`);
      await page.fill('#login-name', name);
      await page.fill('#login-credential', cred);
      await page.click('button[type=submit]');
      messages.push((await page.textContent('#login-message')) ?? '');
      assert.equal((await context.cookies()).filter((c) => c.name === 'medic_session').length, 0, `${name}: no session`);
    }
    assert.deepEqual(new Set(messages), new Set(['Sign-in refused: unknown operator or wrong credential.']));

    const signedIn = await signIn('alice');
    const old = (await signedIn.context.cookies()).find((c) => c.name === 'medic_session');
    assert.ok(old);
    await signedIn.page.click('form.who button');
    await signedIn.page.waitForURL(/\/console\/login\?out=1$/);
    assert.equal(await signedIn.page.textContent('#login-message'), 'You have logged out.');
    await signedIn.context.addCookies([old]);
    await signedIn.page.goto(`${svc.apiUrl}/console/runs`);
    assert.match(signedIn.page.url(), /\/console\/login\?next=/, 'the old cookie no longer opens anything');
    await signedIn.context.close();
  } finally {
    await context.close();
  }
});

/** A GET from a chosen loopback address (a proxy, or another host), redirects not followed. */
function getFrom(base: string, urlPath: string, localAddress: string, headers: Record<string, string>): Promise<{ status: number; location?: string; setCookie: string[]; text: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(urlPath, base);
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'GET', localAddress, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, setCookie: res.headers['set-cookie'] ?? [], text }));
    });
    req.on('error', reject);
    req.end();
  });
}

test("single sign-on: a trusted proxy's user header opens a session for that operator (Secure when the proxy says https); from another address, or naming nobody, it is refused", async () => {
  // A second API process whose trusted proxy is 127.0.0.1; 127.0.0.2 plays any other host.
  const config = { ...svc.config, api: { ...svc.config.api, trustedProxies: ['127.0.0.1'] } };
  const api = createApi(svc.client, config, svc.tokens);
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(api.address() as net.AddressInfo).port}`;
  try {
    const sso = await getFrom(base, '/console/login?next=%2Fconsole%2Fruns%3Frunbook%3Dctlr-roles', '127.0.0.1', { 'x-forwarded-user': 'bob', 'x-forwarded-proto': 'https', 'x-forwarded-for': '192.0.2.10' });
    assert.deepEqual([sso.status, sso.location], [303, '/console/runs?runbook=ctlr-roles']);
    const cookie = sso.setCookie.find((c) => c.startsWith('medic_session='));
    assert.match(cookie ?? '', /^medic_session=[A-Za-z0-9_-]{43}; Path=\/console; HttpOnly; SameSite=Strict; Secure$/);
    const runs = await getFrom(base, '/console/runs', '127.0.0.1', { cookie: (cookie ?? '').split(';')[0] });
    assert.equal(runs.status, 200);
    assert.match(runs.text, /Signed in as <strong id="operator">bob<\/strong> \(<span id="role">operator<\/span>\)/);

    const plain = await getFrom(base, '/console/login', '127.0.0.1', { 'x-forwarded-user': 'carol' });
    assert.match(plain.setCookie.find((c) => c.startsWith('medic_session=')) ?? '', /SameSite=Strict$/, 'no Secure without https from the proxy');

    const elsewhere = await getFrom(base, '/console/login', '127.0.0.2', { 'x-forwarded-user': 'bob', 'x-forwarded-proto': 'https' });
    assert.equal(elsewhere.status, 403, elsewhere.text);
    assert.match(elsewhere.text, /accepted only from a trusted proxy/);
    assert.deepEqual(elsewhere.setCookie, [], 'no session, no cookie');
    const nobody = await getFrom(base, '/console/login', '127.0.0.1', { 'x-forwarded-user': 'mallory' });
    assert.equal(nobody.status, 403, nobody.text);
    assert.deepEqual(nobody.setCookie, []);
    // Without the header the login page is the form, and a Secure flag needs the trusted proxy's word.
    const form = await getFrom(base, '/console/login', '127.0.0.2', { 'x-forwarded-proto': 'https' });
    assert.equal(form.status, 200);
    assert.match(form.setCookie[0] ?? '', /^medic_login=[A-Za-z0-9_-]+; Path=\/console\/login; Max-Age=3600; HttpOnly; SameSite=Strict$/);
  } finally {
    api.close();
  }
});

test('an approval turns into an escalation on the open page by itself; a stale page (no script) is refused plainly; retry from the escalation repairs', async () => {
  breakReplica(0);
  svc.lab.setState((s) => {
    s.faults.push({ tool: 'clean_kust_replica.sh', argsPrefix: ['cox-1'], failTimes: 1 });
  });
  const cleans = () => svc.lab.log().filter((e) => path.basename(e.tool) === 'clean_kust_replica.sh' && e.argv[0] === 'cox-1').map((e) => e.exitCode);
  const before = cleans().length;
  const id = await startRun('kust-replica', { service: 'cox', instance: 'cox-1' });
  // Bob's browser runs no script: his page stays as it was loaded.
  const bobContext = await browser.newContext({ javaScriptEnabled: false });
  const bob = await bobContext.newPage();
  const alice = await signIn('alice');
  try {
    await bob.goto(runUrl(id));
    await bob.fill('#login-name', 'bob');
    await bob.fill('#login-credential', credential('bob'));
    await bob.click('button[type=submit]');
    await bob.waitForURL(runUrl(id));
    assert.equal(await bob.locator('#approve').count(), 1);

    const page = alice.page;
    await page.goto(runUrl(id));
    const navigations = countNavigations(page);
    await page.click('#approve');
    assert.equal(await page.textContent('#notice'), 'Approved as alice.');
    const afterApprove = navigations();
    // The clean fails; the page's pending part becomes the escalation with its controls, without a reload.
    await page.locator('#run-pending h2', { hasText: 'Escalated' }).waitFor({ timeout: 60_000 });
    assert.equal(navigations(), afterApprove, 'no navigation');
    assert.equal(await page.textContent('#pending-step'), 'clean the replica');
    assert.match((await page.textContent('#pending-reason')) ?? '', /exit code 1/);
    for (const control of ['#retry', '#resolved', '#abort', '#decide-comment']) assert.equal(await page.locator(control).count(), 1, control);
    await screenshot(page, 'console-escalation');

    // Bob answers the approval his page still shows: refused, said plainly, nothing changes.
    const h0 = await quietHistoryLength(handle(id));
    await bob.click('#approve');
    assert.match((await bob.textContent('#notice')) ?? '', /^refused: the decision this page showed is no longer pending/);
    assert.equal(await bob.getAttribute('#notice', 'role'), 'alert');
    assert.equal(await bob.locator('#run-pending h2').textContent(), 'Escalated: an operator must decide', 'the page now shows the current state');
    assert.equal(await historyLength(id), h0, 'nothing reached the run');

    await page.fill('#decide-comment', 'disk freed on the replica');
    await page.click('#retry');
    assert.equal(await page.textContent('#notice'), 'Decided: retry as alice.');
    await page.locator('#run-status .status', { hasText: 'completed' }).waitFor({ timeout: 60_000 });
    assert.equal(await page.textContent('#run-outcome'), 'repaired');
    assert.deepEqual(cleans().slice(before), [1, 0], 'the clean failed once, then ran again on retry');
    const decisions = ((await handle(id).result()) as RunResult).state.decisions.map((d) => `${d.action} ${d.by} ${d.comment ?? ''}`.trim());
    assert.deepEqual(decisions, ['approve alice', 'retry alice disk freed on the replica']);
  } finally {
    await bobContext.close();
    await alice.context.close();
  }
});
