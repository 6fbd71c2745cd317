/** Per-connection options and their defaults, resolved once per server (or client) and shared by its connections. */
import { resolveLimits, type ProtocolLimits } from '../protocol/limits.js';
import { DEFAULT_OUTBOUND, resolveOutboundLimits, type BackpressurePolicy, type OutboundLimits } from '../protocol/outbound.js';

export type { BackpressurePolicy } from '../protocol/outbound.js';

/** Per-connection options (the server and client pass theirs down). */
export interface ConnectionOptions extends Partial<ProtocolLimits> {
  /**
   * `send()` returns false above this many buffered bytes ('drain' follows). Reading from the peer pauses while
   * the output is backed up (the socket holds this much, or one turn's queue twice this), until the transport
   * has taken the bytes. Default 64 KiB.
   */
  highWaterMark?: number;
  /** Hard cap on buffered outbound bytes. Default 8 MiB. */
  maxBufferedAmount?: number;
  /** At the cap: 'close' (1008, default), 'drop' (the message is discarded), 'wait' (no cap: queue it; reading stays paused until drained). */
  backpressure?: BackpressurePolicy;
  /** Close code of the 'close' policy: 1008 (policy violation, default) or 1013 (try again later). */
  backpressureCloseCode?: 1008 | 1013;
  /** How long to wait for the peer's close frame / TCP close after ours, in ms. Default 5000. */
  closeTimeout?: number;
}

export const CONNECTION_DEFAULTS = {
  ...DEFAULT_OUTBOUND,
  closeTimeout: 5000,
};

/** Connection options with every default filled in: computed once per server (or client), shared by its connections. */
export interface ResolvedConnectionOptions {
  readonly closeTimeout: number;
  /** The protocol limits, resolved once and shared by every connection's core. */
  readonly limits: Readonly<ProtocolLimits>;
  /** The outbound limits (high-water mark, cap, policy), shared likewise. */
  readonly outbound: Readonly<OutboundLimits>;
}

/** Fills in the defaults (once per server, not once per connection: idle connections stay small). */
export function resolveConnectionOptions(options: ConnectionOptions): ResolvedConnectionOptions {
  return Object.freeze({
    closeTimeout: options.closeTimeout ?? CONNECTION_DEFAULTS.closeTimeout,
    limits: resolveLimits(options),
    outbound: resolveOutboundLimits(options),
  });
}
