/**
 * The Redis connections of one chat process, with the failure behaviour the chat needs: commands fail
 * fast while Redis is unreachable (no offline queue: a message is refused, never parked in memory and
 * acknowledged later), and the connection comes back by itself when Redis returns.
 */
import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';

/** Options shared by the command and subscriber connections. */
export interface RedisConnectionOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  readonly url: string;
  /** A command without a reply after this long fails (the chat answers STORAGE_UNAVAILABLE). Default 2,000 ms. */
  readonly commandTimeoutMs?: number;
  /** Connecting gives up after this long, then retries. Default 2,000 ms. */
  readonly connectTimeoutMs?: number;
  /** Longest pause between reconnection attempts. Default 1,000 ms. */
  readonly maxReconnectDelayMs?: number;
  /** Where connection errors are reported (rate limited to one line per state change). */
  readonly logError?: (context: string, error: unknown) => void;
}

/** Opens one ioredis connection for `role`; it connects in the background and reconnects forever. */
export function openRedis(role: 'command' | 'subscriber', options: RedisConnectionOptions): Redis {
  const maxDelay = options.maxReconnectDelayMs ?? 1000;
  const redisOptions: RedisOptions = {
    connectionName: `wireroom-${role}-${hostname()}-${process.pid}`,
    // Fail fast instead of queueing: while Redis is down nothing is accepted that cannot be stored.
    enableOfflineQueue: false,
    // A command in flight when the connection drops fails instead of being retried later, unseen.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // The broker resubscribes itself, so that it can also catch up on what it missed meanwhile.
    autoResubscribe: false,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    ...(role === 'command' && { commandTimeout: options.commandTimeoutMs ?? 2000 }),
    // Exponential backoff with jitter, capped: every process does not hammer a recovering Redis at once.
    retryStrategy: (times: number) => Math.round(Math.min(maxDelay, 25 * 2 ** Math.min(times, 10)) * (0.5 + Math.random() / 2)),
    // A failover turns the primary into a replica: reconnect (to the new primary behind the same address).
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
    keepAlive: 10_000,
  };
  const redis = new Redis(options.url, redisOptions);
  let lastLogged = '';
  redis.on('error', (err: Error) => {
    // ioredis emits an error on every failed reconnection attempt: log each distinct one once.
    const line = `${err.name}: ${err.message}`;
    if (line === lastLogged) return;
    lastLogged = line;
    options.logError?.(`redis ${role}`, err);
  });
  redis.on('ready', () => {
    lastLogged = '';
  });
  return redis;
}

/** Resolves once `redis` is ready, or rejects after `timeoutMs`. */
export function whenReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis not ready after ${timeoutMs} ms (status ${redis.status})`));
    }, timeoutMs);
    timer.unref();
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

/** Closes a connection: QUIT when connected (replies flushed), otherwise just disconnects. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status === 'ready') {
    try {
      await redis.quit();
      return;
    } catch {
      // fall through
    }
  }
  redis.disconnect();
}
