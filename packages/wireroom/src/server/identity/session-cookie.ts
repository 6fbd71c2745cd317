/**
 * Signed session cookies (HMAC-SHA256) for the identify hook. Pure: no sockets, no timers; the clock is
 * injectable. See docs/identity.md for what signing guarantees and what it does not.
 *
 * The cookie value is `v1.<value, base64url>.<issued ms>.<expires ms>.<HMAC, base64url>`, the HMAC taken over
 * the cookie name and everything before the last dot: the value and its expiry are signed, so neither the
 * value nor the lifetime can be changed without the key, and the browser's Max-Age is not trusted.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, WireroomError } from '../../protocol/errors.js';
import type { HandshakeRequest } from '../origin.js';
import { refuse, type IdentifyHook } from './refusal.js';

/** Options of a `SessionCookie`. */
export interface SessionCookieOptions {
  /**
   * Secrets, each at least 32 bytes (random: `crypto.randomBytes(32)`). The first signs, every one verifies.
   * Rotation: put a new key first, keep the old ones until the cookies they signed have expired
   * (`maxAgeSeconds`), then drop them; a cookie signed with a dropped key is refused.
   */
  readonly keys: readonly (string | Buffer)[];
  /** Cookie name. Default 'wireroom_session'. */
  readonly name?: string;
  /** Lifetime of an issued cookie, in seconds (signed into the cookie). Default 30 days. */
  readonly maxAgeSeconds?: number;
  /** Path attribute. Default '/'. */
  readonly path?: string;
  /** SameSite attribute. Default 'Lax' (sent on top-level navigations, not on cross-site subrequests). */
  readonly sameSite?: 'Lax' | 'Strict' | 'None';
  /** The clock, in ms since the epoch (for tests). Default `Date.now`. */
  readonly now?: () => number;
}

/** What `SessionCookie.read()` found. Times are ms since the epoch. */
export type SessionRead =
  | { ok: true; value: string; issuedAt: number; expiresAt: number; signedWithCurrentKey: boolean }
  | { ok: false; reason: 'missing' | 'malformed' | 'bad-signature' | 'expired' };

/** Where `read()` finds the Cookie header: a request, or the header's value(s). */
export type CookieSource = { readonly headers: { readonly cookie?: string | readonly string[] | undefined } } | string | readonly string[] | undefined;

const MIN_KEY_BYTES = 32;
const DEFAULT_MAX_AGE = 30 * 24 * 3600;
/** Browsers keep cookies up to 4096 bytes (name, value and attributes): a longer value is not ours. */
const MAX_COOKIE_VALUE = 4096;
/** RFC 6265 token characters (a cookie name). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Our cookie value, strictly: version, base64url value, two times, a 43-character base64url HMAC. */
const VALUE = /^v1\.([A-Za-z0-9_-]*)\.(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/;
/** A Path attribute may not hold control characters or ';' (RFC 6265 4.1.1). */
const PATH = /^[\x20-\x3a\x3c-\x7e]+$/;

const REASONS = {
  missing: 'No session cookie',
  malformed: 'Malformed session cookie',
  'bad-signature': 'Invalid session signature',
  expired: 'Session expired',
} as const;

/** A signed session cookie: issue it with `serialize()`, check it with `read()` or the `identify()` hook. */
export class SessionCookie {
  readonly name: string;
  readonly maxAgeSeconds: number;
  readonly path: string;
  readonly sameSite: 'Lax' | 'Strict' | 'None';
  private readonly keys: readonly Buffer[];
  private readonly now: () => number;

  constructor(options: SessionCookieOptions) {
    const keys = options?.keys;
    if (!Array.isArray(keys) || keys.length === 0) throw invalid('SessionCookie needs a non-empty array of keys');
    this.keys = keys.map((key: unknown, i) => {
      const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.isBuffer(key) ? Buffer.from(key) : null;
      if (bytes === null) throw invalid(`SessionCookie key ${i} is neither a string nor a Buffer`);
      if (bytes.length < MIN_KEY_BYTES) throw invalid(`SessionCookie key ${i} is ${bytes.length} bytes; at least ${MIN_KEY_BYTES} are needed`);
      return bytes;
    });
    this.name = options.name ?? 'wireroom_session';
    if (!TOKEN.test(this.name)) throw invalid(`Invalid cookie name: ${JSON.stringify(this.name)}`);
    this.maxAgeSeconds = options.maxAgeSeconds ?? DEFAULT_MAX_AGE;
    if (!Number.isInteger(this.maxAgeSeconds) || this.maxAgeSeconds <= 0 || this.maxAgeSeconds > 400 * 24 * 3600) {
      throw invalid('maxAgeSeconds must be a whole number of seconds, from 1 to 400 days');
    }
    this.path = options.path ?? '/';
    if (!this.path.startsWith('/') || !PATH.test(this.path)) throw invalid(`Invalid cookie path: ${JSON.stringify(this.path)}`);
    this.sameSite = options.sameSite ?? 'Lax';
    if (this.sameSite !== 'Lax' && this.sameSite !== 'Strict' && this.sameSite !== 'None') throw invalid(`Invalid SameSite: ${String(this.sameSite)}`);
    this.now = options.now ?? Date.now;
  }

  /**
   * The Set-Cookie header value carrying `value`, signed with the first key, expiring `maxAgeSeconds` from
   * now: HttpOnly always, Secure when `secure` (a page served over TLS: `isSecureRequest(request)`).
   */
  serialize(value: string, options: { secure: boolean }): string {
    if (typeof value !== 'string') throw invalid('A session value is a string');
    if (this.sameSite === 'None' && !options.secure) throw invalid('SameSite=None cookies must be Secure (browsers drop them otherwise)');
    const issuedAt = Math.floor(this.now());
    const expiresAt = issuedAt + this.maxAgeSeconds * 1000;
    const payload = `v1.${Buffer.from(value, 'utf8').toString('base64url')}.${issuedAt}.${expiresAt}`;
    const cookie = `${payload}.${this.sign(this.keys[0]!, payload)}`;
    if (cookie.length > MAX_COOKIE_VALUE) throw invalid(`Session value too long: the cookie would be ${cookie.length} bytes`);
    return `${this.name}=${cookie}; Path=${this.path}; Max-Age=${this.maxAgeSeconds}; Expires=${new Date(expiresAt).toUTCString()}; HttpOnly` +
      `${options.secure ? '; Secure' : ''}; SameSite=${this.sameSite}`;
  }

  /** A Set-Cookie header value that deletes the cookie (log out). */
  clear(options: { secure: boolean }): string {
    return `${this.name}=; Path=${this.path}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly` +
      `${options.secure ? '; Secure' : ''}; SameSite=${this.sameSite}`;
  }

  /**
   * Reads and verifies the session cookie of a request (or of a Cookie header value). Never throws: hostile
   * headers give 'malformed' (two cookies of this name, a value that is not ours, over 4096 bytes, ...).
   */
  read(source: CookieSource): SessionRead {
    const found = findCookie(cookieHeader(source), this.name);
    if (found === MISSING) return { ok: false, reason: 'missing' };
    if (found === MALFORMED) return { ok: false, reason: 'malformed' };
    const m = VALUE.exec(found);
    if (m === null) return { ok: false, reason: 'malformed' };
    const payload = found.slice(0, found.length - 44);
    const signature = Buffer.from(m[4]!, 'latin1');
    // Every key is tried (no early exit), so the time taken does not tell which one matched.
    let matched = -1;
    for (let i = 0; i < this.keys.length; i++) {
      if (timingSafeEqual(signature, Buffer.from(this.sign(this.keys[i]!, payload), 'latin1')) && matched < 0) matched = i;
    }
    if (matched < 0) return { ok: false, reason: 'bad-signature' };
    const issuedAt = Number(m[2]);
    const expiresAt = Number(m[3]);
    if (!(expiresAt > this.now())) return { ok: false, reason: 'expired' };
    const bytes = Buffer.from(m[1]!, 'base64url');
    return { ok: true, value: bytes.toString('utf8'), issuedAt, expiresAt, signedWithCurrentKey: matched === 0 };
  }

  /**
   * An identify hook: the identity is the cookie's value. A request without a valid cookie is refused 401
   * with a reason naming the problem: 'No session cookie', 'Malformed session cookie', 'Invalid session
   * signature' (forged, or signed with a retired key), 'Session expired'.
   */
  identify(): IdentifyHook<string> {
    return (request: HandshakeRequest) => {
      const session = this.read(request);
      return session.ok ? session.value : refuse(401, REASONS[session.reason]);
    };
  }

  private sign(key: Buffer, payload: string): string {
    // The name is signed too: a cookie issued under one name is not valid under another.
    return createHmac('sha256', key).update(this.name).update('=').update(payload).digest('base64url');
  }
}

/** Whether a request came over TLS (its socket, or its HTTP/2 session's socket, is a TLSSocket): for `secure`. */
export function isSecureRequest(request: { readonly socket?: unknown }): boolean {
  return (request?.socket as { encrypted?: unknown } | null | undefined)?.encrypted === true;
}

function invalid(message: string): WireroomError {
  return new WireroomError(ErrorCodes.INVALID_ARGUMENT, message);
}

function cookieHeader(source: CookieSource): string | undefined {
  if (source === undefined || typeof source === 'string') return source;
  const header = Array.isArray(source) ? source : (source as { headers?: { cookie?: unknown } }).headers?.cookie;
  if (typeof header === 'string' || header === undefined) return header;
  // Several Cookie fields (HTTP/2 sends them as crumbs) are one list (RFC 9113 8.2.3).
  return Array.isArray(header) ? header.filter((h) => typeof h === 'string').join('; ') : undefined;
}

const MISSING = 0;
const MALFORMED = 1;

/**
 * The value of the one cookie called `name` in a Cookie header, in one linear scan; two of them are MALFORMED (which one would the browser mean? RFC 6265 5.4 gives no
 * answer a server can rely on, and an attacker able to plant a second cookie could pick).
 */
function findCookie(header: string | undefined, name: string): string | typeof MISSING | typeof MALFORMED {
  if (header === undefined || header.length === 0) return MISSING;
  let found: string | typeof MISSING = MISSING;
  let start = 0;
  // The next '=' at or after `start`, kept between pairs: searching again from every pair would rescan the rest
  // of the header each time (quadratic in ';;;;...=' headers).
  let eq = -1;
  while (start <= header.length) {
    let end = header.indexOf(';', start);
    if (end < 0) end = header.length;
    if (eq < start) {
      eq = header.indexOf('=', start);
      if (eq < 0) break; // no '=' left: no more cookie of any name
    }
    if (eq < end && header.slice(start, eq).trim() === name) {
      if (found !== MISSING) return MALFORMED;
      const value = header.slice(eq + 1, end).trim();
      if (value.length > MAX_COOKIE_VALUE) return MALFORMED;
      found = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
    }
    start = end + 1;
  }
  return found;
}
