import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessBroker, type PublishMeta, type Subscriber } from '../../src/app/broker.js';
import type { PreparedMessage } from '../../src/connection/fanout.js';

class Recorder implements Subscriber {
  readonly got: Array<{ topic: string; frame: PreparedMessage; meta: PublishMeta }> = [];
  deliver(topic: string, frame: PreparedMessage, meta: PublishMeta): void {
    this.got.push({ topic, frame, meta });
  }
  texts(): string[] {
    return this.got.map((g) => g.frame.payload.toString('utf8'));
  }
}

test('publish frames once for all local subscribers of the topic, in publish order', async () => {
  const broker = new InProcessBroker();
  const [a, b, other] = [new Recorder(), new Recorder(), new Recorder()];
  await broker.subscribe('room:x', a);
  await broker.subscribe('room:x', b);
  await broker.subscribe('room:y', other);
  await broker.publish('room:x', 'one', { seq: 1 });
  await broker.publish('room:x', 'two', { origin: 'u1' });
  assert.deepEqual(a.texts(), ['one', 'two']);
  assert.deepEqual(b.texts(), ['one', 'two']);
  assert.deepEqual(other.texts(), []);
  assert.equal(a.got[0]!.frame, b.got[0]!.frame, 'the same prepared frame object');
  assert.equal(a.got[0]!.frame.binary, false);
  assert.deepEqual(a.got[0]!.meta, { seq: 1 });
  assert.deepEqual(b.got[1]!.meta, { origin: 'u1' });
  assert.equal(a.got[0]!.topic, 'room:x');
});

test('unsubscribe stops delivery and empty topics are forgotten', async () => {
  const broker = new InProcessBroker();
  const a = new Recorder();
  await broker.subscribe('t', a);
  await broker.subscribe('t', a); // idempotent
  assert.equal(broker.subscriberCount('t'), 1);
  await broker.unsubscribe('t', a);
  assert.equal(broker.subscriberCount('t'), 0);
  await broker.publish('t', 'lost');
  assert.deepEqual(a.texts(), []);
  await broker.unsubscribe('never', a); // harmless
});

test('a throwing subscriber does not stop delivery to the others; a closed broker refuses work', async () => {
  const broker = new InProcessBroker();
  const bad: Subscriber = { deliver: () => { throw new Error('bad'); } };
  const good = new Recorder();
  await broker.subscribe('t', bad);
  await broker.subscribe('t', good);
  await broker.publish('t', 'still delivered');
  assert.deepEqual(good.texts(), ['still delivered']);
  await broker.close();
  await assert.rejects(broker.publish('t', 'x'));
  await assert.rejects(broker.subscribe('t', good));
});
