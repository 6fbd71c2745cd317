/** Server-level tests: real WebSocket clients (the `ws` package) against the chat server on loopback. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteChatStore } from '../../src/chat/sqlite-store.js';
import { newSession } from '../helpers/session.js';
import { TestClient } from './fixtures/client.js';
import { fastLimits, startTestServer, tempDir } from './fixtures/server.js';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { rawConnect, rawStatus, upgradeRequest } from '../../../wireroom/test/helpers/loopback.js';

/** A GET with a chosen Host header (fetch() does not let one set it). */
function fetchWithHost(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { Host: host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A person's public id: 22 base64url characters (a hash of the session, see src/chat/identity.ts). */
const UID = /^[A-Za-z0-9_-]{22}$/;

/** A client with a new session (a new person), or with `cookie`: the same person again (a reconnect, a second tab). */
async function connect(t: { after: (fn: () => void) => void }, url: string, options: { cookie?: string } = {}): Promise<TestClient> {
  const c = await TestClient.connect(url, options);
  t.after(() => c.close());
  return c;
}

test('welcome gives the person\'s uid and the limits; join answers with members and an empty history', async (t) => {
  const server = await startTestServer(t);
  const a = await connect(t, server.url);
  const welcome = a.all[0]!;
  assert.match(welcome.uid ?? '', UID);
  assert.equal(welcome.name, undefined, 'a new session has no name yet');
  assert.deepEqual(welcome.limits, { maxTextLength: 2000, maxNameLength: 32, ratePerSecond: 5, burst: 10, historyPage: 50 });
  assert.match(welcome.server ?? '', /^wireroom\//);
  const joined = await a.join('Lobby', '  Ann\u0007 ');
  assert.equal(joined.room, 'lobby');
  assert.deepEqual(joined.members, [{ uid: a.uid, name: 'Ann' }]);
  assert.deepEqual(joined.messages, []);
  assert.equal(joined.hasMore, false);
  assert.equal(joined.lastId, 0);
  const b = await connect(t, server.url);
  assert.notEqual(b.uid, a.uid);
});

test('history on join is the last 100 messages; older pages on request', async (t) => {
  const dir = tempDir(t);
  const dbPath = join(dir, 'chat.db');
  const seed = SqliteChatStore.open(dbPath);
  await Promise.all(Array.from({ length: 130 }, (_, i) => seed.append({ room: 'r', uid: 'u', name: 'Seed', text: `m${i + 1}`, clientId: `s${i + 1}` })));
  await seed.close();
  const server = await startTestServer(t, { dir, dbPath });
  const a = await connect(t, server.url);
  const joined = await a.join('r', 'Ann');
  assert.deepEqual(joined.messages!.map((m) => m.id), Array.from({ length: 100 }, (_, i) => i + 31));
  assert.equal(joined.hasMore, true);
  assert.equal(joined.lastId, 130);
  assert.deepEqual(joined.messages![0], { room: 'r', id: 31, ts: joined.messages![0]!.ts, uid: 'u', name: 'Seed', text: 'm31', clientId: 's31' });

  a.send({ type: 'history', room: 'r', before: 31 });
  const page1 = await a.next('history');
  assert.deepEqual(page1.messages!.map((m) => m.id), Array.from({ length: 30 }, (_, i) => i + 1), 'default page 50, only 30 exist');
  assert.equal(page1.hasMore, false);
  a.send({ type: 'history', room: 'r', before: 81, limit: 20 });
  const page2 = await a.next('history');
  assert.deepEqual(page2.messages!.map((m) => m.id), Array.from({ length: 20 }, (_, i) => i + 61));
  assert.equal(page2.hasMore, true);
});

test('a message is acked, then broadcast to every member of the room and nobody outside it', async (t) => {
  const server = await startTestServer(t);
  const [a, b, c] = [await connect(t, server.url), await connect(t, server.url), await connect(t, server.url)];
  await a.join('x', 'Ann');
  await b.join('x', 'Bob');
  await c.join('y', 'Cid');
  a.send({ type: 'message', room: 'x', clientId: 'a-1', text: 'hello x' });
  const ack = await a.next('ack');
  assert.deepEqual(ack, { type: 'ack', room: 'x', clientId: 'a-1', id: 1, ts: ack.ts, duplicate: false });
  const own = await a.next('message');
  assert.ok(a.all.indexOf(ack) < a.all.indexOf(own), 'ack comes before the broadcast');
  const atB = await b.next('message');
  for (const m of [own, atB]) {
    assert.deepEqual(m, { type: 'message', room: 'x', id: 1, ts: ack.ts, uid: a.uid, name: 'Ann', text: 'hello x', clientId: 'a-1' });
  }
  await c.barrier();
  await a.barrier();
  assert.deepEqual(c.pending('message'), [], 'room y saw nothing');
  assert.deepEqual(a.pending('message'), [], 'sent once to the sender');
});

test('presence: members see joins and leaves live; typing goes to the others only', async (t) => {
  const server = await startTestServer(t);
  const a = await connect(t, server.url);
  await a.join('p', 'Ann');
  const b = await TestClient.connect(server.url);
  const joinedB = await b.join('p', 'Bob');
  assert.deepEqual(joinedB.members, [{ uid: a.uid, name: 'Ann' }, { uid: b.uid, name: 'Bob' }]);
  const seen = await a.next('presence');
  assert.deepEqual(seen, { type: 'presence', room: 'p', event: 'join', uid: b.uid, name: 'Bob', members: joinedB.members });

  b.send({ type: 'typing', room: 'p' });
  assert.deepEqual(await a.next('typing'), { type: 'typing', room: 'p', uid: b.uid, name: 'Bob' });
  await b.barrier();
  assert.deepEqual(b.pending('typing'), []);
  assert.deepEqual(b.pending('presence'), [], 'own join is not echoed');

  b.send({ type: 'leave', room: 'p' });
  const left = await a.next('presence');
  assert.deepEqual(left, { type: 'presence', room: 'p', event: 'leave', uid: b.uid, name: 'Bob', members: [{ uid: a.uid, name: 'Ann' }] });
  b.send({ type: 'join', room: 'p', name: 'Bob' });
  await a.next('presence', (m) => m.event === 'join');
  b.close(); // closing the connection leaves every room
  const gone = await a.next('presence', (m) => m.event === 'leave');
  assert.equal(gone.uid, b.uid);
});

test('concurrent senders: everyone sees the same order, ids 1..n without gaps', async (t) => {
  const server = await startTestServer(t, { limits: fastLimits });
  const clients = await Promise.all(Array.from({ length: 4 }, () => connect(t, server.url)));
  for (const [i, c] of clients.entries()) await c.join('race', `user${i}`);
  const perClient = 25;
  for (let k = 0; k < perClient; k++) {
    for (const [i, c] of clients.entries()) c.send({ type: 'message', room: 'race', clientId: `c${i}-${k}`, text: `${i}:${k}` });
  }
  const total = perClient * clients.length;
  const orders = await Promise.all(clients.map(async (c) => (await c.take('message', total)).map((m) => `${m.id}|${m.text}`)));
  for (const order of orders.slice(1)) assert.deepEqual(order, orders[0]);
  assert.deepEqual(orders[0]!.map((s) => Number(s.split('|')[0])), Array.from({ length: total }, (_, i) => i + 1));
  for (const [i] of clients.entries()) {
    const mine = orders[0]!.map((s) => s.split('|')[1]!).filter((s) => s.startsWith(`${i}:`));
    assert.deepEqual(mine, Array.from({ length: perClient }, (_, k) => `${i}:${k}`), 'each sender keeps its own order');
  }
});

test('a resend with the same clientId is acked with the original id and neither stored nor broadcast again', async (t) => {
  const server = await startTestServer(t);
  const a = await connect(t, server.url);
  const b = await connect(t, server.url);
  await a.join('d', 'Ann');
  await b.join('d', 'Bob');
  a.send({ type: 'message', room: 'd', clientId: 'same', text: 'once' });
  const first = await a.next('ack');
  a.send({ type: 'message', room: 'd', clientId: 'same', text: 'once' });
  const second = await a.next('ack');
  assert.deepEqual(second, { ...first, duplicate: true });
  // The resend may come on a new connection, after a reconnect.
  const a2 = await connect(t, server.url, { cookie: a.cookie }); // Ann again
  await a2.join('d', 'Ann');
  a2.send({ type: 'message', room: 'd', clientId: 'same', text: 'once' });
  assert.deepEqual(await a2.next('ack'), { ...first, duplicate: true });
  await b.barrier();
  assert.equal(b.all.filter((m) => m.type === 'message').length, 1);
  const fresh = await connect(t, server.url);
  assert.deepEqual((await fresh.join('d', 'Eve')).messages!.map((m) => m.text), ['once']);
});

test('resume after a reconnect: exactly the missed messages, then live ones, no gaps or duplicates', async (t) => {
  const server = await startTestServer(t, { limits: { ...fastLimits, syncPage: 5 } });
  const a = await TestClient.connect(server.url);
  const b = await connect(t, server.url);
  await a.join('z', 'Ann');
  await b.join('z', 'Bob');
  for (let i = 1; i <= 3; i++) b.send({ type: 'message', room: 'z', clientId: `b${i}`, text: `t${i}` });
  const seen = (await a.take('message', 3)).map((m) => m.id!);
  assert.deepEqual(seen, [1, 2, 3]);
  a.close();
  await a.closed;
  for (let i = 4; i <= 11; i++) b.send({ type: 'message', room: 'z', clientId: `b${i}`, text: `t${i}` });
  await b.take('ack', 8);

  const again = await connect(t, server.url, { cookie: a.cookie }); // Ann, reconnected
  const joined = await again.join('z', 'Ann', 3);
  assert.deepEqual(joined.messages!.map((m) => m.id), [4, 5, 6, 7, 8], 'replay is capped at syncPage');
  assert.equal(joined.hasMore, true);
  assert.equal(joined.lastId, 11);
  again.send({ type: 'sync', room: 'z', after: 8 });
  const rest = await again.next('history');
  assert.deepEqual(rest.messages!.map((m) => m.id), [9, 10, 11]);
  assert.equal(rest.hasMore, false);
  b.send({ type: 'message', room: 'z', clientId: 'b12', text: 't12' });
  const live = await again.next('message');
  assert.equal(live.id, 12);
  await again.barrier();
  assert.deepEqual(again.pending('message'), [], 'nothing delivered twice');
});

test('joining while messages are being committed loses none and duplicates none', async (t) => {
  const server = await startTestServer(t, { limits: fastLimits });
  const sender = await connect(t, server.url);
  await sender.join('busy', 'Sender');
  const total = 200;
  const joiners: TestClient[] = [];
  for (let i = 0; i < total; i++) {
    sender.send({ type: 'message', room: 'busy', clientId: `m${i}`, text: `${i}` });
    if (i % 40 === 10) {
      const j = await connect(t, server.url);
      j.send({ type: 'join', room: 'busy', name: `J${i}` });
      joiners.push(j);
    }
  }
  await sender.take('ack', total);
  for (const j of joiners) {
    const joined = await j.next('joined');
    await j.barrier();
    const history = joined.messages!.map((m) => m.id!);
    const live = j.all.filter((m) => m.type === 'message').map((m) => m.id!);
    const all = [...history, ...live];
    // Without `after` the join shows the last 100; from the first one shown on, every id exactly once.
    const first = all[0] ?? 1;
    assert.deepEqual(all, Array.from({ length: total - first + 1 }, (_, k) => first + k));
  }
});

test('rate limit: a burst beyond the bucket gets RATE_LIMITED with retryAfterMs, and nothing is stored for it', async (t) => {
  // One token a second: a loaded machine cannot refill the bucket during the burst unless it takes seconds
  // (and any token that did come back is allowed for below, from the time the burst really took).
  const ratePerSecond = 1;
  const server = await startTestServer(t, { limits: { ratePerSecond, burst: 10 } });
  const a = await connect(t, server.url);
  await a.join('rl', 'Ann');
  const began = Date.now();
  for (let i = 0; i < 15; i++) a.send({ type: 'message', room: 'rl', clientId: `r${i}`, text: `n${i}` });
  const isReply = (m: { type: string; clientId?: string }): boolean => (m.type === 'ack' || m.type === 'error') && /^r\d+$/.test(m.clientId ?? '');
  const deadline = Date.now() + 10_000;
  while (a.all.filter(isReply).length < 15 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const elapsed = Date.now() - began;
  const replies = a.all.filter(isReply);
  assert.equal(replies.length, 15, `one reply per message: ${JSON.stringify(replies.map((m) => [m.type, m.clientId]))}`);
  const acked = replies.filter((m) => m.type === 'ack').map((m) => m.clientId);
  const errors = replies.filter((m) => m.type === 'error');
  // The full bucket passes the first ten; beyond it only what refilled while the burst was being answered.
  assert.deepEqual(acked.slice(0, 10), Array.from({ length: 10 }, (_, i) => `r${i}`));
  const refilled = Math.floor((elapsed / 1000) * ratePerSecond) + 1;
  assert.ok(acked.length <= 10 + refilled, `${acked.length} acked in ${elapsed} ms, at most ${10 + refilled} allowed`);
  assert.ok(errors.length >= 1, `some of the burst is refused (${acked.length} acked in ${elapsed} ms)`);
  for (const e of errors) {
    assert.equal(e.code, 'RATE_LIMITED');
    assert.equal(e.room, 'rl');
    assert.ok(!acked.includes(e.clientId), `${e.clientId} both acked and refused`);
    assert.ok(e.retryAfterMs! > 0 && e.retryAfterMs! <= 1000 / ratePerSecond, `retryAfterMs ${e.retryAfterMs}`);
  }
  await new Promise((r) => setTimeout(r, errors.at(-1)!.retryAfterMs! + 20));
  a.send({ type: 'message', room: 'rl', clientId: 'again', text: 'again' });
  // Nothing was stored for the refused ones: the next id follows the acked messages.
  assert.equal((await a.next('ack', (m) => m.clientId === 'again')).id, acked.length + 1);
  assert.equal(a.ws.readyState, a.ws.OPEN, 'being rate limited does not close the connection');
});

test('size limits: too long text is refused with TOO_LONG; an oversized frame closes with 1009', async (t) => {
  const server = await startTestServer(t);
  const a = await connect(t, server.url);
  await a.join('s', 'Ann');
  a.send({ type: 'message', room: 's', clientId: 'long', text: 'x'.repeat(2001) });
  const e = await a.next('error');
  assert.deepEqual([e.code, e.clientId, e.room], ['TOO_LONG', 'long', 's']);
  a.send({ type: 'message', room: 's', clientId: 'max', text: 'x'.repeat(2000) });
  assert.equal((await a.next('ack')).id, 1);
  a.send({ type: 'message', room: 's', clientId: 'big', text: 'y'.repeat(20_000) });
  assert.equal((await a.next('error')).code, 'TOO_LONG', 'frames above 16 KiB are not parsed');
  a.send('z'.repeat(64 * 1024 + 1));
  assert.equal((await a.closed).code, 1009);
});

test('malformed input gets stable error codes and never breaks the connection; a flood of errors closes it with 1008', async (t) => {
  const server = await startTestServer(t, { limits: fastLimits });
  const a = await connect(t, server.url);
  const cases: Array<[string | Buffer, string]> = [
    ['not json', 'BAD_JSON'],
    ['[1,2]', 'BAD_MESSAGE'],
    ['{"type":"shout"}', 'UNKNOWN_TYPE'],
    ['{"type":"join","room":"a b","name":"x"}', 'BAD_MESSAGE'],
    ['{"type":"message","room":"nowhere","clientId":"c","text":"hi"}', 'NOT_JOINED'],
    ['{"type":"history","room":"nowhere","before":5}', 'NOT_JOINED'],
    [Buffer.from('{"type":"ping"}'), 'BAD_MESSAGE'],
  ];
  for (const [frame, code] of cases) {
    a.ws.send(frame);
    const e = await a.next('error');
    assert.equal(e.code, code, String(frame));
    assert.equal(typeof e.message, 'string');
  }
  await a.barrier();
  const b = await connect(t, server.url);
  for (let i = 0; i < 21; i++) b.send('{');
  const closed = await b.closed;
  assert.equal(closed.code, 1008);
  assert.equal(b.all.filter((m) => m.code === 'BAD_JSON').length, 21);
});

test('a connection may be in at most 8 rooms', async (t) => {
  const server = await startTestServer(t);
  const a = await connect(t, server.url);
  for (let i = 0; i < 8; i++) await a.join(`room${i}`, 'Ann');
  a.send({ type: 'join', room: 'room8', name: 'Ann' });
  const e = await a.next('error');
  assert.deepEqual([e.code, e.room], ['TOO_MANY_ROOMS', 'room8']);
  a.send({ type: 'leave', room: 'room0' });
  await a.join('room8', 'Ann');
});

test('HTML and control characters are stored and echoed verbatim, as text', async (t) => {
  const server = await startTestServer(t);
  const a = await connect(t, server.url);
  await a.join('h', 'Ann');
  const text = '<img src=x onerror=alert(1)> <script>alert(2)</script> &amp; \u0000\u0007\u001b[31m "quoted" \u2028 😀';
  a.send({ type: 'message', room: 'h', clientId: 'html', text });
  assert.equal((await a.next('message')).text, text);
  const b = await connect(t, server.url);
  assert.equal((await b.join('h', 'Bob')).messages![0]!.text, text);
});

test('the Origin check: same origin and listed origins pass, foreign pages are refused', async (t) => {
  const server = await startTestServer(t, { allowedOrigins: ['https://chat.example.com'] });
  const same = await TestClient.connect(server.url, { origin: server.url });
  same.close();
  const listed = await TestClient.connect(server.url, { origin: 'https://chat.example.com' });
  listed.close();
  await assert.rejects(TestClient.connect(server.url, { origin: 'https://evil.example' }), /HTTP 403/);
});

test('DNS rebinding: a foreign Host gets 421 on the page, /metrics, /healthz and the upgrade, even with a matching Origin', async (t) => {
  const server = await startTestServer(t);
  const port = server.port;
  const a = await connect(t, server.url);
  await a.join('secret', 'Ann');
  a.send({ type: 'message', room: 'secret', clientId: 's1', text: 'private' });
  await a.next('ack');
  const evil = `attacker.example:${port}`;
  for (const path of ['/', '/metrics', '/healthz', '/chat.js']) {
    const r = await fetchWithHost(port, path, evil);
    assert.equal(r.status, 421, path);
    assert.match(r.body, /Host not allowed/);
    assert.doesNotMatch(r.body, /private|wireroom_/);
  }
  const up = await rawStatus(port, upgradeRequest('/chat', { Origin: `http://${evil}` }).replace('Host: 127.0.0.1', `Host: ${evil}`));
  assert.equal(up.status, 421);
  assert.doesNotMatch(up.text, /private/);
  // The names of a local server still work.
  assert.equal((await fetchWithHost(port, '/', `localhost:${port}`)).status, 200);
  assert.equal((await fetchWithHost(port, '/healthz', `127.0.0.1:${port}`)).status, 200);
});

test('publicUrl and allowedHosts: the public name is served and its pages may connect; others are still refused', async (t) => {
  const server = await startTestServer(t, { publicUrl: 'https://chat.example.com', allowedHosts: ['.corp.test'] });
  const port = server.port;
  assert.equal((await fetchWithHost(port, '/', 'chat.example.com')).status, 200);
  assert.equal((await fetchWithHost(port, '/', 'chat.corp.test:8443')).status, 200);
  assert.equal((await fetchWithHost(port, '/', 'chat.example.net')).status, 421);
  const { cookie } = await newSession(server.url);
  const behindProxy = upgradeRequest('/chat', { Origin: 'https://chat.example.com', Cookie: cookie }).replace('Host: 127.0.0.1', 'Host: chat.example.com');
  const socket = await rawConnect(port);
  socket.write(behindProxy);
  const [first] = (await once(socket, 'data')) as [Buffer];
  socket.destroy();
  assert.match(first.toString('latin1'), /^HTTP\/1\.1 101/, 'the public origin passes the Origin check too');
});

test('messages survive a restart', async (t) => {
  const dir = tempDir(t);
  const first = await startTestServer(t, { dir });
  const a = await TestClient.connect(first.url);
  await a.join('keep', 'Ann');
  for (let i = 0; i < 5; i++) a.send({ type: 'message', room: 'keep', clientId: `k${i}`, text: `kept ${i}` });
  await a.take('ack', 5);
  await first.close();
  const second = await startTestServer(t, { dir });
  const b = await connect(t, second.url);
  const joined = await b.join('keep', 'Bob');
  assert.deepEqual(joined.messages!.map((m) => m.text), ['kept 0', 'kept 1', 'kept 2', 'kept 3', 'kept 4']);
  b.send({ type: 'message', room: 'keep', clientId: 'k5', text: 'after restart' });
  assert.equal((await b.next('ack')).id, 6);
});

test('graceful shutdown: messages in flight are stored and acked, then clients get the close code', async (t) => {
  const server = await startTestServer(t, { limits: fastLimits });
  const a = await TestClient.connect(server.url);
  await a.join('bye', 'Ann');
  for (let i = 0; i < 20; i++) a.send({ type: 'message', room: 'bye', clientId: `g${i}`, text: `${i}` });
  await a.next('ack'); // the first batch is committed; the rest are in flight or still in the socket
  await server.close({ code: 1012 });
  const closed = await a.closed;
  assert.equal(closed.code, 1012);
  const acked = a.all.filter((m) => m.type === 'ack').map((m) => m.clientId);
  const store = SqliteChatStore.open(server.dbPath);
  const stored = (await store.latest('bye', 100)).messages.map((m) => m.clientId);
  await store.close();
  for (const id of acked) assert.ok(stored.includes(id!), `acked ${id} is stored`);
  // What was stored but not acked would be deduplicated on resend: never lost, never doubled.
  assert.ok(acked.length >= 1);
});

test('replies are cut to the byte budget with hasMore, and paging continues without gaps', async (t) => {
  const server = await startTestServer(t, { limits: { ...fastLimits, maxReplyBytes: 8 * 1024 } });
  const a = await connect(t, server.url);
  await a.join('big', 'Ann');
  for (let i = 1; i <= 20; i++) a.send({ type: 'message', room: 'big', clientId: `b${i}`, text: `${i} ${'w'.repeat(1990)}` });
  await a.take('ack', 20);
  const b = await connect(t, server.url);
  const joined = await b.join('big', 'Bob');
  const shown = joined.messages!.map((m) => m.id!);
  assert.ok(shown.length >= 1 && shown.length < 20, `${shown.length} shown`);
  assert.equal(shown[shown.length - 1], 20, 'the newest are shown');
  assert.equal(joined.hasMore, true);
  const c = await connect(t, server.url);
  const seen: number[] = [];
  let page = await c.join('big', 'Cid', 0);
  for (;;) {
    seen.push(...page.messages!.map((m) => m.id!));
    if (!page.hasMore) break;
    c.send({ type: 'sync', room: 'big', after: seen[seen.length - 1] });
    page = await c.next('history');
  }
  assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => i + 1));
});

test('storage unavailable: the sender gets STORAGE_UNAVAILABLE, nothing is stored or broadcast, a resend works later', async (t) => {
  const dir = tempDir(t);
  const dbPath = join(dir, 'chat.db');
  const store = SqliteChatStore.open(dbPath, { busyTimeoutMs: 50 });
  const server = await startTestServer(t, { dir, dbPath, store });
  const a = await connect(t, server.url);
  const b = await connect(t, server.url);
  await a.join('db', 'Ann');
  await b.join('db', 'Bob');
  // Another process holds the write lock: a real SQLITE_BUSY, not a fake store.
  const { createRequire } = await import('node:module');
  const Driver = createRequire(import.meta.url)('better-sqlite3') as new (p: string) => { exec(sql: string): void; close(): void };
  const locker = new Driver(dbPath);
  t.after(() => locker.close());
  locker.exec('BEGIN IMMEDIATE');
  a.send({ type: 'message', room: 'db', clientId: 'busy-1', text: 'first try' });
  const e = await a.next('error');
  assert.deepEqual([e.code, e.clientId, e.room], ['STORAGE_UNAVAILABLE', 'busy-1', 'db']);
  locker.exec('COMMIT');
  a.send({ type: 'message', room: 'db', clientId: 'busy-1', text: 'first try' });
  const ack = await a.next('ack');
  assert.deepEqual([ack.id, ack.duplicate], [1, false]);
  assert.equal((await b.next('message')).clientId, 'busy-1');
  await b.barrier();
  assert.equal(b.all.filter((m) => m.type === 'message').length, 1);
});

test('retention: joined, history and sync say oldestId, so a client knows older history is gone at the trimmed edge', async (t) => {
  const server = await startTestServer(t, { limits: fastLimits, retention: { historyLimit: 20 } });
  const a = await connect(t, server.url);
  const fresh = await a.join('r', 'Ann');
  assert.equal(fresh.oldestId, 1, 'an empty room: nothing gone');
  for (let i = 1; i <= 50; i++) a.send({ type: 'message', room: 'r', clientId: `k${i}`, text: `m${i}` });
  for (let i = 1; i <= 50; i++) await a.next('ack');

  const b = await connect(t, server.url);
  const joined = await b.join('r', 'Bob');
  assert.deepEqual(joined.messages!.map((m) => m.id), Array.from({ length: 20 }, (_, i) => 31 + i));
  assert.equal(joined.hasMore, false, 'no older page to ask for');
  assert.equal(joined.oldestId, 31, '... because 1-30 are no longer kept');
  assert.equal(joined.lastId, 50);
  b.send({ type: 'history', room: 'r', before: 31, limit: 50 });
  assert.deepEqual(await b.next('history'), { type: 'history', room: 'r', messages: [], hasMore: false, oldestId: 31 });

  // Resuming from before the edge: the page starts at oldestId, above after + 1: ids in between are gone.
  const c = await connect(t, server.url);
  const resumed = await c.join('r', 'Cid', 10);
  assert.equal(resumed.oldestId, 31);
  assert.equal(resumed.messages![0]!.id, 31);
  assert.equal(resumed.messages!.length, 20);
  c.send({ type: 'sync', room: 'r', after: 5, limit: 3 });
  const sync = await c.next('history');
  assert.deepEqual(sync.messages!.map((m) => m.id), [31, 32, 33]);
  assert.equal(sync.hasMore, true);
  assert.equal(sync.oldestId, 31);
});
