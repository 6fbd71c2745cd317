/**
 * Character classes of the HTTP/1.1 grammar (RFC 7230 section 3.2.6), as 256-entry lookup tables so
 * that the byte scanners and the string scanners share one definition and test a class in one load.
 */

function table(predicate: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = predicate(c) ? 1 : 0;
  return t;
}

const TCHAR_SPECIALS = "!#$%&'*+-.^_`|~";

/** `tchar` (RFC 7230 3.2.6): ALPHA, DIGIT and ``!#$%&'*+-.^_`|~``. */
export const TOKEN_CHAR: Uint8Array = table(
  (c) =>
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    TCHAR_SPECIALS.includes(String.fromCharCode(c)),
);

/** Bytes allowed inside a field value: HTAB, SP, VCHAR and obs-text (RFC 7230 3.2 `field-content`). */
export const FIELD_VALUE_CHAR: Uint8Array = table((c) => c === 0x09 || (c >= 0x20 && c !== 0x7f));

/** `qdtext` (RFC 7230 3.2.6): everything a quoted-string may hold unescaped. */
export const QDTEXT_CHAR: Uint8Array = table(
  (c) => c === 0x09 || c === 0x20 || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80,
);

/** What may follow a backslash in a `quoted-pair`: HTAB, SP, VCHAR, obs-text. */
export const QUOTED_PAIR_CHAR: Uint8Array = table((c) => c === 0x09 || (c >= 0x20 && c !== 0x7f));

/** `VCHAR` (visible US-ASCII), used for request targets. */
export const VISIBLE_CHAR: Uint8Array = table((c) => c >= 0x21 && c <= 0x7e);

/** Whether `s` is a non-empty RFC 7230 `token`. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TOKEN_CHAR[c] === 0) return false;
  }
  return true;
}

/**
 * Whether `s` can be written as a header field value without changing the message framing:
 * no CR, LF, NUL or other control characters (HTAB allowed), no characters outside Latin-1.
 */
export function isSafeFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE_CHAR[c] === 0) return false;
  }
  return true;
}
