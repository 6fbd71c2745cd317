// Ordering and hand-over edge cases: frames that arrive with the upgrade request (standalone and attached),
// message order when compressed and uncompressed messages interleave, messages sent just before close(), and
// the 'wait' backpressure policy (stop reading the peer until its outbound buffer drains).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import WsClient, { WebSocketServer as WsServer } from 'ws';
import { connect } from '../../src/client/connect.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import type { WebSocket } from '../../src/connection/websocket.js';
import {
  Cleanup, HOST, maskedFrame, next, rawConnect, rawWebSocket, startServer, until, upgradeRequest, within,
} from '../helpers/loopback.js';

const T = { timeout: 30_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

describe('frames sent together with the upgrade request', () => {
  const burst = (): Buffer => Buffer.concat([
    Buffer.from(upgradeRequest('/early'), 'latin1'),
    maskedFrame(1, Buffer.from('one')), maskedFrame(1, Buffer.from('two')), maskedFrame(2, Buffer.from([3])),
  ]);

  it('standalone: delivered in order to listeners added in the connection handler', T, async () => {
    const { server, port } = await startServer();
    cleanup.server(server);
    const got: string[] = [];
    server.on('connection', (ws: WebSocket) => ws.on('message', (d: Buffer, b: boolean) => got.push(b ? `bin:${d[0]}` : d.toString())));
    const socket = cleanup.socket(await rawConnect(port));
    socket.on('error', () => {});
    socket.write(burst());
    await until(() => got.length === 3, 3000, 'three early messages');
    assert.deepEqual(got, ['one', 'two', 'bin:3']);
  });

  it('attached to http.Server: the upgrade head bytes are not lost', T, async () => {
    const http = createHttpServer();
    const wss = new WebSocketServer({ server: http, heartbeatInterval: 0 });
    cleanup.server(wss);
    await new Promise<void>((resolve) => http.listen(0, HOST, resolve));
    cleanup.add(http, (h) => new Promise<void>((resolve) => {
      h.closeAllConnections();
      h.close(() => resolve());
    }));
    const got: string[] = [];
    wss.on('connection', (ws: WebSocket) => ws.on('message', (d: Buffer, b: boolean) => got.push(b ? `bin:${d[0]}` : d.toString())));
    const socket = cleanup.socket(await rawConnect((http.address() as { port: number }).port));
    socket.on('error', () => {});
    socket.write(burst());
    await until(() => got.length === 3, 3000, 'three early messages');
    assert.deepEqual(got, ['one', 'two', 'bin:3']);
  });
});

describe('message order with permessage-deflate', () => {
  it('our client: small (uncompressed) and large (compressed) messages arrive at ws in send order', T, async () => {
    const wss = new WsServer({ host: HOST, port: 0, perMessageDeflate: true });
    await next(wss, 'listening');
    cleanup.add(wss, (s) => new Promise<void>((resolve) => {
      for (const c of s.clients) c.terminate();
      s.close(() => resolve());
    }));
    const received: string[] = [];
    wss.on('connection', (peer) => peer.on('message', (d) => received.push(d.toString())));
    const ws = cleanup.socket(await connect(`ws://${HOST}:${(wss.address() as { port: number }).port}/`, { perMessageDeflate: { threshold: 1024 } }));
    const sent: string[] = [];
    for (let i = 0; i < 200; i++) {
      const m = i % 3 === 0 ? `${i}:${'large '.repeat(500)}` : `${i}:small`;
      sent.push(m);
      ws.send(m, i % 7 === 0 ? { fragmentSize: 100 } : undefined);
    }
    await until(() => received.length === sent.length, 10_000, 'all messages');
    assert.deepEqual(received.map((m) => m.split(':')[0]), sent.map((m) => m.split(':')[0]));
    assert.deepEqual(received, sent);
  });

  it('our server: order kept across compressed, uncompressed and prepared sends; close() goes after them', T, async () => {
    const { server, url } = await startServer({ perMessageDeflate: { threshold: 1024 } });
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const client = new WsClient(url, { perMessageDeflate: true });
    cleanup.socket(client);
    const received: string[] = [];
    client.on('message', (d) => received.push(d.toString()));
    const closed = within(new Promise<[number, string]>((resolve) => client.on('close', (c, r) => resolve([c, r.toString()]))), 10_000, 'ws close');
    const [ws] = await connected;
    await within(new Promise((r) => client.once('open', r)), 5000, 'open');
    const { prepareMessage } = await import('../../src/connection/fanout.js');
    const sent: string[] = [];
    for (let i = 0; i < 120; i++) {
      const m = i % 2 === 0 ? `${i}:${'payload '.repeat(300)}` : `${i}:tiny`;
      sent.push(m);
      if (i % 5 === 0) ws.sendPrepared(prepareMessage(m));
      else if (i % 11 === 0) ws.send(m, { compress: false });
      else ws.send(m);
    }
    ws.close(4000, 'after the messages');
    const [code, reason] = await closed;
    assert.equal(code, 4000);
    assert.equal(reason, 'after the messages');
    assert.equal(received.length, sent.length, 'every message sent before close() was delivered');
    assert.deepEqual(received, sent);
  });
});

describe("'wait' backpressure policy", () => {
  it('stops reading a peer whose outbound buffer is full, and resumes once it drains', T, async () => {
    const { server, port } = await startServer({ maxBufferedAmount: 256 * 1024, backpressure: 'wait', maxMessageSize: 64 * 1024 * 1024 });
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const peer = await rawWebSocket(port);
    cleanup.socket(peer.socket);
    peer.socket.pause(); // not reading yet
    const [ws] = await connected;
    const got: string[] = [];
    ws.on('message', (d: Buffer) => got.push(d.toString()));
    // Fill far past the cap and the kernel buffers: with 'wait' nothing is dropped and the connection stays open.
    const chunk = randomBytes(256 * 1024);
    let queued = 0;
    for (let i = 0; i < 160; i++) {
      ws.send(chunk);
      queued += chunk.length;
      if (i % 16 === 15) await new Promise((r) => setImmediate(r));
    }
    await until(() => ws.bufferedAmount > 256 * 1024, 5000, 'the buffer over the cap');
    assert.equal(ws.readyState, ws.OPEN);
    assert.equal(ws.droppedMessages, 0);
    peer.send(1, 'while you wait');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(got, [], 'the peer is not read while the buffer is over the cap');
    // The peer reads everything: the buffer drains and its message comes in.
    let bytes = 0;
    peer.socket.on('data', (d: Buffer) => (bytes += d.length));
    peer.socket.resume();
    await until(() => got.length === 1, 15_000, 'the waiting message');
    assert.deepEqual(got, ['while you wait']);
    await until(() => bytes >= queued, 15_000, 'everything delivered');
    assert.equal(ws.readyState, ws.OPEN);
  });
});
