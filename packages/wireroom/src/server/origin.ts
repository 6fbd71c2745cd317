/**
 * The Origin check against cross-site WebSocket hijacking. Browsers always send `Origin` on a WebSocket
 * handshake and cookies ride along, so a page on another site could act as the user unless the server
 * refuses foreign origins. Same-origin is the default; non-browser clients (no Origin header) are allowed.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Which origins may open connections. */
export type OriginPolicy =
  | 'same-origin'
  | '*'
  | readonly string[]
  | ((origin: string | undefined, request: HandshakeRequest) => boolean);

/** What the server knows of a handshake request (an `http.IncomingMessage` satisfies it). */
export interface HandshakeRequest {
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHttpHeaders;
  socket: import('node:stream').Duplex;
}

/** Whether `origin` may connect under `policy`. */
export function isOriginAllowed(policy: OriginPolicy, origin: string | undefined, host: string | undefined, request: HandshakeRequest): boolean {
  if (typeof policy === 'function') return policy(origin, request) === true;
  if (policy === '*') return true;
  if (origin === undefined) return true; // not a browser: no ambient credentials to abuse
  if (policy === 'same-origin') return host !== undefined && sameHost(origin, host);
  const normalized = origin.toLowerCase();
  return policy.some((allowed) => allowed.toLowerCase() === normalized);
}

/** Compares an Origin with the Host header, treating an omitted default port (80, 443) as written. */
function sameHost(origin: string, host: string): boolean {
  const fromOrigin = originHost(origin);
  const lowerHost = host.toLowerCase();
  if (fromOrigin === '') return false;
  if (fromOrigin === lowerHost) return true;
  const defaultPort = origin.toLowerCase().startsWith('https://') ? ':443' : ':80';
  return fromOrigin + defaultPort === lowerHost || fromOrigin === lowerHost + defaultPort;
}

/** `https://Example.com:8443` -> `example.com:8443`; `null` or garbage -> ''. */
function originHost(origin: string): string {
  const schemeEnd = origin.indexOf('://');
  if (schemeEnd < 0) return '';
  const rest = origin.slice(schemeEnd + 3);
  const slash = rest.indexOf('/');
  return (slash < 0 ? rest : rest.slice(0, slash)).toLowerCase();
}
