// The identify hook of WebSocketServer: its answer becomes ws.identity in every mode (standalone, attached,
// noServer, HTTP/2), refusals reach real clients with their status, reason and headers, a throwing hook is a
// 500, a hung one a 503 after handshakeTimeout with its maxConnections slot released.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import WsClient from 'ws';
import { connect } from '../../src/client/connect.js';
import type { WebSocket } from '../../src/connection/websocket.js';
import type { HandshakeRequest } from '../../src/server/origin.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { refuse, Refusal } from '../../src/server/identity/refusal.js';
import { Cleanup, delay, HOST, next, rawStatus, startServer, upgradeRequest, refusedStatus } from '../helpers/loopback.js';
import { h2Session, openRawStream, selfSignedCert } from '../helpers/http2.js';

const T = { timeout: 20_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

/** What `ws` (the npm client) sees of a refused handshake: status, headers and body. */
function wsRefusal(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const client = new WsClient(url, { headers });
    client.on('open', () => {
      client.terminate();
      reject(new Error('handshake unexpectedly accepted'));
    });
    client.on('error', () => {});
    client.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
  });
}

function wsOpen(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const client = new WsClient(url, { headers });
    client.once('open', () => resolve(cleanup.socket(client)));
    client.once('error', reject);
    client.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

/** A hook for the tests: the identity is the `x-user` header; 'nobody' is refused. */
const byHeader = (request: HandshakeRequest): { user: string } | Refusal => {
  const user = request.headers['x-user'];
  if (typeof user !== 'string') return refuse(401, 'Who are you', { 'WWW-Authenticate': 'Cookie' });
  if (user === 'nobody') return refuse(403, 'Not you');
  return { user };
};

describe('identify on a standalone server', () => {
  it("the hook's answer is ws.identity, set before 'connection', with our client and ws", T, async () => {
    const { server, url } = await startServer({ identify: byHeader });
    cleanup.server(server);
    const identities: unknown[] = [];
    server.on('connection', (ws: WebSocket) => identities.push(ws.identity));
    const ours = cleanup.socket(await connect(`${url}/`, { headers: { 'X-User': 'ada' }, handshakeTimeout: 5000 }));
    assert.equal(ours.readyState, ours.OPEN);
    assert.equal(ours.identity, undefined, 'the client side has no identity');
    await wsOpen(`${url}/`, { 'X-User': 'grace' });
    assert.deepEqual(identities, [{ user: 'ada' }, { user: 'grace' }]);
    assert.deepEqual([...server.clients].map((ws) => ws.identity), [{ user: 'ada' }, { user: 'grace' }]);
  });

  it('without a hook ws.identity is undefined; a hook answering undefined accepts', T, async () => {
    for (const options of [{}, { identify: () => undefined }]) {
      const { server, url } = await startServer(options);
      cleanup.server(server);
      const connected = next<[WebSocket]>(server, 'connection');
      cleanup.socket(await connect(`${url}/`, { handshakeTimeout: 5000 }));
      const [ws] = await connected;
      assert.equal(ws.identity, undefined);
      assert.equal(ws.readyState, ws.OPEN);
    }
  });

  it('refusals arrive with their status, reason (body) and headers, and are emitted as rejected', T, async () => {
    const { server, url, port } = await startServer({ identify: byHeader });
    cleanup.server(server);
    const rejected: Array<[number, string]> = [];
    server.on('rejected', (status: number, reason: string) => rejected.push([status, reason]));
    const missing = await wsRefusal(`${url}/`);
    assert.equal(missing.status, 401);
    assert.equal(missing.body, 'Who are you');
    assert.equal(missing.headers['www-authenticate'], 'Cookie');
    const nobody = await wsRefusal(`${url}/`, { 'X-User': 'nobody' });
    assert.equal(nobody.status, 403);
    assert.equal(nobody.body, 'Not you');
    assert.equal((await refusedStatus(connect(`${url}/`, { handshakeTimeout: 5000 }))).status, 401);
    const raw = await rawStatus(port, upgradeRequest('/', { 'X-User': 'nobody' }));
    assert.equal(raw.status, 403);
    assert.match(raw.text, /\r\n\r\nNot you$/);
    assert.deepEqual(rejected, [[401, 'Who are you'], [403, 'Not you'], [401, 'Who are you'], [403, 'Not you']]);
    assert.equal(server.clients.size, 0);
  });

  it('an async hook: its resolved identity is attached; its refusal is answered', T, async () => {
    const { server, url } = await startServer({
      identify: async (request) => {
        await delay(20);
        return byHeader(request);
      },
    });
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    await wsOpen(`${url}/`, { 'X-User': 'linus' });
    assert.deepEqual((await connected)[0].identity, { user: 'linus' });
    assert.equal((await wsRefusal(`${url}/`, { 'X-User': 'nobody' })).status, 403);
  });

  it('a refusal without a reason gets the status text; refuse() with a non-error status throws', T, async () => {
    const { server, url } = await startServer({ identify: () => refuse(429) });
    cleanup.server(server);
    const answer = await wsRefusal(`${url}/`);
    assert.equal(answer.status, 429);
    assert.equal(answer.body, 'Too Many Requests');
    for (const status of [200, 101, 302, 399, 600, 401.5, Number.NaN]) {
      assert.throws(() => refuse(status), { code: 'WS_ERR_INVALID_ARGUMENT' }, String(status));
    }
  });

  it('a hook that throws, rejects, or forges a non-error refusal gets 500 Identification failed, reported as error, slot freed', T, async () => {
    let calls = 0;
    const { server, url, port } = await startServer({
      maxConnections: 1, // a slot leaked by a failed hook would turn the last handshake into a 503
      identify: (): unknown => {
        calls++;
        if (calls === 1) throw new Error('directory down');
        if (calls === 2) return Promise.reject(new Error('directory still down'));
        if (calls === 3) return Object.assign(Object.create(Refusal.prototype) as Refusal, { status: 302, [Symbol.for('wireroom.refusal')]: true });
        if (calls === 4) return refuse(401, 'bad header', { 'Bad\r\nHeader': 'x' });
        return 'ok';
      },
    });
    cleanup.server(server);
    const errors: unknown[] = [];
    server.on('error', (e: unknown) => errors.push(e));
    const first = await rawStatus(port, upgradeRequest('/'));
    assert.equal(first.status, 500);
    assert.match(first.text, /\r\n\r\nIdentification failed$/);
    for (let i = 2; i <= 4; i++) {
      const answer = await wsRefusal(`${url}/`);
      assert.equal(answer.status, 500, `failure ${i}`);
      assert.equal(answer.body, 'Identification failed');
    }
    assert.equal(errors.length, 4);
    assert.match(String(errors[0]), /directory down/);
    const connected = next<[WebSocket]>(server, 'connection');
    await wsOpen(`${url}/`);
    assert.equal((await connected)[0].identity, 'ok');
  });

  it('a hook that never settles gets 503 Identification timed out after handshakeTimeout, frees its slot; a late answer is ignored', T, async () => {
    let calls = 0;
    let settleFirst: ((identity: string) => void) | undefined;
    const { server, url, port } = await startServer({
      maxConnections: 1,
      handshakeTimeout: 300,
      identify: (): unknown => {
        calls++;
        if (calls === 1) return new Promise<string>((resolve) => (settleFirst = resolve));
        if (calls === 2) return new Promise(() => {});
        return 'third';
      },
    });
    cleanup.server(server);
    const rejected: Array<[number, string]> = [];
    server.on('rejected', (status: number, reason: string) => rejected.push([status, reason]));
    let connections = 0;
    server.on('connection', () => connections++);
    const first = await rawStatus(port, upgradeRequest('/'));
    assert.equal(first.status, 503);
    assert.match(first.text, /\r\n\r\nIdentification timed out$/);
    settleFirst!('late');
    await delay(20);
    assert.equal(connections, 0);
    const second = await wsRefusal(`${url}/`);
    assert.equal(second.status, 503);
    const connected = next<[WebSocket]>(server, 'connection');
    await wsOpen(`${url}/`);
    assert.equal((await connected)[0].identity, 'third');
    assert.deepEqual(rejected, [[503, 'Identification timed out'], [503, 'Identification timed out']]);
  });

  it('runs after authenticate, only when it accepted, and sees the same request', T, async () => {
    const order: string[] = [];
    const { server, url } = await startServer({
      authenticate: async (request) => {
        order.push('authenticate');
        return request.headers['x-user'] === 'banned' ? { status: 403, reason: 'Banned' } : true;
      },
      identify: (request) => {
        order.push('identify');
        return byHeader(request);
      },
    });
    cleanup.server(server);
    assert.equal((await wsRefusal(`${url}/`, { 'X-User': 'banned' })).body, 'Banned');
    assert.deepEqual(order, ['authenticate']);
    await wsOpen(`${url}/`, { 'X-User': 'ada' });
    assert.deepEqual(order, ['authenticate', 'authenticate', 'identify']);
  });
});

describe('identify when attached and with noServer', () => {
  it('attached to an http.Server: the identity reaches ws.identity', T, async () => {
    const http = createHttpServer((_req, res) => res.end('plain'));
    http.listen(0, HOST);
    await once(http, 'listening');
    cleanup.add(http, (h) => new Promise((r) => h.close(r)));
    const server = cleanup.server(new WebSocketServer({ server: http, heartbeatInterval: 0, identify: byHeader }));
    const url = `ws://${HOST}:${(http.address() as { port: number }).port}/`;
    const connected = next<[WebSocket]>(server, 'connection');
    await wsOpen(url, { 'X-User': 'attached' });
    assert.deepEqual((await connected)[0].identity, { user: 'attached' });
    assert.equal((await wsRefusal(url)).status, 401);
  });

  it('noServer + handleUpgrade(): the identity is set when the callback runs', T, async () => {
    const server = cleanup.server(new WebSocketServer({ noServer: true, heartbeatInterval: 0, identify: async (r) => byHeader(r) }));
    const identities: unknown[] = [];
    const http = createHttpServer((_req, res) => res.end('plain'));
    http.on('upgrade', (req, socket, head) => server.handleUpgrade(req, socket, head, (ws) => identities.push(ws.identity)));
    http.listen(0, HOST);
    await once(http, 'listening');
    cleanup.add(http, (h) => new Promise((r) => h.close(r)));
    const url = `ws://${HOST}:${(http.address() as { port: number }).port}/`;
    await wsOpen(url, { 'X-User': 'manual' });
    assert.deepEqual(identities, [{ user: 'manual' }]);
    const refused = await wsRefusal(url, { 'X-User': 'nobody' });
    assert.deepEqual([refused.status, refused.body], [403, 'Not you']);
  });
});

describe('identify over HTTP/2 (RFC 8441)', () => {
  let tls: { key: Buffer; cert: Buffer };
  before(() => {
    tls = selfSignedCert();
  });

  it('an extended CONNECT stream gets the identity; a refusal is its :status', T, async () => {
    const server = cleanup.server(new WebSocketServer({ host: HOST, port: 0, heartbeatInterval: 0, tls, http2: true, identify: byHeader }));
    await next(server, 'listening');
    const port = server.address()!.port;
    const session = cleanup.add(await h2Session(port, tls.cert), (s) => s.destroy());
    const connected = next<[WebSocket]>(server, 'connection');
    const stream = await openRawStream(session, '/', { 'x-user': 'h2-user' });
    assert.equal(stream.status, 200);
    assert.deepEqual((await connected)[0].identity, { user: 'h2-user' });
    // A second session for the refusal: destroying a session holding an open WebSocket stream after one of its
    // refused streams has closed hangs (also with `authenticate`, on main: reported, not this test's subject).
    const other = cleanup.add(await h2Session(port, tls.cert), (s) => s.destroy());
    const refused = await openRawStream(other, '/', { 'x-user': 'nobody' });
    assert.equal(refused.status, 403);
    await refused.closedPromise;
    assert.equal(refused.bytes.toString(), 'Not you');
  });
});
