/**
 * ChatStore on one SQLite file (better-sqlite3, WAL).
 *
 * Durability: a message is acknowledged only after the transaction holding it has committed. In WAL
 * mode a commit has written the transaction to the WAL file with write(2) before it returns, so a
 * process killed with SIGKILL right after the ack loses nothing (the data is in the kernel). With
 * `synchronous=FULL` (the default here) the WAL is also fsync'ed at each commit, so an ack survives a
 * power loss or kernel crash too. The fsync cost is paid once per batch, not per message: appends that
 * arrive in the same event-loop turn are committed together in one transaction (group commit).
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { ChatMessage } from './protocol.js';
import { nameKey } from './sanitize.js';
import {
  StoreUnavailableError, type AppendResult, type ChatStore, type MessagePage, type NameClaim, type NewMessage, type RetentionOptions,
} from './store.js';

// ---- the small part of better-sqlite3's API used here (the package ships no types)
interface RunResult { readonly changes: number }
interface Statement {
  run(...params: readonly unknown[]): RunResult;
  get(...params: readonly unknown[]): unknown;
  all(...params: readonly unknown[]): unknown[];
}
interface Transaction<A extends unknown[], R> {
  (...args: A): R;
  immediate(...args: A): R;
}
interface Database {
  prepare(sql: string): Statement;
  pragma(source: string, options?: { simple: boolean }): unknown;
  exec(sql: string): void;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): Transaction<A, R>;
  close(): void;
}
type DatabaseConstructor = new (filename: string, options?: { timeout?: number }) => Database;

const requireCjs = createRequire(import.meta.url);

/** Options of the SQLite store. */
export interface SqliteStoreOptions extends RetentionOptions {
  /** `FULL`: an ack survives power loss (fsync per batch). `NORMAL`: survives process crashes only. Default FULL. */
  readonly synchronous?: 'FULL' | 'NORMAL';
  /** Appends waiting for the next batch before new ones are refused with StoreUnavailableError. */
  readonly maxPending?: number;
  /** How long to wait for a lock held by another process, in ms. */
  readonly busyTimeoutMs?: number;
  /** Source of `ts`; injectable for tests. */
  readonly now?: () => number;
  /**
   * With `historyMaxAgeMs`: how often messages past the age are removed, in ms (default 60,000; and once at
   * open). `historyLimit` needs no sweep: it is applied in the transaction of every batch.
   */
  readonly retentionSweepMs?: number;
}

interface PendingAppend {
  readonly message: NewMessage;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: Error) => void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  room      TEXT    NOT NULL,
  id        INTEGER NOT NULL,
  ts        INTEGER NOT NULL,
  uid       TEXT    NOT NULL,
  name      TEXT    NOT NULL,
  text      TEXT    NOT NULL,
  client_id TEXT    NOT NULL,
  PRIMARY KEY (room, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS messages_client_id ON messages (room, client_id);
CREATE TABLE IF NOT EXISTS names (
  key  TEXT    NOT NULL PRIMARY KEY,
  uid  TEXT    NOT NULL UNIQUE,
  name TEXT    NOT NULL,
  ts   INTEGER NOT NULL
) WITHOUT ROWID;
`;
const COLUMNS = 'room, id, ts, uid, name, text, client_id AS clientId';

/** SQLite implementation of ChatStore. Open with `SqliteChatStore.open(path)`. */
export class SqliteChatStore implements ChatStore {
  private readonly db: Database;
  private readonly now: () => number;
  private readonly maxPending: number;
  private pending: PendingAppend[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  private closed = false;
  private readonly historyLimit: number | undefined;
  private readonly historyMaxAgeMs: number | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  private readonly findByClientId: Statement;
  private readonly nextId: Statement;
  private readonly insert: Statement;
  private readonly maxId: Statement;
  private readonly minId: Statement;
  private readonly trimRoom: Statement;
  private readonly trimAllByCount: Statement;
  private readonly trimAllByAge: Statement;
  private readonly selectBefore: Statement;
  private readonly selectAfter: Statement;
  private readonly commitBatch: Transaction<[readonly NewMessage[], number], AppendResult[]>;
  private readonly readPage: Transaction<[string, 'before' | 'after', number, number], MessagePage>;
  private readonly sweep: Transaction<[number], number>;
  private readonly selectName: Statement;
  private readonly claim: Transaction<[string, string, string, number], NameClaim>;

  private constructor(db: Database, options: SqliteStoreOptions) {
    this.db = db;
    this.now = options.now ?? Date.now;
    this.maxPending = options.maxPending ?? 10_000;
    const { historyLimit, historyMaxAgeMs } = options;
    if (historyLimit !== undefined && !(Number.isSafeInteger(historyLimit) && historyLimit >= 1)) throw new RangeError('historyLimit must be an integer >= 1');
    if (historyMaxAgeMs !== undefined && !(historyMaxAgeMs > 0)) throw new RangeError('historyMaxAgeMs must be > 0');
    this.historyLimit = historyLimit;
    this.historyMaxAgeMs = historyMaxAgeMs;
    this.findByClientId = db.prepare('SELECT id, ts FROM messages WHERE room = ? AND client_id = ?');
    this.nextId = db.prepare('SELECT COALESCE(MAX(id), 0) + 1 AS next FROM messages WHERE room = ?');
    this.insert = db.prepare('INSERT INTO messages (room, id, ts, uid, name, text, client_id) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.maxId = db.prepare('SELECT COALESCE(MAX(id), 0) AS last FROM messages WHERE room = ?');
    this.minId = db.prepare('SELECT MIN(id) AS first FROM messages WHERE room = ?');
    // Retention. Ids are gap-free, so "the newest N" is "id > last - N": a range delete on the primary key.
    // Neither delete can remove a room's newest row (N >= 1; the age rule excludes MAX(id)), so ids never restart.
    this.trimRoom = db.prepare('DELETE FROM messages WHERE room = ? AND id <= ?');
    this.trimAllByCount = db.prepare('DELETE FROM messages WHERE id <= (SELECT MAX(m.id) FROM messages m WHERE m.room = messages.room) - ?');
    this.trimAllByAge = db.prepare('DELETE FROM messages WHERE ts < ? AND id < (SELECT MAX(m.id) FROM messages m WHERE m.room = messages.room)');
    this.selectBefore = db.prepare(`SELECT ${COLUMNS} FROM messages WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?`);
    this.selectAfter = db.prepare(`SELECT ${COLUMNS} FROM messages WHERE room = ? AND id > ? ORDER BY id ASC LIMIT ?`);

    // Ids are assigned here, inside the write transaction, so they are gap-free and strictly
    // increasing even if several processes share the file (BEGIN IMMEDIATE serialises writers).
    this.commitBatch = db.transaction((messages: readonly NewMessage[], ts: number): AppendResult[] => {
      const results: AppendResult[] = [];
      const lastOfRoom = new Map<string, number>();
      for (const m of messages) {
        const found = this.findByClientId.get(m.room, m.clientId) as { id: number; ts: number } | undefined;
        if (found) {
          results.push({ id: found.id, ts: found.ts, duplicate: true });
          continue;
        }
        const { next } = this.nextId.get(m.room) as { next: number };
        this.insert.run(m.room, next, ts, m.uid, m.name, m.text, m.clientId);
        results.push({ id: next, ts, duplicate: false });
        lastOfRoom.set(m.room, next);
      }
      // The count bound, in the same transaction: usually one row per message leaves.
      if (this.historyLimit !== undefined) {
        for (const [room, last] of lastOfRoom) if (last > this.historyLimit) this.trimRoom.run(room, last - this.historyLimit);
      }
      return results;
    });

    // One read transaction, so `lastId` and the page come from the same snapshot.
    this.readPage = db.transaction((room: string, direction: 'before' | 'after', from: number, limit: number): MessagePage => {
      const { last } = this.maxId.get(room) as { last: number };
      const { first } = this.minId.get(room) as { first: number | null };
      const oldestId = first ?? last + 1;
      if (direction === 'before') {
        const rows = this.selectBefore.all(room, from, limit + 1) as ChatMessage[];
        const hasMore = rows.length > limit;
        if (hasMore) rows.pop();
        return { messages: rows.reverse(), hasMore, lastId: last, oldestId };
      }
      const rows = this.selectAfter.all(room, from, limit + 1) as ChatMessage[];
      const hasMore = rows.length > limit;
      if (hasMore) rows.pop();
      return { messages: rows, hasMore, lastId: last, oldestId };
    });

    // Names: one row per person (uid UNIQUE), one owner per key (PRIMARY KEY). A claim is one transaction,
    // so two processes sharing the file cannot both take a name.
    this.selectName = db.prepare('SELECT name FROM names WHERE uid = ?');
    const ownerOf = db.prepare('SELECT uid FROM names WHERE key = ?');
    const dropName = db.prepare('DELETE FROM names WHERE uid = ?');
    const insertName = db.prepare('INSERT INTO names (key, uid, name, ts) VALUES (?, ?, ?, ?)');
    this.claim = db.transaction((uid: string, name: string, key: string, ts: number): NameClaim => {
      const owner = ownerOf.get(key) as { uid: string } | undefined;
      if (owner !== undefined && owner.uid !== uid) return { ok: false, reason: 'taken' };
      const previous = (this.selectName.get(uid) as { name: string } | undefined)?.name;
      dropName.run(uid);
      insertName.run(key, uid, name, ts);
      return { ok: true, name, previous };
    });

    this.sweep = db.transaction((now: number): number => {
      let removed = 0;
      if (this.historyLimit !== undefined) removed += this.trimAllByCount.run(this.historyLimit).changes;
      if (this.historyMaxAgeMs !== undefined) removed += this.trimAllByAge.run(now - this.historyMaxAgeMs).changes;
      return removed;
    });
    // Once at open (the bounds may have been lowered since the last run), then periodically for the age.
    if (historyLimit !== undefined || historyMaxAgeMs !== undefined) this.applyRetention();
    if (historyMaxAgeMs !== undefined) {
      this.sweepTimer = setInterval(() => {
        try {
          this.applyRetention();
        } catch {
          // busy or failing disk: the next sweep tries again
        }
      }, options.retentionSweepMs ?? 60_000);
      this.sweepTimer.unref();
    }
  }

  /** Opens (creating if needed, with its directory) the database file; `:memory:` is accepted for tests. */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteChatStore {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const Driver = requireCjs('better-sqlite3') as DatabaseConstructor;
    const db = new Driver(path, { timeout: options.busyTimeoutMs ?? 5000 });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
      db.exec(SCHEMA);
      return new SqliteChatStore(db, options);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /**
   * Removes what the retention options no longer keep, in every room (always keeping each room's newest
   * message). Runs at open and every `retentionSweepMs`; returns the number of messages removed.
   */
  applyRetention(): number {
    if (this.closed) return 0;
    return this.sweep.immediate(this.now());
  }

  append(message: NewMessage): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the store is closed'));
    if (this.pending.length >= this.maxPending) return Promise.reject(new StoreUnavailableError('the store is overloaded'));
    return new Promise<AppendResult>((resolve, reject) => {
      this.pending.push({ message, resolve, reject });
      // Everything appended during this event-loop turn goes into one transaction (one fsync).
      this.flushScheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Commits the pending batch now. Resolves the appends in id order, or rejects them all. */
  private flush(): void {
    this.flushScheduled = undefined;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    let results: AppendResult[];
    try {
      results = this.commitBatch.immediate(batch.map((p) => p.message), this.now());
    } catch (err) {
      const failure = new StoreUnavailableError('storing failed: nothing was stored', { cause: err });
      for (const p of batch) p.reject(failure);
      return;
    }
    for (let i = 0; i < batch.length; i++) (batch[i] as PendingAppend).resolve(results[i] as AppendResult);
  }

  private read(room: string, direction: 'before' | 'after', from: number, limit: number): Promise<MessagePage> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the store is closed'));
    try {
      return Promise.resolve(this.readPage(room, direction, from, limit));
    } catch (err) {
      return Promise.reject(new StoreUnavailableError('reading failed', { cause: err }));
    }
  }

  latest(room: string, limit: number): Promise<MessagePage> {
    return this.read(room, 'before', Number.MAX_SAFE_INTEGER, limit);
  }

  before(room: string, beforeId: number, limit: number): Promise<MessagePage> {
    return this.read(room, 'before', beforeId, limit);
  }

  after(room: string, afterId: number, limit: number): Promise<MessagePage> {
    return this.read(room, 'after', afterId, limit);
  }

  lastId(room: string): Promise<number> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the store is closed'));
    try {
      return Promise.resolve((this.maxId.get(room) as { last: number }).last);
    } catch (err) {
      return Promise.reject(new StoreUnavailableError('reading failed', { cause: err }));
    }
  }

  claimName(uid: string, name: string): Promise<NameClaim> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the store is closed'));
    const key = nameKey(name);
    if (key.length === 0) return Promise.reject(new RangeError('a name must have a visible character'));
    try {
      return Promise.resolve(this.claim.immediate(uid, name, key, this.now()));
    } catch (err) {
      return Promise.reject(new StoreUnavailableError('storing the name failed', { cause: err }));
    }
  }

  nameOf(uid: string): Promise<string | undefined> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the store is closed'));
    try {
      return Promise.resolve((this.selectName.get(uid) as { name: string } | undefined)?.name);
    } catch (err) {
      return Promise.reject(new StoreUnavailableError('reading failed', { cause: err }));
    }
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.flushScheduled) clearImmediate(this.flushScheduled);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.flush(); // what was accepted is committed before the file is closed
    this.closed = true;
    this.db.close();
    return Promise.resolve();
  }
}
