/**
 * A FIFO cap on concurrent zlib jobs. node:zlib runs every async job on the libuv thread pool (4
 * threads by default, shared with fs and dns) and each running job pins its input and output
 * buffers; thousands of connections compressing at once would starve the pool and fragment memory
 * (the problem `ws` hit and solved the same way). Jobs beyond the cap wait in arrival order.
 */

/** Something that can run once a slot is free. It must call `release()` exactly once when done. */
export interface ZlibJob {
  runZlibJob(): void;
}

/** The default cap on concurrent zlib jobs (the value `ws` uses). */
export const DEFAULT_ZLIB_CONCURRENCY = 10;

/** Admits at most `limit` jobs at once, in FIFO order. */
export class ZlibJobLimiter {
  readonly limit: number;
  private running = 0;
  private highWater = 0;
  private queue: Array<ZlibJob | undefined> = [];
  private head = 0;
  private draining = false;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('zlib concurrency limit must be a positive integer');
    this.limit = limit;
  }

  /** Jobs running now. */
  get active(): number {
    return this.running;
  }

  /** Jobs waiting for a slot. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Most jobs ever running at once since creation or `resetPeak()` (for tests and metrics). */
  get peak(): number {
    return this.highWater;
  }

  resetPeak(): void {
    this.highWater = this.running;
  }

  /** Queues `job`; it runs as soon as a slot is free (possibly synchronously, inside this call). */
  enqueue(job: ZlibJob): void {
    this.queue.push(job);
    this.drain();
  }

  /** Frees the slot of a job that has finished, and starts the next one. */
  release(): void {
    if (this.running === 0) throw new Error('ZlibJobLimiter.release() without a running job');
    this.running--;
    this.drain();
  }

  private drain(): void {
    // A job may finish synchronously and call release() from runZlibJob(); the loop below picks up
    // the freed slot instead of recursing, so a long queue of finished jobs cannot blow the stack.
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.running < this.limit && this.head < this.queue.length) {
        const job = this.queue[this.head]!;
        this.queue[this.head++] = undefined; // drop the reference early
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        this.running++;
        if (this.running > this.highWater) this.highWater = this.running;
        job.runZlibJob();
      }
      if (this.head === this.queue.length && this.head > 0) {
        this.queue.length = 0;
        this.head = 0;
      }
    } finally {
      this.draining = false;
    }
  }
}

const sharedLimiters = new Map<number, ZlibJobLimiter>();

/**
 * The process-wide limiter for `limit`: every codec configured with the same limit shares one queue
 * (with the default options that is a single global queue). Codecs configured with different limits
 * get different queues, so the process total is the sum of the distinct limits in use.
 */
export function sharedZlibLimiter(limit: number = DEFAULT_ZLIB_CONCURRENCY): ZlibJobLimiter {
  let limiter = sharedLimiters.get(limit);
  if (limiter === undefined) {
    limiter = new ZlibJobLimiter(limit);
    sharedLimiters.set(limit, limiter);
  }
  return limiter;
}
