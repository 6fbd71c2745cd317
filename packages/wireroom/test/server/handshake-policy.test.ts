// Server handshake policy: routing by path, async authentication, subprotocol selection, the Origin check.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { once } from 'node:events';
import { connect } from '../../src/client/connect.js';
import type { WebSocket } from '../../src/connection/websocket.js';
import type { HandshakeRequest } from '../../src/server/origin.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { Cleanup, delay, HOST, maskedFrame, rawStatus, startServer, upgradeRequest, refusedStatus } from '../helpers/loopback.js';

const T = { timeout: 15_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

async function accepted(url: string, options: Parameters<typeof connect>[1] = {}): Promise<WebSocket> {
  return cleanup.add(await connect(url, { handshakeTimeout: 5000, ...options }), (ws) => ws.terminate());
}

describe('routing by path', () => {
  it('accepts the configured path (query ignored) and answers 404 elsewhere', T, async () => {
    const { server, url, port } = await startServer({ path: '/live' });
    cleanup.server(server);
    const rejected: number[] = [];
    server.on('rejected', (status: number) => rejected.push(status));
    const ws = await accepted(`${url}/live?token=abc`);
    assert.equal(ws.readyState, ws.OPEN);
    const error = await refusedStatus(connect(`${url}/elsewhere`));
    assert.equal(error.status, 404);
    assert.equal((await rawStatus(port, upgradeRequest('/live/extra'))).status, 404);
    assert.deepEqual(rejected, [404, 404]);
  });
});

describe('authenticate hook', () => {
  it('async rejection reaches the client as the status; acceptance sees the request', T, async () => {
    const seen: string[] = [];
    const { server, url, port } = await startServer({
      authenticate: async (request: HandshakeRequest) => {
        await new Promise((r) => setTimeout(r, 20));
        const auth = request.headers.authorization;
        seen.push(String(auth));
        if (auth === 'Bearer good') return true;
        if (auth === 'Bearer banned') return { status: 403, reason: 'Banned' };
        return { status: 401, reason: 'Who are you', headers: { 'WWW-Authenticate': 'Bearer' } };
      },
    });
    cleanup.server(server);
    const ws = await accepted(`${url}/`, { headers: { Authorization: 'Bearer good' } });
    assert.equal(ws.readyState, ws.OPEN);
    assert.equal((await refusedStatus(connect(`${url}/`, { headers: { Authorization: 'Bearer banned' } }))).status, 403);
    assert.equal((await refusedStatus(connect(`${url}/`))).status, 401);
    const raw = await rawStatus(port, upgradeRequest('/'));
    assert.equal(raw.status, 401);
    assert.match(raw.text, /WWW-Authenticate: Bearer/i);
    assert.deepEqual(seen, ['Bearer good', 'Bearer banned', 'undefined', 'undefined']);
  });

  it('a hook that throws, rejects or answers nonsense is answered with 500, and frees its connection slot', T, async () => {
    let calls = 0;
    const { server, url } = await startServer({
      maxConnections: 1, // a slot leaked by a failed hook would turn the last handshake into a 503
      authenticate: (): Promise<true> | true => {
        calls++;
        if (calls === 1) throw new Error('database down');
        if (calls === 2) return Promise.reject(new Error('database still down'));
        if (calls === 3) return Promise.resolve(null as unknown as true);
        if (calls === 4) return Promise.resolve({ status: 999 } as unknown as true);
        return true;
      },
    });
    cleanup.server(server);
    const errors: unknown[] = [];
    server.on('error', (e: unknown) => errors.push(e));
    for (let i = 0; i < 4; i++) assert.equal((await refusedStatus(connect(`${url}/`))).status, 500, `failure ${i + 1}`);
    assert.equal(errors.length, 4);
    const ws = await accepted(`${url}/`);
    assert.equal(ws.readyState, ws.OPEN);
  });

  it('a hook that never settles is cut off after handshakeTimeout with 503, frees its slot, and a late verdict is ignored', T, async () => {
    let calls = 0;
    let settleFirst: ((verdict: true) => void) | undefined;
    const { server, url, port } = await startServer({
      maxConnections: 1, // the hung handshake's slot must be released for the next one to be accepted
      handshakeTimeout: 300,
      authenticate: (): Promise<true> | true => {
        calls++;
        if (calls === 1) return new Promise<true>((resolve) => (settleFirst = resolve)); // hangs until we say
        if (calls === 2) return new Promise<true>(() => {}); // hangs forever
        return true;
      },
    });
    cleanup.server(server);
    const rejected: Array<[number, string]> = [];
    server.on('rejected', (status: number, reason: string) => rejected.push([status, reason]));
    let connections = 0;
    server.on('connection', () => connections++);

    const began = performance.now();
    const first = await rawStatus(port, upgradeRequest('/'));
    const waited = performance.now() - began;
    assert.equal(first.status, 503);
    assert.match(first.text, /\r\n\r\nAuthentication timed out$/);
    assert.ok(waited >= 250, `cut off after ${waited.toFixed(0)} ms, before handshakeTimeout`);

    // The late verdict of the first hook changes nothing: no connection, no second answer.
    settleFirst!(true);
    await delay(20);
    assert.equal(connections, 0);

    // The same with the client library, then the slot is free again under maxConnections: 1.
    const error = await refusedStatus(connect(`${url}/`, { handshakeTimeout: 5000 }));
    assert.equal(error.status, 503);
    const ws = await accepted(`${url}/`);
    assert.equal(ws.readyState, ws.OPEN);
    assert.equal(connections, 1);
    assert.deepEqual(rejected, [[503, 'Authentication timed out'], [503, 'Authentication timed out']]);
    assert.equal(calls, 3);
  });
});

describe('the request object of a standalone handshake', () => {
  it('has url, method and httpVersion as own properties, headers as node:http shapes them, and can be rewritten', T, async () => {
    const { server, url } = await startServer();
    cleanup.server(server);
    const seen = new Promise<HandshakeRequest & { httpVersion?: string }>((resolve) => server.once('connection', (_ws: WebSocket, request: HandshakeRequest) => resolve(request)));
    await accepted(`${url}/room?id=7`, { headers: { 'X-Trace': 't-1', Cookie: 'a=b' } });
    const request = await seen;
    assert.equal({ ...request }.url, '/room?id=7');
    assert.equal({ ...request }.method, 'GET');
    assert.equal(request.httpVersion, '1.1');
    assert.equal(request.headers['x-trace'], 't-1');
    assert.equal(request.headers.cookie, 'a=b');
    assert.equal(request.headers.upgrade?.toString().toLowerCase(), 'websocket');
    request.url = '/rewritten';
    assert.equal(request.url, '/rewritten');
  });
});

describe('subprotocols', () => {
  it('protocols: the server preference wins among the offered ones; none in common gives no protocol', T, async () => {
    const { server, url } = await startServer({ protocols: ['v2.chat', 'v1.chat'] });
    cleanup.server(server);
    const serverSide: WebSocket[] = [];
    server.on('connection', (ws: WebSocket) => serverSide.push(ws));
    // The client prefers v1 but the server's list names v2 first: the first offered one in the server's list is chosen.
    const ws = await accepted(`${url}/`, { protocols: ['v1.chat', 'v2.chat'] });
    assert.ok(['v1.chat', 'v2.chat'].includes(ws.protocol));
    assert.equal(serverSide.at(-1)!.protocol, ws.protocol);
    const only = await accepted(`${url}/`, { protocols: ['v2.chat'] });
    assert.equal(only.protocol, 'v2.chat');
    const none = await accepted(`${url}/`, { protocols: ['mqtt'] });
    assert.equal(none.protocol, '');
    const unasked = await accepted(`${url}/`);
    assert.equal(unasked.protocol, '');
  });

  it('handleProtocols (ws signature: a Set of the offers, in order) decides, and false selects none', T, async () => {
    const offers: string[][] = [];
    const { server, url } = await startServer({
      protocols: ['ignored'],
      handleProtocols: (offered) => {
        assert.ok(offered instanceof Set);
        offers.push([...offered]);
        return offered.has('b') ? 'b' : false;
      },
    });
    cleanup.server(server);
    const ws = await accepted(`${url}/`, { protocols: ['a', 'b', 'c'] });
    assert.equal(ws.protocol, 'b');
    const none = await accepted(`${url}/`, { protocols: ['a'] });
    assert.equal(none.protocol, '');
    assert.deepEqual(offers, [['a', 'b', 'c'], ['a']]);
  });

  it('handleProtocols returning a protocol that was not offered is refused (500), not sent', T, async () => {
    const { server, url } = await startServer({ handleProtocols: () => 'evil' });
    cleanup.server(server);
    assert.equal((await refusedStatus(connect(`${url}/`, { protocols: ['good'] }))).status, 500);
  });
});

describe('Origin check', () => {
  it('default same-origin: cross-origin gets 403, same origin and no Origin are accepted', T, async () => {
    const { server, url, port } = await startServer();
    cleanup.server(server);
    const rejected: Array<[number, string]> = [];
    server.on('rejected', (status: number, reason: string) => rejected.push([status, reason]));
    assert.equal((await refusedStatus(connect(`${url}/`, { origin: 'https://evil.example' }))).status, 403);
    assert.equal((await refusedStatus(connect(`${url}/`, { origin: `http://127.0.0.1:${port + 1}` }))).status, 403);
    assert.equal((await rawStatus(port, upgradeRequest('/', { Origin: 'null' }))).status, 403);
    const same = await accepted(`${url}/`, { origin: `http://127.0.0.1:${port}` });
    assert.equal(same.readyState, same.OPEN);
    const none = await accepted(`${url}/`);
    assert.equal(none.readyState, none.OPEN);
    assert.deepEqual(rejected.map(([s]) => s), [403, 403, 403]);
  });

  it('an allow-list accepts exactly the listed origins', T, async () => {
    const { server, url } = await startServer({ allowOrigin: ['https://app.example', 'https://admin.example:8443'] });
    cleanup.server(server);
    assert.equal((await accepted(`${url}/`, { origin: 'https://app.example' })).readyState, 1);
    assert.equal((await accepted(`${url}/`, { origin: 'https://ADMIN.example:8443' })).readyState, 1);
    assert.equal((await refusedStatus(connect(`${url}/`, { origin: 'https://app.example.evil.com' }))).status, 403);
    assert.equal((await refusedStatus(connect(`${url}/`, { origin: 'http://app.example' }))).status, 403);
    assert.equal((await accepted(`${url}/`)).readyState, 1, 'no Origin: not a browser');
  });

  it("'*' accepts any origin; a function decides per request", T, async () => {
    const any = await startServer({ allowOrigin: '*' });
    cleanup.server(any.server);
    assert.equal((await accepted(`${any.url}/`, { origin: 'https://anything.example' })).readyState, 1);
    const fn = await startServer({ allowOrigin: (origin) => origin?.endsWith('.trusted.example') === true });
    cleanup.server(fn.server);
    assert.equal((await accepted(`${fn.url}/`, { origin: 'https://a.trusted.example' })).readyState, 1);
    assert.equal((await refusedStatus(connect(`${fn.url}/`, { origin: 'https://untrusted.example' }))).status, 403);
  });
});

describe('an upgrade request with a body', () => {
  // Each body is, or holds, a valid masked text frame: a server that took it for WebSocket input would emit it
  // as a message (it used to: 101, then the body read as frames).
  const frame = maskedFrame(0x1, Buffer.from('smuggled'));
  const requests: Array<[string, Buffer]> = [
    ['Content-Length: 5 and 5 bytes', Buffer.from(upgradeRequest('/', { 'Content-Length': '5' }) + 'hello', 'latin1')],
    ['Content-Length of a frame, and the frame', Buffer.concat([Buffer.from(upgradeRequest('/', { 'Content-Length': String(frame.length) }), 'latin1'), frame])],
    ['Transfer-Encoding: chunked, a frame in one chunk', Buffer.concat([
      Buffer.from(upgradeRequest('/', { 'Transfer-Encoding': 'chunked' }) + `${frame.length.toString(16)}\r\n`, 'latin1'), frame, Buffer.from('\r\n0\r\n\r\n'),
    ])],
    ['Content-Length together with Transfer-Encoding', Buffer.concat([Buffer.from(upgradeRequest('/', { 'Content-Length': String(frame.length), 'Transfer-Encoding': 'chunked' }), 'latin1'), frame])],
  ];

  /** The answer must be one complete HTTP 400 response (its body as long as its Content-Length) and nothing else. */
  function assertOnly400(label: string, text: string): void {
    const end = text.indexOf('\r\n\r\n') + 4;
    assert.ok(end > 4 && text.startsWith('HTTP/1.1 400 Bad Request\r\n'), `${label}: expected a 400 response, got ${JSON.stringify(text.slice(0, 200))}`);
    const length = Number(/\r\nContent-Length: (\d+)\r\n/i.exec(text.slice(0, end))?.[1] ?? 0);
    assert.equal(text.length, end + length, `${label}: bytes after the 400 response`);
  }

  function watch(server: WebSocketServer): { rejected: number[]; events: string[] } {
    const seen = { rejected: [] as number[], events: [] as string[] };
    server.on('rejected', (status: number) => seen.rejected.push(status));
    server.on('connection', (ws: WebSocket) => {
      seen.events.push('connection');
      ws.on('message', (data: Buffer) => seen.events.push(`message ${String(data)}`));
    });
    return seen;
  }

  it('standalone: 400, no connection, nothing read as frames', T, async () => {
    const { server, port } = await startServer();
    cleanup.server(server);
    const seen = watch(server);
    for (const [label, bytes] of requests) assertOnly400(label, (await rawStatus(port, bytes)).text);
    await delay(20);
    assert.deepEqual(seen.events, []);
    assert.deepEqual(seen.rejected, [400, 400, 400, 400]);
  });

  it('attached to an http.Server: 400, no connection, nothing read as frames', T, async () => {
    const http = createHttpServer();
    const server = new WebSocketServer({ server: http, heartbeatInterval: 0 });
    cleanup.add(http, (h) => new Promise((resolve) => h.close(resolve)));
    cleanup.server(server);
    http.listen(0, HOST);
    await once(http, 'listening');
    const port = (http.address() as { port: number }).port;
    const seen = watch(server);
    for (const [label, bytes] of requests) assertOnly400(label, (await rawStatus(port, bytes)).text);
    await delay(20);
    assert.deepEqual(seen.events, []);
    // node:http answers CL together with TE with its own 400 before any 'upgrade' event: three are ours.
    assert.deepEqual(seen.rejected, [400, 400, 400]);
  });
});
