// The handshake timeout's list of pending sockets (src/server/handshake-deadlines.ts), without sockets: the
// oldest handshake is always first, removal works in any order, and expiry follows accept order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { HandshakeDeadlines, type PendingHandshake } from '../../src/server/handshake-deadlines.js';
import type { WebSocketServer } from '../../src/server/websocket-server.js';

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const fakeSocket = (name: string): Socket => ({ name }) as unknown as Socket;
const nameOf = (pending: PendingHandshake): string => (pending.socket as unknown as { name: string }).name;

test('handshakes removed in any order never expire; the others expire once, oldest first', async () => {
  const expired: string[] = [];
  const deadlines = new HandshakeDeadlines({} as WebSocketServer, 60, (pending) => expired.push(nameOf(pending)));
  const pending = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => deadlines.add(fakeSocket(name)));
  assert.ok(pending[0]!.deadline <= pending[5]!.deadline, 'deadlines follow accept order');
  // Remove the first, a middle one, the last, and one twice: the list stays linked.
  deadlines.remove(pending[0]!);
  deadlines.remove(pending[3]!);
  deadlines.remove(pending[5]!);
  deadlines.remove(pending[3]!);
  const late = deadlines.add(fakeSocket('g')); // after the removals: appended behind the survivors
  await delay(150);
  assert.deepEqual(expired, ['b', 'c', 'e', 'g']);
  // Removing an expired handshake (as its socket's 'close' would) changes nothing.
  deadlines.remove(late);
  deadlines.remove(pending[1]!);
  const again = deadlines.add(fakeSocket('h'));
  deadlines.remove(again);
  await delay(150);
  assert.deepEqual(expired, ['b', 'c', 'e', 'g'], 'nothing expires twice, and a removed handshake never expires');
});

test('a handshake is cut off no earlier than its timeout, and about a sweep period (1/8 of it) later at most', async () => {
  const cutAt: number[] = [];
  const timeout = 200;
  const deadlines = new HandshakeDeadlines({} as WebSocketServer, timeout, () => cutAt.push(performance.now()));
  const started = performance.now();
  deadlines.add(fakeSocket('slow'));
  await delay(timeout * 2);
  assert.equal(cutAt.length, 1);
  const elapsed = cutAt[0]! - started;
  assert.ok(elapsed >= timeout && elapsed < timeout + 150, `cut off after ${elapsed.toFixed(0)} ms`); // one sweep period (25 ms) late at most, plus timer lateness
});
