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

  await a.join('p', { uid: 'a1', name: 'Ann' }, 'ca1', 100);
  await new Promise((r) => setTimeout(r, 5));
  await b.join('p', { uid: 'b1', name: 'Bea' }, 'cb1', 100);
  await new Promise((r) => setTimeout(r, 5));
  const listed = (await c.join('p', { uid: 'c1', name: 'Cid' }, 'cc1', 100)).members;
  assert.deepEqual(listed.map((m) => m.name), ['Ann', 'Bea', 'Cid']);
  assert.deepEqual((await a.join('p', { uid: 'a1', name: 'Ann2' }, 'ca1', 100)).members.map((m) => m.name), ['Ann2', 'Bea', 'Cid'], 'a rename keeps the place');
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
  assert.deepEqual((await c.leave('p', 'c1', 'cc1', 100)).members.map((m) => m.name), ['Ann2']);
  await a.close();
  assert.deepEqual(await c.members('p', 100), []);
  assert.ok(events.some((e) => e.event === 'leave' && e.uid === 'a1'), 'a clean shutdown announces its members leaving');
});

test('people, not connections: two tabs on two processes are one member, who leaves with the last tab (also when a process dies)', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const server = await TestRedis.start(t);
  const connA = openRedis('command', { url: server.url });
  const connB = openRedis('command', { url: server.url });
  t.after(() => Promise.all([closeRedis(connA), closeRedis(connB)]));
  await Promise.all([whenReady(connA, 5000), whenReady(connB, 5000)]);
  const ttlMs = 600;
  const a = new RedisPresence(connA, { ttlMs });
  const b = new RedisPresence(connB, { ttlMs });
  t.after(() => a.close());

  const events: Array<{ event: string; uid: string }> = [];
  const sub = new Redis(server.url);
  t.after(() => sub.disconnect());
  await sub.subscribe(roomKeys('q', 'wr:').channel);
  sub.on('message', (_ch: string, raw: string) => events.push(JSON.parse(decodePayload(raw)!.json)));

  assert.deepEqual(await a.join('q', { uid: 'ann', name: 'Ann' }, 'tab1', 100), { members: [{ uid: 'ann', name: 'Ann' }], changed: true });
  assert.deepEqual(await b.join('q', { uid: 'ann', name: 'Ann' }, 'tab2', 100), { members: [{ uid: 'ann', name: 'Ann' }], changed: false }, 'a second tab, on another process');
  assert.equal((await a.join('q', { uid: 'bob', name: 'Bob' }, 'tab3', 100)).changed, true);
  assert.deepEqual(await a.leave('q', 'ann', 'tab1', 100), { members: [{ uid: 'ann', name: 'Ann' }, { uid: 'bob', name: 'Bob' }], changed: false }, 'still there through tab2');
  assert.deepEqual(await b.leave('q', 'ann', 'tab2', 100), { members: [{ uid: 'bob', name: 'Bob' }], changed: true }, 'gone with the last tab');

  // Ann again in two tabs; the process holding one of them dies: she stays (the other tab is refreshed).
  await a.join('q', { uid: 'ann', name: 'Ann' }, 'tab4', 100);
  await b.join('q', { uid: 'ann', name: 'Ann' }, 'tab5', 100);
  connB.disconnect();
  await new Promise((r) => setTimeout(r, 3 * ttlMs));
  await a.refresh();
  assert.deepEqual((await a.members('q', 100)).map((m) => m.uid), ['bob', 'ann']);
  assert.ok(!events.some((e) => e.event === 'leave' && e.uid === 'ann'), 'no leave while a tab lives');
  // Her last live tab closes: the dead process's stale connection does not keep her in the room.
  assert.deepEqual(await a.leave('q', 'ann', 'tab4', 100), { members: [{ uid: 'bob', name: 'Bob' }], changed: true });
});
