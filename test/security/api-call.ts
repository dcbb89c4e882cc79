/** One HTTP call to the service's API with exactly the Authorization header given (or none). */
export interface ApiAnswer {
  status: number;
  text: string;
}

export async function apiCall(
  baseUrl: string,
  method: string,
  urlPath: string,
  opts: { authorization?: string; body?: unknown; contentType?: string } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] = opts.contentType ?? 'application/json';
  }
  const res = await fetch(`${baseUrl}${urlPath}`, { method, headers, body });
  return { status: res.status, text: await res.text() };
}

export const bearer = (token: string): string => `Bearer ${token}`;
