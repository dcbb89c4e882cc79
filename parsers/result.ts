// Result type shared by every parser: a value, or a clear error (with the 1-based input line when known).
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string; line?: number };

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function fail<T = never>(error: string, line?: number): Parsed<T> {
  return line === undefined ? { ok: false, error } : { ok: false, error, line };
}

/** The error of the first failed result, if any. */
export function firstError(...results: Parsed<unknown>[]): string | undefined {
  for (const r of results) if (!r.ok) return r.error;
  return undefined;
}
