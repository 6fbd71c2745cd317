/**
 * Client side of the opening handshake (RFC 6455 sections 4.1 and 4.2.2): building the upgrade request
 * and validating the server's response. Pure functions over strings and parsed heads.
 */
import { ErrorCodes, HandshakeError, WireroomError } from '../errors.js';
import { computeAcceptKey, isValidClientKey } from './accept.js';
import { formatHeaderLines, type ExtraHeaders } from './header-lines.js';
import { parseExtensionOffers, parseTokenList, type ExtensionOffer } from './header-values.js';
import { VISIBLE_CHAR, isSafeFieldValue, isToken } from './http-chars.js';
import type { ResponseHead } from './http-head.js';
import { connectionHasUpgrade, upgradesToWebSocket } from './list-header.js';

/** Options of `buildClientRequest`. */
export interface ClientRequestOptions {
  /** Host name or IP address (an IPv6 address may be given with or without brackets). */
  host: string;
  /** Port for the `Host` header; omit it for the scheme's default port. */
  port?: number;
  /** Request-target: path and query, starting with `/`, already percent-encoded. */
  path: string;
  /** `Sec-WebSocket-Key`, e.g. from `generateKey()`. */
  key: string;
  /** Subprotocols to offer, most preferred first; tokens, no duplicates. */
  protocols?: readonly string[];
  /** `Sec-WebSocket-Extensions` offer, already formatted (see `formatExtensions`). */
  extensions?: string;
  origin?: string;
  /** Additional request headers (e.g. `Authorization`, `Cookie`). */
  headers?: ExtraHeaders;
}

const REQUEST_RESERVED = new Set([
  'host',
  'upgrade',
  'connection',
  'origin',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

function invalid(message: string): WireroomError {
  return new WireroomError(ErrorCodes.INVALID_ARGUMENT, message);
}

function isVisibleAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || VISIBLE_CHAR[c] === 0) return false;
  }
  return s.length > 0;
}

function hostHeader(host: string, port: number | undefined): string {
  if (!isVisibleAscii(host)) throw invalid('Invalid host');
  // A bare IPv6 literal must be bracketed, or its colons would read as a port separator.
  const authority = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  if (port === undefined) return authority;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`Invalid port: ${port}`);
  return `${authority}:${port}`;
}

/**
 * Builds the complete opening handshake request head (RFC 6455 4.1).
 * @throws WireroomError `INVALID_ARGUMENT` for an invalid host, port, path or key, a protocol that is
 *   not a token or is repeated, an invalid extensions offer, or a header value holding CR/LF/control
 *   characters or overriding a handshake header.
 */
export function buildClientRequest(options: ClientRequestOptions): Buffer {
  const { path, key, protocols, extensions, origin, headers } = options;
  if (!isVisibleAscii(path) || path[0] !== '/') throw invalid('The path must start with "/" and hold only visible ASCII');
  if (!isValidClientKey(key)) throw invalid('Invalid Sec-WebSocket-Key');

  let head =
    `GET ${path} HTTP/1.1\r\n` +
    `Host: ${hostHeader(options.host, options.port)}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${key}\r\n` +
    'Sec-WebSocket-Version: 13\r\n';
  if (protocols !== undefined && protocols.length > 0) {
    const seen = new Set<string>();
    for (const protocol of protocols) {
      if (typeof protocol !== 'string' || !isToken(protocol)) throw invalid(`Invalid subprotocol: ${JSON.stringify(protocol)}`);
      if (seen.has(protocol)) throw invalid(`Repeated subprotocol: ${protocol}`);
      seen.add(protocol);
    }
    head += `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n`;
  }
  if (extensions !== undefined && extensions !== '') {
    if (parseExtensionOffers(extensions) === null) throw invalid('Invalid Sec-WebSocket-Extensions offer');
    head += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  }
  if (origin !== undefined) {
    if (origin === '' || !isSafeFieldValue(origin)) throw invalid('Invalid origin');
    head += `Origin: ${origin}\r\n`;
  }
  if (headers !== undefined) head += formatHeaderLines(headers, REQUEST_RESERVED);
  return Buffer.from(head + '\r\n', 'latin1');
}

/** What the client offered, to check the server's answer against. */
export interface ClientOffer {
  /** The `Sec-WebSocket-Key` sent. */
  key: string;
  /** Subprotocols offered (empty if none). */
  protocols: readonly string[];
  /** Names of the extensions offered (empty if none). */
  offeredExtensions: readonly string[];
}

/** The outcome of a successful handshake as seen by the client. */
export interface ServerHandshakeResult {
  /** The subprotocol the server selected, or `''` if none. */
  protocol: string;
  /** The extensions the server accepted, with their response parameters, in order. */
  extensions: ExtensionOffer[];
}

/**
 * Checks the server's response against the client's offer (RFC 6455 4.1, "the client MUST validate").
 * Every failure is a `HandshakeError` with code `HANDSHAKE_INVALID_RESPONSE` and `status` set to the
 * server's status (so a caller can tell a 403 or 404 from a broken 101).
 *
 * Rules: status 101; HTTP/1.1 or later; `Upgrade` names `websocket`; `Connection` has `upgrade`;
 * exactly one `Sec-WebSocket-Accept`, equal to the expected value; at most one `Sec-WebSocket-Protocol`,
 * holding exactly one of the offered subprotocols (none selected is allowed); every extension in
 * `Sec-WebSocket-Extensions` offered by name, and none accepted twice. Parameters of accepted
 * extensions are left to the extension's own negotiation.
 */
export function validateServerResponse(head: ResponseHead, offer: ClientOffer): ServerHandshakeResult | HandshakeError {
  const fail = (message: string): HandshakeError =>
    new HandshakeError(ErrorCodes.HANDSHAKE_INVALID_RESPONSE, head.status, message);

  if (head.status !== 101) return fail(`Unexpected server response: ${head.status}`);
  if (head.versionMajor < 1 || (head.versionMajor === 1 && head.versionMinor < 1)) return fail('The response must be HTTP/1.1');
  if (!upgradesToWebSocket(head.getAll('upgrade'))) return fail('Missing or invalid Upgrade header');
  if (!connectionHasUpgrade(head.getAll('connection'))) return fail('Missing or invalid Connection header');

  const accepts = head.getAll('sec-websocket-accept');
  if (accepts.length !== 1) return fail('Exactly one Sec-WebSocket-Accept header is required');
  if (accepts[0] !== computeAcceptKey(offer.key)) return fail('Invalid Sec-WebSocket-Accept header');

  let protocol = '';
  const protocolHeaders = head.getAll('sec-websocket-protocol');
  if (protocolHeaders.length > 1) return fail('Repeated Sec-WebSocket-Protocol header');
  if (protocolHeaders.length === 1) {
    const list = parseTokenList(protocolHeaders[0]!);
    if (list === null || list.length !== 1) return fail('Sec-WebSocket-Protocol must name exactly one subprotocol');
    protocol = list[0]!;
    if (!offer.protocols.includes(protocol)) return fail(`Server selected a subprotocol that was not offered: ${protocol}`);
  }

  const extensions: ExtensionOffer[] = [];
  for (const value of head.getAll('sec-websocket-extensions')) {
    const accepted = parseExtensionOffers(value);
    if (accepted === null) return fail('Invalid Sec-WebSocket-Extensions header');
    for (const extension of accepted) {
      if (!offer.offeredExtensions.includes(extension.name)) {
        return fail(`Server accepted an extension that was not offered: ${extension.name}`);
      }
      if (extensions.some((e) => e.name === extension.name)) return fail(`Server accepted extension ${extension.name} twice`);
      extensions.push(extension);
    }
  }
  return { protocol, extensions };
}
