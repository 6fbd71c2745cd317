/**
 * Types of the chat wire protocol v1 (docs/chat-protocol.md). Client envelopes here are the
 * *validated* forms produced by `parseClientEnvelope`; server envelopes are what the server sends.
 */

/** Stable error codes of the chat protocol. Never renamed once released. */
export const ChatErrorCodes = {
  BAD_JSON: 'BAD_JSON',
  BAD_MESSAGE: 'BAD_MESSAGE',
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  NOT_JOINED: 'NOT_JOINED',
  TOO_LONG: 'TOO_LONG',
  RATE_LIMITED: 'RATE_LIMITED',
  TOO_MANY_ROOMS: 'TOO_MANY_ROOMS',
  STORAGE_UNAVAILABLE: 'STORAGE_UNAVAILABLE',
  INTERNAL: 'INTERNAL',
  /** The name (compared after NFKC + case folding, invisible characters removed) belongs to someone else. */
  NAME_TAKEN: 'NAME_TAKEN',
  /** The name is empty once invisible characters are removed, or the person has no name yet and gave none. */
  INVALID_NAME: 'INVALID_NAME',
  /**
   * Names come from the login on this server (`--trust-user-header`): a `rename`, or a `join` with a `name`,
   * other than the person's current name is refused (`welcome` says `renamable: false`).
   */
  RENAME_DISABLED: 'RENAME_DISABLED',
} as const;

export type ChatErrorCode = (typeof ChatErrorCodes)[keyof typeof ChatErrorCodes];

// ---------------------------------------------------------------- client to server

/** `name`: a request to take that name (checked against ownership); without it the person's current name is used. */
export interface JoinRequest { readonly type: 'join'; readonly room: string; readonly name?: string; readonly after?: number }
/** Takes another display name: answered with `renamed` or an error (NAME_TAKEN, INVALID_NAME, TOO_LONG). */
export interface RenameRequest { readonly type: 'rename'; readonly name: string }
export interface LeaveRequest { readonly type: 'leave'; readonly room: string }
export interface SendRequest { readonly type: 'message'; readonly room: string; readonly clientId: string; readonly text: string }
export interface HistoryRequest { readonly type: 'history'; readonly room: string; readonly before: number; readonly limit: number }
export interface SyncRequest { readonly type: 'sync'; readonly room: string; readonly after: number; readonly limit: number }
export interface TypingRequest { readonly type: 'typing'; readonly room: string }
export interface PingRequest { readonly type: 'ping'; readonly t?: number }

/** A validated client envelope. */
export type ClientEnvelope =
  | JoinRequest | LeaveRequest | SendRequest | HistoryRequest | SyncRequest | TypingRequest | PingRequest | RenameRequest;

// ---------------------------------------------------------------- server to client

/** A stored chat message as sent on the wire. */
export interface ChatMessage {
  readonly room: string;
  readonly id: number;
  readonly ts: number;
  readonly uid: string;
  readonly name: string;
  readonly text: string;
  readonly clientId: string;
}

export interface Member { readonly uid: string; readonly name: string }

export interface WelcomeEnvelope {
  readonly type: 'welcome';
  /** The person's stable id (the same for every connection of the session, across reconnects and restarts). */
  readonly uid: string;
  /** The person's display name on this server; absent until they take one. */
  readonly name?: string;
  /**
   * False when names come from the login (a trusted proxy's user header): `rename`, and `join` with another
   * `name`, are then refused with RENAME_DISABLED. True otherwise.
   */
  readonly renamable: boolean;
  readonly limits: { maxTextLength: number; maxNameLength: number; ratePerSecond: number; burst: number; historyPage: number };
  readonly server: string;
}
export interface JoinedEnvelope {
  readonly type: 'joined'; readonly room: string; readonly members: readonly Member[];
  readonly messages: readonly ChatMessage[]; readonly hasMore: boolean; readonly lastId: number;
  /** The lowest id the room still keeps (`lastId + 1` when none): ids below it are gone (retention). */
  readonly oldestId: number;
}
export interface MessageEnvelope extends ChatMessage { readonly type: 'message' }
export interface AckEnvelope {
  readonly type: 'ack'; readonly room: string; readonly clientId: string; readonly id: number; readonly ts: number; readonly duplicate: boolean;
}
export interface HistoryEnvelope {
  readonly type: 'history'; readonly room: string; readonly messages: readonly ChatMessage[]; readonly hasMore: boolean;
  /** As in `joined`: ids below it are no longer kept. */
  readonly oldestId: number;
}
export interface PresenceEnvelope {
  readonly type: 'presence'; readonly room: string; readonly event: 'join' | 'leave';
  readonly uid: string; readonly name: string; readonly members: readonly Member[];
}
export interface TypingEnvelope { readonly type: 'typing'; readonly room: string; readonly uid: string; readonly name: string }
/**
 * The person's name changed: the answer to `rename` (or to a `join` with a new name), and sent to the person's
 * other connections too. `previous` is absent when the person had no name.
 */
export interface RenamedEnvelope { readonly type: 'renamed'; readonly uid: string; readonly name: string; readonly previous?: string }
/** Someone in the room took another name (sent to every connection in the room, the renamer's included). */
export interface RenameEnvelope { readonly type: 'rename'; readonly room: string; readonly uid: string; readonly from: string; readonly to: string }
export interface PongEnvelope { readonly type: 'pong'; readonly t?: number }
export interface ErrorEnvelope {
  readonly type: 'error'; readonly code: ChatErrorCode; readonly message: string;
  readonly clientId?: string; readonly room?: string; readonly retryAfterMs?: number;
}

export type ServerEnvelope =
  | WelcomeEnvelope | JoinedEnvelope | MessageEnvelope | AckEnvelope | HistoryEnvelope
  | PresenceEnvelope | TypingEnvelope | PongEnvelope | ErrorEnvelope | RenamedEnvelope | RenameEnvelope;

/** Builds the wire form of a stored message (field order fixed so frames are byte-identical everywhere). */
export function messageEnvelope(m: ChatMessage): MessageEnvelope {
  return { type: 'message', room: m.room, id: m.id, ts: m.ts, uid: m.uid, name: m.name, text: m.text, clientId: m.clientId };
}
