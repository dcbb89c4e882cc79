/**
 * CSRF protection of the console's forms. Every form of a session carries the session's token in a hidden
 * field `csrf`; every POST is refused (403) unless the field equals it. The login form, which has no session
 * yet, uses a double-submit token: a random value in a cookie limited to /console/login and the same value
 * in the form (another site can neither read the cookie nor set it). The cookies are SameSite=Strict too:
 * a defence in depth, not the check.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { HttpError, sameToken } from '../http';
import { cookie, cookies } from './sessions';

export const CSRF_FIELD = 'csrf';
export const LOGIN_COOKIE = 'medic_login';
export const LOGIN_PATH = '/console/login';

/** Refuses (403) a form whose token is missing or differs from the expected one. */
export function checkCsrf(form: URLSearchParams, expected: string | undefined): void {
  const given = form.get(CSRF_FIELD);
  if (!given || !expected || !sameToken(given, expected)) throw new HttpError(403, 'The form was refused: its security token is missing or wrong (CSRF check). Reload the page and try again.');
}

/** A fresh login token and the cookie that holds it (for the login page). */
export function loginToken(secure: boolean): { token: string; setCookie: string } {
  const token = randomBytes(24).toString('base64url');
  return { token, setCookie: cookie(LOGIN_COOKIE, token, { secure, maxAge: 3600, path: LOGIN_PATH }) };
}

/** The login form's double-submit check: the form's token equals the login cookie's. */
export function checkLoginCsrf(req: http.IncomingMessage, form: URLSearchParams): void {
  checkCsrf(form, cookies(req)[LOGIN_COOKIE]);
}
