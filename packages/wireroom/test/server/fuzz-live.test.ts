import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocketServer, connect, type WebSocket } from '../../src/index.js';
import { fuzzLive } from '../fuzz/run-live.js';

const seed = Number(process.env.WIREROOM_FUZZ_SEED ?? 0x1ee7);

test(`a live server survives 2,000 fuzzed connections and keeps serving (seed ${seed})`, async () => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true, maxMessageSize: 64 * 1024, closeTimeout: 200 });
  await once(server, 'listening');
  server.on('connection', (ws: WebSocket) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  const port = server.address()!.port;
  const rssBefore = process.memoryUsage().rss;
  try {
    const result = await fuzzLive(port, seed, 2000);
    assert.ok(result.upgraded > 1000, `only ${result.upgraded} handshakes succeeded`);
    assert.ok(result.refused > 20, `only ${result.refused} handshakes refused`);
    // The server still works for a well-behaved client.
    const client = await connect(`ws://127.0.0.1:${port}/`);
    const reply = once(client, 'message');
    client.send('still alive');
    const [data] = await reply;
    assert.equal(String(data), 'still alive');
    client.close();
    // Every fuzz connection is gone: nothing leaks.
    const deadline = Date.now() + 5000;
    while (server.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.clients.size, 0, `${server.clients.size} connections still open`);
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(grown < 300 * 1024 * 1024, `RSS grew by ${grown} bytes`);
  } finally {
    await server.close({ timeout: 1000 });
  }
});
