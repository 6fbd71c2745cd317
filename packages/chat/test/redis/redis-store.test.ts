/** RedisChatStore against a real redis-server: ids, dedupe, paging, the atomic publish, failure. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { openRedis, whenReady, closeRedis } from '../../src/chat/redis/connection.js';
import { RedisChatStore } from '../../src/chat/redis/redis-store.js';
import { decodePayload } from '../../src/chat/redis/keys.js';
import { StoreUnavailableError } from '../../src/chat/store.js';
import { requireRedisOrSkip, TestRedis } from '../helpers/redis.js';

async function setup(t: Parameters<typeof TestRedis.start>[0]) {
  const server = await TestRedis.start(t);
  const redis = openRedis('command', { url: server.url });
  t.after(() => closeRedis(redis));
  await whenReady(redis, 5000);
  return { server, redis, store: new RedisChatStore(redis) };
}

const msg = (room: string, i: number, clientId = `c${i}`) => ({ room, uid: 'u1', name: 'Ann', text: `text ${i} "quoted" <b>`, clientId });

test('append assigns gap-free ids per room, dedupes resends, pages like the SQLite store', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const { store } = await setup(t);
  const results = await Promise.all(Array.from({ length: 250 }, (_, i) => store.append(msg('a', i + 1))));
  assert.deepEqual(results.map((r) => r.id), Array.from({ length: 250 }, (_, i) => i + 1));
  assert.ok(results.every((r) => !r.duplicate && r.ts > Date.now() - 60_000));
  assert.equal((await store.append(msg('b', 1))).id, 1, 'ids are per room');

  const again = await store.append(msg('a', 7));
  assert.deepEqual(again, { id: 7, ts: results[6]!.ts, duplicate: true });
  assert.equal(await store.lastId('a'), 250);
  assert.equal(await store.lastId('empty'), 0);

  const latest = await store.latest('a', 100);
  assert.deepEqual(latest.messages.map((m) => m.id), Array.from({ length: 100 }, (_, i) => 151 + i));
  assert.equal(latest.hasMore, true);
  assert.equal(latest.lastId, 250);
  assert.deepEqual(latest.messages[0], { room: 'a', id: 151, ts: results[150]!.ts, uid: 'u1', name: 'Ann', text: 'text 151 "quoted" <b>', clientId: 'c151' });

  const before = await store.before('a', 151, 100);
  assert.deepEqual(before.messages.map((m) => m.id), Array.from({ length: 100 }, (_, i) => 51 + i));
  assert.equal(before.hasMore, true);
  const first = await store.before('a', 51, 100);
  assert.equal(first.messages.length, 50);
  assert.equal(first.hasMore, false);
  assert.deepEqual((await store.before('a', 1, 10)).messages, []);

  const after = await store.after('a', 240, 5);
  assert.deepEqual(after.messages.map((m) => m.id), [241, 242, 243, 244, 245]);
  assert.equal(after.hasMore, true);
  assert.equal(after.lastId, 250);
  const tail = await store.after('a', 245, 5);
  assert.deepEqual(tail.messages.map((m) => m.id), [246, 247, 248, 249, 250]);
  assert.equal(tail.hasMore, false);
  assert.deepEqual(await store.latest('empty', 10), { messages: [], hasMore: false, lastId: 0, oldestId: 1 });
});

test('append publishes the envelope on the room channel in id order, once per stored message', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const { server, store } = await setup(t);
  const sub = new Redis(server.url);
  t.after(() => sub.disconnect());
  const channel = store.keys('pub').channel;
  await sub.subscribe(channel);
  const got: string[] = [];
  sub.on('message', (_ch: string, payload: string) => got.push(payload));
  const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => store.append(msg('pub', i, `p${i % 40}`))));
  assert.equal(acks.filter((a) => a.duplicate).length, 10);
  const deadline = Date.now() + 5000;
  while (got.length < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(got.length, 40, 'duplicates are not published');
  const decoded = got.map((p) => decodePayload(p));
  assert.deepEqual(decoded.map((d) => d?.kind === 'm' && d.id), Array.from({ length: 40 }, (_, i) => i + 1));
  const first = decoded[0]!;
  assert.deepEqual(JSON.parse(first.json), { type: 'message', room: 'pub', id: 1, ts: acks[0]!.ts, uid: 'u1', name: 'Ann', text: 'text 0 "quoted" <b>', clientId: 'p0' });
});

test('while Redis is down every operation fails fast with StoreUnavailableError, then recovers by itself', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const { server, redis, store } = await setup(t);
  await store.append(msg('r', 1));
  await server.stop('SIGKILL');
  const started = Date.now();
  await assert.rejects(store.append(msg('r', 2)), StoreUnavailableError);
  await assert.rejects(store.latest('r', 10), StoreUnavailableError);
  assert.ok(Date.now() - started < 3000, `failed fast (${Date.now() - started} ms)`);
  await server.startAgain();
  await whenReady(redis, 10_000);
  const page = await store.latest('r', 10);
  assert.deepEqual(page.messages.map((m) => m.clientId), ['c1'], 'the acknowledged message survived kill -9 of Redis (AOF)');
  assert.deepEqual(await store.append(msg('r', 2)), { id: 2, ts: (await store.after('r', 1, 1)).messages[0]?.ts ?? -1, duplicate: false });
});

// ---------------------------------------------------------------- retention

/** Dedupe keys of a room, with their TTLs in ms (SCAN, bounded). */
async function dedupeKeys(redis: Redis, store: RedisChatStore, room: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  let cursor = '0';
  for (let i = 0; i < 10_000; i++) {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${store.keys(room).cidPrefix}*`, 'COUNT', 1000);
    for (const k of keys) found.set(k, await redis.pttl(k));
    cursor = next;
    if (cursor === '0') break;
  }
  return found;
}

test('historyLimit: the stream stays at N entries and the dedupe keys at N, whatever the number of messages', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const { redis } = await setup(t);
  const store = new RedisChatStore(redis, { historyLimit: 50 });
  const k = store.keys('r');
  const total = 2000;
  for (let i = 1; i <= total; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => store.append(msg('r', i + j))));
    assert.ok(await redis.xlen(k.log) <= 50, 'never above the limit');
  }
  assert.equal(await redis.xlen(k.log), 50);
  const keys = await dedupeKeys(redis, store, 'r');
  assert.equal(keys.size, 50, 'one dedupe key per kept message');
  assert.deepEqual([...keys.keys()].sort(), Array.from({ length: 50 }, (_, i) => `${k.cidPrefix}c${total - 49 + i}`).sort());
  for (const ttl of keys.values()) assert.ok(ttl > 0 && ttl <= 7 * 24 * 3600_000, `a TTL on every dedupe key (${ttl})`);

  const page = await store.latest('r', 100);
  assert.deepEqual(page.messages.map((m) => m.id), Array.from({ length: 50 }, (_, i) => total - 49 + i));
  assert.equal(page.hasMore, false);
  assert.equal(page.oldestId, total - 49);
  assert.equal(page.lastId, total);
  assert.deepEqual(await store.before('r', total - 49, 100), { messages: [], hasMore: false, lastId: total, oldestId: total - 49 });
  const resume = await store.after('r', 10, 5);
  assert.deepEqual(resume.messages.map((m) => m.id), [total - 49, total - 48, total - 47, total - 46, total - 45]);
  assert.equal(resume.oldestId, total - 49);
  // A kept message still dedupes; ids go on.
  assert.deepEqual(await store.append(msg('r', total)), { id: total, ts: page.messages.at(-1)!.ts, duplicate: true });
  assert.equal((await store.append(msg('r', total + 1))).id, total + 1);

  // A lower limit later (e.g. a restart with --history-limit 10): converges within a few appends, each
  // removing at most 100 entries, so Redis never blocks on a long trim.
  const lower = new RedisChatStore(redis, { historyLimit: 10 });
  await lower.append(msg('r', total + 2));
  assert.equal(await redis.xlen(k.log), 10);
  assert.equal((await dedupeKeys(redis, store, 'r')).size, 10);
});

test('historyMaxAgeMs: old entries leave on append, dedupe keys expire with them, an idle room log expires; ids never restart', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const { redis } = await setup(t);
  const store = new RedisChatStore(redis, { historyMaxAgeMs: 600 });
  const k = store.keys('r');
  for (let i = 1; i <= 5; i++) await store.append(msg('r', i));
  const ttls = await dedupeKeys(redis, store, 'r');
  assert.equal(ttls.size, 5);
  for (const ttl of ttls.values()) assert.ok(ttl > 0 && ttl <= 600, `dedupe TTL capped at the retention age (${ttl})`);
  const logTtl = await redis.pttl(k.log);
  assert.ok(logTtl > 0 && logTtl <= 600, `the log expires when the room is idle (${logTtl})`);

  await new Promise((r) => setTimeout(r, 700));
  await store.append(msg('r', 6)); // 1-5 are now past the age
  assert.deepEqual((await store.latest('r', 10)).messages.map((m) => m.id), [6]);
  assert.equal(await redis.xlen(k.log), 1);
  assert.deepEqual([...(await dedupeKeys(redis, store, 'r')).keys()], [`${k.cidPrefix}c6`]);

  await new Promise((r) => setTimeout(r, 700)); // idle: everything expires, the counter stays
  assert.equal(await redis.exists(k.log), 0);
  assert.equal((await dedupeKeys(redis, store, 'r')).size, 0);
  const empty = await store.latest('r', 10);
  assert.deepEqual(empty, { messages: [], hasMore: false, lastId: 6, oldestId: 7 }, 'not a new room: everything up to 6 is gone');
  assert.deepEqual(await store.after('r', 2, 10), { messages: [], hasMore: false, lastId: 6, oldestId: 7 });
  assert.equal((await store.append(msg('r', 7))).id, 7);
  assert.equal((await store.latest('r', 10)).oldestId, 7);
});

test('names are owned across processes sharing Redis: look-alikes refused, renames free the old name', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const server = await TestRedis.start(t);
  const one = openRedis('command', { url: server.url });
  const two = openRedis('command', { url: server.url });
  t.after(() => Promise.all([closeRedis(one), closeRedis(two)]));
  await Promise.all([whenReady(one, 5000), whenReady(two, 5000)]);
  const a = new RedisChatStore(one);
  const b = new RedisChatStore(two); // another process
  assert.equal(await a.nameOf('u-alice'), undefined);
  assert.deepEqual(await a.claimName('u-alice', 'Alice'), { ok: true, name: 'Alice', previous: undefined });
  for (const n of ['ALICE', 'alice', 'Ａｌｉｃｅ', 'Alice\u200B', 'Ali\u00ADce']) {
    assert.deepEqual(await b.claimName('u-mallory', n), { ok: false, reason: 'taken' }, JSON.stringify(n));
  }
  assert.equal(await b.nameOf('u-alice'), 'Alice');
  assert.deepEqual(await b.claimName('u-alice', 'Alicia'), { ok: true, name: 'Alicia', previous: 'Alice' }, 'the owner, through any process');
  assert.deepEqual(await a.claimName('u-bob', 'ALICE'), { ok: true, name: 'ALICE', previous: undefined }, 'freed by the rename');
  assert.deepEqual(await a.claimName('u-bob', 'alicia'), { ok: false, reason: 'taken' });
  assert.equal(await a.nameOf('u-bob'), 'ALICE');
});
