// trustedHeaderIdentity and parseCidrList: the header is believed only from the proxies' addresses (real
// loopback connections from 127.0.0.1), and the address matcher for IPv4, IPv6 and IPv4-mapped IPv6.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import WsClient from 'ws';
import type { WebSocket } from '../../src/connection/websocket.js';
import { parseCidrList } from '../../src/server/identity/cidr.js';
import { trustedHeaderIdentity } from '../../src/server/identity/trusted-proxy.js';
import { Cleanup, next, rawStatus, startServer, upgradeRequest } from '../helpers/loopback.js';

const T = { timeout: 20_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

/** Opens with `ws`: the identity on success, or the refused status and body. */
function attempt(url: string, headers: Record<string, string> = {}): Promise<{ open: true } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const client = new WsClient(url, { headers });
    client.on('open', () => {
      cleanup.socket(client);
      resolve({ open: true });
    });
    client.on('error', (e) => reject(e));
    client.on('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += String(chunk)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

describe('trustedHeaderIdentity over loopback', () => {
  it('from a trusted address (127.0.0.1 listed) the header is the identity; missing or empty: 401', T, async () => {
    const { server, url, port } = await startServer({ identify: trustedHeaderIdentity({ header: 'X-Forwarded-User', trustedProxies: ['10.0.0.0/8', '127.0.0.1'] }) });
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    assert.deepEqual(await attempt(`${url}/`, { 'X-Forwarded-User': 'ada@example.com' }), { open: true });
    assert.equal((await connected)[0].identity, 'ada@example.com');
    assert.deepEqual(await attempt(`${url}/`), { status: 401, body: 'Missing X-Forwarded-User' });
    assert.deepEqual(await attempt(`${url}/`, { 'X-Forwarded-User': '' }), { status: 401, body: 'Missing X-Forwarded-User' });
    assert.deepEqual(await attempt(`${url}/`, { 'X-Forwarded-User': 'x'.repeat(257) }), { status: 401, body: 'Invalid X-Forwarded-User' });
    // Two copies (a client-sent one the proxy failed to strip, and the proxy's): neither is believed.
    const twice = upgradeRequest('/').replace('\r\n\r\n', '\r\nX-Forwarded-User: mallory\r\nx-forwarded-user: ada\r\n\r\n');
    const raw = await rawStatus(port, twice);
    assert.equal(raw.status, 401);
    assert.match(raw.text, /\r\n\r\nInvalid X-Forwarded-User$/);
  });

  it('from an address not listed the header is refused 403, whatever it says', T, async () => {
    const rejected: Array<[number, string]> = [];
    const { server, url } = await startServer({ identify: trustedHeaderIdentity({ header: 'X-Forwarded-User', trustedProxies: '10.0.0.0/8, ::1' }) });
    cleanup.server(server);
    server.on('rejected', (status: number, reason: string) => rejected.push([status, reason]));
    assert.deepEqual(await attempt(`${url}/`, { 'X-Forwarded-User': 'admin' }), { status: 403, body: 'Untrusted proxy address' });
    assert.deepEqual(await attempt(`${url}/`), { status: 403, body: 'Untrusted proxy address' });
    assert.deepEqual(rejected, [[403, 'Untrusted proxy address'], [403, 'Untrusted proxy address']]);
    assert.equal(server.clients.size, 0);
  });

  it('bad options throw WS_ERR_INVALID_ARGUMENT at once', () => {
    for (const options of [{ header: 'X User', trustedProxies: ['127.0.0.1'] }, { header: 'X-User', trustedProxies: [] }, { header: 'X-User', trustedProxies: ['localhost'] }]) {
      assert.throws(() => trustedHeaderIdentity(options), { code: 'WS_ERR_INVALID_ARGUMENT' }, JSON.stringify(options));
    }
  });

  it('control characters in the value are refused (request objects as node:http gives them)', () => {
    const hook = trustedHeaderIdentity({ header: 'X-User', trustedProxies: ['127.0.0.1'] });
    const socket = { remoteAddress: '::ffff:127.0.0.1' } as never;
    assert.equal(hook({ headers: { 'x-user': 'ok' }, socket }), 'ok');
    assert.equal((hook({ headers: { 'x-user': 'a\u0001b' }, socket }) as { status: number }).status, 401);
    assert.equal((hook({ headers: {}, rawHeaders: ['X-User', 'a', 'X-USER', 'b'], socket } as never) as { status: number }).status, 401);
    assert.equal((hook({ headers: { 'x-user': 'ok' }, socket: {} as never }) as { status: number }).status, 403);
  });
});

describe('parseCidrList', () => {
  it('IPv4 addresses and ranges, also as IPv4-mapped IPv6 peers', () => {
    const m = parseCidrList(['10.0.0.0/8', '192.168.1.7', '172.16.0.0/12', '0.0.0.0/32']);
    for (const a of ['10.0.0.0', '10.255.255.255', '::ffff:10.1.2.3', '::FFFF:0a01:0203', '192.168.1.7', '::ffff:192.168.1.7', '172.31.255.1', '0.0.0.0']) assert.equal(m.contains(a), true, a);
    for (const a of ['11.0.0.0', '9.255.255.255', '192.168.1.8', '172.32.0.1', '::a01:203', '64:ff9b::a01:203', '', 'nonsense', '10.0.0', '10.0.0.0.1']) assert.equal(m.contains(a), false, a);
    assert.equal(m.contains(undefined), false);
    assert.equal(parseCidrList(['0.0.0.0/0']).contains('203.0.113.9'), true);
    assert.equal(parseCidrList(['0.0.0.0/0']).contains('2001:db8::1'), false, 'an IPv4 range holds no IPv6 address');
    assert.equal(parseCidrList(['10.1.2.3/8']).contains('10.9.9.9'), true, 'host bits under the prefix are ignored');
  });

  it('IPv6 addresses and ranges, compressed or not, mapped ranges, zone indexes of peers dropped', () => {
    const m = parseCidrList('::1, fd00::/8, 2001:db8:0:0:0:0:0:0/32, ::ffff:192.168.0.0/112, fe80::/10');
    for (const a of ['::1', '0:0:0:0:0:0:0:1', 'fd12:3456::9', 'FDFF::', '2001:db8::', '2001:0db8:ffff::1', '192.168.200.1', '::ffff:192.168.0.9', 'fe80::1%eth0']) assert.equal(m.contains(a), true, a);
    for (const a of ['::2', '::', 'fc00::1', 'fe00::1', '2001:db9::', '192.169.0.1', '127.0.0.1', '::ffff:127.0.0.1']) assert.equal(m.contains(a), false, a);
    assert.equal(parseCidrList(['::/0']).contains('::ffff:1.2.3.4'), true);
    assert.equal(parseCidrList(['::/0']).contains('1.2.3.4'), true, '::/0 holds the mapped IPv4 addresses too');
  });

  it('an IPv4-mapped entry with a prefix under 96 is refused, not read as ::/8 (which would trust every IPv4 peer)', () => {
    for (const bad of ['::ffff:10.0.0.0/8', '::ffff:127.0.0.1/32', '::ffff:0a00:0000/95', '0:0:0:0:0:ffff:10.0.0.0/16']) {
      assert.throws(() => parseCidrList([bad]), { code: 'WS_ERR_INVALID_ARGUMENT', message: /IPv4-mapped/ }, bad);
    }
    // The same ranges written with the mapped prefix (96 + the IPv4 one) are what they say.
    const m = parseCidrList(['::ffff:10.0.0.0/104', '::ffff:127.0.0.1/128', '::ffff:0:0/96']);
    assert.equal(m.contains('10.9.9.9'), true);
    assert.equal(m.contains('::1'), false);
    assert.equal(parseCidrList(['::ffff:10.0.0.0/104']).contains('203.0.113.9'), false);
  });

  it('bad entries throw WS_ERR_INVALID_ARGUMENT', () => {
    for (const bad of [['localhost'], ['10.0.0.0/33'], ['::/129'], ['10.0.0.0/'], ['10.0.0.0/-1'], ['10.0.0.0/8/8'], ['1.2.3'], ['256.0.0.1'], ['fe80::1%eth0'], ['::1/a'], [''], [], '', [42 as unknown as string]]) {
      assert.throws(() => parseCidrList(bad), { code: 'WS_ERR_INVALID_ARGUMENT' }, JSON.stringify(bad));
    }
  });
});
