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
