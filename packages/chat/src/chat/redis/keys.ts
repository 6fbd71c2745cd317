/**
 * The Redis data model of the chat (docs/scale-out.md). Every key of a room carries the room in a hash
 * tag (`{room}`), so a room's keys share one Redis Cluster slot and one Lua script may touch them all.
 */

/** Key and channel names of one room. */
export interface RoomKeys {
  /** Stream: the message log, entry ID `0-<id>` (so XRANGE pages by message id directly). */
  readonly log: string;
  /** String: the last id assigned (INCR). */
  readonly seq: string;
  /** Prefix of the dedupe keys `…:cid:<clientId>` → `<id>:<ts>`, with a TTL. */
  readonly cidPrefix: string;
  /** Sorted set: member uid scored by the expiry time (ms) of its presence. */
  readonly members: string;
  /** Hash: member uid → `<joinedAtMs>|<name>`. */
  readonly names: string;
  /** Prefix of the per-person sorted sets `…:conns:<uid>`: connection id scored by its expiry (ms). */
  readonly connsPrefix: string;
  /** Pub/sub channel: messages (published by the append script) and events (presence, typing). */
  readonly channel: string;
}

/** Names of the keys of `room` under `prefix` (default `wr:`). */
export function roomKeys(room: string, prefix: string): RoomKeys {
  const base = `${prefix}{${room}}:`;
  return {
    log: `${base}log`,
    seq: `${base}seq`,
    cidPrefix: `${base}cid:`,
    members: `${base}members`,
    names: `${base}names`,
    connsPrefix: `${base}conns:`,
    channel: `${base}ch`,
  };
}

/**
 * Pub/sub payloads. A message: `m<id> <envelope JSON>` (the id up front so a subscriber orders it
 * without parsing the JSON). An event: `e<origin> <envelope JSON>` (origin may be empty).
 */
export type Payload =
  | { readonly kind: 'm'; readonly id: number; readonly json: string }
  | { readonly kind: 'e'; readonly origin: string; readonly json: string };

export function encodeEvent(origin: string | undefined, json: string): string {
  return `e${origin ?? ''} ${json}`;
}

/** Parses a channel payload; undefined for anything malformed (never throws). */
export function decodePayload(raw: string): Payload | undefined {
  const space = raw.indexOf(' ');
  if (space < 1) return undefined;
  const kind = raw.charCodeAt(0);
  const json = raw.slice(space + 1);
  if (kind === 0x6d /* m */) {
    const id = Number(raw.slice(1, space));
    return Number.isSafeInteger(id) && id > 0 ? { kind: 'm', id, json } : undefined;
  }
  if (kind === 0x65 /* e */) return { kind: 'e', origin: raw.slice(1, space), json };
  return undefined;
}

/** The message id of a stream entry ID `0-<id>`. */
export function idOfEntry(entryId: string): number {
  return Number(entryId.slice(entryId.indexOf('-') + 1));
}
