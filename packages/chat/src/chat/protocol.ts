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
} as const;

export type ChatErrorCode = (typeof ChatErrorCodes)[keyof typeof ChatErrorCodes];

// ---------------------------------------------------------------- client to server

export interface JoinRequest { readonly type: 'join'; readonly room: string; readonly name: string; readonly after?: number }
export interface LeaveRequest { readonly type: 'leave'; readonly room: string }
export interface SendRequest { readonly type: 'message'; readonly room: string; readonly clientId: string; readonly text: string }
export interface HistoryRequest { readonly type: 'history'; readonly room: string; readonly before: number; readonly limit: number }
export interface SyncRequest { readonly type: 'sync'; readonly room: string; readonly after: number; readonly limit: number }
export interface TypingRequest { readonly type: 'typing'; readonly room: string }
export interface PingRequest { readonly type: 'ping'; readonly t?: number }

/** A validated client envelope. */
export type ClientEnvelope =
  | JoinRequest | LeaveRequest | SendRequest | HistoryRequest | SyncRequest | TypingRequest | PingRequest;

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
  readonly uid: string;
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
export interface PongEnvelope { readonly type: 'pong'; readonly t?: number }
export interface ErrorEnvelope {
  readonly type: 'error'; readonly code: ChatErrorCode; readonly message: string;
  readonly clientId?: string; readonly room?: string; readonly retryAfterMs?: number;
}

export type ServerEnvelope =
  | WelcomeEnvelope | JoinedEnvelope | MessageEnvelope | AckEnvelope | HistoryEnvelope
  | PresenceEnvelope | TypingEnvelope | PongEnvelope | ErrorEnvelope;

/** Builds the wire form of a stored message (field order fixed so frames are byte-identical everywhere). */
export function messageEnvelope(m: ChatMessage): MessageEnvelope {
  return { type: 'message', room: m.room, id: m.id, ts: m.ts, uid: m.uid, name: m.name, text: m.text, clientId: m.clientId };
}
