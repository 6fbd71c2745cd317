/**
 * Errors of the protocol core. Every error the core can report has a stable `code` string and the
 * WebSocket close code (or HTTP status, for handshake errors) that the connection must answer with.
 * The core never throws these at its caller from `receive()`: they are delivered as events/results.
 */

/** Stable codes for every protocol-level failure. Never renamed once released. */
export const ErrorCodes = {
  // ---- framing (close 1002 unless noted)
  INVALID_OPCODE: 'WS_ERR_INVALID_OPCODE',
  UNEXPECTED_RSV: 'WS_ERR_UNEXPECTED_RSV_BITS',
  EXPECTED_MASK: 'WS_ERR_EXPECTED_MASK',
  UNEXPECTED_MASK: 'WS_ERR_UNEXPECTED_MASK',
  INVALID_CONTROL_FRAME: 'WS_ERR_INVALID_CONTROL_FRAME', // fragmented or > 125 bytes
  UNEXPECTED_CONTINUATION: 'WS_ERR_UNEXPECTED_CONTINUATION',
  EXPECTED_CONTINUATION: 'WS_ERR_EXPECTED_CONTINUATION',
  INVALID_LENGTH: 'WS_ERR_INVALID_LENGTH', // 64-bit length with the top bit set
  INVALID_CLOSE_CODE: 'WS_ERR_INVALID_CLOSE_CODE',
  INVALID_CLOSE_PAYLOAD: 'WS_ERR_INVALID_CLOSE_PAYLOAD', // 1-byte close payload
  // ---- data (close 1007)
  INVALID_UTF8: 'WS_ERR_INVALID_UTF8',
  // ---- limits (close 1009 / 1008)
  MESSAGE_TOO_BIG: 'WS_ERR_MESSAGE_TOO_BIG',
  FRAME_TOO_BIG: 'WS_ERR_FRAME_TOO_BIG',
  TOO_MANY_FRAGMENTS: 'WS_ERR_TOO_MANY_FRAGMENTS',
  // ---- connection health (detected by the I/O layer, reported like protocol errors)
  HEARTBEAT_TIMEOUT: 'WS_ERR_HEARTBEAT_TIMEOUT', // close 1011: no pong in time
  OUTBOUND_BUFFER_FULL: 'WS_ERR_OUTBOUND_BUFFER_FULL', // close 1008: the peer does not read
  COMPRESSION_FAILED: 'WS_ERR_COMPRESSION_FAILED', // close 1011
  // ---- extensions
  INVALID_COMPRESSED_DATA: 'WS_ERR_INVALID_COMPRESSED_DATA', // close 1007 (RFC 7692 8.: fail)
  // ---- handshake (HTTP status)
  HANDSHAKE_BAD_REQUEST: 'WS_ERR_HANDSHAKE_BAD_REQUEST', // 400
  HANDSHAKE_METHOD: 'WS_ERR_HANDSHAKE_METHOD_NOT_ALLOWED', // 405
  HANDSHAKE_VERSION: 'WS_ERR_HANDSHAKE_UNSUPPORTED_VERSION', // 426
  HANDSHAKE_URI_TOO_LONG: 'WS_ERR_HANDSHAKE_URI_TOO_LONG', // 414
  HANDSHAKE_HEADERS_TOO_LARGE: 'WS_ERR_HANDSHAKE_HEADERS_TOO_LARGE', // 431
  HANDSHAKE_INVALID_RESPONSE: 'WS_ERR_HANDSHAKE_INVALID_RESPONSE', // client side
  // ---- API misuse (thrown synchronously by public methods, never from receive())
  INVALID_ARGUMENT: 'WS_ERR_INVALID_ARGUMENT',
  INVALID_STATE: 'WS_ERR_INVALID_STATE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Base class: every Wireroom error has a stable `code`. */
export class WireroomError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'WireroomError';
    this.code = code;
  }
}

/** A violation by the peer, detected in the byte stream. `closeCode` is what we send before closing. */
export class ProtocolError extends WireroomError {
  readonly closeCode: number;
  constructor(code: ErrorCode, closeCode: number, message: string) {
    super(code, message);
    this.name = 'ProtocolError';
    this.closeCode = closeCode;
  }
}

/** A handshake that must be refused. `status` is the HTTP status to answer with. */
export class HandshakeError extends WireroomError {
  readonly status: number;
  /** Extra response headers (e.g. `Sec-WebSocket-Version: 13` with 426). */
  readonly headers: Readonly<Record<string, string>>;
  constructor(code: string, status: number, message: string, headers: Record<string, string> = {}) {
    super(code, message);
    this.name = 'HandshakeError';
    this.status = status;
    this.headers = headers;
  }
}
