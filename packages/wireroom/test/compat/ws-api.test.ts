// The ws-compatible API in detail, against real sockets and a real `ws` peer: the constructor's life cycle,
// send()'s argument rules and callback, the client and server options ws users pass, ws's perMessageDeflate
// shape (honoured or refused, never ignored), and createWebSocketStream's backpressure.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer, type Socket } from 'node:net';
import { once } from 'node:events';
import WsClient, { WebSocketServer as WsServer } from 'ws';
import WebSocket, { createWebSocketStream, WebSocketServer, WireroomError, type WebSocket as Connection } from '../../src/index.js';
import { Cleanup, delay, HOST, next, startServer, until, within } from '../helpers/loopback.js';

const T = { timeout: 20_000 };
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function wsPeer(options: WsServer['options'] = {}): Promise<{ peer: WsServer; url: string }> {
  const peer = new WsServer({ host: HOST, port: 0, ...options });
  await once(peer, 'listening');
  cleanup.add(peer, (p) => {
    for (const c of p.clients) c.terminate();
    p.close();
  });
  return { peer, url: `ws://${HOST}:${(peer.address() as { port: number }).port}` };
}

function wsOpen(url: string, options: WsClient.ClientOptions = {}): Promise<WsClient> {
  const client = cleanup.socket(new WsClient(url, options));
  return within(new Promise((resolve, reject) => {
    client.once('open', () => resolve(client));
    client.once('error', reject);
  }), 5000, 'ws client open');
}

function drainOr(stream: NodeJS.EventEmitter, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      stream.removeListener('drain', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    stream.once('drain', done);
  });
}

/** The events of `ws` in order, as strings. */
function record(ws: Connection): string[] {
  const events: string[] = [];
  ws.on('open', () => events.push('open'));
  ws.on('error', (e: Error & { code?: string }) => events.push(`error:${e.code ?? e.message}`));
  ws.on('close', (code: number) => events.push(`close:${code}`));
  return events;
}

describe('new WebSocket(address, protocols, options)', () => {
  it('is CONNECTING at once, emits open on a later tick, and takes protocols as a string or array', T, async () => {
    const { peer, url } = await wsPeer({ handleProtocols: (offered) => [...offered].at(-1)! });
    const ws = cleanup.socket(new WebSocket(`${url}/chat?x=1`, ['one', 'two']));
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    assert.equal(ws.url, `${url}/chat?x=1`);
    const events = record(ws); // listeners added after the constructor still see 'open'
    const [serverSide] = await next<[WsClient]>(peer, 'connection');
    await until(() => events.includes('open'), 5000, 'open');
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.equal(ws.protocol, 'two');
    assert.equal(serverSide.protocol, 'two');
    const single = cleanup.socket(new WebSocket(url, 'one', { headers: { 'x-test': 'yes' } }));
    const [, request] = await next<[WsClient, { headers: Record<string, string> }]>(peer, 'connection');
    await next(single, 'open');
    assert.equal(single.protocol, 'one');
    assert.equal(request.headers['x-test'], 'yes');
  });

  it('a refused connection emits error, then close 1006; send() before open throws', T, async () => {
    const closed = createNetServer();
    closed.listen(0, HOST);
    await once(closed, 'listening');
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const ws = new WebSocket(`ws://${HOST}:${port}`);
    const events = record(ws);
    assert.throws(() => ws.send('too early'), (e: unknown) => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_STATE');
    await until(() => events.length === 2, 5000, 'error and close');
    assert.deepEqual(events, ['error:ECONNREFUSED', 'close:1006']);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  it('an invalid URL throws at once, as in ws; so do options it cannot honour', () => {
    assert.throws(() => new WebSocket('http//nope'), WireroomError);
    assert.throws(() => new WebSocket('ftp://127.0.0.1/'), /ws: or wss:/);
    assert.throws(() => new WebSocket('ws://127.0.0.1:1/', { agent: {} }), /option agent is not supported/);
    assert.throws(() => new WebSocket('ws://127.0.0.1:1/', { autoPong: false }), /autoPong/);
    assert.throws(() => new WebSocket('ws://127.0.0.1:1/', { protocolVersion: 8 }), /protocol version/);
    assert.throws(() => new WebSocket('ws://127.0.0.1:1/', ['a', 'a']), /duplicated subprotocol/);
    assert.throws(() => new WebSocket('ws://127.0.0.1:1/', { perMessageDeflate: { zlibInflateOptions: { windowBits: 9 } } }), /zlibInflateOptions.windowBits/);
  });

  it('close() while connecting: close 1006, and the server never gets a connection', T, async () => {
    const { peer, url } = await wsPeer();
    let connections = 0;
    peer.on('connection', () => connections++);
    const ws = new WebSocket(url);
    const events = record(ws);
    ws.close();
    assert.deepEqual(events, ['close:1006']);
    await delay(200);
    assert.equal(connections, 0);
    assert.deepEqual(events, ['close:1006'], 'nothing after the close');
  });

  it('handshakeTimeout: a server that never answers -> error WS_ERR_HANDSHAKE_TIMEOUT, then close 1006', T, async () => {
    const silent = createNetServer((socket) => cleanup.socket(socket));
    silent.listen(0, HOST);
    await once(silent, 'listening');
    cleanup.add(silent, (s) => s.close());
    const started = Date.now();
    const ws = new WebSocket(`ws://${HOST}:${(silent.address() as { port: number }).port}`, { handshakeTimeout: 300 });
    const events = record(ws);
    await until(() => events.length === 2, 5000, 'error and close');
    assert.deepEqual(events, ['error:WS_ERR_HANDSHAKE_TIMEOUT', 'close:1006']);
    assert.ok(Date.now() - started >= 290);
  });

  it('followRedirects: a 302 is followed when asked, an error otherwise', T, async () => {
    const { url } = await wsPeer();
    const redirector = createNetServer((socket: Socket) => {
      cleanup.socket(socket);
      socket.once('data', () => socket.end(`HTTP/1.1 302 Found\r\nLocation: ${url.replace('ws:', 'http:')}/moved\r\nContent-Length: 0\r\n\r\n`));
    });
    redirector.listen(0, HOST);
    await once(redirector, 'listening');
    cleanup.add(redirector, (s) => s.close());
    const from = `ws://${HOST}:${(redirector.address() as { port: number }).port}/old`;
    const followed = cleanup.socket(new WebSocket(from, { followRedirects: true }));
    await next(followed, 'open');
    assert.equal(followed.url, `${url}/moved`);
    const refused = new WebSocket(from);
    const events = record(refused);
    await until(() => events.length === 2, 5000, 'error and close');
    assert.deepEqual(events, ['error:WS_ERR_HANDSHAKE_INVALID_RESPONSE', 'close:1006']);
  });

  it('maxPayload (client): a larger message from the server closes with 1009', T, async () => {
    const { peer, url } = await wsPeer();
    peer.on('connection', (ws) => ws.send('x'.repeat(11)));
    const ws = new WebSocket(url, { maxPayload: 10 });
    const events = record(ws);
    await until(() => events.some((e) => e.startsWith('close')), 5000, 'close');
    assert.equal(events.length, 3);
    assert.equal(events[0], 'open');
    assert.match(events[1]!, /^error:WS_ERR_(MESSAGE|FRAME)_TOO_BIG$/); // one frame: the frame limit follows maxPayload
    assert.equal(events[2], 'close:1009');
  });
});

describe('send(data, options, callback) with ws\'s rules', () => {
  it('numbers go as text; the callback comes after the write, in order; after close, the callback gets the error', T, async () => {
    const { peer, url } = await wsPeer();
    const received: Array<[string, boolean]> = [];
    peer.on('connection', (ws) => ws.on('message', (d: Buffer, isBinary: boolean) => received.push([d.toString(), isBinary])));
    const ws = cleanup.socket(new WebSocket(url));
    await next(ws, 'open');
    const calls: string[] = [];
    ws.send(42, (error) => calls.push(`a:${error ?? 'ok'}`));
    ws.send('text', { binary: true }, (error) => calls.push(`b:${error ?? 'ok'}`));
    ws.send(Buffer.from('buf'), { binary: false });
    assert.deepEqual(calls, [], 'not before the write');
    await until(() => calls.length === 2, 5000, 'callbacks');
    assert.deepEqual(calls, ['a:ok', 'b:ok']);
    await until(() => received.length === 3, 5000, 'messages');
    assert.deepEqual(received, [['42', false], ['text', true], ['buf', false]]);
    ws.close();
    let afterClose: Error | undefined;
    let errorEvents = 0;
    ws.on('error', () => errorEvents++);
    assert.equal(ws.send('late', (error) => { afterClose = error; }), false);
    await until(() => afterClose !== undefined, 2000, 'the callback');
    assert.equal((afterClose as WireroomError).code, 'WS_ERR_INVALID_STATE');
    assert.equal(errorEvents, 0, 'with a callback the error goes there only, as in ws');
  });
});

describe('server options as ws takes them', () => {
  it('verifyClient, sync and async (info.origin, info.req), refusing with 401 or the given code', T, async () => {
    const seen: Array<string | undefined> = [];
    const sync = await startServer({ allowOrigin: '*', verifyClient: (info: { origin?: string; req: { url?: string } }) => {
      seen.push(info.origin);
      return info.req.url === '/ok';
    } });
    cleanup.server(sync.server);
    await wsOpen(`${sync.url}/ok`, { origin: 'https://app.example' });
    await assert.rejects(wsOpen(`${sync.url}/no`), /Unexpected server response: 401/);
    assert.deepEqual(seen, ['https://app.example', undefined]);
    const async = await startServer({ verifyClient: (info: { req: { url?: string } }, done: (ok: boolean, code?: number, message?: string) => void) => {
      setTimeout(() => (info.req.url === '/ok' ? done(true) : done(false, 403, 'Go away')), 20);
    } });
    cleanup.server(async.server);
    await wsOpen(`${async.url}/ok`);
    await assert.rejects(wsOpen(`${async.url}/no`), /Unexpected server response: 403/);
    assert.throws(() => new WebSocketServer({ noServer: true, verifyClient: () => true, authenticate: () => true }), /not both/);
  });

  it('clientTracking: false leaves clients undefined; close() still closes the connections', T, async () => {
    const { server, url } = await startServer({ clientTracking: false });
    assert.equal(server.clients, undefined);
    const client = await wsOpen(url);
    const closed = new Promise<number>((resolve) => client.once('close', resolve));
    await server.close({ timeout: 2000 });
    assert.equal(await within(closed, 3000, 'close'), 1001);
  });

  it('maxPayload (server): a larger message closes with 1009; with both limits given it throws', T, async () => {
    const { server, url } = await startServer({ maxPayload: 10 });
    cleanup.server(server);
    const client = await wsOpen(url);
    const closed = new Promise<number>((resolve) => client.once('close', resolve));
    client.send('x'.repeat(11));
    assert.equal(await within(closed, 3000, 'close'), 1009);
    assert.throws(() => new WebSocketServer({ noServer: true, maxPayload: 1, maxMessageSize: 1 }), /not both/);
  });

  it('close(callback), as ws calls it', T, async () => {
    const { server } = await startServer();
    let called = false;
    server.close(() => { called = true; });
    await until(() => called, 3000, 'the callback');
  });

  it('perMessageDeflate: zlibDeflateOptions.level is honoured (level 0 sends more bytes than level 9)', T, async () => {
    const message = JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ id: i, text: 'hello world' })));
    const bytesFor = async (level: number): Promise<number> => {
      const { server, url } = await startServer({ perMessageDeflate: { zlibDeflateOptions: { level, chunkSize: 1024 }, threshold: 0 } });
      cleanup.server(server);
      server.on('connection', (ws: Connection) => ws.send(message));
      const client = await wsOpen(url, { perMessageDeflate: true });
      const [data] = await next<[Buffer]>(client, 'message');
      assert.equal(data.toString(), message);
      return (client as unknown as { _socket: Socket })._socket.bytesRead;
    };
    const stored = await bytesFor(0);
    const best = await bytesFor(9);
    assert.ok(stored > message.length, `level 0 stores (${stored} bytes)`);
    assert.ok(best < message.length / 5, `level 9 compresses (${best} bytes)`);
  });

  it('perMessageDeflate: what cannot be honoured is refused with a WireroomError', () => {
    const refuses = (perMessageDeflate: object, pattern: RegExp): void => {
      assert.throws(() => new WebSocketServer({ noServer: true, perMessageDeflate }), (e: unknown) => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_ARGUMENT' && pattern.test(e.message));
    };
    refuses({ zlibDeflateOptions: { windowBits: 10 } }, /serverMaxWindowBits/);
    refuses({ zlibDeflateOptions: { strategy: 1 } }, /zlibDeflateOptions.strategy/);
    refuses({ zlibInflateOptions: { maxOutputLength: 10 } }, /zlibInflateOptions.maxOutputLength/);
    refuses({ unknownOption: true }, /unknownOption/);
    refuses({ zlibDeflateOptions: { level: 3 }, level: 4 }, /disagree/);
    refuses({ zlibDeflateOptions: { level: 10 } }, /level/);
  });
});

describe('createWebSocketStream', () => {
  it('a slow reader pauses the connection; a writer is held by the socket (bounded memory); all arrives in order', T, async () => {
    const { peer, url } = await wsPeer();
    const connected = next<[WsClient]>(peer, 'connection');
    const ws = cleanup.socket(new WebSocket(url));
    const duplex = createWebSocketStream(ws, { readableHighWaterMark: 4096 }); // made while CONNECTING, as in ws
    duplex.on('error', () => {});
    const [serverSide] = await connected;

    // Inbound: 200 messages of 1 KiB that nobody reads pause the connection near the readable high-water mark.
    for (let i = 0; i < 200; i++) serverSide.send(Buffer.alloc(1024, i));
    await until(() => ws.isPaused, 3000, 'the connection to pause');
    await delay(100);
    assert.ok(duplex.readableLength <= 8 * 1024, `the stream holds ${duplex.readableLength} bytes, not the 200 KiB sent`);
    const chunks: Buffer[] = [];
    duplex.on('data', (chunk: Buffer) => chunks.push(chunk));
    await until(() => chunks.length === 200, 5000, 'every message');
    assert.ok(chunks.every((c, i) => c.length === 1024 && c[0] === (i & 255)), 'in order, one message per chunk');
    assert.equal(ws.isPaused, false);

    // Outbound: the peer stops reading; a writer that respects write() is stopped by the socket.
    let received = 0;
    let receivedBytes = 0;
    serverSide.on('message', (d: Buffer) => {
      received++;
      receivedBytes += d.length;
    });
    const peerSocket = (serverSide as unknown as { _socket: Socket })._socket;
    peerSocket.pause();
    const chunk = Buffer.alloc(64 * 1024, 7);
    let writes = 0;
    let maxBuffered = 0;
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline) {
      writes++;
      maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
      if (!duplex.write(chunk)) await drainOr(duplex, 100);
    }
    const accepted = writes * chunk.length;
    assert.ok(accepted < 64 * 1024 * 1024, `the writer was stopped (${accepted} bytes accepted in 1.5 s)`);
    assert.ok(maxBuffered <= 4 * chunk.length, `the connection buffered at most ${maxBuffered} bytes`);
    const stuck = writes;
    await delay(300);
    assert.equal(writes, stuck);
    peerSocket.resume();
    await until(() => received === writes, 10_000, 'every written message');
    assert.equal(receivedBytes, accepted);
  });
});
