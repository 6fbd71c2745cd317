// The chat server's /metrics: refused handshakes are counted from the App's onRejected hook (no socket patching),
// by status and reason, next to the wire-level byte counters of the upgrade sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { rawStatus, upgradeRequest } from '../../../wireroom/test/helpers/loopback.js';
import { ChatMetrics } from '../../src/chat/metrics.js';
import { buildErrorResponse } from 'wireroom/protocol';
import { TestClient } from './fixtures/client.js';
import { startTestServer } from './fixtures/server.js';

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

test('/metrics counts refused handshakes by status and reason, and the bytes of upgrade sockets', async (t) => {
  const metrics = new ChatMetrics();
  const server = await startTestServer(t, { metrics });
  const port = server.port;

  // Refusals of the App (origin, route) and of the handshake policy (a body, a bad version header).
  assert.equal((await rawStatus(port, upgradeRequest('/chat', { Origin: 'https://evil.example' }))).status, 403);
  assert.equal((await rawStatus(port, upgradeRequest('/chat', { Origin: 'https://evil.example' }))).status, 403);
  assert.equal((await rawStatus(port, upgradeRequest('/nowhere'))).status, 404);
  assert.equal((await rawStatus(port, upgradeRequest('/chat', { 'Content-Length': '5' }) + 'hello')).status, 400);

  // An accepted connection is not counted as refused, and its socket writes are its own.
  const client = await TestClient.connect(server.url);
  client.ws.close(1000);
  await client.closed;

  const text = await (await fetch(`${server.url}/metrics`)).text();
  assert.equal(value(text, 'wireroom_handshakes_rejected_total{status="403",reason="Origin not allowed"}'), 2, text);
  assert.equal(value(text, 'wireroom_handshakes_rejected_total{status="404",reason="Not Found"}'), 1, text);
  // The reason label is the first 60 characters of the reason.
  assert.equal(value(text, 'wireroom_handshakes_rejected_total{status="400",reason="A WebSocket handshake request must not have a body (Content-"}'), 1, text);
  assert.equal(text.match(/^wireroom_handshakes_rejected_total\{/gm)?.length, 3, text);
  assert.ok(value(text, 'wireroom_bytes_received_total') > 200, text);
  assert.ok(value(text, 'wireroom_bytes_sent_total') > 200, text);
});

test('observing an HTTP server leaves its upgrade sockets unpatched (refusals come from onRejected)', async (t) => {
  const metrics = new ChatMetrics();
  const http = createServer();
  metrics.observeHttpServer(http);
  const seen: Socket[] = [];
  http.on('upgrade', (_req, socket: Socket) => {
    seen.push(socket);
    socket.end(buildErrorResponse(403, 'Origin not allowed'));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => http.close(() => resolve())));
  assert.equal((await rawStatus((http.address() as { port: number }).port, upgradeRequest('/chat'))).status, 403);
  assert.equal(seen.length, 1);
  assert.ok(!Object.hasOwn(seen[0]!, 'write') && !Object.hasOwn(seen[0]!, 'end'), 'socket.write or socket.end patched');
  // Nothing was counted from the bytes written: only the App's onRejected counts refusals.
  assert.equal(metrics.handshakesRejected.size, 0);
  assert.ok(value(metrics.render(), 'wireroom_bytes_sent_total') > 0);
});
