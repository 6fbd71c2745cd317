// SessionCookie: signing, verification, expiry, key rotation, Set-Cookie attributes, hostile Cookie headers,
// and its identify() hook over real loopback sockets (our client and ws).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import WsClient from 'ws';
import { connect } from '../../src/client/connect.js';
import { HandshakeError } from '../../src/protocol/errors.js';
import type { WebSocket } from '../../src/connection/websocket.js';
import { isSecureRequest, SessionCookie } from '../../src/server/identity/session-cookie.js';
import { Cleanup, next, rawConnect, rawStatus, startServer, upgradeRequest } from '../helpers/loopback.js';

const T = { timeout: 20_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

const KEY_A = 'a'.repeat(32);
const KEY_B = Buffer.alloc(32, 0xb7);
const KEY_C = 'c-key-'.padEnd(40, 'c');
const DAY = 24 * 3600 * 1000;

/** A clock the tests move by hand. */
function clock(start = Date.UTC(2026, 0, 1)): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** The name=value pair of a Set-Cookie header value (what a browser sends back). */
function pair(setCookie: string): string {
  return setCookie.slice(0, setCookie.indexOf(';'));
}

describe('SessionCookie: signing and verification', () => {
  it('round-trips a value (any Unicode) with its issue and expiry times, signed with the current key', () => {
    const c = clock();
    const cookie = new SessionCookie({ keys: [KEY_A], now: c.now, maxAgeSeconds: 3600 });
    for (const value of ['user-1', '', 'Zoë 🙂 名前', 'a;b=c, "d"']) {
      const read = cookie.read(pair(cookie.serialize(value, { secure: false })));
      assert.deepEqual(read, { ok: true, value, issuedAt: c.now(), expiresAt: c.now() + 3600_000, signedWithCurrentKey: true });
    }
  });

  it('reads from a request, from header arrays (HTTP/2 crumbs), among other cookies, quoted', () => {
    const cookie = new SessionCookie({ keys: [KEY_A], name: 'sid' });
    const value = pair(cookie.serialize('u', { secure: false })).slice(4);
    assert.equal(cookie.read({ headers: { cookie: `theme=dark; sid=${value}; lang=en` } }).ok, true);
    assert.equal(cookie.read(['theme=dark', `sid=${value}`]).ok, true);
    assert.equal(cookie.read(`sid="${value}"`).ok, true);
    assert.equal(cookie.read(`  sid = ${value} ;`).ok, true);
    assert.deepEqual(cookie.read({ headers: {} }), { ok: false, reason: 'missing' });
    assert.deepEqual(cookie.read(undefined), { ok: false, reason: 'missing' });
    assert.deepEqual(cookie.read('xsid=1; sidx=2'), { ok: false, reason: 'missing' });
  });

  it('a tampered value, tampered times, or a tampered signature are bad-signature; garbage is malformed', () => {
    const cookie = new SessionCookie({ keys: [KEY_A] });
    const good = pair(cookie.serialize('alice', { secure: false }));
    const [name, value] = good.split('=') as [string, string];
    const parts = value.split('.');
    const withPart = (i: number, text: string): string => `${name}=${parts.map((p, j) => (j === i ? text : p)).join('.')}`;
    assert.deepEqual(cookie.read(withPart(1, Buffer.from('mallory').toString('base64url'))), { ok: false, reason: 'bad-signature' });
    assert.deepEqual(cookie.read(withPart(3, String(Number(parts[3]) + 1000 * DAY))), { ok: false, reason: 'bad-signature' });
    assert.deepEqual(cookie.read(withPart(4, `${parts[4]!.slice(0, -1)}${parts[4]!.endsWith('A') ? 'B' : 'A'}`)), { ok: false, reason: 'bad-signature' });
    for (const hostile of [
      `${name}=`, `${name}=v1`, `${name}=v2.${parts.slice(1).join('.')}`, `${name}=${value}.extra`, `${name}=${value}x`,
      `${name}=${value.replace('v1', 'v1é')}`, `${name}=${'A'.repeat(5000)}`, `${name}=${value}\u0000`,
    ]) {
      assert.deepEqual(cookie.read(hostile), { ok: false, reason: 'malformed' }, hostile.slice(0, 60));
    }
  });

  it('two cookies of our name are malformed, even both valid; thousands of other cookies are scanned fine', () => {
    const cookie = new SessionCookie({ keys: [KEY_A] });
    const good = pair(cookie.serialize('alice', { secure: false }));
    assert.deepEqual(cookie.read(`${good}; ${good}`), { ok: false, reason: 'malformed' });
    assert.deepEqual(cookie.read([good, good]), { ok: false, reason: 'malformed' });
    const many = Array.from({ length: 5000 }, (_, i) => `c${i}=${i}`).join('; ');
    assert.equal(cookie.read(`${many}; ${good}`).ok, true);
    assert.deepEqual(cookie.read(`${many}; ${good}; ${many}; ${good}`), { ok: false, reason: 'malformed' });
  });

  it('a header of separators with one late "=" is scanned once, not once per separator (a 4 MB one answers)', () => {
    // Searching for the next "=" from every pair again made this quadratic: 4 MB of ";" took minutes (about 2 by the
    // growth from 80 KB: 55 ms). Over HTTP a 16 KiB header cost about 5 ms of CPU per handshake.
    const cookie = new SessionCookie({ keys: [KEY_A] });
    const good = pair(cookie.serialize('alice', { secure: false }));
    const separators = ';'.repeat(4 * 1024 * 1024);
    assert.deepEqual(cookie.read(`${separators}x=1`), { ok: false, reason: 'missing' });
    assert.deepEqual(cookie.read(`${separators} ${good}`), cookie.read(good));
    assert.equal(cookie.read(`${'a;'.repeat(2 * 1024 * 1024)}${good}`).ok, true);
    // '=' inside values and pairs without '=' are still told apart.
    assert.equal(cookie.read(`x=a=b; flag; ${good}; y==`).ok, true);
    assert.deepEqual(cookie.read(`flag; ${good.replace('=', ' ')}`), { ok: false, reason: 'missing' });
  });

  it('expires at expiresAt, whatever the browser keeps: the expiry is signed', () => {
    const c = clock();
    const cookie = new SessionCookie({ keys: [KEY_A], now: c.now, maxAgeSeconds: 60 });
    const sent = pair(cookie.serialize('bob', { secure: false }));
    c.advance(59_999);
    assert.equal(cookie.read(sent).ok, true);
    c.advance(1);
    assert.deepEqual(cookie.read(sent), { ok: false, reason: 'expired' });
  });

  it('rotation: an older listed key verifies (signedWithCurrentKey false); a retired key is bad-signature', () => {
    const oldJar = new SessionCookie({ keys: [KEY_A] });
    const byOld = pair(oldJar.serialize('carol', { secure: false }));
    const rotated = new SessionCookie({ keys: [KEY_B, KEY_A] });
    const read = rotated.read(byOld);
    assert.equal(read.ok, true);
    assert.equal(read.ok && read.signedWithCurrentKey, false);
    assert.equal(read.ok && read.value, 'carol');
    const byNew = rotated.read(pair(rotated.serialize('carol', { secure: false })));
    assert.equal(byNew.ok && byNew.signedWithCurrentKey, true);
    const retired = new SessionCookie({ keys: [KEY_C, KEY_B] });
    assert.deepEqual(retired.read(byOld), { ok: false, reason: 'bad-signature' });
    // a cookie of another name, with the same key, is not valid under this name
    const other = new SessionCookie({ keys: [KEY_A], name: 'other' });
    assert.deepEqual(oldJar.read(`wireroom_session=${pair(other.serialize('carol', { secure: false })).slice(6)}`), { ok: false, reason: 'bad-signature' });
  });

  it('Set-Cookie attributes: HttpOnly always, Secure only when secure, SameSite=Lax, Path, Max-Age, Expires', () => {
    const c = clock(Date.UTC(2026, 0, 1));
    const cookie = new SessionCookie({ keys: [KEY_A], now: c.now, maxAgeSeconds: 7200 });
    const plain = cookie.serialize('x', { secure: false }).split('; ');
    assert.ok(plain[0]!.startsWith('wireroom_session=v1.'));
    assert.deepEqual(plain.slice(1), ['Path=/', 'Max-Age=7200', 'Expires=Thu, 01 Jan 2026 02:00:00 GMT', 'HttpOnly', 'SameSite=Lax']);
    const secure = cookie.serialize('x', { secure: true }).split('; ');
    assert.deepEqual(secure.slice(1), ['Path=/', 'Max-Age=7200', 'Expires=Thu, 01 Jan 2026 02:00:00 GMT', 'HttpOnly', 'Secure', 'SameSite=Lax']);
    assert.equal(new SessionCookie({ keys: [KEY_A] }).serialize('x', { secure: false }).includes('Max-Age=2592000'), true);
    assert.match(cookie.clear({ secure: true }), /^wireroom_session=; Path=\/; Max-Age=0; .*HttpOnly; Secure; SameSite=Lax$/);
    assert.throws(() => new SessionCookie({ keys: [KEY_A], sameSite: 'None' }).serialize('x', { secure: false }), { code: 'WS_ERR_INVALID_ARGUMENT' });
  });

  it('bad options throw WS_ERR_INVALID_ARGUMENT: no keys, a short key, a bad name, path or lifetime; a huge value', () => {
    const bad: unknown[] = [
      {}, { keys: [] }, { keys: ['short'] }, { keys: [KEY_A, Buffer.alloc(31)] }, { keys: [42] }, { keys: [KEY_A], name: 'a b' },
      { keys: [KEY_A], name: 'a;b' }, { keys: [KEY_A], path: 'no-slash' }, { keys: [KEY_A], path: '/a;b' }, { keys: [KEY_A], maxAgeSeconds: 0 },
      { keys: [KEY_A], maxAgeSeconds: 1.5 }, { keys: [KEY_A], sameSite: 'lax' },
    ];
    for (const options of bad) assert.throws(() => new SessionCookie(options as never), { code: 'WS_ERR_INVALID_ARGUMENT' }, JSON.stringify(options));
    assert.throws(() => new SessionCookie({ keys: [KEY_A] }).serialize('x'.repeat(4000), { secure: false }), { code: 'WS_ERR_INVALID_ARGUMENT' });
  });

  it('property: any single-bit change of a signed cookie is refused (fast-check, fixed seed)', () => {
    const cookie = new SessionCookie({ keys: [KEY_B, KEY_A] });
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (value, at, bit) => {
        const sent = Buffer.from(pair(cookie.serialize(value, { secure: false })), 'utf8');
        const i = at % sent.length;
        sent[i] = sent[i]! ^ (1 << bit);
        const read = cookie.read(sent.toString('latin1'));
        // The one harmless change: a bit of the name that makes it another cookie ('missing') is refused too.
        return read.ok === false;
      }),
      { seed: 0x1d_2026, numRuns: 2000 },
    );
  });
});

describe('SessionCookie.identify() over loopback', () => {
  async function refusal(url: string, cookie?: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const client = new WsClient(url, { headers: cookie === undefined ? {} : { Cookie: cookie } });
      client.on('open', () => {
        client.terminate();
        reject(new Error('handshake unexpectedly accepted'));
      });
      client.on('error', () => {});
      client.on('unexpected-response', (_req, res: IncomingMessage) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += String(chunk)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
    });
  }

  it('a valid cookie identifies the connection; forged, expired, retired-key and malformed ones are refused 401 with their reason', T, async () => {
    const c = clock();
    const keys = [KEY_B, KEY_A];
    const cookie = new SessionCookie({ keys, now: c.now, maxAgeSeconds: 600 });
    const { server, url, port } = await startServer({ identify: cookie.identify() });
    cleanup.server(server);
    const good = pair(cookie.serialize('session-1', { secure: false }));
    const connected = next<[WebSocket]>(server, 'connection');
    const ws = cleanup.socket(await connect(`${url}/`, { headers: { Cookie: `other=1; ${good}` }, handshakeTimeout: 5000 }));
    assert.equal(ws.readyState, ws.OPEN);
    assert.equal((await connected)[0].identity, 'session-1');

    const [name, value] = good.split('=') as [string, string];
    const parts = value.split('.');
    const tamperedValue = `${name}=${[parts[0], Buffer.from('session-2').toString('base64url'), ...parts.slice(2)].join('.')}`;
    const tamperedSignature = `${name}=${value.slice(0, -2)}${value.endsWith('AA') ? 'BB' : 'AA'}`;
    const retired = pair(new SessionCookie({ keys: [KEY_C], now: c.now }).serialize('session-1', { secure: false }));
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'No session cookie'],
      ['theme=dark', 'No session cookie'],
      [tamperedValue, 'Invalid session signature'],
      [tamperedSignature, 'Invalid session signature'],
      [retired, 'Invalid session signature'],
      [`${name}=not-a-session`, 'Malformed session cookie'],
      [`${good}; ${good}`, 'Malformed session cookie'],
    ];
    for (const [header, reason] of cases) {
      assert.deepEqual(await refusal(`${url}/`, header), { status: 401, body: reason }, String(header));
    }
    const error = await connect(`${url}/`, { headers: { Cookie: tamperedValue }, handshakeTimeout: 5000 }).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof HandshakeError && error.status === 401);
    // A raw request with a non-ASCII Cookie header
    const raw = await rawStatus(port, Buffer.from(upgradeRequest('/', { Cookie: `${name}=v1.\u00ff\u00fe` }), 'latin1'));
    assert.equal(raw.status, 401);
    assert.match(raw.text, /\r\n\r\nMalformed session cookie$/);
    // Expired, by the clock.
    c.advance(600_000);
    assert.deepEqual(await refusal(`${url}/`, good), { status: 401, body: 'Session expired' });
  });

  it('cookies split over several Cookie header lines are one list (standalone parser)', T, async () => {
    const cookie = new SessionCookie({ keys: [KEY_A] });
    const { server, port } = await startServer({ identify: cookie.identify() });
    cleanup.server(server);
    const good = pair(cookie.serialize('split', { secure: false }));
    const request = upgradeRequest('/').replace('\r\n\r\n', `\r\nCookie: a=1\r\nCookie: ${good}\r\n\r\n`);
    const connected = next<[WebSocket]>(server, 'connection');
    const socket = cleanup.socket(await rawConnect(port));
    const answered = next<[Buffer]>(socket, 'data');
    socket.write(request);
    assert.match(String((await answered)[0]), /^HTTP\/1\.1 101 /);
    assert.equal((await connected)[0].identity, 'split');
  });

  it('isSecureRequest: false on plain TCP, true on TLS', () => {
    assert.equal(isSecureRequest({ socket: { encrypted: true } }), true);
    assert.equal(isSecureRequest({ socket: {} }), false);
    assert.equal(isSecureRequest({}), false);
  });
});
