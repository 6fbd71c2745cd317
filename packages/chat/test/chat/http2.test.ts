// The chat over HTTPS with HTTP/2 and HTTP/1.1 on one port (--tls-cert/--tls-key): the page and /metrics over
// HTTP/2, the chat WebSocket as an RFC 8441 stream of the same session and as an HTTP/1.1 upgrade, counted by
// transport in /metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect, type WebSocket } from 'wireroom';
import { selfSignedCert } from '../../../wireroom/test/helpers/http2.js';
import { newSession } from '../helpers/session.js';
import { startTestServer } from './fixtures/server.js';

function get(session: ClientHttp2Session, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    let body = '';
    let status = 0;
    let headers: Record<string, unknown> = {};
    req.on('response', (h) => {
      headers = h;
      status = Number(h[':status']);
    });
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => resolve({ status, headers, body }));
    req.on('error', reject);
  });
}

function firstMessage(ws: WebSocket): Promise<{ type: string }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer) => resolve(JSON.parse(data.toString()) as { type: string })));
}

async function transports(session: ClientHttp2Session): Promise<{ h1: number; h2: number }> {
  const { body } = await get(session, '/metrics');
  const read = (t: string): number => Number(new RegExp(`^wireroom_connections_by_transport\\{transport="${t}"\\} (\\d+)$`, 'm').exec(body)?.[1] ?? NaN);
  return { h1: read('h1'), h2: read('h2') };
}

test('chat with tls: page, /metrics and the WebSocket over HTTP/2 (RFC 8441), HTTP/1.1 upgrade on the same port, counted by transport', { timeout: 30_000 }, async (t) => {
  const tls = selfSignedCert();
  const server = await startTestServer(t, { tls });
  assert.match(server.url, /^https:\/\//);
  const session = http2Connect(server.url, { ca: tls.cert });
  t.after(() => session.destroy());
  await new Promise((resolve) => session.once('remoteSettings', resolve));
  assert.equal(session.remoteSettings.enableConnectProtocol, true);

  const page = await get(session, '/');
  assert.equal(page.status, 200);
  assert.match(page.body, /<html/i);
  // A plain request to the WebSocket route over HTTP/2: 426 without the connection headers HTTP/2 forbids.
  const plain = await get(session, '/chat');
  assert.equal(plain.status, 426);
  assert.equal(plain.headers.connection, undefined);

  assert.deepEqual(await transports(session), { h1: 0, h2: 0 });
  const wsUrl = `${server.url.replace(/^https/, 'wss')}/chat`;
  const { cookie } = await newSession(server.url);
  const overH2 = await connect(wsUrl, { http2: session, headers: { Cookie: cookie } });
  t.after(() => overH2.terminate());
  assert.equal((await firstMessage(overH2)).type, 'welcome');
  const overH1 = await connect(wsUrl, { tls: { ca: tls.cert }, headers: { Cookie: cookie } });
  t.after(() => overH1.terminate());
  assert.equal((await firstMessage(overH1)).type, 'welcome');
  assert.deepEqual(await transports(session), { h1: 1, h2: 1 });

  const closed = new Promise((resolve) => overH2.once('close', resolve));
  overH2.close(1000);
  await closed;
  const deadline = Date.now() + 3000;
  while ((await transports(session)).h2 !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await transports(session), { h1: 1, h2: 0 });
});
