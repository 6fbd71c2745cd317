/**
 * Scale-out: several chat server processes on one real redis-server, real WebSocket clients (the `ws`
 * package) spread across them. Every wait is bounded; every process is killed by pid after the test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient, type Envelope } from '../chat/fixtures/client.js';
import { requireRedisOrSkip, TestRedis } from '../helpers/redis.js';
import { startChatProcess, until } from './fixtures/processes.js';
import { ResumingClient } from './fixtures/resuming-client.js';

function messagesOf(client: TestClient, room: string): Envelope[] {
  return client.all.filter((m) => m.type === 'message' && m.room === room);
}

async function connectAll(t: { after: (fn: () => void) => void }, urls: string[], perProcess: number): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (const url of urls) {
    for (let i = 0; i < perProcess; i++) {
      const c = await TestClient.connect(url);
      t.after(() => c.close());
      clients.push(c);
    }
  }
  return clients;
}

test('three processes: broadcasts cross processes, one order for everyone, no duplicates; presence crosses too', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const redis = await TestRedis.start(t);
  const procs = await Promise.all([0, 1, 2].map(() => startChatProcess(t, redis.url)));
  const clients = await connectAll(t, procs.map((p) => p.url), 2);
  for (const [i, c] of clients.entries()) await c.join('lobby', `user${i}`);

  // The first client hears the others join, whichever process they are on.
  const joins = clients[0]!.all.filter((m) => m.type === 'presence' && m.event === 'join').map((m) => m.uid);
  await until(() => clients[0]!.all.filter((m) => m.type === 'presence' && m.event === 'join').length >= clients.length - 1, 'presence joins from every process');
  assert.ok(joins.length <= clients.length - 1);
  const lastJoined = await clients[5]!.barrier().then(() => clients[5]!.all.find((m) => m.type === 'joined'));
  assert.equal(lastJoined?.members?.length, clients.length, 'joined lists the members of every process');

  const perClient = 10;
  const total = perClient * clients.length;
  // Everyone sends at once: the writes interleave across processes.
  for (let k = 0; k < perClient; k++) {
    for (const [i, c] of clients.entries()) c.send({ type: 'message', room: 'lobby', clientId: `c${i}-${k}`, text: `from ${i}: ${k}` });
  }
  await until(() => clients.every((c) => messagesOf(c, 'lobby').length >= total), `${total} messages at every client`, 20_000);
  await Promise.all(clients.map((c) => c.barrier()));
  await new Promise((r) => setTimeout(r, 200));

  const reference = messagesOf(clients[0]!, 'lobby').map((m) => `${m.id}:${m.clientId}`);
  assert.equal(reference.length, total, 'no duplicates');
  assert.deepEqual(messagesOf(clients[0]!, 'lobby').map((m) => m.id), Array.from({ length: total }, (_, i) => i + 1), 'ids 1..N in order, no gaps');
  for (const c of clients) assert.deepEqual(messagesOf(c, 'lobby').map((m) => `${m.id}:${m.clientId}`), reference, 'the same order for everyone');

  // Acks name the ids everyone saw.
  const idOf = new Map(messagesOf(clients[0]!, 'lobby').map((m) => [m.clientId, m.id]));
  for (const c of clients) {
    const acks = c.all.filter((m) => m.type === 'ack');
    assert.equal(acks.length, perClient);
    for (const a of acks) assert.equal(a.id, idOf.get(a.clientId!));
  }

  // A resend of an old clientId on another process is acknowledged with the original id, not stored again.
  clients[3]!.send({ type: 'message', room: 'lobby', clientId: 'c0-3', text: 'from 0: 3' });
  const dup = await clients[3]!.next('ack', (m) => m.clientId === 'c0-3');
  assert.deepEqual([dup.id, dup.duplicate], [idOf.get('c0-3'), true]);

  // Leaving is seen on the other processes.
  clients[5]!.close();
  await clients[0]!.next('presence', (m) => m.event === 'leave' && m.uid === clients[5]!.uid);
});

test('history and resume across processes: reconnecting to another process with `after` misses nothing', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const redis = await TestRedis.start(t);
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => startChatProcess(t, redis.url)));
  const sender = await TestClient.connect(a!.url);
  t.after(() => sender.close());
  await sender.join('room-1', 'Sender');
  const reader = await TestClient.connect(b!.url);
  await reader.join('room-1', 'Reader');
  for (let i = 1; i <= 10; i++) sender.send({ type: 'message', room: 'room-1', clientId: `s${i}`, text: `m${i}` });
  await until(() => messagesOf(reader, 'room-1').length === 10, 'reader has 10');
  const seen = messagesOf(reader, 'room-1').map((m) => m.id!);
  reader.close();
  await reader.closed;
  // 120 more from four writers on all three processes (paced by the CLI's default rate limit).
  const writers = [a!, b!, c!, a!].map((p, i) => new ResumingClient([p.url], 'room-1', `writer${i}`));
  for (const w of writers) {
    await w.start();
    t.after(() => w.stop());
  }
  for (let i = 11; i <= 130; i++) writers[i % 4]!.send(`s${i}`, `m${i}`);
  await until(() => writers.every((w) => w.outbox.size === 0), 'all acked', 60_000);

  // Resume on a third process.
  const back = await TestClient.connect(c!.url, { cookie: reader.cookie }); // the reader, reconnected elsewhere
  t.after(() => back.close());
  const joined = await back.join('room-1', 'Reader', Math.max(...seen));
  assert.deepEqual(joined.messages!.map((m) => m.id), Array.from({ length: 120 }, (_, i) => i + 11));
  assert.equal(joined.hasMore, false);
  assert.equal(joined.lastId, 130);
  // Live messages continue after the replay, without a duplicate.
  sender.send({ type: 'message', room: 'room-1', clientId: 's131', text: 'm131' });
  const live = await back.next('message', (m) => m.clientId === 's131');
  assert.equal(live.id, 131);
  await back.barrier();
  assert.equal(back.pending('message').length, 0);

  // Paging back through history on yet another process.
  const pager = await TestClient.connect(b!.url);
  t.after(() => pager.close());
  const j = await pager.join('room-1', 'Pager');
  assert.deepEqual(j.messages!.map((m) => m.id), Array.from({ length: 100 }, (_, i) => i + 32));
  assert.equal(j.hasMore, true);
  pager.send({ type: 'history', room: 'room-1', before: 32, limit: 50 });
  const page = await pager.next('history');
  assert.deepEqual(page.messages!.map((m) => m.id), Array.from({ length: 31 }, (_, i) => i + 1));
  assert.equal(page.hasMore, false);
  assert.equal(page.messages![0]!.text, 'm1');
});

test('identity across processes: a session is the same person on every process (one member, one name); names are owned chat-wide; renames cross', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const redis = await TestRedis.start(t);
  const [a, b] = await Promise.all([0, 1].map(() => startChatProcess(t, redis.url)));
  const open = async (url: string, cookie?: string): Promise<TestClient> => {
    const c = await TestClient.connect(url, cookie === undefined ? {} : { cookie });
    t.after(() => c.close());
    return c;
  };
  const watcher = await open(b!.url);
  await watcher.join('id', 'Watcher');
  const tabA = await open(a!.url);
  await tabA.join('id', 'Alice');
  await watcher.next('presence', (m) => m.event === 'join' && m.uid === tabA.uid);
  const tabB = await open(b!.url, tabA.cookie); // Alice's second tab, on the other process
  assert.equal(tabB.uid, tabA.uid);
  assert.equal(tabB.welcomeName, 'Alice', 'the name is in Redis');
  tabB.send({ type: 'join', room: 'id' });
  const joined = await tabB.next('joined');
  assert.deepEqual(joined.members!.map((m) => m.name).sort(), ['Alice', 'Watcher'], 'one Alice');

  const mallory = await open(b!.url);
  for (const name of ['alice', 'ＡＬＩＣＥ', 'Ali\u200Bce']) {
    mallory.send({ type: 'join', room: 'id', name });
    assert.equal((await mallory.next('error')).code, 'NAME_TAKEN', JSON.stringify(name));
  }

  tabA.send({ type: 'rename', name: 'Alicia' });
  assert.equal((await tabB.next('renamed', (m) => m.name === 'Alicia')).previous, 'Alice', 'the tab on the other process follows');
  assert.deepEqual(await watcher.next('rename'), { type: 'rename', room: 'id', uid: tabA.uid, from: 'Alice', to: 'Alicia' });

  tabA.close();
  await tabA.closed;
  await watcher.barrier();
  assert.equal(watcher.pending('presence').filter((m) => m.event === 'leave').length, 0, 'no leave while the other tab lives');
  tabB.close();
  const left = await watcher.next('presence', (m) => m.event === 'leave');
  assert.equal(left.uid, tabA.uid);
  assert.deepEqual(left.members!.map((m) => m.name), ['Watcher']);
});
