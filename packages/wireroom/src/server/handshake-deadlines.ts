/**
 * The handshake timeout of a standalone server (slowloris defence) without a timer per connection.
 *
 * Every socket whose request is still arriving is kept in a linked list in accept order. All share one
 * timeout, so the oldest is always first: one interval timer, running only while the list is not empty,
 * cuts off those past their deadline, and finishing a handshake unlinks it in O(1). A Node timer per socket
 * would cost a Timeout object, an async resource and a timer-list insertion per connection.
 */
import type { Socket } from 'node:net';
import type { HttpHeadParser } from '../protocol/handshake/index.js';
import type { WebSocketServer } from './websocket-server.js';

/** A socket whose handshake request is still arriving. */
export class PendingHandshake {
  /** @internal */ prev: PendingHandshake | null = null;
  /** @internal */ next: PendingHandshake | null = null;
  /** The request parser, created on the first chunk. */
  parser: HttpHeadParser<'request'> | null = null;

  constructor(
    readonly server: WebSocketServer,
    readonly socket: Socket,
    /** `performance.now()` after which the handshake is cut off. */
    readonly deadline: number,
  ) {}
}

export class HandshakeDeadlines {
  private first: PendingHandshake | null = null;
  private last: PendingHandshake | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Sweep period: an eighth of the timeout, so a handshake is cut off at most 12.5 % late (10 ms to 1 s). */
  private readonly period: number;

  constructor(
    private readonly server: WebSocketServer,
    private readonly timeout: number,
    private readonly onExpired: (pending: PendingHandshake) => void,
  ) {
    this.period = Math.min(1000, Math.max(10, Math.ceil(timeout / 8)));
  }

  /** Starts the clock for a newly accepted socket. */
  add(socket: Socket): PendingHandshake {
    const pending = new PendingHandshake(this.server, socket, performance.now() + this.timeout);
    const last = this.last;
    if (last === null) this.first = pending;
    else {
      last.next = pending;
      pending.prev = last;
    }
    this.last = pending;
    // The timer keeps running while handshakes come and go; the sweep that finds the list empty stops it.
    if (this.timer === null) {
      this.timer = setInterval(sweep, this.period, this);
      this.timer.unref();
    }
    return pending;
  }

  /** The handshake finished (request complete, refused, or socket closed): stop its clock. */
  remove(pending: PendingHandshake): void {
    const { prev, next } = pending;
    if (prev === null) {
      if (this.first !== pending) return; // already removed
      this.first = next;
    } else prev.next = next;
    if (next === null) this.last = prev;
    else next.prev = prev;
    pending.prev = pending.next = null;
  }

  private stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** @internal */
  _sweep(): void {
    const now = performance.now();
    let pending = this.first;
    while (pending !== null && pending.deadline <= now) {
      this.remove(pending);
      this.onExpired(pending);
      pending = this.first;
    }
    if (this.first === null) this.stop();
  }
}

function sweep(deadlines: HandshakeDeadlines): void {
  deadlines._sweep();
}
