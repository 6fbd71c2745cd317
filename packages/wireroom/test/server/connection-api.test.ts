// The connection API on live sockets: broadcast() framed once, server.clients, the WHATWG event style, close()
// argument validation (throws, sends nothing), send() after close, and garbage input never crashing the server.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from '../../src/client/connect.js';
import { WireroomError } from '../../src/protocol/errors.js';
import { WebSocket } from '../../src/connection/websocket.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import {
  Cleanup, closeCodeOf, delay, maskedFrame, next, rawConnect, rawWebSocket, readAll, startServer, until, within, type RawPeer,
} from '../helpers/loopback.js';

const T = { timeout: 20_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

function echo(ws: WebSocket): void {
  ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
}

describe('broadcast and clients', () => {
  it('frames once: every recipient is queued the same Buffer and receives identical bytes; returns the count', T, async () => {
    const { server, port } = await startServer();
    cleanup.server(server);
    const peers: RawPeer[] = [];
    for (let i = 0; i < 4; i++) {
      const peer = await rawWebSocket(port);
      cleanup.socket(peer.socket);
      peers.push(peer.read());
    }
    await until(() => server.clients.size === 4, 2000, 'four clients');
    const queued: unknown[] = [];
    for (const ws of server.clients) {
      // The core is where every outbound frame is accepted: spy on what the fan-out hands it.
      const core = (ws as unknown as { core: { sendFrame(frame: unknown): number } }).core;
      const original = core.sendFrame.bind(core);
      core.sendFrame = (frame) => {
        queued.push(frame);
        return original(frame);
      };
    }
    const text = 'to everyone ✓ '.repeat(20);
    assert.equal(server.broadcast(server.clients, text), 4);
    assert.equal(queued.length, 4);
    for (const frame of queued) assert.equal(frame, queued[0], 'the same frame object for every recipient');
    const binary = randomBytes(70_000); // 64-bit length header
    assert.equal(server.broadcast(server.clients, binary), 4);
    await until(() => peers.every((p) => p.frames.length === 2), 3000, 'both broadcasts everywhere');
    const first = peers[0]!.frames;
    assert.equal(first[0]!.opcode, 1);
    assert.equal(first[0]!.payload.toString(), text);
    assert.equal(first[1]!.opcode, 2);
    assert.ok(first[1]!.payload.equals(binary));
    for (const p of peers) {
      assert.ok(p.frames[0]!.payload.equals(first[0]!.payload));
      assert.ok(p.frames[1]!.payload.equals(first[1]!.payload));
    }
  });

  it('counts messages queued past the high-water mark, not those dropped at the cap', T, async () => {
    const { server, port } = await startServer({ maxBufferedAmount: 300 * 1024, backpressure: 'drop' });
    cleanup.server(server);
    const peers: RawPeer[] = [];
    for (let i = 0; i < 2; i++) {
      const peer = await rawWebSocket(port);
      cleanup.socket(peer.socket);
      peers.push(peer.read());
    }
    await until(() => server.clients.size === 2, 2000, 'two clients');
    const big = randomBytes(200 * 1024);
    // Same tick: the first is queued (past the 64 KiB mark), the second would pass the 300 KiB cap.
    assert.equal(server.broadcast(server.clients, big), 2);
    assert.equal(server.broadcast(server.clients, big), 0);
    for (const ws of server.clients) assert.equal(ws.droppedMessages, 1);
    await until(() => peers.every((p) => p.frames.length === 1), 3000, 'the first broadcast everywhere');
    for (const p of peers) assert.ok(p.frames[0]!.payload.equals(big));
  });

  it('skips connections that are not open in the count; server.clients follows opens and closes', T, async () => {
    const { server, url } = await startServer();
    cleanup.server(server);
    const seen: WebSocket[] = [];
    server.on('connection', (ws: WebSocket) => seen.push(ws));
    assert.equal(server.clients.size, 0);
    const a = cleanup.socket(await connect(url));
    const b = cleanup.socket(await connect(url));
    const c = await connect(url);
    await until(() => server.clients.size === 3, 2000, 'three clients');
    assert.deepEqual(new Set(seen), server.clients);
    const gotA = next<[Buffer]>(a, 'message');
    const gotB = next<[Buffer]>(b, 'message');
    const closing = seen[2]!;
    closing.close(1000); // CLOSING: not counted
    assert.equal(server.broadcast(seen, 'hi'), 2);
    assert.equal((await gotA)[0].toString(), 'hi');
    assert.equal((await gotB)[0].toString(), 'hi');
    await next(c, 'close');
    await until(() => server.clients.size === 2, 2000, 'the closed one removed');
    assert.equal(server.clients.has(closing), false);
    b.terminate();
    await until(() => server.clients.size === 1, 2000, 'the terminated one removed');
  });

  it('a client-side connection re-frames (masks) prepared messages', T, async () => {
    const { server, url } = await startServer();
    cleanup.server(server);
    server.on('connection', echo);
    const { prepareMessage } = await import('../../src/connection/fanout.js');
    const client = cleanup.socket(await connect(url));
    const reply = next<[Buffer, boolean]>(client, 'message');
    assert.equal(client.sendPrepared(prepareMessage('prepared')), true);
    const [data, isBinary] = await reply;
    assert.equal(data.toString(), 'prepared');
    assert.equal(isBinary, false);
  });
});

describe('WHATWG event style', () => {
  it('onmessage/addEventListener: text as string, binary as Buffer or ArrayBuffer per binaryType; close event shape', T, async () => {
    const { server, url } = await startServer();
    cleanup.server(server);
    server.on('connection', echo);
    const ws = await connect(url);
    const events: unknown[] = [];
    ws.onmessage = (e: { data: unknown; type: string }) => events.push(['onmessage', e.type, e.data]);
    const listener = (e: { data: unknown }): void => void events.push(['listener', e.data]);
    ws.addEventListener('message', listener);
    ws.addEventListener('message', listener); // added once, like EventTarget
    const onceEvents: unknown[] = [];
    ws.addEventListener('message', (e: { data: unknown }) => onceEvents.push(e.data), { once: true });

    ws.send('text ✓');
    await until(() => events.length === 2, 2000, 'text');
    assert.deepEqual(events, [['onmessage', 'message', 'text ✓'], ['listener', 'text ✓']]);
    assert.deepEqual(onceEvents, ['text ✓']);

    events.length = 0;
    ws.send(Buffer.from([1, 2, 3]));
    await until(() => events.length === 2, 2000, 'binary');
    assert.ok(Buffer.isBuffer((events[0] as unknown[])[2]), 'nodebuffer by default');
    assert.deepEqual([...((events[0] as unknown[])[2] as Buffer)], [1, 2, 3]);

    events.length = 0;
    ws.binaryType = 'arraybuffer';
    ws.removeEventListener('message', listener);
    ws.send(Buffer.from([9, 8]));
    await until(() => events.length === 1, 2000, 'arraybuffer');
    const ab = (events[0] as unknown[])[2];
    assert.ok(ab instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(ab)], [9, 8]);
    assert.deepEqual(onceEvents, ['text ✓'], 'the once listener ran once');

    const closeEvent = new Promise<Record<string, unknown>>((resolve) => (ws.onclose = resolve));
    ws.close(4100, 'whatwg bye');
    const ev = await within(closeEvent, 5000, 'close event');
    assert.equal(ev.type, 'close');
    assert.equal(ev.code, 4100);
    assert.equal(typeof ev.reason, 'string');
    assert.equal(ev.wasClean, true);
    assert.equal(ev.target, ws);
    assert.equal(ws.readyState, ws.CLOSED);
  });
});

describe('close() validation and send() after close', () => {
  it('a bad code or a 124-byte reason throws WS_ERR_INVALID_ARGUMENT and sends nothing', T, async () => {
    const { server, port } = await startServer();
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const peer = (await rawWebSocket(port)).read();
    cleanup.socket(peer.socket);
    const [ws] = await connected;
    const bad: Array<[number | undefined, unknown]> = [
      [999, undefined], [1004, undefined], [1005, undefined], [1006, undefined], [1015, undefined], [2999, undefined],
      [5000, undefined], [1000.5, undefined], [Number.NaN, undefined], [1000, 'x'.repeat(124)], [1000, 'é'.repeat(62)],
    ];
    for (const [code, reason] of bad) {
      assert.throws(() => ws.close(code, reason as string), (e: unknown) => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_ARGUMENT', `close(${code}, ${String(reason).length} chars)`);
    }
    await delay(100);
    assert.equal(peer.frames.length, 0, 'nothing was sent');
    assert.equal(ws.readyState, ws.OPEN);
    // 123 bytes is the maximum and is sent as given.
    const reason = 'r'.repeat(123);
    ws.close(4999, reason);
    await until(() => peer.closeFrames().length === 1, 2000, 'the close frame');
    const frame = peer.closeFrames()[0]!;
    assert.equal(closeCodeOf(frame), 4999);
    assert.equal(frame.payload.subarray(2).toString(), reason);
  });

  it('other misuse throws INVALID_ARGUMENT and sends nothing: non-string reason, reason without code, big ping, bad data', T, async () => {
    const { server, port } = await startServer();
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const peer = (await rawWebSocket(port)).read();
    cleanup.socket(peer.socket);
    const [ws] = await connected;
    const invalid = (e: unknown): boolean => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_ARGUMENT';
    assert.throws(() => ws.close(1000, 42 as unknown as string), invalid);
    assert.throws(() => ws.close(1000, null as unknown as string), invalid);
    assert.throws(() => ws.close(undefined, 'a reason without a code'), invalid);
    assert.throws(() => ws.close('1000' as unknown as number), invalid);
    assert.throws(() => ws.ping(Buffer.alloc(126)), invalid);
    assert.throws(() => ws.pong('p'.repeat(126)), invalid);
    assert.throws(() => ws.send({ not: 'data' } as unknown as string), invalid);
    assert.throws(() => ws.send('x', { fin: false }), invalid); // ws's streaming form: not supported
    assert.throws(() => ws.send('x', { mask: true }), invalid); // a server must not mask
    await delay(100);
    assert.equal(peer.frames.length, 0, 'nothing was sent');
    ws.ping(Buffer.alloc(125, 1)); // the largest allowed control payload
    ws.send(new Uint16Array([1, 2])); // typed arrays are binary
    ws.send(42); // numbers are text, as in ws
    await until(() => peer.frames.length === 3, 2000, 'ping and messages');
    assert.equal(peer.frames[0]!.opcode, 9);
    assert.equal(peer.frames[0]!.payload.length, 125);
    assert.equal(peer.frames[1]!.opcode, 2);
    assert.deepEqual([...peer.frames[1]!.payload], [...Buffer.from(new Uint16Array([1, 2]).buffer)]);
    assert.equal(peer.frames[2]!.opcode, 1);
    assert.equal(peer.frames[2]!.payload.toString(), '42');
  });

  it('simultaneous close from both sides completes cleanly on both', T, async () => {
    const { server, url } = await startServer();
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const client = await connect(url);
    const [ws] = await connected;
    const clientClosed = next<[number, string, boolean]>(client, 'close');
    const serverClosed = next<[number, string, boolean]>(ws, 'close');
    client.close(4001, 'client');
    ws.close(4002, 'server');
    const [c, s] = await Promise.all([clientClosed, serverClosed]);
    assert.deepEqual(c, [4002, 'server', true]);
    assert.deepEqual(s, [4001, 'client', true]);
  });

  it('send() after close returns false, does not throw, reports an error only to listeners', T, async () => {
    const { server, url } = await startServer();
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const client = await connect(url);
    const [ws] = await connected;
    const closed = next(client, 'close');
    client.close(1000, 'done');
    assert.equal(client.send('while closing'), false);
    await closed;
    assert.equal(client.send('after close'), false);
    assert.equal(client.send(Buffer.alloc(10)), false);
    assert.doesNotThrow(() => client.ping());
    assert.doesNotThrow(() => client.close());
    assert.doesNotThrow(() => client.terminate());
    const errors: string[] = [];
    client.on('error', (e: { code: string }) => errors.push(e.code));
    assert.equal(client.send('with listener'), false);
    assert.deepEqual(errors, ['WS_ERR_INVALID_STATE']);
    await until(() => ws.readyState === ws.CLOSED, 2000, 'server side closed');
    assert.equal(ws.send('server side after close'), false);
  });
});

describe('application errors', () => {
  it("a 'connection' listener that throws: the client is closed with 1011 (no HTTP bytes after the 101)", T, async () => {
    const { server, url } = await startServer();
    cleanup.server(server);
    const errors: string[] = [];
    server.on('error', (e: Error) => errors.push(e.message));
    let calls = 0;
    server.on('connection', (ws: WebSocket) => {
      if (++calls === 1) throw new Error('application bug');
      echo(ws);
    });
    const client = await connect(url);
    const clientErrors: string[] = [];
    client.on('error', (e: { code: string }) => clientErrors.push(e.code));
    const [code, reason, wasClean] = await next<[number, string, boolean]>(client, 'close');
    assert.deepEqual([code, reason, wasClean], [1011, 'Internal server error', true]);
    assert.deepEqual(clientErrors, [], 'no protocol error: nothing but frames after the 101');
    assert.deepEqual(errors, ['application bug']);
    await until(() => server.clients.size === 0, 3000, 'the failed connection removed');
    const next2 = cleanup.socket(await connect(url));
    const reply = next<[Buffer]>(next2, 'message');
    next2.send('fine');
    assert.equal((await reply)[0].toString(), 'fine');
  });
});

describe('garbage never crashes the server', () => {
  it('random bytes as a handshake and after a good handshake; other connections keep working', { timeout: 60_000 }, async () => {
    const { server, port, url } = await startServer({ handshakeTimeout: 1000, closeTimeout: 500 });
    cleanup.server(server);
    server.on('connection', echo);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => void uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    cleanup.add(onUncaught, (fn) => process.removeListener('uncaughtException', fn));
    const bystander = cleanup.socket(await connect(url));
    const check = async (): Promise<void> => {
      const reply = next<[Buffer]>(bystander, 'message');
      bystander.send('still alive');
      assert.equal((await reply)[0].toString(), 'still alive');
    };
    await check();
    // Garbage handshakes: each gets an HTTP error or a timeout, never a 101.
    for (let i = 0; i < 30; i++) {
      const socket = await rawConnect(port);
      cleanup.socket(socket);
      socket.write(randomBytes(1 + (i * 97) % 3000));
      if (i % 3 === 0) socket.write('\r\n\r\n');
      const answer = (await readAll(socket, 5000)).toString('latin1');
      assert.doesNotMatch(answer, /^HTTP\/1\.1 101/);
    }
    await check();
    // Garbage after a good handshake: the connection is failed (a close frame or just TCP close).
    const closes: number[] = [];
    for (let i = 0; i < 30; i++) {
      const peer = await rawWebSocket(port);
      cleanup.socket(peer.socket);
      peer.read();
      peer.socket.write(randomBytes(1 + (i * 131) % 5000));
      if (i % 2 === 0) peer.socket.write(maskedFrame(0x1, Buffer.from([0xff, 0xfe]))); // invalid UTF-8 too
      peer.socket.end();
      await within(peer.closed, 5000, 'garbage connection closed');
      const frame = peer.closeFrames()[0];
      if (frame) closes.push(closeCodeOf(frame));
    }
    for (const code of closes) assert.ok([1002, 1007, 1008, 1009, 1000, 1005].includes(code), `close code ${code}`);
    await check();
    await until(() => server.clients.size === 1, 5000, 'only the bystander left');
    assert.deepEqual(uncaught, []);
  });
});

describe('the WebSocket object itself (no socket)', () => {
  it('keeps the EventEmitter listener semantics: names are own keys only, any string is an event name', () => {
    const ws = new WebSocket();
    assert.deepEqual(ws.eventNames(), []);
    for (const name of ['toString', 'constructor', 'hasOwnProperty', '__proto__']) assert.equal(ws.listenerCount(name), 0, name);
    const calls: string[] = [];
    const onMessage = (data: string): void => void calls.push(`message:${data}`);
    ws.on('message', onMessage);
    ws.on('toString', () => calls.push('toString'));
    ws.on('__proto__', () => calls.push('__proto__'));
    ws.once('message', (data: string) => calls.push(`once:${data}`));
    assert.deepEqual(ws.eventNames().sort(), ['__proto__', 'message', 'toString']);
    assert.equal(ws.emit('message', 'a'), true);
    assert.equal(ws.emit('message', 'b'), true);
    assert.equal(ws.emit('toString'), true);
    assert.equal(ws.emit('__proto__'), true);
    assert.equal(ws.emit('constructor'), false);
    assert.deepEqual(calls, ['message:a', 'once:a', 'message:b', 'toString', '__proto__']);
    ws.off('message', onMessage);
    assert.equal(ws.listenerCount('message'), 0);
    ws.removeAllListeners();
    assert.deepEqual(ws.eventNames(), []);
    assert.equal(typeof ws.toString, 'function', 'instance methods are not shadowed by event names');
  });

  it('readyState constants on the instance and the class; binaryType takes only its two values', () => {
    const ws = new WebSocket();
    assert.deepEqual([ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED], [0, 1, 2, 3]);
    assert.deepEqual([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED], [0, 1, 2, 3]);
    assert.equal(ws.readyState, ws.CONNECTING);
    assert.equal(ws.binaryType, 'nodebuffer');
    ws.binaryType = 'arraybuffer';
    assert.equal(ws.binaryType, 'arraybuffer');
    (ws as { binaryType: string }).binaryType = 'blob'; // invalid: ignored, as browsers do
    assert.equal(ws.binaryType, 'arraybuffer');
    ws.binaryType = 'nodebuffer';
    assert.equal(ws.binaryType, 'nodebuffer');
  });

  it('invalid headLimits throw when the server is created, not on every connection', () => {
    assert.throws(() => new WebSocketServer({ noServer: true, headLimits: { maxHeaders: 0 } }), (error: unknown) => error instanceof WireroomError && error.code === 'WS_ERR_INVALID_ARGUMENT');
    assert.throws(() => new WebSocketServer({ noServer: true, headLimits: { maxHeaderBytes: 1.5 } }), WireroomError);
  });
});
