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
import { codePointLength, nameKey, sanitizeName } from './sanitize.js';
import { fitPage } from './reply-budget.js';
import {
  ChatErrorCodes, messageEnvelope,
  type ChatErrorCode, type ClientEnvelope, type ErrorEnvelope, type HistoryRequest, type JoinRequest,
  type LeaveRequest, type RenamedEnvelope, type RenameRequest, type SendRequest, type SyncRequest, type TypingRequest,
  type WelcomeEnvelope,
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

/**
 * Who is connected, as established before the WebSocket was accepted (the `identify` hook, see server.ts): never
 * anything the client says in a message.
 */
export interface ChatIdentity {
  /** The person's stable public id: stamped on their messages, shown in presence. */
  readonly uid: string;
  /** A name to take when the person has none yet (the proxy's user name in `--trust-user-header` mode). */
  readonly defaultName?: string;
  /**
   * The identity provider owns names (`--trust-user-header` mode): the person's name is `defaultName` (or, when
   * another person holds a name with the same key, it plus a short suffix from `uid`); `rename` and a `join`
   * with another name are refused with RENAME_DISABLED, and `welcome` says `renamable: false`.
   */
  readonly fixedName?: boolean;
}

/** A room this connection is in. */
interface RoomState {
  /** False while the `joined` reply is being prepared: live events wait in `pending` meanwhile. */
  joined: boolean;
  /** Highest message id sent to the client (in `joined` or live): older live copies are dropped. */
  deliveredUpTo: number;
  pending: Array<{ readonly frame: PreparedMessage; readonly meta: PublishMeta }>;
}

/** Errors that show a misbehaving client; too many of them close the connection. */
const COUNTED_ERRORS: ReadonlySet<ChatErrorCode> = new Set<ChatErrorCode>([
  ChatErrorCodes.BAD_JSON, ChatErrorCodes.BAD_MESSAGE, ChatErrorCodes.UNKNOWN_TYPE, ChatErrorCodes.NOT_JOINED,
  ChatErrorCodes.TOO_LONG, ChatErrorCodes.TOO_MANY_ROOMS, ChatErrorCodes.INVALID_NAME, ChatErrorCodes.RENAME_DISABLED,
]);

const TOPIC_PREFIX = 'room:';
/** The topic of one person's connections (renames reach their other tabs, on any process). */
const PERSON_PREFIX = 'person:';

/** The broker topic of a room. */
export function roomTopic(room: string): string {
  return TOPIC_PREFIX + room;
}

type ErrorDetails = Omit<ErrorEnvelope, 'type'>;

/** The WebSocket handler of `/chat`. */
export class ChatHandler extends WebSocketHandler<ChatIdentity> {
  /** This connection's own id (the origin of its broker events); the person's id is `uid`. */
  readonly connectionId: string = randomUUID();
  /** The person's current display name; undefined until they take one. */
  private name: string | undefined;
  private personTopic: string | undefined;
  /**
   * The store operations that set `name` (own claims, re-reads after another tab's rename), one at a time and
   * applied in the order they ran: the last one to run saw the store's latest claim, so every tab ends up with
   * the name the store holds, whatever order concurrent renames from several tabs (or processes) took.
   */
  private nameUpdates: Promise<unknown> = Promise.resolve();
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

  /** The person's stable id, from the identity the connection was accepted with. */
  get uid(): string {
    const identity = this.identity as ChatIdentity | undefined;
    if (identity === undefined || typeof identity.uid !== 'string') throw new Error('chat connection without an identity (is the identify hook set?)');
    return identity.uid;
  }

  override async open(): Promise<void> {
    const { limits, services } = this;
    const uid = this.uid;
    /** Proxy mode: the name this person had before this connection gave them their login's (if it did). */
    let replaced: string | undefined;
    try {
      this.name = await services.store.nameOf(uid);
      const wanted = this.identity.defaultName;
      if (this.identity.fixedName === true) {
        const before = this.name;
        await this.takeLoginName();
        if (before !== undefined && before !== this.name) replaced = before;
      } else if (this.name === undefined && wanted !== undefined) {
        const name = truncateName(sanitizeName(wanted), limits.maxNameLength);
        if (nameKey(name).length > 0) {
          const claim = await services.store.claimName(uid, name);
          if (claim.ok) this.name = claim.name;
        }
      }
    } catch (err) {
      // Storage down: the person has no name on this connection until `rename`/`join` can store one.
      if (!(err instanceof StoreUnavailableError)) services.logError('chat: name on open', err);
    }
    this.personTopic = PERSON_PREFIX + uid;
    try {
      await services.broker.subscribe(this.personTopic, this);
    } catch (err) {
      this.personTopic = undefined; // renames from other tabs are then seen on their next connection
      if (!(err instanceof StoreUnavailableError)) services.logError('chat: subscribe to person topic', err);
    }
    if (replaced !== undefined && this.name !== undefined && this.personTopic !== undefined) {
      // The person's other connections (and their rooms) learn the new name as after a rename.
      services.broker.publish(this.personTopic, JSON.stringify({ ...this.renamedEnvelope(this.name, replaced), rooms: [] }), { origin: this.connectionId })
        .catch((err: unknown) => { if (!(err instanceof StoreUnavailableError)) services.logError('chat: name on open', err); });
    }
    const welcome: WelcomeEnvelope = {
      type: 'welcome',
      uid,
      ...(this.name !== undefined && { name: this.name }),
      renamable: this.identity.fixedName !== true,
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
      case 'rename':
        return this.guard(this.rename(envelope), envelope);
    }
  }

  override onClose(): void {
    for (const [room, state] of [...this.rooms]) {
      this.leaveRoom(room, state).catch((err: unknown) => this.services.logError('chat: leave on close', err));
    }
    if (this.personTopic !== undefined) {
      this.services.broker.unsubscribe(this.personTopic, this).catch((err: unknown) => this.services.logError('chat: unsubscribe person', err));
      this.personTopic = undefined;
    }
  }

  /** Broker delivery, filtered: own presence/typing skipped, messages already sent dropped, order kept while joining. */
  override deliver(topic: string, frame: PreparedMessage, meta: PublishMeta): void {
    if (meta.origin !== undefined && meta.origin === this.connectionId) return;
    if (topic === this.personTopic) {
      this.personEvent(frame);
      return;
    }
    const state = this.rooms.get(topic.slice(TOPIC_PREFIX.length));
    if (state === undefined) return;
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
    if (this.identity.fixedName === true) {
      // Names come from the login: a `name` other than it is refused (the same one is fine, as a rename to it is).
      if (this.name === undefined) await this.updateName(() => this.takeLoginName());
      if (req.name !== undefined && req.name !== this.name) {
        this.failRenameDisabled(req.room);
        return;
      }
    }
    // `name` asks for that name: taken only if nobody else holds it.
    if (req.name !== undefined && req.name !== this.name && !(await this.takeName(req.name, req.room))) return;
    const name = this.name;
    if (name === undefined) {
      this.fail({ code: ChatErrorCodes.INVALID_NAME, message: 'choose a name first: join with "name", or send "rename"', room: req.room });
      return;
    }
    const existing = this.rooms.get(req.room);
    if (existing !== undefined) {
      // Joining again re-sends `joined` (e.g. to resync with `after`), without a new presence event.
      await this.replyJoined(req, existing);
      return;
    }
    if (this.rooms.size >= this.limits.maxRoomsPerConnection) {
      this.fail({ code: ChatErrorCodes.TOO_MANY_ROOMS, message: `a connection may be in at most ${this.limits.maxRoomsPerConnection} rooms`, room: req.room });
      return;
    }
    const state: RoomState = { joined: false, deliveredUpTo: 0, pending: [] };
    this.rooms.set(req.room, state);
    const topic = roomTopic(req.room);
    let arrived: boolean;
    try {
      // Subscribe before reading: whatever commits after the read is then surely delivered live.
      await this.services.broker.subscribe(topic, this);
      arrived = await this.replyJoined(req, state);
    } catch (err) {
      this.rooms.delete(req.room);
      await this.services.broker.unsubscribe(topic, this).catch(() => {});
      throw err;
    }
    // Only the person's first connection in the room is an arrival (a second tab is the same member).
    if (!arrived) return;
    const members = await this.services.presence.members(req.room, this.limits.maxMembersListed);
    await this.services.broker.publish(topic, JSON.stringify({
      type: 'presence', room: req.room, event: 'join', uid: this.uid, name, members,
    }), { origin: this.connectionId });
  }

  /** Sends `joined`; resolves with whether the person was new in the room's presence. */
  private async replyJoined(req: JoinRequest, state: RoomState): Promise<boolean> {
    const { store, presence } = this.services;
    state.joined = false;
    try {
      const page = req.after === undefined
        ? fitPage(await store.latest(req.room, this.limits.historyOnJoin), this.limits.maxReplyBytes, 'newest')
        : fitPage(await store.after(req.room, req.after, this.limits.syncPage), this.limits.maxReplyBytes, 'oldest');
      const { members, changed } = await presence.join(req.room, { uid: this.uid, name: this.name ?? '' }, this.connectionId, this.limits.maxMembersListed);
      this.send({ type: 'joined', room: req.room, members, messages: page.messages, hasMore: page.hasMore, lastId: page.lastId, oldestId: page.oldestId });
      // Everything up to lastId is in the page or older than it (resuming with hasMore: fetched with `sync`).
      state.deliveredUpTo = Math.max(state.deliveredUpTo, page.lastId);
      return changed;
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

  private async leaveRoom(room: string, _state: RoomState): Promise<void> {
    this.rooms.delete(room);
    const topic = roomTopic(room);
    const { broker, presence } = this.services;
    await broker.unsubscribe(topic, this);
    const { members, changed } = await presence.leave(room, this.uid, this.connectionId, this.limits.maxMembersListed);
    // The person leaves with their last connection in the room.
    if (!changed) return;
    await broker.publish(topic, JSON.stringify({
      type: 'presence', room, event: 'leave', uid: this.uid, name: this.name ?? '', members,
    }), { origin: this.connectionId });
  }

  private async rename(req: RenameRequest): Promise<void> {
    if (this.identity.fixedName === true && this.name === undefined) await this.updateName(() => this.takeLoginName());
    if (req.name === this.name) {
      this.send(this.renamedEnvelope(req.name, undefined));
      return;
    }
    if (this.identity.fixedName === true) {
      this.failRenameDisabled(undefined);
      return;
    }
    await this.takeName(req.name, undefined);
  }

  private failRenameDisabled(room: string | undefined): void {
    this.fail({
      code: ChatErrorCodes.RENAME_DISABLED,
      message: `names come from your login on this server: yours is "${this.name ?? ''}"`,
      ...(room !== undefined && { room }),
    });
  }

  /**
   * Proxy mode (`fixedName`): makes the login the person's name, or, when another person holds a name with the
   * same key (two logins that fold together, or a name taken before names came from logins), the login plus a
   * suffix from the uid: 6 characters, then the whole uid. Never takes another login's name: a name is only
   * claimed through the store, which refuses one that someone else holds. Rejects with StoreUnavailableError.
   */
  private async takeLoginName(): Promise<void> {
    const { maxNameLength } = this.limits;
    const login = sanitizeName(this.identity.defaultName ?? '');
    const tag = this.uid.replace(/^p_/, '');
    const candidates = [login, `${login}~${tag.slice(0, 6)}`, `${login}~${tag}`].map((c) => {
      const suffix = c.slice(login.length);
      return (truncateName(login, Math.max(0, maxNameLength - codePointLength(suffix))) + suffix).trim();
    }).filter((c) => nameKey(c).length > 0 && codePointLength(c) <= maxNameLength);
    if (candidates.length === 0 || nameKey(login).length === 0) candidates.unshift(`user~${tag.slice(0, 6)}`);
    if (this.name !== undefined && this.name === candidates[0]) return;
    for (const candidate of candidates) {
      const claim = await this.services.store.claimName(this.uid, candidate);
      if (claim.ok) {
        this.name = claim.name;
        return;
      }
    }
  }

  /**
   * Takes `name` for the person (store-checked ownership), then tells this connection (`renamed`), the person's
   * other connections (their topic) and the rooms of this connection (`rename`). False, after an error
   * envelope, when someone else holds it.
   */
  private async takeName(name: string, room: string | undefined): Promise<boolean> {
    const { claim, previous } = await this.updateName(async () => {
      const result = await this.services.store.claimName(this.uid, name);
      const before = this.name;
      if (result.ok) this.name = result.name;
      return { claim: result, previous: before };
    });
    if (!claim.ok) {
      this.fail({ code: ChatErrorCodes.NAME_TAKEN, message: `the name "${name}" belongs to someone else`, ...(room !== undefined && { room }) });
      return false;
    }
    this.send(this.renamedEnvelope(claim.name, previous));
    const rooms = [...this.rooms.keys()];
    if (this.personTopic !== undefined) {
      await this.services.broker.publish(this.personTopic, JSON.stringify({ ...this.renamedEnvelope(claim.name, previous), rooms }), { origin: this.connectionId });
    }
    if (previous !== undefined && previous !== claim.name) await this.announceRename(rooms, previous, claim.name);
    return true;
  }

  private renamedEnvelope(name: string, previous: string | undefined): RenamedEnvelope {
    return { type: 'renamed', uid: this.uid, name, ...(previous !== undefined && { previous }) };
  }

  /** Updates the person's name in the presence of `rooms` and tells everyone there (the renamer's connections too). */
  private async announceRename(rooms: readonly string[], from: string, to: string): Promise<void> {
    for (const room of rooms) {
      if (!this.rooms.has(room)) continue;
      // Presence gets the name this connection now knows from the store, which a later rename from another tab
      // may have made newer than `to`.
      await this.services.presence.join(room, { uid: this.uid, name: this.name ?? to }, this.connectionId, this.limits.maxMembersListed);
      await this.services.broker.publish(roomTopic(room), JSON.stringify({ type: 'rename', room, uid: this.uid, from, to }));
    }
  }

  /** Runs a store operation that sets `name` after the ones before it (see `nameUpdates`). */
  private updateName<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.nameUpdates.then(operation, operation);
    this.nameUpdates = run.catch(() => {});
    return run;
  }

  /**
   * The person renamed in another connection: take their name here, and announce it in rooms that one is not
   * in. The name is read back from the store rather than taken from the event: when two tabs rename at the same
   * moment, an event may arrive after a newer claim, and its name may already be released (anyone's to take).
   */
  private personEvent(frame: PreparedMessage): void {
    let event: { type?: unknown; name?: unknown; previous?: unknown; rooms?: unknown };
    try {
      event = JSON.parse(frame.payload.toString('utf8')) as typeof event;
    } catch {
      return;
    }
    if (event.type !== 'renamed' || typeof event.name !== 'string') return;
    const announced = new Set(Array.isArray(event.rooms) ? event.rooms : []);
    this.updateName(async () => {
      const name = await this.services.store.nameOf(this.uid);
      const previous = this.name;
      if (name === undefined || name === previous) return;
      this.name = name;
      this.send(this.renamedEnvelope(name, previous));
      const others = [...this.rooms.keys()].filter((room) => !announced.has(room));
      // Rooms the other tab announced: their presence may hold a name this one claimed since (a concurrent rename).
      for (const room of [...this.rooms.keys()].filter((r) => announced.has(r))) {
        if (!this.rooms.has(room)) continue; // left meanwhile: joining again would leave a ghost member
        await this.services.presence.join(room, { uid: this.uid, name }, this.connectionId, this.limits.maxMembersListed);
      }
      if (previous !== undefined && others.length > 0) {
        this.announceRename(others, previous, name).catch((err: unknown) => this.services.logError('chat: rename', err));
      }
    }).catch((err: unknown) => {
      // Storage down: this tab keeps its name until the next rename event or connection.
      if (!(err instanceof StoreUnavailableError)) this.services.logError('chat: name after rename', err);
    });
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
    // Stamped by the server: the person's id and current name, whatever else the client put in the envelope.
    const name = this.name ?? '';
    const stored = await this.services.store.append({
      room: req.room, uid: this.uid, name, text: req.text, clientId: req.clientId,
    });
    // Committed: now acknowledge, then broadcast. Appends resolve in id order and nothing below awaits
    // before publish() is called, so publishes (and thus deliveries) happen in id order too.
    this.send({ type: 'ack', room: req.room, clientId: req.clientId, id: stored.id, ts: stored.ts, duplicate: stored.duplicate });
    if (stored.duplicate) return;
    const envelope = messageEnvelope({
      room: req.room, id: stored.id, ts: stored.ts, uid: this.uid, name, text: req.text, clientId: req.clientId,
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
    if (!this.requireJoined(req.room)) return;
    if (!this.typingBucket.tryTake()) return; // a dropped typing notice harms nobody: no error
    this.services.broker
      .publish(roomTopic(req.room), JSON.stringify({ type: 'typing', room: req.room, uid: this.uid, name: this.name ?? '' }), { origin: this.connectionId })
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
      if (err instanceof RangeError && req.type === 'rename') {
        this.fail({ code: ChatErrorCodes.INVALID_NAME, message: err.message });
        return;
      }
      if (err instanceof StoreUnavailableError) {
        this.fail({ code: ChatErrorCodes.STORAGE_UNAVAILABLE, message: 'storage is unavailable: nothing was stored, try again later', ...about });
        return;
      }
      this.services.logError(`chat: ${req.type}`, err);
      this.fail({ code: ChatErrorCodes.INTERNAL, message: 'internal error', ...about });
    });
  }
}

/** Cuts a name to `max` code points (a proxy's user name may be longer than a chosen one may). */
function truncateName(name: string, max: number): string {
  if (codePointLength(name) <= max) return name;
  return Array.from(name).slice(0, max).join('').trim();
}
