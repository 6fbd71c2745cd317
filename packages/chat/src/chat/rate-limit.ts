/** Per-connection abuse limits: a token bucket for rates and a sliding window for repeated errors. */

/** Source of the current time in ms; injectable so tests need not sleep. */
export type Clock = () => number;

/**
 * A token bucket: holds up to `capacity` tokens, refilled continuously at `ratePerSecond`.
 * Constant memory; the refill is computed lazily on each take.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly ratePerSecond: number,
    readonly capacity: number,
    private readonly now: Clock = Date.now,
  ) {
    this.tokens = capacity;
    this.updatedAt = now();
  }

  private refill(): void {
    const t = this.now();
    if (t > this.updatedAt) {
      this.tokens = Math.min(this.capacity, this.tokens + ((t - this.updatedAt) * this.ratePerSecond) / 1000);
    }
    this.updatedAt = t;
  }

  /** Takes one token if available. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Milliseconds until one token will be available (0 when one is available now). */
  msUntilNext(): number {
    this.refill();
    if (this.tokens >= 1) return 0;
    // The epsilon keeps float noise (0.995 tokens -> 1.0000000001 ms) from rounding up a whole ms.
    return Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond - 1e-9);
  }
}

/**
 * Counts events in a sliding time window and says when more than `max` happened within `windowMs`.
 * Keeps only the last `max + 1` timestamps in a ring buffer.
 */
export class SlidingWindowCounter {
  private readonly times: Float64Array;
  private next = 0;
  private count = 0;

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly now: Clock = Date.now,
  ) {
    this.times = new Float64Array(max + 1);
  }

  /** Records one event; returns true when this event makes more than `max` within the window. */
  record(): boolean {
    const t = this.now();
    this.times[this.next] = t;
    this.next = (this.next + 1) % this.times.length;
    if (this.count < this.times.length) this.count++;
    if (this.count < this.times.length) return false;
    // The ring is full: the oldest of the last max+1 events sits at `next`.
    const oldest = this.times[this.next] as number;
    return t - oldest < this.windowMs;
  }
}
