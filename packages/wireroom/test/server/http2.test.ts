// WebSockets over HTTP/2 (RFC 8441), server side, spoken by hand from a raw node:http2 client: the
// extended CONNECT handshake, refusals with their :status, the HTTP/1.1 upgrade on the same port, and how
// closes map to the stream (END_STREAM for an orderly close, RST_STREAM CANCEL for an abnormal one).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { constants as h2, createSecureServer } from 'node:http2';
import type { WebSocket } from '../../src/connection/websocket.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { Cleanup, HOST, next, until, upgradeRequest, within } from '../helpers/loopback.js';
import { h2Session, openRawStream, selfSignedCert, OP } from '../helpers/http2.js';
import { closePayload, readClose } from '../helpers/frames.js';

const T = { timeout: 20_000 };
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

let tls: { key: Buffer; cert: Buffer };
before(() => {
  tls = selfSignedCert();
});

async function h2Server(options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<{ server: WebSocketServer; port: number }> {
  const server = cleanup.server(new WebSocketServer({ host: HOST, port: 0, heartbeatInterval: 0, tls, http2: true, ...options }));
  await next(server, 'listening');
  return { server, port: server.address()!.port };
}

function echo(server: WebSocketServer): void {
  server.on('connection', (ws: WebSocket) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
}

describe('WebSocketServer over HTTP/2 (standalone, tls + http2)', () => {
  it('advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and echoes over an extended CONNECT stream (:status 200, no accept header)', T, async () => {
    const { server, port } = await h2Server();
    echo(server);
    const session = cleanup.add(await h2Session(port, tls.cert), (s) => s.destroy());
    assert.equal(session.remoteSettings.enableConnectProtocol, true);
    assert.equal(session.alpnProtocol, 'h2');
    const connected = next<[WebSocket, { url: string; method: string; headers: Record<string, string> }]>(server, 'connection');
    const raw = await openRawStream(session, '/chat?room=1');
    const [ws, request] = await connected;
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['sec-websocket-accept'], undefined);
    assert.equal(request.method, 'CONNECT');
    assert.equal(request.url, '/chat?room=1');
    assert.equal(request.headers.host, HOST);
    assert.equal(ws.url, '/chat?room=1');
    raw.send(OP.TEXT, 'hello over h2');
    raw.send(OP.BINARY, Buffer.from([1, 2, 3]));
    const frames = await raw.nextFrames(2);
    assert.equal(frames[0]!.opcode, OP.TEXT);
    assert.equal(frames[0]!.payload.toString(), 'hello over h2');
    assert.equal(frames[0]!.masked, false);
    assert.equal(frames[1]!.opcode, OP.BINARY);
    assert.deepEqual([...frames[1]!.payload], [1, 2, 3]);
    assert.equal(server.clients.size, 1);
  });

  it('refuses with the right :status: bad version 400 (+ sec-websocket-version: 13), path 404, origin 403, host 421, maxConnections 503, not CONNECT 405', T, async () => {
    const { server, port } = await h2Server({ path: '/ws', maxConnections: 1 });
    echo(server);
    const rejected: number[] = [];
    server.on('rejected', (status: number) => rejected.push(status));
    const session = cleanup.add(await h2Session(port, tls.cert), (s) => s.destroy());

    const badVersion = await openRawStream(session, '/ws', { 'sec-websocket-version': '8' });
    assert.equal(badVersion.status, 400);
    assert.equal(badVersion.headers['sec-websocket-version'], '13');
    await within(badVersion.closedPromise, 3000, 'the refused stream to close');
    assert.match(badVersion.bytes.toString(), /version/);

    assert.equal((await openRawStream(session, '/elsewhere')).status, 404);
    assert.equal((await openRawStream(session, '/ws', { origin: 'https://evil.example' })).status, 403);
    const misdirected = session.request({
      ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': '/ws', ':authority': 'attacker.example',
      'sec-websocket-version': '13',
    }, { endStream: false });
    misdirected.on('error', () => {});
    const [headers] = await next<[Record<string, string>]>(misdirected, 'response');
    assert.equal(Number(headers[':status']), 421);

    const get = session.request({ ':method': 'GET', ':path': '/ws' });
    get.on('error', () => {});
    const [getHeaders] = await next<[Record<string, string>]>(get, 'response');
    assert.equal(Number(getHeaders[':status']), 405);

    const first = await openRawStream(session, '/ws');
    assert.equal(first.status, 200);
    await until(() => server.clients.size === 1, 3000, 'one client');
    assert.equal((await openRawStream(session, '/ws')).status, 503);
    assert.deepEqual(rejected, [400, 404, 403, 421, 405, 503]);
  });

  it('authenticate sees the request (headers, :authority as host) and its refusal is the :status; a slow hook gets 503 after handshakeTimeout', T, async () => {
    const seen: string[] = [];
    const { port } = await h2Server({
      handshakeTimeout: 300,
      authenticate: (request) => {
        seen.push(`${request.headers.host} ${String(request.headers.authorization)}`);
        if (request.url === '/slow') return new Promise(() => {});
        return request.headers.authorization === 'Bearer ok' ? true : { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } };
      },
    });
    const session = cleanup.add(await h2Session(port, tls.cert), (s) => s.destroy());
    const refused = await openRawStream(session, '/', { authorization: 'Bearer no' });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['www-authenticate'], 'Bearer');
    assert.equal((await openRawStream(session, '/', { authorization: 'Bearer ok' })).status, 200);
    const began = Date.now();
    assert.equal((await openRawStream(session, '/slow')).status, 503);
    assert.ok(Date.now() - began >= 250);
    assert.deepEqual(seen.slice(0, 2), [`${HOST} Bearer no`, `${HOST} Bearer ok`]);
  });

  it('negotiates subprotocols and permessage-deflate over a stream', T, async () => {
    const { server, port } = await h2Server({ protocols: ['chat.v2', 'chat.v1'], perMessageDeflate: { threshold: 0 } });
    echo(server);
    const session = cleanup.add(await h2Session(port, tls.cert), (s) => s.destroy());
    const raw = await openRawStream(session, '/', { 'sec-websocket-protocol': 'chat.v1, chat.v2', 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['sec-websocket-protocol'], 'chat.v1', "the client's first choice the server speaks");
    assert.match(String(raw.headers['sec-websocket-extensions']), /^permessage-deflate/);
    raw.send(OP.TEXT, 'a'.repeat(1000));
    const [frame] = await raw.nextFrames(1);
    assert.equal(frame!.rsv1, true, 'the echo is compressed');
    assert.ok(frame!.payload.length < 100);
  });

  it('an orderly close ends the stream with END_STREAM (no reset); terminate() resets it with CANCEL', T, async () => {
    const { server, port } = await h2Server();
    const session = cleanup.add(await h2Session(port, tls.cert), (s) => s.destroy());

    const connected = next<[WebSocket]>(server, 'connection');
    const raw = await openRawStream(session, '/');
    const [ws] = await connected;
    const closed = next<[number, string, boolean]>(ws, 'close');
    ws.close(1000, 'bye');
    const [closeFrame] = await raw.nextFrames(1);
    assert.equal(closeFrame!.opcode, OP.CLOSE);
    assert.deepEqual(readClose(closeFrame!.payload), { code: 1000, reason: 'bye' });
    raw.send(OP.CLOSE, closePayload(1000));
    await until(() => raw.ended, 3000, 'END_STREAM from the server');
    raw.stream.end(); // our half: the stream is then closed on both sides
    await within(raw.closedPromise, 3000, 'the stream to close');
    assert.equal(raw.stream.rstCode, h2.NGHTTP2_NO_ERROR);
    const [code, , wasClean] = await closed;
    assert.equal(code, 1000);
    assert.equal(wasClean, true);

    const connected2 = next<[WebSocket]>(server, 'connection');
    const raw2 = await openRawStream(session, '/');
    const [ws2] = await connected2;
    const closed2 = next<[number, string, boolean]>(ws2, 'close');
    ws2.terminate();
    await within(raw2.closedPromise, 3000, 'the reset stream to close');
    assert.equal(raw2.stream.rstCode, h2.NGHTTP2_CANCEL);
    const [code2, , wasClean2] = await closed2;
    assert.equal(code2, 1006);
    assert.equal(wasClean2, false);
    // The session outlives its streams.
    assert.equal(session.destroyed, false);
    assert.equal((await openRawStream(session, '/')).status, 200);
  });

  it('a client that resets its stream closes that WebSocket (1006), not its siblings', T, async () => {
    const { server, port } = await h2Server();
    echo(server);
    const session = cleanup.add(await h2Session(port, tls.cert), (s) => s.destroy());
    const sockets: WebSocket[] = [];
    server.on('connection', (ws: WebSocket) => sockets.push(ws));
    const a = await openRawStream(session, '/');
    const b = await openRawStream(session, '/');
    await until(() => sockets.length === 2, 3000, 'two connections');
    const closed = next<[number]>(sockets[0]!, 'close');
    a.stream.close(h2.NGHTTP2_CANCEL);
    assert.equal((await closed)[0], 1006);
    b.send(OP.TEXT, 'still here');
    const [frame] = await b.nextFrames(1);
    assert.equal(frame!.payload.toString(), 'still here');
    assert.equal(server.clients.size, 1);
  });

  it('flow control is per stream: a stream whose reader stalls holds its own sends, its siblings keep echoing', T, async () => {
    const { server, port } = await h2Server({ maxBufferedAmount: 64 * 1024 * 1024 });
    echo(server);
    const sockets: WebSocket[] = [];
    server.on('connection', (ws: WebSocket) => sockets.push(ws));
    const session = cleanup.add(await h2Session(port, tls.cert), (s) => s.destroy());
    // The stalled stream: opened by hand and never read until the end (no 'data' listener: paused).
    const stalled = session.request({
      ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': '/stalled', ':authority': HOST, 'sec-websocket-version': '13',
    }, { endStream: false });
    stalled.on('error', () => {});
    await next(stalled, 'response');
    const sibling = await openRawStream(session, '/sibling');
    await until(() => sockets.length === 2, 3000, 'two connections');
    const stalledWs = sockets.find((ws) => ws.url === '/stalled')!;

    const chunk = Buffer.alloc(64 * 1024, 7);
    const total = 64 * chunk.length; // 4 MiB: far beyond the stream's 64 KiB window
    for (let i = 0; i < 64; i++) stalledWs.send(chunk);
    await until(() => stalledWs.bufferedAmount > total / 2, 3000, 'the stalled stream to hold its sends');

    for (let i = 0; i < 20; i++) {
      sibling.send(OP.TEXT, `ping ${i}`);
      const frames = await sibling.nextFrames(i + 1, 2000);
      assert.equal(frames[i]!.payload.toString(), `ping ${i}`);
    }
    assert.ok(stalledWs.bufferedAmount > total / 2, `still held: ${stalledWs.bufferedAmount}`);

    let received = 0;
    stalled.on('data', (d: Buffer) => (received += d.length));
    await until(() => received >= total, 10_000, 'the stalled stream to catch up once read');
    await until(() => stalledWs.bufferedAmount === 0, 3000, 'the held sends to drain');
  });

  it('serves an HTTP/1.1 upgrade on the same port (ALPN http/1.1)', T, async () => {
    const { server, port } = await h2Server();
    echo(server);
    const socket = cleanup.socket(tlsConnect({ host: HOST, port, ca: tls.cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] }));
    await next(socket, 'secureConnect');
    assert.equal(socket.alpnProtocol, 'http/1.1');
    socket.write(upgradeRequest('/h1'));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    await until(() => text.includes('\r\n\r\n'), 3000, 'the 101');
    assert.match(text, /^HTTP\/1\.1 101 /);
    assert.match(text, /Sec-WebSocket-Accept: /);
  });

  it('close() sends GOAWAY to the sessions once the WebSockets are closed, and resolves', T, async () => {
    const { server, port } = await h2Server();
    const session = await h2Session(port, tls.cert);
    cleanup.add(session, (s) => s.destroy());
    const raw = await openRawStream(session, '/');
    assert.equal(raw.status, 200);
    const goaway = next(session, 'goaway', 5000);
    const closing = server.close({ timeout: 500 });
    const [closeFrame] = await raw.nextFrames(1);
    assert.equal(readClose(closeFrame!.payload).code, 1001);
    raw.send(OP.CLOSE, closePayload(1001));
    await goaway;
    await within(closing, 5000, 'server.close()');
  });
});

describe('WebSocketServer attached to an http2.createSecureServer with a request listener', () => {
  it('takes extended CONNECT streams (no 405 from the compatibility layer), leaves other requests to the app, and serves HTTP/1.1 upgrades (allowHTTP1)', T, async () => {
    const h2server = createSecureServer({ ...tls, allowHTTP1: true }, (req, res) => {
      res.end(`page over ${req.httpVersion}`);
    });
    cleanup.add(h2server, (s) => s.close());
    const server = new WebSocketServer({ server: h2server, heartbeatInterval: 0 });
    cleanup.server(server);
    echo(server);
    h2server.listen(0, HOST);
    await next(h2server, 'listening');
    const port = (h2server.address() as { port: number }).port;

    const session = cleanup.add(await h2Session(port, tls.cert), (s) => s.destroy());
    assert.equal(session.remoteSettings.enableConnectProtocol, true);
    const page = session.request({ ':path': '/' });
    let body = '';
    page.on('data', (d: Buffer) => (body += d));
    await next(page, 'end');
    assert.equal(body, 'page over 2.0');

    const raw = await openRawStream(session, '/ws');
    assert.equal(raw.status, 200);
    raw.send(OP.TEXT, 'attached');
    const [frame] = await raw.nextFrames(1);
    assert.equal(frame!.payload.toString(), 'attached');

    const socket = cleanup.socket(tlsConnect({ host: HOST, port, ca: tls.cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] }));
    await next(socket, 'secureConnect');
    socket.write(upgradeRequest('/h1'));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    await until(() => text.includes('\r\n\r\n'), 3000, 'the 101');
    assert.match(text, /^HTTP\/1\.1 101 /);
    await until(() => server.clients.size === 2, 3000, 'two clients, h2 and h1');
  });
});
