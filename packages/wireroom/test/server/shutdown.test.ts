// Graceful shutdown (1001 / 1012, handshakes in flight get 503, resolves when clients are gone, stragglers
// destroyed after the timeout, the drain variant) and attached mode on an http.Server.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from '../../src/client/connect.js';
import { HandshakeError } from '../../src/protocol/errors.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import type { WebSocket } from '../../src/connection/websocket.js';
import {
  Cleanup, closeCodeOf, HOST, next, rawConnect, rawWebSocket, readAll, startServer, until, upgradeRequest, within,
} from '../helpers/loopback.js';

const T = { timeout: 20_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

function echo(ws: WebSocket): void {
  ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
}

describe('graceful shutdown', () => {
  it('close() sends 1001 to every client and resolves when they are gone', T, async () => {
    const { server, url } = await startServer();
    cleanup.server(server);
    const clients = [await connect(url), await connect(url), await connect(url)];
    await until(() => server.clients.size === 3, 2000, 'three clients');
    const closes = clients.map((c) => next<[number, string, boolean]>(c, 'close'));
    let serverClosed = false;
    server.on('close', () => (serverClosed = true));
    const began = Date.now();
    await within(server.close({ timeout: 5000 }), 3000, 'server.close()');
    assert.ok(Date.now() - began < 1500, 'resolved as soon as the clients were gone');
    for (const [code, reason, wasClean] of await Promise.all(closes)) {
      assert.equal(code, 1001);
      assert.equal(reason, 'Server shutting down');
      assert.equal(wasClean, true);
    }
    assert.equal(server.clients.size, 0);
    assert.equal(serverClosed, true);
    const refused = await connect(url, { handshakeTimeout: 2000 }).then((w) => (w.terminate(), null), (e: unknown) => e);
    assert.ok(refused instanceof Error, 'no longer listening');
  });

  it('close({ code: 1012 }) announces a restart', T, async () => {
    const { server, url } = await startServer();
    cleanup.server(server);
    const client = await connect(url);
    await until(() => server.clients.size === 1, 2000, 'client');
    const closed = next<[number, string, boolean]>(client, 'close');
    await within(server.close({ code: 1012 }), 3000, 'server.close()');
    const [code, reason] = await closed;
    assert.equal(code, 1012);
    assert.equal(reason, 'Server restarting');
  });

  it('handshakes in flight are answered with 503', T, async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let authCalled = false;
    const { server, url, port } = await startServer({
      authenticate: async (): Promise<true> => {
        authCalled = true;
        await gate;
        return true;
      },
    });
    cleanup.server(server);
    // One handshake waits in authenticate, another has sent half its request.
    const pending = connect(url).then((w) => (w.terminate(), null), (e: unknown) => e);
    const half = await rawConnect(port);
    cleanup.socket(half);
    const request = upgradeRequest('/');
    half.write(request.slice(0, 40));
    await until(() => authCalled, 2000, 'authenticate to be called');
    const closing = server.close({ timeout: 2000 });
    half.write(request.slice(40));
    const halfResponse = readAll(half, 5000);
    release();
    const error = await pending;
    assert.ok(error instanceof HandshakeError, String(error));
    assert.equal(error.status, 503);
    assert.match((await halfResponse).toString('latin1'), /^HTTP\/1\.1 503 /);
    await within(closing, 3000, 'server.close()');
  });

  it('a client that never answers the close is destroyed after the shutdown timeout', T, async () => {
    const { server, port, url } = await startServer();
    cleanup.server(server);
    const peer = await rawWebSocket(port);
    cleanup.socket(peer.socket);
    peer.read(); // never answers
    const good = await connect(url);
    await until(() => server.clients.size === 2, 2000, 'two clients');
    const goodClosed = next<[number, string, boolean]>(good, 'close');
    const began = Date.now();
    await within(server.close({ timeout: 400 }), 3000, 'server.close()');
    const elapsed = Date.now() - began;
    assert.ok(elapsed >= 350 && elapsed < 2000, `resolved after ${elapsed} ms`);
    assert.equal((await goodClosed)[0], 1001);
    await within(peer.closed, 1000, 'the straggler destroyed');
    assert.equal(closeCodeOf(peer.closeFrames()[0]!), 1001);
    assert.equal(server.clients.size, 0);
  });

  it('drain: stops accepting, keeps existing connections working until they close', T, async () => {
    const { server, url } = await startServer();
    cleanup.server(server);
    server.on('connection', echo);
    const client = await connect(url);
    await until(() => server.clients.size === 1, 2000, 'client');
    let resolved = false;
    const drained = server.close({ drain: true, timeout: 10_000 }).then(() => (resolved = true));
    const refused = await connect(url, { handshakeTimeout: 2000 }).then((w) => (w.terminate(), null), (e: unknown) => e);
    assert.ok(refused instanceof Error, 'new connections are refused while draining');
    // The existing connection still works.
    const reply = next<[Buffer]>(client, 'message');
    client.send('still served');
    assert.equal((await reply)[0].toString(), 'still served');
    assert.equal(resolved, false);
    assert.equal(client.readyState, client.OPEN);
    const closed = next<[number, string, boolean]>(client, 'close');
    client.close(1000, 'my own time');
    await within(drained, 3000, 'drain to resolve once the client left');
    assert.equal((await closed)[0], 1000);
  });
});

describe('attached to an http.Server', () => {
  it('serves HTTP and WebSocket on one port; closing the WebSocketServer leaves the HTTP server up', T, async () => {
    const http = createHttpServer((_, res) => res.end('plain http'));
    const wss = new WebSocketServer({ server: http, path: '/ws', heartbeatInterval: 0 });
    wss.on('connection', echo);
    await new Promise<void>((resolve) => http.listen(0, HOST, resolve));
    cleanup.add(http, (h) => new Promise<void>((resolve) => {
      h.closeAllConnections();
      h.close(() => resolve());
    }));
    const port = (http.address() as { port: number }).port;
    assert.equal(wss.address()!.port, port);
    const get = (): Promise<string> => new Promise((resolve, reject) => {
      httpRequest({ host: HOST, port, path: '/' }, (res: IncomingMessage) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve(body));
      }).on('error', reject).end();
    });
    assert.equal(await within(get(), 3000, 'GET'), 'plain http');
    const seen = next<[WebSocket, IncomingMessage]>(wss, 'connection');
    const ws = await connect(`ws://${HOST}:${port}/ws`);
    const [, request] = await seen;
    assert.equal(request.url, '/ws');
    const reply = next<[Buffer]>(ws, 'message');
    ws.send('attached');
    assert.equal((await reply)[0].toString(), 'attached');
    const wrongPath = await connect(`ws://${HOST}:${port}/other`).then((w) => (w.terminate(), null), (e: unknown) => e);
    assert.equal((wrongPath as HandshakeError).status, 404);
    const closed = next<[number, string, boolean]>(ws, 'close');
    await within(wss.close(), 3000, 'wss.close()');
    assert.equal((await closed)[0], 1001);
    assert.equal(http.listening, true);
    assert.equal(await within(get(), 3000, 'GET after wss.close()'), 'plain http');
  });

  it('while closing or draining, new upgrades get 503 (not the HTTP handler); after close the HTTP server owns them', T, async () => {
    const http = createHttpServer((_, res) => res.end('plain http'));
    const wss = new WebSocketServer({ server: http, heartbeatInterval: 0 });
    wss.on('connection', echo);
    await new Promise<void>((resolve) => http.listen(0, HOST, resolve));
    cleanup.add(http, (h) => new Promise<void>((resolve) => {
      h.closeAllConnections();
      h.close(() => resolve());
    }));
    const port = (http.address() as { port: number }).port;
    const staying = await connect(`ws://${HOST}:${port}/`);
    const drained = wss.close({ drain: true, timeout: 5000 });
    const during = await connect(`ws://${HOST}:${port}/`).then((w) => (w.terminate(), null), (e: unknown) => e);
    assert.ok(during instanceof HandshakeError);
    assert.equal(during.status, 503);
    const reply = next<[Buffer]>(staying, 'message');
    staying.send('still here');
    assert.equal((await reply)[0].toString(), 'still here');
    staying.close();
    await within(drained, 3000, 'drain');
    assert.equal(http.listenerCount('upgrade'), 0, 'the upgrade listener is removed once closed');
  });
});
