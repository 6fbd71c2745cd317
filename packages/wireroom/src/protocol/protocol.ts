/**
 * The sans-I/O WebSocket protocol core (RFC 6455, after the opening handshake).
 *
 * Bytes in, events out: `receive(chunk)` parses any chunking of the byte stream (one byte at a time up to many
 * frames per chunk), unmasks, validates UTF-8 as it arrives (fail-fast), reassembles fragments, answers pings
 * and close frames, enforces limits, and reports everything to a handler object.
 *
 * Messages in, bytes out: every frame that leaves the connection (data, fragments, pings, pongs, close) is
 * decided and accounted here, in send order, with the one close state machine of the connection. The I/O layer
 * is told when output is ready (`handler.onOutputReady`), takes it with `takeOutput()` and only moves bytes.
 * A message whose frame is produced asynchronously (compression) holds its place as a `PendingFrame`; our Close,
 * whether we start the closing handshake or answer the peer's, goes out after every message accepted before it
 * (RFC 6455 5.5.1). When the output is backed up (the transport holds the high-water mark, or this turn's queue
 * twice it; whatever filled it: data, pongs), the core stops parsing at the next frame until the I/O layer
 * reports progress (`outputWritten()`), so a peer that never reads keeps its floods (pings included) in the
 * kernel, not in our heap.
 * No sockets, no timers, no promises: the same core drives server and client connections and can be tested
 * and fuzzed on plain buffers.
 *
 * Nothing is thrown out of `receive()`: a peer's violation becomes `handler.onError(ProtocolError)` after the
 * close frame carrying its close code has been emitted, and the core ignores all later input.
 */
import { CloseCode, isValidWireCloseCode, MAX_CONTROL_PAYLOAD, Opcode } from './constants.js';
import { buildClosePayload, parseClosePayload, truncateReason } from './close-frame.js';
import { ErrorCodes, ProtocolError, WireroomError, type ErrorCode } from './errors.js';
import { encodeFrame, encodeTextFrame } from './frame-writer.js';
import { resolveLimits, type ProtocolLimits } from './limits.js';
import { DEFAULT_OUTBOUND, frameSize, PendingFrame, SendStatus, type FrameBytes, type OutboundLimits, type SendStatusValue } from './outbound.js';
import { unmaskInPlace } from './mask.js';
import { isValidUtf8, Utf8Validator } from './utf8.js';
import { MessageBuffer } from './message-buffer.js';

export type Role = 'server' | 'client';

/** Connection states (the WHATWG `readyState` values). The core itself starts OPEN, after the handshake. */
export const ReadyState = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;
export type ReadyStateValue = (typeof ReadyState)[keyof typeof ReadyState];

/** What the core reports. Methods on one object, so the hot path allocates no closures or event objects. */
export interface ProtocolHandler {
  /** A complete message. Text messages are validated UTF-8, delivered as bytes (decode only if needed). */
  onMessage(data: Buffer, isBinary: boolean): void;
  /**
   * One frame of a compressed message (RSV1 on its first frame; only when `compressionNegotiated`).
   * The handler decompresses it; it may `pause()` the core until its asynchronous work is done.
   */
  onCompressedFrame(payload: Buffer, fin: boolean, isBinary: boolean): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** The peer's close frame (code 1005 when it carried none). The reply, if due, was already emitted. */
  onClose(code: number, reason: string): void;
  /** The peer broke the protocol. The close frame with `error.closeCode` was already queued (if allowed). */
  onError(error: ProtocolError): void;
  /**
   * Output is waiting: call `takeOutput()` (now or later in the same turn). Called once until it is taken,
   * not once per frame.
   */
  onOutputReady(): void;
  /** Bytes the transport holds that the peer has not taken yet (counted against the outbound limits). */
  transportBuffered(): number;
}

export interface ProtocolOptions extends Partial<ProtocolLimits> {
  role: Role;
  /**
   * Limits already resolved by `resolveLimits()`, shared by many connections (the individual limit options are
   * then ignored). Servers resolve them once: a connection then holds no limits object of its own.
   */
  limits?: Readonly<ProtocolLimits>;
  /** RSV1 (permessage-deflate) was negotiated in the handshake. */
  compressionNegotiated?: boolean;
  /** Answer pings with pongs automatically (default true). */
  autoPong?: boolean;
  /** Outbound limits (high-water mark, cap, backpressure policy), shared. Default `DEFAULT_OUTBOUND`. */
  outbound?: Readonly<OutboundLimits>;
}

const EMPTY = Buffer.alloc(0);
const MAX_HEADER = 14;

// Connection flags, packed in one integer: 10,000 idle connections hold one field each instead of eight.
const STOPPED = 1; // no more input is processed: the peer closed, or failed the protocol
const PAUSED = 2;
const PROCESSING = 4; // inside receive()/resume(): re-entrant input is queued
const IN_PAYLOAD = 8; // the current frame's header has been parsed, its payload has not all arrived
const AUTO_PONG = 16;
const RSV1_ALLOWED = 32;
const MESSAGE_COMPRESSED = 64; // the message in progress has RSV1 on its first frame
const STREAMING_UTF8 = 128; // the message in progress is validated piece by piece (fragmented or split)
const OUTPUT_FULL = 256; // buffered output at the high-water mark: input waits until the I/O layer reports progress
const CLOSE_QUEUED = 512; // our close frame is accepted (maybe waiting behind pending frames): no more data
const CLOSE_READY = 1024; // our close frame is in the ready output
const CLOSE_SENT = 2048; // our close frame was taken by the I/O layer
const CLOSE_RECEIVED = 4096;
const CAP_LIFTED = 8192; // the close frame of an over-cap connection must still go out
const OUTPUT_SIGNALLED = 16384; // onOutputReady was called and the output not taken yet
const INPUT_HELD = PAUSED | OUTPUT_FULL;

// Bits of the first header byte (RFC 6455 5.2).
const FIN_BIT = 0x80;
const RSV1_BIT = 0x40;

/** The 4-byte masking key in the form the unmasking kernels take; filled from the 32-bit key before each use. */
const maskBytes = new Uint8Array(4);
function unmask(data: Buffer, key: number, maskOffset: number): void {
  maskBytes[0] = key >>> 24;
  maskBytes[1] = key >>> 16;
  maskBytes[2] = key >>> 8;
  maskBytes[3] = key;
  unmaskInPlace(data, maskBytes, maskOffset);
}

export class WebSocketProtocol {
  readonly role: Role;
  readonly limits: Readonly<ProtocolLimits>;
  private readonly handler: ProtocolHandler;
  private flags: number;
  private _state: ReadyStateValue = ReadyState.OPEN;

  // ---- current frame (a partial header is kept in headerBytes between chunks)
  /** First header byte of the current frame: FIN, RSV1 and the opcode. */
  private frameHead = 0;
  /** The masking key, big-endian in one integer (no Buffer per connection). */
  private maskKey = 0;
  private frameLength = 0;
  private frameReceived = 0;
  private headerLength = 0;
  /** Allocated on first use: most connections never see a header split across chunks. */
  private headerBytes: Buffer | null = null;
  /** A control frame payload split across chunks; allocated on first use. */
  private controlBytes: Buffer | null = null;

  // ---- the data message being received
  private messageOpcode = 0; // 0: no message open
  private messageLength = 0;
  private fragments = 0;
  /** Bytes of a message (or compressed frame) that spans chunks; created on first use. */
  private collected: MessageBuffer | null = null;
  /** Created for the first message validated piece by piece. */
  private utf8: Utf8Validator | null = null;
  /** Input received while paused (or re-entrantly); created on first use. */
  private queued: Buffer[] | null = null;

  // ---- output (see the class comment)
  readonly outbound: Readonly<OutboundLimits>;
  /** Frames ready for the transport, in order; created on first use, handed over by takeOutput(). */
  private ready: Buffer[] | null = null;
  private readyBytes = 0;
  /** Frames behind an unfinished PendingFrame (the first entry), in send order; null when none waits. */
  private waiting: Array<Buffer | PendingFrame> | null = null;
  private waitingBytes = 0;
  /** The peer's close code (or the code of the failure), for the I/O layer's 'close' event. */
  closeCode: number = CloseCode.ABNORMAL;
  closeReason = '';

  constructor(handler: ProtocolHandler, options: ProtocolOptions) {
    this.handler = handler;
    this.role = options.role;
    this.flags = (options.autoPong !== false ? AUTO_PONG : 0) | (options.compressionNegotiated === true ? RSV1_ALLOWED : 0);
    this.limits = options.limits ?? resolveLimits(options);
    this.outbound = options.outbound ?? DEFAULT_OUTBOUND;
  }

  /** Whether outgoing frames are masked (client role). */
  get masksOutput(): boolean {
    return this.role === 'client';
  }

  get state(): ReadyStateValue {
    return this._state;
  }

  /** Whether the core has stopped reading (close received or protocol failed). */
  get inputClosed(): boolean {
    return (this.flags & STOPPED) !== 0;
  }

  // ------------------------------------------------------------------------------------------------ input

  /** Feeds bytes received from the peer. Never throws because of what the bytes contain. */
  receive(chunk: Buffer): void {
    const flags = this.flags;
    if ((flags & STOPPED) !== 0 || chunk.length === 0) return;
    if ((flags & (INPUT_HELD | PROCESSING)) !== 0) {
      (this.queued ??= []).push(chunk);
      return;
    }
    this.flags = flags | PROCESSING;
    try {
      this.parse(chunk);
      if (this.queued !== null) this.parseQueued();
    } finally {
      this.flags &= ~PROCESSING;
    }
  }

  /** Stops delivering events until `resume()`; input received meanwhile is queued (pause the socket too). */
  pause(): void {
    this.flags |= PAUSED;
  }

  resume(): void {
    if ((this.flags & PAUSED) === 0) return;
    this.flags &= ~PAUSED;
    this.continueInput();
  }

  /** Parses input queued while held, unless still held. */
  private continueInput(): void {
    const flags = this.flags;
    if ((flags & (INPUT_HELD | PROCESSING | STOPPED)) !== 0 || this.queued === null) return;
    this.flags |= PROCESSING;
    try {
      this.parseQueued();
    } finally {
      this.flags &= ~PROCESSING;
    }
  }

  get isPaused(): boolean {
    return (this.flags & PAUSED) !== 0;
  }

  /**
   * Whether input is held (paused, or the output is at its high-water mark): the I/O layer stops reading its
   * transport then. Input after the close is never held: it is read and discarded, since closing a socket
   * with unread input makes the kernel send RST, which can destroy our close frame before the peer reads it.
   */
  get inputHeld(): boolean {
    const flags = this.flags;
    return (flags & INPUT_HELD) !== 0 && (flags & STOPPED) === 0;
  }

  /** Parses queued input until it is all consumed, or the core is paused or stopped. */
  private parseQueued(): void {
    const queued = this.queued!;
    while ((this.flags & (INPUT_HELD | STOPPED)) === 0 && queued.length > 0) this.parse(queued.shift()!);
  }

  private parse(chunk: Buffer): void {
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      if ((this.flags & (INPUT_HELD | STOPPED)) !== 0) break;
      if ((this.flags & IN_PAYLOAD) === 0) {
        if (this.headerLength > 0) {
          // Complete a header that started in an earlier chunk.
          const had = this.headerLength;
          const take = Math.min(MAX_HEADER - had, end - pos);
          const headerBytes = this.headerBytes!;
          chunk.copy(headerBytes, had, pos, pos + take);
          const size = this.parseHeader(headerBytes, 0, had + take);
          if (size < 0) return;
          if (size === 0) {
            this.headerLength = had + take;
            return;
          }
          this.headerLength = 0;
          pos += size - had;
        } else {
          const size = this.parseHeader(chunk, pos, end);
          if (size < 0) return;
          if (size === 0) {
            chunk.copy((this.headerBytes ??= Buffer.allocUnsafe(MAX_HEADER)), 0, pos, end);
            this.headerLength = end - pos;
            return;
          }
          pos += size;
        }
        if (this.frameLength === 0) {
          this.frameDone(EMPTY, true, end);
          continue;
        }
        this.flags |= IN_PAYLOAD;
        this.frameReceived = 0;
      }
      const remaining = this.frameLength - this.frameReceived;
      const available = end - pos;
      const masked = this.role === 'server'; // parseHeader refused every frame masked the other way
      if (this.frameReceived === 0 && available >= remaining) {
        // The whole payload lies in this chunk: unmask in place, no copy.
        const payload = chunk.subarray(pos, pos + remaining);
        pos += remaining;
        if (masked) unmask(payload, this.maskKey, 0);
        this.flags &= ~IN_PAYLOAD;
        this.frameDone(payload, true, end);
      } else {
        const take = available < remaining ? available : remaining;
        const piece = chunk.subarray(pos, pos + take);
        pos += take;
        if (masked) unmask(piece, this.maskKey, this.frameReceived & 3);
        const offset = this.frameReceived;
        this.frameReceived += take;
        if (!this.framePiece(piece, offset, end)) return;
        if (this.frameReceived === this.frameLength) {
          this.flags &= ~IN_PAYLOAD;
          this.frameDone(EMPTY, false, end);
        }
      }
    }
    if (pos < end && (this.flags & STOPPED) === 0) (this.queued ??= []).unshift(chunk.subarray(pos)); // paused mid-chunk
  }

  /**
   * Parses and checks a frame header at buf[start..end). Returns its size, 0 if incomplete, -1 after failing
   * the connection. Every limit is checked here, on the declared length, before any payload is buffered.
   */
  private parseHeader(buf: Buffer, start: number, end: number): number {
    const available = end - start;
    if (available < 2) return 0;
    const b0 = buf[start]!;
    const b1 = buf[start + 1]!;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let size = 2 + (masked ? 4 : 0);
    if (length === 126) size += 2;
    else if (length === 127) size += 8;
    if (available < size) return 0;

    const fin = (b0 & FIN_BIT) !== 0;
    const rsv1 = (b0 & RSV1_BIT) !== 0;
    const opcode = b0 & 0x0f;

    if ((b0 & 0x30) !== 0) return this.fail(ErrorCodes.UNEXPECTED_RSV, CloseCode.PROTOCOL_ERROR, 'RSV2 and RSV3 must be clear');
    const expectMask = this.role === 'server';
    if (masked !== expectMask) {
      return expectMask
        ? this.fail(ErrorCodes.EXPECTED_MASK, CloseCode.PROTOCOL_ERROR, 'client frames must be masked')
        : this.fail(ErrorCodes.UNEXPECTED_MASK, CloseCode.PROTOCOL_ERROR, 'server frames must not be masked');
    }
    let p = start + 2;
    if (length === 126) {
      length = (buf[p]! << 8) | buf[p + 1]!;
      p += 2;
    } else if (length === 127) {
      const high = buf.readUInt32BE(p);
      const low = buf.readUInt32BE(p + 4);
      p += 8;
      if (high & 0x80000000) return this.fail(ErrorCodes.INVALID_LENGTH, CloseCode.PROTOCOL_ERROR, '64-bit payload length with the most significant bit set');
      // Above 2^53 a JS number loses precision; such a frame exceeds every limit anyway.
      length = high > 0x1fffff ? Number.MAX_SAFE_INTEGER : high * 0x100000000 + low;
    }

    if (opcode >= 0x8) {
      if (opcode > Opcode.PONG) return this.fail(ErrorCodes.INVALID_OPCODE, CloseCode.PROTOCOL_ERROR, `reserved opcode ${opcode}`);
      if (!fin) return this.fail(ErrorCodes.INVALID_CONTROL_FRAME, CloseCode.PROTOCOL_ERROR, 'fragmented control frame');
      if (length > MAX_CONTROL_PAYLOAD) return this.fail(ErrorCodes.INVALID_CONTROL_FRAME, CloseCode.PROTOCOL_ERROR, `control frame payload of ${length} bytes (maximum 125)`);
      if (rsv1) return this.fail(ErrorCodes.UNEXPECTED_RSV, CloseCode.PROTOCOL_ERROR, 'RSV1 set on a control frame');
    } else {
      if (opcode > Opcode.BINARY) return this.fail(ErrorCodes.INVALID_OPCODE, CloseCode.PROTOCOL_ERROR, `reserved opcode ${opcode}`);
      if (opcode === Opcode.CONTINUATION) {
        if (this.messageOpcode === 0) return this.fail(ErrorCodes.UNEXPECTED_CONTINUATION, CloseCode.PROTOCOL_ERROR, 'continuation frame with no message in progress');
        if (rsv1) return this.fail(ErrorCodes.UNEXPECTED_RSV, CloseCode.PROTOCOL_ERROR, 'RSV1 set on a continuation frame');
      } else {
        if (this.messageOpcode !== 0) return this.fail(ErrorCodes.EXPECTED_CONTINUATION, CloseCode.PROTOCOL_ERROR, 'new data frame while a fragmented message is in progress');
        if (rsv1 && (this.flags & RSV1_ALLOWED) === 0) return this.fail(ErrorCodes.UNEXPECTED_RSV, CloseCode.PROTOCOL_ERROR, 'RSV1 set but no extension was negotiated');
      }
      const limits = this.limits;
      if (length > limits.maxFrameSize) {
        return this.fail(ErrorCodes.FRAME_TOO_BIG, CloseCode.MESSAGE_TOO_BIG, `frame of ${length} bytes exceeds the limit of ${limits.maxFrameSize}`);
      }
      const messageLength = (opcode === Opcode.CONTINUATION ? this.messageLength : 0) + length;
      if (messageLength > limits.maxMessageSize) {
        return this.fail(ErrorCodes.MESSAGE_TOO_BIG, CloseCode.MESSAGE_TOO_BIG, `message exceeds the limit of ${limits.maxMessageSize} bytes`);
      }
      if (opcode === Opcode.CONTINUATION) {
        if (++this.fragments > limits.maxFragments) {
          return this.fail(ErrorCodes.TOO_MANY_FRAGMENTS, CloseCode.POLICY_VIOLATION, `message has more than ${limits.maxFragments} fragments`);
        }
      } else {
        this.messageOpcode = opcode;
        this.flags = (this.flags & ~(MESSAGE_COMPRESSED | STREAMING_UTF8)) | (rsv1 ? MESSAGE_COMPRESSED : 0);
        this.fragments = 1;
      }
      this.messageLength = messageLength;
    }

    if (masked) this.maskKey = (buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!;
    this.frameHead = b0;
    this.frameLength = length;
    return size;
  }

  /** A piece of a payload that spans chunks, already unmasked. Returns false after failing the connection. */
  private framePiece(piece: Buffer, offset: number, chunkLength: number): boolean {
    if ((this.frameHead & 0x0f) >= 0x8) {
      piece.copy((this.controlBytes ??= Buffer.allocUnsafe(MAX_CONTROL_PAYLOAD)), offset);
      return true;
    }
    (this.collected ??= new MessageBuffer()).append(piece, chunkLength);
    if (this.messageOpcode === Opcode.TEXT && (this.flags & MESSAGE_COMPRESSED) === 0) {
      // The first piece of a message that spans chunks starts streaming validation (earlier whole fragments
      // may already have started it).
      if (!this.validateStreaming(piece, (this.flags & STREAMING_UTF8) === 0)) return false;
    }
    return true;
  }

  /**
   * Validates the next piece of a text message incrementally; `first` starts a new validation. Returns false
   * after failing the connection.
   */
  private validateStreaming(piece: Buffer, first: boolean): boolean {
    let utf8 = this.utf8;
    if (first) {
      this.flags |= STREAMING_UTF8;
      if (utf8 === null) utf8 = this.utf8 = new Utf8Validator();
      else utf8.reset();
    }
    if (piece.length > 0 && !utf8!.push(piece)) {
      this.fail(ErrorCodes.INVALID_UTF8, CloseCode.INVALID_DATA, 'invalid UTF-8 in text message');
      return false;
    }
    return true;
  }

  /**
   * A frame has been received completely. `whole`: its payload is `payload` (it lay in one chunk);
   * otherwise its bytes were appended piece by piece (`framePiece`).
   */
  private frameDone(payload: Buffer, whole: boolean, chunkLength: number): void {
    const frameHead = this.frameHead;
    const opcode = frameHead & 0x0f;
    const fin = (frameHead & FIN_BIT) !== 0;
    if (opcode >= 0x8) {
      this.controlFrame(opcode, whole ? payload : this.controlBytes!.subarray(0, this.frameLength));
      return;
    }
    if ((this.flags & MESSAGE_COMPRESSED) !== 0) {
      let framePayload = payload;
      if (!whole) framePayload = this.collected!.take(); // handed over: the decompressor may hold it
      const isBinary = this.messageOpcode === Opcode.BINARY;
      if (fin) this.endMessage();
      this.handler.onCompressedFrame(framePayload, fin, isBinary);
      return;
    }
    if (whole && fin && opcode !== Opcode.CONTINUATION) {
      // The common case: a single-frame message that lay in one chunk. Zero-copy.
      if (opcode === Opcode.TEXT && !isValidUtf8(payload)) {
        this.fail(ErrorCodes.INVALID_UTF8, CloseCode.INVALID_DATA, 'invalid UTF-8 in text message');
        return;
      }
      this.endMessage();
      this.handler.onMessage(payload, opcode === Opcode.BINARY);
      return;
    }
    const isText = this.messageOpcode === Opcode.TEXT;
    if (whole && payload.length > 0) {
      // A whole fragment of a fragmented message: copy it in, and validate it if validation is streaming.
      (this.collected ??= new MessageBuffer()).append(payload, chunkLength);
      if (isText && (this.flags & STREAMING_UTF8) !== 0 && !this.validateStreaming(payload, false)) return;
    }
    if (isText && (this.flags & STREAMING_UTF8) === 0 && !fin) {
      // Fail fast: validate what we have at each fragment boundary, so an invalid sequence in the middle
      // of a message is caught in the fragment where it appears.
      // This is the message's first frame and it came whole: `payload` is all that was collected.
      if (!this.validateStreaming(payload, true)) return;
    }
    if (!fin) return;
    const collected = this.collected;
    const message = collected === null || collected.length === 0 ? EMPTY : collected.take();
    if (isText) {
      const valid = (this.flags & STREAMING_UTF8) !== 0 ? this.utf8!.end() : isValidUtf8(message);
      if (!valid) {
        this.fail(ErrorCodes.INVALID_UTF8, CloseCode.INVALID_DATA, 'invalid UTF-8 in text message');
        return;
      }
    }
    this.endMessage();
    this.handler.onMessage(message, !isText);
  }

  private endMessage(): void {
    this.messageOpcode = 0;
    this.flags &= ~(MESSAGE_COMPRESSED | STREAMING_UTF8);
    this.messageLength = 0;
    this.fragments = 0;
    this.collected?.reset();
  }

  private controlFrame(opcode: number, payload: Buffer): void {
    switch (opcode) {
      case Opcode.PING: {
        // Copy: the payload may be a view into the receive chunk or into our reusable control buffer.
        const data = Buffer.from(payload);
        if ((this.flags & (AUTO_PONG | CLOSE_QUEUED)) === AUTO_PONG) this.queuePong(data);
        this.handler.onPing(data);
        return;
      }
      case Opcode.PONG:
        this.handler.onPong(Buffer.from(payload));
        return;
      default: {
        const parsed = parseClosePayload(payload);
        if (parsed instanceof ProtocolError) {
          this.failWith(parsed);
          return;
        }
        this.stop();
        this.flags |= CLOSE_RECEIVED;
        this.closeCode = parsed.code;
        this.closeReason = parsed.reason;
        if ((this.flags & CLOSE_QUEUED) === 0) {
          // Echo the peer's code (RFC 6455 5.5.1), after what we already accepted; a close without a code is
          // answered without one.
          this.queueClose(parsed.code === CloseCode.NO_STATUS ? EMPTY : buildClosePayload(parsed.code));
        }
        this._state = ReadyState.CLOSED;
        this.handler.onClose(parsed.code, parsed.reason);
      }
    }
  }

  /**
   * Answers a ping, in order with the other output (every ping is answered: conformance suites count a
   * skipped pong as non-strict). The answer that reaches the high-water mark holds input, so a peer that floods
   * pings and never reads gets one pong beyond the mark and its flood waits in the kernel.
   */
  private queuePong(data: Buffer): void {
    this.pushReady(encodeFrame(Opcode.PONG, data, { mask: this.masksOutput }) as Buffer); // <= 131 bytes: one buffer
    if (this.bufferedAmount >= this.outbound.highWaterMark) this.holdInputIfBackedUp(0);
  }

  /** Stops reading for good: later input is ignored, queued input dropped. */
  private stop(): void {
    this.flags |= STOPPED;
    this.queued = null;
  }

  /**
   * A compressed message, inflated by the I/O layer: validated like every other message (UTF-8 for text),
   * then delivered. Ignored once the connection has failed.
   */
  receiveDecompressed(message: Buffer, isBinary: boolean): void {
    if ((this.flags & STOPPED) !== 0) return;
    if (!isBinary && !isValidUtf8(message)) {
      this.fail(ErrorCodes.INVALID_UTF8, CloseCode.INVALID_DATA, 'invalid UTF-8 in text message');
      return;
    }
    this.handler.onMessage(message, isBinary);
  }

  // ------------------------------------------------------------------------------------------------ failure

  private fail(code: ErrorCode, closeCode: number, message: string): -1 {
    this.failWith(new ProtocolError(code, closeCode, message));
    return -1;
  }

  /**
   * Fails the connection (RFC 6455 7.1.7): drops what waits behind pending frames, sends a close frame with
   * the error's code unless one was already queued, stops reading, and reports the error. Also used by the
   * I/O layer for errors it detects itself (invalid compressed data, an inflated message over the limit,
   * compression failure, heartbeat timeout).
   */
  failWith(error: ProtocolError): void {
    if ((this.flags & STOPPED) !== 0) return;
    this.stop();
    this.collected = null;
    this.cancelWaiting();
    this.closeCode = error.closeCode;
    this.closeReason = error.message;
    if ((this.flags & CLOSE_QUEUED) === 0) {
      // A code that may not be sent (1005, 1006, 1015: misuse by the layer above) goes out as 1011.
      const code = isValidWireCloseCode(error.closeCode) ? error.closeCode : CloseCode.INTERNAL_ERROR;
      this.queueClose(buildClosePayload(code, truncateReason(error.message)));
    }
    this._state = ReadyState.CLOSED;
    this.handler.onError(error);
  }

  // ------------------------------------------------------------------------------------------------ output

  /** Sends a data message (framed here; masked on the client), split into frames of `fragmentSize` if > 0. */
  send(payload: Buffer, binary: boolean, fragmentSize = 0): SendStatusValue {
    const status = this.admit(payload.length);
    if (status >= SendStatus.DROPPED) return status;
    const mask = this.masksOutput;
    const opcode = binary ? Opcode.BINARY : Opcode.TEXT;
    if (fragmentSize <= 0 || payload.length <= fragmentSize) {
      this.pushFrame(encodeFrame(opcode, payload, { mask }));
      return status;
    }
    let offset = 0;
    let op: number = opcode;
    do {
      const end = Math.min(offset + fragmentSize, payload.length);
      this.pushFrame(encodeFrame(op, payload.subarray(offset, end), { fin: end === payload.length, mask }));
      op = Opcode.CONTINUATION;
      offset = end;
    } while (offset < payload.length);
    return status;
  }

  /** Sends a text message straight from a string (its UTF-8 bytes are written once, behind the header). */
  sendText(text: string): SendStatusValue {
    const frame = encodeTextFrame(text, { mask: this.masksOutput });
    const status = this.admit(frame.length);
    if (status < SendStatus.DROPPED) this.pushFrame(frame);
    return status;
  }

  /** Sends frame bytes built elsewhere (a broadcast framed once). Server role only: they are unmasked. */
  sendFrame(frame: FrameBytes): SendStatusValue {
    const status = this.admit(frameSize(frame));
    if (status < SendStatus.DROPPED) this.pushFrame(frame);
    return status;
  }

  /**
   * Accepts a message whose frame comes later (`completePending`): later frames wait behind it. Its
   * `size` is accounted until then.
   */
  sendPending(pending: PendingFrame): SendStatusValue {
    const status = this.admit(pending.size);
    if (status >= SendStatus.DROPPED) {
      pending.cancelled = true;
      return status;
    }
    (this.waiting ??= []).push(pending);
    this.waitingBytes += pending.size;
    return status;
  }

  /**
   * Finishes a pending message with its (compressed) payload, framed here with RSV1; null sends nothing.
   * Frames waiting behind it that are now unblocked move to the output.
   */
  completePending(pending: PendingFrame, compressedPayload: Buffer | null): void {
    const frame = compressedPayload === null ? null : encodeFrame(pending.binary ? Opcode.BINARY : Opcode.TEXT, compressedPayload, { rsv1: true, mask: this.masksOutput });
    this.completePendingFrame(pending, frame);
  }

  /** Finishes a pending message with frame bytes built elsewhere (a broadcast compressed once). */
  completePendingFrame(pending: PendingFrame, frame: FrameBytes | null): void {
    if (pending.cancelled || pending.done) return;
    pending.frame = frame;
    pending.done = true;
    const waiting = this.waiting;
    if (waiting === null) return;
    while (waiting.length > 0) {
      const head = waiting[0]!;
      if (head instanceof PendingFrame) {
        if (!head.done) break;
        waiting.shift();
        this.waitingBytes -= head.size;
        if (head.frame !== null) this.pushReady(head.frame);
      } else {
        waiting.shift();
        this.waitingBytes -= head.length;
        this.pushReady(head);
      }
    }
    if (waiting.length === 0) {
      this.waiting = null;
      this.waitingBytes = 0;
      if ((this.flags & CLOSE_QUEUED) !== 0) this.flags |= CLOSE_READY;
    }
  }

  /** Sends a ping (payload at most 125 bytes; throws WireroomError otherwise). Pings do not wait behind pending frames. */
  ping(payload: Buffer): SendStatusValue {
    return this.sendControl(Opcode.PING, payload);
  }

  /** Sends an unsolicited pong (payload at most 125 bytes). */
  pong(payload: Buffer): SendStatusValue {
    return this.sendControl(Opcode.PONG, payload);
  }

  private sendControl(opcode: typeof Opcode.PING | typeof Opcode.PONG, payload: Buffer): SendStatusValue {
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `control frame payload of ${payload.length} bytes (maximum 125)`);
    }
    const frame = encodeFrame(opcode, payload, { mask: this.masksOutput }) as Buffer;
    const status = this.admit(frame.length);
    if (status < SendStatus.DROPPED) this.pushReady(frame);
    return status;
  }

  /**
   * Starts the closing handshake. Validates the arguments (throws WireroomError on a code that may not be
   * sent or a reason over 123 bytes) and queues the close frame behind every message already accepted.
   * Returns false if a close was already queued.
   */
  close(code?: number, reason?: string | Buffer): boolean {
    const payload = buildClosePayload(code, reason); // throws on misuse, before any state changes
    if (this._state !== ReadyState.OPEN || (this.flags & CLOSE_QUEUED) !== 0) return false;
    this._state = ReadyState.CLOSING;
    this.queueClose(payload);
    return true;
  }

  /** Marks the connection CLOSED without a closing handshake (TCP gone, or terminate()). */
  abort(): void {
    this.stop();
    this.collected = null;
    this.cancelWaiting();
    this.ready = null;
    this.readyBytes = 0;
    this._state = ReadyState.CLOSED;
  }

  /**
   * Hands the ready output to the I/O layer (null if none): the frames in send order. The array is the
   * caller's from now on. Our close frame counts as sent once taken.
   */
  takeOutput(): Buffer[] | null {
    const out = this.ready;
    this.flags &= ~OUTPUT_SIGNALLED;
    if (out === null) return null;
    this.ready = null;
    this.readyBytes = 0;
    if ((this.flags & CLOSE_READY) !== 0) this.flags |= CLOSE_SENT;
    return out;
  }

  /**
   * The transport is backed up (its peer is not reading): input is held until `outputWritten()`, whatever
   * filled it (data, or pongs, which are not counted against the cap).
   */
  outputBlocked(): void {
    this.flags |= OUTPUT_FULL;
  }

  /**
   * The transport has taken what it was given and is not backed up: input held at the high-water mark
   * is read again.
   */
  outputWritten(): void {
    if ((this.flags & OUTPUT_FULL) === 0) return;
    this.flags &= ~OUTPUT_FULL;
    this.continueInput();
  }

  /** Bytes accepted for sending and not yet taken by the peer: queued here (pending included) and in the transport. */
  get bufferedAmount(): number {
    return this.readyBytes + this.waitingBytes + this.handler.transportBuffered();
  }

  /** Output is queued here (ready or waiting behind a pending frame). */
  get hasQueuedOutput(): boolean {
    return this.ready !== null || this.waiting !== null;
  }

  /** Whether new messages are accepted (open, and no close frame queued). */
  get canSend(): boolean {
    return (this.flags & CLOSE_QUEUED) === 0 && this._state === ReadyState.OPEN;
  }

  /** Our close frame has been taken by the I/O layer. */
  get closeSent(): boolean {
    return (this.flags & CLOSE_SENT) !== 0;
  }

  /** The peer's close frame has been received. */
  get closeReceived(): boolean {
    return (this.flags & CLOSE_RECEIVED) !== 0;
  }

  /** Allows RSV1 on data frames from now on (permessage-deflate negotiated). */
  enableCompression(): void {
    this.flags |= RSV1_ALLOWED;
  }

  /**
   * Checks a message of `size` bytes against the outbound limits and applies the backpressure policy at the
   * cap. Reaching the high-water mark holds input (see `inputHeld`).
   */
  private admit(size: number): SendStatusValue {
    const flags = this.flags;
    if ((flags & CLOSE_QUEUED) !== 0 || this._state !== ReadyState.OPEN) return SendStatus.REFUSED;
    const limits = this.outbound;
    const buffered = this.bufferedAmount + size;
    if (buffered > limits.maxBufferedAmount && (flags & CAP_LIFTED) === 0) {
      const policy = limits.backpressure;
      if (policy === 'drop') return SendStatus.DROPPED;
      if (policy === 'close') {
        this.flags |= CAP_LIFTED; // the close frame must still go out behind what is queued
        this.failWith(new ProtocolError(ErrorCodes.OUTBOUND_BUFFER_FULL, limits.backpressureCloseCode, 'outbound buffer full (peer too slow)'));
        return SendStatus.REFUSED;
      }
      // 'wait': no cap; input is held while the output is above the high-water mark.
    }
    if (buffered < limits.highWaterMark) return SendStatus.QUEUED;
    this.holdInputIfBackedUp(size);
    return SendStatus.ABOVE_HIGH_WATER_MARK;
  }

  /**
   * Holds input when the output is backed up: the transport holds the high-water mark (its peer is not
   * keeping up), or this turn's own queue passes twice the mark. Output that the transport will take at the
   * end of this turn (a few large echoes) does not pause reading: a pause and resume cost two system calls.
   */
  private holdInputIfBackedUp(size: number): void {
    const mark = this.outbound.highWaterMark;
    if (this.handler.transportBuffered() >= mark || this.readyBytes + this.waitingBytes + size >= 2 * mark) this.flags |= OUTPUT_FULL;
  }

  /** Appends a data frame in send order: behind a pending frame if one waits. */
  private pushFrame(frame: FrameBytes): void {
    const waiting = this.waiting;
    if (waiting === null) {
      this.pushReady(frame);
    } else if (Array.isArray(frame)) {
      waiting.push(frame[0], frame[1]);
      this.waitingBytes += frame[0].length + frame[1].length;
    } else {
      waiting.push(frame);
      this.waitingBytes += frame.length;
    }
  }

  private pushReady(frame: FrameBytes): void {
    const ready = (this.ready ??= []);
    if (Array.isArray(frame)) {
      ready.push(frame[0], frame[1]);
      this.readyBytes += frame[0].length + frame[1].length;
    } else {
      ready.push(frame);
      this.readyBytes += frame.length;
    }
    this.signalOutput();
  }

  private signalOutput(): void {
    if ((this.flags & OUTPUT_SIGNALLED) !== 0) return;
    this.flags |= OUTPUT_SIGNALLED;
    this.handler.onOutputReady();
  }

  /** Queues our close frame behind everything accepted before it; nothing is accepted after it. */
  private queueClose(payload: Buffer): void {
    this.flags |= CLOSE_QUEUED;
    const frame = encodeFrame(Opcode.CLOSE, payload, { mask: this.masksOutput });
    if (this.waiting !== null) {
      this.pushFrame(frame);
    } else {
      this.flags |= CLOSE_READY;
      this.pushReady(frame);
    }
  }

  /** The connection failed: messages still waiting behind a pending frame are not sent. */
  private cancelWaiting(): void {
    const waiting = this.waiting;
    if (waiting === null) return;
    for (const item of waiting) if (item instanceof PendingFrame) item.cancelled = true;
    this.waiting = null;
    this.waitingBytes = 0;
  }
}
