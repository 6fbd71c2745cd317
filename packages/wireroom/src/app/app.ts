/**
 * A small Tornado-style application: HTTP routes, static files and WebSocket handler routes on one
 * `http.Server`, with a graceful `close()`.
 *
 *   const app = new App()
 *     .websocket('/chat', (req) => new ChatHandler(req, services))
 *     .static('/', './public');
 *   const server = await app.listen(8888, '127.0.0.1');
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  createSecureServer, type Http2SecureServer, type Http2Session, type IncomingHttpHeaders as Http2IncomingHeaders,
  type SecureServerOptions, type ServerHttp2Stream,
} from 'node:http2';
import type { Duplex } from 'node:stream';
import { createHostCheck, HOST_REFUSED, type HostCheck, type HostPolicy } from '../server/host.js';
import { http2HandshakeRequest, isHttp2Server, WebSocketServer, type ServerOptions } from '../server/websocket-server.js';
import type { WebSocket } from '../connection/websocket.js';
import type { IdentifyHook } from '../server/identity/refusal.js';
import { sendText, type HttpHandler } from './http-handler.js';
import { staticFiles, type StaticFilesOptions } from './static-files.js';
import { ATTACH, type HandlerHost, type WebSocketHandler } from './websocket-handler.js';

/** Creates the handler of one WebSocket connection; `params` are the route pattern's capture groups. */
export type WebSocketHandlerFactory<I = unknown> = (request: IncomingMessage, params: readonly string[]) => WebSocketHandler<I>;

/** Options of one WebSocket route (`app.websocket(pattern, factory, options)`). */
export interface WebSocketRouteOptions<I = unknown> {
  /**
   * Who is connecting on this route (overrides the App's `identify`; `null` turns it off for this route). Runs
   * after the Host, route and Origin checks; its answer is the handler's `this.identity`; `refuse(status,
   * reason?)` answers the upgrade with that status. See `ServerOptions.identify` and docs/identity.md.
   */
  readonly identify?: IdentifyHook<I> | null;
}

/** Where the App reports errors thrown by handlers. */
export type ErrorLogger = (context: string, error: unknown) => void;

/** Options of an App; WebSocket limits are passed to the WebSocket layer. */
export interface AppOptions {
  /** Largest inbound WebSocket message in bytes (close 1009 above). Default 1 MiB. */
  readonly maxMessageSize?: number;
  /** Most WebSocket connections (503 above). Default 10,000. */
  readonly maxConnections?: number;
  /** Outbound bytes queued for one slow client before it is closed (1008). Default 8 MiB. */
  readonly maxBufferedAmount?: number;
  /** Protocol-level ping interval in ms (dead peers are noticed); 0 disables. Default 20,000. */
  readonly heartbeatInterval?: number;
  /** permessage-deflate. Default off. */
  readonly perMessageDeflate?: ServerOptions['perMessageDeflate'];
  /** Frames a busy handler may have queued before the connection is closed as abusive. Default 256. */
  readonly maxQueuedMessages?: number;
  /** Default: one line on stderr. */
  readonly logError?: ErrorLogger;
  /**
   * Called for every refused WebSocket handshake, whoever refused it (no route, origin, shutdown, the protocol
   * checks, too many connections, a body in the request...), with the HTTP status and reason answered.
   * For metrics and logs; an exception it throws is reported to `logError`.
   */
  readonly onRejected?: (status: number, reason: string, request: IncomingMessage) => void;
  /**
   * Host names the app answers to, for every HTTP request and upgrade (DNS rebinding protection); others get
   * 421. Default 'auto': IP literals, `localhost` forms on loopback, the name given to `listen()`. A list adds
   * names (`.example.com`: a domain and its subdomains); '*' turns the check off. See docs/security.md.
   */
  readonly allowedHosts?: HostPolicy;
  /**
   * Who is connecting, for every WebSocket route (a route may override it): its answer is the handler's
   * `this.identity`; `refuse(status, reason?)` answers the upgrade with that status. Bounded by the
   * handshake timeout (10 s: then 503). A hook that throws gets 500 and is reported to `logError`.
   * See `ServerOptions.identify` and docs/identity.md.
   */
  readonly identify?: IdentifyHook;
  /** Time an asynchronous `identify` may take, in ms (then 503 'Identification timed out'). Default 10,000. */
  readonly handshakeTimeout?: number;
}

/** Options of `App.close()`. */
export interface AppCloseOptions {
  /** Close code for open WebSockets: 1001 going away (default) or 1012 service restart. */
  readonly code?: 1001 | 1012;
  /** How long each phase (finishing handlers, closing handshakes) may take, in ms. Default 5,000. */
  readonly timeoutMs?: number;
}

interface HttpRoute { readonly pattern: RegExp; readonly handler: HttpHandler }
interface SocketRoute { readonly pattern: RegExp; readonly factory: WebSocketHandlerFactory; readonly identify: IdentifyHook | undefined }

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A string pattern matches that exact path; a RegExp is matched against the path (captures become params). */
function toPattern(pattern: string | RegExp): RegExp {
  return typeof pattern === 'string' ? new RegExp(`^${escapeRegExp(pattern)}$`) : pattern;
}

function pathnameOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    return undefined;
  }
}

function match<R extends { readonly pattern: RegExp }>(routes: readonly R[], pathname: string): { route: R; params: string[] } | undefined {
  for (const route of routes) {
    const m = route.pattern.exec(pathname);
    if (m) return { route, params: m.slice(1).map((p) => p ?? '') };
  }
  return undefined;
}

/** The application: routes plus the servers that run them. */
// App is its handlers' HandlerHost (checked where it hands itself over in `handleUpgrade`); the interface is
// internal, so it is not named in the class declaration, which is published.
export class App {
  private readonly httpRoutes: HttpRoute[] = [];
  private readonly socketRoutes: SocketRoute[] = [];
  private readonly wss: WebSocketServer;
  private readonly logError: ErrorLogger;
  private server: Server | Http2SecureServer | undefined;
  /** HTTP/2 sessions of the attached server (GOAWAY at shutdown). */
  private readonly sessions = new Set<Http2Session>();
  private accepting = true;
  private closing: Promise<void> | undefined;
  private tasks = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly allowedHosts: HostPolicy | undefined;
  private hostAllowed: HostCheck;
  private readonly identify: IdentifyHook | undefined;

  /** @internal HandlerHost */
  acceptingMessages = true;
  /** @internal HandlerHost */
  readonly maxQueuedMessages: number;

  constructor(options: AppOptions = {}) {
    this.maxQueuedMessages = options.maxQueuedMessages ?? 256;
    this.allowedHosts = options.allowedHosts;
    this.hostAllowed = createHostCheck(options.allowedHosts);
    this.identify = options.identify;
    this.logError = options.logError ?? ((context, error) => console.error(`wireroom: ${context}:`, error));
    this.wss = new WebSocketServer({
      noServer: true,
      allowOrigin: '*', // each handler's checkOrigin() decides, before handleUpgrade
      allowedHosts: '*', // checked by handleUpgrade, before the route
      ...(options.maxMessageSize !== undefined && { maxMessageSize: options.maxMessageSize }),
      ...(options.maxConnections !== undefined && { maxConnections: options.maxConnections }),
      ...(options.maxBufferedAmount !== undefined && { maxBufferedAmount: options.maxBufferedAmount }),
      ...(options.heartbeatInterval !== undefined && { heartbeatInterval: options.heartbeatInterval }),
      ...(options.perMessageDeflate !== undefined && { perMessageDeflate: options.perMessageDeflate }),
      ...(options.handshakeTimeout !== undefined && { handshakeTimeout: options.handshakeTimeout }),
      // identify is per route: the App hands each route's hook to the server with the upgrade.
    });
    this.wss.on('error', (err: unknown) => this.logError('WebSocketServer', err));
    const onRejected = options.onRejected;
    if (onRejected !== undefined) {
      this.wss.on('rejected', (status: number, reason: string, request: IncomingMessage) => {
        try {
          onRejected(status, reason, request);
        } catch (err) {
          this.logError('onRejected', err);
        }
      });
    }
  }

  /** Adds an HTTP route. Routes are tried in the order they were added. */
  route(pattern: string | RegExp, handler: HttpHandler): this {
    this.httpRoutes.push({ pattern: toPattern(pattern), handler });
    return this;
  }

  /** Serves the files under `root` at `prefix` (`'/'` for the whole site; a directory serves its index.html). */
  static(prefix: string, root: string, options?: StaticFilesOptions): this {
    const base = prefix.replace(/\/+$/, '');
    return this.route(new RegExp(`^${escapeRegExp(base)}(?:/(.*))?$`), staticFiles(root, options));
  }

  /**
   * Adds a WebSocket route: each connection accepted on it gets its own handler from `factory`. `identify`
   * (default: the App's) decides who is connecting; the handler sees its answer as `this.identity`.
   */
  websocket<I = unknown>(pattern: string | RegExp, factory: WebSocketHandlerFactory<I>, options: WebSocketRouteOptions<I> = {}): this {
    const identify = options.identify === null ? undefined : (options.identify as IdentifyHook | undefined) ?? this.identify;
    if (identify !== undefined && typeof identify !== 'function') throw new TypeError('identify must be a function');
    this.socketRoutes.push({ pattern: toPattern(pattern), factory: factory as WebSocketHandlerFactory, identify });
    return this;
  }

  /** Open WebSocket connections. */
  get clients(): ReadonlySet<WebSocket> {
    return this.wss.clients;
  }

  /** The http.Server request listener, for use with a server made elsewhere. */
  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (!this.hostAllowed(req.headers.host, req.socket.localAddress)) {
      sendText(res, HOST_REFUSED.status, HOST_REFUSED.reason);
      return;
    }
    const pathname = pathnameOf(req.url);
    if (pathname === undefined) {
      sendText(res, 400, 'Bad Request');
      return;
    }
    // A plain request to a WebSocket route (before the catch-all static mount can 404 it).
    if (match(this.socketRoutes, pathname) !== undefined) {
      // HTTP/2 has no Upgrade (and forbids Connection): the client should use an extended CONNECT.
      sendText(res, 426, 'This is a WebSocket endpoint', req.httpVersionMajor >= 2 ? {} : { Upgrade: 'websocket', Connection: 'Upgrade' });
      return;
    }
    const found = match(this.httpRoutes, pathname);
    if (found === undefined) {
      sendText(res, 404, 'Not Found');
      return;
    }
    const fail = (err: unknown): void => {
      this.logError(`${req.method ?? ''} ${pathname}`, err);
      if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
      else res.destroy();
    };
    try {
      const result = found.route.handler(req, res, found.params);
      if (result instanceof Promise) result.catch(fail);
    } catch (err) {
      fail(err);
    }
  };

  /** The http.Server 'upgrade' listener, for use with a server made elsewhere. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const routed = this.routeHandshake(req, socket);
    if (routed !== null) this.wss._handleUpgrade(req, socket, head, (ws) => routed.handler[ATTACH](ws, this), routed.identify);
  };

  /**
   * The http2 server 'stream' listener, for use with a server made elsewhere: an extended CONNECT (RFC 8441) is
   * routed as an upgrade is; other streams are left to the server's 'request' listeners.
   */
  readonly handleStream = (stream: ServerHttp2Stream, headers: Http2IncomingHeaders, _flags: number, rawHeaders?: string[]): void => {
    if (headers[':method'] !== 'CONNECT') return;
    const req = http2HandshakeRequest(stream, headers, rawHeaders) as unknown as IncomingMessage;
    const routed = this.routeHandshake(req, stream);
    if (routed !== null) this.wss._handleHttp2Stream(stream, headers, rawHeaders, (ws) => routed.handler[ATTACH](ws, this), routed.identify);
  };

  /** node:http2's compatibility layer answers CONNECT 405 without a 'connect' listener: streams are ours. */
  private readonly onConnect = (req: IncomingMessage, socketOrResponse: { destroy?: () => void }): void => {
    if (req.httpVersionMajor !== 2 && this.server?.listenerCount('connect') === 1) socketOrResponse.destroy?.();
  };

  /** The checks and route of a handshake (either HTTP version): its handler and hook, or null after refusing it. */
  private routeHandshake(req: IncomingMessage, socket: Duplex): { handler: WebSocketHandler; identify: IdentifyHook | undefined } | null {
    // Refusals go through the WebSocketServer's, as its own do: one response builder, one 'rejected' event.
    if (!this.accepting) {
      this.wss.rejectUpgrade(req, socket, 503, 'Shutting down');
      return null;
    }
    if (!this.hostAllowed(req.headers.host, (req.socket as { localAddress?: string }).localAddress)) {
      this.wss.rejectUpgrade(req, socket, HOST_REFUSED.status, HOST_REFUSED.reason);
      return null;
    }
    const pathname = pathnameOf(req.url);
    const found = pathname === undefined ? undefined : match(this.socketRoutes, pathname);
    if (found === undefined) {
      this.wss.rejectUpgrade(req, socket, 404, 'Not Found');
      return null;
    }
    try {
      const handler = found.route.factory(req, found.params);
      if (!handler.checkOrigin(req.headers.origin)) {
        this.wss.rejectUpgrade(req, socket, 403, 'Origin not allowed');
        return null;
      }
      return { handler, identify: found.route.identify };
    } catch (err) {
      this.logError(`upgrade ${pathname ?? ''}`, err);
      this.wss.rejectUpgrade(req, socket, 500, 'Internal Server Error');
      return null;
    }
  }

  /**
   * Uses an existing server for this app's routes: an HTTP(S) server, or an `http2.createSecureServer()` (with
   * `allowHTTP1: true` for HTTP/1.1 clients), whose WebSockets may then also be HTTP/2 streams (RFC 8441).
   */
  attach(server: Server | Http2SecureServer): this {
    this.server = server;
    server.on('request', this.handleRequest);
    server.on('upgrade', this.handleUpgrade);
    if (isHttp2Server(server)) {
      server.updateSettings({ enableConnectProtocol: true });
      server.on('connect', this.onConnect);
      server.on('stream', this.handleStream);
      server.on('session', (session: Http2Session) => {
        this.sessions.add(session);
        session.once('close', () => this.sessions.delete(session));
      });
    }
    return this;
  }

  /**
   * Creates a server for the app and resolves with it once it listens. Port 0 picks a free port. With `tls`
   * (key, cert, ...): HTTPS over HTTP/2 and HTTP/1.1 on one port (ALPN), WebSockets over either (RFC 8441 on
   * HTTP/2, so a browser on an HTTP/2 page opens them on the page's connection).
   */
  listen(port?: number, host?: string): Promise<Server>;
  listen(port: number, host: string, options: { tls: SecureServerOptions }): Promise<Http2SecureServer>;
  listen(port = 0, host = '127.0.0.1', options: { tls?: SecureServerOptions } = {}): Promise<Server | Http2SecureServer> {
    this.hostAllowed = createHostCheck(this.allowedHosts, [host]); // the name it is bound with is one of its names
    const server = options.tls ? createSecureServer({ ...options.tls, allowHTTP1: true, settings: { ...options.tls.settings, enableConnectProtocol: true } }) : createServer();
    this.attach(server);
    return new Promise<Server | Http2SecureServer>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.logError('http.Server', err));
        resolve(server);
      });
    });
  }

  /**
   * Graceful shutdown: stops accepting connections and messages, lets the handlers finish what they
   * are doing (so an accepted message is stored and acknowledged), closes the WebSockets with `code`,
   * then closes the HTTP server. Safe to call more than once.
   */
  close(options: AppCloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(options.code ?? 1001, options.timeoutMs ?? 5000);
    return this.closing;
  }

  private async shutdown(code: 1001 | 1012, timeoutMs: number): Promise<void> {
    this.accepting = false;
    this.acceptingMessages = false;
    const server = this.server as (Server & Partial<Http2SecureServer>) | undefined;
    const serverClosed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    server?.closeIdleConnections?.();
    await this.whenIdle(timeoutMs);
    await this.wss.close({ code, timeout: timeoutMs });
    server?.closeAllConnections?.();
    // HTTP/2: GOAWAY now that the WebSockets are closed; sessions still open when the time is up are destroyed.
    for (const session of this.sessions) session.close();
    await withTimeout(serverClosed, timeoutMs);
    for (const session of this.sessions) session.destroy();
  }

  private whenIdle(timeoutMs: number): Promise<void> {
    if (this.tasks === 0) return Promise.resolve();
    return withTimeout(new Promise<void>((resolve) => this.idleWaiters.push(resolve)), timeoutMs);
  }

  /** @internal HandlerHost */
  taskStarted(): void {
    this.tasks++;
  }

  /** @internal HandlerHost */
  taskSettled(): void {
    this.tasks--;
    if (this.tasks === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** @internal HandlerHost */
  reportError(error: unknown, context: string): void {
    this.logError(context, error);
  }
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
