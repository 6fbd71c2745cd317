/**
 * Server side of the opening handshake (RFC 6455 section 4.2): validating the client's upgrade
 * request and building the 101 (or error) response. Pure functions over parsed heads and strings.
 *
 * Status decisions (each rejection is a `HandshakeError` carrying its status and extra headers):
 * - method other than GET: 405 with `Allow: GET`.
 * - HTTP version below 1.1: 400 (RFC 6455 4.1 requires HTTP/1.1; an HTTP/1.0 peer has no Upgrade).
 * - a request with a body: 400. Any `Transfer-Encoding`, or a `Content-Length` other than `0` (so both together
 *   as well: RFC 9112 6.1). The new protocol starts after the request is complete (RFC 9110 7.8): the bytes of
 *   a body must never be read as WebSocket frames, and a server that does not read bodies cannot skip them.
 * - `Host` missing, repeated or empty: 400.
 * - `Upgrade` without `websocket`, `Connection` without `upgrade`: 400, not 426. The request is not a
 *   WebSocket handshake at all, and `HANDSHAKE_BAD_REQUEST` is documented as 400.
 * - `Sec-WebSocket-Version` missing or repeated: 400; present with another value: 426. Both carry
 *   `Sec-WebSocket-Version: 13` so the client learns what we speak (RFC 6455 4.2.2 item 4, 4.4).
 * - `Sec-WebSocket-Key` missing, repeated or invalid: 400.
 * - `Origin` repeated: 400 (an ambiguous origin must not reach an origin check).
 * - `Sec-WebSocket-Protocol` invalid, empty or naming a protocol twice: 400; invalid
 *   `Sec-WebSocket-Extensions`: 400.
 */
import { ErrorCodes, HandshakeError, WireroomError } from '../errors.js';
import { computeAcceptKey, isValidClientKey } from './accept.js';
import { formatHeaderLines, type ExtraHeaders } from './header-lines.js';
import { parseExtensionOffers, parseTokenList, type ExtensionOffer } from './header-values.js';
import { isSafeFieldValue, isToken } from './http-chars.js';
import type { RequestHead } from './http-head.js';
import { connectionValueHasUpgrade, upgradeValueHasWebSocket } from './list-header.js';
import { statusText } from './status-text.js';

/** A validated WebSocket upgrade request. */
export interface UpgradeRequest {
  /** The `Sec-WebSocket-Key` value. */
  key: string;
  /** The request-target as sent (path and query). */
  path: string;
  host: string;
  origin: string | undefined;
  /** Subprotocols offered by the client, in preference order, across every header instance. */
  protocols: string[];
  /** Extensions offered by the client, in order, across every header instance. */
  extensions: ExtensionOffer[];
  head: RequestHead;
}

/** Options of `validateUpgradeRequest`. */
export interface UpgradeRequestOptions {
  /** The only `Sec-WebSocket-Version` accepted. Default 13. */
  supportedVersion?: number;
}

function badRequest(message: string, headers?: Record<string, string>): HandshakeError {
  return new HandshakeError(ErrorCodes.HANDSHAKE_BAD_REQUEST, 400, message, headers);
}

/**
 * Checks that `head` is a valid WebSocket opening handshake (RFC 6455 4.2.1).
 * Returns the request's handshake data, or the `HandshakeError` to answer with (see the module comment
 * for the status of each rule).
 */
export function validateUpgradeRequest(head: RequestHead, options: UpgradeRequestOptions = {}): UpgradeRequest | HandshakeError {
  const supportedVersion = options.supportedVersion === undefined ? '13' : String(options.supportedVersion);

  if (head.method !== 'GET') {
    return new HandshakeError(ErrorCodes.HANDSHAKE_METHOD, 405, 'A WebSocket handshake must use GET', { Allow: 'GET' });
  }
  if (head.versionMajor < 1 || (head.versionMajor === 1 && head.versionMinor < 1)) {
    return badRequest('A WebSocket handshake requires HTTP/1.1');
  }

  // One pass over the header lines (names are lower-case) collects what the rules below check, in their order.
  let hosts = 0;
  let host = '';
  let upgrade = false;
  let connection = false;
  let versions = 0;
  let version = '';
  let keys = 0;
  let key = '';
  let origins = 0;
  let origin: string | undefined;
  let protocolValues: string[] | null = null;
  let extensionValues: string[] | null = null;
  let body = false;
  for (const [name, value] of head.headers) {
    switch (name) {
      case 'content-length':
        body ||= value !== '0';
        break;
      case 'transfer-encoding':
        body = true;
        break;
      case 'host':
        if (hosts++ === 0) host = value;
        break;
      case 'upgrade':
        upgrade ||= upgradeValueHasWebSocket(value);
        break;
      case 'connection':
        connection ||= connectionValueHasUpgrade(value);
        break;
      case 'sec-websocket-version':
        if (versions++ === 0) version = value;
        break;
      case 'sec-websocket-key':
        if (keys++ === 0) key = value;
        break;
      case 'origin':
        if (origins++ === 0) origin = value;
        break;
      case 'sec-websocket-protocol':
        (protocolValues ??= []).push(value);
        break;
      case 'sec-websocket-extensions':
        (extensionValues ??= []).push(value);
        break;
    }
  }

  if (body) return badRequest('A WebSocket handshake request must not have a body (Content-Length other than 0 or Transfer-Encoding)');
  if (hosts !== 1 || host === '') return badRequest('Exactly one non-empty Host header is required');
  if (!upgrade) return badRequest('Missing or invalid Upgrade header (expected websocket)');
  if (!connection) return badRequest('Missing or invalid Connection header (expected Upgrade)');

  if (versions !== 1) return badRequest('Exactly one Sec-WebSocket-Version header is required', { 'Sec-WebSocket-Version': supportedVersion });
  if (version !== supportedVersion) {
    return new HandshakeError(ErrorCodes.HANDSHAKE_VERSION, 426, `Unsupported WebSocket version (supported: ${supportedVersion})`, { 'Sec-WebSocket-Version': supportedVersion });
  }

  if (keys !== 1 || !isValidClientKey(key)) return badRequest('Missing, repeated or invalid Sec-WebSocket-Key header');
  if (origins > 1) return badRequest('Repeated Origin header');

  const offers = parseOffers(protocolValues, extensionValues);
  if (offers instanceof HandshakeError) return offers;
  return { key, path: head.target, host, origin, protocols: offers.protocols, extensions: offers.extensions, head };
}

/**
 * @internal The subprotocols and extensions a client offered, across every header instance (shared by the
 * HTTP/1.1 upgrade and the RFC 8441 extended CONNECT). An invalid, empty or repeating list: 400.
 */
export function parseOffers(protocolValues: readonly string[] | null, extensionValues: readonly string[] | null): { protocols: string[]; extensions: ExtensionOffer[] } | HandshakeError {
  const protocols: string[] = [];
  if (protocolValues !== null) {
    for (const value of protocolValues) {
      const list = parseTokenList(value);
      if (list === null || list.length === 0) return badRequest('Invalid Sec-WebSocket-Protocol header');
      for (const protocol of list) {
        if (protocols.includes(protocol)) return badRequest('Repeated subprotocol in Sec-WebSocket-Protocol header');
        protocols.push(protocol);
      }
    }
  }

  const extensions: ExtensionOffer[] = [];
  if (extensionValues !== null) {
    for (const value of extensionValues) {
      const offers = parseExtensionOffers(value);
      if (offers === null) return badRequest('Invalid Sec-WebSocket-Extensions header');
      extensions.push(...offers);
    }
  }

  return { protocols, extensions };
}

/** Options of `buildAcceptResponse`. */
export interface AcceptResponseOptions {
  /** The client's `Sec-WebSocket-Key`. */
  key: string;
  /** The selected subprotocol (one the client offered); omitted or `''` for none. */
  protocol?: string;
  /** The accepted extensions, already formatted (see `formatExtensions`); omitted or `''` for none. */
  extensions?: string;
  /** Additional response headers, e.g. `Set-Cookie`. */
  headers?: ExtraHeaders;
}

const ACCEPT_RESERVED = new Set(['upgrade', 'connection', 'sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions']);

const ACCEPT_PREFIX = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ';

/**
 * Builds the complete `101 Switching Protocols` response head that accepts a handshake.
 * @throws WireroomError `INVALID_ARGUMENT` if the protocol is not a token, the extensions value or an
 *   extra header holds CR/LF/control characters, or an extra header would override a handshake header.
 */
export function buildAcceptResponse(options: AcceptResponseOptions): Buffer {
  return Buffer.from(acceptResponseHead(options), 'latin1');
}

/**
 * `buildAcceptResponse` as a string of Latin-1 characters (one per byte): a socket writes it without a
 * Buffer object in between.
 */
export function acceptResponseHead(options: AcceptResponseOptions): string {
  let head = ACCEPT_PREFIX + computeAcceptKey(options.key) + '\r\n';
  const { protocol, extensions, headers } = options;
  if (protocol !== undefined && protocol !== '') {
    if (!isToken(protocol)) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'The subprotocol must be a token');
    head += 'Sec-WebSocket-Protocol: ' + protocol + '\r\n';
  }
  if (extensions !== undefined && extensions !== '') {
    if (!isSafeFieldValue(extensions)) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'Invalid Sec-WebSocket-Extensions value');
    head += 'Sec-WebSocket-Extensions: ' + extensions + '\r\n';
  }
  if (headers !== undefined) head += formatHeaderLines(headers, ACCEPT_RESERVED);
  return head + '\r\n';
}

const ERROR_RESERVED = new Set(['connection', 'content-type', 'content-length', 'transfer-encoding']);

/** Control characters (C0, DEL, C1) that must not reach the body: replaced by spaces. */
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * Builds a complete error response refusing a handshake: status line with the standard reason phrase,
 * `Connection: close`, a `text/plain` body holding `message` (control characters replaced by spaces;
 * defaults to the reason phrase) and its `Content-Length`, plus `headers` (e.g. `HandshakeError.headers`).
 * @throws WireroomError `INVALID_ARGUMENT` if `status` is not an integer in 100-599 or a header is invalid.
 */
export function buildErrorResponse(status: number, message?: string, headers: ExtraHeaders = {}): Buffer {
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid HTTP status: ${status}`);
  }
  const reason = statusText(status);
  const body = (message ?? reason).replace(CONTROL_CHARS, ' ');
  const bodyLength = Buffer.byteLength(body, 'utf8');
  const head =
    `HTTP/1.1 ${status} ${reason}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${bodyLength}\r\n` +
    formatHeaderLines(headers, ERROR_RESERVED) +
    '\r\n';
  const headLength = head.length; // latin1: one byte per char
  const out = Buffer.allocUnsafe(headLength + bodyLength);
  out.write(head, 0, 'latin1');
  out.write(body, headLength, 'utf8');
  return out;
}
