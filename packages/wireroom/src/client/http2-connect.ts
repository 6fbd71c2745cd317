/**
 * The client over HTTP/2 (RFC 8441): a WebSocket as an extended CONNECT stream of an HTTP/2 session, as a browser
 * opens one on an HTTP/2 page. `connect(url, { http2: true })` shares one session per origin between every
 * WebSocket it opens (opened on first use, kept while WebSockets use it, unref'd when idle so it never holds the
 * process open, dropped when it closes or receives GOAWAY); `{ http2: session }` uses the application's own.
 *
 * When the server does not speak HTTP/2 or does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL, `connectHttp2`
 * resolves null and `connect()` falls back to HTTP/1.1. The handshake rules are the core's
 * (src/protocol/handshake/extended-connect.ts); the connection is the same WebSocket over the stream.
 */
import { connect as http2Connect, constants as http2Constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { DeflateCodecOptions } from '../compression/permessage-deflate.js';
import { PerMessageDeflate } from '../compression/permessage-deflate.js';
import { ErrorCodes, HandshakeError, WireroomError } from '../protocol/errors.js';
import { validateExtendedConnectResponse, WEBSOCKET_PROTOCOL } from '../protocol/handshake/extended-connect.js';
import { isToken } from '../protocol/handshake/http-chars.js';
import { buildDeflateOffer, PERMESSAGE_DEFLATE, validateDeflateResponse } from '../protocol/extensions/permessage-deflate-negotiation.js';
import { resolveConnectionOptions, WebSocket, type ConnectionOptions } from '../connection/websocket.js';
import { startClientHeartbeat } from '../connection/heartbeat.js';

/** What `connect()` resolved from the URL (the fields this module needs). */
export interface Http2Target {
  secure: boolean;
  host: string;
  port: number;
  path: string;
  href: string;
  explicitPort: number | undefined;
}

/** The options of `connect()` this module reads. */
export interface Http2ConnectOptions extends ConnectionOptions {
  http2?: boolean | ClientHttp2Session;
  protocols?: readonly string[];
  origin?: string;
  handshakeTimeout?: number;
  perMessageDeflate?: boolean | DeflateCodecOptions;
  tls?: TlsConnectionOptions;
  followRedirects?: boolean;
  heartbeatInterval?: number;
  heartbeatTimeout?: number;
}

/** A redirect to follow (3xx with Location, when `followRedirects` is set). */
export interface Http2Redirect {
  status: number;
  location: string;
}

/** Fields HTTP/2 forbids (RFC 9113 8.2.2) or the handshake sets itself: left out of the caller's headers. */
const RESERVED = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'te',
  'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions', 'origin',
]);

/** Sessions opened by `http2: true`, by authority: a promise of the session, or of null (no RFC 8441 there). */
const sessions = new Map<string, Promise<ClientHttp2Session | null>>();
/** WebSockets open on each of our sessions: the session is ref'd while there are some. */
const users = new WeakMap<ClientHttp2Session, number>();

/**
 * Opens a WebSocket over HTTP/2 to `target`. Resolves with the open WebSocket, a redirect to follow, or null
 * when the server does not offer RFC 8441 (`connect()` then uses HTTP/1.1); rejects like `connect()`.
 */
export async function connectHttp2(ws: WebSocket, target: Http2Target, headers: Record<string, string>, options: Http2ConnectOptions): Promise<WebSocket | Http2Redirect | null> {
  const given = typeof options.http2 === 'object' ? options.http2 : null;
  // Cleartext HTTP/2 (h2c) only with a session the application opened itself; `true` means TLS with ALPN h2.
  if (given === null && !target.secure) return null;
  const timeoutMs = options.handshakeTimeout ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  const session = given !== null ? await settled(given, timeoutMs) : await withTimeout(sharedSession(target, options), timeoutMs, target);
  if (session === null) return null;
  return openStream(ws, session, target, headers, options, given === null, Math.max(0, deadline - Date.now()));
}

function authorityOf(target: Http2Target): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return target.explicitPort === undefined ? host : `${host}:${target.explicitPort}`;
}

/** A session the application gave: usable once its server's SETTINGS have come (waited for while connecting). */
async function settled(session: ClientHttp2Session, timeoutMs: number): Promise<ClientHttp2Session | null> {
  if (session.destroyed || session.closed) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'The http2 session is closed');
  if (session.connecting) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      session.once('remoteSettings', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  return session.remoteSettings.enableConnectProtocol === true ? session : null;
}

/** Our session to the target's origin: reused while open; a new one waits for the server's SETTINGS. */
function sharedSession(target: Http2Target, options: Http2ConnectOptions): Promise<ClientHttp2Session | null> {
  const key = `${target.host}|${target.port}`;
  const existing = sessions.get(key);
  if (existing !== undefined) return existing;
  const pending = new Promise<ClientHttp2Session | null>((resolve) => {
    const servername = /^[\d.]+$/.test(target.host) || target.host.includes(':') ? undefined : target.host;
    const session = http2Connect(`https://${authorityOf(target)}`, { servername, ...options.tls, host: target.host, port: target.port });
    const forget = (): void => {
      if (sessions.get(key) === pending) sessions.delete(key);
    };
    session.on('error', () => {
      forget();
      resolve(null); // no HTTP/2 there (or no server): HTTP/1.1 decides, and reports the error if there is one
    });
    session.once('close', () => {
      forget();
      resolve(null);
    });
    session.once('goaway', forget);
    session.once('remoteSettings', (settings) => {
      if (settings.enableConnectProtocol === true) {
        session.unref(); // ref'd again while WebSockets use it
        resolve(session);
      } else {
        forget();
        session.close();
        resolve(null);
      }
    });
  });
  sessions.set(key, pending);
  return pending;
}

function withTimeout<T>(promise: Promise<T>, ms: number, target: Http2Target): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new WireroomError('WS_ERR_HANDSHAKE_TIMEOUT', `Handshake with ${target.href} timed out`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function openStream(
  ws: WebSocket, session: ClientHttp2Session, target: Http2Target, extra: Record<string, string>, options: Http2ConnectOptions, shared: boolean, timeoutMs: number,
): Promise<WebSocket | Http2Redirect> {
  const deflateOptions = options.perMessageDeflate === true ? {} : options.perMessageDeflate || null;
  const protocols = options.protocols ? [...options.protocols] : [];
  for (const protocol of protocols) {
    if (!isToken(protocol) || protocols.indexOf(protocol) !== protocols.lastIndexOf(protocol)) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid or repeated subprotocol: ${JSON.stringify(protocol)}`);
    }
  }
  const request: Record<string, string> = {};
  for (const name of Object.keys(extra)) {
    const lower = name.toLowerCase();
    if (RESERVED.has(lower) || lower.startsWith(':')) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Header ${name} is set by the handshake or not allowed in HTTP/2`);
    request[lower] = extra[name]!;
  }
  Object.assign(request, {
    ':method': 'CONNECT', ':protocol': WEBSOCKET_PROTOCOL, ':scheme': target.secure ? 'https' : 'http',
    ':path': target.path, ':authority': authorityOf(target), 'sec-websocket-version': '13',
  });
  if (protocols.length > 0) request['sec-websocket-protocol'] = protocols.join(', ');
  if (deflateOptions) request['sec-websocket-extensions'] = buildDeflateOffer(deflateOptions);
  if (options.origin !== undefined) request['origin'] = options.origin;

  return new Promise((resolve, reject) => {
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(request, { endStream: false });
    } catch (error) {
      reject(error instanceof Error && !(error instanceof WireroomError) ? new WireroomError(ErrorCodes.INVALID_ARGUMENT, error.message) : error);
      return;
    }
    let done = false;
    const finish = (error: Error | null, value?: WebSocket | Http2Redirect): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.removeListener('close', onClose);
      if (error) {
        // A refusal's body is not read: dump it, or the stream would never end and hold its session open.
        stream.resume();
        if (!stream.closed) stream.close(http2Constants.NGHTTP2_CANCEL);
        reject(error);
      } else resolve(value!);
    };
    const timer = setTimeout(() => finish(new WireroomError('WS_ERR_HANDSHAKE_TIMEOUT', `Handshake with ${target.href} timed out`)), timeoutMs);
    const onClose = (): void => finish(new HandshakeError(ErrorCodes.HANDSHAKE_INVALID_RESPONSE, 0, 'Stream closed during the handshake'));
    stream.on('error', () => {}); // the 'close' that follows settles the handshake; after it, the WebSocket listens
    stream.on('close', onClose);
    stream.once('response', (headers: IncomingHttpHeaders) => {
      const status = Number(headers[':status']);
      const location = headers.location;
      if (status >= 300 && status < 400 && typeof location === 'string') {
        if (options.followRedirects) return finish(null, { status, location });
        return finish(new HandshakeError(ErrorCodes.HANDSHAKE_INVALID_RESPONSE, status, `Unexpected redirect (${status}) to ${location}; set followRedirects to follow it`));
      }
      const validated = validateExtendedConnectResponse(status, fieldsOf(headers), {
        protocols, offeredExtensions: deflateOptions ? [PERMESSAGE_DEFLATE] : [],
      });
      if (validated instanceof HandshakeError) return finish(validated);
      let deflate: PerMessageDeflate | null = null;
      const offer = validated.extensions[0];
      if (offer !== undefined && deflateOptions) {
        const params = validateDeflateResponse(offer, deflateOptions);
        if (params instanceof HandshakeError) return finish(params);
        deflate = new PerMessageDeflate('client', params, deflateOptions);
      }
      ws.url = target.href;
      finish(null, ws);
      ws._attach(stream, { role: 'client', protocol: validated.protocol, extensions: deflate ? validated.extensionsHeader : '', deflate, connection: resolveConnectionOptions(options) });
      if (shared) holdSession(session, ws);
      startClientHeartbeat(ws, options);
      setImmediate(() => ws._startReading(EMPTY)); // after the caller's `await connect()` has added listeners
    });
  });
}

const EMPTY = Buffer.alloc(0);

/** Keeps our shared session ref'd while `ws` is open (an idle session must not hold the process). */
function holdSession(session: ClientHttp2Session, ws: WebSocket): void {
  const count = (users.get(session) ?? 0) + 1;
  users.set(session, count);
  if (count === 1) session.ref();
  ws.once('close', () => {
    const left = (users.get(session) ?? 1) - 1;
    users.set(session, left);
    if (left === 0 && !session.destroyed) session.unref();
  });
}

/** node:http2's response headers as `[name, value]` fields (repeated fields arrive as arrays). */
function fieldsOf(headers: IncomingHttpHeaders): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (Array.isArray(value)) for (const v of value) out.push([name, v]);
    else if (value !== undefined) out.push([name, String(value)]);
  }
  return out;
}

/** Closes the sessions `http2: true` opened (tests, graceful exits): open WebSockets on them are reset. */
export async function closeHttp2Sessions(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  for (const pending of all) {
    const session = await pending.catch(() => null);
    session?.destroy();
  }
}
