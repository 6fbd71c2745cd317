/**
 * Write coalescing: every connection that queued frames during this event-loop turn is flushed once, on the
 * next tick, with one `socket.write` (frames concatenated) instead of one write per frame. One tick callback
 * serves all connections, so a broadcast to 10,000 sockets schedules one flush, not 10,000.
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
  dirty = spare; // swap, so connections dirtied during the flush go to the next tick
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
    process.nextTick(flushAll);
  }
}
