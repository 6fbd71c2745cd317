import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket, SlidingWindowCounter } from '../../src/chat/rate-limit.js';

test('token bucket allows a burst, then the sustained rate', () => {
  let now = 1_000;
  const bucket = new TokenBucket(5, 10, () => now);
  for (let i = 0; i < 10; i++) assert.equal(bucket.tryTake(), true, `burst ${i}`);
  assert.equal(bucket.tryTake(), false);
  assert.equal(bucket.msUntilNext(), 200);
  now += 199;
  assert.equal(bucket.tryTake(), false);
  assert.equal(bucket.msUntilNext(), 1);
  now += 1;
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), false);
  now += 60_000; // refill is capped at the capacity
  let taken = 0;
  while (bucket.tryTake()) taken++;
  assert.equal(taken, 10);
});

test('token bucket ignores a clock going backwards', () => {
  let now = 5_000;
  const bucket = new TokenBucket(1, 1, () => now);
  assert.equal(bucket.tryTake(), true);
  now -= 10_000;
  assert.equal(bucket.tryTake(), false);
  now += 10_000 + 1000;
  assert.equal(bucket.tryTake(), true);
});

test('sliding window trips on the (max+1)th event within the window only', () => {
  let now = 0;
  const w = new SlidingWindowCounter(3, 1000, () => now);
  assert.equal(w.record(), false);
  now = 100; assert.equal(w.record(), false);
  now = 200; assert.equal(w.record(), false);
  now = 999; assert.equal(w.record(), true, '4 events within 1000 ms');
  now = 1201; assert.equal(w.record(), false, 'the oldest of the last 4 (100) is 1101 ms old');
  const slow = new SlidingWindowCounter(3, 1000, () => now);
  for (let i = 0; i < 20; i++) { now += 400; assert.equal(slow.record(), false, `slow ${i}`); }
});
