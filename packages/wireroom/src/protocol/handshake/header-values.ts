/**
 * Parsers for the header field values the opening handshake reads (RFC 7230 section 7 `#rule`,
 * RFC 6455 section 9.1 extension lists). Each is a single left-to-right scan with no backtracking,
 * so a hostile value of any length costs time linear in its length.
 *
 * List syntax follows the RFC 7230 7 recipient rule: empty list elements (`a,,b`, `, a`, `a,`) and
 * optional whitespace around commas are accepted and ignored.
 */
import { ErrorCodes, WireroomError } from '../errors.js';
import { QDTEXT_CHAR, QUOTED_PAIR_CHAR, TOKEN_CHAR, isToken } from './http-chars.js';

export { isToken } from './http-chars.js';

/** One element of a `Sec-WebSocket-Extensions` header: an extension name and its parameters. */
export interface ExtensionOffer {
  name: string;
  /**
   * Parameters in the order they appeared, duplicates kept (so a negotiator can refuse them).
   * A parameter without `=value` has the value `true`; quoted values are already unescaped.
   */
  params: Array<[name: string, value: string | true]>;
}

// Local byte constants: V8 inlines these, whereas imported bindings cost a load in every loop turn.
const SP = 0x20;
const HTAB = 0x09;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const SLASH = 0x2f;

function skipOws(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c !== SP && c !== HTAB) break;
    i++;
  }
  return i;
}

/** Index just past the token starting at `i` (equal to `i` when there is none). */
function scanToken(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TOKEN_CHAR[c] === 0) break;
    i++;
  }
  return i;
}

/**
 * Shared `#element` list walker: calls `element` at the start of each non-empty element; it returns
 * the index after the element, or -1 for a syntax error. Returns false on any syntax error.
 */
function walkList(s: string, element: (start: number) => number): boolean {
  let i = 0;
  for (;;) {
    i = skipOws(s, i);
    if (i === s.length) return true;
    if (s.charCodeAt(i) === COMMA) {
      i++; // empty element
      continue;
    }
    i = element(i);
    if (i < 0) return false;
    i = skipOws(s, i);
    if (i === s.length) return true;
    if (s.charCodeAt(i) !== COMMA) return false;
    i++;
  }
}

/**
 * Parses a comma-separated list of tokens (`#token`), e.g. `Connection` or `Sec-WebSocket-Protocol`.
 * Returns the tokens in order (an empty or all-commas value gives `[]`), or `null` when the value is
 * not a token list.
 */
export function parseTokenList(value: string): string[] | null {
  const out: string[] = [];
  const ok = walkList(value, (start) => {
    const end = scanToken(value, start);
    if (end === start) return -1;
    out.push(value.slice(start, end));
    return end;
  });
  return ok ? out : null;
}

/**
 * Parses an `Upgrade` header value: a list of `protocol-name ["/" protocol-version]` (RFC 7230 6.7),
 * e.g. `websocket` or `HTTP/2.0, websocket`. Returns each element as written, or `null` if invalid.
 */
export function parseUpgradeList(value: string): string[] | null {
  const out: string[] = [];
  const ok = walkList(value, (start) => {
    let end = scanToken(value, start);
    if (end === start) return -1;
    if (end < value.length && value.charCodeAt(end) === SLASH) {
      const versionEnd = scanToken(value, end + 1);
      if (versionEnd === end + 1) return -1;
      end = versionEnd;
    }
    out.push(value.slice(start, end));
    return end;
  });
  return ok ? out : null;
}

/**
 * Parses the quoted-string starting at `s[start] === '"'`, unescaping quoted-pairs.
 * Returns `[value, indexAfterClosingQuote]`, or `null` if it is unterminated or holds a forbidden byte.
 */
function parseQuotedString(s: string, start: number): [string, number] | null {
  let out = '';
  let segment = start + 1; // start of the current run of plain qdtext, copied in one slice
  let i = segment;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === DQUOTE) return [out + s.slice(segment, i), i + 1];
    if (c === BACKSLASH) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : -1;
      if (next < 0 || next > 0xff || QUOTED_PAIR_CHAR[next] === 0) return null;
      out += s.slice(segment, i) + s[i + 1];
      i += 2;
      segment = i;
      continue;
    }
    if (c > 0xff || QDTEXT_CHAR[c] === 0) return null;
    i++;
  }
  return null;
}

/**
 * Parses a `Sec-WebSocket-Extensions` value (RFC 6455 9.1):
 * `1#( token *( ";" token [ "=" ( token | quoted-string ) ] ) )`, with optional whitespace around
 * `,`, `;` and `=`. A quoted value must still be a token once unescaped (RFC 6455 9.1).
 * Returns the offers in order, or `null` if the value is invalid or lists no extension.
 */
export function parseExtensionOffers(value: string): ExtensionOffer[] | null {
  const offers: ExtensionOffer[] = [];
  const s = value;
  const ok = walkList(s, (start) => {
    let i = scanToken(s, start);
    if (i === start) return -1;
    const offer: ExtensionOffer = { name: s.slice(start, i), params: [] };
    for (;;) {
      i = skipOws(s, i);
      if (i === s.length || s.charCodeAt(i) !== SEMICOLON) break;
      i = skipOws(s, i + 1);
      const nameEnd = scanToken(s, i);
      if (nameEnd === i) return -1;
      const paramName = s.slice(i, nameEnd);
      i = skipOws(s, nameEnd);
      if (i === s.length || s.charCodeAt(i) !== EQUALS) {
        offer.params.push([paramName, true]);
        continue;
      }
      i = skipOws(s, i + 1);
      if (i < s.length && s.charCodeAt(i) === DQUOTE) {
        const quoted = parseQuotedString(s, i);
        if (quoted === null || !isToken(quoted[0])) return -1;
        offer.params.push([paramName, quoted[0]]);
        i = quoted[1];
      } else {
        const valueEnd = scanToken(s, i);
        if (valueEnd === i) return -1;
        offer.params.push([paramName, s.slice(i, valueEnd)]);
        i = valueEnd;
      }
    }
    offers.push(offer);
    return i;
  });
  return ok && offers.length > 0 ? offers : null;
}

/**
 * Serializes extension offers (or an accepted extension list) as a `Sec-WebSocket-Extensions` value,
 * e.g. `permessage-deflate; client_max_window_bits=10, x-foo`. Values are written bare: RFC 6455 9.1
 * requires every value to be a token anyway, so quoting would never be needed.
 * @throws WireroomError `INVALID_ARGUMENT` if a name or value is not a token.
 */
export function formatExtensions(offers: readonly ExtensionOffer[]): string {
  const parts: string[] = [];
  for (const offer of offers) {
    if (!isToken(offer.name)) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid extension name: ${JSON.stringify(offer.name)}`);
    }
    let part = offer.name;
    for (const [name, value] of offer.params) {
      if (!isToken(name)) {
        throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid extension parameter name: ${JSON.stringify(name)}`);
      }
      if (value === true) {
        part += `; ${name}`;
        continue;
      }
      if (!isToken(value)) {
        throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid value for extension parameter ${name}`);
      }
      part += `; ${name}=${value}`;
    }
    parts.push(part);
  }
  return parts.join(', ');
}
