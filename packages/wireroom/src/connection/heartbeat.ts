/**
 * Heartbeat and idle timeout: one timer per server for every connection, instead of timers per connection
 * (10,000 connections cost one interval, and a tick is a loop over plain fields). A client connection with a
 * heartbeat runs the same sweeper over a set of one.
 */
import { CloseCode } from '../protocol/constants.js';
import type { WebSocket } from './websocket.js';

export interface SweeperLimits {
  heartbeatInterval: number;
  heartbeatTimeout: number;
  idleTimeout: number;
}

export class ConnectionSweeper {
  private timer: NodeJS.Timeout | null = null;
  private readonly idleTicks: number;
  private readonly period: number;

  constructor(private readonly clients: ReadonlySet<WebSocket>, private readonly limits: SweeperLimits) {
    const periods = [limits.heartbeatInterval, limits.idleTimeout > 0 ? Math.max(250, limits.idleTimeout / 4) : 0].filter((p) => p > 0);
    this.period = periods.length > 0 ? Math.min(...periods) : 0;
    this.idleTicks = limits.idleTimeout > 0 && this.period > 0 ? Math.ceil(limits.idleTimeout / this.period) : 0;
    if (this.period > 0) {
      this.timer = setInterval(() => this.tick(), this.period);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const now = performance.now();
    const { heartbeatInterval, heartbeatTimeout } = this.limits;
    for (const ws of this.clients) {
      if (this.idleTicks > 0) {
        if (ws._messageSeen) {
          ws._messageSeen = false;
          ws._idleTicks = 0;
        } else if (++ws._idleTicks > this.idleTicks) {
          // '>': the first tick may come right after the last message (or the open), so `idleTicks` ticks can
          // span one period less than idleTimeout; one more guarantees the full timeout (at most a period over).
          ws.close(CloseCode.NORMAL, 'Idle timeout');
          continue;
        }
      }
      if (heartbeatInterval <= 0) continue;
      if (ws.pingSentAt !== 0) {
        // No pong since the last ping: the peer is gone or stuck (half-open TCP is detected here).
        // Ticks drift by a few ms: a timeout that is a multiple of the period would measure 299.x ms of 300 and
        // wait one more whole period (20 s with the defaults). A quarter period of slack absorbs the drift.
        if (now - ws.pingSentAt >= heartbeatTimeout - this.period / 4) ws._heartbeatTimeout();
        continue;
      }
      if (now - ws._lastPingAt >= heartbeatInterval - 1) ws._heartbeatPing(now);
    }
  }
}

/**
 * The client's heartbeat (off unless `heartbeatInterval` > 0): the server's sweeper over a set of one,
 * stopped at 'close'. Used by every client transport (HTTP/1.1 and HTTP/2).
 */
export function startClientHeartbeat(ws: WebSocket, options: { heartbeatInterval?: number; heartbeatTimeout?: number }): void {
  if ((options.heartbeatInterval ?? 0) <= 0) return;
  const sweeper = new ConnectionSweeper(new Set([ws]), {
    heartbeatInterval: options.heartbeatInterval!,
    heartbeatTimeout: options.heartbeatTimeout ?? 20_000,
    idleTimeout: 0,
  });
  ws.once('close', () => sweeper.stop());
}
