// White-space helpers shared by the parsers: CRLF/CR, tabs and runs of blanks are all the same to them.

export interface TextLine {
  /** 1-based line number in the original text */
  no: number;
  /** the line without its line terminator */
  raw: string;
  /** white space collapsed to single blanks, trimmed */
  text: string;
}

/** Splits on LF, CRLF or lone CR. */
export function splitLines(text: string): string[] {
  return text.split(/\r\n|\n|\r/);
}

/** Collapses every run of white space (tabs, blanks, CR, ...) to one blank and trims. */
export function normalizeWs(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** The normalised non-blank lines, with their line numbers. */
export function nonBlankLines(text: string): TextLine[] {
  return splitLines(text)
    .map((raw, i) => ({ no: i + 1, raw, text: normalizeWs(raw) }))
    .filter((l) => l.text !== '');
}

/** White-space separated tokens. */
export function words(s: string): string[] {
  const n = normalizeWs(s);
  return n === '' ? [] : n.split(' ');
}

/** A decimal integer (optionally negative) that is exactly representable, else undefined. */
export function toInt(s: string): number | undefined {
  if (!/^-?[0-9]{1,16}$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A string shortened for error messages. */
export function show(s: string, max = 80): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}...` : s);
}

/** True if s contains an ASCII control character (including tab, CR, LF) or DEL. */
export function hasControlChars(s: string): boolean {
  return [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
}
