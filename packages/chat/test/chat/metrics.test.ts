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

test('aggregateFamilies: sums per series (min where asked), keeps each worker labelled, counts who answered', async () => {
  const { aggregateFamilies, renderFamilies } = await import('../../src/chat/metrics.js');
  const a = new ChatMetrics();
  const b = new ChatMetrics();
  a.setSources({ connections: () => 3 });
  b.setSources({ connections: () => 4 });
  a.closed(1000); a.closed(1000); b.closed(1000); b.closed(1006);
  a.observeRoundTrip(0.3); b.observeRoundTrip(0.3); b.observeRoundTrip(5000);
  a.addGauge('wireroom_redis_up', 'up', () => 1, 'min');
  b.addGauge('wireroom_redis_up', 'up', () => 0, 'min');
  const text = renderFamilies(aggregateFamilies([{ worker: 1, data: a.families() }, { worker: 4, data: b.families() }], [7]));
  const lines = new Set(text.split('\n'));
  for (const line of [
    'wireroom_connections 7', 'wireroom_connections{worker="1"} 3', 'wireroom_connections{worker="4"} 4',
    'wireroom_close_codes_total{code="1000"} 3', 'wireroom_close_codes_total{code="1006"} 1',
    'wireroom_close_codes_total{worker="1",code="1000"} 2', 'wireroom_close_codes_total{worker="4",code="1006"} 1',
    'wireroom_broker_round_trip_seconds_bucket{le="0.0005"} 2', 'wireroom_broker_round_trip_seconds_bucket{le="+Inf"} 3',
    'wireroom_broker_round_trip_seconds_count 3', 'wireroom_broker_round_trip_seconds_count{worker="4"} 2',
    'wireroom_redis_up 0', 'wireroom_redis_up{worker="1"} 1',
    'wireroom_cluster_workers 3', 'wireroom_cluster_workers_reporting 2',
  ]) assert.ok(lines.has(line), `${line}\n${text}`);
  assert.equal(text.match(/^# TYPE wireroom_connections gauge$/gm)?.length, 1);
  assert.equal(a.render(), renderFamilies(a.families()), 'a single process renders its own families');
});
