/**
 * Faults with several chat processes on one real redis-server: a process killed with SIGKILL mid-traffic,
 * and Redis itself going away and coming back. Every wait is bounded; every process is killed by pid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { requireRedisOrSkip, TestRedis } from '../helpers/redis.js';
import { startChatProcess, until } from './fixtures/processes.js';
import { ResumingClient } from './fixtures/resuming-client.js';
import { TestClient } from '../chat/fixtures/client.js';

/** Every message id exactly once, in increasing order, from 1 to `n`. */
function assertComplete(ids: readonly number[], n: number, who: string): void {
  assert.equal(new Set(ids).size, ids.length, `${who}: no duplicates`);
  assert.deepEqual(ids, Array.from({ length: n }, (_, i) => i + 1), `${who}: every id 1..${n}, in order`);
}

async function storedLog(url: string, room: string): Promise<Array<{ id: number; clientId: string }>> {
  const redis = new Redis(url);
  try {
    const entries = (await redis.xrange(`wr:{${room}}:log`, '-', '+')) as Array<[string, string[]]>;
    return entries.map(([id, fields]) => ({ id: Number(id.slice(2)), clientId: fields[fields.indexOf('cid') + 1]! }));
  } finally {
    redis.disconnect();
  }
}

test('kill -9 of one process mid-traffic: its clients resume on another, nothing lost or repeated', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const redis = await TestRedis.start(t);
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => startChatProcess(t, redis.url)));
  const urls = [a!.url, b!.url, c!.url];
  const clients = [
    new ResumingClient([urls[0]!, urls[1]!], 'crash', 'a0'),
    new ResumingClient([urls[1]!, urls[0]!], 'crash', 'b0'),
    new ResumingClient([urls[2]!, urls[0]!, urls[1]!], 'crash', 'victim0'),
    new ResumingClient([urls[2]!, urls[1]!, urls[0]!], 'crash', 'victim1'),
  ];
  for (const client of clients) {
    await client.start();
    t.after(() => client.stop());
  }
  const perClient = 40;
  const total = perClient * clients.length;
  let killed = false;
  // 4.5 messages per second per client: under the default rate limit of the CLI.
  for (let k = 0; k < perClient; k++) {
    for (const [i, client] of clients.entries()) client.send(`${i}-${k}`, `client ${i} message ${k}`);
    if (k === 12) {
      c!.child.kill('SIGKILL');
      killed = true;
    }
    await new Promise((r) => setTimeout(r, 220));
  }
  assert.ok(killed);
  await until(() => c!.child.signalCode === 'SIGKILL', 'the killed process is gone');
  await until(() => clients.every((cl) => cl.outbox.size === 0 && cl.lastId >= total), 'every message acknowledged and received everywhere', 30_000);
  await new Promise((r) => setTimeout(r, 300)); // anything duplicated would arrive now

  assert.ok(clients[2]!.reconnects >= 1 && clients[3]!.reconnects >= 1, 'the victims reconnected');
  assert.notEqual(clients[2]!.url, urls[2]);
  for (const client of clients) assertComplete(client.ids, total, client.url);
  const log = await storedLog(redis.url, 'crash');
  assert.equal(log.length, total, 'stored once each (resends deduplicated)');
  assert.equal(new Set(log.map((e) => e.clientId)).size, total);
  const byClientId = new Map(log.map((e) => [e.clientId, e.id]));
  for (const client of clients) for (const [clientId, id] of client.acked) assert.equal(byClientId.get(clientId), id, `ack of ${clientId}`);
});

test('Redis stops and comes back: clear errors meanwhile, nothing acknowledged lost, recovery without restarting', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const redis = await TestRedis.start(t);
  const [a, b] = await Promise.all([0, 1].map(() => startChatProcess(t, redis.url)));
  const alice = new ResumingClient([a!.url], 'outage', 'alice');
  const bob = new ResumingClient([b!.url], 'outage', 'bob');
  await alice.start();
  await bob.start();
  t.after(() => { alice.stop(); bob.stop(); });
  for (let i = 0; i < 5; i++) alice.send(`before-${i}`, `before ${i}`);
  await until(() => bob.lastId === 5 && alice.outbox.size === 0, 'first messages delivered');
  const ackedBefore = new Map(alice.acked);

  await redis.stop('SIGKILL'); // a crash: only what the AOF holds survives
  // A send now is refused clearly (and retried by the client until Redis is back).
  const errorsBefore = alice.errors.length;
  alice.send('during-0', 'sent while Redis is down');
  await until(() => alice.errors.length > errorsBefore, 'an error for the send during the outage', 10_000);
  const refusal = alice.errors[errorsBefore]!;
  assert.equal(refusal.code, 'STORAGE_UNAVAILABLE');
  assert.equal(refusal.clientId, 'during-0');
  assert.equal(alice.acked.has('during-0'), false, 'nothing acknowledged while Redis is down');
  const health = await fetch(`${a!.url}/healthz`);
  assert.equal(health.status, 503);
  const body = (await health.json()) as { status: string; redis: string };
  assert.deepEqual([body.status, body.redis], ['degraded', 'down']);

  await redis.startAgain();
  // The client's retries go through once the processes have reconnected by themselves.
  await until(() => alice.acked.has('during-0'), 'the retried send is acknowledged after recovery', 20_000);
  for (let i = 0; i < 5; i++) alice.send(`after-${i}`, `after ${i}`);
  await until(() => bob.lastId === 11 && alice.outbox.size === 0, 'cross-process delivery works again', 20_000);
  assertComplete(bob.ids, 11, 'bob');
  assertComplete(alice.ids, 11, 'alice');
  for (const [clientId, id] of ackedBefore) assert.equal(alice.acked.get(clientId), id);
  const log = await storedLog(redis.url, 'outage');
  assert.deepEqual(log.map((e) => e.clientId), ['before-0', 'before-1', 'before-2', 'before-3', 'before-4', 'during-0', 'after-0', 'after-1', 'after-2', 'after-3', 'after-4']);
  for (const p of [a!, b!]) {
    const after = await fetch(`${p.url}/healthz`);
    assert.equal(after.status, 200);
    assert.deepEqual(await after.json().then((h: { status: string; redis: string }) => [h.status, h.redis]), ['ok', 'up']);
  }
});

test('presence expires: the members of a killed process leave the room for everyone else', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const redis = await TestRedis.start(t);
  const env = { WIREROOM_PRESENCE_TTL_MS: '1500' };
  const [a, b] = await Promise.all([0, 1].map(() => startChatProcess(t, redis.url, [], { env })));
  const stay = await TestClient.connect(a!.url);
  t.after(() => stay.close());
  await stay.join('presence', 'Stays');
  const doomed = await TestClient.connect(b!.url);
  const joined = await doomed.join('presence', 'Doomed');
  assert.deepEqual(joined.members!.map((m) => m.name), ['Stays', 'Doomed']);
  await stay.next('presence', (m) => m.event === 'join' && m.uid === doomed.uid);

  b!.child.kill('SIGKILL');
  const started = Date.now();
  const leave = await stay.next('presence', (m) => m.event === 'leave' && m.uid === doomed.uid, 15_000);
  assert.equal(leave.name, 'Doomed');
  assert.deepEqual(leave.members!.map((m) => m.name), ['Stays']);
  assert.ok(Date.now() - started < 10_000, `expired within the TTL and a refresh (${Date.now() - started} ms)`);
  // A newcomer does not see the dead member either.
  const late = await TestClient.connect(a!.url);
  t.after(() => late.close());
  assert.deepEqual((await late.join('presence', 'Late')).members!.map((m) => m.name), ['Stays', 'Late']);
});
