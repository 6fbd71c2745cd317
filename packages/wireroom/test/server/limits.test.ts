// Every server limit and timeout, crossed: handshake timeout (slowloris), header size and count (431), request
// line (414), maxMessageSize (1009), maxConnections (503, then accepted again), closeTimeout.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from '../../src/client/connect.js';
import { HandshakeError } from '../../src/protocol/errors.js';
import type { WebSocket } from '../../src/connection/websocket.js';
import {
  Cleanup, closeCodeOf, delay, next, rawConnect, rawStatus, rawWebSocket, readAll, startServer, until, upgradeRequest, within,
} from '../helpers/loopback.js';

const T = { timeout: 20_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

async function started(options: Parameters<typeof startServer>[0]) {
  const s = await startServer(options);
  cleanup.server(s.server);
  return s;
}

describe('handshake limits (standalone head parser)', () => {
  it('a handshake trickled one byte per 200 ms is cut off at handshakeTimeout with 408', T, async () => {
    const { server, port } = await started({ handshakeTimeout: 1000 });
    const rejected: number[] = [];
    server.on('rejected', (s: number) => rejected.push(s));
    const socket = cleanup.socket(await rawConnect(port));
    const bytes = Buffer.from(upgradeRequest('/'));
    let i = 0;
    const trickle = setInterval(() => {
      if (i < bytes.length && socket.writable) socket.write(bytes.subarray(i, ++i));
    }, 200);
    cleanup.add(trickle, clearInterval);
    const began = Date.now();
    const response = (await readAll(socket, 5000)).toString('latin1');
    const elapsed = Date.now() - began;
    clearInterval(trickle);
    assert.match(response, /^HTTP\/1\.1 408 /);
    assert.ok(elapsed >= 900 && elapsed < 2000, `cut off after ${elapsed} ms`);
    assert.ok(i < bytes.length, 'the request was not complete when it was cut off');
    // The server still serves others.
    const ws = cleanup.socket(await connect(`ws://127.0.0.1:${port}/`));
    assert.equal(ws.readyState, ws.OPEN);
  });

  it('too many header bytes: 431; too many headers: 431', T, async () => {
    const { port } = await started({});
    const big = await rawStatus(port, upgradeRequest('/', { 'X-Big': 'a'.repeat(20_000) }));
    assert.equal(big.status, 431);
    const many: Record<string, string> = {};
    for (let h = 0; h < 200; h++) many[`X-H${h}`] = 'v';
    assert.equal((await rawStatus(port, upgradeRequest('/', many))).status, 431);
    // Under the limits the same shapes are fine.
    const few: Record<string, string> = {};
    for (let h = 0; h < 50; h++) few[`X-H${h}`] = 'v';
    const ws = cleanup.socket(await connect(`ws://127.0.0.1:${port}/`, { headers: few }));
    assert.equal(ws.readyState, ws.OPEN);
  });

  it('configured headLimits are applied (maxHeaders, maxHeaderBytes)', T, async () => {
    const { port } = await started({ headLimits: { maxHeaders: 10, maxHeaderBytes: 2048 } });
    const six: Record<string, string> = {};
    for (let h = 0; h < 6; h++) six[`X-H${h}`] = 'v';
    assert.equal((await rawStatus(port, upgradeRequest('/', six))).status, 431);
    assert.equal((await rawStatus(port, upgradeRequest('/', { 'X-Big': 'b'.repeat(2100) }))).status, 431);
    const ws = cleanup.socket(await connect(`ws://127.0.0.1:${port}/`));
    assert.equal(ws.readyState, ws.OPEN);
  });

  it('an over-long request line: 414', T, async () => {
    const { port } = await started({});
    const response = await rawStatus(port, upgradeRequest(`/${'p'.repeat(9000)}`));
    assert.equal(response.status, 414);
  });
});

describe('maxMessageSize', () => {
  it('a message over the limit closes the connection with 1009, whole or fragmented', T, async () => {
    const { server, url } = await started({ maxMessageSize: 1000 });
    const serverErrors: string[] = [];
    server.on('connection', (ws: WebSocket) => {
      ws.on('error', (e: { code: string }) => serverErrors.push(e.code));
      ws.on('message', (d: Buffer) => ws.send(d));
    });
    const ok = cleanup.socket(await connect(url));
    const reply = next<[Buffer]>(ok, 'message');
    ok.send(randomBytes(1000));
    assert.equal((await reply)[0].length, 1000, 'exactly the limit is accepted');

    for (const send of [(ws: WebSocket) => ws.send(randomBytes(1001)), (ws: WebSocket) => ws.send(randomBytes(1500), { fragmentSize: 100 })]) {
      const ws = cleanup.socket(await connect(url));
      const closed = next<[number, string, boolean]>(ws, 'close');
      send(ws);
      const [code] = await closed;
      assert.equal(code, 1009);
    }
    assert.ok(serverErrors.includes('WS_ERR_MESSAGE_TOO_BIG') || serverErrors.includes('WS_ERR_FRAME_TOO_BIG'), serverErrors.join());
  });
});

describe('maxConnections', () => {
  it('503 when full; accepted again after a close', T, async () => {
    const { server, url } = await started({ maxConnections: 2 });
    const a = await connect(url);
    const b = cleanup.socket(await connect(url));
    await until(() => server.clients.size === 2, 2000, 'two clients');
    const error = await connect(url).then((w) => (w.terminate(), null), (e: unknown) => e);
    assert.ok(error instanceof HandshakeError);
    assert.equal(error.status, 503);
    const closed = next(a, 'close');
    a.close();
    await closed;
    await until(() => server.clients.size === 1, 2000, 'the server to forget the closed client');
    const c = cleanup.socket(await connect(url));
    assert.equal(c.readyState, c.OPEN);
    assert.equal(b.readyState, b.OPEN);
  });
});

describe('closeTimeout', () => {
  it('a peer that never answers our close is destroyed after the timeout: 1006, not clean', T, async () => {
    const { server, port } = await started({ closeTimeout: 400 });
    const connected = next<[WebSocket]>(server, 'connection');
    const peer = await rawWebSocket(port);
    cleanup.socket(peer.socket);
    peer.read(); // reads everything, answers nothing, keeps TCP open
    const [ws] = await connected;
    const closed = next<[number, string, boolean]>(ws, 'close', 5000);
    const began = Date.now();
    ws.close(1000, 'bye');
    const [code, , wasClean] = await closed;
    const elapsed = Date.now() - began;
    assert.equal(code, 1006);
    assert.equal(wasClean, false);
    assert.ok(elapsed >= 350 && elapsed < 2000, `destroyed after ${elapsed} ms`);
    await within(peer.closed, 2000, 'peer socket closed');
    assert.equal(peer.closeFrames().length, 1);
    assert.equal(closeCodeOf(peer.closeFrames()[0]!), 1000);
    assert.equal(server.clients.size, 0);
  });

  it('a peer that answers promptly closes cleanly long before the timeout', T, async () => {
    const { server, url } = await started({ closeTimeout: 5000 });
    const connected = next<[WebSocket]>(server, 'connection');
    const client = await connect(url);
    const [ws] = await connected;
    const closed = next<[number, string, boolean]>(ws, 'close');
    const began = Date.now();
    ws.close(4000, 'done');
    assert.deepEqual(await closed, [4000, '', true]);
    assert.ok(Date.now() - began < 1000);
    await delay(10);
    assert.equal(client.readyState, client.CLOSED);
  });
});
