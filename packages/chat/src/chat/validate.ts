/**
 * Validation of client envelopes against docs/chat-protocol.md. Hand-written (no schema library) because
 * the schema is small and every failure must map to a stable error code. Never throws: every input,
 * however malformed, yields either a valid envelope or a rejection.
 */
import type { ChatLimits } from './limits.js';
import { ChatErrorCodes, type ChatErrorCode, type ClientEnvelope } from './protocol.js';
import { codePointLength, nameKey, normalizeRoom, sanitizeName } from './sanitize.js';

/** Why an envelope was refused; `clientId`/`room` are echoed when the refusal concerns a sent message. */
export interface Rejection {
  readonly ok: false;
  readonly code: ChatErrorCode;
  readonly message: string;
  readonly clientId?: string;
  readonly room?: string;
}

export type ParseResult = { readonly ok: true; readonly envelope: ClientEnvelope } | Rejection;

type Fields = Readonly<Record<string, unknown>>;

const CLIENT_ID_PATTERN = /^[\x21-\x7e]+$/; // printable ASCII, no spaces
// Without the u flag the regex sees UTF-16 code units, which is what a lone surrogate is.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Thrown inside this module only, to unwind a field check; always caught by parseClientEnvelope. */
class FieldError {
  constructor(readonly code: ChatErrorCode, readonly message: string) {}
}

function bad(message: string): never {
  throw new FieldError(ChatErrorCodes.BAD_MESSAGE, message);
}

function roomField(o: Fields, limits: ChatLimits): string {
  const raw = o.room;
  if (typeof raw !== 'string') bad('"room" must be a string');
  const room = normalizeRoom(raw, limits.maxRoomLength);
  if (room === undefined) bad(`"room" must be 1-${limits.maxRoomLength} characters from a-z 0-9 - _ .`);
  return room;
}

function idField(o: Fields, key: string, required: boolean): number | undefined {
  const v = o[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`"${key}" must be a non-negative integer`);
  return v;
}

function limitField(o: Fields, fallback: number, max: number): number {
  const v = o.limit;
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) bad(`"limit" must be an integer from 1 to ${max}`);
  return v;
}

function nameField(o: Fields, limits: ChatLimits): string {
  if (typeof o.name !== 'string') bad('"name" must be a string');
  // Bound the work before sanitising: a name far over the limit cannot shrink into it legitimately.
  if (o.name.length > limits.maxNameLength * 8) throw new FieldError(ChatErrorCodes.TOO_LONG, `"name" is longer than ${limits.maxNameLength} characters`);
  const name = sanitizeName(o.name);
  if (name.length === 0 || nameKey(name).length === 0) throw new FieldError(ChatErrorCodes.INVALID_NAME, '"name" must have a visible character');
  // A lone surrogate is stored as U+FFFD (UTF-8 has no form for it): the name would change on its way to the store.
  if (LONE_SURROGATE.test(name)) throw new FieldError(ChatErrorCodes.INVALID_NAME, '"name" is not well-formed Unicode');
  if (codePointLength(name) > limits.maxNameLength) throw new FieldError(ChatErrorCodes.TOO_LONG, `"name" is longer than ${limits.maxNameLength} characters`);
  return name;
}

function parseFields(type: string, o: Fields, limits: ChatLimits): ClientEnvelope {
  switch (type) {
    case 'join': {
      const room = roomField(o, limits);
      const name = o.name === undefined ? undefined : nameField(o, limits);
      const after = idField(o, 'after', false);
      return { type, room, ...(name !== undefined && { name }), ...(after !== undefined && { after }) };
    }
    case 'rename':
      return { type, name: nameField(o, limits) };
    case 'leave':
      return { type, room: roomField(o, limits) };
    case 'message': {
      // clientId and room are checked first so that later failures can be reported against them.
      const clientId = o.clientId;
      if (typeof clientId !== 'string' || clientId.length === 0 || clientId.length > limits.maxClientIdLength || !CLIENT_ID_PATTERN.test(clientId)) {
        bad(`"clientId" must be 1-${limits.maxClientIdLength} printable ASCII characters`);
      }
      const room = roomField(o, limits);
      const text = o.text;
      if (typeof text !== 'string') bad('"text" must be a string');
      if (text.length > limits.maxTextLength && codePointLength(text) > limits.maxTextLength) {
        throw new FieldError(ChatErrorCodes.TOO_LONG, `"text" is longer than ${limits.maxTextLength} characters`);
      }
      if (text.trim().length === 0) bad('"text" must not be empty or only whitespace');
      // Lone surrogates cannot be stored as UTF-8 and would come back altered.
      if (LONE_SURROGATE.test(text)) bad('"text" is not well-formed Unicode');
      return { type, room, clientId, text };
    }
    case 'history': {
      const room = roomField(o, limits);
      const before = idField(o, 'before', true) as number;
      return { type, room, before, limit: limitField(o, limits.historyPage, limits.maxHistoryPage) };
    }
    case 'sync': {
      const room = roomField(o, limits);
      const after = idField(o, 'after', true) as number;
      return { type, room, after, limit: limitField(o, limits.syncPage, limits.syncPage) };
    }
    case 'typing':
      return { type, room: roomField(o, limits) };
    case 'ping': {
      const t = o.t;
      if (t === undefined) return { type };
      if (typeof t !== 'number' || !Number.isFinite(t)) bad('"t" must be a finite number');
      return { type, t };
    }
    default:
      throw new FieldError(ChatErrorCodes.UNKNOWN_TYPE, `unknown message type ${JSON.stringify(type.slice(0, 32))}`);
  }
}

/**
 * Parses and validates one text frame. Unknown extra fields are ignored (forward compatibility);
 * identifiers are normalised (room lowercased, name sanitised); message text is kept verbatim.
 */
export function parseClientEnvelope(text: string, limits: ChatLimits): ParseResult {
  if (text.length > limits.maxEnvelopeBytes) {
    return { ok: false, code: ChatErrorCodes.TOO_LONG, message: `frame is larger than ${limits.maxEnvelopeBytes} bytes` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: ChatErrorCodes.BAD_JSON, message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: ChatErrorCodes.BAD_MESSAGE, message: 'frame must be a JSON object' };
  }
  const o = value as Fields;
  if (typeof o.type !== 'string') return { ok: false, code: ChatErrorCodes.BAD_MESSAGE, message: '"type" must be a string' };
  try {
    return { ok: true, envelope: parseFields(o.type, o, limits) };
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    const rejection: { ok: false; code: ChatErrorCode; message: string; clientId?: string; room?: string } = {
      ok: false, code: err.code, message: err.message,
    };
    // Let the sender match the error to its pending message when the ids themselves were fine.
    if (o.type === 'message' && typeof o.clientId === 'string' && o.clientId.length <= limits.maxClientIdLength && CLIENT_ID_PATTERN.test(o.clientId)) {
      rejection.clientId = o.clientId;
      if (typeof o.room === 'string') {
        const room = normalizeRoom(o.room, limits.maxRoomLength);
        if (room !== undefined) rejection.room = room;
      }
    }
    return rejection;
  }
}
