/**
 * Identity from a header set by an authenticating reverse proxy (oauth2-proxy, nginx auth_request, ...),
 * believed only from the proxies' own addresses. Pure: reads the request, no I/O. See docs/identity.md.
 */
import { ErrorCodes, WireroomError } from '../../protocol/errors.js';
import type { HandshakeRequest } from '../origin.js';
import { parseCidrList } from './cidr.js';
import { refuse, type IdentifyHook } from './refusal.js';

/** Options of `trustedHeaderIdentity()`. */
export interface TrustedHeaderOptions {
  /** The header the proxy sets, e.g. 'X-Forwarded-User' (case-insensitive). */
  readonly header: string;
  /**
   * Addresses of the proxies (IPs or CIDR ranges, IPv4 and IPv6; IPv4-mapped IPv6 peers match their IPv4
   * entries): the header is believed only when the TCP peer is one of them. Never a range clients can reach
   * directly.
   */
  readonly trustedProxies: readonly string[] | string;
}

/** Longest header value taken as an identity, in bytes. */
const MAX_VALUE_BYTES = 256;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * An identify hook whose identity is the value of `header`, set by a trusted reverse proxy:
 * - the peer (`request.socket.remoteAddress`) is not in `trustedProxies`: 403 'Untrusted proxy address'
 *   (whatever the headers say: a client that can reach the server directly could send the header itself);
 * - the header is absent or empty: 401 'Missing <header>';
 * - it is repeated, longer than 256 bytes or holds control characters: 401 'Invalid <header>'.
 * Throws WireroomError(WS_ERR_INVALID_ARGUMENT) at once on a bad header name or address list.
 */
export function trustedHeaderIdentity(options: TrustedHeaderOptions): IdentifyHook<string> {
  const header = options?.header;
  if (typeof header !== 'string' || !TOKEN.test(header)) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid header name: ${String(header)}`);
  const proxies = parseCidrList(options.trustedProxies);
  const name = header.toLowerCase();
  const missing = `Missing ${header}`;
  const badValue = `Invalid ${header}`;
  return (request: HandshakeRequest) => {
    const peer = (request.socket as { remoteAddress?: string } | undefined)?.remoteAddress;
    if (!proxies.contains(peer)) return refuse(403, 'Untrusted proxy address');
    const values = headerValues(request, name);
    if (values.length === 0 || (values.length === 1 && values[0]!.trim() === '')) return refuse(401, missing);
    if (values.length > 1) return refuse(401, badValue);
    const value = values[0]!.trim();
    if (Buffer.byteLength(value, 'latin1') > MAX_VALUE_BYTES || CONTROL.test(value)) return refuse(401, badValue);
    return value;
  };
}

/** Every value of a header, from `rawHeaders` when the request has them (node:http joins repeats with ', '). */
function headerValues(request: HandshakeRequest, name: string): string[] {
  const raw = (request as { rawHeaders?: unknown }).rawHeaders;
  if (Array.isArray(raw)) {
    const values: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if (typeof raw[i] === 'string' && (raw[i] as string).toLowerCase() === name) values.push(String(raw[i + 1]));
    }
    return values;
  }
  const value = request.headers[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [String(value)];
}
