// App refusals take the WebSocketServer's path: the same response bytes (buildErrorResponse), the 'rejected'
// event exposed as `onRejected`, and the sans-I/O handshake policy (an upgrade request with a body is 400).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App } from '../../src/app/app.js';
import { WebSocketHandler } from '../../src/app/websocket-handler.js';
import { buildErrorResponse } from '../../src/protocol/handshake/index.js';
import { delay, maskedFrame, rawStatus, upgradeRequest } from '../helpers/loopback.js';

type T = { after: (fn: () => void | Promise<void>) => void };

class Echo extends WebSocketHandler {
  static opened = 0;
  static messages: string[] = [];
  override open(): void {
    Echo.opened++;
  }
  onMessage(data: string | Buffer): void {
    Echo.messages.push(String(data));
    this.send(String(data));
  }
  override checkOrigin(origin: string | undefined): boolean {
    return origin === undefined || origin === 'http://good.example';
  }
}

async function start(t: T, rejected: Array<[number, string, string]>, logged: string[] = []): Promise<{ app: App; port: number }> {
  const app = new App({
    onRejected: (status, reason, request: IncomingMessage) => rejected.push([status, reason, request.url ?? '']),
    logError: (context, error) => logged.push(`${context}: ${String(error)}`),
  })
    .websocket('/echo', (req) => new Echo(req))
    .websocket('/broken', () => {
      throw new Error('factory failed');
    });
  const server = await app.listen(0, '127.0.0.1');
  t.after(() => app.close({ timeoutMs: 1000 }));
  return { app, port: (server.address() as AddressInfo).port };
}

test('App refusals are the server refusals: same bytes, reported to onRejected with status, reason and request', async (t) => {
  const rejected: Array<[number, string, string]> = [];
  const logged: string[] = [];
  const { port } = await start(t, rejected, logged);
  const cases: Array<[string, string, number, string, Record<string, string>?]> = [
    ['no route', upgradeRequest('/nowhere'), 404, 'Not Found'],
    ['origin refused by the handler', upgradeRequest('/echo', { Origin: 'http://evil.example' }), 403, 'Origin not allowed'],
    ['factory throws', upgradeRequest('/broken'), 500, 'Internal Server Error'],
    ['protocol check of the server (a second version header)', upgradeRequest('/echo', { 'Sec-WebSocket-Version': '8' }), 400, 'Exactly one Sec-WebSocket-Version header is required', { 'Sec-WebSocket-Version': '13' }],
  ];
  for (const [label, request, status, reason, headers] of cases) {
    const answer = await rawStatus(port, request);
    assert.equal(answer.text, buildErrorResponse(status, reason, headers).toString('latin1'), label);
  }
  assert.deepEqual(rejected, [
    [404, 'Not Found', '/nowhere'],
    [403, 'Origin not allowed', '/echo'],
    [500, 'Internal Server Error', '/broken'],
    [400, 'Exactly one Sec-WebSocket-Version header is required', '/echo'],
  ]);
  assert.equal(logged.length, 1);
  assert.match(logged[0]!, /factory failed/);
});

test('App: an upgrade request with a body is refused with 400 and its body never reaches a handler', async (t) => {
  const rejected: Array<[number, string, string]> = [];
  const { port } = await start(t, rejected);
  Echo.opened = 0;
  Echo.messages = [];
  const frame = maskedFrame(0x1, Buffer.from('smuggled'));
  for (const headers of [{ 'Content-Length': String(frame.length) }, { 'Transfer-Encoding': 'chunked' }] as Array<Record<string, string>>) {
    const body = 'Transfer-Encoding' in headers
      ? Buffer.concat([Buffer.from(`${frame.length.toString(16)}\r\n`), frame, Buffer.from('\r\n0\r\n\r\n')])
      : frame;
    const answer = await rawStatus(port, Buffer.concat([Buffer.from(upgradeRequest('/echo', headers), 'latin1'), body]));
    assert.equal(answer.status, 400, JSON.stringify(headers));
    assert.ok(answer.text.endsWith('must not have a body (Content-Length other than 0 or Transfer-Encoding)'), answer.text);
  }
  await delay(20);
  assert.equal(Echo.opened, 0, 'a handler was opened');
  assert.deepEqual(Echo.messages, []);
  assert.deepEqual(rejected.map(([status]) => status), [400, 400]);
});

test('App: an onRejected that throws is reported to logError and the refusal still goes out', async (t) => {
  const logged: string[] = [];
  const app = new App({
    onRejected: () => {
      throw new Error('metrics down');
    },
    logError: (context, error) => logged.push(`${context}: ${String(error)}`),
  }).websocket('/echo', (req) => new Echo(req));
  const server = await app.listen(0, '127.0.0.1');
  t.after(() => app.close({ timeoutMs: 1000 }));
  const answer = await rawStatus((server.address() as AddressInfo).port, upgradeRequest('/nowhere'));
  assert.equal(answer.status, 404);
  assert.deepEqual(logged, ['onRejected: Error: metrics down']);
});
