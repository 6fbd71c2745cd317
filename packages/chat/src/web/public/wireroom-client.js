// @ts-check
/**
 * Wireroom browser client: a reconnecting WebSocket client for the chat protocol v1
 * (docs/chat-protocol.md). Plain ES module, no dependencies, usable by any page:
 *
 *   import { WireroomClient } from './wireroom-client.js';
 *   const client = new WireroomClient({ urls: 'ws://127.0.0.1:8888/chat' });
 *   client.addEventListener('message', (e) => console.log(e.detail.message.text));
 *   client.join('lobby', 'Ada');
 *   client.connect();
 *   client.send('lobby', 'hello');
 *
 * What it takes care of: reconnection (exponential backoff with full jitter, rotation over several
 * server URLs), an app-level heartbeat (`ping`/`pong` envelopes), an offline outbox persisted in
 * localStorage, pending/delivered tracking by `clientId`, and per-room resume (`join` with `after`)
 * with duplicate suppression. See docs/web-client.md.
 */

/** @typedef {'connecting' | 'online' | 'reconnecting' | 'offline'} ConnectionState */
/** @typedef {{ room: string, id: number, ts: number, uid: string, name: string, text: string, clientId: string }} ChatMessage */
/** @typedef {{ room: string, clientId: string, text: string, createdAt: number }} OutboxEntry */
/** @typedef {{ uid: string, name: string }} Member */

/**
 * @typedef {object} ClientOptions
 * @property {string | string[]} [urls] Server URL(s). Default: `ws(s)://<page host>/chat`. Several URLs are
 *   tried in turn: the client moves to the next one after every failed or lost connection.
 * @property {number} [minDelayMs=500] First reconnect delay cap; doubles per failed attempt.
 * @property {number} [maxDelayMs=30000] Upper bound of the reconnect delay.
 * @property {number} [stableAfterMs=10000] A connection that stays up this long resets the backoff.
 * @property {number} [connectTimeoutMs=10000] Give up an opening handshake after this long.
 * @property {number} [heartbeatIntervalMs=20000] Send a `ping` after this long without any frame.
 * @property {number} [heartbeatTimeoutMs=10000] Declare the connection dead when no frame follows a ping.
 * @property {number} [maxOutbox=200] Most unsent messages kept (sending more throws `QUEUE_FULL`).
 * @property {number} [maxRooms=50] Most rooms whose last seen id is remembered.
 * @property {number} [backfill=50] Older messages fetched when a room is resumed after a reload.
 * @property {number} [maxHeld=2000] Live messages held back per room while a gap below them is being filled;
 *   beyond it they are dropped and fetched again by `sync` (memory stays bounded, nothing is lost).
 * @property {Storage | null} [storage] Where outbox, last ids and device id live. Default: localStorage.
 * @property {string} [storagePrefix='wireroom:'] Key prefix in storage.
 * @property {typeof WebSocket} [WebSocket] WebSocket constructor (for tests or non-browser hosts).
 */

const DEFAULTS = {
  minDelayMs: 500,
  maxDelayMs: 30_000,
  stableAfterMs: 10_000,
  connectTimeoutMs: 10_000,
  heartbeatIntervalMs: 20_000,
  heartbeatTimeoutMs: 10_000,
  maxOutbox: 200,
  maxRooms: 50,
  backfill: 50,
  maxHeld: 2000,
  storagePrefix: 'wireroom:',
};

/** Server errors after which a sent message is given up (resending the same text cannot succeed). */
const FATAL_SEND_ERRORS = new Set(['TOO_LONG', 'BAD_MESSAGE']);
const TYPING_THROTTLE_MS = 2_000;
const DEFAULT_MAX_TEXT = 2000;

/**
 * Reconnect delay with "full jitter": uniform in [0, min(maxMs, minMs * 2^attempt)].
 * Full jitter spreads a crowd of clients reconnecting after a server restart evenly over time.
 * @param {number} attempt 0 for the first retry
 * @param {number} minMs
 * @param {number} maxMs
 * @param {() => number} [random]
 * @returns {number}
 */
export function backoffDelay(attempt, minMs, maxMs, random = Math.random) {
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/**
 * Normalizes a room name to the protocol's alphabet (`a-z 0-9 - _ .`, 1-64 chars); `lobby` if nothing is left.
 * @param {string} raw
 * @returns {string}
 */
export function normalizeRoom(raw) {
  let s = '';
  try { s = decodeURIComponent(raw); } catch { s = raw; }
  s = s.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
  return s || 'lobby';
}

/**
 * Random hex: crypto.getRandomValues works on plain-http LAN pages (crypto.randomUUID does not).
 * @param {number} bytes
 * @returns {string}
 */
function randomHex(bytes) {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** @param {string} s @returns {number} length in code points, as the server counts */
function codePoints(s) {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Settled clientIds remembered (in memory and in storage): the most recently settled are kept. */
const SETTLED_MAX = 1000;

/** @param {string | null} raw @returns {unknown} the parsed JSON, or undefined */
function parseJson(raw) {
  if (raw == null) return undefined;
  try { return JSON.parse(raw); } catch { return undefined; }
}

/** @param {unknown} raw a stored outbox @returns {OutboxEntry[]} its well-formed entries */
function parseOutbox(raw) {
  if (!Array.isArray(raw)) return [];
  /** @type {OutboxEntry[]} */
  const out = [];
  for (const e of raw) {
    if (!e || typeof e.room !== 'string' || typeof e.clientId !== 'string' || typeof e.text !== 'string') continue;
    out.push({ room: e.room, clientId: e.clientId, text: e.text, createdAt: Number.isFinite(e.createdAt) ? e.createdAt : 0 });
  }
  return out;
}

/** @param {OutboxEntry} a @param {OutboxEntry} b */
const byCreated = (a, b) => a.createdAt - b.createdAt || (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0);

/** @param {[string, number]} a @param {[string, number]} b */
const bySettledAt = (a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/**
 * Oldest first, at most `max`, the same choice in every tab (by creation time, then clientId).
 * @param {OutboxEntry[]} entries @param {number} max
 * @returns {{ kept: OutboxEntry[], overflow: OutboxEntry[] }}
 */
function capOutbox(entries, max) {
  const seen = new Set();
  const sorted = entries.filter((e) => !seen.has(e.clientId) && seen.add(e.clientId)).sort(byCreated);
  return { kept: sorted.slice(0, max), overflow: sorted.slice(max) };
}

/** JSON in a Storage, never throwing (private mode, quota, disabled storage all degrade to memory-only). */
class Store {
  /** @param {Storage | null} storage @param {string} prefix */
  constructor(storage, prefix) { this.storage = storage; this.prefix = prefix; }
  /** @template T @param {string} key @param {T} fallback @returns {T} */
  get(key, fallback) {
    try {
      const raw = this.storage?.getItem(this.prefix + key);
      return raw == null ? fallback : JSON.parse(raw);
    } catch { return fallback; }
  }
  /** @param {string} key @param {unknown} value */
  set(key, value) {
    try { this.storage?.setItem(this.prefix + key, JSON.stringify(value)); } catch { /* memory-only */ }
  }
}

function defaultStorage() {
  try { return globalThis.localStorage ?? null; } catch { return null; } // throws in sandboxed frames
}

function defaultUrls() {
  const loc = globalThis.location;
  if (!loc) throw new Error('WireroomClient: no urls given and no page location to derive one from');
  return [`${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/chat`];
}

/**
 * @typedef {object} RoomState
 * @property {string | undefined} name display name to ask for when joining (undefined: the server's current one)
 * @property {boolean} joined `joined` received on the current connection
 * @property {number} high contiguous progress (persisted): every message with an id at or below it was
 *   delivered to the app (or is older history the app may page back to); nothing above it was
 * @property {'joining' | 'syncing' | 'live'} mode on this connection: waiting for `joined`; filling the gap
 *   between `high` and the first live message with `sync` pages; or caught up (live messages delivered at once)
 * @property {number} target while syncing: the room's last id when `joined` was read; live messages start above it
 * @property {ChatMessage[]} held live messages received while syncing, ascending ids, all above `high`
 * @property {number} dropped highest live id dropped because `held` was full (0: none); sync must pass it
 * @property {number} low lowest id delivered in this page session (Infinity if none)
 * @property {number | null} joinAfter `after` sent with the current join
 * @property {boolean | null} older whether older history exists (null: unknown)
 * @property {number} kept the lowest id the server still keeps (its last `oldestId`; 1: nothing removed)
 * @property {boolean} backfilled context already fetched in this session
 * @property {string | null} inflight clientId sent and not yet acknowledged
 * @property {number} pausedUntil no sends before this time (rate limit)
 * @property {ReturnType<typeof setTimeout> | undefined} retryTimer
 * @property {Array<{ kind: 'sync' } | { kind: 'history', before: number }>} requests outstanding, in order
 * @property {number} lastTypingAt
 */

/**
 * A reconnecting client for one browser tab. Events (CustomEvent, payload in `detail`):
 * - `state` `{ state, attempt, retryInMs?, url }`: connection state changed
 * - `welcome` `{ uid, name?, renamable, limits, server }`: `uid` is your stable id, `name` your display name on the server
 * - `renamed` `{ uid, name, previous? }`: your name changed (in this tab or another); `rename` `{ room, uid, from, to }`: someone's did
 * - `joined` `{ room, members, lastId, oldestId, resumed }`: (re)joined; new messages follow as `message` events
 * - `message` `{ message, own, source }`: a new message (source `live`, `join` or `sync`), never twice
 * - `history` `{ room, messages, hasMore, oldestId }`: older messages (answer to `loadOlder` or the resume backfill);
 *   `oldestId` is the lowest id the server keeps: with nothing more and `oldestId > 1`, older ones are gone (see olderGone)
 * - `trimmed` `{ room, from, to }`: messages with ids from..to were removed by retention before this client saw them
 * - `queued` `{ entry }`, `ack` `{ room, clientId, id, ts }`, `failed` `{ entry, code, message }`
 * - `presence` / `typing`: the server envelopes as-is
 * - `error` the server's `error` envelope, for the user to see
 * - `reset` `{ room }`: the server's history is behind what this browser saw (database replaced); drop the view
 */
export class WireroomClient extends EventTarget {
  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    super();
    const urls = options.urls ?? defaultUrls();
    /** @type {string[]} */
    this.urls = Array.isArray(urls) ? [...urls] : [urls];
    if (this.urls.length === 0) throw new Error('WireroomClient: urls is empty');
    this.opts = { ...DEFAULTS, ...options };
    this.WS = options.WebSocket ?? globalThis.WebSocket;
    this.store = new Store(options.storage === undefined ? defaultStorage() : options.storage, this.opts.storagePrefix);

    /** @type {ConnectionState} */
    this.state = 'offline';
    /** @type {string | null} your stable id on the server (your session's, the same in every tab and after reloads) */
    this.uid = null;
    /** @type {string | null} your display name on the server (from `welcome` and `renamed`); null until you take one */
    this.name = null;
    /** @type {{ maxTextLength: number, maxNameLength: number, ratePerSecond: number, burst: number, historyPage: number } | null} */
    this.limits = null;

    /** Stable per-browser prefix of every clientId: marks own messages even after a reload. */
    this.deviceId = this.store.get('device', '');
    if (!/^[0-9a-f]{12}$/.test(this.deviceId)) { this.deviceId = randomHex(6); this.store.set('device', this.deviceId); }

    /**
     * clientIds known to be stored (acknowledged, broadcast) or refused, with the time they were settled,
     * by this tab or (through storage) by any tab of this browser: a settled entry never comes back into an
     * outbox, whatever stale outbox another tab writes. Bounded: the most recent SETTLED_MAX.
     * @type {Map<string, number>}
     */
    this.settled = new Map();
    this.#learnSettled(this.store.get('settled', []));
    /** @type {OutboxEntry[]} */
    this.outbox = this.#loadOutbox();
    /** @type {Record<string, { id: number, at: number }>} last seen id per room (bounded by maxRooms) */
    this.lastIds = this.store.get('lastIds', {});
    /** @type {Map<string, RoomState>} */
    this.rooms = new Map();

    /** @type {WebSocket | null} */
    this.ws = null;
    this.attempt = 0;
    this.urlIndex = 0;
    this.everOnline = false;
    this.stopped = true;
    this.lastRx = 0;
    /** @type {Record<string, ReturnType<typeof setTimeout> | undefined>} */
    this.timers = {};
    this.saveTimer = undefined;

    // Bound once so they can be removed in close().
    this.onNetOnline = () => { if (!this.ws && !this.stopped) { this.attempt = 0; this.#open(); } };
    this.onNetOffline = () => {
      if (this.stopped) return;
      this.#setState('offline'); // say so at once; a socket that still answers the probe turns it back online
      if (this.ws) this.#probe(Math.min(this.opts.heartbeatTimeoutMs, 3000));
      else this.#clearTimer('retry');
    };
    this.onVisibility = () => {
      if (globalThis.document?.visibilityState !== 'visible' || this.stopped) return;
      // Timers are throttled in background tabs: re-check the connection as soon as the user looks.
      if (this.ws && this.state === 'online') this.#probe();
      else if (!this.ws) this.#open();
    };
    this.onPageHide = () => this.#saveNow();
    // Tabs of one browser share the outbox and the settled ids: adopt what another tab queued, drop what any
    // tab settled, and write back what the stored copy lacks, so that whichever tab saves last neither erases
    // another's unsent messages nor brings back delivered ones (the server deduplicates double sends by clientId).
    this.onStorage = (/** @type {StorageEvent} */ e) => {
      if (e.storageArea !== this.store.storage || this.store.storage == null) return;
      if (e.key === this.opts.storagePrefix + 'outbox') this.#reconcile(e.newValue, null);
      else if (e.key === this.opts.storagePrefix + 'settled') this.#reconcile(null, e.newValue);
    };
  }

  // ---------------------------------------------------------------- public API

  /** Starts connecting (idempotent). Rooms joined before or after are (re)joined on every connection. */
  connect() {
    if (!this.stopped) return;
    this.stopped = false;
    const w = globalThis.window;
    w?.addEventListener('online', this.onNetOnline);
    w?.addEventListener('offline', this.onNetOffline);
    w?.addEventListener('pagehide', this.onPageHide);
    w?.addEventListener('storage', this.onStorage);
    globalThis.document?.addEventListener('visibilitychange', this.onVisibility);
    if (this.store.storage) this.#reconcile(null, null); // what other tabs stored while this one did not listen
    this.#open();
  }

  /** Skips the wait before the next reconnect attempt (a "retry now" button); no-op while connected. */
  reconnectNow() {
    if (!this.stopped && !this.ws) this.#open();
  }

  /** Closes the connection and stops reconnecting. The outbox stays persisted for the next `connect()`. */
  close() {
    this.stopped = true;
    const w = globalThis.window;
    w?.removeEventListener('online', this.onNetOnline);
    w?.removeEventListener('offline', this.onNetOffline);
    w?.removeEventListener('pagehide', this.onPageHide);
    w?.removeEventListener('storage', this.onStorage);
    globalThis.document?.removeEventListener('visibilitychange', this.onVisibility);
    for (const key of Object.keys(this.timers)) this.#clearTimer(key);
    if (this.ws) this.#drop(this.ws, 1000, 'client closed');
    this.#saveNow();
    this.#setState('offline');
  }

  /**
   * Joins `room` as `name` now or on the next connection, resuming after the last id this browser saw.
   * @param {string} room protocol room name (see normalizeRoom)
   * @param {string} [name] display name to ask for (optional: the server knows yours once you have one)
   */
  join(room, name) {
    let st = this.rooms.get(room);
    if (st && st.joined) {
      // Already in: a different name is a rename (answered with `renamed`, or an error if the name is taken).
      if (name && name !== this.name) this.rename(name);
      return;
    }
    if (st) {
      // A join is on its way (or goes out after the next `welcome`): ask again only for another name.
      if (!name || name === st.name) return;
      st.name = name;
      st.mode = 'joining';
      this.#sendJoin(room, st);
      return;
    }
    st = {
      name, joined: false, high: this.lastIds[room]?.id ?? 0, low: Infinity, joinAfter: null, older: null, kept: 1,
      mode: 'joining', target: 0, held: [], dropped: 0, backfilled: false, inflight: null, pausedUntil: 0, retryTimer: undefined, requests: [], lastTypingAt: 0,
    };
    this.rooms.set(room, st);
    this.#sendJoin(room, st);
  }

  /**
   * Asks for another display name (names belong to whoever took them first on the server). Answered with a
   * `renamed` event, or an `error` event with code NAME_TAKEN / INVALID_NAME / TOO_LONG.
   * @param {string} name
   */
  rename(name) {
    for (const st of this.rooms.values()) if (!st.joined) st.name = name; // joins not yet made ask for it
    if (this.#isOpen() && this.uid !== null) this.#send({ type: 'rename', name });
  }

  /** @param {string} room Leaves the room; its last seen id stays remembered. */
  leave(room) {
    const st = this.rooms.get(room);
    if (!st) return;
    clearTimeout(st.retryTimer);
    this.rooms.delete(room);
    // While open, a join was sent on this connection (maybe not answered yet): leave in any case.
    if (this.#isOpen()) this.#send({ type: 'leave', room });
  }

  /**
   * Queues a message for `room` and sends it as soon as the room is joined. The returned entry is
   * pending until an `ack` event with its clientId.
   * @param {string} room
   * @param {string} text
   * @returns {OutboxEntry}
   * @throws {Error & { code: string }} `EMPTY`, `TOO_LONG` or `QUEUE_FULL`
   */
  send(room, text) {
    const max = this.limits?.maxTextLength ?? DEFAULT_MAX_TEXT;
    if (!text.trim()) throw Object.assign(new Error('message is empty'), { code: 'EMPTY' });
    if (text.length > max && codePoints(text) > max) throw Object.assign(new Error(`message is longer than ${max} characters`), { code: 'TOO_LONG' });
    if (this.outbox.length >= this.opts.maxOutbox) {
      throw Object.assign(new Error(`${this.outbox.length} messages are waiting to be sent`), { code: 'QUEUE_FULL' });
    }
    // createdAt orders the outbox in every tab: strictly increasing, so two sends in one millisecond keep their order.
    const createdAt = Math.max(Date.now(), this.outbox.reduce((max, e) => Math.max(max, e.createdAt + 1), 0));
    /** @type {OutboxEntry} */
    const entry = { room, clientId: `${this.deviceId}:${randomHex(16)}`, text, createdAt };
    this.outbox.push(entry);
    this.#saveOutbox();
    this.#emit('queued', { entry });
    this.#flush(room);
    return entry;
  }

  /**
   * Asks for older messages (answered by a `history` event).
   * @param {string} room
   * @param {{ before?: number, limit?: number }} [options] `before` defaults to the oldest id delivered
   * @returns {boolean} false when there is nothing older or the room is not joined right now
   */
  loadOlder(room, options = {}) {
    const st = this.rooms.get(room);
    if (!st || !st.joined || !this.#isOpen()) return false;
    const before = options.before ?? this.#oldestKnown(st);
    if (before <= Math.max(1, st.kept)) return false; // nothing below the oldest kept id

    const limit = Math.max(1, Math.min(100, options.limit ?? this.limits?.historyPage ?? 50));
    st.requests.push({ kind: 'history', before });
    this.#send({ type: 'history', room, before, limit });
    return true;
  }

  /** @param {string} room @returns {boolean} whether older messages than those delivered may exist */
  hasOlder(room) {
    const st = this.rooms.get(room);
    if (!st || st.older === false) return false;
    return this.#oldestKnown(st) > Math.max(1, st.kept);
  }

  /**
   * @param {string} room
   * @returns {boolean} whether the history shown reaches the oldest message the server keeps, and older
   *   ones existed but were removed by its retention (`--history-limit`, `--history-days`)
   */
  olderGone(room) {
    const st = this.rooms.get(room);
    return Boolean(st) && /** @type {RoomState} */ (st).kept > 1 && !this.hasOlder(room);
  }

  /** Tells the room this user is typing (throttled; dropped while not connected). @param {string} room */
  typing(room) {
    const st = this.rooms.get(room);
    const now = Date.now();
    if (!st || !st.joined || now - st.lastTypingAt < TYPING_THROTTLE_MS) return;
    st.lastTypingAt = now;
    this.#send({ type: 'typing', room });
  }

  /** @param {string} [room] @returns {OutboxEntry[]} unacknowledged messages (of one room), oldest first */
  pending(room) {
    return room === undefined ? [...this.outbox] : this.outbox.filter((e) => e.room === room);
  }

  /** @param {{ clientId?: string, uid?: string }} message @returns {boolean} sent from this browser */
  isOwn(message) {
    return (typeof message.clientId === 'string' && message.clientId.startsWith(this.deviceId + ':'))
      || (this.uid !== null && message.uid === this.uid);
  }

  // ---------------------------------------------------------------- connection

  #open() {
    this.#clearTimer('retry');
    if (this.stopped || this.ws) return;
    if (globalThis.navigator?.onLine === false) {
      // Wait for the 'online' event, with a slow retry in case the browser is wrong.
      this.#setState('offline');
      this.#setTimer('retry', this.opts.maxDelayMs, () => this.#open());
      return;
    }
    const url = this.urls[this.urlIndex % this.urls.length];
    this.#setState(this.everOnline || this.attempt > 0 ? 'reconnecting' : 'connecting', { url });
    /** @type {WebSocket} */
    let ws;
    try {
      ws = new this.WS(url);
    } catch {
      this.#scheduleReconnect(); // e.g. a malformed URL: try the next one
      return;
    }
    this.ws = ws;
    this.#setTimer('connect', this.opts.connectTimeoutMs, () => this.#drop(ws, 4000, 'connect timeout'));
    ws.onopen = () => this.#onOpen(ws, url);
    ws.onmessage = (ev) => this.#onFrame(ws, ev.data);
    ws.onclose = () => { if (ws === this.ws) this.#onDisconnected(); };
    ws.onerror = () => { /* a close event follows */ };
  }

  /** @param {WebSocket} ws @param {string} url */
  #onOpen(ws, url) {
    if (ws !== this.ws) return;
    this.#clearTimer('connect');
    this.everOnline = true;
    this.lastRx = Date.now();
    // Reset the backoff only after the connection proved stable, so a server that accepts and
    // immediately drops connections is not hammered.
    this.#setTimer('stable', this.opts.stableAfterMs, () => { this.attempt = 0; });
    this.#armHeartbeat(this.opts.heartbeatIntervalMs);
    this.#setState('online', { url });
    // Rooms are joined once `welcome` says who we are (a name kept here may be older than the server's).
  }

  #onDisconnected() {
    this.ws = null;
    this.uid = null;
    for (const key of ['connect', 'stable', 'heartbeat', 'dead']) this.#clearTimer(key);
    for (const st of this.rooms.values()) {
      st.joined = false;
      st.inflight = null; // resent on the next connection; the server deduplicates by clientId
      st.requests = [];
      st.mode = 'joining'; // held live messages are fetched again after the next join
      st.held = [];
      st.dropped = 0;
    }
    if (this.stopped) { this.#setState('offline'); return; }
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.#scheduleReconnect();
  }

  /** Forgets a socket at once (a dead TCP connection may take minutes to emit 'close'). */
  /** @param {WebSocket} ws @param {number} code @param {string} reason */
  #drop(ws, code, reason) {
    const ignore = () => {};
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = ignore; // (Node's ws throws on unhandled 'error')
    try { ws.close(code, reason); } catch { /* already closed */ }
    if (ws === this.ws) this.#onDisconnected();
  }

  #scheduleReconnect() {
    const online = globalThis.navigator?.onLine !== false;
    // While the browser says it is offline, wait for its 'online' event, with a slow poll in case it is wrong.
    const delay = online
      ? backoffDelay(this.attempt, this.opts.minDelayMs, this.opts.maxDelayMs)
      : this.opts.maxDelayMs;
    this.attempt++;
    this.#setState(online ? 'reconnecting' : 'offline', { retryInMs: delay });
    this.#setTimer('retry', delay, () => this.#open());
  }

  /** @param {number} ms */
  #armHeartbeat(ms) {
    this.#setTimer('heartbeat', ms, () => {
      const idle = Date.now() - this.lastRx;
      if (idle < this.opts.heartbeatIntervalMs) this.#armHeartbeat(this.opts.heartbeatIntervalMs - idle);
      else this.#probe();
    });
  }

  /**
   * Sends a ping; without any frame back within `timeoutMs` the connection is declared dead.
   * @param {number} [timeoutMs]
   */
  #probe(timeoutMs = this.opts.heartbeatTimeoutMs) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1 || this.timers.dead) return;
    this.#send({ type: 'ping', t: Date.now() });
    this.#setTimer('dead', timeoutMs, () => this.#drop(ws, 4000, 'heartbeat timeout'));
  }

  // ---------------------------------------------------------------- inbound

  /** @param {WebSocket} ws @param {unknown} data */
  #onFrame(ws, data) {
    if (ws !== this.ws) return;
    this.lastRx = Date.now();
    if (this.timers.dead) { this.#clearTimer('dead'); this.#armHeartbeat(this.opts.heartbeatIntervalMs); }
    if (this.state === 'offline') this.#setState('online'); // the socket outlived an 'offline' event
    if (typeof data !== 'string') return;
    /** @type {any} */
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (!msg || typeof msg.type !== 'string') return;
    switch (msg.type) {
      case 'welcome':
        this.uid = msg.uid;
        this.name = typeof msg.name === 'string' ? msg.name : null;
        this.limits = msg.limits ?? null;
        // The server's name is who we are: joins do not ask for an older one.
        if (this.name !== null) for (const st of this.rooms.values()) st.name = this.name;
        for (const [room, st] of this.rooms) this.#sendJoin(room, st);
        this.#emit('welcome', msg); // after: a room joined by a listener is sent once, by join()
        break;
      case 'renamed':
        this.name = msg.name;
        for (const st of this.rooms.values()) st.name = msg.name;
        this.#emit('renamed', msg);
        break;
      case 'rename':
        if (this.rooms.has(msg.room)) this.#emit('rename', msg);
        break;
      case 'joined': this.#onJoined(msg); break;
      case 'message': {
        const st = this.rooms.get(msg.room);
        if (!st) break;
        if (st.mode === 'live') this.#accept(msg.room, st, msg, 'live');
        else this.#hold(st, msg);
        break;
      }
      case 'ack': this.#onAck(msg); break;
      case 'history': this.#onHistory(msg); break;
      case 'presence':
      case 'typing':
        if (this.rooms.has(msg.room)) this.#emit(msg.type, msg);
        break;
      case 'error': this.#onError(msg); break;
      default: break; // pong and future types: liveness already recorded
    }
  }

  /** @param {any} msg */
  #onJoined(msg) {
    const room = msg.room;
    const st = this.rooms.get(room);
    if (!st) return;
    st.joined = true;
    st.requests = [];
    const after = st.joinAfter;
    if (after !== null && msg.lastId < after) {
      // The server knows fewer messages than we saw: its database was replaced. Start over from its view.
      st.high = msg.lastId;
      st.low = Infinity;
      st.older = null;
      st.backfilled = false;
      st.held = [];
      st.dropped = 0;
      this.#rememberLastId(room, st.high);
      this.#emit('reset', { room });
    }
    if (after === null) st.older = Boolean(msg.hasMore);
    st.kept = typeof msg.oldestId === 'number' ? msg.oldestId : 1;
    this.#emit('joined', { room, members: msg.members ?? [], lastId: msg.lastId, oldestId: st.kept, resumed: after !== null });
    if (after !== null) this.#noteTrimmed(room, st);
    // Live messages of this connection are those above lastId (the server read the page and lastId in one
    // snapshot after subscribing): whatever lies between the page and lastId is fetched with `sync`.
    st.target = typeof msg.lastId === 'number' ? msg.lastId : 0;
    const messages = Array.isArray(msg.messages) ? msg.messages : [];
    for (const m of messages) this.#accept(room, st, m, 'join');
    // A fresh join gets the newest page: what is older is history to page back to, not a gap.
    this.#advance(room, st, after === null || !msg.hasMore || messages.length === 0);
    if (!st.backfilled) {
      st.backfilled = true;
      // Resuming after a reload only returns what is new: fetch some context to show above it.
      if (after !== null) this.loadOlder(room, { limit: this.opts.backfill });
    }
    this.#flush(room);
  }

  /**
   * After a page read forwards (`joined` or `sync`): goes live when the gap is filled, else asks for the next page.
   * @param {string} room @param {RoomState} st @param {boolean} complete the page reached the room's end when it was read
   */
  #advance(room, st, complete) {
    if (complete && st.high < st.target) {
      // The page ended at the room's end, which is at or past target: ids in between do not exist (any more).
      st.high = st.target;
      this.#rememberLastId(room, st.high);
    }
    if (st.high >= st.target && st.high >= st.dropped) {
      // Caught up: every id up to high was delivered, and every live message above it is held, in order.
      st.mode = 'live';
      const held = st.held;
      st.held = [];
      st.dropped = 0;
      for (const m of held) this.#accept(room, st, m, 'live');
      return;
    }
    st.mode = 'syncing';
    this.#requestSync(room, st);
  }

  /**
   * Keeps a live message that arrived above a gap until the gap is filled (bounded by maxHeld).
   * @param {RoomState} st @param {ChatMessage} m
   */
  #hold(st, m) {
    if (typeof m?.id !== 'number' || m.id <= st.high) return;
    const last = st.held.length ? st.held[st.held.length - 1].id : 0;
    if (m.id <= last) return; // a duplicate
    if (st.held.length >= this.opts.maxHeld || st.dropped > 0) {
      // Full: drop it and every later one until sync passes them (it fetches them from the server).
      st.dropped = Math.max(st.dropped, m.id);
      return;
    }
    st.held.push(m);
  }

  /**
   * Delivers a message once and in order: only the next one above the contiguous progress mark.
   * @param {string} room @param {RoomState} st @param {ChatMessage} m @param {'live' | 'join' | 'sync'} source
   */
  #accept(room, st, m, source) {
    if (typeof m?.id !== 'number' || m.id <= st.high) return;
    st.high = m.id;
    st.low = Math.min(st.low, m.id);
    this.#rememberLastId(room, m.id);
    if (m.clientId) this.#delivered(room, m.clientId, m.id, m.ts); // e.g. sent by another tab, or the ack was lost
    this.#emit('message', { message: m, own: this.isOwn(m), source });
  }

  /** @param {any} msg */
  #onHistory(msg) {
    const room = msg.room;
    const st = this.rooms.get(room);
    if (!st) return;
    const messages = Array.isArray(msg.messages) ? msg.messages : [];
    let req = st.requests.shift();
    if (!req) {
      // Unmatched answer (should not happen): classify by content.
      req = messages.length && messages[0].id > st.high ? { kind: 'sync' } : { kind: 'history', before: this.#oldestKnown(st) };
    }
    if (typeof msg.oldestId === 'number') st.kept = msg.oldestId;
    if (req.kind === 'sync') {
      if (st.mode !== 'syncing') return; // an answer for an earlier connection state: nothing to fill
      this.#noteTrimmed(room, st);
      for (const m of messages) this.#accept(room, st, m, 'sync');
      st.held = st.held.filter((m) => m.id > st.high);
      // An empty page that says hasMore cannot make progress: stop here (the next connection resumes).
      if (msg.hasMore && messages.length === 0) return;
      this.#advance(room, st, !msg.hasMore);
      return;
    }
    const before = req.before;
    // Older history only: ids above the contiguous mark come through join/sync, in order.
    const older = messages.filter((/** @type {ChatMessage} */ m) => typeof m?.id === 'number' && m.id < before && m.id <= st.high);
    for (const m of older) st.low = Math.min(st.low, m.id);
    st.older = Boolean(msg.hasMore);
    this.#emit('history', { room, messages: older, hasMore: Boolean(msg.hasMore), oldestId: st.kept });
  }

  /**
   * Before a forward page is delivered: ids between the contiguous mark and the oldest kept one will never
   * come (retention removed them while this client was away). Says so once; #accept then skips over them.
   * @param {string} room @param {RoomState} st
   */
  #noteTrimmed(room, st) {
    if (st.kept > st.high + 1) this.#emit('trimmed', { room, from: st.high + 1, to: st.kept - 1 });
  }

  /** @param {any} msg */
  #onAck(msg) {
    const st = this.rooms.get(msg.room);
    if (st && st.inflight === msg.clientId) st.inflight = null;
    this.#delivered(msg.room, msg.clientId, msg.id, msg.ts);
    this.#flush(msg.room);
  }

  /** @param {any} msg */
  #onError(msg) {
    if ((msg.code === 'NAME_TAKEN' || msg.code === 'INVALID_NAME') && typeof msg.room === 'string') {
      // The join asked for a name it cannot have: not joined; a later join(room, name) asks again.
      const st = this.rooms.get(msg.room);
      if (st && !st.joined) st.name = undefined;
    }
    const entry = msg.clientId ? this.outbox.find((e) => e.clientId === msg.clientId) : undefined;
    if (entry) {
      const st = this.rooms.get(entry.room);
      if (st && st.inflight === entry.clientId) st.inflight = null;
      if (FATAL_SEND_ERRORS.has(msg.code)) {
        this.#removeFromOutbox(entry.clientId); // settles it
        this.#emit('failed', { entry, code: msg.code, message: msg.message });
      } else if (st) {
        // Rate limited, storage unavailable, not joined: keep it pending and retry later, in order.
        const wait = msg.code === 'RATE_LIMITED' && typeof msg.retryAfterMs === 'number' ? msg.retryAfterMs : 2000;
        st.pausedUntil = Date.now() + wait;
        clearTimeout(st.retryTimer);
        st.retryTimer = setTimeout(() => this.#flush(entry.room), wait + 20);
        if (msg.code === 'NOT_JOINED' && st.joined) { st.joined = false; this.#sendJoin(entry.room, st); }
      }
    }
    this.#emit('error', msg);
  }

  // ---------------------------------------------------------------- outbound

  /** @param {string} room @param {RoomState} st */
  #sendJoin(room, st) {
    if (!this.#isOpen() || this.uid === null) return; // before `welcome`: sent when it comes
    st.joinAfter = st.high > 0 ? st.high : null;
    /** @type {Record<string, unknown>} */
    const env = { type: 'join', room };
    if (st.name) env.name = st.name; // without a name the server uses the person's current one
    if (st.joinAfter !== null) env.after = st.joinAfter;
    this.#send(env);
  }

  /** @param {string} room @param {RoomState} st */
  #requestSync(room, st) {
    st.requests.push({ kind: 'sync' });
    this.#send({ type: 'sync', room, after: st.high });
  }

  /**
   * Sends the oldest unsent message of the room. One message in flight per room keeps the order
   * of a resend burst intact when the rate limiter rejects one of them.
   * @param {string} room
   */
  #flush(room) {
    const st = this.rooms.get(room);
    if (!st || !st.joined || st.inflight || Date.now() < st.pausedUntil || !this.#isOpen()) return;
    const entry = this.outbox.find((e) => e.room === room);
    if (!entry) return;
    st.inflight = entry.clientId;
    this.#send({ type: 'message', room, clientId: entry.clientId, text: entry.text });
  }

  /** @param {string} room @param {string} clientId @param {number} id @param {number} ts */
  #delivered(room, clientId, id, ts) {
    if (!this.#removeFromOutbox(clientId)) { // stores the settled id when this tab held it
      if (clientId.startsWith(this.deviceId + ':')) this.#settle(clientId);
      return;
    }
    this.#emit('ack', { room, clientId, id, ts });
  }

  /** @param {Record<string, unknown>} env */
  #send(env) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    try { ws.send(JSON.stringify(env)); return true; } catch { return false; }
  }

  #isOpen() { return this.ws !== null && this.ws.readyState === 1; }

  /** @param {RoomState} st */
  #oldestKnown(st) { return st.low !== Infinity ? st.low : st.high + 1; }

  // ---------------------------------------------------------------- persistence

  /** @returns {OutboxEntry[]} */
  #loadOutbox() {
    const entries = parseOutbox(this.store.get('outbox', [])).filter((e) => !this.settled.has(e.clientId));
    return capOutbox(entries, this.opts.maxOutbox).kept;
  }

  #saveOutbox() { this.store.set('outbox', this.outbox); }

  /**
   * Marks a clientId settled. `persist` (the entry was in this tab's outbox, so other tabs may hold it too)
   * also stores it, merged with what other tabs stored, before the outbox without it is saved: a tab that
   * sees the smaller outbox already knows why the entry is gone.
   * @param {string} clientId @param {boolean} [persist]
   */
  #settle(clientId, persist = false) {
    this.settled.delete(clientId);
    this.settled.set(clientId, Date.now());
    if (persist) this.#learnSettled(this.store.get('settled', [])); // read-modify-write
    this.#trimSettled();
    if (persist) this.#saveSettled();
  }

  /**
   * Adds settled ids read from storage (`[[clientId, settledAt], ...]`; anything malformed is ignored).
   * @param {unknown} raw @returns {boolean} whether an id was new to this tab
   */
  #learnSettled(raw) {
    if (!Array.isArray(raw)) return false;
    let learned = false;
    for (const item of raw.slice(-SETTLED_MAX * 2)) {
      if (!Array.isArray(item) || typeof item[0] !== 'string' || typeof item[1] !== 'number' || !Number.isFinite(item[1])) continue;
      const [id, at] = item;
      const known = this.settled.get(id);
      if (known === undefined) { this.settled.set(id, at); learned = true; }
      else if (at > known) this.settled.set(id, at);
    }
    this.#trimSettled();
    return learned;
  }

  /** Keeps the SETTLED_MAX most recent ids; ties broken by id, so that every tab keeps the same ones. */
  #trimSettled() {
    const over = this.settled.size - SETTLED_MAX;
    if (over <= 0) return;
    if (over > 8) { this.settled = new Map([...this.settled].sort(bySettledAt).slice(-SETTLED_MAX)); return; }
    for (let i = 0; i < over; i++) { // one or a few over (one more settled): drop the oldest without sorting
      /** @type {[string, number] | undefined} */
      let oldest;
      for (const item of this.settled) if (!oldest || bySettledAt(item, oldest) < 0) oldest = item;
      if (oldest) this.settled.delete(oldest[0]);
    }
  }

  #saveSettled() { this.store.set('settled', [...this.settled].sort(bySettledAt)); }

  /**
   * Brings this tab, and the stored copies, up to date after another tab wrote the outbox or the settled ids.
   * Adopts unsettled entries of the written and the current stored outbox, drops settled ones, and writes
   * back what storage lacks: settled ids it forgot (two tabs settled at once and the later write lost the
   * other's), entries it lacks (a tab's new entry lost to another tab's concurrent write of an older
   * snapshot), or entries it still holds that are settled. Every tab converges on the same outbox and the
   * same settled ids, so the write-backs stop: for any number of tabs and any interleaving of events.
   * @param {string | null} outboxRaw the new value of an outbox event
   * @param {string | null} settledRaw the new value of a settled event
   */
  #reconcile(outboxRaw, settledRaw) {
    /** @type {unknown} */
    const storedSettled = this.store.get('settled', []);
    this.#learnSettled(parseJson(settledRaw));
    this.#learnSettled(storedSettled);
    const known = new Set(Array.isArray(storedSettled) ? storedSettled.map((/** @type {any} */ x) => Array.isArray(x) ? x[0] : undefined) : []);
    if ([...this.settled.keys()].some((id) => !known.has(id))) this.#saveSettled(); // it lost ids: put them back

    const stored = parseOutbox(this.store.get('outbox', []));
    const mine = new Map(this.outbox.map((e) => [e.clientId, e]));
    /** @type {OutboxEntry[]} */
    const dropped = this.outbox.filter((e) => this.settled.has(e.clientId));
    /** @type {OutboxEntry[]} */
    const adopted = [];
    for (const e of [...parseOutbox(parseJson(outboxRaw)), ...stored]) {
      if (mine.has(e.clientId) || this.settled.has(e.clientId)) continue;
      mine.set(e.clientId, e);
      adopted.push(e);
    }
    const { kept, overflow } = capOutbox([...mine.values()].filter((e) => !this.settled.has(e.clientId)), this.opts.maxOutbox);
    this.outbox = kept;
    const adoptedIds = new Set(adopted.map((e) => e.clientId));
    for (const e of overflow) this.#settle(e.clientId, true); // the same ones in every tab: deterministic cap
    for (const e of dropped) this.#emit('settled', { entry: e });
    for (const e of kept) if (adoptedIds.has(e.clientId)) this.#emit('queued', { entry: e });
    for (const e of overflow) {
      if (!adoptedIds.has(e.clientId)) this.#emit('failed', { entry: e, code: 'QUEUE_FULL', message: `more than ${this.opts.maxOutbox} messages are waiting to be sent` });
    }

    const storedIds = new Set(stored.map((e) => e.clientId));
    if (stored.length !== kept.length || kept.some((e) => !storedIds.has(e.clientId))) this.#saveOutbox();
    for (const room of new Set(adopted.map((e) => e.room))) this.#flush(room);
  }

  /**
   * Removes a settled entry: the settled id is stored first, then the outbox without it.
   * @param {string} clientId @returns {boolean}
   */
  #removeFromOutbox(clientId) {
    const i = this.outbox.findIndex((e) => e.clientId === clientId);
    if (i < 0) return false;
    this.#settle(clientId, true);
    this.outbox.splice(i, 1);
    this.#saveOutbox();
    return true;
  }

  /** @param {string} room @param {number} id */
  #rememberLastId(room, id) {
    this.lastIds[room] = { id, at: Date.now() };
    // Writes are batched: a replay of 1000 messages costs one localStorage write.
    if (this.saveTimer === undefined) this.saveTimer = setTimeout(() => this.#saveNow(), 250);
  }

  #saveNow() {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    const entries = Object.entries(this.lastIds);
    if (entries.length > this.opts.maxRooms) {
      entries.sort((a, b) => b[1].at - a[1].at);
      this.lastIds = Object.fromEntries(entries.slice(0, this.opts.maxRooms));
    }
    this.store.set('lastIds', this.lastIds);
  }

  // ---------------------------------------------------------------- helpers

  /** @param {ConnectionState} state @param {Record<string, unknown>} [extra] */
  #setState(state, extra = {}) {
    const changed = state !== this.state;
    this.state = state;
    if (changed || 'retryInMs' in extra) {
      this.#emit('state', { state, attempt: this.attempt, url: this.urls[this.urlIndex % this.urls.length], ...extra });
    }
  }

  /** @param {string} key @param {number} ms @param {() => void} fn */
  #setTimer(key, ms, fn) {
    clearTimeout(this.timers[key]);
    this.timers[key] = setTimeout(() => { this.timers[key] = undefined; fn(); }, ms);
  }

  /** @param {string} key */
  #clearTimer(key) {
    clearTimeout(this.timers[key]);
    this.timers[key] = undefined;
  }

  /** @param {string} type @param {unknown} detail */
  #emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
}
