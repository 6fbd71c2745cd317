/**
 * `wireroom chat`: runs the chat server until SIGINT/SIGTERM, then shuts down gracefully (clients are
 * told with a close code, accepted messages are stored, the database is closed).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseCidrList } from 'wireroom';
import { isClusterPrimary, joinCluster, runClusterPrimary, shutdownSignals } from '../../chat/cluster.js';
import type { RedisChat } from '../../chat/redis/redis-chat.js';
import { startChatServer, type ChatServer } from '../../chat/server.js';
import { intFlag, UsageError } from '../flags.js';

export const help = `Usage: wireroom-chat [flags]

Runs the chat server: the page at http://HOST:PORT/ and the WebSocket endpoint at ws://HOST:PORT/chat,
with the history in a SQLite file. Stops cleanly on Ctrl-C (SIGINT) or SIGTERM.

Flags:
  --port <n>              port to listen on (default 8888; also $PORT)
  --host <addr>           address to bind (default 127.0.0.1; use 0.0.0.0 or :: behind a proxy)
  --db <file>             SQLite database file, created with its directory (default ./data/chat.db)
  --synchronous <mode>    full (default: an ack survives power loss) or normal (survives crashes only)
  --allow-origin <url>    also accept browser pages from this origin (repeatable), e.g. https://chat.example.com
  --public-url <url>      the URL users open behind a proxy, e.g. https://chat.example.com: its host name is
                          answered to and its origin accepted
  --allowed-hosts <list>  more Host names to answer to, comma-separated (.example.com: a domain and its
                          subdomains; * for any). By default only IP addresses, localhost (on loopback) and
                          the --host name are: other names get 421 (DNS rebinding protection)
  --public <dir>          serve the page from this directory (default: the bundled page)
  --heartbeat <ms>        protocol ping interval, 0 to disable (default 20000)
  --no-deflate            do not negotiate permessage-deflate (negotiated by default: chat JSON
                          crosses about 3x smaller; costs CPU per message, little memory when idle)
  --redis <url>           share the chat through Redis (redis://host:port/db): history, fan-out and
                          presence; run as many processes as you like (docs/scale-out.md)
  --workers <n>           fork n worker processes sharing the port (node:cluster); needs --redis
  --history-limit <n>     keep at most n messages per room (the newest), in SQLite or Redis (default: all)
  --history-days <d>      remove messages older than d days (decimals allowed, e.g. 0.5; default: never)
  --tls-cert <file>       serve https:// and wss:// with this PEM certificate (with --tls-key): HTTP/2 and
                          HTTP/1.1 on one port; browsers on the HTTP/2 page open the WebSocket as a stream
                          of the page's connection (RFC 8441)
  --tls-key <file>        the PEM private key of --tls-cert
  --secret-file <file>    keys signing the session cookies, one per line, the first signs (rotation: add a
                          new first line; remove an old key once its cookies expired). Default: generated
                          on first start as session-secret next to --db (mode 0600). Must not be readable
                          by group or others. Processes sharing a chat through Redis need the same file
  --trust-user-header <h> take the user from this request header set by an authenticating reverse proxy
                          (e.g. X-Forwarded-User from oauth2-proxy) instead of issuing sessions; needs
                          --trusted-proxies
  --trusted-proxies <l>   addresses or CIDRs of that proxy, comma-separated (e.g. 127.0.0.1,10.0.0.0/8):
                          a WebSocket from any other address is refused with 403
  -h, --help              show this help`;

interface ChatConfig {
  readonly port: number;
  readonly host: string;
  readonly dbPath: string;
  readonly synchronous: 'FULL' | 'NORMAL';
  readonly allowedOrigins: string[];
  readonly allowedHosts: string[];
  readonly publicUrl: string | undefined;
  readonly publicDir: string | undefined;
  readonly heartbeatInterval: number;
  readonly deflate: boolean;
  readonly redisUrl: string | undefined;
  readonly workers: number;
  readonly historyLimit: number | undefined;
  readonly historyMaxAgeMs: number | undefined;
  readonly tls: { cert: Buffer; key: Buffer } | undefined;
  readonly secretFile: string | undefined;
  readonly trustUserHeader: { header: string; trustedProxies: string[] } | undefined;
}

function parse(argv: string[]): ChatConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' }, host: { type: 'string' }, db: { type: 'string' }, synchronous: { type: 'string' },
        'allow-origin': { type: 'string', multiple: true }, public: { type: 'string' }, heartbeat: { type: 'string' },
        redis: { type: 'string' }, workers: { type: 'string' }, 'no-deflate': { type: 'boolean' },
        'history-limit': { type: 'string' }, 'history-days': { type: 'string' },
        'public-url': { type: 'string' }, 'allowed-hosts': { type: 'string', multiple: true },
        'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' },
        'secret-file': { type: 'string' }, 'trust-user-header': { type: 'string' }, 'trusted-proxies': { type: 'string', multiple: true },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const text = (v: string | undefined, name: string): string | undefined => {
    if (v !== undefined && v.length === 0) throw new UsageError(`--${name} needs a value`);
    return v;
  };
  const allowedOrigins = values['allow-origin'] ?? [];
  for (const origin of allowedOrigins) {
    if (!/^https?:\/\/[^/\s]+$/i.test(origin)) throw new UsageError(`--allow-origin needs an origin such as https://chat.example.com, got '${origin}'`);
  }
  const publicUrl = text(values['public-url'], 'public-url');
  if (publicUrl !== undefined && !/^https?:\/\/[^/\s]+\/?$/i.test(publicUrl)) throw new UsageError(`--public-url needs a URL such as https://chat.example.com, got '${publicUrl}'`);
  const allowedHosts = (values['allowed-hosts'] ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  for (const h of allowedHosts) {
    if (h !== '*' && !/^\.?[a-z0-9.-]+(:\d{1,5})?$/i.test(h) && !/^\[[0-9a-f:.]+\](:\d{1,5})?$/i.test(h)) throw new UsageError(`--allowed-hosts needs host names such as chat.example.com or .example.com, got '${h}'`);
  }
  const synchronous = (text(values.synchronous, 'synchronous') ?? 'full').toUpperCase();
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL') throw new UsageError(`--synchronous must be full or normal, got '${values.synchronous ?? ''}'`);
  const redisUrl = text(values.redis, 'redis');
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/i.test(redisUrl)) throw new UsageError(`--redis needs a URL such as redis://127.0.0.1:6379/0, got '${redisUrl}'`);
  const workers = intFlag(values.workers, 'workers', 1, 1, 1024);
  if (workers > 1 && redisUrl === undefined) throw new UsageError('--workers needs --redis: workers share the chat through Redis');
  const historyLimit = values['history-limit'] === undefined ? undefined : intFlag(values['history-limit'], 'history-limit', 0, 1, Number.MAX_SAFE_INTEGER);
  const days = values['history-days'];
  let historyMaxAgeMs: number | undefined;
  if (days !== undefined) {
    const d = Number(days);
    if (!/^\d+(\.\d+)?$/.test(days) || !(d > 0) || d > 100_000) throw new UsageError(`--history-days must be a number of days above 0, got '${days}'`);
    historyMaxAgeMs = Math.round(d * 86_400_000);
  }
  const certFile = text(values['tls-cert'], 'tls-cert');
  const keyFile = text(values['tls-key'], 'tls-key');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (certFile !== undefined && keyFile !== undefined) {
    try {
      tls = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
    } catch (error) {
      throw new UsageError(`cannot read the TLS files: ${(error as Error).message}`);
    }
  }
  const header = text(values['trust-user-header'], 'trust-user-header');
  const trustedProxies = (values['trusted-proxies'] ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (header !== undefined && !/^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(header)) throw new UsageError(`--trust-user-header needs a header name such as X-Forwarded-User, got '${header}'`);
  if (header !== undefined && trustedProxies.length === 0) throw new UsageError('--trust-user-header needs --trusted-proxies: the addresses of the proxy that sets it');
  if (header === undefined && trustedProxies.length > 0) throw new UsageError('--trusted-proxies goes with --trust-user-header');
  if (trustedProxies.length > 0) {
    try {
      parseCidrList(trustedProxies);
    } catch (error) {
      throw new UsageError(`--trusted-proxies needs addresses or CIDRs such as 127.0.0.1,10.0.0.0/8: ${(error as Error).message}`);
    }
  }
  const secretFile = text(values['secret-file'], 'secret-file');
  if (secretFile !== undefined && header !== undefined) throw new UsageError('--secret-file signs sessions, which --trust-user-header does not use');
  return {
    tls,
    secretFile,
    trustUserHeader: header === undefined ? undefined : { header: header.toLowerCase(), trustedProxies },
    redisUrl,
    workers,
    historyLimit,
    historyMaxAgeMs,
    port: intFlag(values.port ?? process.env.PORT, 'port', 8888, 0, 65535),
    host: text(values.host, 'host') ?? '127.0.0.1',
    dbPath: text(values.db, 'db') ?? './data/chat.db',
    synchronous,
    allowedOrigins,
    allowedHosts,
    publicUrl,
    publicDir: text(values.public, 'public'),
    heartbeatInterval: intFlag(values.heartbeat, 'heartbeat', 20_000, 0, 86_400_000),
    deflate: values['no-deflate'] !== true,
  };
}

/** Runs `wireroom chat`; resolves with the exit code once the server has shut down. */
export async function run(argv: string[]): Promise<number> {
  let config: ChatConfig;
  try {
    config = parse(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`wireroom chat: ${error.message}\n\n${help}`);
      return 2;
    }
    throw error;
  }

  if (config.workers > 1 && isClusterPrimary()) return runClusterPrimary({ workers: config.workers });

  let redis: RedisChat | undefined;
  let server: ChatServer;
  const retention = {
    ...(config.historyLimit !== undefined && { historyLimit: config.historyLimit }),
    ...(config.historyMaxAgeMs !== undefined && { historyMaxAgeMs: config.historyMaxAgeMs }),
  };
  try {
    if (config.redisUrl !== undefined) {
      // Loaded only when asked for: the SQLite-only chat never loads ioredis.
      const { createRedisChat } = await import('../../chat/redis/redis-chat.js');
      redis = await createRedisChat({ url: config.redisUrl, ...retention });
    }
    server = await startChatServer({
      port: config.port,
      host: config.host,
      dbPath: config.dbPath,
      synchronous: config.synchronous,
      retention,
      allowedOrigins: config.allowedOrigins,
      allowedHosts: config.allowedHosts,
      ...(config.publicUrl !== undefined && { publicUrl: config.publicUrl }),
      heartbeatInterval: config.heartbeatInterval,
      perMessageDeflate: config.deflate,
      ...(config.publicDir !== undefined && { publicDir: config.publicDir }),
      ...(redis !== undefined && redis.serverOptions()),
      ...(config.workers > 1 && { cluster: joinCluster() }),
      ...(config.tls !== undefined && { tls: config.tls }),
      ...(config.secretFile !== undefined && { secretFile: config.secretFile }),
      ...(config.trustUserHeader !== undefined && { trustUserHeader: config.trustUserHeader }),
    });
  } catch (error) {
    await redis?.close();
    const e = error as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${config.port} on ${config.host} is already in use` : e.message;
    console.error(`wireroom chat: cannot start: ${why}`);
    return 1;
  }
  const where = config.redisUrl !== undefined ? `shared through Redis at ${config.redisUrl.replace(/\/\/[^@/]*@/, '//***@')}` : `history in ${config.dbPath}`;
  console.log(`wireroom chat: ${server.url}/ (WebSocket ${server.url.replace(/^http/, 'ws')}/chat, deflate ${config.deflate ? 'on' : 'off'}), ${where}`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        // A second Ctrl-C: the user does not want to wait. Committed messages are safe anyway.
        console.error('wireroom chat: forced exit');
        process.exit(130);
      }
      stopping = true;
      console.log(`wireroom chat: ${signal}: shutting down`);
      // SIGTERM usually means a restart by a supervisor: 1012 tells clients to come back soon.
      server.close({ code: signal === 'SIGTERM' ? 1012 : 1001 }).then(
        () => resolve(0),
        (error: unknown) => {
          console.error('wireroom chat: shutdown failed:', error);
          resolve(1);
        },
      );
    };
    for (const signal of shutdownSignals()) process.on(signal, stop);
  });
}
