/**
 * Test helpers for the protocol core: a small frame builder and decoder written independently of
 * src/protocol/frame-writer.ts (byte loops, no shared code), and a recorder implementing ProtocolHandler.
 *
 * The builder can produce anything the wire can carry, including what the core must refuse: reserved bits
 * and opcodes, non-minimal length encodings, lying declared lengths, 64-bit lengths with the top bit set.
 */
import { WebSocketProtocol, type ProtocolHandler, type ProtocolOptions, type Role } from '../../src/protocol/protocol.js';
import assert from 'node:assert/strict';
import { ProtocolError as ProtocolErrorClass, type ProtocolError } from '../../src/protocol/errors.js';

/** Opcodes, spelled out here rather than imported, so that a typo in the source cannot hide in both. */
export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

/** The mask key used when a test asks for a masked frame without giving a key. */
export const DEFAULT_MASK_KEY: readonly number[] = [0x37, 0xfa, 0x21, 0x3d];

export interface FrameOptions {
  /** Default true. */
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** Mask with this 4-byte key, or with DEFAULT_MASK_KEY when true. Unmasked when false or absent. */
  mask?: boolean | Uint8Array | readonly number[];
  /** Force the length encoding (non-minimal encodings are legal). Default: the minimal one. */
  lengthBits?: 7 | 16 | 64;
  /** Write this value in the length field instead of the payload's length (a bigint for the raw 64 bits). */
  declaredLength?: number | bigint;
}

function toBytes(payload: Uint8Array | string | readonly number[] | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  return Buffer.from(payload as Uint8Array);
}

function maskKeyOf(mask: FrameOptions['mask']): number[] | null {
  if (mask === undefined || mask === false) return null;
  if (mask === true) return [...DEFAULT_MASK_KEY];
  if (mask.length !== 4) throw new Error('a mask key has 4 bytes');
  return [...mask];
}

/** Only the header of a frame (mask key included): for tests that stop before the payload. */
export function frameHeader(opcode: number, length: number | bigint, options: FrameOptions = {}): Buffer {
  const key = maskKeyOf(options.mask);
  const declared = BigInt(options.declaredLength ?? length);
  const bits = options.lengthBits ?? (declared < 126n ? 7 : declared < 65536n ? 16 : 64);
  const bytes: number[] = [];
  bytes.push(
    (options.fin === false ? 0 : 0x80) |
      (options.rsv1 ? 0x40 : 0) |
      (options.rsv2 ? 0x20 : 0) |
      (options.rsv3 ? 0x10 : 0) |
      (opcode & 0x0f),
  );
  const maskBit = key ? 0x80 : 0;
  if (bits === 7) {
    if (declared > 125n) throw new Error(`length ${declared} does not fit in 7 bits`);
    bytes.push(maskBit | Number(declared));
  } else if (bits === 16) {
    if (declared > 0xffffn) throw new Error(`length ${declared} does not fit in 16 bits`);
    bytes.push(maskBit | 126, Number(declared >> 8n), Number(declared & 0xffn));
  } else {
    bytes.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) bytes.push(Number((declared >> shift) & 0xffn));
  }
  if (key) bytes.push(...key);
  return Buffer.from(bytes);
}

/** A complete frame. The payload is masked with the given key (byte by byte) when `mask` is set. */
export function buildFrame(opcode: number, payload?: Uint8Array | string | readonly number[], options: FrameOptions = {}): Buffer {
  const data = toBytes(payload);
  const header = frameHeader(opcode, data.length, options);
  const key = maskKeyOf(options.mask);
  const body = Buffer.from(data);
  if (key) for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ key[i % 4]!;
  return Buffer.concat([header, body]);
}

/** A frame as a client sends it: masked (DEFAULT_MASK_KEY unless `options.mask` is a key). */
export function clientFrame(opcode: number, payload?: Uint8Array | string | readonly number[], options: FrameOptions = {}): Buffer {
  return buildFrame(opcode, payload, { ...options, mask: options.mask === undefined || options.mask === false ? true : options.mask });
}

/** A frame as a server sends it: unmasked. */
export function serverFrame(opcode: number, payload?: Uint8Array | string | readonly number[], options: FrameOptions = {}): Buffer {
  return buildFrame(opcode, payload, { ...options, mask: false });
}

/** A frame as the peer of `role` sends it: masked towards a server, unmasked towards a client. */
export function peerFrame(role: Role, opcode: number, payload?: Uint8Array | string | readonly number[], options: FrameOptions = {}): Buffer {
  return role === 'server' ? clientFrame(opcode, payload, options) : serverFrame(opcode, payload, options);
}

/** A close frame payload: 2-byte code then the reason. */
export function closePayload(code: number, reason: string | Uint8Array = ''): Buffer {
  const head = Buffer.from([(code >> 8) & 0xff, code & 0xff]);
  return Buffer.concat([head, toBytes(reason)]);
}

// ------------------------------------------------------------------------------------------------ decoding

export interface DecodedFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  maskKey: Buffer | null;
  /** Unmasked payload. */
  payload: Buffer;
  /** Bytes of the length field beyond the first header byte pair: 0, 2 or 8. */
  extendedLengthBytes: number;
}

/** Decodes a byte stream of complete frames (what the core emitted). Throws on a trailing partial frame. */
export function decodeFrames(bytes: Uint8Array): DecodedFrame[] {
  const frames: DecodedFrame[] = [];
  let p = 0;
  while (p < bytes.length) {
    if (bytes.length - p < 2) throw new Error('truncated frame header');
    const b0 = bytes[p]!;
    const b1 = bytes[p + 1]!;
    p += 2;
    let length = b1 & 0x7f;
    let extendedLengthBytes = 0;
    if (length === 126) {
      length = bytes[p]! * 256 + bytes[p + 1]!;
      p += 2;
      extendedLengthBytes = 2;
    } else if (length === 127) {
      length = 0;
      for (let i = 0; i < 8; i++) length = length * 256 + bytes[p + i]!;
      p += 8;
      extendedLengthBytes = 8;
    }
    const masked = (b1 & 0x80) !== 0;
    let maskKey: Buffer | null = null;
    if (masked) {
      maskKey = Buffer.from(bytes.subarray(p, p + 4));
      p += 4;
    }
    if (p + length > bytes.length) throw new Error('truncated frame payload');
    const payload = Buffer.from(bytes.subarray(p, p + length));
    p += length;
    if (maskKey) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ maskKey[i % 4]!;
    frames.push({
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      masked,
      maskKey,
      payload,
      extendedLengthBytes,
    });
  }
  return frames;
}

/** The code and reason of a close frame's payload (code 1005 when empty). */
export function readClose(payload: Buffer): { code: number; reason: string } {
  if (payload.length === 0) return { code: 1005, reason: '' };
  return { code: payload[0]! * 256 + payload[1]!, reason: payload.subarray(2).toString('utf8') };
}

/** Flattens what `onOutput` receives. */
export function outputBytes(data: Buffer | [Buffer, Buffer]): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

// ------------------------------------------------------------------------------------------------ chunking

/** Splits `bytes` at the given offsets (taken modulo length+1, deduplicated); each chunk is a fresh copy. */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  points.push(bytes.length);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const end of points) {
    if (end > start) chunks.push(Buffer.from(bytes.subarray(start, end)));
    start = end;
  }
  return chunks;
}

/** Splits `bytes` into pieces of `size` bytes (the last may be shorter); fresh copies. */
export function splitEvery(bytes: Uint8Array, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(Buffer.from(bytes.subarray(i, i + size)));
  return chunks;
}

// ------------------------------------------------------------------------------------------------ recorder

export type ProtocolEvent =
  | { type: 'message'; data: Buffer; isBinary: boolean }
  | { type: 'compressed'; payload: Buffer; fin: boolean; isBinary: boolean }
  | { type: 'ping'; payload: Buffer }
  | { type: 'pong'; payload: Buffer }
  | { type: 'close'; code: number; reason: string }
  | { type: 'error'; error: ProtocolError }
  | { type: 'output'; data: Buffer };

/** A ProtocolHandler that records every call in order, outputs included. */
export class Recorder implements ProtocolHandler {
  /** Everything, in the order the core reported it. */
  readonly log: ProtocolEvent[] = [];
  /** Called after each event is recorded (e.g. to pause the core from inside a callback). */
  hook: ((event: ProtocolEvent) => void) | null = null;

  private record(event: ProtocolEvent): void {
    this.log.push(event);
    this.hook?.(event);
  }

  onMessage(data: Buffer, isBinary: boolean): void {
    this.record({ type: 'message', data, isBinary });
  }
  onCompressedFrame(payload: Buffer, fin: boolean, isBinary: boolean): void {
    this.record({ type: 'compressed', payload, fin, isBinary });
  }
  onPing(payload: Buffer): void {
    this.record({ type: 'ping', payload });
  }
  onPong(payload: Buffer): void {
    this.record({ type: 'pong', payload });
  }
  onClose(code: number, reason: string): void {
    this.record({ type: 'close', code, reason });
  }
  onError(error: ProtocolError): void {
    this.record({ type: 'error', error });
  }
  /** The core under test: its output is taken as soon as it is ready, so outputs are logged in order with events. */
  proto: WebSocketProtocol | null = null;
  /** What the pretend transport holds (for outbound-limit tests). */
  transportBytes = 0;
  onOutputReady(): void {
    const frames = this.proto?.takeOutput();
    if (frames) this.record({ type: 'output', data: Buffer.concat(frames) });
  }
  transportBuffered(): number {
    return this.transportBytes;
  }

  /** Events other than outputs. */
  get events(): Exclude<ProtocolEvent, { type: 'output' }>[] {
    return this.log.filter((e): e is Exclude<ProtocolEvent, { type: 'output' }> => e.type !== 'output');
  }
  /** Event types other than outputs, e.g. ['message', 'ping', 'error']. */
  get types(): string[] {
    return this.events.map((e) => e.type);
  }
  get messages(): { data: Buffer; isBinary: boolean }[] {
    return this.log.flatMap((e) => (e.type === 'message' ? [{ data: e.data, isBinary: e.isBinary }] : []));
  }
  get errors(): ProtocolError[] {
    return this.log.flatMap((e) => (e.type === 'error' ? [e.error] : []));
  }
  /** All bytes emitted through onOutput, concatenated. */
  get output(): Buffer {
    return Buffer.concat(this.log.flatMap((e) => (e.type === 'output' ? [e.data] : [])));
  }
  /** The emitted bytes, decoded as frames. */
  get outputFrames(): DecodedFrame[] {
    return decodeFrames(this.output);
  }
}

/** A fresh core and its recorder. */
export function open(role: Role, options: Omit<ProtocolOptions, 'role'> = {}): { proto: WebSocketProtocol; rec: Recorder } {
  const rec = new Recorder();
  const proto = new WebSocketProtocol(rec, { role, ...options });
  rec.proto = proto;
  return { proto, rec };
}

/** Feeds each chunk in turn (copies, since the core unmasks in place). */
export function feed(proto: WebSocketProtocol, ...chunks: Uint8Array[]): void {
  for (const chunk of chunks) proto.receive(Buffer.from(chunk));
}

// ------------------------------------------------------------------------------------------------ assertions

/**
 * Asserts that the core failed exactly once, with this stable error code and close code: the error is the last
 * event, a close frame carrying the close code was emitted before it (when `expectCloseFrame`), and it is the
 * last output.
 */
export function assertFailed(rec: Recorder, code: string, closeCode: number, expectCloseFrame = true): ProtocolError {
  const errors = rec.errors;
  assert.equal(errors.length, 1, `expected one error, got ${errors.map((e) => e.code).join(', ') || 'none'}; events: ${rec.types.join(', ')}`);
  const error = errors[0]!;
  assert.ok(error instanceof ProtocolErrorClass, 'the error is a ProtocolError');
  assert.equal(error.code, code, `error code (message: ${error.message})`);
  assert.equal(error.closeCode, closeCode, 'close code of the error');
  assert.equal(rec.log.at(-1)?.type, 'error', 'the error is the last thing reported');
  if (expectCloseFrame) {
    const last = rec.log.at(-2);
    assert.equal(last?.type, 'output', 'the close frame is emitted just before the error event');
    const frames = decodeFrames((last as { data: Buffer }).data);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.opcode, OP.CLOSE);
    assert.equal(readClose(frames[0]!.payload).code, closeCode, 'the close frame carries the close code');
  }
  return error;
}
