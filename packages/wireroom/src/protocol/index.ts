/**
 * The sans-I/O protocol core: bytes in, events out. Use it to drive WebSocket connections over any transport.
 * See README.md ("The protocol core") for an example.
 */
export { WebSocketProtocol, ReadyState, type ProtocolHandler, type ProtocolOptions, type Role, type ReadyStateValue } from './protocol.js';
export { encodeFrame, encodeTextFrame, headerSize, writeHeader, type FrameFlags } from './frame-writer.js';
export { parseClosePayload, buildClosePayload, type ClosePayload } from './close-frame.js';
export { Opcode, CloseCode, WS_GUID, isValidWireCloseCode, MAX_CONTROL_PAYLOAD, MAX_CLOSE_REASON_BYTES } from './constants.js';
export { ErrorCodes, WireroomError, ProtocolError, HandshakeError, type ErrorCode } from './errors.js';
export { DEFAULT_LIMITS, resolveLimits, type ProtocolLimits } from './limits.js';
export { unmaskInPlace, maskInto } from './mask.js';
export { isValidUtf8, Utf8Validator } from './utf8.js';
export * from './handshake/index.js';
export * from './extensions/permessage-deflate-negotiation.js';
