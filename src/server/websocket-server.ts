/**
 * WebSocketServer: accepts handshakes and turns upgraded sockets into WebSocket connections.
 *
 * Three ways to run it:
 * - standalone (`port`): a plain `net.Server` (or `tls.Server` with `tls`) whose handshakes are parsed by the
 *   protocol core's own HTTP head parser: no `node:http` on the path, limits enforced as bytes arrive;
 * - attached (`server`): listens to an existing `http.Server` / `https.Server`'s 'upgrade' event;
 * - `noServer`: the application calls `handleUpgrade()` itself.
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { CloseCode, Opcode } from '../protocol/constants.js';
import { HandshakeError } from '../protocol/errors.js';
import {
  buildAcceptResponse, buildErrorResponse, HttpHeadParser, validateUpgradeRequest,
  type HeadLimits, type RequestHead,
} from '../protocol/handshake/index.js';
import { ParsedRequestHead } from '../protocol/handshake/http-head.js';
import { negotiateDeflateOffers, resolveDeflateOptions, type DeflateOptions, type ResolvedDeflateOptions } from '../protocol/extensions/permessage-deflate-negotiation.js';
import { compressOnce, PerMessageDeflate } from '../compression/permessage-deflate.js';
import { encodeFrame } from '../protocol/frame-writer.js';
import { resolveConnectionOptions, WebSocket, type ConnectionOptions, type ResolvedConnectionOptions, type SharedCompressedFrame } from '../websocket/websocket.js';
import { prepareMessage } from '../websocket/prepared-message.js';
import { isOriginAllowed, type HandshakeRequest, type OriginPolicy } from './origin.js';
import { ConnectionSweeper } from './sweeper.js';

export type { HandshakeRequest, OriginPolicy } from './origin.js';

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
  /** Attach to an existing HTTP(S) server's 'upgrade' event. */
  server?: HttpServer;
  /** Neither listen nor attach: call `handleUpgrade()` yourself. */
  noServer?: boolean;
  /** Accept only this path (query string ignored); other paths get 404. Default: every path. */
  path?: string;
  /** Which browser origins may connect. Default 'same-origin' (the Origin's host must equal Host). */
  allowOrigin?: OriginPolicy;
  /** Decide whether to accept a handshake (may be async). Runs after the protocol and origin checks. */
  authenticate?: (request: HandshakeRequest) => AuthResult | Promise<AuthResult>;
  /** Subprotocols this server speaks, in preference order; the first one the client offered is selected. */
  protocols?: readonly string[];
  /** Custom subprotocol selection (overrides `protocols`): return one of `offered`, or false for none. */
  handleProtocols?: (offered: readonly string[], request: HandshakeRequest) => string | false;
  /** permessage-deflate: false (default), true (defaults) or options. */
  perMessageDeflate?: boolean | DeflateOptions;
  /** Most open connections plus handshakes in progress; more get 503. Default 10,000. */
  maxConnections?: number;
  /** Time allowed from TCP accept to a complete handshake request (slowloris). Default 10,000 ms. */
  handshakeTimeout?: number;
  /** Handshake head limits (standalone; an attached server's own HTTP parser applies its limits). */
  headLimits?: Partial<HeadLimits>;
  /** Ping every connection this often (ms); 0 disables. Default 20,000. */
  heartbeatInterval?: number;
  /** Close (1011) a connection whose pong has not arrived this long after the ping (ms). Default 20,000. */
  heartbeatTimeout?: number;
  /** Close (1000) a connection that sent no message for this long (ms); 0 disables (default). */
  idleTimeout?: number;
}

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
 * 'error' (only listener-less errors of the listening socket are rethrown, as node:net does), 'close'.
 */
export class WebSocketServer extends EventEmitter {
  /** Open connections. */
  readonly clients: Set<WebSocket> = new Set();
  /** Counters for metrics: `sharedCompressions` counts broadcasts compressed once for many recipients. */
  readonly stats = { sharedCompressions: 0 };
  private readonly options: ServerOptions;
  private readonly limits: typeof SERVER_DEFAULTS;
  private readonly deflateOptions: DeflateOptions | null;
  private readonly resolvedDeflate: ResolvedDeflateOptions | null;
  /** Connection options resolved once and shared by every connection of this server. */
  private readonly connection: ResolvedConnectionOptions;
  private readonly listener: NetServer | null = null;
  private readonly attached: HttpServer | null = null;
  private readonly sweeper: ConnectionSweeper;
  private pendingHandshakes = 0;
  private closing = false;
  private closed: Promise<void> | null = null;

  constructor(options: ServerOptions = {}, onListening?: () => void) {
    super();
    this.options = options;
    this.limits = {
      maxConnections: options.maxConnections ?? SERVER_DEFAULTS.maxConnections,
      handshakeTimeout: options.handshakeTimeout ?? SERVER_DEFAULTS.handshakeTimeout,
      heartbeatInterval: options.heartbeatInterval ?? SERVER_DEFAULTS.heartbeatInterval,
      heartbeatTimeout: options.heartbeatTimeout ?? SERVER_DEFAULTS.heartbeatTimeout,
      idleTimeout: options.idleTimeout ?? SERVER_DEFAULTS.idleTimeout,
    };
    this.connection = resolveConnectionOptions(options);
    const pmd = options.perMessageDeflate;
    this.deflateOptions = pmd === true ? {} : pmd ? pmd : null;
    this.resolvedDeflate = this.deflateOptions ? resolveDeflateOptions(this.deflateOptions) : null; // throws on bad options
    this.sweeper = new ConnectionSweeper(this.clients, this.limits);

    if (options.server) {
      this.attached = options.server;
      options.server.on('upgrade', this.onHttpUpgrade);
    } else if (!options.noServer) {
      const onConnection = (socket: Socket): void => this.acceptRawSocket(socket);
      // The TLS handshake comes before ours and is bounded by node:tls's own timer (120 s by default): give it ours.
      const tlsOptions = options.tls ? { noDelay: true, handshakeTimeout: this.limits.handshakeTimeout, ...options.tls } : null;
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
    this.handleUpgrade(request, socket, head, (ws, req) => this.emit('connection', ws, req));
  };

  /**
   * Completes (or refuses) a WebSocket handshake for an upgrade request received by an HTTP server.
   * `callback` receives the open connection; refusals are answered on the socket and emitted as 'rejected'.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, callback: (ws: WebSocket, request: IncomingMessage) => void): void {
    socket.on('error', swallow); // a reset during the handshake must not become an uncaught error
    socket.pause(); // frames that follow are read once the connection is set up
    const requestHead = headFromIncoming(request);
    this.pendingHandshakes++;
    void this.completeHandshake(requestHead, request, socket, head, callback as (ws: WebSocket, request: HandshakeRequest) => void);
  }

  /** Standalone mode: read the handshake request with the core's parser, under a time limit. */
  private acceptRawSocket(socket: Socket): void {
    socket.on('error', swallow);
    if (this.closing) {
      this.refuse(socket, 503, 'Server is shutting down');
      return;
    }
    this.pendingHandshakes++;
    const parser = new HttpHeadParser('request', this.options.headLimits);
    const timer = setTimeout(() => {
      socket.removeListener('data', onData);
      socket.removeListener('close', onEarlyClose);
      this.pendingHandshakes--;
      this.refuse(socket, 408, 'Handshake timeout');
    }, this.limits.handshakeTimeout);
    const onData = (chunk: Buffer): void => {
      const result = parser.push(chunk);
      if (result.state === 'incomplete') return;
      socket.removeListener('data', onData);
      socket.removeListener('close', onEarlyClose);
      clearTimeout(timer);
      if (result.state === 'error') {
        this.pendingHandshakes--;
        this.refuse(socket, result.error.status, result.error.message, result.error.headers);
        return;
      }
      socket.pause();
      const request = requestFromHead(result.head, socket);
      void this.completeHandshake(result.head, request, socket, result.rest, (ws, req) => this.emit('connection', ws, req));
    };
    const onEarlyClose = (): void => {
      clearTimeout(timer);
      this.pendingHandshakes--;
    };
    socket.on('data', onData);
    socket.once('close', onEarlyClose);
  }

  private async completeHandshake(
    head: RequestHead,
    request: HandshakeRequest,
    socket: Duplex,
    rest: Buffer,
    callback: (ws: WebSocket, request: HandshakeRequest) => void,
  ): Promise<void> {
    let pending = true;
    let accepted: WebSocket | null = null;
    const done = (): void => {
      if (pending) {
        pending = false;
        this.pendingHandshakes--;
      }
    };
    try {
      if (this.closing) return this.reject(socket, request, 503, 'Server is shutting down');
      if (this.clients.size + this.pendingHandshakes > this.limits.maxConnections) {
        return this.reject(socket, request, 503, 'Too many connections');
      }
      if (this.options.path !== undefined && pathOf(head.target) !== this.options.path) {
        return this.reject(socket, request, 404, 'Not found');
      }
      const upgrade = validateUpgradeRequest(head);
      if (upgrade instanceof HandshakeError) return this.reject(socket, request, upgrade.status, upgrade.message, upgrade.headers);
      if (!isOriginAllowed(this.options.allowOrigin ?? 'same-origin', upgrade.origin, upgrade.host, request)) {
        return this.reject(socket, request, 403, 'Origin not allowed');
      }

      let protocol = '';
      if (this.options.handleProtocols) {
        const chosen = this.options.handleProtocols(upgrade.protocols, request);
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

      if (this.options.authenticate) {
        const verdict = await this.options.authenticate(request);
        if (verdict !== true) {
          deflate?.close();
          return this.reject(socket, request, verdict.status, verdict.reason ?? 'Unauthorized', verdict.headers);
        }
        if (socket.destroyed) {
          deflate?.close();
          return;
        }
        if (this.closing) {
          deflate?.close();
          return this.reject(socket, request, 503, 'Server is shutting down');
        }
      }

      socket.write(buildAcceptResponse({ key: upgrade.key, protocol, extensions }));
      const ws = new WebSocket();
      accepted = ws;
      ws.url = head.target;
      done();
      this.clients.add(ws);
      ws.once('close', () => this.clients.delete(ws));
      socket.removeListener('error', swallow);
      ws._attach(socket, rest, { role: 'server', protocol, extensions, deflate, connection: this.connection });
      callback(ws, request);
      ws._startReading();
    } catch (error) {
      // An application hook threw: refuse with 500 rather than crash the process. After the 101 the socket
      // speaks WebSocket, so an HTTP answer there would reach the peer as garbage frames: close with 1011.
      if (accepted === null) this.reject(socket, request, 500, 'Internal server error');
      else if (accepted.readyState === WebSocket.OPEN) {
        accepted.close(CloseCode.INTERNAL_ERROR, 'Internal server error');
        try {
          accepted._startReading(); // to read the peer's answer to our close
        } catch {
          accepted.terminate();
        }
      }
      if (this.listenerCount('error') > 0) this.emit('error', error);
    } finally {
      done();
    }
  }

  private reject(socket: Duplex, request: HandshakeRequest, status: number, reason: string, headers?: Readonly<Record<string, string>>): void {
    this.emit('rejected', status, reason, request);
    this.refuse(socket, status, reason, headers);
  }

  /** Answers an HTTP error and closes the socket (destroyed for sure after a second). */
  private refuse(socket: Duplex, status: number, reason: string, headers?: Readonly<Record<string, string>>): void {
    if (socket.destroyed) return;
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
   */
  broadcast(clients: Iterable<WebSocket>, data: string | Buffer, options: { binary?: boolean; compress?: boolean } = {}): number {
    const message = prepareMessage(data, options);
    const deflateOptions = this.deflateOptions;
    const resolved = this.resolvedDeflate;
    const compress = resolved !== null && options.compress !== false && message.payload.length >= resolved.threshold;
    const windowBits = compress ? resolved!.serverMaxWindowBits : 0;
    let shared: SharedCompression | null = null;
    let sent = 0;
    for (const ws of clients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (compress && ws._canShareCompression(windowBits)) {
        if (shared === null) {
          shared = new SharedCompression(message.payload, message.binary, windowBits, deflateOptions!);
          this.stats.sharedCompressions++;
        }
        if (ws._sendSharedCompressed(shared)) sent++;
      } else if (compress && ws.extensions !== '') {
        if (ws.send(message.payload, { binary: message.binary }) || ws.readyState === WebSocket.OPEN) sent++;
      } else {
        // sendPrepared() also returns false for a message queued past the high-water mark: count what was
        // queued (not dropped by the 'drop' policy, connection not failed by the 'close' policy).
        const dropped = ws.droppedMessages;
        if (ws.sendPrepared(message) || (ws.droppedMessages === dropped && ws.readyState === WebSocket.OPEN)) sent++;
      }
    }
    return sent;
  }

  // ------------------------------------------------------------------------------------------- shutdown

  /**
   * Graceful shutdown: stop accepting (handshakes in flight get 503), close every connection with 1001
   * (or 1012), wait up to `timeout` for the closing handshakes, then destroy what remains.
   * With `drain: true`, connections are left open to finish by themselves (still bounded by `timeout`).
   */
  close(options: ShutdownOptions = {}): Promise<void> {
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
      for (const ws of this.clients) ws.close(code, options.reason ?? (code === CloseCode.SERVICE_RESTART ? 'Server restarting' : 'Server shutting down'));
    }
    const allClosed = new Promise<void>((resolve) => {
      if (this.clients.size === 0) return resolve();
      const timer = setTimeout(() => {
        // Resolved by check() once their 'close' events have run (destroy() always emits 'close'), so that
        // `clients` is empty and every 'close' was emitted when close() resolves.
        for (const ws of this.clients) ws.terminate();
      }, timeout);
      timer.unref();
      const check = (): void => {
        if (this.clients.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      for (const ws of this.clients) ws.once('close', () => setImmediate(check));
    });
    this.closed = Promise.all([listenerClosed, allClosed]).then(() => {
      // Attached: upgrades that come while closing (or draining) are answered 503 by completeHandshake();
      // without our listener the HTTP server would take them for plain requests.
      if (this.attached) this.attached.removeListener('upgrade', this.onHttpUpgrade);
      this.emit('close');
    });
    return this.closed;
  }
}

/** One compression of a broadcast message, shared by every recipient without server context takeover. */
class SharedCompression implements SharedCompressedFrame {
  frame: Buffer | [Buffer, Buffer] | null = null;
  private waiting: Array<() => void> = [];

  constructor(payload: Buffer, binary: boolean, windowBits: number, options: DeflateOptions) {
    const params = { serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: windowBits, clientMaxWindowBits: 15 };
    compressOnce(payload, params, options, (error, compressed) => {
      const opcode = binary ? Opcode.BINARY : Opcode.TEXT;
      // On a (rare) zlib failure the message still goes out, uncompressed: RSV1 is per message.
      this.frame = !error && compressed !== undefined ? encodeFrame(opcode, compressed, { rsv1: true }) : encodeFrame(opcode, payload);
      const waiting = this.waiting;
      this.waiting = [];
      for (const callback of waiting) callback();
    });
  }

  onReady(callback: () => void): void {
    this.waiting.push(callback);
  }
}

function swallow(): void {}

function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}

/** Converts Node's parsed request into the core's head, so one validator serves both modes. */
function headFromIncoming(request: IncomingMessage): RequestHead {
  const head = new ParsedRequestHead(request.method ?? '', request.url ?? '', request.httpVersionMajor, request.httpVersionMinor);
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) head.headers.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return head;
}

/** A request object for standalone handshakes, shaped like the parts of IncomingMessage apps use. */
function requestFromHead(head: RequestHead, socket: Duplex): HandshakeRequest {
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of head.headers) {
    const previous = headers[name];
    if (previous === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(previous)) previous.push(value);
    else headers[name] = `${previous}, ${value}`;
  }
  return {
    method: head.method,
    url: head.target,
    headers,
    socket,
    httpVersion: `${head.versionMajor}.${head.versionMinor}`,
  } as HandshakeRequest;
}
