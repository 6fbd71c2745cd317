/**
 * The ws-compatible surface, thin over the one connection class: `new WebSocket(address, protocols, options)`
 * connects through `connect()`'s machinery (openClient), ws's client options are mapped to ours (or refused with
 * a WireroomError: never silently ignored), and the class carries ws's module shape as statics
 * (`WebSocket.Server`, `WebSocket.WebSocketServer`, `WebSocket.createWebSocketStream`), so that
 * `const WebSocket = require('wireroom'); new WebSocket.Server(...)` works as with ws.
 * Deliberate differences are listed in docs/migrating-from-ws.md.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { CloseCode } from '../protocol/constants.js';
import { ErrorCodes, WireroomError } from '../protocol/errors.js';
import { setClientConnector, WebSocket } from '../connection/websocket.js';
import { openClient, type ConnectOptions } from '../client/connect.js';
import { WebSocketServer } from '../server/websocket-server.js';
import { createWebSocketStream } from './stream.js';

/** ws's client options that `new WebSocket(address, protocols, options)` accepts on top of `ConnectOptions`. */
export interface WsClientOptions extends ConnectOptions {
  /** ws's name for `maxMessageSize` (bytes). ws defaults to 100 MiB, we to 1 MiB. */
  maxPayload?: number;
  /** Only 13 (RFC 6455), as in ws's default. */
  protocolVersion?: number;
  /** Only true: pings are always answered. */
  autoPong?: boolean;
  /** Accepted: our events are always emitted synchronously as each message is parsed. */
  allowSynchronousEvents?: boolean;
  // TLS options as ws takes them (from https.request), passed to `tls`:
  ca?: TlsConnectionOptions['ca'];
  cert?: TlsConnectionOptions['cert'];
  key?: TlsConnectionOptions['key'];
  pfx?: TlsConnectionOptions['pfx'];
  passphrase?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
  checkServerIdentity?: TlsConnectionOptions['checkServerIdentity'];
  ciphers?: string;
  minVersion?: TlsConnectionOptions['minVersion'];
  maxVersion?: TlsConnectionOptions['maxVersion'];
  secureContext?: TlsConnectionOptions['secureContext'];
}

const OWN_KEYS = new Set([
  'protocols', 'headers', 'origin', 'handshakeTimeout', 'perMessageDeflate', 'tls', 'followRedirects', 'maxRedirects',
  'heartbeatInterval', 'heartbeatTimeout', 'highWaterMark', 'maxBufferedAmount', 'backpressure', 'backpressureCloseCode',
  'closeTimeout', 'maxMessageSize', 'maxFrameSize', 'maxFragments', 'http2',
]);
const TLS_KEYS = new Set([
  'ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername', 'checkServerIdentity', 'ciphers',
  'minVersion', 'maxVersion', 'secureContext',
]);

/** ws's `(protocols?, options?)` arguments as `connect()` options. Throws WireroomError on what we cannot honour. */
export function fromWsClientArguments(protocols: unknown, options: unknown): ConnectOptions {
  if (options === undefined && protocols !== null && typeof protocols === 'object' && !Array.isArray(protocols)) {
    options = protocols; // new WebSocket(address, options)
    protocols = undefined;
  }
  const given = (options ?? {}) as WsClientOptions & Record<string, unknown>;
  if (typeof given !== 'object') throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'WebSocket options must be an object');
  const result: ConnectOptions & Record<string, unknown> = {};
  let tls: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(given)) {
    if (value === undefined) continue;
    if (OWN_KEYS.has(key)) result[key] = value;
    else if (TLS_KEYS.has(key)) (tls ??= {})[key] = value;
    else if (key === 'maxPayload') result.maxMessageSize = value as number;
    else if (key === 'protocolVersion') {
      if (value !== 13) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Unsupported protocol version: ${String(value)} (only 13)`);
    } else if (key === 'autoPong') {
      if (value !== true) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'autoPong: false is not supported: pings are always answered');
    } else if (key === 'allowSynchronousEvents') {
      // Our events are synchronous already; either value behaves as ws's default.
    } else {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `WebSocket client option ${key} is not supported (see docs/migrating-from-ws.md)`);
    }
  }
  if (given.maxPayload !== undefined && given.maxMessageSize !== undefined) {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'Give maxPayload (ws) or maxMessageSize, not both');
  }
  if (tls !== undefined) result.tls = { ...tls, ...result.tls };
  if (protocols !== undefined && protocols !== null) {
    const list = typeof protocols === 'string' ? [protocols] : protocols;
    if (!Array.isArray(list) || list.some((p) => typeof p !== 'string')) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'protocols must be a string or an array of strings');
    }
    if (new Set(list).size !== list.length) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'An invalid or duplicated subprotocol was specified');
    result.protocols = list;
  }
  return result;
}

/** `new WebSocket(address, ...)`: 'open' on a later tick, or 'error' then 'close' (1006), as in ws. */
setClientConnector((ws, address, protocols, options) => {
  const connectOptions = fromWsClientArguments(protocols, options);
  openClient(ws, address, connectOptions).catch((error: Error) => {
    if (ws.readyState === WebSocket.CLOSED) return; // closed or terminated while connecting: 'close' was emitted
    ws.emitError(error);
    ws._abortConnecting(CloseCode.ABNORMAL, '');
  });
});

// ws's module shape: the class is the module, its other exports hang on it (typed by the augmentation below).
Object.assign(WebSocket, { Server: WebSocketServer, WebSocketServer, WebSocket, createWebSocketStream });

declare module '../connection/websocket.js' {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace WebSocket {
    /** ws's alias of `WebSocketServer` (`new WebSocket.Server(options)`). */
    const Server: typeof WebSocketServer;
    const WebSocketServer: typeof import('../server/websocket-server.js').WebSocketServer;
    const WebSocket: typeof import('../connection/websocket.js').WebSocket;
    const createWebSocketStream: typeof import('./stream.js').createWebSocketStream;
  }
}

export { createWebSocketStream };
