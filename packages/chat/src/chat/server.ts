/**
 * The chat server: the page (src/web/public) at `/`, the chat WebSocket at `/chat`, history in SQLite.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { App } from 'wireroom/app';
import { InProcessBroker, type Broker } from 'wireroom/app';
import type { DeflateCodecOptions } from 'wireroom';
import type { ChatServices } from './chat-handler.js';
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

/** Starts the chat server; resolves once it listens. */
export async function startChatServer(options: ChatServerOptions = {}): Promise<ChatServer> {
  const limits: ChatLimits = Object.freeze({ ...defaultLimits, ...options.limits });
  const publicUrl = options.publicUrl !== undefined ? new URL(options.publicUrl) : undefined;
  const allowedHosts = [...(options.allowedHosts ?? []), ...(publicUrl ? [publicUrl.host] : [])];
  const logError = options.logError ?? ((context: string, error: unknown) => console.error(`wireroom chat: ${context}:`, error));
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
    .static('/', options.publicDir ?? defaultPublicDir, { headers: { 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'Referrer-Policy': 'no-referrer' } });

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
