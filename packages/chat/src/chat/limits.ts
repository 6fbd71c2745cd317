/**
 * Every limit of the chat server in one place, so the `welcome` envelope, the docs and the code agree.
 * Each per-connection and per-room structure is bounded by one of these.
 */
export interface ChatLimits {
  /** Longest message text, in Unicode code points. */
  readonly maxTextLength: number;
  /** Longest display name, in code points, after sanitising. */
  readonly maxNameLength: number;
  /** Longest room name (characters from `a-z 0-9 - _ .`). */
  readonly maxRoomLength: number;
  /** Longest client message id. */
  readonly maxClientIdLength: number;
  /** Rooms one connection may be in at once. */
  readonly maxRoomsPerConnection: number;
  /** Sustained chat messages per second per connection (token bucket refill rate). */
  readonly ratePerSecond: number;
  /** Chat messages a connection may send in a burst (token bucket capacity). */
  readonly burst: number;
  /** Sustained requests of any kind (join, history, ...) per second per connection. */
  readonly requestsPerSecond: number;
  /** Burst of requests of any kind. */
  readonly requestBurst: number;
  /** Typing notices relayed per second per connection; the excess is dropped silently. */
  readonly typingPerSecond: number;
  /** Messages sent with `joined` when the client does not resume. */
  readonly historyOnJoin: number;
  /** Default and largest page of `history`. */
  readonly historyPage: number;
  readonly maxHistoryPage: number;
  /** Default and largest page of `sync` (and of the replay on a resuming `join`). */
  readonly syncPage: number;
  /** Most bytes of messages in one `joined`/`history` reply (a longer page is cut, with `hasMore`). */
  readonly maxReplyBytes: number;
  /** Largest inbound frame that is parsed; larger ones (up to `maxFrameBytes`) get TOO_LONG. */
  readonly maxEnvelopeBytes: number;
  /** Largest inbound frame the WebSocket layer accepts at all (closes with 1009 above). */
  readonly maxFrameBytes: number;
  /** Errors a connection may cause within `errorWindowMs` before it is closed with 1008. */
  readonly maxErrors: number;
  readonly errorWindowMs: number;
  /** Bytes queued for a slow reader before it is disconnected (1013) instead of buffering more. */
  readonly maxBufferedBytes: number;
  /** Live events buffered for a room while its `joined` reply is being prepared. */
  readonly maxPendingWhileJoining: number;
  /** Connections per process. */
  readonly maxConnections: number;
  /** Members listed in one room's presence (one per connection, so also bounded by maxConnections). */
  readonly maxMembersListed: number;
}

/** The defaults, documented in docs/chat.md. */
export const defaultLimits: ChatLimits = Object.freeze({
  maxTextLength: 2000,
  maxNameLength: 32,
  maxRoomLength: 64,
  maxClientIdLength: 64,
  maxRoomsPerConnection: 8,
  ratePerSecond: 5,
  burst: 10,
  requestsPerSecond: 20,
  requestBurst: 40,
  typingPerSecond: 2,
  historyOnJoin: 100,
  historyPage: 50,
  maxHistoryPage: 100,
  syncPage: 1000,
  maxReplyBytes: 1024 * 1024,
  maxEnvelopeBytes: 16 * 1024,
  maxFrameBytes: 64 * 1024,
  maxErrors: 20,
  errorWindowMs: 60_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxPendingWhileJoining: 1000,
  maxConnections: 10_000,
  maxMembersListed: 500,
});
