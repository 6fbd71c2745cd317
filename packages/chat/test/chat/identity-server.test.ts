/**
 * Who is speaking, end to end over real sockets: sessions issued by the server, refusals at the handshake with
 * their HTTP status, owned names, server-stamped messages, renames, presence per person, the proxy mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { rawStatus, upgradeRequest } from '../../../wireroom/test/helpers/loopback.js';
import { SESSION_COOKIE } from '../../src/chat/server.js';
import { newSession } from '../helpers/session.js';
import { TestClient } from './fixtures/client.js';
import { startTestServer, tempDir } from './fixtures/server.js';

type T = { after: (fn: () => void | Promise<void>) => void };

async function connect(t: T, url: string, options: { cookie?: string; origin?: string } = {}): Promise<TestClient> {
  const c = await TestClient.connect(url, options);
  t.after(() => c.close());
  return c;
}

/** The HTTP answer to a WebSocket upgrade of /chat with these headers (status and body). */
async function upgradeStatus(port: number, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const { status, text } = await rawStatus(port, upgradeRequest('/chat', headers));
  return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

const UID = /^[A-Za-z0-9_-]{22}$/;

test('the page and POST /session issue a signed HttpOnly session cookie; an upgrade without a valid one is refused with 401 and the reason', async (t) => {
  const server = await startTestServer(t);
  const page = await fetch(`${server.url}/`);
  assert.equal(page.status, 200);
  const setCookie = page.headers.get('set-cookie') ?? '';
  assert.match(setCookie, new RegExp(`^${SESSION_COOKIE}=[^;]+;`));
  for (const attribute of [/HttpOnly/i, /SameSite=Lax/i, /Path=\//i, /Max-Age=2592000/i]) assert.match(setCookie, attribute);
  assert.doesNotMatch(setCookie, /Secure/i, 'plain http: not Secure');
  const cookie = setCookie.split(';')[0]!;
  const again = await fetch(`${server.url}/`, { headers: { Cookie: cookie } });
  assert.equal(again.headers.get('set-cookie'), null, 'a fresh valid cookie is not reissued');

  const session = await newSession(server.url);
  assert.match(session.uid, UID);
  const viaPage = await connect(t, server.url, { cookie });
  assert.match(viaPage.uid, UID);
  assert.notEqual(viaPage.uid, session.uid);

  const port = server.port;
  const value = cookie.slice(SESSION_COOKIE.length + 1);
  // A forged signature: the last character of the cookie changed.
  const forged = value.slice(0, -1) + (value.endsWith('A') ? 'B' : 'A');
  const cases: Array<[Record<string, string>, number, RegExp]> = [
    [{}, 401, /No session cookie/],
    [{ Cookie: 'other=1' }, 401, /No session cookie/],
    [{ Cookie: `${SESSION_COOKIE}=garbage` }, 401, /Malformed session cookie|Invalid session signature/],
    [{ Cookie: `${SESSION_COOKIE}=${forged}` }, 401, /Invalid session signature|Malformed session cookie/],
  ];
  for (const [headers, status, reason] of cases) {
    const answer = await upgradeStatus(port, headers);
    assert.equal(answer.status, status, JSON.stringify(headers));
    assert.match(answer.body, reason, JSON.stringify(headers));
  }
  const accepted = await connect(t, server.url, { cookie });
  assert.equal(accepted.uid, viaPage.uid, 'the real one is accepted');
});

test('POST /session: JSON id and cookie; an existing valid session is returned, not replaced; foreign origins and other methods refused', async (t) => {
  const server = await startTestServer(t);
  const first = await newSession(server.url);
  const same = await newSession(server.url, { Cookie: first.cookie });
  assert.equal(same.uid, first.uid, 'a valid cookie keeps its session');
  assert.equal(same.setCookie, undefined, 'and a fresh one is not even reissued');
  const evil = await fetch(`${server.url}/session`, { method: 'POST', headers: { Origin: 'https://evil.example', Cookie: first.cookie } });
  assert.equal(evil.status, 403);
  assert.equal(evil.headers.get('set-cookie'), null);
  assert.equal((await fetch(`${server.url}/session`)).status, 405);
  const sameOrigin = await fetch(`${server.url}/session`, { method: 'POST', headers: { Origin: server.url } });
  assert.equal(sameOrigin.status, 200);
  assert.match(((await sameOrigin.json()) as { id: string }).id, UID);
});

test('an expired session cookie is refused with 401 Session expired', async (t) => {
  const server = await startTestServer(t, { sessionMaxAgeSeconds: 1 });
  const session = await newSession(server.url);
  const fresh = await TestClient.connect(server.url, { cookie: session.cookie });
  assert.equal(fresh.uid, session.uid, 'accepted while valid');
  fresh.close();
  await new Promise((r) => setTimeout(r, 2500));
  const answer = await upgradeStatus(server.port, { Cookie: session.cookie });
  assert.equal(answer.status, 401);
  assert.match(answer.body, /Session expired/);
});

test('secret rotation: a new first key keeps old sessions; once the old key is removed their cookies are refused', async (t) => {
  const dir = tempDir(t);
  const dbPath = join(dir, 'chat.db');
  const secretFile = join(dir, 'keys');
  const oldKey = randomBytes(32).toString('base64url');
  const newKey = randomBytes(32).toString('base64url');
  writeFileSync(secretFile, `${oldKey}\n`, { mode: 0o600 });
  const run = async (): Promise<Awaited<ReturnType<typeof startTestServer>>> => startTestServer(t, { dir, dbPath, secretFile });

  let server = await run();
  const session = await newSession(server.url);
  const ann = await TestClient.connect(server.url, { cookie: session.cookie });
  await ann.join('r', 'Ann');
  ann.close();
  await server.close();

  writeFileSync(secretFile, `${newKey}\n${oldKey}\n`);
  server = await run();
  const back = await TestClient.connect(server.url, { cookie: session.cookie });
  assert.equal(back.uid, session.uid, 'still verified by the old key');
  assert.equal(back.welcomeName, 'Ann');
  back.close();
  const renewed = await fetch(`${server.url}/`, { headers: { Cookie: session.cookie } });
  const fresh = (renewed.headers.get('set-cookie') ?? '').split(';')[0]!;
  assert.ok(fresh.startsWith(`${SESSION_COOKIE}=`) && fresh !== session.cookie, 'the page re-signs it with the new key');
  await server.close();

  writeFileSync(secretFile, `${newKey}\n`); // the old key retired
  server = await run();
  const refused = await upgradeStatus(server.port, { Cookie: session.cookie });
  assert.equal(refused.status, 401);
  assert.match(refused.body, /Invalid session signature/);
  const resigned = await TestClient.connect(server.url, { cookie: fresh });
  t.after(() => resigned.close());
  assert.equal(resigned.uid, session.uid, 'the cookie re-signed during the rotation is still the same person');
  assert.equal(resigned.welcomeName, 'Ann');
});

test('the generated secret: 0600 next to the database, reused after a restart; a group-readable one stops the start', async (t) => {
  const dir = tempDir(t);
  const dbPath = join(dir, 'data', 'chat.db');
  let server = await startTestServer(t, { dir, dbPath });
  const secret = join(dir, 'data', 'session-secret');
  if (process.platform !== 'win32') assert.equal(statSync(secret).mode & 0o777, 0o600);
  const session = await newSession(server.url);
  const a = await TestClient.connect(server.url, { cookie: session.cookie });
  await a.join('r', 'Zed');
  a.close();
  await server.close();
  server = await startTestServer(t, { dir, dbPath });
  const again = await TestClient.connect(server.url, { cookie: session.cookie });
  assert.equal(again.uid, session.uid, 'restart: same secret, same person');
  assert.equal(again.welcomeName, 'Zed', 'and the same name');
  again.close();
  await server.close();
  if (process.platform === 'win32') return;
  chmodSync(secret, 0o640);
  await assert.rejects(startTestServer(t, { dir, dbPath }), /group or others.*chmod 600/);
});

test('names are owned: another session cannot take a look-alike, by join or rename; the owner may', async (t) => {
  const server = await startTestServer(t);
  const alice = await connect(t, server.url);
  await alice.join('n', 'Alice');
  const mallory = await connect(t, server.url);
  for (const name of ['Alice', 'ALICE', 'alice', 'Ａｌｉｃｅ', 'Ali\u200Bce', 'A\u00ADlice']) {
    mallory.send({ type: 'join', room: 'n', name });
    const err = await mallory.next('error');
    assert.equal(err.code, 'NAME_TAKEN', JSON.stringify(name));
    assert.equal(err.room, 'n');
    mallory.send({ type: 'rename', name });
    assert.equal((await mallory.next('error')).code, 'NAME_TAKEN', `rename ${JSON.stringify(name)}`);
  }
  mallory.send({ type: 'join', room: 'n' });
  assert.equal((await mallory.next('error')).code, 'INVALID_NAME', 'no name yet and none asked for');
  mallory.send({ type: 'rename', name: '\u200B\u2060' });
  assert.equal((await mallory.next('error')).code, 'INVALID_NAME');
  await mallory.barrier();
  assert.deepEqual(mallory.pending('joined'), [], 'never joined');
  assert.deepEqual(mallory.pending('renamed'), []);
  alice.send({ type: 'rename', name: 'ALICE' });
  assert.deepEqual(await alice.next('renamed', (m) => m.name === 'ALICE'), { type: 'renamed', uid: alice.uid, name: 'ALICE', previous: 'Alice' });
});

test('messages are stamped by the server: forged uid and name fields are ignored', async (t) => {
  const server = await startTestServer(t);
  const alice = await connect(t, server.url);
  await alice.join('f', 'Alice');
  const mallory = await connect(t, server.url);
  await mallory.join('f', 'Mallory');
  mallory.send({ type: 'message', room: 'f', clientId: 'm1', text: 'I am Alice', uid: alice.uid, name: 'Alice', from: 'Alice', user: alice.uid });
  const seen = await alice.next('message');
  assert.equal(seen.uid, mallory.uid);
  assert.equal(seen.name, 'Mallory');
  const history = await (await connect(t, server.url)).join('f', 'Reader');
  assert.deepEqual(history.messages!.map((m) => [m.uid, m.name, m.text]), [[mallory.uid, 'Mallory', 'I am Alice']]);
});

test('reconnects keep the person: same uid, same name, no new join needed for the name; a server restart too', async (t) => {
  const dir = tempDir(t);
  const dbPath = join(dir, 'chat.db');
  let server = await startTestServer(t, { dir, dbPath });
  const first = await TestClient.connect(server.url);
  assert.equal(first.welcomeName, undefined, 'a new session has no name');
  await first.join('k', 'Kim');
  first.send({ type: 'message', room: 'k', clientId: 'k1', text: 'before' });
  await first.next('ack');
  first.close();
  await first.closed;
  const second = await TestClient.connect(server.url, { cookie: first.cookie });
  assert.equal(second.uid, first.uid);
  assert.equal(second.welcomeName, 'Kim');
  const joined = await new Promise<Awaited<ReturnType<TestClient['next']>>>((resolve, reject) => {
    second.send({ type: 'join', room: 'k' });
    second.next('joined').then(resolve, reject);
  });
  assert.deepEqual(joined.members, [{ uid: first.uid, name: 'Kim' }]);
  second.close();
  await server.close();
  server = await startTestServer(t, { dir, dbPath });
  const third = await connect(t, server.url, { cookie: first.cookie });
  assert.equal(third.uid, first.uid);
  assert.equal(third.welcomeName, 'Kim');
  const other = await connect(t, server.url);
  other.send({ type: 'join', room: 'k', name: 'kim' });
  assert.equal((await other.next('error')).code, 'NAME_TAKEN', 'still owned after the restart');
});

test('two connections of one session are one member; the person leaves with the last; a rename reaches both tabs and the room', async (t) => {
  const server = await startTestServer(t);
  const watcher = await connect(t, server.url);
  await watcher.join('two', 'Watcher');
  const tab1 = await connect(t, server.url);
  await tab1.join('two', 'Pat');
  const arrival = await watcher.next('presence');
  assert.equal(arrival.event, 'join');
  const tab2 = await TestClient.connect(server.url, { cookie: tab1.cookie });
  assert.equal(tab2.uid, tab1.uid);
  assert.equal(tab2.welcomeName, 'Pat');
  tab2.send({ type: 'join', room: 'two' });
  const joined2 = await tab2.next('joined');
  assert.deepEqual(joined2.members, [{ uid: watcher.uid, name: 'Watcher' }, { uid: tab1.uid, name: 'Pat' }], 'one entry for Pat');
  await watcher.barrier();
  assert.deepEqual(watcher.pending('presence'), [], 'the second tab is no new arrival');

  tab1.send({ type: 'rename', name: 'Patricia' });
  assert.deepEqual(await tab1.next('renamed', (m) => m.name === 'Patricia'), { type: 'renamed', uid: tab1.uid, name: 'Patricia', previous: 'Pat' });
  assert.deepEqual(await tab2.next('renamed'), { type: 'renamed', uid: tab1.uid, name: 'Patricia', previous: 'Pat' }, 'the other tab learns it');
  const announced = { type: 'rename', room: 'two', uid: tab1.uid, from: 'Pat', to: 'Patricia' };
  assert.deepEqual(await watcher.next('rename'), announced);
  assert.deepEqual(await tab1.next('rename'), announced);
  tab2.send({ type: 'message', room: 'two', clientId: 't2', text: 'from tab 2' });
  assert.equal((await watcher.next('message')).name, 'Patricia', 'the other tab sends under the new name');
  const newcomer = await connect(t, server.url);
  newcomer.send({ type: 'join', room: 'two', name: 'Pat' });
  assert.equal((await newcomer.next('joined')).room, 'two', 'the old name is free again');

  tab1.close();
  await tab1.closed;
  await watcher.barrier();
  await newcomer.barrier();
  assert.deepEqual(watcher.pending('presence').filter((p) => p.uid === tab1.uid), [], 'no leave while tab 2 is open');
  tab2.close();
  const left = await watcher.next('presence', (p) => p.event === 'leave');
  assert.equal(left.uid, tab1.uid);
  assert.equal(left.name, 'Patricia');
  assert.deepEqual(left.members!.map((m) => m.name), ['Watcher', 'Pat']);
});

test('trusted header mode: the proxy user is the person (name defaults to it); an untrusted peer gets 403, a missing header 401', async (t) => {
  const trusted = await startTestServer(t, { trustUserHeader: { header: 'x-forwarded-user', trustedProxies: ['127.0.0.1', '::1'] } });
  const ok = await TestClient.connect(trusted.url, { cookie: 'x=1' }).catch((e: unknown) => e);
  assert.ok(ok instanceof Error && /401/.test(ok.message), 'no header: refused');
  const missing = await upgradeStatus(trusted.port, {});
  assert.equal(missing.status, 401);
  assert.match(missing.body, /Missing x-forwarded-user/i);
  const { default: WebSocket } = await import('ws');
  const open = (user: string): Promise<{ uid: string; name?: string }> => new Promise((resolve, reject) => {
    const ws = new WebSocket(`${trusted.url.replace('http', 'ws')}/chat`, { headers: { 'X-Forwarded-User': user } });
    ws.once('message', (d) => { resolve(JSON.parse(String(d)) as { uid: string; name?: string }); ws.close(); });
    ws.once('error', reject);
  });
  const alice1 = await open('alice@example.com');
  const alice2 = await open('alice@example.com');
  assert.equal(alice1.name, 'alice@example.com');
  assert.equal(alice2.uid, alice1.uid, 'stable per user');
  assert.match(alice1.uid, /^p_/);
  assert.notEqual((await open('bob@example.com')).uid, alice1.uid);
  assert.equal((await fetch(`${trusted.url}/session`, { method: 'POST' })).status, 404, 'no sessions in this mode');
  assert.equal((await fetch(`${trusted.url}/`)).headers.get('set-cookie'), null);

  const elsewhere = await startTestServer(t, { trustUserHeader: { header: 'x-forwarded-user', trustedProxies: ['10.0.0.0/8'] } });
  const spoofed = await upgradeStatus(elsewhere.port, { 'X-Forwarded-User': 'alice@example.com' });
  assert.equal(spoofed.status, 403);
  assert.match(spoofed.body, /Untrusted proxy address/);
});
