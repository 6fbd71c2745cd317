/**
 * The one fan-out of the toolkit: a message framed once and sent as the same bytes to many connections.
 * `server.broadcast()`, the rooms of `App` and every broker deliver through `deliverPrepared()`, so they all
 * behave alike: the frame is built once; with permessage-deflate, recipients that negotiated
 * `server_no_context_takeover` share one compression per window size (compressed once, not once per recipient)
 * while recipients with context takeover compress with their own context; each recipient's backpressure
 * policy applies to its copy.
 */
import { Opcode } from '../protocol/constants.js';
import { encodeFrame, encodeTextFrame } from '../protocol/frame-writer.js';
import { frameSize, type FrameBytes } from '../protocol/outbound.js';
import { compressOnce } from '../compression/permessage-deflate.js';
import type { DeflateOptions } from '../protocol/extensions/permessage-deflate-negotiation.js';
import type { WebSocket } from './websocket.js';

/**
 * An unmasked data frame built once. Server connections send these bytes as they are; client connections
 * (which must mask every frame with a fresh key) re-frame the payload.
 */
export class PreparedMessage {
  /** The whole frame (header and payload), for server-side connections. */
  readonly frame: FrameBytes;
  readonly payload: Buffer;
  readonly binary: boolean;
  readonly byteLength: number;
  /** Compressions shared by several recipients made for this message so far (one per window size). */
  sharedCompressions = 0;
  /** Shared compressions by window size; created on first use (most messages are never compressed). */
  private compressed: Map<number, SharedCompressedFrame> | null = null;

  constructor(payload: Buffer, binary: boolean, frame: FrameBytes) {
    this.payload = payload;
    this.binary = binary;
    this.frame = frame;
    this.byteLength = frameSize(frame);
  }

  /**
   * @internal The message compressed once with a fresh context and this window size, shared by every
   * recipient without server context takeover whose window is at least as large.
   */
  _compressedFor(windowBits: number, options: DeflateOptions): SharedCompressedFrame {
    const map = (this.compressed ??= new Map());
    let shared = map.get(windowBits);
    if (shared === undefined) {
      shared = new SharedCompressedFrame(this.payload, this.binary, windowBits, options);
      map.set(windowBits, shared);
      this.sharedCompressions++;
    }
    return shared;
  }
}

/** A broadcast frame compressed once (RSV1 set, unmasked), shared by its server-side recipients. */
export class SharedCompressedFrame {
  /** The frame, once compression has finished (null before). */
  frame: FrameBytes | null = null;
  private waiting: Array<() => void> | null = [];

  constructor(payload: Buffer, binary: boolean, windowBits: number, options: DeflateOptions) {
    const params = { serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: windowBits, clientMaxWindowBits: 15 };
    compressOnce(payload, params, options, (error, compressed) => {
      const opcode = binary ? Opcode.BINARY : Opcode.TEXT;
      // On a (rare) zlib failure the message still goes out, uncompressed: RSV1 is per message.
      this.frame = !error && compressed !== undefined ? encodeFrame(opcode, compressed, { rsv1: true }) : encodeFrame(opcode, payload);
      const waiting = this.waiting!;
      this.waiting = null;
      for (const callback of waiting) callback();
    });
  }

  /** Runs `callback` once the frame is ready (at once if it is). */
  onReady(callback: () => void): void {
    if (this.waiting === null) callback();
    else this.waiting.push(callback);
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

/**
 * Delivers a prepared message to every open connection of `recipients` (see the module comment). Returns how
 * many connections it was queued for: closed ones, those whose 'drop' policy discarded it and those the
 * 'close' policy failed are not counted.
 */
export function deliverPrepared(recipients: Iterable<WebSocket>, message: PreparedMessage, options: { compress?: boolean } = {}): number {
  let queued = 0;
  for (const ws of recipients) if (ws._deliver(message, options.compress !== false)) queued++;
  return queued;
}

/** Views (never copies) the bytes of any accepted data type. */
export function toBuffer(data: string | Buffer | ArrayBuffer | ArrayBufferView): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('data must be a string, Buffer, ArrayBuffer or typed array');
}
