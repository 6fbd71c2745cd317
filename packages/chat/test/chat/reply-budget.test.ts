import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitPage } from '../../src/chat/reply-budget.js';
import type { ChatMessage } from '../../src/chat/protocol.js';

const msg = (id: number, text = 'x'.repeat(100)): ChatMessage => ({ room: 'r', id, ts: 1, uid: 'u', name: 'n', text, clientId: `c${id}` });
const page = (n: number) => ({ messages: Array.from({ length: n }, (_, i) => msg(i + 1)), hasMore: false, lastId: n, oldestId: 1 });
const size = Buffer.byteLength(JSON.stringify(msg(5))) + 1;

test('a page within the budget is returned as it is', () => {
  const p = page(5);
  assert.equal(fitPage(p, 10 * size, 'oldest'), p);
  assert.equal(fitPage(p, 10 * size, 'newest'), p);
});

test('forward pages keep the oldest, backward pages the newest, and say hasMore', () => {
  const forward = fitPage(page(10), 3 * size + 5, 'oldest');
  assert.deepEqual(forward.messages.map((m) => m.id), [1, 2, 3]);
  assert.equal(forward.hasMore, true);
  assert.equal(forward.lastId, 10);
  const backward = fitPage(page(10), 3 * size + 5, 'newest');
  assert.deepEqual(backward.messages.map((m) => m.id), [8, 9, 10]);
  assert.equal(backward.hasMore, true);
});

test('one message is always kept, however large', () => {
  const big = { messages: [msg(1, 'y'.repeat(5000)), msg(2, 'y'.repeat(5000))], hasMore: false, lastId: 2, oldestId: 1 };
  assert.deepEqual(fitPage(big, 100, 'oldest').messages.map((m) => m.id), [1]);
  assert.deepEqual(fitPage(big, 100, 'newest').messages.map((m) => m.id), [2]);
});

test('escaped characters are counted as sent', () => {
  const control = { messages: [msg(1, '\u0000'.repeat(100)), msg(2, '\u0000'.repeat(100))], hasMore: false, lastId: 2, oldestId: 1 };
  assert.equal(fitPage(control, 2 * (100 + 150), 'oldest').messages.length, 1, '100 NULs take 600 bytes as JSON');
});
