import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WsClient from 'ws';
import { WebSocketServer } from '../../src/index.js';

async function listen(server: WebSocketServer): Promise<number> {
  await once(server, 'listening');
  return server.address()!.port;
}

function openWs(url: string, perMessageDeflate: WsClient.ClientOptions['perMessageDeflate']): Promise<WsClient> {
  const ws = new WsClient(url, { perMessageDeflate });
  return once(ws, 'open').then(() => ws);
}

test('a broadcast to clients without server context takeover is compressed once and decoded by all', async () => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { serverNoContextTakeover: true, threshold: 16 } });
  const port = await listen(server);
  try {
    const clients = await Promise.all(Array.from({ length: 5 }, () => openWs(`ws://127.0.0.1:${port}/`, { serverNoContextTakeover: true })));
    while (server.clients.size < 5) await new Promise((r) => setTimeout(r, 10));
    for (const ws of server.clients) assert.match(ws.extensions, /server_no_context_takeover/);
    const text = JSON.stringify({ type: 'message', text: 'hello everyone '.repeat(50) });
    // Every client collects what it receives, to check order as well as content.
    const inboxes = clients.map((c) => {
      const inbox: string[] = [];
      c.on('message', (data) => inbox.push(String(data)));
      return inbox;
    });
    const received = clients.map((c) => once(c, 'message'));
    // A plain send queued before the broadcast must arrive before it (the shared compression is asynchronous).
    for (const ws of server.clients) ws.send('before');
    assert.equal(server.broadcast(server.clients, text), 5);
    assert.equal(server.stats.sharedCompressions, 1);
    await Promise.all(received);
    while (inboxes.some((inbox) => inbox.length < 2)) await new Promise((r) => setTimeout(r, 10));
    for (const inbox of inboxes) assert.deepEqual(inbox, ['before', text]);
    // Context takeover clients compress with their own context and still decode correctly.
    const takeover = await openWs(`ws://127.0.0.1:${port}/`, {});
    while (server.clients.size < 6) await new Promise((r) => setTimeout(r, 10));
    const all = [takeover].map((c) => once(c, 'message'));
    assert.equal(server.broadcast(server.clients, text + '!'), 6);
    assert.equal(server.stats.sharedCompressions, 2);
    for (const [data] of await Promise.all(all)) assert.equal(String(data), text + '!');
    while (inboxes.some((inbox) => inbox.length < 3)) await new Promise((r) => setTimeout(r, 10));
    for (const inbox of inboxes) assert.equal(inbox[2], text + '!');
    for (const c of [...clients, takeover]) c.close();
  } finally {
    await server.close({ timeout: 1000 });
  }
});
