/** One HTTP call to the service's API with exactly the Authorization header (and cookie) given (or none); redirects are not followed. */
export interface ApiAnswer {
  status: number;
  text: string;
  /** A redirect's target. */
  location?: string;
  setCookie: string[];
}

export async function apiCall(
  baseUrl: string,
  method: string,
  urlPath: string,
  opts: { authorization?: string; cookie?: string; body?: unknown; contentType?: string } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  if (opts.cookie !== undefined) headers.cookie = opts.cookie;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] = opts.contentType ?? 'application/json';
  }
  const res = await fetch(`${baseUrl}${urlPath}`, { method, headers, body, redirect: 'manual' });
  return { status: res.status, text: await res.text(), location: res.headers.get('location') ?? undefined, setCookie: res.headers.getSetCookie() };
}

export const bearer = (token: string): string => `Bearer ${token}`;

/** A console session (the login form, as a browser fills it): the session cookie and the session's CSRF token. */
export async function consoleSession(baseUrl: string, name: string, credential: string): Promise<{ cookie: string; csrf: string }> {
  const form = await apiCall(baseUrl, 'GET', '/console/login');
  const loginCookie = form.setCookie.find((c) => c.startsWith('medic_login='))?.split(';')[0];
  const loginToken = /name="csrf" value="([^"]+)"/.exec(form.text)?.[1];
  if (!loginCookie || !loginToken) throw new Error(`no login form: ${form.status} ${form.text.slice(0, 200)}`);
  const body = new URLSearchParams({ csrf: loginToken, name, credential }).toString();
  const res = await apiCall(baseUrl, 'POST', '/console/login', { cookie: loginCookie, body, contentType: 'application/x-www-form-urlencoded' });
  const cookie = res.setCookie.find((c) => c.startsWith('medic_session='))?.split(';')[0];
  if (res.status !== 303 || !cookie) throw new Error(`login as ${name} failed: ${res.status} ${res.text.slice(0, 200)}`);
  const page = await apiCall(baseUrl, 'GET', '/console/runs', { cookie });
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1];
  if (!csrf) throw new Error(`no CSRF token on the runs page: ${page.status}`);
  return { cookie, csrf };
}
