/**
 * Where codec directions with context takeover keep their zlib contexts under control, in one place:
 *
 * - **The cap** (`LiveContextPool`): at most `limit` such contexts alive at once across every codec
 *   sharing the pool (one pool per distinct `maxLiveContexts`, like the zlib job limiter: with default
 *   options, one for the process). The pool keeps its directions in least-recently-used order; when a
 *   direction creates a context beyond the cap, the least recently used directions that are between
 *   messages are hibernated at once (a direction in the middle of a message or with calls queued is
 *   never touched; if every other one is busy the pool is over its cap until one finishes a message).
 *   This bounds what a burst costs: the allocator keeps the peak of live contexts (glibc does not
 *   return freed memory in the middle of its heaps), so the peak is what must be bounded.
 * - **The idle sweep**: one shared, unref'd timer that hibernates directions idle for their
 *   `hibernateAfterMs`. It walks only directions holding a context (those in a pool), so there is no
 *   timer per connection and no work for sleeping ones, and it runs only while some direction is awake.
 *   Time is counted in sweeps, not read from a clock on every message: a direction stamps the current
 *   sweep number when used, and a direction idle for `idleMs` is released after between `idleMs` and
 *   `idleMs` plus one period.
 */

/** What the pool and the sweep need of a codec direction. */
export interface Hibernating {
  /** The sweep number when the direction was last used (see `currentSweep`). */
  readonly lastUsedSweep: number;
  /** Its idle time in ms before the sweep hibernates it (0 or Infinity: never by the sweep). */
  readonly idleMs: number;
  /**
   * Frees the zlib context if the direction is between messages; otherwise asks for it to be freed
   * as soon as it is. Returns whether it was freed now.
   */
  hibernate(): boolean;
  /** Frees the zlib context only if the direction is between messages, and does nothing otherwise. */
  hibernateIfIdle(): boolean;
}

/** Default cap on live zlib contexts with context takeover, per pool (see `maxLiveContexts`). */
export const DEFAULT_MAX_LIVE_CONTEXTS = 2048;

/** The sweep period: a quarter of the shortest idle time registered, within these bounds. */
const MIN_PERIOD_MS = 25;
const MAX_PERIOD_MS = 1000;

/** A process-wide cap on live zlib contexts, evicting the least recently used idle direction. */
export class LiveContextPool {
  /** At most this many contexts alive at once (Infinity: no cap, only the idle sweep). */
  readonly limit: number;
  /** Directions holding a context, least recently used first (a Set keeps insertion order). */
  private readonly live = new Set<Hibernating>();
  private highWater = 0;
  private evictions = 0;

  constructor(limit: number) {
    if (!(limit === Infinity || (Number.isInteger(limit) && limit >= 1))) {
      throw new RangeError('maxLiveContexts must be a positive integer or Infinity');
    }
    this.limit = limit;
  }

  /** Contexts alive now in this pool. */
  get size(): number {
    return this.live.size;
  }

  /** Most contexts alive at once since creation or `resetPeak()` (for tests and metrics). */
  get peak(): number {
    return this.highWater;
  }

  /** Directions hibernated because the cap was reached (not by the sweep), since creation. */
  get evicted(): number {
    return this.evictions;
  }

  resetPeak(): void {
    this.highWater = this.live.size;
  }

  /** `direction` now holds a context: it becomes the most recently used; others may be evicted. */
  add(direction: Hibernating): void {
    this.live.add(direction);
    if (this.live.size > this.limit) this.trim(direction);
    if (this.live.size > this.highWater) this.highWater = this.live.size;
    scheduleSweep(direction.idleMs);
  }

  /** `direction` is used again: it becomes the most recently used. */
  touch(direction: Hibernating): void {
    if (this.live.delete(direction)) this.live.add(direction);
  }

  /** `direction` freed its context (hibernated, reset, failed or closed). */
  remove(direction: Hibernating): void {
    if (this.live.delete(direction)) stopSweepIfIdle();
  }

  /**
   * Hibernates the least recently used directions that are between messages until the pool is within
   * its cap, sparing `keep`. Busy ones are moved behind the others (they are in use), so a long run of
   * busy directions is not scanned again by the next trim; each trim visits each direction at most once.
   */
  trim(keep?: Hibernating): void {
    let excess = this.live.size - this.limit;
    let budget = this.live.size;
    for (const direction of this.live) {
      if (excess <= 0 || budget-- <= 0) break;
      if (direction === keep) continue;
      if (direction.hibernateIfIdle()) {
        excess--;
        this.evictions++;
      } else {
        this.live.delete(direction);
        this.live.add(direction);
      }
    }
  }

  /** Whether the pool holds more contexts than its cap (only while every other direction is busy). */
  get overLimit(): boolean {
    return this.live.size > this.limit;
  }

  /** For the sweep. */
  sweep(count: number): void {
    for (const direction of this.live) {
      const idleMs = direction.idleMs;
      if (idleMs === 0 || idleMs === Infinity) continue;
      const idleSweeps = Math.max(1, Math.ceil(idleMs / periodMs));
      // A direction that is mid-message (or has queued jobs) refuses and sleeps once between messages.
      if (count - direction.lastUsedSweep >= idleSweeps) direction.hibernate();
    }
  }
}

const pools = new Map<number, LiveContextPool>();

/**
 * The process-wide pool for `limit`: every codec configured with the same `maxLiveContexts` shares it
 * (with the default options, one pool for the process). Codecs with different limits use different
 * pools, so the process-wide bound is the sum of the distinct limits in use.
 */
export function sharedContextPool(limit: number = DEFAULT_MAX_LIVE_CONTEXTS): LiveContextPool {
  let pool = pools.get(limit);
  if (pool === undefined) {
    pool = new LiveContextPool(limit);
    pools.set(limit, pool);
  }
  return pool;
}

// ------------------------------------------------------------------------------------------ the sweep
let sweepCount = 0;
let periodMs = MAX_PERIOD_MS;
let timer: NodeJS.Timeout | null = null;

/** The sweep number to stamp a direction with when it is used. */
export function currentSweep(): number {
  return sweepCount;
}

/** For tests and metrics: directions currently holding a context with context takeover, in all pools. */
export function awakeCount(): number {
  let count = 0;
  for (const pool of pools.values()) count += pool.size;
  return count;
}

/** The sweep, exposed for tests: hibernates every direction idle for at least its idle time. */
export function sweepNow(): void {
  sweepCount++;
  for (const pool of pools.values()) pool.sweep(sweepCount);
}

function scheduleSweep(idleMs: number): void {
  if (idleMs === 0 || idleMs === Infinity) return;
  const wanted = Math.min(MAX_PERIOD_MS, Math.max(MIN_PERIOD_MS, Math.floor(idleMs / 4)));
  if (timer === null || wanted < periodMs) {
    periodMs = wanted;
    if (timer !== null) clearInterval(timer);
    timer = setInterval(sweepNow, periodMs);
    timer.unref();
  }
}

function stopSweepIfIdle(): void {
  if (timer === null) return;
  for (const pool of pools.values()) if (pool.size > 0) return;
  clearInterval(timer);
  timer = null;
  periodMs = MAX_PERIOD_MS;
}
