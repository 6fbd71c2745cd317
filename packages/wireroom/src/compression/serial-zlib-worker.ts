/**
 * What both codec directions share:
 *
 * - **Ordering**: jobs of one connection and one direction run strictly one after another, in call
 *   order, each inside a slot of the shared `ZlibJobLimiter`. A direction is in the limiter queue at
 *   most once, so one busy connection cannot take more than one slot per direction.
 * - **Hibernation**: with context takeover, the direction keeps its window (the last 2^bits bytes of
 *   plaintext) and its zlib stream is a cache of it: registered in a `LiveContextPool` while it
 *   exists (the process-wide cap and the idle sweep), freed when idle or evicted, rebuilt from the
 *   window by the next job. Only between messages: never mid-message, never with jobs queued.
 */
import { currentSweep, type Hibernating, type LiveContextPool } from './hibernation.js';
import type { SlidingWindow } from './sliding-window.js';
import type { ZlibJob, ZlibJobLimiter } from './zlib-limiter.js';

/** What the worker needs of a job and of a zlib stream to fail or discard them. */
type AnyJob = { callback: (error: never) => void };
type ClosableStream = { close(): void };

/** The hibernation settings of a direction. */
export interface HibernationConfig {
  /** The window to rebuild the stream from; null without context takeover (nothing is kept). */
  window: SlidingWindow | null;
  /** Free the context after this many ms without a job, between messages (0: after every message; Infinity: never). */
  idleMs: number;
  /** The cap on live contexts this direction counts against. */
  pool: LiveContextPool;
}

export abstract class SerialZlibWorker<Job extends AnyJob, Stream extends ClosableStream> implements ZlibJob, Hibernating {
  protected readonly limiter: ZlibJobLimiter;
  /**
   * With context takeover, the last 2^bits bytes of this direction's plaintext, from which a freed
   * context is rebuilt. Null without context takeover: every message starts from an empty window.
   */
  protected readonly window: SlidingWindow | null;
  private readonly pool: LiveContextPool;
  readonly idleMs: number;
  lastUsedSweep = 0;
  /** Hibernate as soon as the direction is between messages (`hibernate()` arrived while busy). */
  private hibernateWhenIdle = false;
  /** The zlib stream of this direction, created on first use, or null. */
  protected stream: Stream | null = null;
  /** The flush callback bound to the current stream (reset when the stream is discarded). */
  protected onStreamFlushed: () => void = noop;
  /** The job holding the limiter slot, or null. */
  protected current: Job | null = null;
  private jobs: Job[] = [];
  private head = 0;
  private waitingForSlot = false;

  constructor(limiter: ZlibJobLimiter, hibernation: HibernationConfig) {
    this.limiter = limiter;
    this.window = hibernation.window;
    this.idleMs = hibernation.idleMs;
    this.pool = hibernation.pool;
  }

  /** Whether a zlib context is currently allocated (for tests and metrics). */
  get hasContext(): boolean {
    return this.stream !== null;
  }

  /** Whether the direction is hibernated: no zlib context, but a kept window to resume from. */
  get isHibernated(): boolean {
    return this.stream === null && this.window !== null && this.window.size > 0;
  }

  /** Bytes of window kept for resuming (what a hibernated direction costs besides its objects). */
  get keptWindowBytes(): number {
    return this.window === null ? 0 : this.window.allocatedBytes;
  }

  /**
   * Frees the zlib context now if the direction is between messages with nothing queued, keeping only
   * the window; the next message rebuilds the context from it. Otherwise does so as soon as the
   * direction is between messages. Returns whether the context was freed now.
   */
  hibernate(): boolean {
    if (this.stream === null) return false;
    if (!this.isBetweenMessages) {
      this.hibernateWhenIdle = true;
      return false;
    }
    this.hibernateWhenIdle = false;
    this.discardStream();
    return true;
  }

  /** For the pool's cap: frees the context only if the direction is between messages; never asks for later. */
  hibernateIfIdle(): boolean {
    if (this.stream === null || !this.isBetweenMessages) return false;
    this.hibernateWhenIdle = false;
    this.discardStream();
    return true;
  }

  /**
   * Whether no job is running or queued and no message is half-way through (the inflater overrides it
   * for a fragmented message whose next frame has not arrived yet).
   */
  protected get isBetweenMessages(): boolean {
    return !this.isBusy;
  }

  /** Installs a new zlib stream; with context takeover it counts against the pool (which may evict others). */
  protected attachStream(stream: Stream): void {
    this.stream = stream;
    if (this.window !== null) this.pool.add(this);
  }

  /** A job starts on the stream: the direction is the most recently used. */
  protected markUsed(): void {
    this.lastUsedSweep = currentSweep();
    if (this.window !== null) this.pool.touch(this);
  }

  /**
   * A message is complete and its job finished: hibernate now if asked to (or idle time 0), and let
   * the pool get back within its cap if it went over while every direction was busy.
   */
  protected messageDone(): void {
    if (this.stream === null || this.window === null) return;
    if ((this.hibernateWhenIdle || this.idleMs === 0) && this.isBetweenMessages) this.hibernate();
    else if (this.pool.overLimit) this.pool.trim();
  }

  /** Starts `job` on the zlib stream; it must end with `finishCurrent()` or `abandonCurrent()`. */
  protected abstract start(job: Job): void;

  /**
   * `start` threw (zlib could not allocate a context): fail the direction. Called with the job still
   * current, so the implementation's usual failure path releases the slot.
   */
  protected abstract startFailed(error: Error): void;

  /** Whether a job is running or waiting (the direction is not between jobs). */
  protected get isBusy(): boolean {
    return this.current !== null || this.head < this.jobs.length;
  }

  /** Queues a job behind the earlier ones. */
  protected submit(job: Job): void {
    this.jobs.push(job);
    this.requestSlot();
  }

  /** Called by the limiter when a slot is ours. */
  runZlibJob(): void {
    this.waitingForSlot = false;
    const job = this.takeNext();
    if (job === undefined) {
      // Everything queued was cancelled (close or failure) while we waited for the slot.
      this.limiter.release();
      return;
    }
    this.current = job;
    try {
      this.start(job);
    } catch (error) {
      // Never let it escape: we may be inside the limiter, called from another connection's job.
      this.startFailed(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Ends the current job: frees its slot and lets the next queued job ask for one. Returns the job. */
  protected finishCurrent(): Job {
    const job = this.current;
    if (job === null) throw new Error('SerialZlibWorker: no current job');
    this.current = null;
    this.limiter.release();
    this.requestSlot();
    return job;
  }

  /** Removes and returns every job still waiting (not the current one), for failure or close. */
  protected takeAllQueued(): Job[] {
    const rest = this.jobs.slice(this.head);
    this.jobs = [];
    this.head = 0;
    return rest;
  }

  /** Ends the current job without asking for a slot for the next one (failure or close). */
  protected abandonCurrent(): Job | null {
    const job = this.current;
    if (job === null) return null;
    this.current = null;
    this.limiter.release();
    return job;
  }

  /**
   * Fails the current job and every queued one with `error`, in order. With `deferred` (close) the callbacks
   * run on the next tick, so a caller is never called back from inside its own `close()`.
   */
  protected failAllJobs(error: Parameters<Job['callback']>[0], deferred: boolean): void {
    const jobs = this.takeAllQueued();
    const current = this.abandonCurrent();
    if (current !== null) jobs.unshift(current);
    for (const job of jobs) {
      const callback = job.callback as (error: unknown) => void;
      if (deferred) process.nextTick(callback, error);
      else callback(error);
    }
  }

  /** Closes and forgets the zlib stream; late events of the old stream are ignored by their handlers. */
  protected discardStream(): void {
    const stream = this.stream;
    if (stream === null) return;
    this.stream = null;
    this.onStreamFlushed = noop;
    if (this.window !== null) this.pool.remove(this);
    stream.close();
  }

  private takeNext(): Job | undefined {
    if (this.head >= this.jobs.length) return undefined;
    const job = this.jobs[this.head]!;
    this.head++;
    if (this.head === this.jobs.length) {
      this.jobs.length = 0;
      this.head = 0;
    }
    return job;
  }

  private requestSlot(): void {
    if (this.current !== null || this.waitingForSlot || this.head >= this.jobs.length) return;
    this.waitingForSlot = true;
    this.limiter.enqueue(this);
  }
}

function noop(): void {}
