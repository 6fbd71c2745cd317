import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteChatStore } from '../../src/chat/sqlite-store.js';
import { StoreUnavailableError, type NewMessage } from '../../src/chat/store.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wireroom-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function msg(room: string, n: number, clientId = `c-${room}-${n}`): NewMessage {
  return { room, uid: 'u1', name: 'Ann', text: `hello ${n}`, clientId };
}

test('creates the directory and assigns strictly increasing ids per room', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'nested', 'deeper', 'chat.db');
  const store = SqliteChatStore.open(path);
  t.after(() => store.close());
  assert.ok(existsSync(path));
  // Same event-loop turn: one batch, ids still in call order.
  const results = await Promise.all([msg('a', 1), msg('b', 1), msg('a', 2), msg('a', 3), msg('b', 2)].map((m) => store.append(m)));
  assert.deepEqual(results.map((r) => r.id), [1, 1, 2, 3, 2]);
  assert.ok(results.every((r) => !r.duplicate && r.ts > 0));
  const later = await store.append(msg('a', 4));
  assert.equal(later.id, 4);
  assert.equal(await store.lastId('a'), 4);
  assert.equal(await store.lastId('b'), 2);
  assert.equal(await store.lastId('empty'), 0);
});

test('dedupes by (room, clientId), also within one batch, and returns the original id and ts', async (t) => {
  const store = SqliteChatStore.open(join(tempDir(t), 'chat.db'));
  t.after(() => store.close());
  const first = await store.append(msg('a', 1, 'same'));
  const [again, inBatch1, inBatch2, otherRoom] = await Promise.all([
    store.append(msg('a', 99, 'same')),
    store.append(msg('a', 2, 'x')),
    store.append(msg('a', 3, 'x')),
    store.append(msg('b', 1, 'same')),
  ]);
  assert.deepEqual(again, { id: first.id, ts: first.ts, duplicate: true });
  assert.equal(inBatch1!.duplicate, false);
  assert.deepEqual(inBatch2, { id: inBatch1!.id, ts: inBatch1!.ts, duplicate: true });
  assert.deepEqual(otherRoom, { id: 1, ts: otherRoom!.ts, duplicate: false });
  const page = await store.latest('a', 10);
  assert.deepEqual(page.messages.map((m) => m.text), ['hello 1', 'hello 2']);
});

test('pages through history oldest first with hasMore and a consistent lastId', async (t) => {
  const store = SqliteChatStore.open(join(tempDir(t), 'chat.db'));
  t.after(() => store.close());
  await Promise.all(Array.from({ length: 25 }, (_, i) => store.append(msg('r', i + 1))));
  const latest = await store.latest('r', 10);
  assert.deepEqual(latest.messages.map((m) => m.id), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
  assert.equal(latest.hasMore, true);
  assert.equal(latest.lastId, 25);
  const older = await store.before('r', 16, 10);
  assert.deepEqual(older.messages.map((m) => m.id), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  assert.equal(older.hasMore, true);
  const oldest = await store.before('r', 6, 10);
  assert.deepEqual(oldest.messages.map((m) => m.id), [1, 2, 3, 4, 5]);
  assert.equal(oldest.hasMore, false);
  const after = await store.after('r', 20, 3);
  assert.deepEqual(after.messages.map((m) => m.id), [21, 22, 23]);
  assert.equal(after.hasMore, true);
  const tail = await store.after('r', 23, 3);
  assert.deepEqual(tail.messages.map((m) => m.id), [24, 25]);
  assert.equal(tail.hasMore, false);
  const m = latest.messages[0]!;
  assert.deepEqual(Object.keys(m).sort(), ['clientId', 'id', 'name', 'room', 'text', 'ts', 'uid']);
  assert.equal(m.clientId, 'c-r-16');
});

test('stores text verbatim, HTML and control characters included', async (t) => {
  const store = SqliteChatStore.open(join(tempDir(t), 'chat.db'));
  t.after(() => store.close());
  const text = '<img src=x onerror=alert(1)>\u0000\u0007\r\n\t"\'&amp; 😀';
  await store.append({ ...msg('a', 1), text });
  const page = await store.latest('a', 1);
  assert.equal(page.messages[0]!.text, text);
});

test('persists across close and reopen; close commits appends still pending', async (t) => {
  const path = join(tempDir(t), 'chat.db');
  const store = SqliteChatStore.open(path);
  await store.append(msg('a', 1));
  const pending = store.append(msg('a', 2)); // not flushed yet when close() runs
  await store.close();
  assert.equal((await pending).id, 2);
  await assert.rejects(store.append(msg('a', 3)), StoreUnavailableError);
  const reopened = SqliteChatStore.open(path);
  t.after(() => reopened.close());
  const page = await reopened.latest('a', 10);
  assert.deepEqual(page.messages.map((m) => m.id), [1, 2]);
  assert.equal((await reopened.append(msg('a', 3))).id, 3);
});

test('the database file is in WAL mode (readers never block the writer)', async (t) => {
  const path = join(tempDir(t), 'chat.db');
  const store = SqliteChatStore.open(path);
  await store.close();
  const { createRequire } = await import('node:module');
  const Driver = createRequire(import.meta.url)('better-sqlite3') as new (p: string) => { pragma(s: string, o: { simple: boolean }): unknown; close(): void };
  const db = new Driver(path);
  t.after(() => db.close());
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
});

test('refuses appends beyond maxPending instead of queueing without bound', async (t) => {
  const store = SqliteChatStore.open(join(tempDir(t), 'chat.db'), { maxPending: 3 });
  t.after(() => store.close());
  const accepted = [1, 2, 3].map((n) => store.append(msg('a', n)));
  await assert.rejects(store.append(msg('a', 4)), StoreUnavailableError);
  assert.deepEqual((await Promise.all(accepted)).map((r) => r.id), [1, 2, 3]);
});

// ---------------------------------------------------------------- retention

test('historyLimit keeps the newest N per room in every batch; ids continue; oldestId tells what is gone', async (t) => {
  const path = join(tempDir(t), 'chat.db');
  const store = SqliteChatStore.open(path, { historyLimit: 10 });
  await Promise.all(Array.from({ length: 25 }, (_, i) => store.append(msg('r', i + 1)))); // one batch
  for (let i = 26; i <= 40; i++) await store.append(msg('r', i)); // one batch each
  await store.append(msg('small', 1));
  const latest = await store.latest('r', 100);
  assert.deepEqual(latest.messages.map((m) => m.id), Array.from({ length: 10 }, (_, i) => 31 + i));
  assert.equal(latest.hasMore, false);
  assert.equal(latest.oldestId, 31, 'ids 1-30 are gone');
  assert.equal(latest.lastId, 40);
  // At the trimmed edge: backwards there is nothing more, forwards from an old id starts at oldestId.
  const older = await store.before('r', 31, 50);
  assert.deepEqual(older, { messages: [], hasMore: false, lastId: 40, oldestId: 31 });
  const resume = await store.after('r', 5, 3);
  assert.deepEqual(resume.messages.map((m) => m.id), [31, 32, 33]);
  assert.equal(resume.oldestId, 31);
  assert.equal(resume.hasMore, true);
  const untouched = await store.latest('small', 10);
  assert.equal(untouched.oldestId, 1, 'a room under the limit keeps everything');
  // A trimmed clientId is forgotten with its message: the dedupe index holds only kept rows.
  assert.equal((await store.append(msg('r', 41, 'c-r-35'))).duplicate, true, 'kept messages still dedupe');
  await store.close();

  // Reopened with a lower limit: trimmed at open; ids go on from the newest, never restart.
  const lower = SqliteChatStore.open(path, { historyLimit: 3 });
  t.after(() => lower.close());
  assert.deepEqual((await lower.latest('r', 100)).messages.map((m) => m.id), [38, 39, 40]);
  assert.equal((await lower.append(msg('r', 42))).id, 41);
  assert.deepEqual((await lower.latest('r', 100)).messages.map((m) => m.id), [39, 40, 41]);
});

test('historyMaxAgeMs removes old messages (at open, by the sweep, on demand) but always keeps the newest of a room', async (t) => {
  const path = join(tempDir(t), 'chat.db');
  let now = 1_000_000;
  const day = 24 * 3600_000;
  const store = SqliteChatStore.open(path, { historyMaxAgeMs: day, now: () => now, retentionSweepMs: 20 });
  t.after(() => store.close());
  for (let i = 1; i <= 5; i++) await store.append(msg('old', i));
  await store.append(msg('quiet', 1));
  await store.append(msg('quiet', 2));
  now += day / 2;
  for (let i = 6; i <= 8; i++) await store.append(msg('old', i));
  assert.equal(store.applyRetention(), 0, 'nothing is a day old yet');

  now += day / 2 + 1; // messages 1-5 and quiet 1-2 are now older than a day; 6-8 are not
  // The periodic sweep does it without any append (bounded wait).
  for (let i = 0; i < 100 && (await store.latest('old', 100)).oldestId === 1; i++) await new Promise((r) => setTimeout(r, 20));
  const page = await store.latest('old', 100);
  assert.deepEqual(page.messages.map((m) => m.id), [6, 7, 8]);
  assert.equal(page.oldestId, 6);
  const quiet = await store.latest('quiet', 100);
  assert.deepEqual(quiet.messages.map((m) => m.id), [2], 'the newest message of an idle room stays: its ids must not restart');
  assert.equal(quiet.oldestId, 2);
  assert.equal((await store.append(msg('quiet', 3))).id, 3);

  now += 2 * day;
  assert.ok(store.applyRetention() >= 3);
  assert.deepEqual((await store.latest('old', 100)).messages.map((m) => m.id), [8]);
  assert.deepEqual((await store.latest('quiet', 100)).messages.map((m) => m.id), [3]);
  assert.equal((await store.append(msg('old', 9))).id, 9);
});

test('both bounds together, and invalid bounds are refused', async (t) => {
  const dir = tempDir(t);
  let now = 0;
  const store = SqliteChatStore.open(join(dir, 'chat.db'), { historyLimit: 4, historyMaxAgeMs: 1000, now: () => now });
  t.after(() => store.close());
  for (let i = 1; i <= 6; i++) { now += 100; await store.append(msg('r', i)); }
  assert.deepEqual((await store.latest('r', 10)).messages.map((m) => m.id), [3, 4, 5, 6], 'the limit');
  now = 1450; // 3 (ts 300) and 4 (ts 400) are over 1000 ms old
  store.applyRetention();
  assert.deepEqual((await store.latest('r', 10)).messages.map((m) => m.id), [5, 6], 'the age');
  assert.throws(() => SqliteChatStore.open(join(dir, 'bad.db'), { historyLimit: 0 }), RangeError);
  assert.throws(() => SqliteChatStore.open(join(dir, 'bad2.db'), { historyMaxAgeMs: -1 }), RangeError);
});
