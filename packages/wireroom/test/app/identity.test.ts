// App identify: the App's hook (every route) and a route's own, seen by handlers as this.identity (set before
// open()), refusals answered with their status, a throwing hook reported to logError, and HTTP/2 (RFC 8441).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { App } from '../../src/app/app.js';
import { WebSocketHandler } from '../../src/app/websocket-handler.js';
import { refuse } from '../../src/server/identity/refusal.js';
import { SessionCookie } from '../../src/server/identity/session-cookie.js';
import { h2Session, openRawStream, selfSignedCert } from '../helpers/http2.js';

type T = { after: (fn: () => void | Promise<void>) => void };

async function serve(t: T, app: App): Promise<string> {
  const server = await app.listen(0, '127.0.0.1');
  t.after(() => app.close({ timeoutMs: 1000 }));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Opens a connection and resolves with the first message, or rejects with the refused HTTP status and body. */
function firstMessage(url: string, headers: Record<string, string> = {}): Promise<string> {
  const ws = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    ws.once('message', (data) => {
      resolve(String(data));
      ws.close();
    });
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += String(chunk)));
      res.on('end', () => reject(new Error(`HTTP ${res.statusCode} ${body}`)));
    });
  });
}

/** Tells its client who it is, from open(). */
class WhoAmI extends WebSocketHandler<{ user: string }> {
  override open(): void {
    this.send(`open:${this.identity.user}`);
  }
  override onMessage(): void {}
}

const byHeader = (request: { headers: Record<string, unknown> }) => {
  const user = request.headers['x-user'];
  return typeof user === 'string' ? { user } : refuse(401, 'Who are you');
};

test('the App identify hook reaches this.identity before open(); refusals carry the status and reason', async (t) => {
  const url = await serve(t, new App({ identify: byHeader }).websocket('/who', (req) => new WhoAmI(req)));
  assert.equal(await firstMessage(`${url}/who`, { 'X-User': 'ada' }), 'open:ada');
  await assert.rejects(firstMessage(`${url}/who`), /HTTP 401 Who are you/);
});

test('a route may override the App hook, or turn it off with null; an async hook is awaited', async (t) => {
  class Plain extends WebSocketHandler {
    override open(): void {
      this.send(`identity:${String(this.identity)}`);
    }
    override onMessage(): void {}
  }
  const app = new App({ identify: byHeader })
    .websocket('/who', (req) => new WhoAmI(req))
    .websocket('/staff', (req) => new WhoAmI(req), {
      identify: async (request) => {
        await new Promise((r) => setTimeout(r, 10));
        return request.headers['x-staff'] === 'yes' ? { user: 'staff' } : refuse(403, 'Staff only');
      },
    })
    .websocket('/public', (req) => new Plain(req), { identify: null });
  const url = await serve(t, app);
  assert.equal(await firstMessage(`${url}/staff`, { 'X-Staff': 'yes' }), 'open:staff');
  await assert.rejects(firstMessage(`${url}/staff`, { 'X-User': 'ada' }), /HTTP 403 Staff only/);
  assert.equal(await firstMessage(`${url}/public`), 'identity:undefined');
  assert.equal(await firstMessage(`${url}/who`, { 'X-User': 'grace' }), 'open:grace');
});

test('a hook that throws gets 500 Identification failed and is reported to logError; a hung one 503', async (t) => {
  const logged: string[] = [];
  const app = new App({ handshakeTimeout: 200, logError: (context, error) => logged.push(`${context}: ${String(error)}`) })
    .websocket('/boom', (req) => new WhoAmI(req), { identify: () => { throw new Error('directory down'); } })
    .websocket('/hang', (req) => new WhoAmI(req), { identify: () => new Promise(() => {}) });
  const url = await serve(t, app);
  await assert.rejects(firstMessage(`${url}/boom`), /HTTP 500 Identification failed/);
  assert.equal(logged.length, 1);
  assert.match(logged[0]!, /directory down/);
  await assert.rejects(firstMessage(`${url}/hang`), /HTTP 503 Identification timed out/);
  assert.equal(app.clients.size, 0);
});

test('with a SessionCookie: a cookie issued by serialize() identifies the handler over HTTP/2 too', async (t) => {
  const sessions = new SessionCookie({ keys: ['k'.repeat(32)] });
  class Session extends WebSocketHandler<string> {
    override open(): void {
      this.send(`session:${this.identity}`);
    }
    override onMessage(): void {}
  }
  const app = new App({ identify: sessions.identify() }).websocket('/s', (req) => new Session(req));
  const tls = selfSignedCert();
  const server = await app.listen(0, '127.0.0.1', { tls });
  t.after(() => app.close({ timeoutMs: 1000 }));
  const port = (server.address() as AddressInfo).port;
  const cookie = sessions.serialize('sess-42', { secure: true }).split(';')[0]!;
  // HTTP/1.1 over TLS (ws), then an extended CONNECT stream
  const ws = new WebSocket(`wss://127.0.0.1:${port}/s`, { headers: { Cookie: cookie }, ca: tls.cert, servername: 'localhost' } as WebSocket.ClientOptions);
  const got = await new Promise<string>((resolve, reject) => {
    ws.once('message', (data) => resolve(String(data)));
    ws.once('error', reject);
  });
  ws.close();
  assert.equal(got, 'session:sess-42');
  const session = await h2Session(port, tls.cert);
  t.after(() => session.destroy());
  const stream = await openRawStream(session, '/s', { cookie });
  assert.equal(stream.status, 200);
  const frames = await stream.nextFrames(1);
  assert.equal(frames[0]!.payload.toString(), 'session:sess-42');
  const other = await h2Session(port, tls.cert);
  t.after(() => other.destroy());
  const forged = cookie.slice(0, -1) + (cookie.endsWith('A') ? 'B' : 'A'); // another last signature character
  const refused = await openRawStream(other, '/s', { cookie: forged });
  assert.equal(refused.status, 401);
  await refused.closedPromise;
  assert.equal(refused.bytes.toString(), 'Invalid session signature');
});
