/**
 * The byte transport under a connection: anything that moves bytes both ways with Node's stream interface.
 * `net.Socket`, `tls.TLSSocket`, an HTTP/2 stream and an in-memory duplex (tests) all qualify. The connection
 * uses only: write, cork/uncork, end, destroy, pause/resume, writableLength/writableNeedDrain, writable,
 * destroyed, allowHalfOpen, and the events 'data', 'drain', 'end', 'close', 'error'.
 */
import type { Duplex } from 'node:stream';

export type Transport = Duplex;

/**
 * Queued frames up to this many bytes in all are concatenated into one write; above it they go out as one
 * corked writev. Copying 16 KiB frames into a 64 KiB concat cost more than the writev (echo16k profile).
 */
const COALESCE_LIMIT = 8 * 1024;
/**
 * In a corked writev, runs of frames smaller than this are joined into one buffer of up to COALESCE_LIMIT:
 * every write the transport holds costs a few hundred bytes of bookkeeping, so 100,000 queued 50-byte frames
 * for a peer that does not read would cost far more than their bytes.
 */
const SMALL_FRAME = 1024;

/**
 * Writes frames in order with as few transport writes as possible. `written`, if given, is the callback of the
 * last write (called when every frame has been handed to the kernel, or with the write error).
 */
export function writeFrames(transport: Transport, frames: readonly Buffer[], written?: (error?: Error | null) => void): void {
  const count = frames.length;
  if (count === 1) {
    transport.write(frames[0]!, written);
    return;
  }
  let total = 0;
  for (let i = 0; i < count; i++) total += frames[i]!.length;
  if (total <= COALESCE_LIMIT) {
    transport.write(Buffer.concat(frames as Buffer[], total), written);
    return;
  }
  transport.cork();
  let runStart = 0;
  let runBytes = 0;
  for (let i = 0; i < count; i++) {
    const frame = frames[i]!;
    if (frame.length < SMALL_FRAME && runBytes + frame.length <= COALESCE_LIMIT) {
      runBytes += frame.length;
      continue;
    }
    writeRun(transport, frames, runStart, i, runBytes);
    if (frame.length < SMALL_FRAME) {
      runStart = i;
      runBytes = frame.length;
    } else {
      transport.write(frame);
      runStart = i + 1;
      runBytes = 0;
    }
  }
  writeRun(transport, frames, runStart, count, runBytes);
  // The callback rides on an empty write behind the others: writes complete in order.
  if (written !== undefined) transport.write(EMPTY, written);
  transport.uncork();
}

const EMPTY = Buffer.alloc(0);

function writeRun(transport: Transport, frames: readonly Buffer[], start: number, end: number, bytes: number): void {
  if (end - start === 1) transport.write(frames[start]!);
  else if (end > start) transport.write(Buffer.concat(frames.slice(start, end), bytes));
}

/** HTTP/2's CANCEL error code (RFC 9113 section 7): what RFC 8441 section 5 says an abnormal close sends. */
const NGHTTP2_CANCEL = 8;

/** The part of an `Http2Stream` the connection uses beyond Duplex (duck-typed: no node:http2 import here). */
interface StreamLike {
  session: { socket?: { remoteAddress?: string; remotePort?: number } } | undefined;
  close(code?: number): void;
  rstCode: number | undefined;
}

/** Whether the transport is an HTTP/2 stream (RFC 8441): it has a session and closes with an error code. */
export function isHttp2Stream(transport: Transport): boolean {
  const t = transport as unknown as Partial<StreamLike>;
  return typeof t.close === 'function' && 'rstCode' in t && typeof t.session === 'object';
}

/**
 * Ends the transport abruptly. A socket is destroyed (TCP RST or FIN); an HTTP/2 stream is reset with CANCEL
 * (RFC 8441 section 5): `destroy()` on an Http2Stream would send RST_STREAM with NO_ERROR, which reads as
 * "done" rather than "aborted".
 */
export function abortTransport(transport: Transport): void {
  if (isHttp2Stream(transport)) {
    const stream = transport as unknown as StreamLike & Transport;
    if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
    return;
  }
  transport.destroy();
}

/** The peer's address: the socket's, or for an HTTP/2 stream its session's socket's. */
export function peerAddress(transport: Transport | null): { address: string | undefined; port: number | undefined } {
  if (transport === null) return { address: undefined, port: undefined };
  const direct = transport as unknown as { remoteAddress?: string; remotePort?: number };
  if (direct.remoteAddress !== undefined) return { address: direct.remoteAddress, port: direct.remotePort };
  const socket = (transport as unknown as Partial<StreamLike>).session?.socket;
  return { address: socket?.remoteAddress, port: socket?.remotePort };
}
