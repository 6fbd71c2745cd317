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
  assert.deepEqual(await store.latest('empty', 10), { messages: [], hasMore: false, lastId: 0 });
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
