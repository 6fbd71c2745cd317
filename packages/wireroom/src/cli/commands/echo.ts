/**
 * `wireroom echo`: an echo server for conformance suites and benchmarks. Every path echoes (text as text,
 * binary as binary) except /broadcast, where every message goes to every /broadcast connection, sender
 * included. It prints nothing per message and adds nothing to the protocol.
 */
import { readFileSync } from 'node:fs';
import { WebSocketServer } from '../../server/websocket-server.js';
import type { WebSocket } from '../../connection/websocket.js';
import { intFlag, parseFlags, sizeFlag, UsageError } from '../flags.js';

/**
 * A conformance target must pass every Autobahn case as the suite sends it. The largest messages of 9.x are
 * 16 MiB (9.1.6, 9.2.6: one frame; frames follow --max-message, 64 MiB) and 4 MiB in 64-byte fragments
 * (9.3.1, 9.4.1): 65,536 full frames plus an empty final continuation, 65,537 frames. 1,048,576 fragments leaves
 * room for 1-byte fragments of 1 MiB. The library's own defaults (1 MiB, 4096 fragments) stay as they are.
 */
export const ECHO_MAX_FRAGMENTS = 1 << 20;
export const ECHO_MAX_MESSAGE = 64 * 1024 * 1024;

export const help = `Usage: wireroom echo [flags]

Echo server: every path echoes each message back (text as text, binary as binary), except
/broadcast, which sends each message to every connection on /broadcast (sender included).

Flags:
  --port <n>              port to listen on (default 9001; also $PORT)
  --host <addr>           address to bind (default 127.0.0.1)
  --max-message <size>    largest message, e.g. 64M (default 64M: a test target accepts big messages)
  --max-fragments <n>     most fragments per message (default 1048576: Autobahn 9.x sends 4 MiB
                          in 65,537 frames; the library's own default is 4096)
  --no-deflate            do not negotiate permessage-deflate (negotiated by default)
  --heartbeat <ms>        ping interval, 0 to disable (default 0: load tests measure only echo work)
  --any-origin            accept every Origin (default: same-origin or no Origin)
  --tls-cert <file>       serve wss:// with this PEM certificate (with --tls-key), over HTTP/2
                          (RFC 8441 extended CONNECT, ALPN h2) and HTTP/1.1 on the same port
  --tls-key <file>        the PEM private key of --tls-cert
  -h, --help              show this help`;

export async function run(argv: string[]): Promise<number> {
  let flags;
  try {
    flags = parseFlags(argv, {
      port: { type: 'string' }, host: { type: 'string' }, 'max-message': { type: 'string' },
      'max-fragments': { type: 'string' }, 'no-deflate': { type: 'boolean' }, heartbeat: { type: 'string' },
      'any-origin': { type: 'boolean' }, 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' },
    });
    const certFile = flags['tls-cert'];
    const keyFile = flags['tls-key'];
    if ((typeof certFile === 'string') !== (typeof keyFile === 'string')) throw new UsageError('--tls-cert and --tls-key go together');
    let tls: { cert: Buffer; key: Buffer } | null = null;
    if (typeof certFile === 'string' && typeof keyFile === 'string') {
      try {
        tls = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
      } catch (error) {
        throw new UsageError(`cannot read the TLS files: ${(error as Error).message}`);
      }
    }
    const port = intFlag(flags.port ?? process.env.PORT, 'port', 9001, 0, 65535);
    const host = typeof flags.host === 'string' ? flags.host : '127.0.0.1';
    const maxMessageSize = sizeFlag(flags['max-message'], 'max-message', ECHO_MAX_MESSAGE);
    const maxFragments = intFlag(flags['max-fragments'], 'max-fragments', ECHO_MAX_FRAGMENTS, 1, 1 << 30);
    const heartbeatInterval = intFlag(flags.heartbeat, 'heartbeat', 0, 0, 86_400_000);
    return await serve({ port, host, maxMessageSize, maxFragments, heartbeatInterval, deflate: flags['no-deflate'] !== true, anyOrigin: flags['any-origin'] === true, tls });
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`wireroom echo: ${error.message}\n\n${help}`);
      return 2;
    }
    throw error;
  }
}

interface EchoConfig {
  port: number; host: string; maxMessageSize: number; maxFragments: number; heartbeatInterval: number; deflate: boolean; anyOrigin: boolean;
  tls: { cert: Buffer; key: Buffer } | null;
}

const AS_BINARY = { binary: true };
const AS_TEXT = { binary: false };

function echo(this: WebSocket, data: Buffer, isBinary: boolean): void {
  this.send(data, isBinary ? AS_BINARY : AS_TEXT);
}

function serve(config: EchoConfig): Promise<number> {
  return new Promise((resolve) => {
    const room = new Set<WebSocket>();
    const server = new WebSocketServer({
      port: config.port,
      host: config.host,
      backlog: 4096,
      ...(config.tls ? { tls: config.tls, http2: true } : {}),
      maxMessageSize: config.maxMessageSize,
      maxFragments: config.maxFragments,
      heartbeatInterval: config.heartbeatInterval,
      perMessageDeflate: config.deflate,
      allowOrigin: config.anyOrigin ? '*' : 'same-origin',
      maxConnections: 1_000_000,
      // Room for the echo of the largest message, no more: reading pauses at the high-water mark, so an echo
      // never queues more than one message's answer, and a /broadcast listener that stops reading is closed
      // (1008) once it holds this much.
      maxBufferedAmount: config.maxMessageSize + 1024 * 1024,
    });
    // Listeners are shared functions (`this` is the connection): no closures per connection.
    function relay(data: Buffer, isBinary: boolean): void {
      server.broadcast(room, data, isBinary ? AS_BINARY : AS_TEXT);
    }
    function leave(this: WebSocket): void {
      room.delete(this);
    }
    server.on('connection', (ws: WebSocket, request: { url?: string }) => {
      if (request.url === '/broadcast') {
        room.add(ws);
        ws.on('close', leave);
        ws.on('message', relay);
      } else {
        ws.on('message', echo);
      }
    });
    server.on('error', (error: Error) => {
      console.error(`wireroom echo: ${error.message}`);
      resolve(1);
    });
    server.on('listening', () => {
      const address = server.address();
      const scheme = config.tls ? 'wss' : 'ws';
      const transports = config.tls ? ', HTTP/2 and HTTP/1.1' : '';
      console.log(`wireroom echo listening on ${scheme}://${config.host}:${address?.port ?? config.port} (deflate ${config.deflate ? 'on' : 'off'}${transports}) node ${process.version}`);
    });
    const stop = (): void => {
      void server.close({ timeout: 2000 }).then(() => resolve(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
