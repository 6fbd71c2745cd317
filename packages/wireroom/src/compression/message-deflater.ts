/**
 * The sending direction of permessage-deflate (RFC 7692 7.2.1): compresses whole messages, in order,
 * each ended with a sync flush whose trailing `00 00 ff ff` is removed.
 */
import { constants as zlibConstants, createDeflateRaw, type DeflateRaw } from 'node:zlib';
import { ErrorCodes, WireroomError } from '../protocol/errors.js';
import { joinOutputChunks } from './output-chunks.js';
import type { LiveContextPool } from './hibernation.js';
import { SerialZlibWorker } from './serial-zlib-worker.js';
import { SlidingWindow } from './sliding-window.js';
import type { ZlibJobLimiter } from './zlib-limiter.js';

/** Receives the compressed payload (the bytes to put in the frame(s) with RSV1 set), or an error. */
export type CompressCallback = (error: Error | null, payload?: Buffer) => void;

interface MessageJob {
  data: Buffer;
  callback: CompressCallback;
}

/** Settings of the sending direction, derived from our negotiated parameters and the options. */
export interface MessageDeflaterConfig {
  /** Our negotiated max window bits (8 is compressed with 9, see `zlibDeflateWindowBits`). */
  windowBits: number;
  /** Compress every message with an empty window, and free the context between messages. */
  noContextTakeover: boolean;
  level: number;
  memLevel: number;
  limiter: ZlibJobLimiter;
  /**
   * With context takeover: free the zlib context after this many ms without a message, keeping only
   * the window (0: after every message; Infinity: never). Ignored without context takeover.
   */
  hibernateAfterMs: number;
  /** The cap on live contexts (with context takeover) this direction counts against. */
  pool: LiveContextPool;
}

/**
 * zlib refuses a raw 8-bit deflate window and Node silently uses 9. That is still valid for a peer
 * limited to 8 bits: with a 512-byte window zlib never emits a distance above 512 - 262 = 250.
 */
export function zlibDeflateWindowBits(negotiated: number): number {
  return negotiated < 9 ? 9 : negotiated;
}

export class MessageDeflater extends SerialZlibWorker<MessageJob, DeflateRaw> {
  private readonly config: MessageDeflaterConfig;
  private chunks: Buffer[] = [];
  private outputBytes = 0;
  private failure: Error | null = null;

  constructor(config: MessageDeflaterConfig) {
    // The window uses the bits zlib really uses (9 for a negotiated 8), since it becomes zlib's history.
    super(config.limiter, {
      window: config.noContextTakeover ? null : new SlidingWindow(2 ** zlibDeflateWindowBits(config.windowBits)),
      idleMs: config.hibernateAfterMs,
      pool: config.pool,
    });
    this.config = config;
  }

  /** See `PerMessageDeflate.compress`. */
  compress(data: Buffer, callback: CompressCallback): void {
    if (this.failure !== null) {
      process.nextTick(callback, this.failure);
      return;
    }
    this.submit({ data, callback });
  }

  /** Frees the zlib context; pending and later calls fail with `INVALID_STATE`. */
  close(): void {
    if (this.failure === null) {
      this.failWith(new WireroomError(ErrorCodes.INVALID_STATE, 'permessage-deflate codec is closed'), true);
    }
  }

  protected start(job: MessageJob): void {
    const stream = this.stream ?? this.createStream();
    this.markUsed();
    if (job.data.length > 0) {
      stream.write(job.data);
      // Copied, not referenced: the caller may reuse `data` after the callback.
      this.window?.append(job.data);
    }
    // Z_SYNC_FLUSH, not the stream's default Z_FULL_FLUSH: a full flush would also empty the window
    // and silently turn context takeover off.
    stream.flush(zlibConstants.Z_SYNC_FLUSH, this.onStreamFlushed);
  }

  protected startFailed(error: Error): void {
    this.failWith(error, false);
  }

  private createStream(): DeflateRaw {
    const { level, memLevel, windowBits } = this.config;
    // Resuming after hibernation: the kept window becomes zlib's history, so the new stream goes on
    // exactly where the old one stopped (the peer's inflater sees one continuous stream).
    const dictionary = this.window !== null && this.window.size > 0 ? this.window.toBuffer() : undefined;
    const stream = createDeflateRaw({
      level,
      memLevel,
      windowBits: zlibDeflateWindowBits(windowBits),
      ...(dictionary !== undefined && { dictionary }),
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.stream !== stream) return;
      this.chunks.push(chunk);
      this.outputBytes += chunk.length;
    });
    stream.on('error', (error: Error) => {
      if (this.stream === stream) this.failWith(error, false);
    });
    this.onStreamFlushed = () => {
      if (this.stream === stream) this.onFlushed();
    };
    this.attachStream(stream);
    return stream;
  }

  private onFlushed(): void {
    const joined = joinOutputChunks(this.chunks, this.outputBytes);
    this.chunks = [];
    this.outputBytes = 0;
    let payload = endsWithSyncTrailer(joined) ? joined.subarray(0, joined.length - 4) : joined;
    // zlib writes nothing for a sync flush right after another one (an empty message following a
    // message); `00` is the empty message the peer expects (RFC 7692 7.2.3.6).
    if (payload.length === 0) payload = EMPTY_MESSAGE;
    if (this.config.noContextTakeover) this.discardStream();
    const job = this.finishCurrent();
    this.messageDone();
    job.callback(null, payload);
  }

  private failWith(error: Error, deferred: boolean): void {
    this.failure = error;
    this.discardStream();
    this.window?.clear();
    this.chunks = [];
    this.outputBytes = 0;
    this.failAllJobs(error, deferred);
  }
}

/** An empty message: with the peer's `00 00 ff ff` it forms an empty stored block. */
const EMPTY_MESSAGE = Buffer.from([0x00]);


function endsWithSyncTrailer(data: Buffer): boolean {
  const n = data.length;
  return n >= 4 && data[n - 4] === 0x00 && data[n - 3] === 0x00 && data[n - 2] === 0xff && data[n - 1] === 0xff;
}
