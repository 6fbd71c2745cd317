// Attack classes from our peers' advisories, tried against a live server (issue 8). Each test asserts that the
// server stays up, that memory stays bounded, and that a well-behaved client keeps being served.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { connect, type WebSocket } from '../../src/index.js';
import { encodeFrame } from '../../src/protocol/frame-writer.js';
import { Cleanup, delay, next, rawConnect, rawWebSocket, startServer, until, within } from '../helpers/loopback.js';

/** A normal client's echo round trip in ms: proof that the server still serves others. */
async function roundTrip(url: string, cleanup: Cleanup): Promise<number> {
  const ws = await connect(url);
  cleanup.add(null, () => ws.terminate());
  const started = performance.now();
  const reply = next<[Buffer]>(ws, 'message', 10_000);
  ws.send('ping?');
  const [data] = await reply;
  assert.equal(String(data), 'ping?');
  ws.close();
  return performance.now() - started;
}

function echo(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

describe('hardening', () => {
  it('1,000 half-open handshakes neither exhaust the server nor outlive the handshake timeout', async () => {
    const cleanup = new Cleanup();
    try {
      const { server, port, url } = await startServer({ handshakeTimeout: 1500, maxConnections: 5000 });
      server.on('connection', echo);
      cleanup.add(null, () => server.close({ timeout: 500 }));
      const sockets = await Promise.all(Array.from({ length: 1000 }, async () => {
        const s = await rawConnect(port);
        s.on('error', () => {});
        s.resume(); // read, so that the server's 408 and FIN are seen
        s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'); // never finished
        return s;
      }));
      cleanup.add(null, () => sockets.forEach((s) => s.destroy()));
      // A real client is served while the half-open handshakes are pending.
      await roundTrip(url, cleanup);
      // Each half-open handshake is answered 408 and closed by the timeout.
      await within(Promise.all(sockets.map((s) => (s.destroyed ? undefined : new Promise((r) => s.once('close', r))))), 10_000, 'half-open sockets to be closed');
      await roundTrip(url, cleanup);
    } finally {
      await cleanup.run();
    }
  });

  // Floods from a peer that never reads (pings, echoes, broadcasts): test/server/hostile-peers.test.ts.

  it('a decompression bomb closes with 1009 quickly, without inflating it', async () => {
    const cleanup = new Cleanup();
    try {
      const { server, url } = await startServer({ perMessageDeflate: true, maxMessageSize: 1024 * 1024 });
      server.on('connection', echo);
      cleanup.add(null, () => server.close({ timeout: 500 }));
      // 64 MiB of zeros deflate to ~64 KiB: far beyond the 1 MiB limit once inflated.
      const bomb = deflateRawSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
      assert.ok(bomb.length < 128 * 1024);
      const ws = await connect(url, { perMessageDeflate: true });
      cleanup.add(null, () => ws.terminate());
      assert.match(ws.extensions, /permessage-deflate/);
      const closed = next<[number, string]>(ws, 'close', 10_000);
      const rssBefore = process.memoryUsage().rss;
      const started = performance.now();
      // Send the compressed bytes as one RSV1 frame, as a hostile client would.
      (ws as unknown as { transport: { write(frame: Buffer): boolean } }).transport.write(encodeFrame(0x2, bomb, { mask: true, rsv1: true }) as Buffer);
      const [code] = await closed;
      assert.equal(code, 1009);
      assert.ok(performance.now() - started < 5000, 'the bomb was not stopped early');
      assert.ok(process.memoryUsage().rss - rssBefore < 48 * 1024 * 1024, 'inflating the bomb used too much memory');
      await roundTrip(url, cleanup);
    } finally {
      await cleanup.run();
    }
  });

  it('300 connections holding zlib contexts stay within the documented budget (docs/compression.md)', async () => {
    const cleanup = new Cleanup();
    try {
      const { server, url } = await startServer({ perMessageDeflate: true, maxConnections: 1000 });
      server.on('connection', echo);
      cleanup.add(null, () => server.close({ timeout: 1000 }));
      if (global.gc) global.gc();
      const rssBefore = process.memoryUsage().rss;
      const clients: WebSocket[] = [];
      for (let i = 0; i < 300; i += 50) {
        clients.push(...(await Promise.all(Array.from({ length: 50 }, () => connect(url, { perMessageDeflate: true })))));
      }
      cleanup.add(null, () => clients.forEach((c) => c.terminate()));
      const message = JSON.stringify({ type: 'message', room: 'lobby', text: 'a chat message that is long enough to be compressed '.repeat(3) });
      await Promise.all(clients.map((c) => {
        const reply = next(c, 'message', 20_000);
        c.send(message);
        return reply;
      }));
      const perConnection = (process.memoryUsage().rss - rssBefore) / clients.length;
      // Both ends live in this process: server (~147 KiB documented) + client contexts. Budget: 2 x 250 KiB.
      assert.ok(perConnection < 500 * 1024, `${Math.round(perConnection / 1024)} KiB per connection`);
      await until(() => server.clients.size === 300, 5000, 'all connections registered');
    } finally {
      await cleanup.run();
    }
  });
});
