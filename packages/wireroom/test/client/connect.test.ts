// The client: the request it sends (Host, headers, Origin), redirects (off by default; when on, credentials are
// dropped across origins), its handshake timeout, and wss:// with a certificate generated for the test.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect } from '../../src/client/connect.js';
import { HandshakeError, WireroomError } from '../../src/protocol/errors.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import type { WebSocket } from '../../src/connection/websocket.js';
import { Cleanup, HOST, next, rawConnect, readAll, startServer, within } from '../helpers/loopback.js';

const T = { timeout: 15_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

async function listen(server: HttpServer | ReturnType<typeof createNetServer>, host = HOST): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  cleanup.add(server, (s) => new Promise<void>((resolve) => {
    (s as HttpServer).closeAllConnections?.();
    s.close(() => resolve());
  }));
  return (server.address() as { port: number }).port;
}

function echo(ws: WebSocket): void {
  ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
}

async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  const reply = next<[Buffer]>(ws, 'message');
  ws.send(text);
  return (await reply)[0].toString();
}

describe('the request our client sends', () => {
  it('Host is host:port (not bracketed for IPv4), custom headers and Origin are sent', T, async () => {
    const { server, url, port } = await startServer({ allowOrigin: '*' });
    cleanup.server(server);
    const seen = next<[WebSocket, IncomingMessage]>(server, 'connection');
    const ws = cleanup.socket(await connect(`${url}/path?q=1`, { headers: { 'X-Trace': 't-1', Cookie: 'a=b' }, origin: 'https://app.example' }));
    const [, request] = await seen;
    assert.equal(request.headers.host, `127.0.0.1:${port}`);
    assert.equal(request.headers['x-trace'], 't-1');
    assert.equal(request.headers.cookie, 'a=b');
    assert.equal(request.headers.origin, 'https://app.example');
    assert.equal(request.url, '/path?q=1');
    assert.equal(ws.url, `ws://127.0.0.1:${port}/path?q=1`);
  });

  it('IPv6 literal hosts are bracketed with the port outside', T, async (t) => {
    let server: WebSocketServer;
    try {
      server = new WebSocketServer({ host: '::1', port: 0, heartbeatInterval: 0 });
      await next(server, 'listening', 2000);
    } catch {
      t.skip('no IPv6 loopback here');
      return;
    }
    cleanup.server(server);
    const port = server.address()!.port;
    const seen = next<[WebSocket, IncomingMessage]>(server, 'connection');
    cleanup.socket(await connect(`ws://[::1]:${port}/`));
    assert.equal((await seen)[1].headers.host, `[::1]:${port}`);
  });

  it('a server that never answers hits the client handshake timeout', T, async () => {
    const silent = createNetServer(() => {});
    const port = await listen(silent);
    const started = Date.now();
    const error = await connect(`ws://${HOST}:${port}/`, { handshakeTimeout: 300 }).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof WireroomError);
    assert.equal(error.code, 'WS_ERR_HANDSHAKE_TIMEOUT');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 3000, `timed out after ${elapsed} ms`);
  });

  it('a bad URL is an INVALID_ARGUMENT error', T, async () => {
    for (const url of ['http//nope', 'ftp://127.0.0.1/', 'ws://127.0.0.1/#frag']) {
      const error = await connect(url).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof WireroomError, url);
      assert.equal(error.code, 'WS_ERR_INVALID_ARGUMENT', url);
    }
  });
});

describe('redirects', () => {
  /** An HTTP server whose upgrades are redirected by `route`, or handed to a WebSocketServer (noServer). */
  async function site(route: (req: IncomingMessage, port: number) => string | null): Promise<{ port: number; requests: IncomingHttpHeaders[]; paths: string[] }> {
    const http = createHttpServer((_, res) => res.end());
    const wss = new WebSocketServer({ noServer: true, heartbeatInterval: 0 });
    cleanup.server(wss);
    const requests: IncomingHttpHeaders[] = [];
    const paths: string[] = [];
    let port = 0;
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      requests.push(req.headers);
      paths.push(req.url ?? '');
      const location = route(req, port);
      if (location !== null) {
        socket.end(`HTTP/1.1 302 Found\r\nLocation: ${location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => echo(ws));
    });
    port = await listen(http);
    return { port, requests, paths };
  }

  it('are not followed by default: the client rejects with the 302 status', T, async () => {
    const target = await site(() => null);
    const a = await site(() => `ws://${HOST}:${target.port}/`);
    const error = await connect(`ws://${HOST}:${a.port}/`).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof HandshakeError);
    assert.equal(error.status, 302);
    assert.equal(target.requests.length, 0, 'the redirect target was never contacted');
  });

  it('followRedirects: same origin keeps credentials, relative Location works', T, async () => {
    const a = await site((req) => (req.url === '/old' ? '/new' : null));
    const ws = cleanup.socket(await connect(`ws://${HOST}:${a.port}/old`, {
      followRedirects: true, headers: { Authorization: 'Bearer secret', Cookie: 'sid=1', 'X-Keep': 'yes' },
    }));
    assert.equal(await roundTrip(ws, 'after redirect'), 'after redirect');
    assert.deepEqual(a.paths, ['/old', '/new']);
    assert.equal(a.requests[1]!.authorization, 'Bearer secret');
    assert.equal(a.requests[1]!.cookie, 'sid=1');
  });

  it('followRedirects: a redirect to another origin drops Authorization and Cookie', T, async () => {
    const b = await site(() => null);
    const a = await site(() => `ws://${HOST}:${b.port}/landing`);
    const ws = cleanup.socket(await connect(`ws://${HOST}:${a.port}/start`, {
      followRedirects: true, headers: { Authorization: 'Bearer secret', cookie: 'sid=1', 'Proxy-Authorization': 'Basic x', 'X-Keep': 'yes' },
    }));
    assert.equal(await roundTrip(ws, 'hello b'), 'hello b');
    assert.equal(a.requests[0]!.authorization, 'Bearer secret', 'the first server got the credentials');
    assert.equal(b.requests.length, 1);
    const second = b.requests[0]!;
    assert.equal(second.authorization, undefined);
    assert.equal(second.cookie, undefined);
    assert.equal(second['proxy-authorization'], undefined);
    assert.equal(second['x-keep'], 'yes');
    assert.equal(second.host, `${HOST}:${b.port}`);
    assert.deepEqual(b.paths, ['/landing']);
  });

  it('a redirect loop stops at maxRedirects', T, async () => {
    const loop = await site((req, port) => `ws://${HOST}:${port}${req.url}`);
    const error = await connect(`ws://${HOST}:${loop.port}/x`, { followRedirects: true, maxRedirects: 3 }).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof HandshakeError);
    assert.equal(error.status, 302);
    assert.equal(loop.requests.length, 4);
  });
});

describe('wss:// with a certificate generated for the test', () => {
  let dir = '';
  let key = Buffer.alloc(0);
  let cert = Buffer.alloc(0);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wireroom-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore', timeout: 30_000 });
    key = readFileSync(join(dir, 'key.pem'));
    cert = readFileSync(join(dir, 'cert.pem'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('standalone TLS server and our client with tls.ca', T, async () => {
    const { server, port } = await startServer({ tls: { key, cert }, perMessageDeflate: true });
    cleanup.server(server);
    server.on('connection', echo);
    const ws = cleanup.socket(await connect(`wss://127.0.0.1:${port}/secure`, { tls: { ca: cert }, perMessageDeflate: true }));
    assert.equal(await roundTrip(ws, 'over tls '.repeat(100)), 'over tls '.repeat(100));
    assert.match(ws.extensions, /permessage-deflate/);
    const untrusted = await connect(`wss://127.0.0.1:${port}/`).then((w) => (w.terminate(), null), (e: unknown) => e);
    assert.ok(untrusted instanceof Error, 'an unknown CA is refused by default');
    assert.match(String((untrusted as NodeJS.ErrnoException).code), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  });

  it('standalone TLS: a peer that never completes the TLS handshake is cut off at handshakeTimeout; garbage at once', T, async () => {
    const { server, port } = await startServer({ tls: { key, cert }, handshakeTimeout: 500 });
    cleanup.server(server);
    server.on('connection', echo);
    const silent = cleanup.socket(await rawConnect(port));
    const began = Date.now();
    await readAll(silent, 5000);
    const elapsed = Date.now() - began;
    assert.ok(elapsed >= 400 && elapsed < 2000, `silent TLS peer cut off after ${elapsed} ms`);
    const garbage = cleanup.socket(await rawConnect(port));
    garbage.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'); // plain text on a TLS port
    const garbageBegan = Date.now();
    await readAll(garbage, 5000);
    assert.ok(Date.now() - garbageBegan < 1000, 'a peer speaking no TLS is dropped at once');
    const ws = cleanup.socket(await connect(`wss://127.0.0.1:${port}/`, { tls: { ca: cert } }));
    assert.equal(await roundTrip(ws, 'still serving'), 'still serving');
  });

  it('attached to an https.Server', T, async () => {
    const https = createHttpsServer({ key, cert }, (_, res) => res.end('plain https'));
    const wss = new WebSocketServer({ server: https as unknown as HttpServer, heartbeatInterval: 0 });
    cleanup.server(wss);
    wss.on('connection', echo);
    const port = await listen(https as unknown as HttpServer);
    const ws = cleanup.socket(await connect(`wss://127.0.0.1:${port}/`, { tls: { ca: cert } }));
    assert.equal(await roundTrip(ws, 'https attached'), 'https attached');
    const closed = next<[number, string, boolean]>(ws, 'close');
    ws.close(1000, 'bye');
    assert.deepEqual(await within(closed, 5000, 'close'), [1000, '', true]);
  });
});
