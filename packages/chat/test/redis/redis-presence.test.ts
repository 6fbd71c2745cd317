/** RedisPresence against a real redis-server: joining order, expiry of a dead process's members, events. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { closeRedis, openRedis, whenReady } from '../../src/chat/redis/connection.js';
import { decodePayload, roomKeys } from '../../src/chat/redis/keys.js';
import { RedisPresence } from '../../src/chat/redis/redis-presence.js';
import { requireRedisOrSkip, TestRedis } from '../helpers/redis.js';

test('members in joining order across processes; a dead process\'s members expire and are announced once', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const server = await TestRedis.start(t);
  const connA = openRedis('command', { url: server.url });
  const connB = openRedis('command', { url: server.url });
  const connC = openRedis('command', { url: server.url });
  t.after(() => Promise.all([closeRedis(connA), closeRedis(connB), closeRedis(connC)]));
  await Promise.all([whenReady(connA, 5000), whenReady(connB, 5000), whenReady(connC, 5000)]);
  const ttlMs = 600;
  const a = new RedisPresence(connA, { ttlMs });
  const b = new RedisPresence(connB, { ttlMs });
  const c = new RedisPresence(connC, { ttlMs });
  t.after(() => Promise.all([a.close(), c.close()]));

  const events: Array<{ event: string; uid: string; members: Array<{ name: string }> }> = [];
  const sub = new Redis(server.url);
  t.after(() => sub.disconnect());
  await sub.subscribe(roomKeys('p', 'wr:').channel);
  sub.on('message', (_ch: string, raw: string) => events.push(JSON.parse(decodePayload(raw)!.json)));

  await a.join('p', { uid: 'a1', name: 'Ann' }, 100);
  await new Promise((r) => setTimeout(r, 5));
  await b.join('p', { uid: 'b1', name: 'Bea' }, 100);
  await new Promise((r) => setTimeout(r, 5));
  const listed = await c.join('p', { uid: 'c1', name: 'Cid' }, 100);
  assert.deepEqual(listed.map((m) => m.name), ['Ann', 'Bea', 'Cid']);
  assert.deepEqual((await a.join('p', { uid: 'a1', name: 'Ann2' }, 100)).map((m) => m.name), ['Ann2', 'Bea', 'Cid'], 'a rename keeps the place');
  assert.deepEqual((await a.members('p', 2)).map((m) => m.name), ['Ann2', 'Bea'], 'limit');

  // Process B dies: its connection is gone, nobody refreshes b1.
  connB.disconnect();
  const deadline = Date.now() + 10_000;
  while (!events.some((e) => e.event === 'leave' && e.uid === 'b1') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 2 * ttlMs)); // both A and C refresh meanwhile
  const leaves = events.filter((e) => e.event === 'leave' && e.uid === 'b1');
  assert.equal(leaves.length, 1, 'announced exactly once, by one of the living processes');
  assert.deepEqual(leaves[0]!.members.map((m) => m.name), ['Ann2', 'Cid']);
  assert.deepEqual((await c.members('p', 100)).map((m) => m.name), ['Ann2', 'Cid'], 'the living ones stay (refreshed)');

  // A member of a living process that expired anyway (Redis away longer than the TTL) comes back with a join.
  await connC.zrem(roomKeys('p', 'wr:').members, 'a1');
  const until = Date.now() + 5000;
  while (!events.some((e) => e.event === 'join' && e.uid === 'a1') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.ok(events.some((e) => e.event === 'join' && e.uid === 'a1'), 're-added and announced');
  assert.deepEqual((await c.members('p', 100)).map((m) => m.name).sort(), ['Ann2', 'Cid']);

  // leave() and a clean close() remove at once.
  assert.deepEqual((await c.leave('p', 'c1', 100)).map((m) => m.name), ['Ann2']);
  await a.close();
  assert.deepEqual(await c.members('p', 100), []);
  assert.ok(events.some((e) => e.event === 'leave' && e.uid === 'a1'), 'a clean shutdown announces its members leaving');
});
