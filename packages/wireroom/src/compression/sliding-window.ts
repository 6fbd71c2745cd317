/**
 * The last `capacity` bytes of a DEFLATE stream's plaintext: what a hibernated codec direction keeps
 * instead of its zlib context. A raw deflate or inflate stream created with these bytes as its
 * `dictionary` continues the old stream exactly (zlib's history is the last 2^windowBits bytes, and a
 * dictionary is loaded as that history), so the zlib context can be freed while the connection idles.
 *
 * A ring buffer: appending copies at most `capacity` bytes and never moves the bytes already kept.
 * Its storage grows by doubling up to `capacity`, so a connection that has only exchanged a few small
 * messages keeps a few hundred bytes, not a whole window.
 */

/** Smallest storage allocated: below this, growth steps would cost more in allocations than they save. */
const MIN_STORAGE = 256;

export class SlidingWindow {
  readonly capacity: number;
  /** Allocated lazily; `null` while empty. Never from Node's shared pool, so it pins nothing else. */
  private storage: Buffer | null = null;
  /** Index where the next byte goes (once full, also the index of the oldest byte). */
  private end = 0;
  /** Bytes kept, at most `storage.length`. */
  private length = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('window capacity must be a positive integer');
    this.capacity = capacity;
  }

  /** Bytes currently kept (at most `capacity`). */
  get size(): number {
    return this.length;
  }

  /** Bytes of memory the window holds (its storage, which may exceed `size`). */
  get allocatedBytes(): number {
    return this.storage === null ? 0 : this.storage.length;
  }

  /** Appends `data`; only its last `capacity` bytes matter. */
  append(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    const cap = this.capacity;
    if (n >= cap) {
      const storage = this.storage !== null && this.storage.length === cap ? this.storage : Buffer.allocUnsafeSlow(cap);
      storage.set(data.subarray(n - cap));
      this.storage = storage;
      this.end = 0;
      this.length = cap;
      return;
    }
    this.reserve(this.length + n);
    const storage = this.storage!;
    const size = storage.length;
    const first = Math.min(n, size - this.end);
    storage.set(first === n ? data : data.subarray(0, first), this.end);
    if (first < n) storage.set(data.subarray(first), 0);
    this.end = (this.end + n) % size;
    this.length = Math.min(size, this.length + n);
  }

  /** The kept bytes, oldest first, as one new buffer (empty when nothing is kept). */
  toBuffer(): Buffer {
    const storage = this.storage;
    if (storage === null || this.length === 0) return Buffer.alloc(0);
    const out = Buffer.allocUnsafeSlow(this.length);
    this.copyTo(out);
    return out;
  }

  /** Forgets every byte and frees the storage. */
  clear(): void {
    this.storage = null;
    this.end = 0;
    this.length = 0;
  }

  /** Grows the storage (doubling, up to `capacity`) so that `needed` bytes fit without dropping any. */
  private reserve(needed: number): void {
    const current = this.storage === null ? 0 : this.storage.length;
    if (current >= this.capacity || current >= needed) return;
    let size = Math.max(MIN_STORAGE, current);
    while (size < needed) size *= 2;
    size = Math.min(size, this.capacity);
    const grown = Buffer.allocUnsafeSlow(size);
    if (this.length > 0) this.copyTo(grown);
    this.storage = grown;
    this.end = this.length % size;
  }

  /** Copies the kept bytes, oldest first, to the start of `out`. */
  private copyTo(out: Buffer): void {
    const storage = this.storage!;
    const start = (this.end - this.length + storage.length) % storage.length;
    if (start + this.length <= storage.length) {
      storage.copy(out, 0, start, start + this.length);
    } else {
      const head = storage.length - start;
      storage.copy(out, 0, start, storage.length);
      storage.copy(out, head, 0, this.length - head);
    }
  }
}
