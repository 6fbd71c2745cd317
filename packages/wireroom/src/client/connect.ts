/**
 * The client: `connect(url)` opens a ws:// or wss:// connection and resolves with an open WebSocket.
 * The handshake is the core's (request built, response parsed and validated by src/protocol/handshake);
 * this module only does the I/O: TCP or TLS, a time limit, and optional redirects.
 */
import type { DeflateCodecOptions } from '../compression/permessage-deflate.js';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { ErrorCodes, HandshakeError, WireroomError } from '../protocol/errors.js';
import { CloseCode } from '../protocol/constants.js';
import { buildClientRequest, generateKey, HttpHeadParser, validateServerResponse, type ResponseHead } from '../protocol/handshake/index.js';
import {
  buildDeflateOffer, validateDeflateResponse, PERMESSAGE_DEFLATE, resolveDeflateOptions, type DeflateOptions,
} from '../protocol/extensions/permessage-deflate-negotiation.js';
import { normalizeDeflateOptions, PerMessageDeflate } from '../compression/permessage-deflate.js';
import { resolveConnectionOptions, WebSocket, type ConnectionOptions } from '../connection/websocket.js';
import { startClientHeartbeat } from '../connection/heartbeat.js';
import type { ClientHttp2Session } from 'node:http2';
import { connectHttp2 } from './http2-connect.js';
import { ClientHandshakeRequest, ClientHandshakeResponse } from './handshake-messages.js';

export interface ConnectOptions extends ConnectionOptions {
  /** Subprotocols to offer, in preference order. */
  protocols?: readonly string[];
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** The Origin header to send (browsers always send one; Node clients only when asked). */
  origin?: string;
  /** Time limit for TCP + TLS + handshake, in ms. Default 10,000. */
  handshakeTimeout?: number;
  /** Offer permessage-deflate: false (default), true, or options. */
  perMessageDeflate?: boolean | DeflateCodecOptions;
  /** TLS options for wss:// (ca, rejectUnauthorized, servername, ...). */
  tls?: TlsConnectionOptions;
  /** Follow 3xx redirects (default false). Credentials are never carried to another origin. */
  followRedirects?: boolean;
  /** Most redirects to follow. Default 5. */
  maxRedirects?: number;
  /**
   * Ping the server this often (ms) and measure `latency` on the pongs; 0 disables (default, as in ws).
   * A server that does not answer within `heartbeatTimeout` is taken for dead: close 1011, then 'close'.
   */
  heartbeatInterval?: number;
  /** How long a heartbeat ping may wait for its pong (ms). Default 20,000. */
  heartbeatTimeout?: number;
  /**
   * Open the WebSocket as a stream of an HTTP/2 session (RFC 8441), as a browser does on an HTTP/2 page.
   * `true` (wss:// only): one session per origin, shared by every WebSocket opened this way and reused while
   * open; falls back to HTTP/1.1 when the server does not speak HTTP/2 or does not advertise
   * SETTINGS_ENABLE_CONNECT_PROTOCOL. A `ClientHttp2Session` (from `http2.connect()`, h2c too): use that one
   * (pass it once its 'remoteSettings' event has come; without the setting, HTTP/1.1 is used). Default false.
   */
  http2?: boolean | ClientHttp2Session;
}

/** Headers that carry credentials: dropped when a redirect leaves the original origin. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/**
 * Connects to a WebSocket server. Resolves with an open connection; rejects with a WireroomError
 * (`WS_ERR_HANDSHAKE_INVALID_RESPONSE` for a refused or invalid handshake, with `status` set; `WS_ERR_INVALID_ARGUMENT`
 * for a bad URL or options; the socket error for network failures; `WS_ERR_HANDSHAKE_TIMEOUT` on timeout).
 */
export async function connect(url: string | URL, options: ConnectOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket();
  await openClient(ws, url, options);
  return ws;
}

/**
 * @internal Connects `ws` (made without an address): `connect()`, and `new WebSocket(address)` through the
 * ws-compatible layer. A bad URL throws at once; the promise settles as `connect()`'s. `ws.close()` or
 * `terminate()` while it runs destroys the socket and rejects.
 */
export function openClient(ws: WebSocket, url: string | URL, options: ConnectOptions): Promise<void> {
  const target = parseUrl(url);
  const deflate = normalizeDeflateOptions(options.perMessageDeflate); // bad options throw here, not per attempt
  if (deflate !== null) resolveDeflateOptions(deflate);
  ws.url = target.href;
  return follow(ws, target, options);
}

async function follow(ws: WebSocket, first: Target, options: ConnectOptions): Promise<void> {
  let target = first;
  let headers = { ...(options.headers ?? {}) };
  const maxRedirects = options.followRedirects ? options.maxRedirects ?? 5 : 0;
  for (let redirects = 0; ; redirects++) {
    // HTTP/2 first when asked (null: no session, or no RFC 8441 on it: fall back to HTTP/1.1).
    const viaHttp2 = options.http2 ? await connectHttp2(ws, target, headers, options) : null;
    const outcome = viaHttp2 === null ? await attempt(ws, target, headers, options) : viaHttp2 === ws ? null : (viaHttp2 as Redirect);
    if (outcome === null) return;
    if (redirects >= maxRedirects) {
      throw new HandshakeError(ErrorCodes.HANDSHAKE_INVALID_RESPONSE, outcome.status, `Unexpected redirect (${outcome.status}) to ${outcome.location}; set followRedirects to follow it`);
    }
    const next = parseUrl(new URL(outcome.location, target.href.replace(/^ws/, 'http')));
    if (ws.listenerCount('redirect') > 0) {
      // ws's 'redirect' (url, request): the application sees the next request and decides about its headers
      // (credentials are not dropped for it, as in ws).
      let destroyedWith: Error | undefined;
      let destroyed = false;
      const request = new ClientHandshakeRequest(next, headers, false, (error) => {
        destroyed = true;
        destroyedWith = error;
      });
      ws.url = next.href;
      ws.emit('redirect', next.href, request);
      if (ws.readyState !== WebSocket.CONNECTING) throw new WireroomError(ErrorCodes.INVALID_STATE, 'WebSocket was closed before the connection was established');
      if (destroyed) throw destroyedWith ?? new WireroomError(ErrorCodes.INVALID_STATE, 'The redirected request was aborted');
      headers = request._headers();
    } else if (next.origin !== target.origin) {
      headers = Object.fromEntries(Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.includes(name.toLowerCase())));
    }
    target = next;
  }
}

interface Target {
  secure: boolean;
  host: string;
  port: number;
  path: string;
  origin: string;
  href: string;
  /** The port written in the URL (left out of the Host header when the URL has none). */
  explicitPort: number | undefined;
}

function parseUrl(input: string | URL): Target {
  let url: URL;
  try {
    url = input instanceof URL ? input : new URL(input);
  } catch {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid URL: ${String(input)}`);
  }
  const protocol = url.protocol === 'http:' ? 'ws:' : url.protocol === 'https:' ? 'wss:' : url.protocol;
  if (protocol !== 'ws:' && protocol !== 'wss:') throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `URL scheme must be ws: or wss:, got ${url.protocol}`);
  if (url.hash) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'A WebSocket URL must not have a fragment');
  const secure = protocol === 'wss:';
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return {
    secure, host, port,
    path: (url.pathname || '/') + url.search,
    origin: `${protocol}//${url.host}`,
    href: `${protocol}//${url.host}${url.pathname}${url.search}`,
    explicitPort: url.port ? Number(url.port) : undefined,
  };
}

interface Redirect {
  status: number;
  location: string;
}

/** One HTTP exchange: attaches `ws` and resolves null, or resolves with the redirect to follow. */
function attempt(ws: WebSocket, target: Target, headers: Record<string, string>, options: ConnectOptions): Promise<Redirect | null> {
  const key = generateKey();
  const deflateOptions = normalizeDeflateOptions(options.perMessageDeflate);
  const request = buildClientRequest({
    // The builder brackets IPv6 literals and appends the port itself: passing url.host here gave `Host: [127.0.0.1:80]`.
    host: target.host,
    port: target.explicitPort,
    path: target.path,
    key,
    protocols: options.protocols ? [...options.protocols] : undefined,
    extensions: deflateOptions ? buildDeflateOffer(deflateOptions) : undefined,
    origin: options.origin,
    headers,
  });

  return new Promise((resolve, reject) => {
    const socket: Socket = target.secure
      ? tlsConnect({ host: target.host, port: target.port, servername: isIp(target.host) ? undefined : target.host, ALPNProtocols: ['http/1.1'], ...options.tls })
      : netConnect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    const parser = new HttpHeadParser('response');
    let settled = false;
    const finish = (error: Error | null, value?: Redirect | null): void => {
      if (settled) return;
      settled = true;
      ws._abortConnect = null;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      if (error) {
        socket.destroy();
        reject(error);
      } else resolve(value ?? null);
    };
    ws._abortConnect = () => finish(new WireroomError(ErrorCodes.INVALID_STATE, 'WebSocket was closed before the connection was established'));
    const timer = setTimeout(() => {
      finish(new WireroomError('WS_ERR_HANDSHAKE_TIMEOUT', `Handshake with ${target.href} timed out`));
    }, options.handshakeTimeout ?? 10_000);
    const onError = (error: Error): void => finish(error);
    const onClose = (): void => finish(new HandshakeError(ErrorCodes.HANDSHAKE_INVALID_RESPONSE, 0, 'Connection closed during the handshake'));
    const onData = (chunk: Buffer): void => {
      const result = parser.push(chunk);
      if (result.state === 'incomplete') return;
      if (result.state === 'error') return finish(result.error);
      const head = result.head as ResponseHead;
      if (head.status >= 300 && head.status < 400 && head.get('location') && options.followRedirects) {
        socket.destroy();
        return finish(null, { status: head.status, location: head.get('location')! });
      }
      if (head.status !== 101 && ws.listenerCount('unexpected-response') > 0) return handOver(head, result.rest);
      if (head.status === 101 && ws.listenerCount('upgrade') > 0) {
        ws.emit('upgrade', new ClientHandshakeResponse(head)._endNow());
        if (settled) return; // closed or terminated by a listener
      }
      const validated = validateServerResponse(head, {
        key,
        protocols: options.protocols ? [...options.protocols] : [],
        offeredExtensions: deflateOptions ? [PERMESSAGE_DEFLATE] : [],
      });
      if (validated instanceof HandshakeError) {
        if (head.status >= 300 && head.status < 400 && head.get('location')) {
          return finish(new HandshakeError(ErrorCodes.HANDSHAKE_INVALID_RESPONSE, head.status, `Unexpected redirect (${head.status}) to ${head.get('location')}; set followRedirects to follow it`));
        }
        return finish(validated);
      }
      let deflate: PerMessageDeflate | null = null;
      let extensions = '';
      const offer = validated.extensions[0];
      if (offer !== undefined && deflateOptions) {
        const params = validateDeflateResponse(offer, deflateOptions);
        if (params instanceof HandshakeError) return finish(params);
        deflate = new PerMessageDeflate('client', params, deflateOptions);
        extensions = head.get('sec-websocket-extensions') ?? '';
      }
      ws.url = target.href;
      socket.pause();
      finish(null, null);
      ws._attach(socket, { role: 'client', protocol: validated.protocol, extensions, deflate, connection: resolveConnectionOptions(options) });
      startClientHeartbeat(ws, options);
      const rest = result.rest;
      setImmediate(() => ws._startReading(rest)); // after the caller's `await connect()` has added listeners
    };
    /**
     * ws's 'unexpected-response' (request, response), emitted only when listened to: no error is raised, the
     * application reads the response and ends the attempt (terminate(), close(), request.destroy()). When the
     * server closes the connection first, 'close' (1006) follows without an 'error'. The handshake time limit
     * still applies.
     */
    const handOver = (head: ResponseHead, rest: Buffer): void => {
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      const response = new ClientHandshakeResponse(head);
      const request = new ClientHandshakeRequest(target, headers, true, (error) => {
        if (error !== undefined) finish(error);
        else socket.destroy();
      });
      socket.on('data', (chunk: Buffer) => response._onData(chunk));
      socket.on('end', () => response._onEnd());
      socket.on('close', () => {
        response._onEnd();
        if (!settled) ws._abortConnecting(CloseCode.ABNORMAL, '');
      });
      response._readBody(socket, rest);
      ws.emit('unexpected-response', request, response);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once(target.secure ? 'secureConnect' : 'connect', () => socket.write(request));
  });
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
