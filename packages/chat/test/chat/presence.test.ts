/** In-process presence: people, not connections. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessPresence } from '../../src/chat/presence.js';

test('two connections of one person are one member; the person leaves with the last one', async () => {
  const p = new InProcessPresence();
  assert.deepEqual(await p.join('r', { uid: 'ann', name: 'Ann' }, 'tab1', 100), { members: [{ uid: 'ann', name: 'Ann' }], changed: true });
  assert.deepEqual(await p.join('r', { uid: 'ann', name: 'Ann' }, 'tab2', 100), { members: [{ uid: 'ann', name: 'Ann' }], changed: false });
  assert.equal((await p.join('r', { uid: 'bob', name: 'Bob' }, 'tab3', 100)).changed, true);
  assert.deepEqual(await p.join('r', { uid: 'ann', name: 'Annie' }, 'tab1', 100), { members: [{ uid: 'ann', name: 'Annie' }, { uid: 'bob', name: 'Bob' }], changed: false }, 'a rename keeps the place');
  assert.deepEqual(await p.leave('r', 'ann', 'tab1', 100), { members: [{ uid: 'ann', name: 'Annie' }, { uid: 'bob', name: 'Bob' }], changed: false });
  assert.deepEqual(await p.leave('r', 'ann', 'tab1', 100), { members: [{ uid: 'ann', name: 'Annie' }, { uid: 'bob', name: 'Bob' }], changed: false }, 'leaving twice is harmless');
  assert.deepEqual(await p.leave('r', 'ann', 'tab2', 100), { members: [{ uid: 'bob', name: 'Bob' }], changed: true });
  assert.deepEqual(await p.leave('r', 'bob', 'tab3', 100), { members: [], changed: true });
  assert.equal(p.roomCount, 0, 'empty rooms are forgotten');
});
