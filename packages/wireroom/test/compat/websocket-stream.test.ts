// WebSocketStream (wireroom/web), over real loopback, against our server and a `ws` server. The functional cases
// run side by side with undici's WebSocketStream where undici's behaves (its differences are asserted below and
// listed in docs/web-websocket.md); each case also checks its own expectations. The backpressure cases show that a
// slow reader stops the sender's writes with bounded memory, in both directions, with both servers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { WebSocketStream as UndiciWebSocketStream, WebSocketError as UndiciWebSocketError } from 'undici';
import { WebSocketServer as WsServer, type WebSocket as WsPeer } from 'ws';
import { WebSocketStream, WebSocketError } from '../../src/compat/web.js';
import * as root from '../../src/index.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import type { WebSocket as OurPeer } from '../../src/connection/websocket.js';
import { delay, HOST, until, within } from '../helpers/loopback.js';

const T = { timeout: 60_000 };
type Impl = { name: string; Stream: typeof WebSocketStream; Error: typeof WebSocketError };
const OURS: Impl = { name: 'wireroom', Stream: WebSocketStream, Error: WebSocketError };
const UNDICI: Impl = { name: 'undici', Stream: UndiciWebSocketStream as unknown as typeof WebSocketStream, Error: UndiciWebSocketError as unknown as typeof WebSocketError };

process.removeAllListeners('warning'); // undici's "WebSocketStream is experimental" warning
process.on('warning', (warning) => {
  if ((warning as { code?: string }).code !== 'UNDICI-WSS') console.warn(warning);
});

/** What each server saw, by connection id (`?id=`): the close code and reason it received. */
const serverCloses = new Map<string, string>();
interface Peers {
  kind: 'wireroom' | 'ws';
  base: string;
  /** Connections by id. */
  peers: Map<string, OurPeer | WsPeer>;
}
let ours: WebSocketServer;
let theirs: WsServer;
let servers: Peers[] = [];
let stalled: NetServer;
let stalledUrl = '';
let refusedUrl = '';
let notFound: HttpServer;
let notFoundUrl = '';
const stalledSockets = new Set<Socket>();

function onConnection(kind: 'wireroom' | 'ws', peers: Map<string, OurPeer | WsPeer>, ws: OurPeer | WsPeer, path: string): void {
  const url = new URL(path, 'ws://x');
  const id = url.searchParams.get('id') ?? '';
  peers.set(id, ws);
  const peer = ws as unknown as { send(data: unknown, options: { binary: boolean }): void; close(code?: number, reason?: string): void; on(event: string, fn: (...args: any[]) => void): void }; // eslint-disable-line @typescript-eslint/no-explicit-any
  peer.on('message', (data: Buffer, isBinary: boolean) => {
    if (url.pathname === '/echo') peer.send(data, { binary: isBinary });
  });
  peer.on('close', (code: number, reason: Buffer | string) => serverCloses.set(id, `${code}:${reason.toString()}`));
  if (url.pathname === '/greet') peer.send('hello', { binary: false });
  else if (url.pathname === '/close') peer.close(4001, 'bye');
  else if (url.pathname === '/terminate') (ws as { terminate(): void }).terminate();
  else if (url.pathname === '/paused') (ws as { pause(): void }).pause();
}

before(async () => {
  const ourPeers = new Map<string, OurPeer | WsPeer>();
  ours = new WebSocketServer({ host: HOST, port: 0, heartbeatInterval: 0, handleProtocols: (protocols: Set<string>) => protocols.values().next().value ?? false });
  await once(ours, 'listening');
  ours.on('connection', (ws: OurPeer) => onConnection('wireroom', ourPeers, ws, ws.url));
  const wsPeers = new Map<string, OurPeer | WsPeer>();
  theirs = new WsServer({ host: HOST, port: 0, handleProtocols: (protocols) => protocols.values().next().value ?? false });
  await once(theirs, 'listening');
  theirs.on('connection', (ws: WsPeer, request) => onConnection('ws', wsPeers, ws, request.url!));
  servers = [
    { kind: 'wireroom', base: `ws://${HOST}:${ours.address()!.port}`, peers: ourPeers },
    { kind: 'ws', base: `ws://${HOST}:${(theirs.address() as { port: number }).port}`, peers: wsPeers },
  ];
  // A server that accepts TCP and never answers the handshake.
  stalled = createNetServer((socket) => {
    stalledSockets.add(socket);
    socket.on('error', () => {});
  });
  stalled.listen(0, HOST);
  await once(stalled, 'listening');
  stalledUrl = `ws://${HOST}:${(stalled.address() as { port: number }).port}/`;
  notFound = createHttpServer((_, response) => response.writeHead(404).end('not here'));
  notFound.listen(0, HOST);
  await once(notFound, 'listening');
  notFoundUrl = `ws://${HOST}:${(notFound.address() as { port: number }).port}/`;
  const closed = createNetServer();
  closed.listen(0, HOST);
  await once(closed, 'listening');
  refusedUrl = `ws://${HOST}:${(closed.address() as { port: number }).port}/`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
});

after(async () => {
  for (const s of stalledSockets) s.destroy();
  stalled.close();
  notFound.close();
  for (const c of theirs.clients) c.terminate();
  theirs.close();
  await ours.close({ timeout: 200 });
});

let ids = 0;
function describeError(error: unknown): string {
  const e = error as { constructor: { name: string }; name: string; closeCode?: unknown; reason?: unknown };
  const extra = e.constructor.name === 'WebSocketError' ? `:${String(e.closeCode)}:${String(e.reason)}` : '';
  return `${e.constructor.name}:${e.name}${extra}`;
}
function outcome(promise: Promise<unknown>): Promise<string> {
  return within(promise.then((value) => `resolved:${JSON.stringify(value)}`, (error) => `rejected:${describeError(error)}`), 10_000, 'a promise of the stream');
}
function thrown(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return describeError(error);
  }
}

/** Runs `scenario` with undici's and our WebSocketStream and asserts both observe the same; returns ours. */
async function sideBySide(scenario: (impl: Impl, id: string) => Promise<unknown>, impls: Impl[] = [UNDICI, OURS]): Promise<unknown> {
  const records: unknown[] = [];
  for (const impl of impls) records.push(await scenario(impl, `${impl.name}-${ids++}`));
  if (records.length === 2) assert.deepEqual(records[1], records[0], 'wireroom observes what undici does');
  return records.at(-1);
}

describe('WebSocketStream, side by side with undici', () => {
  for (const server of [{ kind: 'wireroom' }, { kind: 'ws' }] as const) {
    const base = (): string => servers.find((s) => s.kind === server.kind)!.base;
    /** The reason in the server's close reply: ws echoes the client's, ours sends the code alone. */
    const echoed = (reason: string): string => (server.kind === 'ws' ? reason : '');

    it(`${server.kind} server: opened gives streams, protocol and extensions; text and binary echo; close({ closeCode, reason })`, T, async () => {
      const record = await sideBySide(async ({ Stream }, id) => {
        const wss = new Stream(`${base()}/echo?id=${id}`, { protocols: ['alpha', 'beta'] });
        const { readable, writable, protocol, extensions } = await within(wss.opened, 10_000, 'opened');
        const types = [readable instanceof ReadableStream, writable instanceof WritableStream, typeof extensions];
        const writer = writable.getWriter();
        const reader = readable.getReader();
        await writer.write('héllo');
        await writer.write(new Uint8Array([1, 2, 3]));
        await writer.write(new Uint16Array([0x0201]).buffer);
        const got: unknown[] = [];
        for (let i = 0; i < 3; i++) {
          const { value } = await within(reader.read(), 10_000, 'an echo');
          got.push(typeof value === 'string' ? value : `${value!.constructor.name}:${[...value!].join(',')}`);
        }
        wss.close({ closeCode: 3456, reason: 'pizza' });
        const closed = await outcome(wss.closed);
        const afterClose = [await outcome(reader.read()), await outcome(writer.write('late'))];
        await until(() => serverCloses.has(id), 10_000, 'the server to see the close');
        return { url: wss.url === `${base()}/echo?id=${id}`, types, protocol, extensions, got, closed, afterClose, server: serverCloses.get(id) };
      });
      assert.deepEqual(record, {
        url: true, types: [true, true, 'string'], protocol: 'alpha', extensions: '',
        got: ['héllo', 'Uint8Array:1,2,3', 'Uint8Array:1,2'],
        closed: `resolved:{"closeCode":3456,"reason":"${echoed('pizza')}"}`,
        afterClose: ['resolved:{"done":true}', 'rejected:DOMException:InvalidStateError'],
        server: '3456:pizza',
      });
    });

    it(`${server.kind} server: close codes and reasons: none (1005), a reason alone (1000), the writable closed, aborted with a WebSocketError; the server's close`, T, async () => {
      const record = await sideBySide(async ({ Stream, Error: WsError }, id) => {
        const results: string[] = [];
        const cases: Array<[string, (wss: WebSocketStream, info: Awaited<WebSocketStream['opened']>) => unknown]> = [
          ['none', (wss) => wss.close()],
          ['empty', (wss) => wss.close({})],
          ['reason', (wss) => wss.close({ reason: 'non-empty' })],
          ['writer.close', (_, info) => info.writable.getWriter().close()],
          ['abort', (_, info) => info.writable.abort()],
          ['abort-plain-object', (_, info) => info.writable.abort({ closeCode: 3333, reason: 'obsolete' })],
          ['abort-error', (_, info) => info.writable.abort(new WsError('', { closeCode: 3333, reason: 'set' }))],
          ['abort-error-reason', (_, info) => info.writable.abort(new WsError('', { reason: 'specified' }))],
        ];
        for (const [name, act] of cases) {
          const key = `${id}-${name}`;
          const wss = new Stream(`${base()}/echo?id=${key}`);
          const info = await within(wss.opened, 10_000, 'opened');
          void act(wss, info);
          results.push(`${name}:${await outcome(wss.closed)}`);
          await until(() => serverCloses.has(key), 10_000, 'the server to see the close');
          results.push(`server:${serverCloses.get(key)}`);
        }
        const byServer = new Stream(`${base()}/close?id=${id}-server`);
        const { readable } = await within(byServer.opened, 10_000, 'opened');
        results.push(`server-close:${await outcome(byServer.closed)}`, await outcome(readable.getReader().read()));
        return results;
      });
      assert.deepEqual(record, [
        'none:resolved:{"closeCode":1005,"reason":""}', 'server:1005:',
        'empty:resolved:{"closeCode":1005,"reason":""}', 'server:1005:',
        `reason:resolved:{"closeCode":1000,"reason":"${echoed('non-empty')}"}`, 'server:1000:non-empty',
        'writer.close:resolved:{"closeCode":1005,"reason":""}', 'server:1005:',
        'abort:resolved:{"closeCode":1005,"reason":""}', 'server:1005:',
        'abort-plain-object:resolved:{"closeCode":1005,"reason":""}', 'server:1005:',
        `abort-error:resolved:{"closeCode":3333,"reason":"${echoed('set')}"}`, 'server:3333:set',
        `abort-error-reason:resolved:{"closeCode":1000,"reason":"${echoed('specified')}"}`, 'server:1000:specified',
        'server-close:resolved:{"closeCode":4001,"reason":"bye"}', 'resolved:{"done":true}',
      ]);
    });

    it(`${server.kind} server: a connection lost without a closing handshake rejects closed and errors both streams with WebSocketError 1006`, T, async () => {
      const record = await sideBySide(async ({ Stream }, id) => {
        const wss = new Stream(`${base()}/terminate?id=${id}`);
        const { readable, writable } = await within(wss.opened, 10_000, 'opened');
        const closed = await outcome(wss.closed);
        return [closed, await outcome(readable.getReader().read()), await outcome(writable.getWriter().write('x'))];
      });
      assert.deepEqual(record, ['rejected:WebSocketError:WebSocketError:1006:', 'rejected:WebSocketError:WebSocketError:1006:', 'rejected:WebSocketError:WebSocketError:1006:']);
    });
  }

  it('failures before open: refused, 404, close() during the handshake reject both promises with WebSocketError', T, async () => {
    const record = await sideBySide(async ({ Stream }) => {
      const refused = new Stream(refusedUrl);
      const missing = new Stream(notFoundUrl, { protocols: [] });
      const cancelled = new Stream(`${servers[0]!.base}/echo`);
      cancelled.close();
      return Promise.all([refused, missing, cancelled].flatMap((wss) => [outcome(wss.opened), outcome(wss.closed)]));
    });
    assert.deepEqual(record, Array(3).fill(['rejected:WebSocketError:WebSocketError:null:', 'rejected:WebSocketError:WebSocketError:1006:']).flat());
  });

  it('the signal: aborted before construction rejects both with its reason; after open it does nothing', T, async () => {
    const record = await sideBySide(async ({ Stream }, id) => {
      const early = new AbortController();
      early.abort();
      const before = new Stream(`${servers[0]!.base}/echo`, { signal: early.signal });
      const results = [await outcome(before.opened), await outcome(before.closed)];
      const late = new AbortController();
      const open = new Stream(`${servers[0]!.base}/echo?id=${id}`, { signal: late.signal });
      const { readable, writable } = await within(open.opened, 10_000, 'opened');
      late.abort();
      await writable.getWriter().write('still open');
      const { value } = await within(readable.getReader().read(), 10_000, 'the echo');
      results.push(String(value));
      open.close();
      await open.closed;
      return results;
    });
    assert.deepEqual(record, ['rejected:DOMException:AbortError', 'rejected:DOMException:AbortError', 'still open']);
  });

  it('argument rules: constructor, close(), WebSocketError, write() of what cannot be sent', T, async () => {
    const record = await sideBySide(async ({ Stream, Error: WsError }) => {
      const base = servers[0]!.base;
      const ctor = [
        thrown(() => new (Stream as unknown as new () => unknown)()),
        thrown(() => new Stream('invalid:')),
        thrown(() => new Stream('ws://x/#fragment')),
        thrown(() => new Stream(`${base}/`, true as unknown as undefined)),
        thrown(() => new Stream(`${base}/`, { protocols: 'hi' as unknown as string[] })),
        thrown(() => new Stream(`${base}/`, { protocols: ['a', 'A'] })),
        thrown(() => new Stream(`${base}/`, { protocols: ['a b'] })),
      ];
      const errors = [
        thrown(() => new WsError('', { closeCode: 1001 })),
        thrown(() => new WsError('', { reason: 'x'.repeat(124) })),
        (() => { const e = new WsError('m', { closeCode: 4000, reason: 'r' }); return `${e.name}:${e.message}:${e.closeCode}:${e.reason}:${e instanceof DOMException}`; })(),
        (() => { const e = new WsError(); return `${e.closeCode}:${e.reason}`; })(),
      ];
      const wss = new Stream(`${base}/echo`);
      const { writable } = await within(wss.opened, 10_000, 'opened');
      const close = [
        thrown(() => wss.close(true as unknown as undefined)),
        thrown(() => wss.close({ reason: '.'.repeat(124) })),
        ...[999, 1001, 2999, 5000].map((closeCode) => thrown(() => wss.close({ closeCode }))),
      ];
      const cannotStringify = { toString() { return this; } };
      const writes = [await outcome(writable.getWriter().write(cannotStringify as unknown as string))];
      const again = new Stream(`${base}/echo`);
      const second = await within(again.opened, 10_000, 'opened');
      writes.push(await outcome(second.writable.getWriter().write(new (ArrayBuffer as unknown as new (length: number, options: object) => ArrayBuffer)(8, { maxByteLength: 16 }))));
      wss.close();
      again.close();
      await Promise.allSettled([wss.closed, again.closed]);
      return { ctor, errors, close, writes };
    });
    assert.deepEqual(record, {
      ctor: ['TypeError:TypeError', 'DOMException:SyntaxError', 'DOMException:SyntaxError', 'TypeError:TypeError', 'TypeError:TypeError', 'DOMException:SyntaxError', 'DOMException:SyntaxError'],
      errors: ['DOMException:InvalidAccessError', 'DOMException:SyntaxError', 'WebSocketError:m:4000:r:true', 'null:'],
      close: ['TypeError:TypeError', 'DOMException:SyntaxError', ...Array(4).fill('DOMException:InvalidAccessError')],
      writes: ['rejected:TypeError:TypeError', 'rejected:TypeError:TypeError'],
    });
  });
});

describe('WebSocketStream where undici differs', () => {
  it('cancelling the readable closes cleanly (undici throws "Controller is already closed" from a socket event, so it is left out)', T, async () => {
    const record = await sideBySide(async ({ Stream, Error: WsError }, id) => {
      const results: string[] = [];
      for (const [name, reason] of [['plain', undefined], ['error', new WsError('', { closeCode: 3456, reason: 'set' })]] as const) {
        const key = `${id}-${name}`;
        const wss = new Stream(`${servers[0]!.base}/echo?id=${key}`);
        const { readable } = await within(wss.opened, 10_000, 'opened');
        await readable.cancel(reason);
        results.push(await outcome(wss.closed));
        await until(() => serverCloses.has(key), 10_000, 'the server to see the close');
        results.push(serverCloses.get(key)!);
      }
      return results;
    }, [OURS]);
    assert.deepEqual(record, ['resolved:{"closeCode":1005,"reason":""}', '1005:', 'resolved:{"closeCode":3456,"reason":""}', '3456:set']);
  });

  it('the signal aborted during the handshake rejects both promises with its reason (undici: a WebSocketError)', T, async () => {
    const record = await sideBySide(async ({ Stream }) => {
      const results: string[] = [];
      const during = new AbortController();
      const connected = stalledSockets.size;
      const pending = new Stream(stalledUrl, { signal: during.signal });
      await until(() => stalledSockets.size > connected, 10_000, 'the TCP connection');
      during.abort(new Error('changed my mind'));
      results.push(await outcome(pending.opened), await outcome(pending.closed));
      return results;
    }, [OURS]);
    assert.deepEqual(record, ['rejected:Error:Error', 'rejected:Error:Error']);
  });

  it('close({ closeCode }) outside an unsigned short is a TypeError (WebIDL [EnforceRange]; undici accepts 70000)', T, async () => {
    const wss = new WebSocketStream(`${servers[0]!.base}/echo`);
    await within(wss.opened, 10_000, 'opened');
    for (const closeCode of [70_000, -1, Infinity, NaN]) assert.throws(() => wss.close({ closeCode }), TypeError);
    wss.close({ closeCode: 4000.7 }); // truncated, as WebIDL converts
    assert.deepEqual(await within(wss.closed, 10_000, 'closed'), { closeCode: 4000, reason: '' });
  });

  it('is exported by wireroom/web and wireroom, and opened/closed never crash the process when nobody awaits them', T, async () => {
    assert.equal(root.WebSocketStream, WebSocketStream);
    assert.equal(root.WebSocketError, WebSocketError);
    // Neither promise is awaited: without the handled mark, Node would end the test process here.
    new WebSocketStream(refusedUrl); // eslint-disable-line no-new
    const controller = new AbortController();
    controller.abort();
    new WebSocketStream(refusedUrl, { signal: controller.signal }); // eslint-disable-line no-new
    await delay(200);
    assert.equal(Object.prototype.toString.call(new WebSocketError()), '[object WebSocketError]');
  });
});

// ------------------------------------------------------------------------------------------- backpressure

const CHUNK = 64 * 1024;
const MESSAGES = 2560; // 160 MiB in all: far more than every buffer on the way (kernel buffers included) can hold
const TOTAL = CHUNK * MESSAGES;
/** More than the kernel (up to 32 MiB receive + 4 MiB send buffers here) and our buffers hold; far less than TOTAL. */
const BOUND = 64 * 1024 * 1024;

/** Samples `progress()` until it stops moving (two equal samples 300 ms apart), within 30 s. */
async function settled(progress: () => number): Promise<number> {
  let last = -1;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const now = progress();
    if (now === last) return now;
    if (Date.now() > deadline) throw new Error('the sender never stopped');
    last = now;
    await delay(300);
  }
}

describe('WebSocketStream backpressure: a slow reader stops the sender without memory growth', () => {
  for (const kind of ['wireroom', 'ws'] as const) {
    it(`the stream reads slowly: the ${kind} server's sends stop, its buffered bytes stay bounded, then everything arrives in order`, T, async (t) => {
      const server = servers.find((s) => s.kind === kind)!;
      const id = `flood-${kind}-${ids++}`;
      const wss = new WebSocketStream(`${server.base}/idle?id=${id}`);
      const { readable } = await within(wss.opened, 10_000, 'opened');
      await until(() => server.peers.has(id), 10_000, 'the server connection');
      const peer = server.peers.get(id)!;
      let sent = 0;
      let maxBuffered = 0;
      const sender = (async () => {
        for (let i = 0; i < MESSAGES; i++) {
          const payload = Buffer.alloc(CHUNK); // a fresh buffer: senders keep a reference until it is written
          payload.writeUInt32BE(i, 0);
          if (kind === 'wireroom') {
            const ws = peer as OurPeer;
            const below = ws.send(payload);
            sent += CHUNK;
            maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
            if (!below) await once(ws, 'drain');
          } else {
            const ws = peer as WsPeer;
            const written = new Promise((resolve) => ws.send(payload, { binary: true }, resolve));
            sent += CHUNK;
            maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
            if (ws.bufferedAmount >= 1024 * 1024) await written; // ws's way: wait for the socket to take it
          }
        }
      })();
      const stopped = await settled(() => sent);
      t.diagnostic(`${kind} server stopped after ${stopped} of ${TOTAL} bytes; at most ${maxBuffered} bytes buffered in the server`);
      assert.ok(stopped < BOUND, `the server sent ${stopped} bytes to a reader that reads nothing (bound ${BOUND})`);
      assert.ok(maxBuffered <= 2 * 1024 * 1024, `the server buffered at most ${maxBuffered} bytes`);
      // Now read everything: nothing was lost or reordered while the connection was paused.
      const reader = readable.getReader();
      let received = 0;
      for (let i = 0; i < MESSAGES; i++) {
        const { value } = await within(reader.read(), 20_000, `message ${i}`);
        assert.ok(value instanceof Uint8Array && value.byteLength === CHUNK);
        assert.equal(Buffer.from(value.buffer, value.byteOffset, 4).readUInt32BE(0), i);
        received += value.byteLength;
      }
      await within(sender, 10_000, 'the sender to finish');
      assert.equal(received, TOTAL);
      wss.close();
      await within(wss.closed, 10_000, 'closed');
    });

    it(`the ${kind} server reads nothing: the stream's writes stop resolving, with bounded pending bytes, then everything arrives`, T, async (t) => {
      const server = servers.find((s) => s.kind === kind)!;
      const id = `slow-${kind}-${ids++}`;
      const wss = new WebSocketStream(`${server.base}/paused?id=${id}`);
      const { writable } = await within(wss.opened, 10_000, 'opened');
      await until(() => server.peers.has(id), 10_000, 'the server connection');
      const peer = server.peers.get(id)! as OurPeer & WsPeer;
      let receivedMessages = 0;
      let receivedBytes = 0;
      let inOrder = true;
      peer.on('message', (data: Buffer) => {
        if (data.readUInt32BE(0) !== receivedMessages) inOrder = false;
        receivedMessages++;
        receivedBytes += data.length;
      });
      const writer = writable.getWriter();
      let accepted = 0;
      const writing = (async () => {
        for (let i = 0; i < MESSAGES; i++) {
          const chunk = new Uint8Array(CHUNK);
          new DataView(chunk.buffer).setUint32(0, i);
          await writer.write(chunk);
          accepted += CHUNK;
        }
      })();
      const stopped = await settled(() => accepted);
      t.diagnostic(`the stream accepted ${stopped} of ${TOTAL} bytes for a ${kind} server that reads nothing`);
      assert.ok(stopped < BOUND, `the stream accepted ${stopped} bytes for a server that reads nothing (bound ${BOUND})`);
      assert.equal(receivedMessages, 0, 'the paused server holds its input in the kernel');
      peer.resume();
      await within(writing, 60_000, 'every write to resolve');
      await until(() => receivedMessages === MESSAGES, 30_000, 'the server to receive everything');
      assert.equal(receivedBytes, TOTAL);
      assert.ok(inOrder, 'messages arrived in order');
      await writer.close();
      assert.deepEqual(await within(wss.closed, 10_000, 'closed'), { closeCode: 1005, reason: '' });
    });
  }

  it('close() while the reader has left messages unread (the connection paused): the closing handshake still completes cleanly', T, async () => {
    const server = servers[0]!;
    const id = `unread-${ids++}`;
    const wss = new WebSocketStream(`${server.base}/idle?id=${id}`);
    await within(wss.opened, 10_000, 'opened');
    await until(() => server.peers.has(id), 10_000, 'the server connection');
    const peer = server.peers.get(id)! as OurPeer;
    for (let i = 0; i < 256; i++) peer.send(Buffer.alloc(1024)); // 4 times the readable's high-water mark
    await until(() => peer.bufferedAmount === 0, 10_000, 'the server to hand everything to the kernel');
    await delay(200); // the stream fills its queue and pauses the connection
    wss.close({ closeCode: 4000, reason: 'enough' });
    assert.deepEqual(await within(wss.closed, 10_000, 'closed'), { closeCode: 4000, reason: '' });
  });

  it('a write waiting for the output to drain rejects with InvalidStateError when the connection closes, and the writable errors with it', T, async () => {
    const server = servers[0]!;
    const id = `pending-${ids++}`;
    const wss = new WebSocketStream(`${server.base}/paused?id=${id}`);
    const { writable } = await within(wss.opened, 10_000, 'opened');
    await until(() => server.peers.has(id), 10_000, 'the server connection');
    const writer = writable.getWriter();
    const big = writer.write(new Uint8Array(64 * 1024 * 1024)); // larger than every buffer: waits for 'drain'
    const bigOutcome = outcome(big);
    await delay(100);
    (server.peers.get(id) as OurPeer).terminate();
    assert.equal(await bigOutcome, 'rejected:DOMException:InvalidStateError');
    const error = await big.catch((e: unknown) => e);
    await assert.rejects(writer.write('word'), (e: unknown) => e === error);
    assert.equal(await outcome(wss.closed), 'rejected:WebSocketError:WebSocketError:1006:');
  });
});
