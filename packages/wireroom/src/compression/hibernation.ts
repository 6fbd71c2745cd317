/**
 * One shared, unref'd sweep that puts idle codec directions to sleep (frees their zlib context,
 * keeping only their window). Only directions holding a context are registered, so the sweep walks
 * the awake ones, not every connection, and there is no timer per connection. The timer runs only
 * while something is registered and never keeps the process alive.
 *
 * Time is counted in sweeps, not read from a clock on every message: a direction stamps the current
 * sweep number when it is used, and the sweep hibernates those whose stamp is old enough. A
 * direction idle for `idleMs` is released after between `idleMs` and `idleMs` plus one period.
 */

/** What the sweep needs of a codec direction. */
export interface Hibernating {
  /** The sweep number when the direction was last used (see `currentSweep`). */
  readonly lastUsedSweep: number;
  /** Its idle time, in sweeps of the current period. */
  readonly idleMs: number;
  /** Frees the zlib context if the direction is between messages; returns whether it did. */
  hibernate(): boolean;
}

/** The sweep period: a quarter of the shortest idle time registered, within these bounds. */
const MIN_PERIOD_MS = 25;
const MAX_PERIOD_MS = 1000;

const awake = new Set<Hibernating>();
let sweepCount = 0;
let periodMs = MAX_PERIOD_MS;
let timer: NodeJS.Timeout | null = null;

/** The sweep number to stamp a direction with when it is used. */
export function currentSweep(): number {
  return sweepCount;
}

/** Registers a direction that now holds a zlib context (idempotent). */
export function registerAwake(direction: Hibernating): void {
  awake.add(direction);
  const wanted = Math.min(MAX_PERIOD_MS, Math.max(MIN_PERIOD_MS, Math.floor(direction.idleMs / 4)));
  if (timer === null || wanted < periodMs) {
    periodMs = wanted;
    startTimer();
  }
}

/** Unregisters a direction (its context was freed, or it closed). */
export function unregisterAwake(direction: Hibernating): void {
  awake.delete(direction);
  if (awake.size === 0 && timer !== null) {
    clearInterval(timer);
    timer = null;
    periodMs = MAX_PERIOD_MS;
  }
}

/** For tests and metrics: directions currently holding a zlib context and registered for the sweep. */
export function awakeCount(): number {
  return awake.size;
}

/** The sweep, exposed for tests: hibernates every direction idle for at least its idle time. */
export function sweepNow(): void {
  sweepCount++;
  for (const direction of awake) {
    const idleSweeps = Math.max(1, Math.ceil(direction.idleMs / periodMs));
    // A direction that is mid-message (or has queued jobs) refuses and is tried again next sweep.
    if (sweepCount - direction.lastUsedSweep >= idleSweeps) direction.hibernate();
  }
}

function startTimer(): void {
  if (timer !== null) clearInterval(timer);
  timer = setInterval(sweepNow, periodMs);
  timer.unref();
}
