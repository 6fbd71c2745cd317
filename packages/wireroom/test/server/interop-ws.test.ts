// Interop with the `ws` package (a peer nobody here wrote): its client against our server, our client against
// its server. Text, binary, several MiB, fragmented, ping/pong, close codes and reasons, permessage-deflate with
// and without context takeover in both directions.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import WsClient, { WebSocketServer as WsServer, type RawData } from 'ws';
import { connect } from '../../src/client/connect.js';
import type { WebSocket } from '../../src/connection/websocket.js';
import type { WebSocketServer } from '../../src/server/websocket-server.js';
import { Cleanup, HOST, next, startServer, until, within } from '../helpers/loopback.js';

const BIG = 5 * 1024 * 1024 + 17;
const T = { timeout: 20_000 };

function wsOpen(url: string, options: WsClient.ClientOptions = {}): Promise<WsClient> {
  const client = new WsClient(url, options);
  return within(new Promise((resolve, reject) => {
    client.once('open', () => resolve(client));
    client.once('error', reject);
  }), 5000, 'ws client open');
}

function wsNextMessage(client: WsClient): Promise<{ data: Buffer; isBinary: boolean }> {
  return within(new Promise((resolve) => {
    client.once('message', (data: RawData, isBinary: boolean) => resolve({ data: toBuf(data), isBinary }));
  }), 10_000, 'ws message');
}

function toBuf(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function ourNextMessage(ws: WebSocket, ms = 10_000): Promise<[Buffer, boolean]> {
  return next<[Buffer, boolean]>(ws, 'message', ms);
}

function echo(ws: WebSocket): void {
  ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
}

describe('ws client -> our server', () => {
  const cleanup = new Cleanup();
  let server: WebSocketServer;
  let url = '';
  const serverSide: WebSocket[] = [];
  before(async () => {
    ({ server, url } = await startServer({ maxMessageSize: 16 * 1024 * 1024, maxBufferedAmount: 64 * 1024 * 1024 }));
    cleanup.server(server);
    server.on('connection', (ws: WebSocket, req: { url?: string }) => {
      serverSide.push(ws);
      if (req.url !== '/quiet') echo(ws);
    });
  });
  after(() => cleanup.run());

  it('echoes text, binary and a several-MiB message', T, async () => {
    const client = cleanup.socket(await wsOpen(`${url}/echo`));
    client.send('héllo wörld ✓');
    let m = await wsNextMessage(client);
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString(), 'héllo wörld ✓');
    const bin = randomBytes(300);
    client.send(bin);
    m = await wsNextMessage(client);
    assert.equal(m.isBinary, true);
    assert.deepEqual(m.data, bin);
    const big = randomBytes(BIG);
    client.send(big);
    m = await wsNextMessage(client);
    assert.equal(m.data.length, BIG);
    assert.ok(m.data.equals(big), 'large message echoed intact');
  });

  it('reassembles fragments from ws and sends fragments ws reassembles', T, async () => {
    const client = cleanup.socket(await wsOpen(`${url}/quiet`));
    const ws = serverSide.at(-1)!;
    const got = ourNextMessage(ws);
    client.send('frag-', { fin: false });
    client.send('ment', { fin: false });
    client.send('ed', { fin: true });
    const [data, isBinary] = await got;
    assert.equal(isBinary, false);
    assert.equal(data.toString(), 'frag-mented');

    const payload = randomBytes(100_000);
    const inbound = wsNextMessage(client);
    ws.send(payload, { fragmentSize: 4096 });
    const m = await inbound;
    assert.equal(m.isBinary, true);
    assert.ok(m.data.equals(payload));

    const text = 'ü'.repeat(5000); // multi-byte characters split across fragment boundaries
    const inText = wsNextMessage(client);
    ws.send(text, { fragmentSize: 333 });
    const t = await inText;
    assert.equal(t.isBinary, false);
    assert.equal(t.data.toString(), text);
  });

  it('ping/pong both ways', T, async () => {
    const client = cleanup.socket(await wsOpen(`${url}/quiet`));
    const ws = serverSide.at(-1)!;
    const serverPing = next<[Buffer]>(ws, 'ping');
    const clientPong = within(new Promise<Buffer>((resolve) => client.once('pong', resolve)), 5000, 'ws pong');
    client.ping('abc');
    assert.equal((await serverPing)[0].toString(), 'abc');
    assert.equal((await clientPong).toString(), 'abc');

    const clientPing = within(new Promise<Buffer>((resolve) => client.once('ping', resolve)), 5000, 'ws ping');
    const serverPong = next<[Buffer]>(ws, 'pong');
    ws.ping('xyz');
    assert.equal((await clientPing).toString(), 'xyz');
    assert.equal((await serverPong)[0].toString(), 'xyz');
  });

  it('close initiated by ws carries code and reason', T, async () => {
    const client = await wsOpen(`${url}/quiet`);
    const ws = serverSide.at(-1)!;
    const closed = next<[number, string, boolean]>(ws, 'close');
    const clientClosed = within(new Promise<[number, string]>((resolve) => client.once('close', (c, r) => resolve([c, r.toString()]))), 5000, 'ws close');
    client.close(4001, 'bye now');
    assert.deepEqual(await closed, [4001, 'bye now', true]);
    // ws reports the echo it received: our echo repeats the code only (RFC 6455 5.5.1).
    assert.deepEqual(await clientClosed, [4001, '']);
  });

  it('empty messages, a ping between fragments, close without a code, and an abrupt disconnect', T, async () => {
    const client = await wsOpen(`${url}/quiet`);
    const ws = serverSide.at(-1)!;
    const got: Array<[string, boolean]> = [];
    ws.on('message', (d: Buffer, isBinary: boolean) => got.push([d.toString('hex'), isBinary]));
    let pings = 0;
    ws.on('ping', () => pings++);
    client.send('');
    client.send(Buffer.alloc(0));
    client.send('ab', { fin: false });
    client.ping('mid');
    client.send('cd', { fin: true });
    await until(() => got.length === 3, 3000, 'three messages');
    assert.deepEqual(got, [['', false], ['', true], [Buffer.from('abcd').toString('hex'), false]]);
    assert.equal(pings, 1);
    const empty = wsNextMessage(client);
    ws.send('');
    assert.equal((await empty).data.length, 0);
    const closed = next<[number, string, boolean]>(ws, 'close');
    client.close(); // no code: 1005 on our side
    assert.deepEqual(await closed, [1005, '', true]);

    const abrupt = await wsOpen(`${url}/quiet`);
    const ws2 = serverSide.at(-1)!;
    const closed2 = next<[number, string, boolean]>(ws2, 'close');
    abrupt.terminate();
    const [code2, , clean2] = await closed2;
    assert.equal(code2, 1006);
    assert.equal(clean2, false);
  });

  it('close initiated by our server carries code and reason', T, async () => {
    const client = await wsOpen(`${url}/quiet`);
    const ws = serverSide.at(-1)!;
    const closed = next<[number, string, boolean]>(ws, 'close');
    const clientClosed = within(new Promise<[number, string]>((resolve) => client.once('close', (c, r) => resolve([c, r.toString()]))), 5000, 'ws close');
    ws.close(4002, 'server says bye');
    assert.deepEqual(await clientClosed, [4002, 'server says bye']);
    assert.deepEqual(await closed, [4002, 'server says bye', true]);
  });
});

describe('our client -> ws server', () => {
  const cleanup = new Cleanup();
  let wss: WsServer;
  let url = '';
  const serverSide: WsClient[] = [];
  before(async () => {
    wss = new WsServer({ host: HOST, port: 0, maxPayload: 64 * 1024 * 1024 });
    await next(wss, 'listening');
    url = `ws://${HOST}:${(wss.address() as { port: number }).port}`;
    wss.on('connection', (ws, req) => {
      serverSide.push(ws);
      if (req.url !== '/quiet') ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    cleanup.add(wss, (s) => new Promise<void>((resolve) => {
      for (const c of s.clients) c.terminate();
      s.close(() => resolve());
    }));
  });
  after(() => cleanup.run());

  it('echoes text, binary and a several-MiB message', T, async () => {
    const ws = cleanup.add(await connect(`${url}/echo`, { maxMessageSize: 16 * 1024 * 1024, maxBufferedAmount: 64 * 1024 * 1024 }), (w) => w.terminate());
    ws.send('grüße');
    let [data, isBinary] = await ourNextMessage(ws);
    assert.equal(isBinary, false);
    assert.equal(data.toString(), 'grüße');
    const bin = new Uint8Array([1, 2, 3, 250]);
    ws.send(bin);
    [data, isBinary] = await ourNextMessage(ws);
    assert.equal(isBinary, true);
    assert.deepEqual([...data], [1, 2, 3, 250]);
    const big = randomBytes(BIG);
    ws.send(big);
    [data] = await ourNextMessage(ws);
    assert.ok(data.equals(big), 'large message echoed intact');
    const frag = randomBytes(200_000);
    ws.send(frag, { fragmentSize: 1000 });
    [data, isBinary] = await ourNextMessage(ws);
    assert.equal(isBinary, true);
    assert.ok(data.equals(frag), 'fragmented message reassembled by ws and echoed');
  });

  it('receives fragmented messages from ws', T, async () => {
    const ws = cleanup.add(await connect(`${url}/quiet`), (w) => w.terminate());
    await new Promise((r) => setImmediate(r));
    const peer = serverSide.at(-1)!;
    const got = ourNextMessage(ws);
    peer.send('a', { fin: false });
    peer.send('b', { fin: false });
    peer.send('c', { fin: true });
    const [data, isBinary] = await got;
    assert.equal(isBinary, false);
    assert.equal(data.toString(), 'abc');
  });

  it('ping/pong both ways', T, async () => {
    const ws = cleanup.add(await connect(`${url}/quiet`), (w) => w.terminate());
    const peer = serverSide.at(-1)!;
    const ourPing = next<[Buffer]>(ws, 'ping');
    const peerPong = within(new Promise<Buffer>((resolve) => peer.once('pong', resolve)), 5000, 'ws pong');
    peer.ping('p1');
    assert.equal((await ourPing)[0].toString(), 'p1');
    assert.equal((await peerPong).toString(), 'p1');
    const ourPong = next<[Buffer]>(ws, 'pong');
    const peerPing = within(new Promise<Buffer>((resolve) => peer.once('ping', resolve)), 5000, 'ws ping');
    ws.ping('p2');
    assert.equal((await peerPing).toString(), 'p2');
    assert.equal((await ourPong)[0].toString(), 'p2');
  });

  it('close both ways with codes and reasons', T, async () => {
    let ws = await connect(`${url}/quiet`);
    let peer = serverSide.at(-1)!;
    let peerClosed = within(new Promise<[number, string]>((resolve) => peer.once('close', (c, r) => resolve([c, r.toString()]))), 5000, 'ws close');
    let closed = next<[number, string, boolean]>(ws, 'close');
    ws.close(3001, 'client done');
    assert.deepEqual(await peerClosed, [3001, 'client done']);
    assert.deepEqual(await closed, [3001, 'client done', true]);

    ws = await connect(`${url}/quiet`);
    peer = serverSide.at(-1)!;
    peerClosed = within(new Promise<[number, string]>((resolve) => peer.once('close', (c, r) => resolve([c, r.toString()]))), 5000, 'ws close');
    closed = next<[number, string, boolean]>(ws, 'close');
    peer.close(4444, 'server done');
    assert.deepEqual(await closed, [4444, 'server done', true]);
    assert.deepEqual(await peerClosed, [4444, '']); // our echo repeats the code only
  });
});

describe('permessage-deflate with ws', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  // Similar messages: with context takeover the later ones compress against the earlier ones.
  const messages = Array.from({ length: 12 }, (_, i) => `{"seq":${i},"text":"${'the quick brown fox jumps over the lazy dog '.repeat(40 + i)}"}`);

  for (const takeover of [true, false]) {
    const flags = { serverNoContextTakeover: !takeover, clientNoContextTakeover: !takeover };

    it(`ws client -> our server, context takeover ${takeover ? 'on' : 'off'}`, T, async () => {
      const { server, url } = await startServer({ perMessageDeflate: { ...flags, threshold: 0 } });
      cleanup.server(server);
      let serverWs: WebSocket | undefined;
      const received: string[] = [];
      server.on('connection', (ws: WebSocket) => {
        serverWs = ws;
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          received.push(data.toString());
          ws.send(data, { binary: isBinary });
        });
      });
      const client = cleanup.socket(await wsOpen(url, { perMessageDeflate: { ...flags, threshold: 0 } }));
      assert.match(client.extensions, /permessage-deflate/); // ws lists extension names only
      assert.match(serverWs!.extensions, /permessage-deflate/);
      if (!takeover) {
        assert.match(serverWs!.extensions, /server_no_context_takeover/);
        assert.match(serverWs!.extensions, /client_no_context_takeover/);
      } else {
        assert.doesNotMatch(serverWs!.extensions, /no_context_takeover/);
      }
      const rawSocket = (client as unknown as { _socket: import('node:net').Socket })._socket;
      const readBefore = rawSocket.bytesRead;
      const writtenBefore = rawSocket.bytesWritten;
      let total = 0;
      for (const m of messages) {
        const reply = wsNextMessage(client);
        client.send(m);
        total += m.length;
        assert.equal((await reply).data.toString(), m);
      }
      assert.deepEqual(received, messages);
      // Compressed on the wire in both directions (the text is very redundant).
      assert.ok(rawSocket.bytesRead - readBefore < total / 4, `server compressed: ${rawSocket.bytesRead - readBefore} of ${total}`);
      assert.ok(rawSocket.bytesWritten - writtenBefore < total / 4, `ws compressed: ${rawSocket.bytesWritten - writtenBefore} of ${total}`);
    });

    it(`our client -> ws server, context takeover ${takeover ? 'on' : 'off'}`, T, async () => {
      const wss = new WsServer({ host: HOST, port: 0, perMessageDeflate: { ...flags, threshold: 0 } });
      await next(wss, 'listening');
      cleanup.add(wss, (s) => new Promise<void>((resolve) => {
        for (const c of s.clients) c.terminate();
        s.close(() => resolve());
      }));
      const received: string[] = [];
      let peerSocket: import('node:net').Socket | undefined;
      wss.on('connection', (peer) => {
        peerSocket = (peer as unknown as { _socket: import('node:net').Socket })._socket;
        peer.on('message', (data, isBinary) => {
          received.push(toBuf(data).toString());
          peer.send(data, { binary: isBinary });
        });
      });
      const port = (wss.address() as { port: number }).port;
      const ws = cleanup.add(await connect(`ws://${HOST}:${port}/`, { perMessageDeflate: { ...flags, threshold: 0 } }), (w) => w.terminate());
      assert.match(ws.extensions, /permessage-deflate/);
      if (!takeover) assert.match(ws.extensions, /server_no_context_takeover/);
      await new Promise((r) => setImmediate(r));
      const readBefore = peerSocket!.bytesRead;
      const writtenBefore = peerSocket!.bytesWritten;
      let total = 0;
      for (const m of messages) {
        const reply = ourNextMessage(ws);
        ws.send(m);
        total += m.length;
        const [data, isBinary] = await reply;
        assert.equal(isBinary, false);
        assert.equal(data.toString(), m);
      }
      const bin = randomBytes(2048);
      const reply = ourNextMessage(ws);
      ws.send(bin);
      assert.ok((await reply)[0].equals(bin));
      assert.deepEqual(received.slice(0, messages.length), messages);
      assert.ok(peerSocket!.bytesRead - readBefore < total / 4 + 4096, `our client compressed: ${peerSocket!.bytesRead - readBefore} of ${total}`);
      assert.ok(peerSocket!.bytesWritten - writtenBefore < total / 4 + 4096, 'ws server compressed');
    });
  }

  it('compressed fragmented messages from ws are inflated across frames', T, async () => {
    const { server, url } = await startServer({ perMessageDeflate: { threshold: 0 } });
    cleanup.server(server);
    const got: string[] = [];
    server.on('connection', (ws: WebSocket) => ws.on('message', (d: Buffer) => {
      got.push(d.toString());
      ws.send(d.toString());
    }));
    const client = cleanup.socket(await wsOpen(url, { perMessageDeflate: { threshold: 0 } }));
    const parts = ['first part '.repeat(50), 'second part '.repeat(50), 'third '.repeat(50)];
    const echoed = wsNextMessage(client);
    client.send(parts[0], { fin: false, compress: true });
    client.send(parts[1], { fin: false, compress: true });
    client.send(parts[2], { fin: true, compress: true });
    assert.equal((await echoed).data.toString(), parts.join(''));
    assert.deepEqual(got, [parts.join('')]);
  });
});
