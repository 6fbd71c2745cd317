/**
 * The chat history store. Asynchronous by contract so that a networked store (or one behind a worker)
 * can implement it; the SQLite one answers from the event loop thread.
 */
import type { ChatMessage } from './protocol.js';

/** A message to store; the store assigns `id` and `ts`. */
export interface NewMessage {
  readonly room: string;
  readonly uid: string;
  readonly name: string;
  readonly text: string;
  readonly clientId: string;
}

/** Result of `append`. With `duplicate`, `id`/`ts` are those of the message stored earlier. */
export interface AppendResult {
  readonly id: number;
  readonly ts: number;
  readonly duplicate: boolean;
}

/** A page of messages, oldest first. */
export interface MessagePage {
  readonly messages: ChatMessage[];
  /** More messages exist beyond this page in the direction of the query. */
  readonly hasMore: boolean;
  /** The room's latest id when the page was read (0 for an empty room): one consistent snapshot. */
  readonly lastId: number;
  /**
   * The lowest id the room still keeps, from the same snapshot: every id from `oldestId` to `lastId` is
   * stored, every id below it is gone for good (retention). `lastId + 1` when the room keeps no message
   * (so 1 for a room never written to). History was trimmed exactly when `oldestId > 1`.
   */
  readonly oldestId: number;
}

/**
 * How much history a store keeps per room. Both bounds apply together; unset means unbounded.
 * Ids never restart: the SQLite store always keeps a room's newest message (its ids are MAX(id)+1),
 * the Redis store keeps the id counter apart from the log.
 */
export interface RetentionOptions {
  /** Messages kept per room (the newest ones), at least 1. */
  readonly historyLimit?: number;
  /** Messages older than this (by `ts`, in ms) are removed. */
  readonly historyMaxAgeMs?: number;
}

/** Storage failed: nothing was stored, the client may resend later. */
export class StoreUnavailableError extends Error {
  readonly code = 'STORAGE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * The outcome of `claimName`: the name is now the person's (`previous`: the name they had before, if any), or
 * it is held by someone else. Names are compared by `nameKey()` (NFKC, case folding, invisible characters removed).
 */
export type NameClaim =
  | { readonly ok: true; readonly name: string; readonly previous: string | undefined }
  | { readonly ok: false; readonly reason: 'taken' };

export interface ChatStore {
  /**
   * Makes `name` (already sanitised) the display name of the person `uid`, atomically: refused when another
   * person holds a name with the same `nameKey()`; otherwise the person's previous name is released. A name
   * is held until its owner takes another one (across restarts, and across processes sharing the store).
   */
  claimName(uid: string, name: string): Promise<NameClaim>;
  /** The person's current display name, undefined when they have none yet. */
  nameOf(uid: string): Promise<string | undefined>;
  /**
   * Stores a message, or finds the one stored earlier with the same (room, clientId).
   * Resolves only once the message is committed; rejects with StoreUnavailableError when nothing was stored.
   * Ids are strictly increasing per room; appends resolve in id order.
   */
  append(message: NewMessage): Promise<AppendResult>;
  /** The last `limit` messages of the room; `hasMore` when older ones exist. */
  latest(room: string, limit: number): Promise<MessagePage>;
  /** Up to `limit` messages with id < `beforeId`, oldest first; `hasMore` when older ones exist. */
  before(room: string, beforeId: number, limit: number): Promise<MessagePage>;
  /** Up to `limit` messages with id > `afterId`, oldest first; `hasMore` when newer ones exist. */
  after(room: string, afterId: number, limit: number): Promise<MessagePage>;
  /** The room's latest id, 0 if it has no messages. */
  lastId(room: string): Promise<number>;
  /** Commits what was accepted, then releases the storage. Later calls reject. */
  close(): Promise<void>;
}
