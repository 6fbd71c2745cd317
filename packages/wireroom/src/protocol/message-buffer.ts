/**
 * Collects the bytes of a message (or of a compressed frame) that does not lie within one chunk, and joins
 * them once at the end: one copy per byte, as with a list of chunks, and memory that follows the bytes
 * received, not the length a peer declares.
 *
 * Two rules keep memory bounded against hostile framing:
 * - a piece that covers most of its chunk is kept as a view (no copy: the chunk holds little else);
 * - a small piece, or one that is a small part of its chunk, is copied into a shared scratch buffer, so
 *   100,000 one-byte fragments cost ~100 KB, not 100,000 objects, and no fragment pins a whole chunk.
 */
const SCRATCH_SIZE = 4096;
/** A piece is kept as a view only if it is at least this large... */
const MIN_VIEW = 1024;
/** ...and at least this fraction of the chunk it lies in (1/4). */
const VIEW_SHARE_SHIFT = 2;

export class MessageBuffer {
  private pieces: Buffer[] = [];
  private scratch: Buffer | null = null;
  private scratchStart = 0;
  private scratchEnd = 0;
  /** Bytes collected so far. */
  length = 0;

  /** Adds a piece; `chunkLength` is the length of the chunk the piece is a view of. */
  append(piece: Buffer, chunkLength: number): void {
    const size = piece.length;
    if (size === 0) return;
    this.length += size;
    if (size >= MIN_VIEW && size >= chunkLength >>> VIEW_SHARE_SHIFT) {
      this.closeScratch();
      this.pieces.push(piece);
      return;
    }
    if (size > SCRATCH_SIZE) {
      // Too large for the scratch buffer but only a small part of its chunk: copy it alone.
      this.closeScratch();
      this.pieces.push(Buffer.from(piece));
      return;
    }
    let scratch = this.scratch;
    if (scratch === null || scratch.length - this.scratchEnd < size) {
      this.closeScratch();
      scratch = this.scratch = Buffer.allocUnsafe(SCRATCH_SIZE);
      this.scratchStart = this.scratchEnd = 0;
    }
    scratch.set(piece, this.scratchEnd);
    this.scratchEnd += size;
  }

  /** The collected bytes as one buffer (a view when there is a single piece); then starts empty. */
  take(): Buffer {
    this.closeScratch();
    const pieces = this.pieces;
    const result = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, this.length);
    this.reset();
    return result;
  }

  /** Drops everything collected. */
  reset(): void {
    this.pieces = [];
    this.scratch = null; // a view of it may have been handed out
    this.scratchStart = this.scratchEnd = 0;
    this.length = 0;
  }

  /** Turns the filled part of the scratch buffer into a piece, keeping the rest for later bytes. */
  private closeScratch(): void {
    if (this.scratch !== null && this.scratchEnd > this.scratchStart) {
      this.pieces.push(this.scratch.subarray(this.scratchStart, this.scratchEnd));
      this.scratchStart = this.scratchEnd;
    }
  }
}
