/** A message framed once and sent as the same bytes to many connections (broadcast). */
import { Opcode } from '../protocol/constants.js';
import { encodeFrame, encodeTextFrame } from '../protocol/frame-writer.js';

/**
 * An unmasked data frame built once. Server connections send these bytes as they are; client connections
 * (which must mask every frame with a fresh key) re-frame the payload.
 */
export class PreparedMessage {
  /** The whole frame (header and payload), for server-side connections. */
  readonly frame: Buffer | [Buffer, Buffer];
  readonly payload: Buffer;
  readonly binary: boolean;
  readonly byteLength: number;

  constructor(payload: Buffer, binary: boolean, frame: Buffer | [Buffer, Buffer]) {
    this.payload = payload;
    this.binary = binary;
    this.frame = frame;
    this.byteLength = Array.isArray(frame) ? frame[0].length + frame[1].length : frame.length;
  }
}

/**
 * Frames `data` once for sending to many connections with `ws.sendPrepared()` or `server.broadcast()`.
 * Strings are sent as text unless `binary` is set; buffers as binary unless `binary: false`.
 */
export function prepareMessage(data: string | Buffer | ArrayBuffer | ArrayBufferView, options: { binary?: boolean } = {}): PreparedMessage {
  if (typeof data === 'string' && options.binary !== true) {
    const frame = encodeTextFrame(data);
    return new PreparedMessage(frame.subarray(frame.length - Buffer.byteLength(data)), false, frame);
  }
  const payload = toBuffer(data);
  const binary = options.binary ?? typeof data !== 'string';
  return new PreparedMessage(payload, binary, encodeFrame(binary ? Opcode.BINARY : Opcode.TEXT, payload));
}

/** Views (never copies) the bytes of any accepted data type. */
export function toBuffer(data: string | Buffer | ArrayBuffer | ArrayBufferView): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('data must be a string, Buffer, ArrayBuffer or typed array');
}
