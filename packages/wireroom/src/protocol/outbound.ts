/**
 * The outbound side of the protocol core: limits, what a send did, and the placeholder of a message whose
 * bytes are still being produced. The core (`protocol.ts`) owns the queue; this module only names its parts.
 */

/** What happens when a connection's outbound buffer would pass `maxBufferedAmount`. */
export type BackpressurePolicy = 'close' | 'drop' | 'wait';

/** Limits of the outbound side, shared (frozen) by every connection of a server or client. */
export interface OutboundLimits {
  /**
   * Above this many buffered bytes, `send()` returns false ('drain' follows); when the transport holds this much
   * (or one turn's queue twice this) the connection stops reading from the peer until the transport has taken
   * the bytes: a peer that does not read cannot make us buffer its requests' answers (echoes, pongs). Default 64 KiB.
   */
  highWaterMark: number;
  /** Hard cap on buffered outbound bytes; the backpressure policy decides what happens at it. Default 8 MiB. */
  maxBufferedAmount: number;
  /** At the cap: 'close' (default; close code below), 'drop' (the message is discarded), 'wait' (no cap). */
  backpressure: BackpressurePolicy;
  /** Close code of the 'close' policy: 1008 (policy violation, default) or 1013 (try again later). */
  backpressureCloseCode: 1008 | 1013;
}

export const DEFAULT_OUTBOUND: Readonly<OutboundLimits> = Object.freeze({
  highWaterMark: 64 * 1024,
  maxBufferedAmount: 8 * 1024 * 1024,
  backpressure: 'close' as BackpressurePolicy,
  backpressureCloseCode: 1008 as 1008 | 1013,
});

export function resolveOutboundLimits(options: Partial<OutboundLimits>): Readonly<OutboundLimits> {
  return Object.freeze({
    highWaterMark: options.highWaterMark ?? DEFAULT_OUTBOUND.highWaterMark,
    maxBufferedAmount: options.maxBufferedAmount ?? DEFAULT_OUTBOUND.maxBufferedAmount,
    backpressure: options.backpressure ?? DEFAULT_OUTBOUND.backpressure,
    backpressureCloseCode: options.backpressureCloseCode ?? DEFAULT_OUTBOUND.backpressureCloseCode,
  });
}

/** What the core did with a message handed to it. */
export const SendStatus = {
  /** Queued; the buffer is below the high-water mark. */
  QUEUED: 0,
  /** Queued; the buffer is at or above the high-water mark: 'drain' is owed. */
  ABOVE_HIGH_WATER_MARK: 1,
  /** Discarded by the 'drop' policy (the buffer is at its cap). */
  DROPPED: 2,
  /** Not queued: the connection is closing or closed (or the 'close' policy just failed it). */
  REFUSED: 3,
} as const;
export type SendStatusValue = (typeof SendStatus)[keyof typeof SendStatus];

/** Frame bytes as the frame writer produces them: one buffer, or a header and an uncopied payload. */
export type FrameBytes = Buffer | [Buffer, Buffer];

export function frameSize(frame: FrameBytes): number {
  return Array.isArray(frame) ? frame[0].length + frame[1].length : frame.length;
}

/**
 * A message accepted for sending whose frame is produced later (compressed on zlib's thread pool, or shared
 * by a broadcast). It holds its place in the send order: every frame accepted after it, our Close included,
 * waits until it is complete.
 */
export class PendingFrame {
  /** The finished frame, or null (nothing to send: the production failed). */
  frame: FrameBytes | null = null;
  done = false;
  /** The connection failed before the frame was finished: it will not be sent. */
  cancelled = false;
  constructor(
    /** Bytes accounted for it until it is finished (the uncompressed size: an upper estimate). */
    readonly size: number,
    readonly binary: boolean,
  ) {}
}
