// The browser client (src/web/public/wireroom-client.js) driven from Node against the real chat server,
// with the `ws` package as its WebSocket and an in-memory Storage. Covers what is slow or awkward to
// provoke in a browser: backoff, heartbeat on a silent server, URL rotation, outbox persistence,
// resume without gaps or duplicates, rate-limit retries in order.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server as NetServer } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { WireroomClient, backoffDelay, normalizeRoom, type ChatMessage, type ClientOptions } from '../../src/web/public/wireroom-client.js';
import { startChatServer } from '../../src/chat/server.js';
import { newSession } from '../helpers/session.js';

const WAIT_MS = 8_000;

/** A Storage stand-in: localStorage semantics (strings only), in memory. */
class MemoryStorage {
  readonly map = new Map<string, string>();
  /** The profile's session cookie (a browser keeps it next to localStorage): one profile, one person. */
  cookie = '';
  getItem(key: string): string | null { return this.map.get(key) ?? null; }
  setItem(key: string, value: string): void { this.map.set(key, String(value)); }
}

/**
 * The localStorage of one browser profile as its tabs see it, modelled on Chromium: every tab reads its own
 * cached copy; its writes apply to its copy at once and to the profile's store in one global order (the last
 * write wins), and reach every other tab later, in order, as a `storage` event that the test delivers when it
 * chooses (`deliver`), so that any interleaving can be produced. A tab's copy skips a remote change older
 * than its own later write of that key (the store holds the later one), so every copy ends equal to the store.
 */
class ProfileStorage {
  seq = 0;
  readonly store = new Map<string, { value: string; seq: number }>();
  readonly tabs: TabStorage[] = [];
  cookie = '';
  /** A new tab's view: its copy starts from the store. */
  tab(): TabStorage {
    const t = new TabStorage(this);
    for (const [k, v] of this.store) t.copy.set(k, { ...v });
    this.tabs.push(t);
    return t;
  }
  /** Storage events not yet delivered, in all tabs. */
  queued(): number { return this.tabs.reduce((n, t) => n + t.queue.length, 0); }
  /** Delivers one queued event to a tab picked by `random` (each tab's events stay in order). */
  deliverOne(random: () => number): boolean {
    const waiting = this.tabs.filter((t) => t.queue.length > 0);
    if (waiting.length === 0) return false;
    waiting[Math.floor(random() * waiting.length)].deliver();
    return true;
  }
  /** Delivers events (random order across tabs) until none is left; fails on a write-back loop. */
  drain(random: () => number, max = 5000): number {
    let n = 0;
    while (this.deliverOne(random)) if (++n > max) throw new Error(`storage events never stop (${this.queued()} queued): a write-back loop`);
    return n;
  }
  value(key: string): string | null { return this.store.get(key)?.value ?? null; }
}

class TabStorage {
  readonly copy = new Map<string, { value: string; seq: number }>();
  readonly queue: Array<{ key: string; value: string; oldValue: string | null; seq: number }> = [];
  listener: ((e: { key: string; newValue: string; oldValue: string | null; storageArea: unknown }) => void) | undefined;
  writes = 0;
  constructor(readonly profile: ProfileStorage) {}
  get cookie(): string { return this.profile.cookie; }
  set cookie(v: string) { this.profile.cookie = v; }
  getItem(key: string): string | null { return this.copy.get(key)?.value ?? null; }
  setItem(key: string, value: string): void {
    const p = this.profile;
    const seq = ++p.seq;
    const oldValue = this.getItem(key);
    this.copy.set(key, { value: String(value), seq });
    p.store.set(key, { value: String(value), seq });
    this.writes++;
    for (const t of p.tabs) if (t !== this) t.queue.push({ key, value: String(value), oldValue, seq });
  }
  deliver(): void {
    const e = this.queue.shift();
    if (!e) return;
    const mine = this.copy.get(e.key);
    if (!mine || mine.seq < e.seq) this.copy.set(e.key, { value: e.value, seq: e.seq });
    this.listener?.({ key: e.key, newValue: e.value, oldValue: e.oldValue, storageArea: this });
  }
}

/** A small seeded PRNG (mulberry32): a failing interleaving can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The entries of the outbox a storage holds. */
const storedOutbox = (raw: string | null): Array<{ clientId: string; text: string; room: string }> => JSON.parse(raw ?? '[]');

/** Resolves with the detail of the first `type` event matching `pred`; rejects after `ms`. */
function next<T = any>(target: EventTarget, type: string, pred: (detail: T) => boolean = () => true, ms = WAIT_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { target.removeEventListener(type, on); reject(new Error(`timed out waiting for '${type}'`)); }, ms);
    const on = (e: Event) => {
      const detail = (e as CustomEvent<T>).detail;
      if (!pred(detail)) return;
      clearTimeout(timer);
      target.removeEventListener(type, on);
      resolve(detail);
    };
    target.addEventListener(type, on);
  });
}

/** Collects the details of every `type` event. */
function collect<T = any>(target: EventTarget, type: string): T[] {
  const out: T[] = [];
  target.addEventListener(type, (e) => out.push((e as CustomEvent<T>).detail));
  return out;
}

async function until(cond: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('backoffDelay', () => {
  it('is full jitter: uniform below a cap that doubles per attempt up to maxDelay', () => {
    assert.equal(backoffDelay(0, 500, 30_000, () => 0), 0);
    assert.equal(backoffDelay(0, 500, 30_000, () => 0.5), 250);
    assert.equal(backoffDelay(3, 500, 30_000, () => 0.5), 2000);
    assert.equal(backoffDelay(50, 500, 30_000, () => 0.999999), 29_999, 'bounded by maxDelay, even for huge attempts');
    for (let attempt = 0; attempt < 40; attempt++) {
      const d = backoffDelay(attempt, 500, 30_000);
      assert.ok(d >= 0 && d < Math.min(30_000, 500 * 2 ** attempt) + 1, `attempt ${attempt}: ${d}`);
    }
  });
});

describe('normalizeRoom', () => {
  it('maps any hash to the protocol alphabet, lobby by default', () => {
    assert.equal(normalizeRoom(''), 'lobby');
    assert.equal(normalizeRoom('Team Room'), 'team-room');
    assert.equal(normalizeRoom('%F0%9F%98%80'), 'lobby');
    assert.equal(normalizeRoom('a.b_c-d9'), 'a.b_c-d9');
    assert.equal(normalizeRoom('<script>'), 'script');
    assert.equal(normalizeRoom('x'.repeat(100)).length, 64);
    assert.equal(normalizeRoom('%E0%A4%A'), 'e0-a4-a', 'malformed escapes do not throw');
  });
});

describe('WireroomClient against the chat server', () => {
  let dir = '';
  let dbPath = '';
  let server: { url: string; close(): Promise<void> } | undefined;
  let wsUrl = '';
  const clients: WireroomClient[] = [];
  const extraServers: Array<{ close(): unknown }> = [];
  let roomSeq = 0;
  const newRoom = (label: string) => `client-${label}-${process.pid}-${++roomSeq}`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wireroom-client-'));
    dbPath = join(dir, 'chat.db');
    server = await startChatServer({ port: 0, host: '127.0.0.1', dbPath });
    wsUrl = server.url.replace(/^http/, 'ws') + '/chat';
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const s of extraServers) await s.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Sessions by display name: every client that joins as 'Ada' in this file is the same person. */
  const sessions = new Map<string, Promise<string>>();
  const profiles = new WeakMap<WireroomClient, MemoryStorage>();

  function makeClient(options: ClientOptions = {}): WireroomClient {
    const storage = (options.storage as MemoryStorage | undefined) ?? new MemoryStorage();
    // The profile's cookie on the upgrade, as a browser sends it (the servers of this file share one secret file).
    class ProfileSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: storage.cookie ? { Cookie: storage.cookie } : {} });
      }
    }
    const client = new WireroomClient({ urls: wsUrl, minDelayMs: 50, maxDelayMs: 500, ...options, storage, WebSocket: ProfileSocket as unknown as ClientOptions['WebSocket'] });
    profiles.set(client, storage);
    clients.push(client);
    return client;
  }

  async function joined(client: WireroomClient, room: string, name: string) {
    const profile = profiles.get(client)!;
    if (!profile.cookie) {
      if (!sessions.has(name)) sessions.set(name, newSession(server!.url).then((s) => s.cookie));
      profile.cookie = await sessions.get(name)!;
    }
    const done = next<{ room: string; resumed: boolean }>(client, 'joined', (d) => d.room === room);
    client.join(room, name);
    client.connect();
    return done;
  }

  it('two clients: send, ack, one broadcast each, own messages recognised', async () => {
    const room = newRoom('two');
    const ada = makeClient();
    const bob = makeClient();
    const states = collect<{ state: string }>(ada, 'state');
    await joined(ada, room, 'Ada');
    await joined(bob, room, 'Bob');
    assert.deepEqual(states.map((s) => s.state), ['connecting', 'online']);

    const bobSees = collect<{ message: ChatMessage; own: boolean }>(bob, 'message');
    const adaSees = collect<{ message: ChatMessage; own: boolean }>(ada, 'message');
    const acked = next<{ clientId: string; id: number }>(ada, 'ack');
    const entry = ada.send(room, 'hello');
    assert.equal(ada.pending(room).length, 1);
    const ack = await acked;
    assert.equal(ack.clientId, entry.clientId);
    assert.equal(ada.pending(room).length, 0);
    await until(() => bobSees.length === 1 && adaSees.length === 1, 'both receive the broadcast');
    await sleep(100);
    assert.equal(bobSees.length, 1);
    assert.equal(bobSees[0].message.text, 'hello');
    assert.equal(bobSees[0].message.id, ack.id);
    assert.equal(bobSees[0].own, false);
    assert.equal(adaSees[0].own, true);
    assert.equal(ada.isOwn(bobSees[0].message), true, 'the clientId carries this browser\'s device id');
  });

  it('rejects empty and over-long text locally, and bounds the outbox', () => {
    const c = makeClient({ maxOutbox: 3 });
    assert.throws(() => c.send('lobby', '  \n '), { code: 'EMPTY' });
    assert.throws(() => c.send('lobby', 'x'.repeat(2001)), { code: 'TOO_LONG' });
    c.send('lobby', '😀'.repeat(2000)); // 2000 code points (4000 UTF-16 units) is allowed, as on the server
    c.send('lobby', 'b');
    c.send('lobby', 'c');
    assert.throws(() => c.send('lobby', 'd'), { code: 'QUEUE_FULL' });
    assert.equal(c.pending().length, 3);
  });

  it('messages written while disconnected survive a reload (persisted outbox) and are delivered once', async () => {
    const room = newRoom('outbox');
    const storage = new MemoryStorage();
    const first = makeClient({ storage });
    first.join(room, 'Ada'); // never connected: this is the offline tab
    first.send(room, 'queued 1');
    first.send(room, 'queued 2');
    first.close();
    assert.match(storage.getItem('wireroom:outbox') ?? '', /queued 2/);

    const watcher = makeClient();
    await joined(watcher, room, 'Watcher');
    const seen = collect<{ message: ChatMessage }>(watcher, 'message');

    const reloaded = makeClient({ storage }); // same storage: the page after a reload
    assert.deepEqual(reloaded.pending(room).map((e) => e.text), ['queued 1', 'queued 2']);
    const acks = collect(reloaded, 'ack');
    await joined(reloaded, room, 'Ada');
    await until(() => acks.length === 2 && seen.length === 2, 'both queued messages delivered');
    assert.deepEqual(seen.map((s) => s.message.text), ['queued 1', 'queued 2'], 'in order');
    assert.equal(reloaded.pending().length, 0);
    assert.doesNotMatch(storage.getItem('wireroom:outbox') ?? '', /queued/);
    await sleep(150);
    assert.equal(seen.length, 2, 'exactly once');
  });

  it('resumes after the last seen id: exactly the missed messages, then older context', async () => {
    const room = newRoom('resume');
    const storage = new MemoryStorage();
    const ada = makeClient({ storage, backfill: 2 });
    const bob = makeClient();
    await joined(ada, room, 'Ada');
    await joined(bob, room, 'Bob');
    for (const text of ['m1', 'm2', 'm3']) { bob.send(room, text); await next(bob, 'ack'); }
    await until(() => ada.lastIds[room]?.id === 3, 'ada saw m3');
    ada.close(); // persists lastIds

    for (const text of ['m4', 'm5']) { bob.send(room, text); await next(bob, 'ack'); }

    const back = makeClient({ storage, backfill: 2 });
    const fresh = collect<{ message: ChatMessage; source: string }>(back, 'message');
    const history = next<{ messages: ChatMessage[] }>(back, 'history');
    const j = await joined(back, room, 'Ada');
    assert.equal(j.resumed, true);
    const older = await history;
    await sleep(100);
    assert.deepEqual(fresh.map((f) => [f.message.text, f.source]), [['m4', 'join'], ['m5', 'join']]);
    assert.deepEqual(older.messages.map((m) => m.text), ['m2', 'm3'], 'backfill before the first new message');
    assert.equal(back.hasOlder(room), true);
    const more = next<{ messages: ChatMessage[]; hasMore: boolean }>(back, 'history');
    assert.equal(back.loadOlder(room, { before: 2 }), true);
    const page = await more;
    assert.deepEqual(page.messages.map((m) => m.text), ['m1']);
    assert.equal(page.hasMore, false);
    assert.equal(back.hasOlder(room), false);
  });

  it('resuming past the retention edge: a trimmed event for the removed ids, then what is kept; nothing older to load', async () => {
    const kept = await startChatServer({ port: 0, host: '127.0.0.1', dbPath: join(dir, 'retention.db'), retention: { historyLimit: 3 } });
    extraServers.push(kept);
    const url = kept.url.replace(/^http/, 'ws') + '/chat';
    const room = newRoom('retention');
    const storage = new MemoryStorage();
    const ada = makeClient({ urls: url, storage });
    const bob = makeClient({ urls: url });
    await joined(ada, room, 'Ada');
    await joined(bob, room, 'Bob');
    for (const text of ['m1', 'm2', 'm3']) { bob.send(room, text); await next(bob, 'ack'); }
    await until(() => ada.lastIds[room]?.id === 3, 'ada saw m3');
    assert.equal(ada.olderGone(room), false, 'nothing removed yet');
    ada.close();
    for (const text of ['m4', 'm5', 'm6', 'm7', 'm8']) { bob.send(room, text); await next(bob, 'ack'); } // keeps 6-8

    const back = makeClient({ urls: url, storage });
    const fresh = collect<{ message: ChatMessage; source: string }>(back, 'message');
    const trimmed = collect<{ room: string; from: number; to: number }>(back, 'trimmed');
    const j = await joined(back, room, 'Ada') as unknown as { resumed: boolean; oldestId: number; lastId: number };
    assert.deepEqual([j.resumed, j.oldestId, j.lastId], [true, 6, 8]);
    await until(() => fresh.length === 3, 'the kept messages');
    assert.deepEqual(fresh.map((f) => [f.message.id, f.source]), [[6, 'join'], [7, 'join'], [8, 'join']]);
    assert.deepEqual(trimmed, [{ room, from: 4, to: 5 }], 'told once which ids will never come');
    assert.equal(back.lastIds[room]?.id, 8);
    assert.equal(back.hasOlder(room), false);
    assert.equal(back.olderGone(room), true);
    assert.equal(back.loadOlder(room), false, 'no request below the oldest kept id');
  });

  it('rate-limited sends are kept pending and retried, in order', async () => {
    const limited = await startChatServer({ port: 0, host: '127.0.0.1', dbPath: join(dir, 'limited.db'), limits: { ratePerSecond: 4, burst: 2 } });
    extraServers.push(limited);
    const url = limited.url.replace(/^http/, 'ws') + '/chat';
    const room = newRoom('rate');
    const c = makeClient({ urls: url });
    await joined(c, room, 'Speedy');
    const errors = collect<{ code: string }>(c, 'error');
    const seen = collect<{ message: ChatMessage }>(c, 'message');
    const texts = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
    for (const t of texts) c.send(room, t);
    await until(() => seen.length === texts.length, 'all delivered despite the limit');
    assert.deepEqual(seen.map((s) => s.message.text), texts);
    assert.ok(errors.some((e) => e.code === 'RATE_LIMITED'), `errors: ${JSON.stringify(errors)}`);
    assert.equal(c.pending().length, 0);
  });

  it('notices a silent server through the heartbeat, drops it and reconnects', async () => {
    // A server that completes the handshake and then never sends anything: a dead peer.
    const silent = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => silent.once('listening', r));
    extraServers.push({ close: () => new Promise((r) => { for (const s of silent.clients) s.terminate(); silent.close(() => r(undefined)); }) });
    let connections = 0;
    silent.on('connection', () => { connections++; });
    const port = (silent.address() as { port: number }).port;

    const c = makeClient({ urls: `ws://127.0.0.1:${port}/chat`, heartbeatIntervalMs: 200, heartbeatTimeoutMs: 200, minDelayMs: 20, maxDelayMs: 50 });
    const states = collect<{ state: string }>(c, 'state');
    const started = Date.now();
    c.connect();
    await until(() => connections >= 2, 'a second connection after the first went silent', 3000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 350, `not before interval + timeout (${elapsed} ms)`);
    const s = states.map((x) => x.state);
    assert.deepEqual(s.slice(0, 3), ['connecting', 'online', 'reconnecting'], s.join(' -> '));
  });

  it('rotates to the next URL when one fails', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const deadPort = (dead.address() as { port: number }).port;
    await new Promise((r) => (dead as NetServer).close(r)); // nothing listens there now
    const room = newRoom('rotate');
    const c = makeClient({ urls: [`ws://127.0.0.1:${deadPort}/chat`, wsUrl] });
    const states = collect<{ state: string; url: string }>(c, 'state');
    await joined(c, room, 'Ada');
    const online = states.find((s) => s.state === 'online');
    assert.equal(online?.url, wsUrl);
    assert.equal(states[0].url, `ws://127.0.0.1:${deadPort}/chat`);
  });

  it('drops message ids it has already delivered', async () => {
    // A misbehaving server replays ids: the client must still show each id once.
    const dup = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => dup.once('listening', r));
    extraServers.push({ close: () => new Promise((r) => { for (const s of dup.clients) s.terminate(); dup.close(() => r(undefined)); }) });
    const msg = (id: number) => ({ type: 'message', room: 'lobby', id, ts: id, uid: 'u', name: 'N', text: `t${id}`, clientId: `c${id}` });
    dup.on('connection', (ws) => {
      ws.send(JSON.stringify({ type: 'welcome', uid: 'me', limits: { maxTextLength: 2000, maxNameLength: 32, ratePerSecond: 5, burst: 10, historyPage: 50 }, server: 'fake' }));
      ws.on('message', (raw) => {
        const env = JSON.parse(String(raw));
        if (env.type !== 'join') return;
        ws.send(JSON.stringify({ type: 'joined', room: 'lobby', members: [], messages: [msg(1), msg(2)], hasMore: false, lastId: 2 }));
        for (const id of [2, 1, 3, 3, 4]) ws.send(JSON.stringify(msg(id)));
      });
    });
    const c = makeClient({ urls: `ws://127.0.0.1:${(dup.address() as { port: number }).port}/chat` });
    const seen = collect<{ message: ChatMessage }>(c, 'message');
    await joined(c, 'lobby', 'Ada');
    await until(() => seen.length >= 4, 'four distinct messages');
    await sleep(100);
    assert.deepEqual(seen.map((s) => s.message.id), [1, 2, 3, 4]);
  });
  describe('tabs of one browser sharing the outbox (storage events delivered in chosen orders)', () => {
    /** A tab of `profile`: a client whose storage events the test delivers (no window in Node). */
    function tabOf(profile: ProfileStorage, options: ClientOptions = {}): { client: WireroomClient; storage: TabStorage } {
      const storage = profile.tab();
      const client = makeClient({ ...options, storage: storage as unknown as Storage });
      storage.listener = (e) => (client as unknown as { onStorage(e: unknown): void }).onStorage(e);
      return { client, storage };
    }

    /** What the server stored in `room`, read by a fresh client (another person) joining it. */
    async function history(room: string): Promise<string[]> {
      const auditor = makeClient();
      const seen = collect<{ message: ChatMessage }>(auditor, 'message');
      await joined(auditor, room, 'Auditor');
      await sleep(100);
      auditor.close();
      return seen.map((m) => m.message.text);
    }

    it('a tab outside the room does not bring back an entry another tab delivered (the write-back bug)', async () => {
      const profile = new ProfileStorage();
      const room = newRoom('tabs-bug');
      const a = tabOf(profile);
      const b = tabOf(profile); // never joins the room: sees neither the message nor the ack
      await joined(a.client, room, 'Tabby');
      const acked = next(a.client, 'ack');
      const entry = a.client.send(room, 'sent by A');
      profile.drain(Math.random); // B adopts it
      assert.deepEqual(b.client.pending().map((e) => e.clientId), [entry.clientId]);
      await acked;
      assert.equal(a.client.pending().length, 0);
      profile.drain(Math.random); // B learns that A settled it, and writes nothing back
      assert.deepEqual(b.client.pending(), [], 'the other tab dropped the delivered entry');
      assert.deepEqual(storedOutbox(profile.value('wireroom:outbox')), []);
      assert.deepEqual(storedOutbox(b.storage.getItem('wireroom:outbox')), []);
      assert.match(profile.value('wireroom:settled') ?? '', new RegExp(entry.clientId));

      // Later writes of either tab keep it out, and a tab opened now does not pick it up.
      a.client.close();
      const c = tabOf(profile);
      b.client.send(room, 'queued by B'); // B is not connected: stays pending, shared
      profile.drain(Math.random);
      assert.deepEqual(c.client.pending().map((e) => e.text), ['queued by B']);
      assert.deepEqual(storedOutbox(profile.value('wireroom:outbox')).map((e) => e.text), ['queued by B']);
      assert.deepEqual(await history(room), ['sent by A']);
    });

    it('a new entry lost to another tab\'s concurrent write survives (the race the write-back is for)', async () => {
      const profile = new ProfileStorage();
      const room = newRoom('tabs-race');
      const a = tabOf(profile);
      const b = tabOf(profile);
      a.client.join(room, 'Tabby');
      b.client.join(room, 'Tabby'); // both offline (never connected)
      b.client.send(room, 'new in B');
      a.client.send(room, 'new in A'); // A has not seen B's write: its write lacks B's entry and wins
      assert.deepEqual(storedOutbox(profile.value('wireroom:outbox')).map((e) => e.text), ['new in A']);
      profile.drain(prng(1));
      for (const copy of [profile.value('wireroom:outbox'), a.storage.getItem('wireroom:outbox'), b.storage.getItem('wireroom:outbox')]) {
        assert.deepEqual(storedOutbox(copy).map((e) => e.text).sort(), ['new in A', 'new in B']);
      }
      assert.deepEqual(a.client.pending().map((e) => e.text).sort(), ['new in A', 'new in B']);
      assert.deepEqual(b.client.pending().map((e) => e.text).sort(), ['new in A', 'new in B']);

      // One tab delivers both; the other, still offline, ends with nothing pending.
      const acks = collect(a.client, 'ack');
      await joined(a.client, room, 'Tabby');
      await until(() => acks.length === 2, 'both delivered by A');
      profile.drain(prng(2));
      assert.deepEqual(b.client.pending(), []);
      assert.deepEqual(storedOutbox(profile.value('wireroom:outbox')), []);
      assert.deepEqual((await history(room)).sort(), ['new in A', 'new in B']);
    });

    it('two tabs settling at once: the settled id lost by the later write is put back, a third tab drops both', async () => {
      const profile = new ProfileStorage();
      const [roomA, roomB] = [newRoom('tabs-set-a'), newRoom('tabs-set-b')];
      const a = tabOf(profile);
      const b = tabOf(profile);
      const c = tabOf(profile); // in neither room
      await joined(a.client, roomA, 'Tabby');
      await joined(b.client, roomB, 'Tabby');
      const ackA = next(a.client, 'ack');
      const ackB = next(b.client, 'ack');
      const x = a.client.send(roomA, 'x');
      const y = b.client.send(roomB, 'y');
      await Promise.all([ackA, ackB]); // no event delivered meanwhile: each write lacks the other tab's work
      const settledNow = profile.value('wireroom:settled') ?? '';
      assert.ok(!(settledNow.includes(x.clientId) && settledNow.includes(y.clientId)), 'the later write lost one settled id');
      profile.drain(prng(3));
      const settled = profile.value('wireroom:settled') ?? '';
      assert.ok(settled.includes(x.clientId) && settled.includes(y.clientId), settled);
      for (const t of [a, b, c]) assert.deepEqual(t.client.pending(), []);
      assert.deepEqual(storedOutbox(profile.value('wireroom:outbox')), []);
      assert.deepEqual(await history(roomA), ['x']);
      assert.deepEqual(await history(roomB), ['y']);
    });

    it('malformed stored values and events are ignored; a storage that throws degrades to memory-only', async () => {
      const profile = new ProfileStorage();
      const first = profile.tab();
      first.setItem('wireroom:settled', '{"not":"a list"');
      first.setItem('wireroom:outbox', JSON.stringify([{ room: 'lobby', clientId: 'x:1', text: 'kept', createdAt: 5 }, { room: 7 }, null, 'junk']));
      const t = tabOf(profile);
      assert.deepEqual(t.client.pending().map((e) => e.text), ['kept']);
      const fire = (key: string, newValue: string) => (t.client as unknown as { onStorage(e: unknown): void }).onStorage({ key, newValue, oldValue: null, storageArea: t.storage });
      for (const junk of ['{{', 'null', '7', '[["a"], 5, null, ["b", "late"], [{}, 1]]', JSON.stringify([['x:1', Infinity]])]) {
        fire('wireroom:settled', junk);
        fire('wireroom:outbox', junk);
      }
      assert.deepEqual(t.client.pending().map((e) => e.text), ['kept'], 'nothing settled or adopted by garbage');
      fire('wireroom:settled', JSON.stringify([['x:1', 1]])); // well-formed: another tab settled it
      assert.deepEqual(t.client.pending(), []);

      const broken = { cookie: '', getItem(): string | null { throw new Error('SecurityError'); }, setItem(): void { throw new Error('QuotaExceededError'); } };
      const room = newRoom('tabs-broken');
      const c = makeClient({ storage: broken as unknown as Storage });
      (c as unknown as { onStorage(e: unknown): void }).onStorage({ key: 'wireroom:outbox', newValue: '[]', oldValue: null, storageArea: broken });
      const acked = next(c, 'ack');
      c.send(room, 'memory only');
      assert.equal(c.pending().length, 1);
      await joined(c, room, 'Tabby');
      await acked;
      assert.deepEqual(c.pending(), []);
      assert.deepEqual(await history(room), ['memory only']);
    });

    for (const seed of [11, 12, 13]) {
      it(`three tabs in three rooms, random interleavings (seed ${seed}): all delivered once, every outbox empty`, async () => {
        const random = prng(seed);
        const profile = new ProfileStorage();
        const rooms = [0, 1, 2].map((i) => newRoom(`tabs-rand${seed}-${i}`));
        const tabs = [0, 1, 2].map(() => tabOf(profile));
        for (let i = 0; i < 3; i++) await joined(tabs[i].client, rooms[i], 'Tabby');
        const expected: string[][] = [[], [], []];
        // A pump delivering storage events in random order while the tabs send and the server answers.
        let pumping = true;
        const pump = (async () => { while (pumping) { for (let k = Math.floor(random() * 4); k > 0; k--) profile.deliverOne(random); await sleep(Math.floor(random() * 3)); } })();
        let n = 0;
        for (let round = 0; round < 3; round++) {
          const offline = round === 1 ? Math.floor(random() * 3) : -1;
          if (offline >= 0) tabs[offline].client.close(); // then reconnected below: its queue goes out on join
          for (let k = 0; k < 12; k++) {
            const i = Math.floor(random() * 3);
            const text = `t${i}-${++n}`;
            tabs[i].client.send(rooms[i], text);
            expected[i].push(text);
            if (random() < 0.5) await sleep(Math.floor(random() * 5));
          }
          if (offline >= 0) tabs[offline].client.connect();
          await until(() => tabs.every((t, i) => t.client.pending(rooms[i]).length === 0), `round ${round}: every tab delivered its room`, 20_000);
        }
        pumping = false;
        await pump;
        profile.drain(random);
        await sleep(200); // late acks or broadcasts
        profile.drain(random);
        for (const [i, t] of tabs.entries()) {
          assert.deepEqual(t.client.pending(), [], `tab ${i}: nothing pending`);
          assert.deepEqual(storedOutbox(t.storage.getItem('wireroom:outbox')), [], `tab ${i}: its copy of the outbox`);
        }
        assert.deepEqual(storedOutbox(profile.value('wireroom:outbox')), []);
        for (let i = 0; i < 3; i++) assert.deepEqual(await history(rooms[i]), expected[i], `room ${i}: each message once, in order`);

        // It stays empty through further storage events: one more message, and a tab reloaded.
        const acked = next(tabs[0].client, 'ack');
        tabs[0].client.send(rooms[0], 'last');
        await acked;
        tabs[2].client.close();
        const reloaded = tabOf(profile);
        profile.drain(random);
        for (const t of [tabs[0], tabs[1], tabs[2], reloaded]) assert.deepEqual(t.client.pending(), []);
        assert.deepEqual(storedOutbox(profile.value('wireroom:outbox')), []);
      });
    }
  });
});
