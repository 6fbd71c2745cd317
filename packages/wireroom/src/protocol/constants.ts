/** RFC 6455 constants shared by every layer. */

/** RFC 6455 section 1.3: appended to the client's key before hashing. */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Frame opcodes (RFC 6455 section 5.2). */
export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;
export type OpcodeValue = (typeof Opcode)[keyof typeof Opcode];

/** Close codes (RFC 6455 section 7.4.1, plus the IANA-registered 1012-1014). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  NO_STATUS: 1005, // never on the wire
  ABNORMAL: 1006, // never on the wire
  INVALID_DATA: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  TLS_HANDSHAKE: 1015, // never on the wire
} as const;

/**
 * Whether `code` may appear in a close frame on the wire (RFC 6455 7.4: 1000-1003, 1007-1014 and the
 * 3000-4999 ranges for libraries and applications; 1004-1006, 1015, 1016-2999 and >= 5000 may not).
 */
export function isValidWireCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

/** Largest payload of a control frame (RFC 6455 5.5). */
export const MAX_CONTROL_PAYLOAD = 125;
/** Largest close reason in bytes: 125 minus the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = 123;
