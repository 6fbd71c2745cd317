/**
 * Names in the trusted-proxy mode, over real sockets: the login is the name (no renames, no other name on
 * join), two logins that fold together get distinct names, a name taken before cannot impersonate a login,
 * and UTF-8 logins arrive intact (invalid UTF-8 is refused at the handshake).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rawStatus, upgradeRequest } from '../../../wireroom/test/helpers/loopback.js';
import { join } from 'node:path';
import { uidOfProxyUser } from '../../src/chat/identity.js';
import { SqliteChatStore } from '../../src/chat/sqlite-store.js';
import { TestClient } from './fixtures/client.js';
import { startTestServer, tempDir } from './fixtures/server.js';

type T = { after: (fn: () => void | Promise<void>) => void };

const PROXY = { trustUserHeader: { header: 'x-forwarded-user', trustedProxies: ['127.0.0.1', '::1'] } };

/** The header value as a proxy sends it: the login's UTF-8 bytes (Node writes header strings as Latin-1). */
function headerValue(login: string): string {
  return Buffer.from(login, 'utf8').toString('latin1');
}

async function asUser(t: T, url: string, login: string): Promise<TestClient> {
  const c = await TestClient.connect(url, { headers: { 'X-Forwarded-User': headerValue(login) } });
  t.after(() => c.close());
  return c;
}

function welcomeOf(c: TestClient): { name?: string; renamable?: boolean } {
  return c.all.find((m) => m.type === 'welcome')!;
}

test('proxy mode: the login is the name; rename and join with another name are refused with RENAME_DISABLED', async (t) => {
  const server = await startTestServer(t, PROXY);
  const alice = await asUser(t, server.url, 'alice');
  assert.equal(alice.welcomeName, 'alice');
  assert.equal(welcomeOf(alice).renamable, false);
  for (const name of ['bob', 'Alice ', 'ALICE', 'someone else']) {
    alice.send({ type: 'rename', name });
    const err = await alice.next('error');
    assert.equal(err.code, 'RENAME_DISABLED', `rename ${JSON.stringify(name)}`);
    assert.match(err.message!, /login/);
    alice.send({ type: 'join', room: 'r', name });
    const joinErr = await alice.next('error');
    assert.equal(joinErr.code, 'RENAME_DISABLED', `join ${JSON.stringify(name)}`);
    assert.equal(joinErr.room, 'r');
  }
  await alice.barrier();
  assert.deepEqual(alice.pending('joined'), [], 'never joined under another name');
  assert.deepEqual(alice.pending('renamed'), []);
  // Its own name is fine, with or without `name`.
  alice.send({ type: 'rename', name: 'alice' });
  assert.deepEqual(await alice.next('renamed'), { type: 'renamed', uid: alice.uid, name: 'alice' });
  const joined = await alice.join('r', 'alice');
  assert.deepEqual(joined.members!.map((m) => m.name), ['alice']);
  // bob, who has not visited yet, still gets his login on his first visit.
  const bob = await asUser(t, server.url, 'bob');
  assert.equal(bob.welcomeName, 'bob');
});

test('proxy mode: a login that folds to another login gets its login plus a suffix of its uid, never the other one\'s name', async (t) => {
  const server = await startTestServer(t, PROXY);
  // 'Ｂｏｂ' (full width) connects first and folds to 'bob': it takes its own login.
  const first = await asUser(t, server.url, 'Ｂｏｂ');
  assert.equal(first.welcomeName, 'Ｂｏｂ');
  first.send({ type: 'rename', name: 'bob' });
  assert.equal((await first.next('error')).code, 'RENAME_DISABLED');
  // The real bob: his login's key is held, so he is 'bob~' + 6 characters of his uid.
  const bob = await asUser(t, server.url, 'bob');
  assert.notEqual(bob.uid, first.uid);
  assert.equal(bob.welcomeName, `bob~${bob.uid.slice(2, 8)}`);
  assert.equal(welcomeOf(bob).renamable, false);
  const again = await asUser(t, server.url, 'bob');
  assert.equal(again.welcomeName, bob.welcomeName, 'stable across connections');
  const room = await bob.join('x', bob.welcomeName!);
  assert.deepEqual(room.members!.map((m) => m.name), [bob.welcomeName]);
  const joinedFirst = await first.join('x', 'Ｂｏｂ');
  assert.deepEqual(joinedFirst.members!.map((m) => m.name).sort(), ['Ｂｏｂ', bob.welcomeName].sort());
  // A third login folding together ('BOB') gets yet another distinct name.
  const third = await asUser(t, server.url, 'BOB');
  assert.equal(third.welcomeName, `BOB~${third.uid.slice(2, 8)}`);
});

test('proxy mode: a name taken before names came from logins does not impersonate: the login gets a suffix until it is released', async (t) => {
  const dir = tempDir(t);
  // Session mode on the same database: someone takes "carol" (as anyone could before this mode).
  const sessions = await startTestServer(t, { dir });
  const squatter = await TestClient.connect(sessions.url);
  await squatter.join('r', 'carol');
  squatter.close();
  await sessions.close();

  const server = await startTestServer(t, { dir, ...PROXY });
  const carol = await asUser(t, server.url, 'carol');
  assert.equal(carol.welcomeName, `carol~${carol.uid.slice(2, 8)}`);
  carol.close();
  await server.close();

  // A login holding another login's name (taken by a rename before names came from logins): its next
  // connection gives it its own login back, and the name is free for its owner.
  const store = SqliteChatStore.open(join(dir, 'chat.db'));
  assert.equal((await store.claimName(uidOfProxyUser('mallory'), 'erin')).ok, true);
  await store.close();
  const again = await startTestServer(t, { dir, ...PROXY });
  const erin = await asUser(t, again.url, 'erin');
  assert.equal(erin.welcomeName, `erin~${erin.uid.slice(2, 8)}`);
  const mallory = await asUser(t, again.url, 'mallory');
  assert.equal(mallory.welcomeName, 'mallory');
  const erin2 = await asUser(t, again.url, 'erin');
  assert.equal(erin2.uid, erin.uid);
  assert.equal(erin2.welcomeName, 'erin');
  // erin's first connection, still open, is told as after a rename in another tab.
  assert.deepEqual(await erin.next('renamed', (m) => m.name === 'erin'), { type: 'renamed', uid: erin.uid, name: 'erin', previous: erin.welcomeName });
});

test('proxy mode: UTF-8 logins arrive intact; invalid UTF-8 is refused with 401 and the reason', async (t) => {
  const server = await startTestServer(t, PROXY);
  for (const login of ['José', 'Zoë 🙂', '山田太郎']) {
    const c = await asUser(t, server.url, login);
    assert.equal(c.welcomeName, login);
    const joined = await c.join(`u${c.uid.slice(2, 8).toLowerCase()}`, login);
    assert.deepEqual(joined.members!.map((m) => m.name), [login]);
    const again = await asUser(t, server.url, login);
    assert.equal(again.uid, c.uid, 'the same person on every connection');
  }
  const ascii = await asUser(t, server.url, 'Jose');
  assert.notEqual(ascii.welcomeName, 'José');
  const request = Buffer.concat([
    Buffer.from(upgradeRequest('/chat', {}).slice(0, -2), 'latin1'),
    Buffer.from('X-Forwarded-User: Jos\xe9\r\n\r\n', 'latin1'), // Latin-1 'José': not UTF-8
  ]);
  const { status, text } = await rawStatus(server.port, request);
  assert.equal(status, 401);
  assert.match(text, /Invalid x-forwarded-user \(not UTF-8\)/);
});

test('session mode is unchanged: welcome says renamable, and a person renames', async (t) => {
  const server = await startTestServer(t);
  const c = await TestClient.connect(server.url);
  t.after(() => c.close());
  assert.equal(welcomeOf(c).renamable, true);
  await c.join('s', 'First');
  c.send({ type: 'rename', name: 'Second' });
  assert.deepEqual(await c.next('renamed', (m) => m.name === 'Second'), { type: 'renamed', uid: c.uid, name: 'Second', previous: 'First' });
  const other = await c.join('s2', 'Third');
  assert.deepEqual(other.members!.map((m) => m.name), ['Third']);
});
