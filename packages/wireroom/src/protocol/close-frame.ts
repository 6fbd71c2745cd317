/** Close frame payloads (RFC 6455 5.5.1 and 7.4): parsing what the peer sent, building what we send. */
import { CloseCode, isValidWireCloseCode, MAX_CLOSE_REASON_BYTES } from './constants.js';
import { ErrorCodes, ProtocolError, WireroomError } from './errors.js';
import { isValidUtf8 } from './utf8.js';

export interface ClosePayload {
  code: number;
  reason: string;
}

const EMPTY = Buffer.alloc(0);

/** Parses a received close payload. An empty payload means "no status" (1005). */
export function parseClosePayload(payload: Buffer): ClosePayload | ProtocolError {
  if (payload.length === 0) return { code: CloseCode.NO_STATUS, reason: '' };
  if (payload.length === 1) {
    return new ProtocolError(ErrorCodes.INVALID_CLOSE_PAYLOAD, CloseCode.PROTOCOL_ERROR, 'close frame payload of 1 byte');
  }
  const code = payload.readUInt16BE(0);
  if (!isValidWireCloseCode(code)) {
    return new ProtocolError(ErrorCodes.INVALID_CLOSE_CODE, CloseCode.PROTOCOL_ERROR, `invalid close code ${code}`);
  }
  const reasonBytes = payload.subarray(2);
  if (!isValidUtf8(reasonBytes)) {
    return new ProtocolError(ErrorCodes.INVALID_UTF8, CloseCode.INVALID_DATA, 'close reason is not valid UTF-8');
  }
  return { code, reason: reasonBytes.toString('utf8') };
}

/**
 * Validates the arguments of a user's `close(code, reason)` and returns the payload bytes.
 * Throws WireroomError(WS_ERR_INVALID_ARGUMENT) for a code that may not be sent or a reason over 123 bytes:
 * misuse is reported to the caller at once, and nothing half-built ever reaches the wire.
 */
export function buildClosePayload(code?: number, reason?: string | Buffer): Buffer {
  // Checked first: without a code, a non-string reason (42, null) was sent as an empty close or threw a TypeError.
  if (reason !== undefined && typeof reason !== 'string' && !Buffer.isBuffer(reason)) {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'close reason must be a string or a Buffer');
  }
  if (code === undefined) {
    if (reason !== undefined && reason.length > 0) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'a close reason needs a close code');
    }
    return EMPTY;
  }
  if (typeof code !== 'number' || !Number.isInteger(code) || !isValidWireCloseCode(code)) {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `invalid close code: ${String(code)} (use 1000-1003, 1007-1014 or 3000-4999)`);
  }
  let reasonBytes: Buffer;
  if (reason === undefined) reasonBytes = EMPTY;
  else if (typeof reason === 'string') reasonBytes = Buffer.from(reason, 'utf8');
  else if (Buffer.isBuffer(reason)) {
    if (!isValidUtf8(reason)) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'close reason is not valid UTF-8');
    reasonBytes = reason;
  } else {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'close reason must be a string or a Buffer');
  }
  if (reasonBytes.length > MAX_CLOSE_REASON_BYTES) {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `close reason is ${reasonBytes.length} bytes; the maximum is ${MAX_CLOSE_REASON_BYTES}`);
  }
  const payload = Buffer.allocUnsafe(2 + reasonBytes.length);
  payload.writeUInt16BE(code, 0);
  reasonBytes.copy(payload, 2);
  return payload;
}

/** Truncates a reason to at most 123 UTF-8 bytes without splitting a character (for reasons we generate). */
export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason;
  const bytes = Buffer.from(reason, 'utf8');
  let end = MAX_CLOSE_REASON_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back off to a character start
  return bytes.subarray(0, end).toString('utf8');
}
