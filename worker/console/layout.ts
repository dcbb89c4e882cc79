/**
 * The console's page frame and its small pages: the document around every page (header with the operator
 * and the log-out form, the skip link, the one stylesheet and the one script), the login page and the plain
 * error page. The run pages are in runs-page.ts and run-page.ts.
 */
import { createHash } from 'node:crypto';
import { CSRF_FIELD, LOGIN_PATH } from './csrf';
import { Html, html } from './html';
import type { Session } from './sessions';

export const ASSETS = { script: '/console/static/console.js', style: '/console/static/console.css' };

/** `live`: the URL whose JSON form (the page's live parts) the script polls. */
export function page(title: string, main: Html, opts: { session?: Session; live?: string; notice?: { text: string; kind: 'ok' | 'refused' } } = {}): Html {
  const s = opts.session;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} - replication-medic</title>
<link rel="stylesheet" href="${ASSETS.style}">
<script src="${ASSETS.script}" defer></script>
</head>
<body${opts.live ? html` data-live="${opts.live}"` : ''}>
<a class="skip" href="#main">Skip to content</a>
<header>
<p class="brand"><a href="/console/runs">replication-medic</a></p>
${
  s
    ? html`<nav aria-label="Main"><a href="/console/runs">Runs</a></nav>
<form class="who" method="post" action="/console/logout">
<span>Signed in as <strong id="operator">${s.operator.name}</strong> (<span id="role">${s.operator.role}</span>)</span>
<input type="hidden" name="${CSRF_FIELD}" value="${s.csrf}">
<button type="submit">Log out</button>
</form>`
    : ''
}
</header>
<main id="main" tabindex="-1">
${opts.notice ? html`<p id="notice" class="notice ${opts.notice.kind}" role="${opts.notice.kind === 'refused' ? 'alert' : 'status'}">${opts.notice.text}</p>` : ''}
${main}
</main>
${opts.live ? html`<footer><p id="live" role="status" aria-live="polite">Live: this page updates itself.</p></footer>` : ''}
</body>
</html>
`;
}

export function loginPage(opts: { token: string; next: string; name?: string; refused?: string; expired?: boolean; loggedOut?: boolean }): Html {
  const message = opts.refused ?? (opts.expired ? 'Your session has ended. Sign in again.' : undefined);
  return page(
    'Sign in',
    html`<h1>Sign in</h1>
${message ? html`<p id="login-message" class="notice refused" role="alert">${message}</p>` : opts.loggedOut ? html`<p id="login-message" class="notice ok" role="status">You have logged out.</p>` : ''}
<form class="login" method="post" action="${LOGIN_PATH}">
<input type="hidden" name="${CSRF_FIELD}" value="${opts.token}"><input type="hidden" name="next" value="${opts.next}">
<p><label for="login-name">Operator name</label>
<input id="login-name" name="name" autocomplete="username" required maxlength="64" value="${opts.name ?? ''}"${opts.name ? '' : html` autofocus`}></p>
<p><label for="login-credential">Credential (your operator token)</label>
<input id="login-credential" name="credential" type="password" autocomplete="current-password" required maxlength="4096"${opts.name ? html` autofocus` : ''}></p>
<p><button type="submit">Sign in</button></p>
</form>`,
  );
}

/** A refusal or error as a page of its own, in plain words. */
export function errorPage(status: number, message: string, session?: Session): Html {
  const title = status === 403 ? 'Refused' : status === 404 ? 'Not found' : status >= 500 ? 'Temporal is not answering' : 'Cannot do that';
  return page(
    title,
    html`<h1>${title}</h1>
<p id="error" role="alert">${message}</p>
<p><a href="/console/runs">Back to the runs</a></p>`,
    { session },
  );
}

/** A part of a page that the script replaces when its key (a digest of its markup) changes; the page's JSON form lists the parts. */
export interface LivePart {
  id: string;
  key: string;
  html: Html;
}

export function livePart(id: string, inner: Html): LivePart {
  const key = createHash('sha256').update(inner.text).digest('base64url').slice(0, 16);
  return { id, key, html: html`<section id="${id}" data-key="${key}">${inner}</section>` };
}
