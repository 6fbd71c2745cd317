/**
 * The chat's shared state on Redis: store, broker and presence over two connections per process (one
 * for commands, one subscriber). `startChatServer({ ...createRedisChat(...) })` needs nothing else.
 */
import type { Redis } from 'ioredis';
import type { Broker } from 'wireroom/app';
import { ChatMetrics } from '../metrics.js';
import type { PresenceRegistry } from '../presence.js';
import type { ChatStore } from '../store.js';
import { closeRedis, openRedis, whenReady, type RedisConnectionOptions } from './connection.js';
import { RedisChatBroker } from './redis-broker.js';
import { RedisPresence } from './redis-presence.js';
import { RedisChatStore } from './redis-store.js';

export { RedisChatBroker } from './redis-broker.js';
export { RedisPresence } from './redis-presence.js';
export { RedisChatStore } from './redis-store.js';

/** Options of createRedisChat. */
export interface RedisChatOptions extends RedisConnectionOptions {
  /** Key prefix, e.g. to share one Redis between chats. Default `wr:`. */
  readonly prefix?: string;
  /** How long a clientId is remembered for deduplication. Default 7 days (at most `historyMaxAgeMs`). */
  readonly dedupeTtlSeconds?: number;
  /** Messages kept per room (trimmed stream, dedupe keys removed with their entries). Default: all. */
  readonly historyLimit?: number;
  /** Messages older than this (ms) are removed; the log and dedupe keys of an idle room expire. Default: never. */
  readonly historyMaxAgeMs?: number;
  /** A member of a crashed process disappears after this long. Default $WIREROOM_PRESENCE_TTL_MS or 30,000 ms. */
  readonly presenceTtlMs?: number;
  /** Probe of the subscriber connection (and broker round-trip measure). Default 5,000 ms. */
  readonly probeIntervalMs?: number;
  /** Wait this long for Redis at startup; afterwards the server starts degraded and recovers when Redis comes. Default 5,000 ms. */
  readonly startupTimeoutMs?: number;
  /** Receives the broker round-trip times and recoveries; default: a fresh one, handed on by serverOptions(). */
  readonly metrics?: ChatMetrics;
}

/** Health as reported by /healthz. */
export interface RedisHealth {
  readonly redis: 'up' | 'down';
  readonly command: string;
  readonly subscriber: string;
}

export interface RedisChat {
  readonly store: RedisChatStore;
  readonly broker: RedisChatBroker;
  readonly presence: RedisPresence;
  /** Both connections ready. */
  health(): RedisHealth;
  readonly metrics: ChatMetrics;
  /** The store, broker, presence, health and metrics for `startChatServer`. */
  serverOptions(): { store: ChatStore; broker: Broker; presence: PresenceRegistry; metrics: ChatMetrics; health: () => { ok: boolean; redis: string } };
  /** Closing the broker (last step of ChatServer.close()) closes the rest: presence, then the connections. */
  close(): Promise<void>;
}

/** Connects to Redis and builds the store, broker and presence of one process. */
export async function createRedisChat(options: RedisChatOptions): Promise<RedisChat> {
  const log = options.logError ?? ((context: string, error: unknown) => console.error(`wireroom chat: ${context}:`, error));
  const connection = { ...options, logError: log };
  const command: Redis = openRedis('command', connection);
  const subscriber: Redis = openRedis('subscriber', connection);
  try {
    await Promise.all([whenReady(command, options.startupTimeoutMs ?? 5000), whenReady(subscriber, options.startupTimeoutMs ?? 5000)]);
  } catch (err) {
    log('redis', new Error(`starting without Redis (${(err as Error).message}): sends fail with STORAGE_UNAVAILABLE until it is reachable`));
  }
  const prefix = options.prefix ?? 'wr:';
  const store = new RedisChatStore(command, {
    prefix,
    ...(options.dedupeTtlSeconds !== undefined && { dedupeTtlSeconds: options.dedupeTtlSeconds }),
    ...(options.historyLimit !== undefined && { historyLimit: options.historyLimit }),
    ...(options.historyMaxAgeMs !== undefined && { historyMaxAgeMs: options.historyMaxAgeMs }),
  });
  // WIREROOM_PRESENCE_TTL_MS: a deployment knob (and what the tests use to see expiry quickly).
  const ttlFromEnv = Number(process.env.WIREROOM_PRESENCE_TTL_MS);
  const presenceTtlMs = options.presenceTtlMs ?? (Number.isSafeInteger(ttlFromEnv) && ttlFromEnv >= 300 ? ttlFromEnv : undefined);
  const presence = new RedisPresence(command, { prefix, logError: log, ...(presenceTtlMs !== undefined && { ttlMs: presenceTtlMs }) });
  let closing: Promise<void> | undefined;
  const closeAll = (): Promise<void> => {
    closing ??= (async () => {
      await presence.close();
      await store.close();
      await Promise.all([closeRedis(command), closeRedis(subscriber)]);
    })();
    return closing;
  };
  const metrics = options.metrics ?? new ChatMetrics();
  const broker = new RedisChatBroker(command, subscriber, {
    prefix,
    logError: log,
    ...(options.probeIntervalMs !== undefined && { probeIntervalMs: options.probeIntervalMs }),
    onRoundTrip: (ms: number) => metrics.observeRoundTrip(ms),
    onRecovered: (n: number) => {
      metrics.brokerRecovered += n;
    },
    onClose: closeAll,
  });
  const health = (): RedisHealth => ({
    redis: command.status === 'ready' && subscriber.status === 'ready' ? 'up' : 'down',
    command: command.status,
    subscriber: subscriber.status,
  });
  metrics.addGauge('wireroom_redis_up', 'Both Redis connections of this process are ready (1) or not (0).', () => (health().redis === 'up' ? 1 : 0), 'min');
  return {
    store,
    broker,
    presence,
    metrics,
    health,
    serverOptions: () => ({
      store, broker, presence, metrics,
      health: () => {
        const h = health();
        return { ok: h.redis === 'up', redis: h.redis };
      },
    }),
    close: async () => {
      await broker.close();
      await closeAll();
    },
  };
}
