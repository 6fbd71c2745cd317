// Types of wireroom-client.js for TypeScript users (the module itself is plain JavaScript with JSDoc).

export type ConnectionState = 'connecting' | 'online' | 'reconnecting' | 'offline';

export interface ChatMessage {
  room: string; id: number; ts: number; uid: string; name: string; text: string; clientId: string;
}

export interface OutboxEntry { room: string; clientId: string; text: string; createdAt: number }

export interface Member { uid: string; name: string }

export interface ServerLimits {
  maxTextLength: number; maxNameLength: number; ratePerSecond: number; burst: number; historyPage: number;
}

export interface ClientOptions {
  /** Server URL(s); default `ws(s)://<page host>/chat`. Rotated after each failed or lost connection. */
  urls?: string | string[];
  minDelayMs?: number;
  maxDelayMs?: number;
  stableAfterMs?: number;
  connectTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  maxOutbox?: number;
  maxRooms?: number;
  backfill?: number;
  /** Live messages held per room while a gap below them is filled (default 2000); beyond, fetched again by sync. */
  maxHeld?: number;
  /** Default: localStorage; null keeps everything in memory. */
  storage?: { getItem(key: string): string | null; setItem(key: string, value: string): void } | null;
  storagePrefix?: string;
  /** WebSocket constructor (e.g. the `ws` package in Node). */
  WebSocket?: unknown;
}

export interface ClientEventMap {
  state: CustomEvent<{ state: ConnectionState; attempt: number; url: string; retryInMs?: number }>;
  /** `uid`: your stable id on the server; `name`: your display name there, absent until you take one. */
  welcome: CustomEvent<{ uid: string; name?: string; limits: ServerLimits; server: string }>;
  /** Your name changed (your `rename`, a `join` with a new name, or another tab of yours). */
  renamed: CustomEvent<{ uid: string; name: string; previous?: string }>;
  /** Someone in a room you are in took another name. */
  rename: CustomEvent<{ room: string; uid: string; from: string; to: string }>;
  joined: CustomEvent<{ room: string; members: Member[]; lastId: number; oldestId: number; resumed: boolean }>;
  message: CustomEvent<{ message: ChatMessage; own: boolean; source: 'live' | 'join' | 'sync' }>;
  history: CustomEvent<{ room: string; messages: ChatMessage[]; hasMore: boolean; oldestId: number }>;
  /** Messages `from`..`to` (ids) were removed by the server's retention before this client saw them. */
  trimmed: CustomEvent<{ room: string; from: number; to: number }>;
  queued: CustomEvent<{ entry: OutboxEntry }>;
  ack: CustomEvent<{ room: string; clientId: string; id: number; ts: number }>;
  failed: CustomEvent<{ entry: OutboxEntry; code: string; message?: string }>;
  /** Another tab of this browser settled (delivered or failed) an entry this tab held; it left the outbox. */
  settled: CustomEvent<{ entry: OutboxEntry }>;
  presence: CustomEvent<{ room: string; event: 'join' | 'leave'; uid: string; name: string; members: Member[] }>;
  typing: CustomEvent<{ room: string; uid: string; name: string }>;
  error: CustomEvent<{ code: string; message: string; clientId?: string; room?: string; retryAfterMs?: number }>;
  reset: CustomEvent<{ room: string }>;
}

export declare function backoffDelay(attempt: number, minMs: number, maxMs: number, random?: () => number): number;
export declare function normalizeRoom(raw: string): string;

export declare class WireroomClient extends EventTarget {
  constructor(options?: ClientOptions);
  readonly urls: string[];
  readonly state: ConnectionState;
  readonly uid: string | null;
  /** Your display name on the server (from `welcome` / `renamed`), null until you take one. */
  readonly name: string | null;
  readonly limits: ServerLimits | null;
  readonly deviceId: string;
  readonly lastIds: Record<string, { id: number; at: number }>;
  connect(): void;
  close(): void;
  reconnectNow(): void;
  /** Joins `room`; `name` (optional) asks for that name when you have none or another one (see `rename`). */
  join(room: string, name?: string): void;
  /** Asks for another display name: answered with `renamed`, or `error` NAME_TAKEN / INVALID_NAME / TOO_LONG. */
  rename(name: string): void;
  leave(room: string): void;
  send(room: string, text: string): OutboxEntry;
  loadOlder(room: string, options?: { before?: number; limit?: number }): boolean;
  hasOlder(room: string): boolean;
  /** True when the oldest message kept by the server is delivered and older ones were removed (retention). */
  olderGone(room: string): boolean;
  typing(room: string): void;
  pending(room?: string): OutboxEntry[];
  isOwn(message: { clientId?: string; uid?: string }): boolean;
  addEventListener<K extends keyof ClientEventMap>(type: K, listener: (event: ClientEventMap[K]) => void, options?: boolean | { once?: boolean; signal?: AbortSignal }): void;
  addEventListener(type: string, listener: ((event: Event) => void) | null, options?: boolean | { once?: boolean; signal?: AbortSignal }): void;
  removeEventListener<K extends keyof ClientEventMap>(type: K, listener: (event: ClientEventMap[K]) => void, options?: boolean): void;
  removeEventListener(type: string, listener: ((event: Event) => void) | null, options?: boolean): void;
}
