/**
 * The chat server: the page (src/web/public) at `/`, the chat WebSocket at `/chat`, history in SQLite.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { App, InProcessBroker, SessionCookie, isRefusal, isSecureRequest, refuse, sendText, staticFiles, type Broker, type IdentifyHook } from 'wireroom/app';
import { trustedHeaderIdentity, type DeflateCodecOptions } from 'wireroom';
import type { ChatIdentity, ChatServices } from './chat-handler.js';
import { decodeProxyUser, defaultSecretPath, loadOrCreateSecret, newSessionId, readSecretFile, uidOfProxyUser, uidOfSession } from './identity.js';
import type { ClusterPeer } from './cluster.js';
import { defaultLimits, type ChatLimits } from './limits.js';
import { ChatMetrics } from './metrics.js';
import { InProcessPresence, type PresenceRegistry } from './presence.js';
import { SqliteChatStore } from './sqlite-store.js';
import type { ChatStore, RetentionOptions } from './store.js';

/** Options of `startChatServer`. */
export interface ChatServerOptions {
  /** Default 8888; 0 picks a free port. */
  readonly port?: number;
  /** Default 127.0.0.1 (loopback only: put a TLS reverse proxy in front to serve others). */
  readonly host?: string;
  /** SQLite file, its directory created if needed. Default `./data/chat.db`. Ignored when `store` is given. */
  readonly dbPath?: string;
  /** `FULL` (default): an ack survives power loss; `NORMAL`: survives process crashes only. */
  readonly synchronous?: 'FULL' | 'NORMAL';
  /** Retention of the SQLite store (`historyLimit` messages per room, `historyMaxAgeMs`). Ignored when `store` is given. */
  readonly retention?: RetentionOptions;
  /** Directory of the page. Default: the package's `src/web/public`. */
  readonly publicDir?: string;
  /** Overrides of the default limits. */
  readonly limits?: Partial<ChatLimits>;
  /** Browser origins allowed besides same-origin, e.g. `['https://chat.example.com']`. */
  readonly allowedOrigins?: readonly string[];
  /**
   * Host names the server answers to besides the default ones (IP literals, `localhost` on loopback, the bound
   * host): e.g. `['chat.example.com']`, `['.example.com']` for a domain and its subdomains, `['*']` for any.
   * Other names get 421 on every request and upgrade (DNS rebinding protection, docs/security.md).
   */
  readonly allowedHosts?: readonly string[];
  /** The URL users reach the server at behind a proxy, e.g. `https://chat.example.com`: its host is allowed (Host check) and its origin too (Origin check). */
  readonly publicUrl?: string;
  /** Protocol-level ping interval in ms (0 disables). Default 20,000. */
  readonly heartbeatInterval?: number;
  /**
   * permessage-deflate, negotiated with every browser that offers it (all do). Default on: chat JSON
   * compresses about 3:1 with context takeover, and idle connections keep only their windows, not
   * their zlib contexts (docs/compression.md). `false` turns it off (less CPU per message, more bytes);
   * an object sets the options (windows, level, `hibernateAfterMs`, ...).
   */
  readonly perMessageDeflate?: boolean | DeflateCodecOptions;
  /** Storage, broker and presence can be replaced (e.g. Redis-backed ones for several processes). */
  readonly store?: ChatStore;
  readonly broker?: Broker;
  readonly presence?: PresenceRegistry;
  /** Health of shared services for `/healthz` (e.g. `{ ok: false, redis: 'down' }`); not ok answers 503. */
  readonly health?: () => { readonly ok: boolean; readonly [detail: string]: unknown };
  /**
   * In a `--workers` cluster worker: `/metrics` and `/healthz` then describe every worker (gathered through the
   * primary), whichever worker answers the request. See `joinCluster()`.
   */
  readonly cluster?: ClusterPeer;
  /** Where `/metrics` counts come from; default: a fresh ChatMetrics. */
  readonly metrics?: ChatMetrics;
  /** Where handler errors are reported. Default: stderr. */
  readonly logError?: (context: string, error: unknown) => void;
  /**
   * Serve HTTPS with this PEM certificate and key: HTTP/2 and HTTP/1.1 on one port (ALPN). A browser that loads
   * the page over HTTP/2 opens the chat WebSocket as a stream of that connection (RFC 8441); `/metrics` counts
   * WebSockets by transport (`transport="h1"` / `"h2"`).
   */
  readonly tls?: { readonly cert: Buffer | string; readonly key: Buffer | string };
  /**
   * Keys signing the session cookies, first signs, all verify (rotation: put a new key first, drop an old one
   * once its cookies have expired: cookies it signed are then refused). Each at least 32 bytes.
   * Default: the keys of `secretFile`.
   */
  readonly sessionKeys?: readonly (string | Buffer)[];
  /**
   * File holding the session keys, one per line (the first signs). Default: `session-secret` next to `dbPath`,
   * generated on first start (mode 0600). Refused when group or others may access it. Processes sharing a chat
   * (Redis) must share the keys.
   */
  readonly secretFile?: string;
  /** How long a session lasts without a visit, in seconds (each page load renews it). Default 30 days. */
  readonly sessionMaxAgeSeconds?: number;
  /**
   * Identity from an authenticating reverse proxy (e.g. oauth2-proxy) instead of sessions: the user is the value
   * of `header`, accepted only on connections from `trustedProxies` (IPs or CIDRs); others get 403.
   */
  readonly trustUserHeader?: { readonly header: string; readonly trustedProxies: readonly string[] };
}

/** A running chat server. */
export interface ChatServer {
  /** `http://host:port` (`https://` with `tls`; no trailing slash); the WebSocket endpoint is `${url}/chat` with ws: (wss:). */
  readonly url: string;
  readonly port: number;
  /**
   * Graceful shutdown: stops accepting, lets accepted messages be stored and acknowledged, closes the
   * WebSockets with `code` (1001 going away, default; 1012 service restart), then closes the database.
   */
  close(options?: { code?: 1001 | 1012 }): Promise<void>;
}

const requireCjs = createRequire(import.meta.url);

/** Whether `origin` is the origin of the request's own Host (the page's own site). */
function sameOrigin(origin: string, req: IncomingMessage): boolean {
  try {
    return new URL(origin).host === (req.headers.host ?? '').toLowerCase();
  } catch {
    return false;
  }
}

/** The package version, for `welcome`. Works from src/ (tsx) and from dist/ alike. */
function packageVersion(): string {
  try {
    return `wireroom/${(requireCjs('../../package.json') as { version: string }).version}`;
  } catch {
    return 'wireroom';
  }
}

/** The page's directory: `src/web/public` of the package, from src/chat or dist/chat alike. */
export const defaultPublicDir: string = fileURLToPath(new URL('../../src/web/public/', import.meta.url));

/**
 * Defence in depth against injected markup: even if user text were ever put into the DOM as HTML,
 * no inline script or handler would run. The page uses only its own files, and data: icons.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** The session cookie's name. */
export const SESSION_COOKIE = 'wireroom_chat_session';
const DEFAULT_SESSION_SECONDS = 30 * 24 * 3600;

/** How the chat knows who connects: signed sessions (default) or a trusted proxy's header. */
interface Identities {
  readonly identify: IdentifyHook<ChatIdentity>;
  /** Session mode: the cookie, whose page loads and POST /session issue or renew it. */
  readonly cookie: SessionCookie | undefined;
  readonly maxAgeSeconds: number;
}

function setUpIdentities(options: ChatServerOptions): Identities {
  const maxAgeSeconds = options.sessionMaxAgeSeconds ?? DEFAULT_SESSION_SECONDS;
  if (options.trustUserHeader !== undefined) {
    const fromHeader = trustedHeaderIdentity(options.trustUserHeader);
    const notUtf8 = `Invalid ${options.trustUserHeader.header} (not UTF-8)`;
    return {
      cookie: undefined,
      maxAgeSeconds,
      identify: async (request) => {
        const raw = await fromHeader(request);
        if (isRefusal(raw)) return raw;
        const user = decodeProxyUser(raw);
        if (user === undefined) return refuse(401, notUtf8);
        // The login is the person and their name (docs/security.md, "Names in proxy mode").
        return { uid: uidOfProxyUser(user), defaultName: user, fixedName: true };
      },
    };
  }
  let keys = options.sessionKeys;
  if (keys === undefined) {
    const dbPath = options.dbPath ?? './data/chat.db';
    keys = options.secretFile !== undefined ? readSecretFile(options.secretFile)
      // A database in memory: so are the keys (sessions end with the process, as the history does).
      : options.store === undefined && dbPath === ':memory:' ? [randomBytes(32)]
      : loadOrCreateSecret(defaultSecretPath(dbPath));
  }
  const cookie = new SessionCookie({ keys: [...keys], name: SESSION_COOKIE, maxAgeSeconds, path: '/', sameSite: 'Lax' });
  const fromCookie = cookie.identify();
  return {
    cookie,
    maxAgeSeconds,
    identify: async (request) => {
      const session = await fromCookie(request);
      if (isRefusal(session)) return session;
      return { uid: uidOfSession(session) };
    },
  };
}

/** Starts the chat server; resolves once it listens. */
export async function startChatServer(options: ChatServerOptions = {}): Promise<ChatServer> {
  const limits: ChatLimits = Object.freeze({ ...defaultLimits, ...options.limits });
  const publicUrl = options.publicUrl !== undefined ? new URL(options.publicUrl) : undefined;
  const allowedHosts = [...(options.allowedHosts ?? []), ...(publicUrl ? [publicUrl.host] : [])];
  const logError = options.logError ?? ((context: string, error: unknown) => console.error(`wireroom chat: ${context}:`, error));
  // Before opening anything: a bad secret file stops the start with its message.
  const identities = setUpIdentities(options);
  const store = options.store ?? SqliteChatStore.open(options.dbPath ?? './data/chat.db', { synchronous: options.synchronous ?? 'FULL', ...options.retention });
  const broker = options.broker ?? new InProcessBroker();
  const services: ChatServices = {
    store,
    broker,
    presence: options.presence ?? new InProcessPresence(),
    limits,
    serverVersion: packageVersion(),
    allowedOrigins: [...(options.allowedOrigins ?? []), ...(publicUrl ? [publicUrl.origin] : [])].map((o) => o.toLowerCase()),
    logError,
  };

  const metrics = options.metrics ?? new ChatMetrics();
  const { cookie } = identities;
  const secureCookie = (req: IncomingMessage): boolean => isSecureRequest(req) || publicUrl?.protocol === 'https:';
  /** The session of a request: its valid cookie's, renewed when old or signed with an older key; else a new one. */
  const session = (req: IncomingMessage, res: ServerResponse, sessionCookie: SessionCookie): string => {
    const read = sessionCookie.read(req);
    const renew = !read.ok || !read.signedWithCurrentKey || read.expiresAt - Date.now() < (identities.maxAgeSeconds * 1000) / 2;
    const id = read.ok ? read.value : newSessionId();
    if (renew) res.setHeader('Set-Cookie', sessionCookie.serialize(id, { secure: secureCookie(req) }));
    return id;
  };
  const pageFiles = staticFiles(options.publicDir ?? defaultPublicDir, { headers: { 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'Referrer-Policy': 'no-referrer' } });
  const allowedOrigins = services.allowedOrigins;
  const { cluster } = options;
  /** This process's health: `status`, the shared services' details, its connections and pid. */
  type LocalHealth = { status: 'ok' | 'degraded'; connections: number; pid: number; [detail: string]: unknown };
  const localHealth = (): LocalHealth => {
    const { ok, ...details } = options.health?.() ?? { ok: true };
    return { status: ok ? 'ok' : 'degraded', ...details, connections: app.clients.size, pid: process.pid };
  };
  const app = new App({
    maxMessageSize: limits.maxFrameBytes,
    maxConnections: limits.maxConnections,
    maxBufferedAmount: limits.maxBufferedBytes,
    ...(options.heartbeatInterval !== undefined && { heartbeatInterval: options.heartbeatInterval }),
    perMessageDeflate: options.perMessageDeflate ?? true,
    logError,
    onRejected: metrics.handshakeRejected,
    ...(allowedHosts.length > 0 && { allowedHosts }),
    identify: identities.identify,
  })
    .websocket('/chat', (req) => metrics.chatHandler(req, services))
    .route('/healthz', async (_req, res) => {
      const own = localHealth();
      let report: Record<string, unknown> = own;
      let ok = own.status === 'ok';
      if (cluster !== undefined) {
        // The whole server: ok when every listening worker answered in time and is ok.
        const gathered = await cluster.gather<LocalHealth>('health').catch(() => undefined);
        const workers = gathered?.reports.map((r) => ({ worker: r.worker, ...(r.data ?? { status: 'unknown', pid: r.pid, connections: 0 }) }))
          ?? [{ worker: cluster.worker, ...own }];
        const missing = gathered?.missing ?? [];
        ok = gathered !== undefined && missing.length === 0 && workers.every((w) => w.status === 'ok');
        report = {
          ...own,
          status: ok ? 'ok' : 'degraded',
          connections: workers.reduce((n, w) => n + (typeof w.connections === 'number' ? w.connections : 0), 0),
          worker: cluster.worker,
          workers: [...workers, ...missing.map((worker) => ({ worker, status: 'no answer' }))],
        };
      }
      const body = JSON.stringify(report);
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
      res.end(res.req.method === 'HEAD' ? undefined : body);
    })
    .route('/metrics', metrics.route)
    .route('/session', (req, res) => {
      // For clients without a page: a session (the one of a valid cookie, else a new one) and its cookie.
      if (cookie === undefined) {
        sendText(res, 404, 'No sessions here: the identity comes from the reverse proxy');
        return;
      }
      if (req.method !== 'POST') {
        sendText(res, 405, 'Method Not Allowed', { Allow: 'POST' });
        return;
      }
      // A page elsewhere must not replace a visitor's session (a cross-site form POST carries an Origin).
      const origin = req.headers.origin;
      if (origin !== undefined && !sameOrigin(origin, req) && !allowedOrigins.includes(origin.toLowerCase())) {
        sendText(res, 403, 'Origin not allowed');
        return;
      }
      const body = JSON.stringify({ id: uidOfSession(session(req, res, cookie)) });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
      res.end(body);
    })
    // The page issues (or renews) the session cookie its WebSocket then presents.
    .route(/^\/(index\.html)?$/, (req, res, params) => {
      if (cookie !== undefined && req.method === 'GET') session(req, res, cookie);
      return pageFiles(req, res, [params[0] ?? '']);
    })
    .route(/^\/(.*)$/, pageFiles);

  let server;
  try {
    server = options.tls
      ? await app.listen(options.port ?? 8888, options.host ?? '127.0.0.1', { tls: { cert: options.tls.cert, key: options.tls.key } })
      : await app.listen(options.port ?? 8888, options.host ?? '127.0.0.1');
  } catch (err) {
    await app.close();
    await store.close();
    await broker.close();
    throw err;
  }
  metrics.setSources({ connections: () => app.clients.size });
  if (cluster !== undefined) {
    // Answer the primary's collects only once listening: before, this worker takes no connections anyway.
    cluster.provide('metrics', () => metrics.families());
    cluster.provide('health', localHealth);
    metrics.setCluster(() => cluster.gather('metrics'), cluster.worker);
  }
  metrics.observeHttpServer(server as Server);
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    url: `${options.tls ? 'https' : 'http'}://${hostForUrl}:${address.port}`,
    port: address.port,
    close(closeOptions = {}) {
      closing ??= (async () => {
        await app.close({ code: closeOptions.code ?? 1001 });
        await store.close(); // commits anything still pending, then closes the file
        await broker.close();
      })();
      return closing;
    },
  };
}
