/**
 * Default limits of the protocol core. Each can be overridden per server, client or connection; each has a
 * test that crosses it. See the table in README.md ("Limits and timeouts").
 */
export interface ProtocolLimits {
  /**
   * Largest message, after reassembly and decompression (close 1009 when exceeded). Default 1 MiB, as in
   * Python's websockets: a chat or JSON API never needs more, and the worst case a peer can make a server hold
   * is this figure times the number of connections. ws defaults to 100 MiB; raise it when you need to.
   */
  maxMessageSize: number;
  /** Largest single frame (close 1009), checked on the declared length before any payload is buffered. */
  maxFrameSize: number;
  /**
   * Most frames in one message (close 1008). Defends against floods of tiny fragments; 4096 lets a peer stream
   * a 1 MiB message in 256-byte fragments, while browsers never fragment at all.
   */
  maxFragments: number;
}

export const DEFAULT_LIMITS: Readonly<ProtocolLimits> = Object.freeze({
  maxMessageSize: 1024 * 1024,
  maxFrameSize: 1024 * 1024,
  maxFragments: 4096,
});

/**
 * Fills in the defaults. `maxFrameSize` follows `maxMessageSize` when only the latter is set (a frame can never
 * be larger than the message it belongs to). Resolve once and pass the result as `ProtocolOptions.limits` to
 * share one frozen object between many connections: idle connections stay small.
 */
export function resolveLimits(options: Partial<ProtocolLimits>): Readonly<ProtocolLimits> {
  const maxMessageSize = options.maxMessageSize ?? DEFAULT_LIMITS.maxMessageSize;
  return Object.freeze({
    maxMessageSize,
    maxFrameSize: options.maxFrameSize ?? Math.max(maxMessageSize, options.maxMessageSize === undefined ? DEFAULT_LIMITS.maxFrameSize : 0),
    maxFragments: options.maxFragments ?? DEFAULT_LIMITS.maxFragments,
  });
}
