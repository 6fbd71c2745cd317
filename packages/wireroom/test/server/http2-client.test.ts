// connect(url, { http2 }) (RFC 8441 client): against our server (many WebSockets on one session, deflate,
// refusals, fallback to HTTP/1.1) and against a minimal node:http2 server written here that speaks the frames by hand.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect as http2Connect, constants as h2, createSecureServer, type ServerHttp2Stream } from 'node:http2';
import { connect } from '../../src/client/connect.js';
import { WebSocket as WsCompatible } from '../../src/index.js'; // the ws-compatible constructor
import { closeHttp2Sessions } from '../../src/client/http2-connect.js';
import type { WebSocket } from '../../src/connection/websocket.js';
import { HandshakeError } from '../../src/protocol/errors.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { Cleanup, HOST, next, until } from '../helpers/loopback.js';
import { selfSignedCert } from '../helpers/http2.js';
import { decodeFrames, OP, readClose, serverFrame, closePayload } from '../helpers/frames.js';

const T = { timeout: 30_000 };
const cleanup = new Cleanup();
afterEach(async () => {
  await cleanup.run();
  await closeHttp2Sessions();
});

let tls: { key: Buffer; cert: Buffer };
before(() => {
  tls = selfSignedCert();
});
after(() => closeHttp2Sessions());

async function h2Server(options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<{ server: WebSocketServer; port: number }> {
  const server = cleanup.server(new WebSocketServer({ host: HOST, port: 0, heartbeatInterval: 0, tls, http2: true, ...options }));
  await next(server, 'listening');
  return { server, port: server.address()!.port };
}

function echo(server: WebSocketServer): void {
  server.on('connection', (ws: WebSocket) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
}

function nextMessage(ws: WebSocket): Promise<[Buffer, boolean]> {
  return next<[Buffer, boolean]>(ws, 'message');
}

describe('connect() over HTTP/2 against our server', () => {
  it('the ws-compatible constructor takes { http2: true } and opens an extended CONNECT stream', T, async () => {
    const { server, port } = await h2Server();
    echo(server);
    const versions: string[] = [];
    server.on('connection', (_ws: WebSocket, request: { httpVersion?: string }) => versions.push(String(request.httpVersion)));
    const ws = cleanup.socket(new WsCompatible(`wss://localhost:${port}/compat`, { http2: true, ca: tls.cert }));
    await next(ws, 'open');
    const echoed = nextMessage(ws);
    ws.send('over h2');
    assert.equal((await echoed)[0].toString(), 'over h2');
    assert.deepEqual(versions, ['2.0']);
  });


  it('50 WebSockets share one HTTP/2 session (one TCP connection) and each echoes text and binary', T, async () => {
    const { server, port } = await h2Server();
    echo(server);
    const versions = new Set<string>();
    server.on('connection', (_ws: WebSocket, request: { httpVersion?: string }) => versions.add(String(request.httpVersion)));
    const sockets = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      connect(`wss://localhost:${port}/s${i}`, { http2: true, tls: { ca: tls.cert } }).then((ws) => cleanup.socket(ws))));
    assert.deepEqual([...versions], ['2.0']);
    assert.equal(server.clients.size, 50);
    const clientPorts = new Set([...server.clients].map((ws) => ws.remotePort));
    assert.equal(clientPorts.size, 1, 'every WebSocket arrived on the same TCP connection');
    await Promise.all(sockets.map(async (ws, i) => {
      const text = nextMessage(ws);
      ws.send(`text ${i}`);
      const [data, isBinary] = await text;
      assert.equal(data.toString(), `text ${i}`);
      assert.equal(isBinary, false);
      const binary = nextMessage(ws);
      ws.send(Buffer.from([i, 255 - i]));
      const [bytes, isBinary2] = await binary;
      assert.deepEqual([...bytes], [i, 255 - i]);
      assert.equal(isBinary2, true);
    }));
    // Closing them all leaves the session open for the next one.
    await Promise.all(sockets.map((ws) => {
      const closed = next<[number, string, boolean]>(ws, 'close');
      ws.close(1000);
      return closed.then(([code, , clean]) => assert.deepEqual([code, clean], [1000, true]));
    }));
    const again = cleanup.socket(await connect(`wss://localhost:${port}/again`, { http2: true, tls: { ca: tls.cert } }));
    await until(() => server.clients.size === 1, 3000, 'the new connection');
    assert.equal([...server.clients][0]!.remotePort, [...clientPorts][0], 'the same session again');
    assert.equal(again.readyState, 1);
  });

  it('negotiates permessage-deflate and a subprotocol over a stream', T, async () => {
    const { server, port } = await h2Server({ perMessageDeflate: { threshold: 0 }, protocols: ['v1'] });
    echo(server);
    const ws = cleanup.socket(await connect(`wss://localhost:${port}/`, { http2: true, tls: { ca: tls.cert }, perMessageDeflate: true, protocols: ['v1'] }));
    assert.equal(ws.protocol, 'v1');
    assert.match(ws.extensions, /^permessage-deflate/);
    const big = 'compress me '.repeat(2000);
    const got = nextMessage(ws);
    ws.send(big);
    assert.equal((await got)[0].toString(), big);
  });

  it('a refusal rejects with its status (400 for a bad version is tested raw; here 403 and 404)', T, async () => {
    const { port } = await h2Server({ path: '/ok' });
    const notFound = await connect(`wss://localhost:${port}/nope`, { http2: true, tls: { ca: tls.cert } }).catch((e: unknown) => e);
    assert.ok(notFound instanceof HandshakeError);
    assert.equal(notFound.status, 404);
    const forbidden = await connect(`wss://localhost:${port}/ok`, { http2: true, tls: { ca: tls.cert }, origin: 'https://evil.example' }).catch((e: unknown) => e);
    assert.ok(forbidden instanceof HandshakeError);
    assert.equal(forbidden.status, 403);
  });

  it('terminate() on the client resets its stream with CANCEL; the server sees 1006 and the session lives on', T, async () => {
    const { server, port } = await h2Server();
    echo(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const ws = await connect(`wss://localhost:${port}/`, { http2: true, tls: { ca: tls.cert } });
    const [serverWs] = await connected;
    const closed = next<[number, string, boolean]>(serverWs, 'close');
    ws.terminate();
    const [code, , clean] = await closed;
    assert.equal(code, 1006);
    assert.equal(clean, false);
    const other = cleanup.socket(await connect(`wss://localhost:${port}/`, { http2: true, tls: { ca: tls.cert } }));
    const got = nextMessage(other);
    other.send('after the reset');
    assert.equal((await got)[0].toString(), 'after the reset');
  });

  it('falls back to HTTP/1.1 when the server does not speak HTTP/2 (plain tls server)', T, async () => {
    const server = cleanup.server(new WebSocketServer({ host: HOST, port: 0, heartbeatInterval: 0, tls }));
    await next(server, 'listening');
    echo(server);
    const versions: string[] = [];
    server.on('connection', (_ws: WebSocket, request: { httpVersion?: string }) => versions.push(String(request.httpVersion)));
    const ws = cleanup.socket(await connect(`wss://localhost:${server.address()!.port}/`, { http2: true, tls: { ca: tls.cert } }));
    const got = nextMessage(ws);
    ws.send('over h1');
    assert.equal((await got)[0].toString(), 'over h1');
    assert.deepEqual(versions, ['1.1']);
  });

  it('falls back to HTTP/1.1 when the HTTP/2 server does not advertise ENABLE_CONNECT_PROTOCOL', T, async () => {
    const h2server = createSecureServer({ ...tls, allowHTTP1: true }, (_req, res) => res.end('page'));
    cleanup.add(h2server, (s) => s.close());
    const wss = cleanup.server(new WebSocketServer({ noServer: true, heartbeatInterval: 0 }));
    echo(wss);
    const versions: string[] = [];
    h2server.on('upgrade', (request, socket, head) => {
      versions.push(request.httpVersion);
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
    });
    let sawSession = false;
    h2server.on('session', (session) => {
      sawSession = true;
      session.on('remoteSettings', () => {});
    });
    h2server.listen(0, HOST);
    await next(h2server, 'listening');
    const port = (h2server.address() as { port: number }).port;
    const ws = cleanup.socket(await connect(`wss://localhost:${port}/`, { http2: true, tls: { ca: tls.cert } }));
    assert.equal(sawSession, true, 'the client tried HTTP/2 first');
    const got = nextMessage(ws);
    ws.send('fell back');
    assert.equal((await got)[0].toString(), 'fell back');
    assert.deepEqual(versions, ['1.1']);
  });

  it('uses a session the application opened (http2: session)', T, async () => {
    const { server, port } = await h2Server();
    echo(server);
    const session = http2Connect(`https://localhost:${port}`, { ca: tls.cert });
    cleanup.add(session, (s) => s.destroy());
    const ws = cleanup.socket(await connect(`wss://localhost:${port}/mine`, { http2: session }));
    const got = nextMessage(ws);
    ws.send('on my session');
    assert.equal((await got)[0].toString(), 'on my session');
    const [serverWs] = [...server.clients];
    assert.equal(serverWs!.remotePort, session.socket.localPort);
  });
});

describe('connect() over HTTP/2 against a minimal node:http2 server written here', () => {
  it('sends a masked extended CONNECT WebSocket, reads unmasked frames, and closes with the stream', T, async () => {
    const requests: Array<Record<string, unknown>> = [];
    const received: Buffer[] = [];
    let peerStream: ServerHttp2Stream | null = null;
    const h2server = createSecureServer({ ...tls, settings: { enableConnectProtocol: true } });
    cleanup.add(h2server, (s) => s.close());
    h2server.on('stream', (stream, headers) => {
      requests.push({ ...headers });
      peerStream = stream;
      stream.respond({ ':status': 200, 'sec-websocket-protocol': 'echo' });
      let bytes = Buffer.alloc(0);
      stream.on('data', (chunk: Buffer) => {
        bytes = Buffer.concat([bytes, chunk]);
        try {
          const frames = decodeFrames(bytes);
          bytes = Buffer.alloc(0);
          for (const frame of frames) {
            assert.equal(frame.masked, true, 'a client masks every frame, over HTTP/2 too');
            received.push(frame.payload);
            if (frame.opcode === OP.TEXT) stream.write(serverFrame(OP.TEXT, `peer got ${frame.payload.toString()}`));
            if (frame.opcode === OP.CLOSE) stream.end(); // our reply was sent first (below): END_STREAM
          }
        } catch {
          // a partial frame: wait for more
        }
      });
    });
    h2server.listen(0, HOST);
    await next(h2server, 'listening');
    const port = (h2server.address() as { port: number }).port;

    const ws = await connect(`wss://localhost:${port}/peer?x=1`, { http2: true, tls: { ca: tls.cert }, protocols: ['echo'], origin: 'https://localhost' });
    assert.equal(ws.protocol, 'echo');
    const request = requests[0]!;
    assert.equal(request[':method'], 'CONNECT');
    assert.equal(request[':protocol'], 'websocket');
    assert.equal(request[':scheme'], 'https');
    assert.equal(request[':path'], '/peer?x=1');
    assert.equal(request[':authority'], `localhost:${port}`);
    assert.equal(request['sec-websocket-version'], '13');
    assert.equal(request['sec-websocket-key'], undefined);
    assert.equal(request['origin'], 'https://localhost');

    const got = nextMessage(ws);
    ws.send('hi');
    assert.equal((await got)[0].toString(), 'peer got hi');

    // The peer closes: our client answers with its close frame, the peer ends the stream, ours ends too.
    const closed = next<[number, string, boolean]>(ws, 'close');
    peerStream!.write(serverFrame(OP.CLOSE, closePayload(1000, 'peer done')));
    const [code, reason, clean] = await closed;
    assert.deepEqual([code, reason, clean], [1000, 'peer done', true]);
    const closeReply = received.at(-1)!;
    assert.equal(readClose(closeReply).code, 1000);
    await until(() => peerStream!.closed, 3000, 'the peer stream to close');
    assert.equal(peerStream!.rstCode, h2.NGHTTP2_NO_ERROR, 'an orderly close: END_STREAM both ways, no reset');
  });

  it('a client close() that the peer never answers ends in RST_STREAM CANCEL after closeTimeout', T, async () => {
    let peerStream: ServerHttp2Stream | null = null;
    const h2server = createSecureServer({ ...tls, settings: { enableConnectProtocol: true } });
    cleanup.add(h2server, (s) => s.close());
    h2server.on('stream', (stream) => {
      peerStream = stream;
      stream.on('error', () => {});
      stream.respond({ ':status': 200 });
      stream.resume(); // reads and ignores everything
    });
    h2server.listen(0, HOST);
    await next(h2server, 'listening');
    const port = (h2server.address() as { port: number }).port;
    const ws = await connect(`wss://localhost:${port}/`, { http2: true, tls: { ca: tls.cert }, closeTimeout: 200 });
    const closed = next<[number, string, boolean]>(ws, 'close');
    ws.close(1000);
    const [code, , clean] = await closed;
    assert.equal(code, 1006);
    assert.equal(clean, false);
    await until(() => peerStream!.closed, 3000, 'the peer stream to close');
    assert.equal(peerStream!.rstCode, h2.NGHTTP2_CANCEL);
  });
});
