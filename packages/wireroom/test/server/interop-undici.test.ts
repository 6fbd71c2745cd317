// Interop with undici's WebSocket (the WHATWG client Node itself ships) against our server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { WebSocket as UndiciWebSocket } from 'undici';
import type { WebSocket } from '../../src/connection/websocket.js';
import type { WebSocketServer } from '../../src/server/websocket-server.js';
import { Cleanup, next, startServer, within } from '../helpers/loopback.js';

const T = { timeout: 20_000 };

type UMessage = { data: string | ArrayBuffer };

function open(url: string, protocols?: string[]): Promise<UndiciWebSocket> {
  const client = new UndiciWebSocket(url, protocols);
  client.binaryType = 'arraybuffer';
  return within(new Promise((resolve, reject) => {
    client.addEventListener('open', () => resolve(client), { once: true });
    client.addEventListener('error', (e) => reject(new Error(`undici error: ${String((e as { message?: string }).message)}`)), { once: true });
  }), 5000, 'undici open');
}

function nextMessage(client: UndiciWebSocket, ms = 10_000): Promise<UMessage> {
  return within(new Promise((resolve) => client.addEventListener('message', (e) => resolve(e as unknown as UMessage), { once: true })), ms, 'undici message');
}

function closed(client: UndiciWebSocket): Promise<{ code: number; reason: string; wasClean: boolean }> {
  return within(new Promise((resolve) => client.addEventListener('close', (e) => {
    const ev = e as unknown as { code: number; reason: string; wasClean: boolean };
    resolve({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
  }, { once: true })), 5000, 'undici close');
}

describe('undici WebSocket -> our server', () => {
  const cleanup = new Cleanup();
  let server: WebSocketServer;
  let url = '';
  const serverSide: WebSocket[] = [];
  before(async () => {
    ({ server, url } = await startServer({ maxMessageSize: 16 * 1024 * 1024, maxBufferedAmount: 64 * 1024 * 1024, protocols: ['chat.v1'] }));
    cleanup.server(server);
    server.on('connection', (ws: WebSocket, req: { url?: string }) => {
      serverSide.push(ws);
      if (req.url !== '/quiet') ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    });
  });
  after(() => cleanup.run());

  it('text, binary and several MiB echo back', T, async () => {
    const client = cleanup.add(await open(`${url}/echo`), (c) => c.close());
    client.send('undici ✓');
    let m = await nextMessage(client);
    assert.equal(m.data, 'undici ✓');
    const bin = randomBytes(1000);
    client.send(bin);
    m = await nextMessage(client);
    assert.ok(m.data instanceof ArrayBuffer);
    assert.ok(Buffer.from(m.data).equals(bin));
    const big = randomBytes(4 * 1024 * 1024 + 3);
    client.send(big);
    m = await nextMessage(client);
    assert.ok(Buffer.from(m.data as ArrayBuffer).equals(big));
  });

  it('negotiates a subprotocol and receives our fragmented messages', T, async () => {
    const client = cleanup.add(await open(`${url}/quiet`, ['other', 'chat.v1']), (c) => c.close());
    assert.equal(client.protocol, 'chat.v1');
    const ws = serverSide.at(-1)!;
    assert.equal(ws.protocol, 'chat.v1');
    const payload = randomBytes(70_000);
    const got = nextMessage(client);
    ws.send(payload, { fragmentSize: 1024 });
    assert.ok(Buffer.from((await got).data as ArrayBuffer).equals(payload));
    const text = '€uro '.repeat(3000);
    const gotText = nextMessage(client);
    ws.send(text, { fragmentSize: 101 });
    assert.equal((await gotText).data, text);
  });

  it('answers our ping with a pong', T, async () => {
    const client = cleanup.add(await open(`${url}/quiet`), (c) => c.close());
    void client;
    const ws = serverSide.at(-1)!;
    const pong = next<[Buffer]>(ws, 'pong');
    ws.ping('are you there');
    assert.equal((await pong)[0].toString(), 'are you there');
  });

  it('close from undici: code and reason reach the server, both clean', T, async () => {
    const client = await open(`${url}/quiet`);
    const ws = serverSide.at(-1)!;
    const serverClosed = next<[number, string, boolean]>(ws, 'close');
    const clientClosed = closed(client);
    client.close(4321, 'undici leaves');
    assert.deepEqual(await serverClosed, [4321, 'undici leaves', true]);
    const c = await clientClosed;
    assert.equal(c.code, 4321);
    assert.equal(c.wasClean, true);
  });

  it('close from our server: undici sees code, reason and wasClean', T, async () => {
    const client = await open(`${url}/quiet`);
    const ws = serverSide.at(-1)!;
    const clientClosed = closed(client);
    const serverClosed = next<[number, string, boolean]>(ws, 'close');
    ws.close(1001, 'going away');
    assert.deepEqual(await clientClosed, { code: 1001, reason: 'going away', wasClean: true });
    const [code, , wasClean] = await serverClosed;
    assert.equal(code, 1001);
    assert.equal(wasClean, true);
  });

  it('negotiates permessage-deflate with a server that enables it', T, async () => {
    const deflating = await startServer({ perMessageDeflate: true });
    cleanup.server(deflating.server);
    const seen: WebSocket[] = [];
    deflating.server.on('connection', (ws: WebSocket) => {
      seen.push(ws);
      ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    });
    const client = cleanup.add(await open(`${deflating.url}/`), (c) => c.close());
    assert.match(client.extensions, /^permessage-deflate/);
    assert.equal(seen[0]!.extensions, client.extensions);
    for (let i = 0; i < 5; i++) {
      const text = `message ${i}: ${'compressible text '.repeat(200)}`;
      const got = nextMessage(client);
      client.send(text);
      assert.equal((await got).data, text);
    }
    const bin = randomBytes(5000);
    const got = nextMessage(client);
    client.send(bin);
    assert.ok(Buffer.from((await got).data as ArrayBuffer).equals(bin));
  });
});
