/**
 * Wireroom: a WebSocket toolkit for Node.js (RFC 6455, RFC 7692), zero runtime dependencies.
 *
 * - `WebSocketServer`: accept connections (standalone, on an existing http(s) server, or noServer).
 * - `connect(url)`: open a client connection (ws:// and wss://).
 * - `WebSocket`: one connection, the same class on both sides.
 * - `prepareMessage()`: frame a message once for many recipients.
 * The sans-I/O protocol core is exported separately as `wireroom/protocol`.
 *
 * ws's module shape too: the default export is `WebSocket`, carrying `WebSocket.Server`,
 * `WebSocket.WebSocketServer` and `WebSocket.createWebSocketStream`; in CommonJS `require('wireroom')` is that
 * class (see docs/migrating-from-ws.md).
 */
import './compat/ws.js'; // installs `new WebSocket(address)` and ws's statics before anything else runs
import { WebSocket as DefaultWebSocket } from './connection/websocket.js';

export default DefaultWebSocket;
export { createWebSocketStream, type WsClientOptions } from './compat/ws.js';
export { WebSocket, type SendOptions, type SendCallback, type ConnectionOptions, type BackpressurePolicy, CONNECTION_DEFAULTS } from './connection/websocket.js';
export { PreparedMessage, prepareMessage } from './connection/fanout.js';
export {
  WebSocketServer, SERVER_DEFAULTS, type ServerOptions, type ShutdownOptions, type AuthResult, type HandshakeRequest, type VerifyClient, type VerifyClientInfo, type OriginPolicy, type HostPolicy,
} from './server/websocket-server.js';
export { connect, type ConnectOptions } from './client/connect.js';
export { Refusal, refuse, isRefusal, type IdentifyHook } from './server/identity/refusal.js';
export { SessionCookie, isSecureRequest, type SessionCookieOptions, type SessionRead, type CookieSource } from './server/identity/session-cookie.js';
export { trustedHeaderIdentity, type TrustedHeaderOptions } from './server/identity/trusted-proxy.js';
export { parseCidrList, type AddressMatcher } from './server/identity/cidr.js';
export { WireroomError, ProtocolError, HandshakeError, ErrorCodes, type ErrorCode } from './protocol/errors.js';
export { CloseCode } from './protocol/constants.js';
export { DEFAULT_LIMITS, type ProtocolLimits } from './protocol/limits.js';
export type { DeflateOptions } from './protocol/extensions/permessage-deflate-negotiation.js';
export type { DeflateCodecOptions, ZlibOptionsSubset } from './compression/permessage-deflate.js';
