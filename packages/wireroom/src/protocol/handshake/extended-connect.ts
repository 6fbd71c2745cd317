/**
 * The opening handshake of a WebSocket over HTTP/2 (RFC 8441): an extended CONNECT request
 * (`:method CONNECT`, `:protocol websocket`) answered with `:status 200`. Pure functions over header lists;
 * the HTTP/2 framing, HPACK and the SETTINGS_ENABLE_CONNECT_PROTOCOL advertisement are the I/O layer's.
 *
 * What differs from HTTP/1.1 (RFC 8441 section 5): no `Upgrade`, `Connection`, `Sec-WebSocket-Key` or
 * `Sec-WebSocket-Accept` (the stream itself is the new protocol's channel); the target is `:path`, the host is
 * `:authority`. The rest is RFC 6455 unchanged: `Sec-WebSocket-Version`, `Origin`, `Sec-WebSocket-Protocol`,
 * `Sec-WebSocket-Extensions`.
 *
 * Status decisions (every rejection is a `HandshakeError` carrying its status and extra headers):
 * - `:method` other than CONNECT: 405 with `Allow: CONNECT`; CONNECT without `:protocol` (a proxy tunnel) or with
 *   another protocol: 400.
 * - `:scheme`, `:path` or `:authority` missing or repeated (RFC 8441 section 4): 400.
 * - `Sec-WebSocket-Version` missing, repeated or other than 13: 400 with `sec-websocket-version: 13`. Not 426
 *   as over HTTP/1.1: Upgrade does not exist in HTTP/2 (RFC 9113 8.2.2), so "Upgrade Required" cannot be acted on.
 * - `Origin` repeated, an invalid subprotocol or extension list: 400, as over HTTP/1.1.
 */
import { ErrorCodes, HandshakeError, WireroomError } from '../errors.js';
import { parseExtensionOffers, parseTokenList, type ExtensionOffer } from './header-values.js';
import { isSafeFieldValue, isToken } from './http-chars.js';
import { ParsedRequestHead, type RequestHead } from './http-head.js';
import { parseOffers, type UpgradeRequest } from './server-handshake.js';
import { statusText } from './status-text.js';

/** The `:protocol` value of a WebSocket extended CONNECT. */
export const WEBSOCKET_PROTOCOL = 'websocket';

function badRequest(message: string, headers?: Record<string, string>): HandshakeError {
  return new HandshakeError(ErrorCodes.HANDSHAKE_BAD_REQUEST, 400, message, headers);
}

/**
 * A request head from HTTP/2 raw headers (`[name, value, name, value, ...]`, names lower case as HTTP/2
 * requires): method `:method`, target `:path`, version 2.0, and every field in order, pseudo-header fields
 * included, so one validator sees exactly what arrived (repeats too).
 */
export function http2RequestHead(rawHeaders: readonly string[]): RequestHead {
  let method = '';
  let path = '';
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name === ':method' && method === '') method = rawHeaders[i + 1]!;
    else if (name === ':path' && path === '') path = rawHeaders[i + 1]!;
  }
  const head = new ParsedRequestHead(method, path, 2, 0);
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) head.headers.push([rawHeaders[i]!.toLowerCase(), rawHeaders[i + 1]!]);
  return head;
}

/**
 * Checks that `head` (see `http2RequestHead`) is a WebSocket extended CONNECT (RFC 8441 section 4 and 5).
 * Returns the handshake data (`key` is '': HTTP/2 has none; `host` is `:authority`), or the `HandshakeError` to
 * answer with.
 */
export function validateExtendedConnect(head: RequestHead): UpgradeRequest | HandshakeError {
  let methods = 0;
  let protocols = 0;
  let protocol = '';
  let schemes = 0;
  let paths = 0;
  let authorities = 0;
  let authority = '';
  let hosts = 0;
  let host = '';
  let versions = 0;
  let version = '';
  let origins = 0;
  let origin: string | undefined;
  let protocolValues: string[] | null = null;
  let extensionValues: string[] | null = null;
  for (const [name, value] of head.headers) {
    switch (name) {
      case ':method': methods++; break;
      case ':protocol':
        if (protocols++ === 0) protocol = value;
        break;
      case ':scheme': schemes++; break;
      case ':path': paths++; break;
      case ':authority':
        if (authorities++ === 0) authority = value;
        break;
      case 'host':
        if (hosts++ === 0) host = value;
        break;
      case 'sec-websocket-version':
        if (versions++ === 0) version = value;
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

  if (methods !== 1 || head.method !== 'CONNECT') {
    return new HandshakeError(ErrorCodes.HANDSHAKE_METHOD, 405, 'A WebSocket over HTTP/2 is an extended CONNECT', { Allow: 'CONNECT' });
  }
  if (protocols !== 1 || protocol !== WEBSOCKET_PROTOCOL) return badRequest('Not a WebSocket request (expected :protocol websocket)');
  if (schemes !== 1 || paths !== 1 || head.target === '') return badRequest('An extended CONNECT needs exactly one :scheme and one :path');
  // :authority is the Host of HTTP/2 (RFC 9113 8.3.1); a client may send Host instead, never a different pair.
  if (authorities > 1 || hosts > 1) return badRequest('Repeated :authority or Host');
  if (authorities === 1 && hosts === 1 && authority !== host) return badRequest(':authority and Host disagree');
  const target = authorities === 1 ? authority : host;
  if (target === '') return badRequest('An extended CONNECT needs a non-empty :authority');

  const supported = { 'sec-websocket-version': '13' };
  if (versions !== 1) return badRequest('Exactly one sec-websocket-version header is required', supported);
  if (version !== '13') return badRequest('Unsupported WebSocket version (supported: 13)', supported);
  if (origins > 1) return badRequest('Repeated Origin header');

  const offers = parseOffers(protocolValues, extensionValues);
  if (offers instanceof HandshakeError) return offers;
  return { key: '', path: head.target, host: target, origin, protocols: offers.protocols, extensions: offers.extensions, head };
}

/** HTTP/2 header fields: pseudo-header fields (`:status`) and lower-case names. */
export type Http2HeaderFields = Record<string, string | number>;

/**
 * The response headers accepting an extended CONNECT: `:status 200` (no `Sec-WebSocket-Accept` in HTTP/2),
 * the selected subprotocol and the accepted extensions.
 * @throws WireroomError `INVALID_ARGUMENT` if the protocol is not a token or the extensions value is unsafe.
 */
export function extendedConnectAcceptHeaders(options: { protocol?: string; extensions?: string }): Http2HeaderFields {
  const headers: Http2HeaderFields = { ':status': 200 };
  const { protocol, extensions } = options;
  if (protocol !== undefined && protocol !== '') {
    if (!isToken(protocol)) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'The subprotocol must be a token');
    headers['sec-websocket-protocol'] = protocol;
  }
  if (extensions !== undefined && extensions !== '') {
    if (!isSafeFieldValue(extensions)) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'Invalid Sec-WebSocket-Extensions value');
    headers['sec-websocket-extensions'] = extensions;
  }
  return headers;
}

/** Connection-specific fields, which HTTP/2 forbids (RFC 9113 8.2.2): dropped from refusals. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'content-length', 'content-type']);

/**
 * A refusal of an extended CONNECT: the header fields (`:status`, a `text/plain` content type, `headers` with
 * lower-cased names) and the body (`message`, control characters replaced, default the reason phrase).
 * @throws WireroomError `INVALID_ARGUMENT` for a status outside 100-599 or an invalid header.
 */
export function extendedConnectErrorResponse(status: number, message?: string, headers: Readonly<Record<string, string>> = {}): { headers: Http2HeaderFields; body: string } {
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid HTTP status for a refusal: ${status}`);
  }
  const fields: Http2HeaderFields = { ':status': status, 'content-type': 'text/plain; charset=utf-8' };
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (!isToken(name)) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid header name: ${JSON.stringify(name)}`);
    if (typeof value !== 'string' || !isSafeFieldValue(value)) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid value for header ${name}`);
    const lower = name.toLowerCase();
    if (!CONNECTION_SPECIFIC.has(lower)) fields[lower] = value;
  }
  // eslint-disable-next-line no-control-regex
  return { headers: fields, body: (message ?? statusText(status)).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ') };
}

/** What the client offered, to check the server's answer against. */
export interface ExtendedConnectOffer {
  protocols: readonly string[];
  offeredExtensions: readonly string[];
}

/**
 * Checks the server's answer to an extended CONNECT (client side): status 200, at most one subprotocol and
 * one the client offered, only offered extensions, none twice. Failures are `HandshakeError`s with code
 * `HANDSHAKE_INVALID_RESPONSE` and `status` the server's.
 */
export function validateExtendedConnectResponse(
  status: number,
  fields: ReadonlyArray<readonly [name: string, value: string]>,
  offer: ExtendedConnectOffer,
): { protocol: string; extensions: ExtensionOffer[]; extensionsHeader: string } | HandshakeError {
  const fail = (message: string): HandshakeError => new HandshakeError(ErrorCodes.HANDSHAKE_INVALID_RESPONSE, status, message);
  if (status < 200 || status > 299) return fail(`Unexpected server response: ${status}`);
  const protocolValues: string[] = [];
  const extensionValues: string[] = [];
  for (const [name, value] of fields) {
    if (name === 'sec-websocket-protocol') protocolValues.push(value);
    else if (name === 'sec-websocket-extensions') extensionValues.push(value);
  }
  let protocol = '';
  if (protocolValues.length > 1) return fail('Repeated Sec-WebSocket-Protocol header');
  if (protocolValues.length === 1) {
    const list = parseTokenList(protocolValues[0]!);
    if (list === null || list.length !== 1) return fail('Sec-WebSocket-Protocol must name exactly one subprotocol');
    protocol = list[0]!;
    if (!offer.protocols.includes(protocol)) return fail(`Server selected a subprotocol that was not offered: ${protocol}`);
  }
  const extensions: ExtensionOffer[] = [];
  for (const value of extensionValues) {
    const accepted = parseExtensionOffers(value);
    if (accepted === null) return fail('Invalid Sec-WebSocket-Extensions header');
    for (const extension of accepted) {
      if (!offer.offeredExtensions.includes(extension.name)) return fail(`Server accepted an extension that was not offered: ${extension.name}`);
      if (extensions.some((e) => e.name === extension.name)) return fail(`Server accepted extension ${extension.name} twice`);
      extensions.push(extension);
    }
  }
  return { protocol, extensions, extensionsHeader: extensionValues.join(', ') };
}
