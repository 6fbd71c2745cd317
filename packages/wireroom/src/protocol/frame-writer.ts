/**
 * Outbound frames (RFC 6455 5.2). Pure functions: the caller decides when the bytes are written.
 *
 * Server frames are unmasked: small payloads are copied behind the header into one buffer (one write is
 * cheaper than two), large payloads are returned as [header, payload] so they are never copied.
 * Client frames are masked with a fresh crypto-random key each (RFC 6455 5.3), into one new buffer: the
 * caller's data is never modified.
 */
import { randomFillSync } from 'node:crypto';
import { maskInto, unmaskInPlace } from './mask.js';

/**
 * Payloads up to this size are copied behind their header; larger ones are sent as a separate buffer.
 * Small: the copy lands in Node's buffer pool (allocations under 4 KiB); a 16 KiB copy needed a fresh
 * allocation per frame and cost more than the extra writev entry (echo16k profile).
 */
export const COPY_THRESHOLD = 1024;

export interface FrameFlags {
  fin?: boolean;
  rsv1?: boolean;
  /** Mask the payload (client role). */
  mask?: boolean;
}

/** Size of the header for a payload of `length` bytes. */
export function headerSize(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/** Writes a frame header into `target` at `offset`; returns the offset just after it (mask key excluded). */
export function writeHeader(target: Buffer, offset: number, opcode: number, length: number, fin: boolean, rsv1: boolean, masked: boolean): number {
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = masked ? 0x80 : 0;
  if (length < 126) {
    target[offset + 1] = maskBit | length;
    return offset + 2;
  }
  if (length < 65536) {
    target[offset + 1] = maskBit | 126;
    target[offset + 2] = length >>> 8;
    target[offset + 3] = length & 0xff;
    return offset + 4;
  }
  target[offset + 1] = maskBit | 127;
  // 64-bit big-endian; lengths above 2^53 cannot occur for a Buffer.
  const high = Math.floor(length / 0x100000000);
  target.writeUInt32BE(high, offset + 2);
  target.writeUInt32BE(length >>> 0, offset + 6);
  return offset + 10;
}

// Mask keys come from a pool refilled in bulk: one randomFillSync per 2048 frames instead of one per frame.
const maskPool = Buffer.alloc(8192);
let maskPoolOffset = maskPool.length;
function nextMaskKey(): Buffer {
  if (maskPoolOffset === maskPool.length) {
    randomFillSync(maskPool);
    maskPoolOffset = 0;
  }
  const key = maskPool.subarray(maskPoolOffset, maskPoolOffset + 4);
  maskPoolOffset += 4;
  return key;
}

/**
 * Encodes one frame. Returns one buffer, or [header, payload] for a large unmasked payload (zero-copy).
 */
export function encodeFrame(opcode: number, payload: Buffer, flags: FrameFlags = {}): Buffer | [Buffer, Buffer] {
  const fin = flags.fin !== false;
  const rsv1 = flags.rsv1 === true;
  const length = payload.length;
  if (flags.mask) {
    const out = Buffer.allocUnsafe(headerSize(length, true) + length);
    let offset = writeHeader(out, 0, opcode, length, fin, rsv1, true);
    const key = nextMaskKey();
    out[offset] = key[0]!; out[offset + 1] = key[1]!; out[offset + 2] = key[2]!; out[offset + 3] = key[3]!;
    offset += 4;
    maskInto(payload, key, out, offset);
    return out;
  }
  if (length > COPY_THRESHOLD) {
    const header = Buffer.allocUnsafe(headerSize(length, false));
    writeHeader(header, 0, opcode, length, fin, rsv1, false);
    return [header, payload];
  }
  const out = Buffer.allocUnsafe(headerSize(length, false) + length);
  const offset = writeHeader(out, 0, opcode, length, fin, rsv1, false);
  payload.copy(out, offset);
  return out;
}

/**
 * Encodes a text frame straight from a string: the UTF-8 bytes are written once, behind the header, with no
 * intermediate buffer. Masked frames are masked in place in the new buffer.
 */
export function encodeTextFrame(text: string, flags: FrameFlags = {}): Buffer {
  const fin = flags.fin !== false;
  const masked = flags.mask === true;
  const length = Buffer.byteLength(text, 'utf8');
  const out = Buffer.allocUnsafe(headerSize(length, masked) + length);
  let offset = writeHeader(out, 0, 0x1, length, fin, flags.rsv1 === true, masked);
  if (masked) {
    const key = nextMaskKey();
    out[offset] = key[0]!; out[offset + 1] = key[1]!; out[offset + 2] = key[2]!; out[offset + 3] = key[3]!;
    offset += 4;
    out.write(text, offset, 'utf8');
    unmaskInPlace(out.subarray(offset), key, 0); // XOR is its own inverse: masking in place
  } else {
    out.write(text, offset, 'utf8');
  }
  return out;
}
