/**
 * WebSocketServer: accepts handshakes and turns upgraded sockets into WebSocket connections.
 *
 * Three ways to run it:
 * - standalone (`port`): a plain `net.Server` (or `tls.Server` with `tls`) whose handshakes are parsed by the
 *   protocol core's own HTTP head parser: no `node:http` on the path, limits enforced as bytes arrive;
 * - attached (`server`): listens to an existing `http.Server` / `https.Server`'s 'upgrade' event, and for an
 *   `http2.createSecureServer()` (or `createServer()`) also to its 'stream' event: WebSockets over HTTP/2
 *   (RFC 8441 extended CONNECT), next to HTTP/1.1 upgrades when the server has `allowHTTP1`;
 * - `noServer`: the application calls `handleUpgrade()` itself.
 *
 * Standalone over TLS with `http2: true`, one port serves both: ALPN `h2` connections become HTTP/2 sessions
 * (node:http2) whose extended CONNECT streams are WebSockets; ALPN `http/1.1` (or none) connections take the
 * HTTP/1.1 path above, parsed by the core.
 */
import type { DeflateCodecOptions } from '../compression/permessage-deflate.js';
import { EventEmitter } from 'node:events';
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import {
  constants as http2Constants, createServer as createHttp2Server, type Http2Server, type Http2SecureServer,
  type Http2Session, type IncomingHttpHeaders as Http2IncomingHeaders, type ServerHttp2Stream, type ServerOptions as Http2ServerOptions,
} from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { CloseCode } from '../protocol/constants.js';
import { ErrorCodes, HandshakeError, WireroomError } from '../protocol/errors.js';
import {
  acceptResponseHead, buildErrorResponse, HttpHeadParser, resolveHeadLimits, validateUpgradeRequest,
  type HeadLimits, type RequestHead,
} from '../protocol/handshake/index.js';
import {
  extendedConnectAcceptHeaders, extendedConnectErrorResponse, http2RequestHead, validateExtendedConnect,
} from '../protocol/handshake/extended-connect.js';
import { isHttp2Stream } from '../connection/transport.js';
import { ParsedRequestHead } from '../protocol/handshake/http-head.js';
import { negotiateDeflateOffers, resolveDeflateOptions, type DeflateOptions } from '../protocol/extensions/permessage-deflate-negotiation.js';
import { normalizeDeflateOptions, PerMessageDeflate } from '../compression/permessage-deflate.js';
import { resolveConnectionOptions, WebSocket, type ConnectionOptions, type ResolvedConnectionOptions } from '../connection/websocket.js';
import { deliverPrepared, prepareMessage } from '../connection/fanout.js';
import { isOriginAllowed, type HandshakeRequest, type OriginPolicy } from './origin.js';
import { createHostCheck, HOST_REFUSED, type HostCheck, type HostPolicy } from './host.js';
import { ConnectionSweeper } from '../connection/heartbeat.js';
import { HandshakeDeadlines, type PendingHandshake } from './handshake-deadlines.js';
import { isRefusal, isRefusalStatus, type IdentifyHook, type Refusal } from './identity/refusal.js';

export type { HandshakeRequest, OriginPolicy } from './origin.js';
export type { HostPolicy } from './host.js';

/** An authentication decision: `true` accepts; otherwise the HTTP status (and reason) to refuse with. */
export type AuthResult = true | { status: number; reason?: string; headers?: Record<string, string> };

export interface ServerOptions extends ConnectionOptions {
  /** Listen on this port (standalone). */
  port?: number;
  /** Host to bind (standalone). Default: every interface, as with node:net. */
  host?: string;
  backlog?: number;
  /** Standalone over TLS (wss://): key, cert, ... as for `tls.createServer`. */
  tls?: TlsOptions;
  /**
   * Attach to an existing server: an `http.Server` / `https.Server` ('upgrade' event), or a `node:http2` server
   * (`createSecureServer`, `createServer`): its 'stream' event then brings WebSockets over HTTP/2 (RFC 8441), and
   * its 'upgrade' event HTTP/1.1 ones when it was created with `allowHTTP1: true`. Attaching turns on
   * `enableConnectProtocol` in the settings of the sessions it opens from then on. The server's 'request'
   * handlers keep every other request; its other 'stream' listeners should leave CONNECT streams alone.
   */
  server?: HttpServer | HttpsServer | Http2SecureServer | Http2Server;
  /**
   * Standalone over TLS (`tls` required): also serve HTTP/2 on the same port (ALPN `h2`, next to `http/1.1`), so
   * a browser on an HTTP/2 page opens its WebSockets as streams of that page's connection (RFC 8441). `true`, or
   * node:http2 server options for the sessions: `settings` (e.g. `maxConcurrentStreams`, default 100 here;
   * `initialWindowSize`, the per-stream flow-control window, default 65,535), `maxSessionMemory` (MB, default
   * 10), ... `enableConnectProtocol` is always on. Default false.
   */
  http2?: boolean | Omit<Http2ServerOptions, 'allowHTTP1'>;
  /** Neither listen nor attach: call `handleUpgrade()` yourself. */
  noServer?: boolean;
  /** Accept only this path (query string ignored); other paths get 404. Default: every path. */
  path?: string;
  /** Which browser origins may connect. Default 'same-origin' (the Origin's host must equal Host). */
  allowOrigin?: OriginPolicy;
  /**
   * Which Host names the server answers to (DNS rebinding protection); others get 421. Default 'auto': IP
   * literals, `localhost` forms on loopback, the `host` option's name. A list adds names (`.example.com`: a
   * domain and its subdomains); '*' turns the check off. See docs/security.md.
   */
  allowedHosts?: HostPolicy;
  /**
   * Decide whether to accept a handshake (may be async). Runs after the protocol and origin checks. An async
   * hook has `handshakeTimeout` to settle, then the client gets 503 'Authentication timed out'.
   */
  authenticate?: (request: HandshakeRequest) => AuthResult | Promise<AuthResult>;
  /**
   * Decides who is connecting; the answer becomes `ws.identity`. Runs after the protocol, Host and Origin checks
   * and after `authenticate` / `verifyClient`, under the same `handshakeTimeout` (then 503 'Identification timed
   * out'). Return the identity (anything but a Refusal, `undefined` included) to accept, or `refuse(status,
   * reason?, headers?)` to answer the upgrade with a 4xx/5xx status (emitted as 'rejected'). A hook that throws or
   * rejects gets 500 'Identification failed' and its error is emitted as 'error' (when there are listeners).
   * Helpers: `SessionCookie#identify()`, `trustedHeaderIdentity()`. See docs/identity.md.
   */
  identify?: IdentifyHook;
  /** Subprotocols this server speaks, in preference order; the first one the client offered is selected. */
  protocols?: readonly string[];
  /**
   * Custom subprotocol selection (overrides `protocols`), with ws's signature: return one of `offered` (a Set, in
   * the client's order), or false for none. Called only when the client offered subprotocols, as in ws.
   */
  handleProtocols?: (offered: Set<string>, request: HandshakeRequest) => string | false;
  /**
   * ws's hook, an alternative to `authenticate`: `verifyClient(info)` returning a boolean, or
   * `verifyClient(info, done)` calling `done(result, code?, message?, headers?)`. Refusals default to 401.
   * Runs where `authenticate` does (after the protocol, Host and Origin checks), under `handshakeTimeout`.
   */
  verifyClient?: VerifyClient;
  /**
   * Keep the set of open connections in `clients` (default true). With false, `clients` is undefined, as in
   * ws; the server still counts connections for `maxConnections` and closes them in `close()`.
   */
  clientTracking?: boolean;
  /** ws's name for `maxMessageSize` (bytes). ws defaults to 100 MiB, we to 1 MiB. */
  maxPayload?: number;
  /** permessage-deflate: false (default), true (defaults) or options (negotiation, level, memLevel, threshold, hibernateAfterMs, maxLiveContexts). */
  perMessageDeflate?: boolean | DeflateCodecOptions;
  /** Most open connections plus handshakes in progress; more get 503. Default 10,000. */
  maxConnections?: number;
  /**
   * Bound of every asynchronous step of a handshake, in ms. Default 10,000.
   * - Standalone: the time from TCP accept to a complete request head (slowloris): 408. One sweep every
   *   eighth of it (10 ms to 1 s) cuts off the late ones, so a handshake is cut off up to that much later.
   * - Every mode: the time asynchronous `authenticate` and `identify` hooks may take together. A hook that has
   *   not settled by then is answered 503 'Authentication timed out' (or 'Identification timed out'), emitted
   *   as 'rejected'; the socket is closed and its `maxConnections` slot released; a late answer is ignored.
   * - Standalone over TLS: node:tls's TLS handshake timeout.
   */
  handshakeTimeout?: number;
  /**
   * Handshake head limits (standalone; an attached server's own HTTP parser applies its limits). Checked when
   * the server is created, in every mode: an invalid value throws WireroomError(WS_ERR_INVALID_ARGUMENT).
   */
  headLimits?: Partial<HeadLimits>;
  /** Ping every connection this often (ms); 0 disables. Default 20,000. */
  heartbeatInterval?: number;
  /** Close (1011) a connection whose pong has not arrived this long after the ping (ms). Default 20,000. */
  heartbeatTimeout?: number;
  /** Close (1000) a connection that sent no message for this long (ms); 0 disables (default). */
  idleTimeout?: number;
}

/** What ws's `verifyClient` receives. */
export interface VerifyClientInfo {
  origin: string | undefined;
  secure: boolean;
  req: HandshakeRequest;
}

export type VerifyClient =
  | ((info: VerifyClientInfo) => boolean)
  | ((info: VerifyClientInfo, done: (result: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) => void);

export const SERVER_DEFAULTS = {
  maxConnections: 10_000,
  handshakeTimeout: 10_000,
  heartbeatInterval: 20_000,
  heartbeatTimeout: 20_000,
  idleTimeout: 0,
};

export interface ShutdownOptions {
  /** Close code sent to open connections: 1001 (going away, default) or 1012 (service restart). */
  code?: 1001 | 1012;
  reason?: string;
  /** How long to wait for closing handshakes before destroying what remains (ms). Default 10,000. */
  timeout?: number;
  /** Do not close connections: stop accepting and wait for them to end by themselves (up to `timeout`). */
  drain?: boolean;
}

/**
 * A WebSocket server. Events: 'listening', 'connection' (ws, request), 'rejected' (status, reason, request),
 * 'error' (only listener-less errors of the listening socket are rethrown, as node:net does), 'close'; and ws's
 * 'headers' (lines, request: the 101 response's lines, which listeners may change; HTTP/1.1 only) and
 * 'wsClientError' (error: HandshakeError, socket, request: a malformed upgrade request; with a listener the
 * application answers on the socket, without one the server answers with `error.status`).
 */
export class WebSocketServer extends EventEmitter {
  /** Open connections (undefined with `clientTracking: false`, as in ws). */
  get clients(): Set<WebSocket> {
    return this.tracking ? this.tracked : (undefined as unknown as Set<WebSocket>);
  }
  private readonly tracked: Set<WebSocket> = new Set();
  private readonly tracking: boolean;
  private readonly authenticate: ((request: HandshakeRequest) => AuthResult | Promise<AuthResult>) | undefined;
  private readonly identify: IdentifyHook | undefined;
  /** Counters for metrics: `sharedCompressions` counts broadcasts compressed once for many recipients. */
  readonly stats = { sharedCompressions: 0 };
  private readonly options: ServerOptions;
  private readonly hostAllowed: HostCheck;
  private readonly limits: typeof SERVER_DEFAULTS;
  private readonly deflateOptions: DeflateOptions | null;
  /** Connection options resolved once and shared by every connection of this server. */
  private readonly connection: ResolvedConnectionOptions;
  private readonly listener: NetServer | null = null;
  private readonly attached: HttpServer | HttpsServer | Http2SecureServer | Http2Server | null = null;
  /** The node:http2 server whose 'stream' events we take (attached, or ours in standalone `http2` mode). */
  private readonly http2: Http2Server | Http2SecureServer | null = null;
  /** Standalone `http2`: the sessions of our HTTP/2 server, closed (GOAWAY) at shutdown. */
  private readonly http2Sessions: Set<Http2Session> = new Set();
  private readonly sweeper: ConnectionSweeper;
  /** Handshakes counted against maxConnections: requests still arriving, being checked or authenticated. */
  private pendingHandshakes = 0;
  /** Standalone: limits of the request head, resolved (and checked) once. */
  private readonly headLimits: Readonly<HeadLimits>;
  /** Standalone: the handshake timeout of every socket whose request is still arriving. */
  private readonly deadlines: HandshakeDeadlines;
  /** Every connection's `_onClosed`: one function per server rather than a 'close' listener per connection. */
  private readonly forgetClient = (ws: WebSocket): void => {
    this.tracked.delete(ws);
  };
  private closing = false;
  private closed: Promise<void> | null = null;

  constructor(options: ServerOptions = {}, onListening?: () => void) {
    super();
    if (options.maxPayload !== undefined) {
      if (options.maxMessageSize !== undefined) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'Give maxPayload (ws) or maxMessageSize, not both');
      options = { ...options, maxMessageSize: options.maxPayload };
    }
    if (options.verifyClient !== undefined && options.authenticate !== undefined) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'Give verifyClient (ws) or authenticate, not both');
    }
    this.options = options;
    this.tracking = options.clientTracking !== false;
    this.authenticate = options.verifyClient !== undefined ? fromVerifyClient(options.verifyClient) : options.authenticate;
    if (options.identify !== undefined && typeof options.identify !== 'function') throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'identify must be a function');
    this.identify = options.identify;
    this.hostAllowed = createHostCheck(options.allowedHosts, options.host !== undefined ? [options.host] : []);
    this.limits = {
      maxConnections: options.maxConnections ?? SERVER_DEFAULTS.maxConnections,
      handshakeTimeout: options.handshakeTimeout ?? SERVER_DEFAULTS.handshakeTimeout,
      heartbeatInterval: options.heartbeatInterval ?? SERVER_DEFAULTS.heartbeatInterval,
      heartbeatTimeout: options.heartbeatTimeout ?? SERVER_DEFAULTS.heartbeatTimeout,
      idleTimeout: options.idleTimeout ?? SERVER_DEFAULTS.idleTimeout,
    };
    this.connection = resolveConnectionOptions(options);
    this.deflateOptions = normalizeDeflateOptions(options.perMessageDeflate);
    if (this.deflateOptions) resolveDeflateOptions(this.deflateOptions); // throws on bad options, here rather than per connection
    this.sweeper = new ConnectionSweeper(this.tracked, this.limits);
    this.headLimits = resolveHeadLimits(options.headLimits ?? {}); // throws on bad limits, here rather than per connection
    this.deadlines = new HandshakeDeadlines(this, this.limits.handshakeTimeout, this.onHandshakeTimeout);

    if (options.http2 && (!options.tls || options.server || options.noServer)) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'The http2 option is for a standalone server over TLS (with tls); to attach, pass an http2 server as server');
    }
    if (options.server) {
      this.attached = options.server;
      options.server.on('upgrade', this.onHttpUpgrade);
      if (isHttp2Server(options.server)) {
        this.http2 = options.server;
        this.http2.updateSettings({ enableConnectProtocol: true });
        this.http2.on('stream', this.onHttp2Stream);
        // With a 'request' listener, node:http2's compatibility layer answers every CONNECT stream 405 unless a
        // 'connect' listener takes it: ours leaves the stream to onHttp2Stream.
        this.http2.on('connect', this.onHttp2Connect);
      }
    } else if (!options.noServer) {
      let onConnection = (socket: Socket): void => this.acceptRawSocket(socket);
      let alpn: { ALPNProtocols: string[] } | null = null;
      if (options.http2) {
        const h2options: Http2ServerOptions = options.http2 === true ? {} : options.http2;
        const h2 = createHttp2Server({ ...h2options, settings: { maxConcurrentStreams: 100, ...h2options.settings, enableConnectProtocol: true } });
        this.http2 = h2;
        h2.on('stream', this.onHttp2Stream);
        h2.on('session', (session: Http2Session) => {
          this.http2Sessions.add(session);
          session.once('close', () => this.http2Sessions.delete(session));
          if (this.closing) session.close();
        });
        // The TLS socket's ALPN choice decides: h2 to the HTTP/2 server, anything else to our HTTP/1.1 path.
        onConnection = (socket: Socket): void => {
          if ((socket as TLSSocket).alpnProtocol === 'h2') h2.emit('connection', socket);
          else this.acceptRawSocket(socket);
        };
        alpn = { ALPNProtocols: ['h2', 'http/1.1'] };
      }
      // The TLS handshake comes before ours and is bounded by node:tls's own timer (120 s by default): give it ours.
      const tlsOptions = options.tls ? { noDelay: true, handshakeTimeout: this.limits.handshakeTimeout, ...alpn, ...options.tls } : null;
      this.listener = tlsOptions ? createTlsServer(tlsOptions, onConnection) : createNetServer({ noDelay: true }, onConnection);
      // node:tls reports a failed or timed-out TLS handshake but leaves the socket open.
      if (tlsOptions) this.listener.on('tlsClientError', (_error: Error, socket: Duplex) => socket.destroy());
      this.listener.on('error', (error) => {
        if (this.listenerCount('error') > 0) this.emit('error', error);
        else throw error;
      });
      this.listener.listen({ port: options.port ?? 0, host: options.host, backlog: options.backlog ?? 511 }, () => {
        this.emit('listening');
        onListening?.();
      });
    }
  }

  /** The listening address (standalone or attached). */
  address(): AddressInfo | null {
    const address = (this.listener ?? this.attached)?.address();
    return address && typeof address === 'object' ? address : null;
  }

  // ------------------------------------------------------------------------------------------- handshakes

  private readonly onHttpUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this._handleUpgrade(request, socket, head, this.emitConnection, this.identify);
  };

  /**
   * Completes (or refuses) a WebSocket handshake for an upgrade request received by an HTTP server.
   * `callback` receives the open connection; refusals are answered on the socket and emitted as 'rejected'.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, callback: (ws: WebSocket, request: IncomingMessage) => void): void {
    this._handleUpgrade(request, socket, head, callback as ConnectionCallback, this.identify);
  }

  /** @internal `handleUpgrade()` with the identify hook of the caller's choosing (App: the route's). */
  _handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, callback: ConnectionCallback, identify: IdentifyHook | undefined): void {
    socket.on('error', swallow); // a reset during the handshake must not become an uncaught error
    socket.pause(); // frames that follow are read once the connection is set up
    const requestHead = headFromIncoming(request);
    this.pendingHandshakes++;
    this.handshake(requestHead, request, socket, head, callback, identify);
  }

  /** A stream of an HTTP/2 session: an extended CONNECT (RFC 8441) is a WebSocket handshake. */
  private readonly onHttp2Stream = (stream: ServerHttp2Stream, headers: Http2IncomingHeaders, _flags: number, rawHeaders?: string[]): void => {
    // Attached, the application serves every other request; standalone, everything gets our answer (405).
    if (this.attached !== null && headers[':method'] !== 'CONNECT') return;
    this._handleHttp2Stream(stream, headers, rawHeaders, this.emitConnection, this.identify);
  };

  /** node:http2's compatibility layer: a CONNECT request (see the constructor). HTTP/1.1 CONNECTs are not ours. */
  private readonly onHttp2Connect = (request: IncomingMessage, socketOrResponse: { destroy?: () => void }): void => {
    if (request.httpVersionMajor !== 2 && this.http2 !== null && this.http2.listenerCount('connect') === 1) socketOrResponse.destroy?.();
  };

  /**
   * Completes (or refuses) a WebSocket handshake arriving as an HTTP/2 stream (an extended CONNECT, RFC 8441),
   * for servers that take their 'stream' events themselves (`noServer`). Same checks as `handleUpgrade()`;
   * accepted: `:status 200`, then the stream carries the WebSocket; refused: the HTTP status with a text body.
   * `rawHeaders` (the fourth argument of the 'stream' event) lets repeated fields be seen; without it, `headers`.
   */
  handleHttp2Stream(stream: ServerHttp2Stream, headers: Http2IncomingHeaders, rawHeaders: string[] | undefined, callback: (ws: WebSocket, request: HandshakeRequest) => void): void {
    this._handleHttp2Stream(stream, headers, rawHeaders, callback, this.identify);
  }

  /** @internal `handleHttp2Stream()` with the identify hook of the caller's choosing (App: the route's). */
  _handleHttp2Stream(stream: ServerHttp2Stream, headers: Http2IncomingHeaders, rawHeaders: string[] | undefined, callback: ConnectionCallback, identify: IdentifyHook | undefined): void {
    stream.on('error', swallow); // a reset during the handshake must not become an uncaught error
    stream.pause(); // frames that follow are read once the connection is set up
    const raw = rawHeaders ?? flattenHeaders(headers);
    const head = http2RequestHead(raw);
    const request = new Http2HandshakeRequest(head, headers, raw, stream);
    this.pendingHandshakes++;
    this.handshake(head, request, stream, EMPTY, callback, identify);
  }

  /**
   * Refuses an upgrade request the application decided not to pass to `handleUpgrade()` (unknown route, origin,
   * shutdown...): answers the HTTP error as every other refusal of this server (`buildErrorResponse`: status,
   * `Connection: close`, `reason` as a text body, `headers`), closes the socket and emits 'rejected'
   * (status, reason, request). `App` refuses through it.
   */
  rejectUpgrade(request: HandshakeRequest, socket: Duplex, status: number, reason: string, headers?: Readonly<Record<string, string>>): void {
    socket.on('error', swallow); // a reset while we answer must not become an uncaught error
    this.reject(socket, request, status, reason, headers);
  }

  /** Standalone mode: read the handshake request with the core's parser, under a time limit. */
  private acceptRawSocket(socket: Socket): void {
    socket.on('error', swallow);
    if (this.closing) {
      this.refuse(socket, 503, 'Server is shutting down');
      return;
    }
    this.pendingHandshakes++;
    (socket as PendingSocket)[PENDING] = this.deadlines.add(socket);
    socket.on('data', onRequestData);
    socket.on('close', onRequestClose);
  }

  /** @internal Request bytes from a socket of `acceptRawSocket`. */
  _onRequestData(pending: PendingHandshake, chunk: Buffer): void {
    // Usually the whole head is in the first chunk (the parser is created for it and dropped with the pending
    // handshake); otherwise the parser keeps what it needs across chunks.
    const parser = (pending.parser ??= new HttpHeadParser('request', this.headLimits));
    const result = parser.push(chunk);
    if (result.state === 'incomplete') return;
    const socket = pending.socket;
    this.endRequestReading(pending);
    if (result.state === 'error') {
      this.pendingHandshakes--;
      this.refuse(socket, result.error.status, result.error.message, result.error.headers);
      return;
    }
    // The socket keeps flowing: a synchronous handshake attaches the connection's 'data' listener before any
    // more input can be delivered (authenticate() pauses it).
    this.handshake(result.head, new StandaloneRequest(result.head, socket), socket, result.rest, this.emitConnection, this.identify);
  }

  /** @internal The socket closed before its request was complete. */
  _onRequestClose(pending: PendingHandshake): void {
    this.endRequestReading(pending);
    this.pendingHandshakes--;
  }

  private readonly onHandshakeTimeout = (pending: PendingHandshake): void => {
    this.endRequestReading(pending);
    this.pendingHandshakes--;
    this.refuse(pending.socket, 408, 'Handshake timeout');
  };

  private endRequestReading(pending: PendingHandshake): void {
    const socket = pending.socket;
    this.deadlines.remove(pending);
    socket.removeListener('data', onRequestData);
    socket.removeListener('close', onRequestClose);
    (socket as PendingSocket)[PENDING] = null; // not `delete`: that would turn every socket's shape into a dictionary
  }

  private readonly emitConnection: ConnectionCallback = (ws, request) => {
    this.emit('connection', ws, request);
  };

  /**
   * A complete request (counted in `pendingHandshakes`): checks it, negotiates, asks `authenticate` and
   * `identify` if set, then accepts it or answers with an HTTP error.
   */
  private handshake(head: RequestHead, request: HandshakeRequest, socket: Duplex, rest: Buffer, callback: ConnectionCallback, identify: IdentifyHook | undefined): void {
    let terms: AcceptTerms | null;
    try {
      terms = this.negotiate(head, request, socket);
    } catch (error) {
      this.pendingHandshakes--;
      this.hookFailed(error, null, socket, request, rest);
      return;
    }
    if (terms === null) this.pendingHandshakes--; // refused
    else if (this.authenticate || identify) {
      socket.pause(); // frames that follow are read once the connection is set up
      void this.hooksThenAccept(terms, head, request, socket, rest, callback, identify);
    } else this.accept(terms, head, request, socket, rest, callback, undefined);
  }

  /** The protocol, origin and policy checks and the negotiation; null after refusing the request. */
  private negotiate(head: RequestHead, request: HandshakeRequest, socket: Duplex): AcceptTerms | null {
    if (this.closing) return this.reject(socket, request, 503, 'Server is shutting down');
    if (this.tracked.size + this.pendingHandshakes > this.limits.maxConnections) {
      return this.reject(socket, request, 503, 'Too many connections');
    }
    if (this.options.path !== undefined && pathOf(head.target) !== this.options.path) {
      return this.reject(socket, request, 404, 'Not found');
    }
    const upgrade = isHttp2Stream(socket) ? validateExtendedConnect(head) : validateUpgradeRequest(head);
    if (upgrade instanceof HandshakeError) {
      // ws's 'wsClientError' (error, socket, request): with a listener, the application answers on the socket.
      if (this.listenerCount('wsClientError') > 0) {
        this.emit('wsClientError', upgrade, socket, request);
        return null;
      }
      return this.reject(socket, request, upgrade.status, upgrade.message, upgrade.headers);
    }
    if (!this.hostAllowed(upgrade.host, (request.socket as { localAddress?: string }).localAddress)) {
      return this.reject(socket, request, HOST_REFUSED.status, HOST_REFUSED.reason);
    }
    if (!isOriginAllowed(this.options.allowOrigin ?? 'same-origin', upgrade.origin, upgrade.host, request)) {
      return this.reject(socket, request, 403, 'Origin not allowed');
    }

    let protocol = '';
    if (this.options.handleProtocols) {
      const chosen = upgrade.protocols.length === 0 ? false : this.options.handleProtocols(new Set(upgrade.protocols), request);
      if (chosen !== false) {
        if (!upgrade.protocols.includes(chosen)) return this.reject(socket, request, 500, 'Server selected a subprotocol the client did not offer');
        protocol = chosen;
      }
    } else if (this.options.protocols) {
      protocol = upgrade.protocols.find((offered) => this.options.protocols!.includes(offered)) ?? '';
    }

    let extensions = '';
    let deflate: PerMessageDeflate | null = null;
    if (this.deflateOptions !== null && upgrade.extensions.length > 0) {
      const accepted = negotiateDeflateOffers(upgrade.extensions, this.deflateOptions);
      if (accepted !== null) {
        extensions = accepted.responseHeader;
        deflate = new PerMessageDeflate('server', accepted.params, this.deflateOptions);
      }
    }
    return { key: upgrade.key, protocol, extensions, deflate };
  }

  /**
   * The application's hooks, in order: `authenticate` (or `verifyClient`), then `identify`. Synchronous hooks
   * are answered synchronously; asynchronous ones share one `handshakeTimeout`: a hook that never settles must
   * not hold the socket and its maxConnections slot, so it gets 503 and a late answer is ignored.
   */
  private async hooksThenAccept(
    terms: AcceptTerms, head: RequestHead, request: HandshakeRequest, socket: Duplex, rest: Buffer, callback: ConnectionCallback,
    identify: IdentifyHook | undefined,
  ): Promise<void> {
    const wait = new HookWait(this.limits.handshakeTimeout);
    let step: HookStep = 'authenticate';
    let verdict: Verdict;
    try {
      verdict = true;
      if (this.authenticate) {
        const answer = this.authenticate(request);
        verdict = isThenable(answer) ? await wait.race(answer) : answer;
      }
      if (verdict === true && identify) {
        step = 'identify';
        const answer = identify(request);
        const identity = isThenable(answer) ? await wait.race(answer) : answer;
        verdict = identity === TIMED_OUT || isRefusal(identity) ? identity : { identity };
      }
    } catch (error) {
      terms.deflate?.close();
      this.pendingHandshakes--;
      this.hookFailed(error, null, socket, request, rest, step);
      return;
    } finally {
      wait.done();
    }
    if (verdict !== TIMED_OUT && !isRefusal(verdict) && (verdict === true || isIdentified(verdict)) && !socket.destroyed && !this.closing) {
      this.accept(terms, head, request, socket, rest, callback, verdict === true ? undefined : verdict.identity);
      return;
    }
    terms.deflate?.close();
    this.pendingHandshakes--;
    this.refuseAfterWait(socket, request, rest, verdict, step);
  }

  /**
   * Refuses a handshake after an asynchronous step (a hook's refusal, its timeout, or a shutdown that came while
   * it ran), unless the client left while we waited.
   */
  private refuseAfterWait(socket: Duplex, request: HandshakeRequest, rest: Buffer, verdict: Verdict, step: HookStep): void {
    if (socket.destroyed) return;
    try {
      if (verdict === TIMED_OUT) this.reject(socket, request, 503, step === 'identify' ? 'Identification timed out' : 'Authentication timed out');
      else if (verdict === true || isIdentified(verdict)) this.reject(socket, request, 503, 'Server is shutting down');
      else if (isRefusal(verdict)) {
        if (!isRefusalStatus(verdict.status)) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `identify refused with status ${String(verdict.status)}: only 4xx and 5xx`);
        this.reject(socket, request, verdict.status, verdict.reason ?? statusReason(verdict.status), verdict.headers);
      } else this.reject(socket, request, verdict.status, verdict.reason ?? 'Unauthorized', verdict.headers);
    } catch (error) {
      // The verdict was not a valid HTTP answer (no status, 999, a bad header...), or a 'rejected' listener threw.
      this.hookFailed(error, null, socket, request, rest, step);
    }
  }

  /** Answers 101 and hands the connection to `callback`; then the frames that came with the request are read. */
  private accept(terms: AcceptTerms, head: RequestHead, request: HandshakeRequest, socket: Duplex, rest: Buffer, callback: ConnectionCallback, identity: unknown): void {
    this.pendingHandshakes--;
    let ws: WebSocket | null = null;
    let reading = false;
    try {
      const { key, protocol, extensions, deflate } = terms;
      if (isHttp2Stream(socket)) (socket as ServerHttp2Stream).respond(extendedConnectAcceptHeaders({ protocol, extensions }));
      else {
        let response = acceptResponseHead({ key, protocol, extensions });
        if (this.listenerCount('headers') > 0) response = this.userHeaders(response, request);
        socket.write(response, 'latin1');
      }
      ws = new WebSocket();
      ws.url = head.target;
      ws.identity = identity;
      this.tracked.add(ws);
      ws._onClosed = this.forgetClient;
      socket.removeListener('error', swallow);
      ws._attach(socket, { role: 'server', protocol, extensions, deflate, connection: this.connection });
      callback(ws, request);
      reading = true;
      ws._startReading(rest);
    } catch (error) {
      this.hookFailed(error, ws, socket, request, reading ? EMPTY : rest, 'connection');
    }
  }

  /**
   * ws's 'headers' (headers, request): the lines of the 101 response (status line first, no CRLF), which listeners
   * may change before it is written. A line holding CR, LF or NUL, or anything but strings, is refused (500).
   */
  private userHeaders(response: string, request: HandshakeRequest): string {
    const lines = response.slice(0, -4).split('\r\n');
    this.emit('headers', lines, request);
    if (!Array.isArray(lines) || lines.some((line) => typeof line !== 'string' || /[\r\n\0]/.test(line))) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, "A 'headers' listener made an invalid response line");
    }
    return lines.join('\r\n') + '\r\n\r\n';
  }

  /**
   * An application hook threw: refuse with 500 rather than crash the process. After the 101 the socket
   * speaks WebSocket, so an HTTP answer there would reach the peer as garbage frames: close with 1011.
   */
  private hookFailed(error: unknown, ws: WebSocket | null, socket: Duplex, request: HandshakeRequest, unread: Buffer, step: HookStep | 'connection' = 'authenticate'): void {
    if (ws === null) this.reject(socket, request, 500, step === 'identify' ? 'Identification failed' : 'Internal server error');
    else if (ws.readyState === WebSocket.OPEN) {
      ws.close(CloseCode.INTERNAL_ERROR, 'Internal server error');
      try {
        ws._startReading(unread); // to read the peer's answer to our close
      } catch {
        ws.terminate();
      }
    }
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  private reject(socket: Duplex, request: HandshakeRequest, status: number, reason: string, headers?: Readonly<Record<string, string>>): null {
    this.emit('rejected', status, reason, request);
    this.refuse(socket, status, reason, headers);
    return null;
  }

  /** Answers an HTTP error and closes the socket (destroyed for sure after a second). */
  private refuse(socket: Duplex, status: number, reason: string, headers?: Readonly<Record<string, string>>): void {
    if (socket.destroyed) return;
    if (isHttp2Stream(socket)) {
      const stream = socket as ServerHttp2Stream;
      const response = extendedConnectErrorResponse(status, reason, headers);
      if (!stream.headersSent) stream.respond(response.headers);
      stream.end(response.body);
      // Then RST_STREAM NO_ERROR once the answer is out: the client may stop sending (RFC 9113 8.1).
      stream.close(http2Constants.NGHTTP2_NO_ERROR);
      return;
    }
    if (socket.writable) socket.end(buildErrorResponse(status, reason, headers));
    const timer = setTimeout(() => socket.destroy(), 1000);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  // ------------------------------------------------------------------------------------------- broadcast

  /**
   * Sends one message to many connections, framed once: every recipient gets the same bytes. With
   * permessage-deflate, recipients that negotiated `server_no_context_takeover` share one compressed payload
   * (compressed once, not once per recipient); recipients with context takeover compress with their own
   * context. Returns how many connections it was queued for (closed ones and those over their cap excluded).
   * The same delivery serves `App` rooms and brokers (`deliverPrepared` in connection/fanout.ts).
   */
  broadcast(clients: Iterable<WebSocket>, data: string | Buffer, options: { binary?: boolean; compress?: boolean } = {}): number {
    const message = prepareMessage(data, options);
    const queued = deliverPrepared(clients, message, options);
    this.stats.sharedCompressions += message.sharedCompressions;
    return queued;
  }

  // ------------------------------------------------------------------------------------------- shutdown

  /**
   * Graceful shutdown: stop accepting (handshakes in flight get 503), close every connection with 1001
   * (or 1012), wait up to `timeout` for the closing handshakes, then destroy what remains.
   * With `drain: true`, connections are left open to finish by themselves (still bounded by `timeout`).
   */
  close(options?: ShutdownOptions | ((error?: Error) => void)): Promise<void> {
    if (typeof options === 'function') {
      // ws's form, close(callback): called once the server has closed.
      const callback = options;
      void this.close().then(() => callback());
      return this.closed!;
    }
    options ??= {};
    if (this.closed) return this.closed;
    this.closing = true;
    this.sweeper.stop();
    const listenerClosed = new Promise<void>((resolve) => {
      if (!this.listener || !this.listener.listening) return resolve();
      this.listener.close(() => resolve());
    });
    const timeout = options.timeout ?? 10_000;
    const code = options.code ?? CloseCode.GOING_AWAY;
    if (!options.drain) {
      for (const ws of this.tracked) ws.close(code, options.reason ?? (code === CloseCode.SERVICE_RESTART ? 'Server restarting' : 'Server shutting down'));
    }
    const allClosed = new Promise<void>((resolve) => {
      if (this.tracked.size === 0) return resolve();
      const timer = setTimeout(() => {
        // Resolved by check() once their 'close' events have run (destroy() always emits 'close'), so that
        // `clients` is empty and every 'close' was emitted when close() resolves.
        for (const ws of this.tracked) ws.terminate();
      }, timeout);
      timer.unref();
      const check = (): void => {
        if (this.tracked.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      for (const ws of this.tracked) ws.once('close', () => setImmediate(check));
    });
    // Standalone HTTP/2: the sessions keep their TLS sockets (and so the listener) open: GOAWAY once the
    // WebSockets are closed (streams still open then finish first; the listener's close waits for them).
    const sessionsClosed = allClosed.then(() => {
      for (const session of this.http2Sessions) session.close();
      if (this.http2Sessions.size === 0) return;
      // A graceful close waits for the peer to close the connection: bounded by `timeout` as the rest.
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const session of this.http2Sessions) session.destroy();
          resolve();
        }, timeout);
        timer.unref();
        const check = (): void => {
          if (this.http2Sessions.size > 0) return;
          clearTimeout(timer);
          resolve();
        };
        for (const session of this.http2Sessions) session.once('close', () => setImmediate(check));
      });
    });
    this.closed = Promise.all([listenerClosed, sessionsClosed]).then(() => {
      // Attached: upgrades that come while closing (or draining) are answered 503 by negotiate();
      // without our listener the HTTP server would take them for plain requests.
      if (this.attached) this.attached.removeListener('upgrade', this.onHttpUpgrade);
      if (this.attached && this.http2) {
        this.http2.removeListener('stream', this.onHttp2Stream);
        this.http2.removeListener('connect', this.onHttp2Connect);
      }
      this.emit('close');
    });
    return this.closed;
  }
}

const EMPTY = Buffer.alloc(0);

/** ws's verifyClient as an `authenticate` hook. */
function fromVerifyClient(verify: VerifyClient): (request: HandshakeRequest) => AuthResult | Promise<AuthResult> {
  const verdict = (ok: boolean, code?: number, message?: string, headers?: Record<string, string>): AuthResult => {
    return ok ? true : { status: code ?? 401, reason: message, headers };
  };
  return (request) => {
    const headers = request.headers;
    const socket = request.socket as { encrypted?: boolean; authorized?: boolean };
    const info: VerifyClientInfo = {
      origin: (headers.origin ?? headers['sec-websocket-origin']) as string | undefined,
      secure: socket.encrypted === true || socket.authorized === true,
      req: request,
    };
    if (verify.length >= 2) {
      return new Promise<AuthResult>((resolve) => {
        (verify as (i: VerifyClientInfo, d: (...a: Parameters<typeof verdict>) => void) => void)(info, (...args) => resolve(verdict(...args)));
      });
    }
    return verdict((verify as (i: VerifyClientInfo) => boolean)(info) === true);
  };
}

/** What the handshake timer of `hooksThenAccept` resolves with. */
const TIMED_OUT: unique symbol = Symbol('wireroom.hookTimedOut');

type HookStep = 'authenticate' | 'identify';
/** Where the hooks of a handshake got to: accepted (`true`, or with an identity), refused, or timed out. */
type Verdict = AuthResult | Refusal | { identity: unknown } | typeof TIMED_OUT;

function isIdentified(verdict: Verdict): verdict is { identity: unknown } {
  return typeof verdict === 'object' && verdict !== null && 'identity' in verdict && !isRefusal(verdict);
}

/** One `handshakeTimeout` shared by the asynchronous hooks of a handshake; the timer starts with the first wait. */
class HookWait {
  private timer: NodeJS.Timeout | undefined;
  private expired: Promise<typeof TIMED_OUT> | undefined;

  constructor(private readonly ms: number) {}

  race<T>(answer: PromiseLike<T>): Promise<T | typeof TIMED_OUT> {
    this.expired ??= new Promise<typeof TIMED_OUT>((resolve) => {
      this.timer = setTimeout(resolve, this.ms, TIMED_OUT);
      this.timer.unref();
    });
    return Promise.race([answer, this.expired]);
  }

  done(): void {
    clearTimeout(this.timer);
  }
}

function statusReason(status: number): string {
  return STATUS_CODES[status] ?? 'Refused';
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function swallow(): void {}

function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}

/**
 * @internal The request of an HTTP/2 handshake as the 'connection' event and the hooks see it (for `App`, which
 * routes a stream before handing it to `handleHttp2Stream`).
 */
export function http2HandshakeRequest(stream: ServerHttp2Stream, headers: Http2IncomingHeaders, rawHeaders?: string[]): HandshakeRequest & { httpVersion: string } {
  const raw = rawHeaders ?? flattenHeaders(headers);
  return new Http2HandshakeRequest(http2RequestHead(raw), headers, raw, stream);
}

/** @internal Whether a server is a node:http2 one (they alone have `updateSettings`). */
export function isHttp2Server(server: object): server is Http2Server | Http2SecureServer {
  return typeof (server as { updateSettings?: unknown }).updateSettings === 'function';
}

/** `headers` of an HTTP/2 'stream' event as raw `[name, value, ...]` (when the event gave no rawHeaders). */
function flattenHeaders(headers: Http2IncomingHeaders): string[] {
  const raw: string[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (Array.isArray(value)) for (const v of value) raw.push(name, v);
    else if (value !== undefined) raw.push(name, String(value));
  }
  return raw;
}

/**
 * The request of an HTTP/2 handshake, shaped like the parts of IncomingMessage applications use: `method`
 * 'CONNECT', `url` the `:path`, `headers` as node:http2 gives them plus `host` (from `:authority`, so code
 * written for HTTP/1.1 finds it), `socket` the session's TLS socket (addresses), `stream` the HTTP/2 stream.
 */
class Http2HandshakeRequest implements HandshakeRequest {
  readonly method: string;
  url: string;
  readonly httpVersion = '2.0';
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  headers: IncomingHttpHeaders;
  readonly socket: Duplex;

  /** `rawHeaders`: the fields as received, `[name, value, ...]` (as IncomingMessage's), repeats kept. */
  constructor(head: RequestHead, headers: Http2IncomingHeaders, readonly rawHeaders: string[], readonly stream: ServerHttp2Stream) {
    this.method = head.method;
    this.url = head.target;
    const copy: IncomingHttpHeaders = { ...(headers as IncomingHttpHeaders) };
    const authority = headers[':authority'];
    if (copy.host === undefined && typeof authority === 'string') copy.host = authority;
    this.headers = copy;
    this.socket = (stream.session?.socket ?? stream) as Duplex;
  }
}

/** Converts Node's parsed request into the core's head, so one validator serves both modes. */
function headFromIncoming(request: IncomingMessage): RequestHead {
  const head = new ParsedRequestHead(request.method ?? '', request.url ?? '', request.httpVersionMajor, request.httpVersionMinor);
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) head.headers.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return head;
}

/**
 * The request of a standalone handshake, shaped like the parts of IncomingMessage applications use. `headers`
 * is built on first use: most handlers look at the URL only.
 */
class StandaloneRequest implements HandshakeRequest {
  readonly method: string;
  url: string;
  readonly httpVersion: string;
  private headerObject: IncomingHttpHeaders | null = null;

  constructor(
    private readonly head: RequestHead,
    readonly socket: Duplex,
  ) {
    this.method = head.method;
    this.url = head.target;
    this.httpVersion = `${head.versionMajor}.${head.versionMinor}`;
  }

  get headers(): IncomingHttpHeaders {
    return (this.headerObject ??= headerObject(this.head));
  }

  /** The fields as received, `[name, value, ...]` (names lower-cased), repeats kept, as IncomingMessage's. */
  get rawHeaders(): string[] {
    return this.head.headers.flat();
  }

  set headers(headers: IncomingHttpHeaders) {
    this.headerObject = headers;
  }
}

/** The headers as node:http presents them: repeats joined with ', ' (cookie: '; '), except set-cookie (an array). */
function headerObject(head: RequestHead): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of head.headers) {
    const previous = headers[name];
    if (previous === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(previous)) previous.push(value);
    else headers[name] = `${previous}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return headers;
}

/** What `negotiate()` agreed on for an accepted handshake. */
interface AcceptTerms {
  key: string;
  protocol: string;
  extensions: string;
  deflate: PerMessageDeflate | null;
}

type ConnectionCallback = (ws: WebSocket, request: HandshakeRequest) => void;

// Sockets of `acceptRawSocket` carry their pending handshake; the listeners are shared functions (`this` is
// the socket), so a connection costs no closures.
const PENDING = Symbol('wireroom.pendingHandshake');
type PendingSocket = Socket & { [PENDING]?: PendingHandshake | null };

function onRequestData(this: Socket, chunk: Buffer): void {
  const pending = (this as PendingSocket)[PENDING];
  if (pending) pending.server._onRequestData(pending, chunk);
}

function onRequestClose(this: Socket): void {
  const pending = (this as PendingSocket)[PENDING];
  if (pending) pending.server._onRequestClose(pending);
}
