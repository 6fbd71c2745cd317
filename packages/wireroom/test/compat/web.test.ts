// `wireroom/web`, the WHATWG WebSocket, side by side with undici's (Node's global WebSocket from v22): every case
// runs against the same real `ws` server with both classes, records what the page would observe (events, their
// classes and fields, readyState, exceptions), and the two records must be equal. Each case also checks its own
// expectations, so that both being wrong in the same way still fails.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createNetServer } from 'node:net';
import { WebSocket as UndiciWebSocket } from 'undici';
import { WebSocketServer as WsServer, type WebSocket as WsPeer } from 'ws';
import { WebSocket as WireroomWebSocket } from '../../src/compat/web.js';
import { HOST, until, within } from '../helpers/loopback.js';

const T = { timeout: 20_000 };
type Ctor = new (url: string | URL, protocols?: string | string[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any
const IMPLEMENTATIONS: Array<[string, Ctor]> = [['undici', UndiciWebSocket as unknown as Ctor], ['wireroom', WireroomWebSocket as unknown as Ctor]];

let peer: WsServer;
let base = '';
let refusedUrl = '';
/** What the server received, per connection id (the query string `?id=`). */
const received = new Map<string, Array<[boolean, string]>>();
const closes = new Map<string, [number, string]>();

before(async () => {
  peer = new WsServer({ host: HOST, port: 0, handleProtocols: (protocols) => protocols.values().next().value ?? false });
  await once(peer, 'listening');
  base = `ws://${HOST}:${(peer.address() as { port: number }).port}`;
  peer.on('connection', (ws: WsPeer, request) => {
    const url = new URL(request.url!, base);
    const id = url.searchParams.get('id') ?? '';
    const log: Array<[boolean, string]> = [];
    received.set(id, log);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      log.push([isBinary, isBinary ? data.toString('hex') : data.toString()]);
      if (url.pathname === '/echo') ws.send(data, { binary: isBinary });
    });
    ws.on('close', (code: number, reason: Buffer) => closes.set(id, [code, reason.toString()]));
    if (url.pathname === '/binary') {
      ws.send(Buffer.from([1, 2, 3]));
      ws.send('text');
    } else if (url.pathname === '/big') {
      ws.send(Buffer.alloc(4 * 1024 * 1024, 7));
    } else if (url.pathname === '/close') {
      ws.close(4001, 'bye');
    }
  });
  const closed = createNetServer();
  closed.listen(0, HOST);
  await once(closed, 'listening');
  refusedUrl = `ws://${HOST}:${(closed.address() as { port: number }).port}/`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
});

after(() => {
  for (const c of peer.clients) c.terminate();
  peer.close();
});

let ids = 0;
/** The events a page would see, as strings. */
function observe(ws: any): string[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const trace: string[] = [];
  ws.addEventListener('open', (e: Event) => trace.push(`open:${e.constructor.name}:${ws.readyState}`));
  ws.addEventListener('message', async (e: MessageEvent) => {
    const data = e.data as unknown;
    let text: string;
    if (typeof data === 'string') text = data;
    else if (data instanceof ArrayBuffer) text = `${data.byteLength}:${Buffer.from(data).subarray(0, 4).toString('hex')}`;
    else if (data instanceof Blob) text = `${data.size}`;
    else text = String(data);
    trace.push(`message:${e.constructor.name}:${(data as object).constructor.name}:${text}:${e.origin}`);
  });
  ws.addEventListener('error', (e: Event) => trace.push(`error:${e.constructor.name}:${ws.readyState}`));
  ws.addEventListener('close', (e: CloseEvent) => trace.push(`close:${e.constructor.name}:${e.code}:${e.reason}:${e.wasClean}:${ws.readyState}`));
  return trace;
}

function thrown(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return `${(error as Error).constructor.name}:${(error as Error).name}`;
  }
}

const closeSeen = new WeakMap<object, boolean>();
/** Constructs and notes when its close event has been dispatched (closedEvent() waits for it). */
function make(Impl: Ctor, url: string, protocols?: string | string[]): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  const ws = new Impl(url, protocols);
  closeSeen.set(ws, false);
  ws.addEventListener('close', () => closeSeen.set(ws, true));
  return ws;
}

async function closedEvent(ws: any): Promise<void> { // eslint-disable-line @typescript-eslint/no-explicit-any
  await until(() => closeSeen.get(ws) === true, 5000, 'the close event');
}

/** Runs `scenario` with both implementations and asserts they observe the same; returns the record. */
async function sideBySide(scenario: (Impl: Ctor, id: string) => Promise<unknown>): Promise<unknown> {
  const records: unknown[] = [];
  for (const [name, Impl] of IMPLEMENTATIONS) {
    const id = `${name}-${ids++}`;
    records.push(await scenario(Impl, id));
  }
  assert.deepEqual(records[1], records[0], 'wireroom/web observes what undici does');
  return records[1];
}

describe('wireroom/web WebSocket, side by side with undici', () => {
  it('open, a text echo (MessageEvent with origin), close(1000, reason): events and readyState', T, async () => {
    const record = await sideBySide(async (Impl, id) => {
      const ws = make(Impl, `${base}/echo?id=${id}`);
      const states = [ws.readyState];
      const trace = observe(ws);
      await within(once(ws, 'open') as Promise<unknown>, 5000, 'open');
      ws.send('hello');
      await until(() => trace.length === 2, 5000, 'echo');
      ws.close(1000, 'done');
      states.push(ws.readyState);
      await closedEvent(ws);
      await until(() => trace.length === 3, 2000, 'close event');
      await until(() => closes.has(id), 2000, 'the server to see the close');
      return { trace: trace.map((t) => t.replace(base, 'BASE')), states, server: closes.get(id), url: ws.url.replace(base, 'BASE').replace(id, 'ID'), protocol: ws.protocol, binaryType: ws.binaryType };
    }) as { trace: string[]; states: number[] };
    assert.deepEqual(record.trace, ['open:Event:1', 'message:MessageEvent:String:hello:BASE', 'close:CloseEvent:1000:done:true:3']);
    assert.deepEqual(record.states, [0, 2]);
  });

  it('binaryType: Blob by default, ArrayBuffer when asked, other values ignored', T, async () => {
    const record = await sideBySide(async (Impl, id) => {
      const blobs = make(Impl, `${base}/binary?id=${id}`);
      const first = observe(blobs);
      await until(() => first.length === 3, 5000, 'two messages');
      blobs.close();
      const buffers = make(Impl, `${base}/binary?id=${id}b`);
      buffers.binaryType = 'arraybuffer';
      const second = observe(buffers);
      await until(() => second.length === 3, 5000, 'two messages');
      buffers.close();
      await closedEvent(blobs);
      await closedEvent(buffers);
      return { first: first.slice(1, 3).map((t) => t.replace(base, 'BASE')), second: second.slice(1, 3).map((t) => t.replace(base, 'BASE')), binaryType: buffers.binaryType };
    }) as { first: string[]; second: string[] };
    assert.deepEqual(record.first, ['message:MessageEvent:Blob:3:BASE', 'message:MessageEvent:String:text:BASE']);
    assert.deepEqual(record.second, ['message:MessageEvent:ArrayBuffer:3:010203:BASE', 'message:MessageEvent:String:text:BASE']);
  });

  it('sends Blob, string, ArrayBuffer and views in call order', T, async () => {
    const record = await sideBySide(async (Impl, id) => {
      const ws = make(Impl, `${base}/record?id=${id}`);
      await within(once(ws, 'open') as Promise<unknown>, 5000, 'open');
      const bytes = new Uint8Array([9, 8, 7, 6, 5]);
      ws.send(new Blob([new Uint8Array([1, 2])]));
      ws.send('after a blob');
      ws.send(new Uint8Array([3, 4]).buffer);
      ws.send(bytes.subarray(1, 3));
      ws.send(new Blob(['blob text']));
      ws.send(new DataView(bytes.buffer, 3, 2));
      await until(() => (received.get(id)?.length ?? 0) === 6, 5000, 'six messages');
      ws.close();
      await closedEvent(ws);
      return received.get(id);
    });
    assert.deepEqual(record, [[true, '0102'], [false, 'after a blob'], [true, '0304'], [true, '0807'], [true, Buffer.from('blob text').toString('hex')], [true, '0605']]);
  });

  it('URL and subprotocol validation throw SyntaxError DOMExceptions', T, async () => {
    const record = await sideBySide(async (Impl) => {
      const outcomes: string[] = [];
      const made: any[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
      const attempt = (url: string, protocols?: string | string[]): void => {
        outcomes.push(thrown(() => made.push(make(Impl, url, protocols))));
      };
      attempt('ftp://127.0.0.1/');
      attempt('not a url');
      attempt(`${base}/#fragment`);
      attempt(`${base}/#`);
      attempt(`${base}/`, ['a', 'a']);
      attempt(`${base}/`, ['a b']);
      attempt(`${base}/`, ['']);
      attempt(`${base}/`, 'chat');
      attempt(base.replace('ws:', 'http:') + '/echo');
      const urls = made.map((ws) => ws.url.replace(base, 'BASE'));
      for (const ws of made) ws.close();
      for (const ws of made) await closedEvent(ws);
      return { outcomes, urls };
    }) as { outcomes: string[]; urls: string[] };
    assert.deepEqual(record.outcomes.slice(0, 7), Array(7).fill('DOMException:SyntaxError'));
    assert.deepEqual(record.outcomes.slice(7), ['ok', 'ok']);
    assert.deepEqual(record.urls, ['BASE/', 'BASE/echo']);
  });

  it('close() code and reason rules; close(undefined, reason) sends 1000; send() while CONNECTING throws', T, async () => {
    const record = await sideBySide(async (Impl, id) => {
      const ws = make(Impl, `${base}/echo?id=${id}`);
      const early = thrown(() => ws.send('too early'));
      await within(once(ws, 'open') as Promise<unknown>, 5000, 'open');
      const codes = [1001, 1002, 1003, 1011, 2999, 5000, 1005, 1.5].map((code) => thrown(() => ws.close(code)));
      const longReason = thrown(() => ws.close(1000, 'é'.repeat(62)));
      ws.close(undefined, 'just a reason');
      await closedEvent(ws);
      await until(() => closes.has(id), 2000, 'the server to see the close');
      return { early, codes, longReason, server: closes.get(id) };
    }) as { early: string; codes: string[]; longReason: string; server: [number, string] };
    assert.equal(record.early, 'DOMException:InvalidStateError');
    assert.ok(record.codes.every((c) => c === 'DOMException:InvalidAccessError'), String(record.codes));
    assert.equal(record.longReason, 'DOMException:SyntaxError');
    assert.deepEqual(record.server, [1000, 'just a reason']);
  });

  it('a refused connection: error (ErrorEvent), then close 1006, not clean', T, async () => {
    const record = await sideBySide(async (Impl) => {
      const ws = new Impl(refusedUrl);
      const trace = observe(ws);
      await until(() => trace.length === 2, 5000, 'error and close');
      return trace;
    });
    assert.deepEqual(record, ['error:ErrorEvent:3', 'close:CloseEvent:1006::false:3']);
  });

  it('close() while CONNECTING: CLOSING, then error and close 1006', T, async () => {
    const record = await sideBySide(async (Impl, id) => {
      const ws = make(Impl, `${base}/echo?id=${id}`);
      const trace = observe(ws);
      ws.close();
      const state = ws.readyState;
      await until(() => trace.length === 2, 5000, 'error and close');
      return { state, trace };
    });
    assert.deepEqual(record, { state: 2, trace: ['error:ErrorEvent:3', 'close:CloseEvent:1006::false:3'] });
  });

  it('the server closes (4001, bye): a clean close event, no error', T, async () => {
    const record = await sideBySide(async (Impl, id) => {
      const ws = make(Impl, `${base}/close?id=${id}`);
      const trace = observe(ws);
      await until(() => trace.length === 2, 5000, 'open and close');
      return trace;
    });
    assert.deepEqual(record, ['open:Event:1', 'close:CloseEvent:4001:bye:true:3']);
  });

  it('a 4 MiB message is received (no 1 MiB limit as on our Node API)', T, async () => {
    const record = await sideBySide(async (Impl, id) => {
      const ws = make(Impl, `${base}/big?id=${id}`);
      ws.binaryType = 'arraybuffer';
      const trace = observe(ws);
      await until(() => trace.length === 2, 10_000, 'the message');
      ws.close();
      await closedEvent(ws);
      return trace.slice(0, 2).map((t) => t.replace(base, 'BASE'));
    });
    assert.deepEqual(record, ['open:Event:1', `message:MessageEvent:ArrayBuffer:${4 * 1024 * 1024}:07070707:BASE`]);
  });

  it('listeners: handleEvent objects, onmessage, onmessage = null removes it', T, async () => {
    const record = await sideBySide(async (Impl, id) => {
      const ws = make(Impl, `${base}/echo?id=${id}`);
      const calls: string[] = [];
      ws.addEventListener('message', { handleEvent: (e: MessageEvent) => calls.push(`object:${e.data}`) });
      ws.onmessage = (e: MessageEvent) => calls.push(`handler:${e.data}`);
      ws.addEventListener('message', (e: MessageEvent) => calls.push(`function:${e.data}`));
      await within(once(ws, 'open') as Promise<unknown>, 5000, 'open');
      ws.send('one');
      await until(() => calls.length === 3, 5000, 'three calls');
      ws.onmessage = null;
      ws.send('two');
      await until(() => calls.length === 5, 5000, 'two calls');
      const handler = ws.onmessage;
      ws.close();
      await closedEvent(ws);
      return { calls, handler };
    });
    assert.deepEqual(record, { calls: ['object:one', 'handler:one', 'function:one', 'object:two', 'function:two'], handler: null });
  });
});

// Where undici departs from the standards, wireroom/web follows them (docs/web-websocket.md lists these).
describe('wireroom/web where undici differs from the standards', () => {
  it('binaryType: an invalid value is ignored (WebIDL enum; undici resets it to blob)', () => {
    const ws = new WireroomWebSocket(refusedUrl);
    ws.onerror = () => {};
    ws.binaryType = 'arraybuffer';
    (ws as { binaryType: string }).binaryType = 'nodebuffer';
    assert.equal(ws.binaryType, 'arraybuffer');
    ws.close();
  });

  it('onmessage set again keeps its place among the listeners (HTML event handlers; undici moves it last)', T, async () => {
    const ws = make(WireroomWebSocket as unknown as Ctor, `${base}/echo?id=order`);
    const calls: string[] = [];
    ws.onmessage = () => calls.push('first handler');
    ws.addEventListener('message', () => calls.push('listener'));
    ws.onmessage = () => calls.push('second handler');
    await within(once(ws, 'open') as Promise<unknown>, 5000, 'open');
    ws.send('x');
    await until(() => calls.length === 2, 5000, 'two calls');
    assert.deepEqual(calls, ['second handler', 'listener']);
    ws.close();
    await closedEvent(ws);
  });

  it('send() after close() adds the bytes to bufferedAmount and sends nothing (undici: unchanged)', T, async () => {
    const ws = make(WireroomWebSocket as unknown as Ctor, `${base}/echo?id=after-close`);
    await within(once(ws, 'open') as Promise<unknown>, 5000, 'open');
    ws.close();
    const before = ws.bufferedAmount;
    ws.send('abc');
    ws.send(new Uint8Array(10));
    assert.equal(ws.bufferedAmount - before, 13);
    await closedEvent(ws);
    assert.deepEqual(received.get('after-close'), []);
  });
});
