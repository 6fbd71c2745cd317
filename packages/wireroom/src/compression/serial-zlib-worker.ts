/**
 * The ordering half of a codec direction: jobs of one connection and one direction run strictly one
 * after another, in call order, each inside a slot of the shared `ZlibJobLimiter`. A direction is in
 * the limiter queue at most once, so one busy connection cannot take more than one slot per direction.
 */
import type { ZlibJob, ZlibJobLimiter } from './zlib-limiter.js';

/** What the worker needs of a job and of a zlib stream to fail or discard them. */
type AnyJob = { callback: (error: never) => void };
type ClosableStream = { close(): void };

export abstract class SerialZlibWorker<Job extends AnyJob, Stream extends ClosableStream> implements ZlibJob {
  protected readonly limiter: ZlibJobLimiter;
  /** The zlib stream of this direction, created on first use, or null. */
  protected stream: Stream | null = null;
  /** The flush callback bound to the current stream (reset when the stream is discarded). */
  protected onStreamFlushed: () => void = noop;
  /** The job holding the limiter slot, or null. */
  protected current: Job | null = null;
  private jobs: Job[] = [];
  private head = 0;
  private waitingForSlot = false;

  constructor(limiter: ZlibJobLimiter) {
    this.limiter = limiter;
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
