// ws's handshake events, side by side with ws 8 over real loopback: the client's 'upgrade', 'unexpected-response'
// and 'redirect', the server's 'headers' and 'wsClientError'. Each case runs with ws's class and ours against the
// same peers and compares what the application sees; cases where we deliberately differ check ours alone.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import WsClient, { WebSocketServer as WsServer } from 'ws';
import WebSocket, { WebSocketServer } from '../../src/index.js';
import { Cleanup, HOST, until, within } from '../helpers/loopback.js';

const T = { timeout: 20_000 };
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

type AnyClient = WsClient | InstanceType<typeof WebSocket>;
type ClientCtor = new (url: string, options?: object) => AnyClient;
const CLIENTS: Array<[string, ClientCtor]> = [['ws', WsClient as unknown as ClientCtor], ['wireroom', WebSocket as unknown as ClientCtor]];

/** A `ws` server whose connections echo; `seen` collects the request headers of each handshake. */
async function wsServer(options: ConstructorParameters<typeof WsServer>[0] = {}): Promise<{ server: WsServer; url: string; seen: IncomingMessage['headers'][] }> {
  const server = new WsServer({ host: HOST, port: 0, ...options });
  await once(server, 'listening');
  const seen: IncomingMessage['headers'][] = [];
  server.on('connection', (ws, request) => {
    seen.push(request.headers);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  cleanup.add(server, (s) => {
    for (const c of s.clients) c.terminate();
    s.close();
  });
  return { server, url: `ws://${HOST}:${(server.address() as { port: number }).port}`, seen };
}

async function ourServer(): Promise<{ server: WebSocketServer; url: string }> {
  const server = new WebSocketServer({ host: HOST, port: 0, heartbeatInterval: 0 });
  await once(server, 'listening');
  cleanup.server(server);
  return { server, url: `ws://${HOST}:${server.address()!.port}` };
}

/** A raw HTTP exchange: sends `request`, resolves with everything the server answered until it closed. */
async function rawExchange(url: string, request: string): Promise<string> {
  const { port } = new URL(url);
  const socket: Socket = cleanup.socket(netConnect(Number(port), HOST));
  socket.write(request);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await within(once(socket, 'close'), 10_000, 'the server to close the connection');
  return Buffer.concat(chunks).toString('latin1');
}

describe("client 'upgrade'", () => {
  it('gives the 101 response (status, headers) before open, side by side with ws', T, async () => {
    const { server, url } = await wsServer();
    server.on('headers', (headers) => headers.push('X-Served-By: ws'));
    const records = [];
    for (const [, Client] of CLIENTS) {
      const client = cleanup.socket(new Client(url) as WsClient);
      const events: string[] = [];
      client.on('upgrade', (response: IncomingMessage) => events.push(`upgrade:${response.statusCode}:${response.headers.upgrade}:${response.headers['x-served-by']}:${typeof response.headers['sec-websocket-accept']}`));
      client.on('open', () => events.push('open'));
      await within(once(client, 'open'), 5000, 'open');
      records.push(events);
    }
    assert.deepEqual(records[1], records[0]);
    assert.deepEqual(records[1], ['upgrade:101:websocket:ws:string', 'open']);
  });

  it("terminate() in an 'upgrade' listener stops the handshake: no 'open' (ours: 'close' 1006 alone, as for every close while connecting)", T, async () => {
    const { url } = await wsServer();
    const client = new WebSocket(url);
    const events: string[] = [];
    client.on('upgrade', () => client.terminate());
    client.on('open', () => events.push('open'));
    client.on('error', () => events.push('error'));
    client.on('close', (code: number) => events.push(`close:${code}`));
    await until(() => events.length > 0, 5000, 'close');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(events, ['close:1006']);
  });
});

describe("client 'unexpected-response'", () => {
  const refusing = (): Promise<{ server: HttpServer; url: string }> => {
    const server = createHttpServer();
    server.on('upgrade', (_request: IncomingMessage, socket: Socket) => {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nX-Reason: token\r\nContent-Length: 13\r\nConnection: close\r\n\r\nno token here');
    });
    server.listen(0, HOST);
    return once(server, 'listening').then(() => {
      cleanup.add(server, (s) => {
        s.closeAllConnections();
        s.close();
      });
      return { server, url: `ws://${HOST}:${(server.address() as { port: number }).port}` };
    });
  };

  it('with a listener: no error, the application gets the request and the response with its body, side by side with ws', T, async () => {
    const { url } = await refusing();
    const records = [];
    for (const [, Client] of CLIENTS) {
      const client = new Client(`${url}/private`) as WsClient;
      const events: string[] = [];
      client.on('error', (error) => events.push(`error:${error.message}`));
      client.on('open', () => events.push('open'));
      const got = new Promise<void>((resolve) => {
        client.on('unexpected-response', (request, response) => {
          events.push(`unexpected-response:${request.method}:${request.path}:${response.statusCode}:${response.statusMessage}:${response.headers['x-reason']}:${response.headers['content-type']}`);
          const body: Buffer[] = [];
          response.on('data', (chunk: Buffer) => body.push(chunk));
          response.on('end', () => {
            events.push(`body:${Buffer.concat(body).toString()}`);
            resolve();
          });
        });
      });
      await within(got, 5000, 'the response body');
      events.push(`readyState:${client.readyState}`);
      records.push([...events]);
      client.terminate(); // (ws then emits 'error': closed before the connection was established)
    }
    assert.deepEqual(records[1], records[0]);
    assert.deepEqual(records[1], ['unexpected-response:GET:/private:401:Unauthorized:token:text/plain', 'body:no token here', 'readyState:0']);
  });

  it("with a listener, the server closing the connection ends the attempt with 'close' 1006 and no 'error' (ws would stay CONNECTING)", T, async () => {
    const { url } = await refusing();
    const client = new WebSocket(url);
    const events: string[] = [];
    client.on('unexpected-response', (_request: unknown, response: NodeJS.ReadableStream) => {
      events.push('unexpected-response');
      response.resume();
    });
    client.on('error', (error: Error) => events.push(`error:${error.message}`));
    client.on('close', (code: number) => events.push(`close:${code}`));
    await until(() => events.includes('close:1006'), 5000, 'close');
    assert.deepEqual(events, ['unexpected-response', 'close:1006']);
    assert.equal(client.readyState, WebSocket.CLOSED);
  });

  it("request.destroy(error) reports the error ('error', then 'close' 1006); without a listener the refusal is an error, as in ws", T, async () => {
    const { url } = await refusing();
    const client = new WebSocket(url);
    const events: string[] = [];
    client.on('unexpected-response', (request: { destroy(error?: Error): void }) => request.destroy(new Error('refused by the application')));
    client.on('error', (error: Error) => events.push(`error:${error.message}`));
    client.on('close', (code: number) => events.push(`close:${code}`));
    await until(() => events.length === 2, 5000, 'error and close');
    assert.deepEqual(events, ['error:refused by the application', 'close:1006']);

    const records = [];
    for (const [, Client] of CLIENTS) {
      const plain = new Client(url) as WsClient;
      const seen: string[] = [];
      plain.on('error', (error: Error & { status?: number }) => seen.push(`error:${/401/.test(error.message)}`));
      plain.on('close', (code: number) => seen.push(`close:${code}`));
      await until(() => seen.length === 2, 5000, 'error and close');
      records.push(seen);
    }
    assert.deepEqual(records[1], records[0]);
    assert.deepEqual(records[1], ['error:true', 'close:1006']);
  });
});

describe("client 'redirect'", () => {
  it('is emitted with the new URL and the next request, whose headers the listener may change (credentials kept), side by side with ws', T, async () => {
    const { url: target, seen } = await wsServer();
    const redirector = createHttpServer();
    redirector.on('upgrade', (_request: IncomingMessage, socket: Socket) => {
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${target.replace('ws:', 'http:')}/landing\r\nContent-Length: 0\r\n\r\n`);
    });
    redirector.listen(0, HOST);
    await once(redirector, 'listening');
    cleanup.add(redirector, (s) => {
      s.closeAllConnections();
      s.close();
    });
    const from = `ws://${HOST}:${(redirector.address() as { port: number }).port}/start`;
    const records = [];
    for (const [, Client] of CLIENTS) {
      for (const listen of [true, false]) {
        const client = cleanup.socket(new Client(from, { followRedirects: true, headers: { Authorization: 'Bearer secret' } }) as WsClient);
        const events: string[] = [];
        if (listen) {
          client.on('redirect', (url: string, request: { setHeader(name: string, value: string): void; getHeader(name: string): unknown }) => {
            events.push(`redirect:${url}:${client.url}:${String(request.getHeader('authorization'))}`);
            request.setHeader('X-Added', 'by the listener');
          });
        }
        await within(once(client, 'open'), 5000, 'open after the redirect');
        const headers = seen.at(-1)!;
        events.push(`open:${client.url}`, `server saw:${headers['x-added']}:${headers.authorization}`);
        records.push(events);
      }
    }
    assert.deepEqual(records.slice(2), records.slice(0, 2));
    assert.deepEqual(records[2], [`redirect:${target}/landing:${target}/landing:Bearer secret`, `open:${target}/landing`, 'server saw:by the listener:Bearer secret']);
    assert.deepEqual(records[3], [`open:${target}/landing`, 'server saw:undefined:undefined'], 'without a listener, credentials are dropped for another origin');
  });
});

describe("server 'headers'", () => {
  it('lets listeners add lines to the 101 response, side by side with ws; a line with CR/LF is refused with 500', T, async () => {
    const servers = [await wsServer(), await ourServer()];
    const records = [];
    for (const { server, url } of servers) {
      (server as WsServer).on('headers', (headers: string[], request: IncomingMessage) => {
        headers.push(`X-Path: ${request.url}`);
      });
      const client = cleanup.socket(new WsClient(`${url}/room?x=1`));
      const upgraded = once(client, 'upgrade');
      const opened = once(client, 'open');
      const [response] = await within(upgraded, 5000, 'upgrade') as [IncomingMessage];
      await within(opened, 5000, 'open');
      records.push([response.statusCode, response.headers['x-path'], response.headers.upgrade]);
    }
    assert.deepEqual(records[1], records[0]);
    assert.deepEqual(records[1], [101, '/room?x=1', 'websocket']);

    const { server, url } = await ourServer();
    server.on('headers', (headers: string[]) => headers.push('X-Split: a\r\nSet-Cookie: injected=1'));
    const answer = await rawExchange(url, `GET / HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 500 /);
    assert.doesNotMatch(answer, /injected/);
  });
});

describe("server 'wsClientError'", () => {
  const BAD_KEY = `GET / HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n`;

  it('with a listener, the application gets (error, socket, request) and answers itself, side by side with ws', T, async () => {
    const servers = [await wsServer(), await ourServer()];
    const records = [];
    for (const { server, url } of servers) {
      const seen: string[] = [];
      (server as WsServer).on('wsClientError', (error: Error, socket: import('node:stream').Duplex, request: IncomingMessage) => {
        seen.push(`${error instanceof Error}:${/Sec-WebSocket-Key/i.test(error.message)}:${request.headers.upgrade}`);
        socket.end('HTTP/1.1 418 I\'m a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      });
      const answer = await rawExchange(url, BAD_KEY);
      records.push([...seen, answer.split('\r\n')[0]]);
    }
    assert.deepEqual(records[1], records[0]);
    assert.deepEqual(records[1], ['true:true:websocket', "HTTP/1.1 418 I'm a teapot"]);
  });

  it('without a listener, the server answers 400 itself, as ws does', T, async () => {
    const servers = [await wsServer(), await ourServer()];
    const lines = [];
    for (const { url } of servers) lines.push((await rawExchange(url, BAD_KEY)).split('\r\n')[0]);
    assert.deepEqual(lines, ['HTTP/1.1 400 Bad Request', 'HTTP/1.1 400 Bad Request']);
  });
});
