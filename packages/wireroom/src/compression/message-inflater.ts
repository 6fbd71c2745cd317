/**
 * The receiving direction of permessage-deflate (RFC 7692 7.2.2): inflates the frames of compressed
 * messages one by one, in order, with a size cap enforced while inflating.
 */
import { constants as zlibConstants, createInflateRaw, type InflateRaw } from 'node:zlib';
import { CloseCode } from '../protocol/constants.js';
import { ErrorCodes, ProtocolError } from '../protocol/errors.js';
import { joinOutputChunks } from './output-chunks.js';
import type { LiveContextPool } from './hibernation.js';
import { SerialZlibWorker } from './serial-zlib-worker.js';
import { SlidingWindow } from './sliding-window.js';
import type { ZlibJobLimiter } from './zlib-limiter.js';

/** The empty stored block the sender stripped from the end of every message (RFC 7692 7.2.1). */
const MESSAGE_TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * How many DEFLATE streams (each ended by a BFINAL=1 block) one message may contain. A sane sender
 * uses at most one per message; without a cap, a payload of `03 00` pairs (empty final blocks) would
 * make us create a zlib context per two input bytes.
 */
const MAX_DEFLATE_STREAMS_PER_MESSAGE = 8;

/** Receives `(null)` after a non-final frame, `(null, message)` after the final one, or an error. */
export type DecompressCallback = (error: ProtocolError | null, message?: Buffer) => void;

interface FrameJob {
  payload: Buffer;
  fin: boolean;
  maxMessageSize: number;
  callback: DecompressCallback;
}

/** Settings of the receiving direction, derived from the peer's negotiated parameters. */
export interface MessageInflaterConfig {
  /** The peer's max window bits; a peer that exceeds it fails with invalid data. */
  windowBits: number;
  /** The peer compresses every message with an empty window: free our context between messages. */
  peerNoContextTakeover: boolean;
  limiter: ZlibJobLimiter;
  /**
   * With context takeover: free the zlib context after this many ms without a frame, between
   * messages, keeping only the window (0: after every message; Infinity: never).
   */
  hibernateAfterMs: number;
  /** The cap on live contexts (with context takeover) this direction counts against. */
  pool: LiveContextPool;
}

/** Error for calls after `close()`; not a peer violation, so 1011 if it ever reaches the wire. */
export function codecClosedError(): ProtocolError {
  return new ProtocolError(ErrorCodes.INVALID_STATE, CloseCode.INTERNAL_ERROR, 'permessage-deflate codec is closed');
}

export class MessageInflater extends SerialZlibWorker<FrameJob, InflateRaw> {
  private readonly windowBits: number;
  private readonly peerNoContextTakeover: boolean;
  /** Output of the message being inflated. */
  private chunks: Buffer[] = [];
  private inflatedBytes = 0;
  private streamEndsInMessage = 0;
  private compressedBytesInMessage = 0;
  /** Input of the current frame and the stream's `bytesWritten` before it, to find unconsumed bytes. */
  private pendingInput: Buffer[] = [];
  private pendingInputLength = 0;
  private bytesWrittenBefore = 0;
  private bytesAtSizeFailure = 0;
  /** Set once the direction is unusable (peer error or close); every later call reports it. */
  private failure: ProtocolError | null = null;

  private readonly finishEmptyMessage = (): void => {
    if (this.current !== null) this.onFlushed(null); // unless close() abandoned it meanwhile
  };

  constructor(config: MessageInflaterConfig) {
    // The window: the last 2^windowBits bytes the current DEFLATE stream produced, enough for any
    // back-reference the peer may make. Nothing when the peer resets its window every message.
    super(config.limiter, {
      window: config.peerNoContextTakeover ? null : new SlidingWindow(2 ** config.windowBits),
      idleMs: config.hibernateAfterMs,
      pool: config.pool,
    });
    this.windowBits = config.windowBits;
    this.peerNoContextTakeover = config.peerNoContextTakeover;
  }

  /** Mid-message (frames of a fragmented message still to come) the stream holds state a window cannot carry. */
  protected override get isBetweenMessages(): boolean {
    return !this.isBusy && this.compressedBytesInMessage === 0;
  }

  /** Inflated size of the message when the size cap stopped it, 0 if it never did. */
  get inflatedBytesAtFailure(): number {
    return this.bytesAtSizeFailure;
  }

  /** See `PerMessageDeflate.decompress`. */
  decompress(payload: Buffer, fin: boolean, maxMessageSize: number, callback: DecompressCallback): void {
    if (this.failure !== null) {
      process.nextTick(callback, this.failure);
      return;
    }
    this.submit({ payload, fin, maxMessageSize, callback });
  }

  /** Frees the zlib context; pending and later calls fail with `INVALID_STATE`. */
  close(): void {
    if (this.failure === null) this.failWith(codecClosedError(), true);
  }

  protected start(job: FrameJob): void {
    this.markUsed();
    this.compressedBytesInMessage += job.payload.length;
    if (!job.fin) {
      this.feed([job.payload]);
    } else if (this.compressedBytesInMessage === 0) {
      // A compressed message with no payload at all: appending the trailer alone would leave zlib
      // waiting in the middle of a stored block header and corrupt the next message. It is empty.
      process.nextTick(this.finishEmptyMessage); // async like every other outcome
    } else {
      this.feed(job.payload.length > 0 ? [job.payload, MESSAGE_TRAILER] : [MESSAGE_TRAILER]);
    }
  }

  protected startFailed(error: Error): void {
    this.failWith(new ProtocolError(ErrorCodes.INVALID_STATE, CloseCode.INTERNAL_ERROR, `zlib inflate failed: ${error.message}`), false);
  }

  private feed(pieces: Buffer[]): void {
    const stream = this.stream ?? this.createStream();
    this.pendingInput = pieces;
    this.pendingInputLength = 0;
    this.bytesWrittenBefore = stream.bytesWritten;
    for (const piece of pieces) {
      this.pendingInputLength += piece.length;
      if (piece.length > 0) stream.write(piece);
    }
    stream.flush(zlibConstants.Z_SYNC_FLUSH, this.onStreamFlushed);
  }

  private createStream(): InflateRaw {
    // Resuming after hibernation: the kept output becomes the inflater's window.
    const dictionary = this.window !== null && this.window.size > 0 ? this.window.toBuffer() : undefined;
    const stream = createInflateRaw({ windowBits: this.windowBits, ...(dictionary !== undefined && { dictionary }) });
    // Handlers are bound to this stream once (not per frame) and ignore it after it is replaced,
    // since a discarded stream may still report a flush or an error.
    stream.on('data', (chunk: Buffer) => {
      if (this.stream === stream) this.onData(chunk);
    });
    stream.on('error', (error: Error) => {
      if (this.stream === stream) this.failWith(invalidData(error.message), false);
    });
    this.onStreamFlushed = () => {
      if (this.stream === stream) this.onFlushed(stream);
    };
    this.attachStream(stream);
    return stream;
  }

  private onData(chunk: Buffer): void {
    const job = this.current;
    if (job === null) return;
    this.inflatedBytes += chunk.length;
    // Checked per output chunk (16 KiB), so a bomb costs at most the limit plus one chunk.
    if (this.inflatedBytes > job.maxMessageSize) {
      this.bytesAtSizeFailure = this.inflatedBytes;
      this.failWith(
        new ProtocolError(ErrorCodes.MESSAGE_TOO_BIG, CloseCode.MESSAGE_TOO_BIG, `Decompressed message exceeds ${job.maxMessageSize} bytes`),
        false,
      );
      return;
    }
    this.chunks.push(chunk);
    this.window?.append(chunk);
  }

  /** `stream` is null when nothing was fed. */
  private onFlushed(stream: InflateRaw | null): void {
    const consumed = stream === null ? 0 : stream.bytesWritten - this.bytesWrittenBefore;
    if (consumed < this.pendingInputLength) {
      // A BFINAL=1 block ended the DEFLATE stream (RFC 7692 7.2.3.4). Like browsers, continue with
      // a fresh context on the bytes after it (normally the `00` + trailer of an empty stored block).
      this.discardStream();
      // The next stream starts with an empty window (as a browser's reset inflater does).
      this.window?.clear();
      if (++this.streamEndsInMessage >= MAX_DEFLATE_STREAMS_PER_MESSAGE) {
        this.failWith(invalidData('too many DEFLATE streams in one message'), false);
        return;
      }
      this.feed(skipBytes(this.pendingInput, consumed));
      return;
    }
    this.pendingInput = [];
    this.pendingInputLength = 0;
    const job = this.current!;
    if (!job.fin) {
      this.finishCurrent();
      job.callback(null);
      return;
    }
    const message = joinOutputChunks(this.chunks, this.inflatedBytes);
    this.chunks = [];
    this.inflatedBytes = 0;
    this.streamEndsInMessage = 0;
    this.compressedBytesInMessage = 0;
    if (this.peerNoContextTakeover) this.discardStream();
    this.finishCurrent();
    this.messageDone();
    job.callback(null, message);
  }

  /**
   * Makes the direction unusable: frees the context and fails the current job and every queued one.
   * With `deferred` (close) the callbacks run on the next tick, so a caller is never called back
   * from inside its own `close()`.
   */
  private failWith(error: ProtocolError, deferred: boolean): void {
    this.failure = error;
    this.discardStream();
    this.window?.clear();
    this.chunks = [];
    this.inflatedBytes = 0;
    this.streamEndsInMessage = 0;
    this.compressedBytesInMessage = 0;
    this.pendingInput = [];
    this.pendingInputLength = 0;
    this.failAllJobs(error, deferred);
  }
}


function invalidData(detail: string): ProtocolError {
  return new ProtocolError(ErrorCodes.INVALID_COMPRESSED_DATA, CloseCode.INVALID_DATA, `Invalid compressed data: ${detail}`);
}

/** `pieces` without their first `count` bytes (rare path: only after a BFINAL block). */
function skipBytes(pieces: Buffer[], count: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const piece of pieces) {
    if (count >= piece.length) {
      count -= piece.length;
      continue;
    }
    rest.push(count > 0 ? piece.subarray(count) : piece);
    count = 0;
  }
  return rest;
}
