import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';
import { App } from '../../src/app/app.js';
import { WebSocketHandler } from '../../src/app/websocket-handler.js';

type T = { after: (fn: () => void | Promise<void>) => void };

async function serve(t: T, app: App): Promise<string> {
  const server = await app.listen(0, '127.0.0.1');
  t.after(() => app.close({ timeoutMs: 1000 }));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function open(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function collect(ws: WebSocket, n: number): Promise<string[]> {
  const out: string[] = [];
  return new Promise((resolve) => {
    ws.on('message', (data) => {
      out.push(String(data));
      if (out.length === n) resolve(out);
    });
  });
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

test('an async onMessage settles before the next one starts, in arrival order', async (t) => {
  let active = 0;
  let maxActive = 0;
  class Slow extends WebSocketHandler {
    override async onMessage(data: string | Buffer): Promise<void> {
      maxActive = Math.max(maxActive, ++active);
      await delay(Math.floor(Math.random() * 3));
      this.send(`echo:${String(data)}`);
      active--;
    }
  }
  const url = await serve(t, new App().websocket('/slow', (req) => new Slow(req)));
  const ws = await open(`${url}/slow`);
  t.after(() => ws.close());
  const got = collect(ws, 60);
  for (let i = 0; i < 60; i++) ws.send(String(i));
  assert.deepEqual(await got, Array.from({ length: 60 }, (_, i) => `echo:${i}`));
  assert.equal(maxActive, 1);
});

test('messages wait for an async open(); per-connection state; send() encodes objects as JSON; binary stays binary', async (t) => {
  class Stateful extends WebSocketHandler {
    private ready = false;
    private count = 0;
    override async open(): Promise<void> {
      await delay(30);
      this.ready = true;
    }
    override onMessage(data: string | Buffer, isBinary: boolean): void {
      this.count++;
      this.send({ ready: this.ready, count: this.count, isBinary, text: isBinary ? (data as Buffer).toString('hex') : data });
    }
  }
  const url = await serve(t, new App().websocket('/s', (req) => new Stateful(req)));
  const [a, b] = [await open(`${url}/s`), await open(`${url}/s`)];
  t.after(() => { a.close(); b.close(); });
  const gotA = collect(a, 2);
  a.send('hi');
  a.send(Buffer.from([1, 2]));
  assert.deepEqual((await gotA).map((s) => JSON.parse(s) as unknown), [
    { ready: true, count: 1, isBinary: false, text: 'hi' },
    { ready: true, count: 2, isBinary: true, text: '0102' },
  ]);
  const gotB = collect(b, 1);
  b.send('x');
  assert.equal((JSON.parse((await gotB)[0]!) as { count: number }).count, 1, 'state is per connection');
});

test('messages sent before a close are all handled, in order, before onClose', async (t) => {
  const events: string[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  class Tracked extends WebSocketHandler {
    override async onMessage(data: string | Buffer): Promise<void> {
      events.push(`start ${String(data)}`);
      await delay(30);
      events.push(`end ${String(data)}`);
    }
    override onClose(code: number): void {
      events.push(`close ${code}`);
      done();
    }
  }
  const url = await serve(t, new App().websocket('/t', (req) => new Tracked(req)));
  const ws = await open(`${url}/t`);
  ws.send('a');
  ws.send('b');
  ws.close(4000);
  await finished;
  await delay(20);
  assert.deepEqual(events, ['start a', 'end a', 'start b', 'end b', 'close 4000']);
});

test('onClose runs once, after the message in progress has settled, when the close comes meanwhile', async (t) => {
  const events: string[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  class Closer extends WebSocketHandler {
    override async onMessage(): Promise<void> {
      events.push('start');
      this.close(4001, 'bye'); // the client answers the close while this handler still works
      await delay(80);
      events.push(`end (open: ${this.isOpen})`);
    }
    override onClose(code: number): void {
      events.push(`close ${code}`);
      done();
    }
  }
  const url = await serve(t, new App().websocket('/c', (req) => new Closer(req)));
  const ws = await open(`${url}/c`);
  const code = closed(ws);
  ws.send('a');
  assert.equal(await code, 4001);
  await finished;
  await delay(20);
  assert.deepEqual(events, ['start', 'end (open: false)', 'close 4001']);
});

test('a throwing handler closes its connection with 1011 and the error is reported', async (t) => {
  const logged: string[] = [];
  class Broken extends WebSocketHandler {
    override onMessage(data: string | Buffer): void | Promise<void> {
      if (data === 'sync') throw new Error('boom');
      return Promise.reject(new Error('async boom'));
    }
  }
  const url = await serve(t, new App({ logError: (context, error) => logged.push(`${context}: ${(error as Error).message}`) })
    .websocket('/b', (req) => new Broken(req)));
  for (const kind of ['sync', 'async']) {
    const ws = await open(`${url}/b`);
    ws.send(kind);
    assert.equal(await closed(ws), 1011);
  }
  assert.deepEqual(logged, ['WebSocketHandler.onMessage: boom', 'WebSocketHandler.onMessage: async boom']);
});

test('Origin: same-origin by default, overridable by checkOrigin; unknown paths 404, plain GET on a socket route 426', async (t) => {
  class Echo extends WebSocketHandler {
    override onMessage(data: string | Buffer): void { this.send(String(data)); }
  }
  class Open extends Echo {
    override checkOrigin(origin: string | undefined): boolean { return origin === 'https://friend.example'; }
  }
  const url = await serve(t, new App().websocket('/e', (req) => new Echo(req)).websocket(/^\/open\/(\w+)$/, (req: IncomingMessage) => new Open(req)));
  const host = url.replace('ws://', '');
  (await open(`${url}/e`)).close(); // no Origin: not a browser
  (await open(`${url}/e`, { origin: `http://${host}` })).close();
  await assert.rejects(open(`${url}/e`, { origin: 'http://evil.example' }), /HTTP 403/);
  (await open(`${url}/open/x`, { origin: 'https://friend.example' })).close();
  await assert.rejects(open(`${url}/open/x`, { origin: `http://${host}` }), /HTTP 403/);
  await assert.rejects(open(`${url}/nope`), /HTTP 404/);
  const res = await fetch(`http://${host}/e`);
  assert.equal(res.status, 426);
});

test('close(): waits for handlers in progress, then closes sockets with the code; new connections are refused', async (t) => {
  class Finisher extends WebSocketHandler {
    override async onMessage(): Promise<void> {
      await delay(100);
      this.send('done');
    }
  }
  const app = new App().websocket('/f', (req) => new Finisher(req));
  const server = await app.listen(0, '127.0.0.1');
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/f`;
  const ws = await open(url);
  const messages: string[] = [];
  ws.on('message', (d) => messages.push(String(d)));
  const code = closed(ws);
  ws.send('work');
  await delay(20);
  const closing = app.close({ code: 1012 });
  await assert.rejects(open(url));
  await closing;
  assert.equal(await code, 1012);
  assert.deepEqual(messages, ['done']);
  t.after(() => {});
});
