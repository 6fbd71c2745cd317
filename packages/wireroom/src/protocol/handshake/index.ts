/** The sans-I/O WebSocket opening handshake (RFC 6455 section 4): parsing, validation and building. */
export { computeAcceptKey, generateKey, isValidClientKey } from './accept.js';
export {
  buildClientRequest,
  validateServerResponse,
  type ClientOffer,
  type ClientRequestOptions,
  type ServerHandshakeResult,
} from './client-handshake.js';
export { type ExtraHeaders } from './header-lines.js';
export {
  formatExtensions,
  isToken,
  parseExtensionOffers,
  parseTokenList,
  parseUpgradeList,
  type ExtensionOffer,
} from './header-values.js';
export type { HeaderFields, RequestHead, ResponseHead } from './http-head.js';
export {
  DEFAULT_HEAD_LIMITS,
  HttpHeadParser,
  resolveHeadLimits,
  type HeadFor,
  type HeadKind,
  type HeadLimits,
  type HeadResult,
} from './http-head-parser.js';
export {
  acceptResponseHead,
  buildAcceptResponse,
  buildErrorResponse,
  validateUpgradeRequest,
  type AcceptResponseOptions,
  type UpgradeRequest,
  type UpgradeRequestOptions,
} from './server-handshake.js';
export {
  extendedConnectAcceptHeaders,
  extendedConnectErrorResponse,
  http2RequestHead,
  validateExtendedConnect,
  validateExtendedConnectResponse,
  WEBSOCKET_PROTOCOL,
  type ExtendedConnectOffer,
  type Http2HeaderFields,
} from './extended-connect.js';
