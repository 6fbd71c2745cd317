/** RedisChatBroker against a real redis-server: in-order, exactly-once delivery across subscriber reconnects. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { PublishMeta, Subscriber } from 'wireroom/app';
import type { PreparedMessage } from 'wireroom';
import { createRedisChat } from '../../src/chat/redis/redis-chat.js';
import { requireRedisOrSkip, TestRedis } from '../helpers/redis.js';

class Recorder implements Subscriber {
  readonly seqs: number[] = [];
  readonly events: string[] = [];
  deliver(_topic: string, frame: PreparedMessage, meta: PublishMeta): void {
    if (meta.seq !== undefined) this.seqs.push(meta.seq);
    else this.events.push(frame.payload.toString('utf8'));
    if (meta.seq !== undefined) assert.equal((JSON.parse(frame.payload.toString('utf8')) as { id: number }).id, meta.seq);
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('messages missed while the subscriber connection was down are filled from the Stream, in order, once', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const server = await TestRedis.start(t);
  const writer = await createRedisChat({ url: server.url, probeIntervalMs: 0, logError: () => {} });
  const reader = await createRedisChat({ url: server.url, probeIntervalMs: 0, logError: () => {} });
  t.after(() => Promise.all([writer.close(), reader.close()]));
  const recorder = new Recorder();
  await reader.broker.subscribe('room:gaps', recorder);
  const admin = new Redis(server.url);
  t.after(() => admin.disconnect());

  const total = 600;
  for (let i = 1; i <= total; i++) {
    await writer.store.append({ room: 'gaps', uid: 'u', name: 'W', text: `m${i}`, clientId: `g${i}` });
    // Drop every subscriber connection now and then: what is published meanwhile is lost to pub/sub.
    if (i % 150 === 0) await admin.client('KILL', 'TYPE', 'pubsub');
  }
  await until(() => recorder.seqs.length >= total, `${total} deliveries (got ${recorder.seqs.length})`);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(recorder.seqs, Array.from({ length: total }, (_, i) => i + 1));
  assert.ok(reader.metrics.brokerRecovered > 0, 'some were recovered from the Stream');

  // Events (no seq) cross processes too, with their origin.
  await writer.broker.publish('room:gaps', '{"type":"typing"}', { origin: 'someone' });
  await until(() => recorder.events.length === 1, 'the event');

  // The last local member leaving unsubscribes the channel.
  await reader.broker.unsubscribe('room:gaps', recorder);
  assert.equal(reader.broker.channelCount, 0);
  const channels = (await admin.pubsub('CHANNELS', 'wr:{gaps}:*')) as string[];
  assert.deepEqual(channels, []);
});

test('a publish() with seq delivers locally at once when next in order, and the Redis copy is dropped', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const server = await TestRedis.start(t);
  const chat = await createRedisChat({ url: server.url, probeIntervalMs: 0, logError: () => {} });
  t.after(() => chat.close());
  const recorder = new Recorder();
  await chat.broker.subscribe('room:fast', recorder);
  for (let i = 1; i <= 50; i++) {
    const r = await chat.store.append({ room: 'fast', uid: 'u', name: 'F', text: `f${i}`, clientId: `f${i}` });
    await chat.broker.publish('room:fast', JSON.stringify({ type: 'message', room: 'fast', id: r.id, ts: r.ts, uid: 'u', name: 'F', text: `f${i}`, clientId: `f${i}` }), { seq: r.id });
  }
  await until(() => recorder.seqs.length >= 50, '50 deliveries');
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(recorder.seqs, Array.from({ length: 50 }, (_, i) => i + 1));
});
