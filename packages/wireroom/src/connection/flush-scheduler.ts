/**
 * Write coalescing: every connection that queued frames during this event-loop turn is flushed once, in the
 * turn's check phase (setImmediate), with one socket write instead of one write per frame. One callback
 * serves all connections, so a broadcast to 10,000 sockets schedules one flush, not 10,000.
 *
 * Why setImmediate and not process.nextTick: the tick queue runs after every socket read callback, so a
 * peer whose data arrived in two reads of one poll phase got two writes; the check phase comes after all
 * the reads of the turn. Each write to a loopback or LAN peer wakes it up, and those wake-ups dominated
 * the kernel time of echo16k (one write per turn: 16.8 -> 12.9 us of server CPU per message; echo32
 * 2.7 -> 1.4 us; see docs/benchmarks.md).
 */
export interface Flushable {
  flushScheduled: boolean;
  flush(): void;
}

let dirty: Flushable[] = [];
let spare: Flushable[] = [];
let scheduled = false;

function flushAll(): void {
  scheduled = false;
  const batch = dirty;
  dirty = spare; // swap, so connections dirtied during the flush go to the next turn
  for (let i = 0; i < batch.length; i++) {
    const target = batch[i]!;
    target.flushScheduled = false;
    target.flush();
  }
  batch.length = 0;
  spare = batch;
}

export function scheduleFlush(target: Flushable): void {
  if (target.flushScheduled) return;
  target.flushScheduled = true;
  dirty.push(target);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushAll);
  }
}
