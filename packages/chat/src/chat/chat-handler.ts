/**
 * One chat connection: validates envelopes, enforces the limits, and turns requests into store,
 * presence and broker operations (docs/chat-protocol.md).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Broker, PublishMeta } from 'wireroom/app';
import { WebSocketHandler } from 'wireroom/app';
import type { PreparedMessage } from 'wireroom';
import type { ChatLimits } from './limits.js';
import type { PresenceRegistry } from './presence.js';
import { fitPage } from './reply-budget.js';
import {
  ChatErrorCodes, messageEnvelope,
  type ChatErrorCode, type ClientEnvelope, type ErrorEnvelope, type HistoryRequest, type JoinRequest,
  type LeaveRequest, type SendRequest, type SyncRequest, type TypingRequest, type WelcomeEnvelope,
} from './protocol.js';
import { SlidingWindowCounter, TokenBucket, type Clock } from './rate-limit.js';
import { StoreUnavailableError, type ChatStore } from './store.js';
import { parseClientEnvelope } from './validate.js';

/** What every chat connection shares. */
export interface ChatServices {
  readonly store: ChatStore;
  readonly broker: Broker;
  readonly presence: PresenceRegistry;
  readonly limits: ChatLimits;
  /** Sent in `welcome`. */
  readonly serverVersion: string;
  /** Browser origins allowed besides the page's own (lowercase, e.g. `https://chat.example.com`). */
  readonly allowedOrigins: readonly string[];
  readonly logError: (context: string, error: unknown) => void;
  readonly now?: Clock;
}

/** A room this connection is in. */
interface RoomState {
  /** Display name used in this room. */
  name: string;
  /** False while the `joined` reply is being prepared: live events wait in `pending` meanwhile. */
  joined: boolean;
  /** Highest message id sent to the client (in `joined` or live): older live copies are dropped. */
  deliveredUpTo: number;
  pending: Array<{ readonly frame: PreparedMessage; readonly meta: PublishMeta }>;
}

/** Errors that show a misbehaving client; too many of them close the connection. */
const COUNTED_ERRORS: ReadonlySet<ChatErrorCode> = new Set<ChatErrorCode>([
  ChatErrorCodes.BAD_JSON, ChatErrorCodes.BAD_MESSAGE, ChatErrorCodes.UNKNOWN_TYPE, ChatErrorCodes.NOT_JOINED,
  ChatErrorCodes.TOO_LONG, ChatErrorCodes.TOO_MANY_ROOMS,
]);

const TOPIC_PREFIX = 'room:';

/** The broker topic of a room. */
export function roomTopic(room: string): string {
  return TOPIC_PREFIX + room;
}

type ErrorDetails = Omit<ErrorEnvelope, 'type'>;

/** The WebSocket handler of `/chat`. */
export class ChatHandler extends WebSocketHandler {
  /** This connection's id, sent in `welcome` and shown to others in presence. */
  readonly uid: string = randomUUID();
  private readonly services: ChatServices;
  private readonly limits: ChatLimits;
  private readonly rooms = new Map<string, RoomState>();
  private readonly messageBucket: TokenBucket;
  private readonly requestBucket: TokenBucket;
  private readonly typingBucket: TokenBucket;
  private readonly errors: SlidingWindowCounter;

  constructor(request: IncomingMessage, services: ChatServices) {
    super(request);
    this.services = services;
    const limits = (this.limits = services.limits);
    const now = services.now ?? Date.now;
    this.messageBucket = new TokenBucket(limits.ratePerSecond, limits.burst, now);
    this.requestBucket = new TokenBucket(limits.requestsPerSecond, limits.requestBurst, now);
    this.typingBucket = new TokenBucket(limits.typingPerSecond, limits.typingPerSecond, now);
    this.errors = new SlidingWindowCounter(limits.maxErrors, limits.errorWindowMs, now);
  }

  override checkOrigin(origin: string | undefined): boolean {
    return super.checkOrigin(origin) || (origin !== undefined && this.services.allowedOrigins.includes(origin.toLowerCase()));
  }

  override open(): void {
    const { limits } = this;
    const welcome: WelcomeEnvelope = {
      type: 'welcome',
      uid: this.uid,
      limits: {
        maxTextLength: limits.maxTextLength, maxNameLength: limits.maxNameLength,
        ratePerSecond: limits.ratePerSecond, burst: limits.burst, historyPage: limits.historyPage,
      },
      server: this.services.serverVersion,
    };
    this.send(welcome);
  }

  /** Synchronous for what needs no I/O (errors, ping, typing), so reading only pauses for store work. */
  override onMessage(data: string | Buffer, isBinary: boolean): void | Promise<void> {
    if (isBinary || typeof data !== 'string') {
      this.fail({ code: ChatErrorCodes.BAD_MESSAGE, message: 'binary frames are not supported: send JSON text' });
      return;
    }
    if (Buffer.byteLength(data) > this.limits.maxEnvelopeBytes) {
      this.fail({ code: ChatErrorCodes.TOO_LONG, message: `frame is larger than ${this.limits.maxEnvelopeBytes} bytes` });
      return;
    }
    const parsed = parseClientEnvelope(data, this.limits);
    if (!parsed.ok) {
      const { ok: _ok, ...details } = parsed;
      this.fail(details);
      return;
    }
    const envelope = parsed.envelope;
    if (!this.requestBucket.tryTake()) {
      this.rateLimited(envelope, this.requestBucket);
      return;
    }
    switch (envelope.type) {
      case 'ping':
        this.send(envelope.t === undefined ? { type: 'pong' } : { type: 'pong', t: envelope.t });
        return;
      case 'typing':
        this.typing(envelope);
        return;
      case 'join':
        return this.guard(this.join(envelope), envelope);
      case 'leave':
        return this.guard(this.leave(envelope), envelope);
      case 'message':
        return this.guard(this.sendMessage(envelope), envelope);
      case 'history':
        return this.guard(this.history(envelope), envelope);
      case 'sync':
        return this.guard(this.sync(envelope), envelope);
    }
  }

  override onClose(): void {
    for (const [room, state] of [...this.rooms]) {
      this.leaveRoom(room, state).catch((err: unknown) => this.services.logError('chat: leave on close', err));
    }
  }

  /** Broker delivery, filtered: own presence/typing skipped, messages already sent dropped, order kept while joining. */
  override deliver(topic: string, frame: PreparedMessage, meta: PublishMeta): void {
    const state = this.rooms.get(topic.slice(TOPIC_PREFIX.length));
    if (state === undefined || (meta.origin !== undefined && meta.origin === this.uid)) return;
    if (!state.joined) {
      if (state.pending.length >= this.limits.maxPendingWhileJoining) {
        // Cannot keep up: the client reconnects and resumes with `after`, losing nothing.
        this.close(1013, 'too far behind');
        return;
      }
      state.pending.push({ frame, meta });
      return;
    }
    if (meta.seq !== undefined) {
      if (meta.seq <= state.deliveredUpTo) return;
      state.deliveredUpTo = meta.seq;
    }
    this.sendPrepared(frame);
  }

  // ---------------------------------------------------------------- requests

  private async join(req: JoinRequest): Promise<void> {
    const existing = this.rooms.get(req.room);
    if (existing !== undefined) {
      // Joining again re-sends `joined` (e.g. to resync with `after`), without a new presence event.
      existing.name = req.name;
      await this.replyJoined(req, existing);
      return;
    }
    if (this.rooms.size >= this.limits.maxRoomsPerConnection) {
      this.fail({ code: ChatErrorCodes.TOO_MANY_ROOMS, message: `a connection may be in at most ${this.limits.maxRoomsPerConnection} rooms`, room: req.room });
      return;
    }
    const state: RoomState = { name: req.name, joined: false, deliveredUpTo: 0, pending: [] };
    this.rooms.set(req.room, state);
    const topic = roomTopic(req.room);
    try {
      // Subscribe before reading: whatever commits after the read is then surely delivered live.
      await this.services.broker.subscribe(topic, this);
      await this.replyJoined(req, state);
    } catch (err) {
      this.rooms.delete(req.room);
      await this.services.broker.unsubscribe(topic, this).catch(() => {});
      throw err;
    }
    const members = await this.services.presence.members(req.room, this.limits.maxMembersListed);
    await this.services.broker.publish(topic, JSON.stringify({
      type: 'presence', room: req.room, event: 'join', uid: this.uid, name: state.name, members,
    }), { origin: this.uid });
  }

  private async replyJoined(req: JoinRequest, state: RoomState): Promise<void> {
    const { store, presence } = this.services;
    state.joined = false;
    try {
      const page = req.after === undefined
        ? fitPage(await store.latest(req.room, this.limits.historyOnJoin), this.limits.maxReplyBytes, 'newest')
        : fitPage(await store.after(req.room, req.after, this.limits.syncPage), this.limits.maxReplyBytes, 'oldest');
      const members = await presence.join(req.room, { uid: this.uid, name: state.name }, this.limits.maxMembersListed);
      this.send({ type: 'joined', room: req.room, members, messages: page.messages, hasMore: page.hasMore, lastId: page.lastId, oldestId: page.oldestId });
      // Everything up to lastId is in the page or older than it (resuming with hasMore: fetched with `sync`).
      state.deliveredUpTo = Math.max(state.deliveredUpTo, page.lastId);
    } finally {
      state.joined = true;
      const pending = state.pending;
      state.pending = [];
      const topic = roomTopic(req.room);
      for (const { frame, meta } of pending) this.deliver(topic, frame, meta);
    }
  }

  private async leave(req: LeaveRequest): Promise<void> {
    const state = this.rooms.get(req.room);
    if (state === undefined) {
      this.fail({ code: ChatErrorCodes.NOT_JOINED, message: `not in room "${req.room}"`, room: req.room });
      return;
    }
    await this.leaveRoom(req.room, state);
  }

  private async leaveRoom(room: string, state: RoomState): Promise<void> {
    this.rooms.delete(room);
    const topic = roomTopic(room);
    const { broker, presence } = this.services;
    await broker.unsubscribe(topic, this);
    const members = await presence.leave(room, this.uid, this.limits.maxMembersListed);
    await broker.publish(topic, JSON.stringify({
      type: 'presence', room, event: 'leave', uid: this.uid, name: state.name, members,
    }), { origin: this.uid });
  }

  private async sendMessage(req: SendRequest): Promise<void> {
    const state = this.rooms.get(req.room);
    if (state === undefined) {
      this.fail({ code: ChatErrorCodes.NOT_JOINED, message: `join room "${req.room}" before sending to it`, clientId: req.clientId, room: req.room });
      return;
    }
    if (!this.messageBucket.tryTake()) {
      this.rateLimited(req, this.messageBucket);
      return;
    }
    const stored = await this.services.store.append({
      room: req.room, uid: this.uid, name: state.name, text: req.text, clientId: req.clientId,
    });
    // Committed: now acknowledge, then broadcast. Appends resolve in id order and nothing below awaits
    // before publish() is called, so publishes (and thus deliveries) happen in id order too.
    this.send({ type: 'ack', room: req.room, clientId: req.clientId, id: stored.id, ts: stored.ts, duplicate: stored.duplicate });
    if (stored.duplicate) return;
    const envelope = messageEnvelope({
      room: req.room, id: stored.id, ts: stored.ts, uid: this.uid, name: state.name, text: req.text, clientId: req.clientId,
    });
    await this.services.broker.publish(roomTopic(req.room), JSON.stringify(envelope), { seq: stored.id });
  }

  private async history(req: HistoryRequest): Promise<void> {
    if (!this.requireJoined(req.room)) return;
    const page = fitPage(await this.services.store.before(req.room, req.before, req.limit), this.limits.maxReplyBytes, 'newest');
    this.send({ type: 'history', room: req.room, messages: page.messages, hasMore: page.hasMore, oldestId: page.oldestId });
  }

  private async sync(req: SyncRequest): Promise<void> {
    if (!this.requireJoined(req.room)) return;
    const page = fitPage(await this.services.store.after(req.room, req.after, req.limit), this.limits.maxReplyBytes, 'oldest');
    this.send({ type: 'history', room: req.room, messages: page.messages, hasMore: page.hasMore, oldestId: page.oldestId });
  }

  private typing(req: TypingRequest): void {
    const state = this.rooms.get(req.room);
    if (!this.requireJoined(req.room) || state === undefined) return;
    if (!this.typingBucket.tryTake()) return; // a dropped typing notice harms nobody: no error
    this.services.broker
      .publish(roomTopic(req.room), JSON.stringify({ type: 'typing', room: req.room, uid: this.uid, name: state.name }), { origin: this.uid })
      .catch((err: unknown) => this.services.logError('chat: typing', err));
  }

  // ---------------------------------------------------------------- errors

  private requireJoined(room: string): boolean {
    if (this.rooms.has(room)) return true;
    this.fail({ code: ChatErrorCodes.NOT_JOINED, message: `not in room "${room}"`, room });
    return false;
  }

  private rateLimited(req: ClientEnvelope, bucket: TokenBucket): void {
    const details: { code: ChatErrorCode; message: string; retryAfterMs: number; clientId?: string; room?: string } = {
      code: ChatErrorCodes.RATE_LIMITED, message: 'slow down: too many messages', retryAfterMs: bucket.msUntilNext(),
    };
    if (req.type === 'message') {
      details.clientId = req.clientId;
      details.room = req.room;
    }
    this.fail(details);
  }

  /** Sends an error envelope; a client causing too many errors is closed with 1008. */
  private fail(details: ErrorDetails): void {
    this.send({ type: 'error', ...details });
    if (COUNTED_ERRORS.has(details.code) && this.errors.record()) this.close(1008, 'too many invalid messages');
  }

  /** Turns a failed request into an error envelope: nothing escapes to the framework. */
  private guard(work: Promise<void>, req: ClientEnvelope): Promise<void> {
    return work.catch((err: unknown) => {
      const about: { clientId?: string; room?: string } = {};
      if (req.type === 'message') about.clientId = req.clientId;
      if ('room' in req) about.room = req.room;
      if (err instanceof StoreUnavailableError) {
        this.fail({ code: ChatErrorCodes.STORAGE_UNAVAILABLE, message: 'storage is unavailable: nothing was stored, try again later', ...about });
        return;
      }
      this.services.logError(`chat: ${req.type}`, err);
      this.fail({ code: ChatErrorCodes.INTERNAL, message: 'internal error', ...about });
    });
  }
}
