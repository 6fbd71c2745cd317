// web-platform-tests `websockets/stream/` (WebSocketStream: constructor, close, write, abort) re-expressed for Node,
// against WPT's handlers rebuilt on loopback: an echo server reflecting messages and the close code and reason
// (a `ws` server), and raw handlers for what a well-behaved server would not do (a silent handshake, a delayed or
// missing close reply). Cases run on undici's WebSocketStream and ours; where undici departs from the tests, ours
// runs alone and the test says so (docs/web-websocket.md lists them). The timing-based backpressure.any.js is
// covered without timing by websocket-stream.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { WebSocketStream as UndiciWebSocketStream, WebSocketError as UndiciWebSocketError } from 'undici';
import { WebSocketServer as WsServer } from 'ws';
import { WebSocketStream, WebSocketError } from '../../src/compat/web.js';
import { acceptFor, HOST, until, within } from '../helpers/loopback.js';

const T = { timeout: 30_000 };
type Impl = { name: string; Stream: typeof WebSocketStream; Error: typeof WebSocketError };
const OURS: Impl = { name: 'wireroom', Stream: WebSocketStream, Error: WebSocketError };
const UNDICI: Impl = { name: 'undici', Stream: UndiciWebSocketStream as unknown as typeof WebSocketStream, Error: UndiciWebSocketError as unknown as typeof WebSocketError };
const BOTH = [UNDICI, OURS];

process.removeAllListeners('warning'); // undici's "WebSocketStream is experimental" warning
process.on('warning', (warning) => {
  if ((warning as { code?: string }).code !== 'UNDICI-WSS') console.warn(warning);
});

let echo: WsServer;
let BASEURL = '';
let ECHOURL = '';
let raw: NetServer;
let RAWURL = '';
let notFound: HttpServer;
let NOTFOUND = '';
const rawSockets = new Set<Socket>();
/** Raw handler events, in order (delayed-passive-close). */
const rawLog: string[] = [];

before(async () => {
  echo = new WsServer({ host: HOST, port: 0, handleProtocols: (protocols) => protocols.values().next().value ?? false });
  await once(echo, 'listening');
  BASEURL = `ws://${HOST}:${(echo.address() as { port: number }).port}`;
  ECHOURL = `${BASEURL}/echo`;
  echo.on('connection', (ws, request) => {
    if (request.url === '/protocol_array') ws.send(ws.protocol);
    ws.on('message', (data, isBinary) => {
      if (request.url === '/echo_exit' && data.toString() === 'Goodbye') {
        ws.close(1000); // and then the TCP connection goes, without waiting for the reply
        setImmediate(() => ws.terminate());
      } else ws.send(data, { binary: isBinary });
    });
  });
  // WPT's handshake_sleep_2, delayed-passive-close and passive-close-abort, by path.
  raw = createNetServer((socket) => {
    rawSockets.add(socket);
    socket.on('error', () => {});
    let head = '';
    let path = '';
    socket.on('data', (chunk: Buffer) => {
      if (path === '') {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        path = head.split(' ')[1]!;
        if (path === '/handshake_sleep') return; // never answers
        const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`);
        return;
      }
      if ((chunk[0]! & 0x0f) !== 0x8) return; // waits for the client's close frame
      if (path === '/passive-close-abort') socket.destroy();
      else if (path === '/delayed-passive-close') {
        setTimeout(() => {
          rawLog.push('server replied');
          socket.end(Buffer.from([0x88, 0x00]));
        }, 300);
      }
    });
  });
  raw.listen(0, HOST);
  await once(raw, 'listening');
  RAWURL = `ws://${HOST}:${(raw.address() as { port: number }).port}`;
  notFound = createHttpServer((_, response) => response.writeHead(404).end());
  notFound.listen(0, HOST);
  await once(notFound, 'listening');
  NOTFOUND = `ws://${HOST}:${(notFound.address() as { port: number }).port}/404`;
});

after(() => {
  for (const c of echo.clients) c.terminate();
  echo.close();
  for (const s of rawSockets) s.destroy();
  raw.close();
  notFound.close();
});

function describeError(error: unknown): string {
  const e = error as { constructor: { name: string }; name: string; closeCode?: unknown };
  return e.constructor.name === 'WebSocketError' ? `WebSocketError:${String(e.closeCode)}` : `${e.constructor.name}:${e.name}`;
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

/** Runs `scenario` with each implementation; every record must equal `expected` (what the WPT case asserts). */
async function observe(expected: unknown, scenario: (impl: Impl) => Promise<unknown> | unknown, impls: Impl[] = BOTH): Promise<void> {
  for (const impl of impls) assert.deepEqual(await scenario(impl), expected, `${impl.name} observes what the web-platform-tests expect`);
}

describe('web-platform-tests websockets/stream/: constructor.any.js', () => {
  it('no URL, an invalid URL, invalid options, protocols not a list: TypeError / SyntaxError', T, async () => {
    await observe(['TypeError:TypeError', 'DOMException:SyntaxError', 'TypeError:TypeError', 'TypeError:TypeError'], ({ Stream }) => [
      thrown(() => new (Stream as unknown as new () => unknown)()),
      thrown(() => new Stream('invalid:')),
      thrown(() => new Stream(`${BASEURL}/`, true as unknown as undefined)),
      thrown(() => new Stream(`${BASEURL}/`, { protocols: 'hi' as unknown as string[] })),
    ]);
  });

  it('a valid URL; protocols in the constructor; opened resolves to streams and strings; a connection failure rejects both promises', T, async () => {
    await observe([ECHOURL, 'alpha', 'alpha', true, true, 'string', 'string', 'rejected:WebSocketError:null', 'rejected:WebSocketError:1006'], async ({ Stream }) => {
      const wss = new Stream(ECHOURL);
      const { readable, writable, protocol, extensions } = await within(wss.opened, 10_000, 'opened');
      const record: unknown[] = [wss.url];
      const chosen = new Stream(`${BASEURL}/protocol_array`, { protocols: ['alpha', 'beta'] });
      const info = await within(chosen.opened, 10_000, 'opened');
      record.push(info.protocol, (await within(info.readable.getReader().read(), 10_000, 'the message')).value);
      ReadableStream.prototype.getReader.call(readable); // brand checks: they throw on anything else
      WritableStream.prototype.getWriter.call(writable);
      record.push(true, true, typeof protocol, typeof extensions);
      const failed = new Stream(NOTFOUND);
      record.push(await outcome(failed.opened), await outcome(failed.closed));
      wss.close();
      chosen.close();
      return record;
    });
  });
});

describe('web-platform-tests websockets/stream/: close.any.js', () => {
  it('close codes and reasons are sent and reflected; no code is 1005; a reason alone is 1000', T, async () => {
    const calls: Array<object | undefined> = [{ closeCode: 3456, reason: 'pizza' }, undefined, {}, { reason: '' }, { reason: 'non-empty' }];
    await observe([
      'resolved:{"closeCode":3456,"reason":"pizza"}', 'resolved:{"closeCode":1005,"reason":""}', 'resolved:{"closeCode":1005,"reason":""}',
      'resolved:{"closeCode":1005,"reason":""}', 'resolved:{"closeCode":1000,"reason":"non-empty"}',
    ], async ({ Stream }) => {
      const record: string[] = [];
      for (const info of calls) {
        const wss = new Stream(ECHOURL);
        await within(wss.opened, 10_000, 'opened');
        wss.close(info);
        record.push(await outcome(wss.closed));
      }
      return record;
    });
  });

  it('close(true) TypeError; an overlong reason SyntaxError; codes 999, 1001, 2999, 5000 InvalidAccessError; close during the handshake rejects both with WebSocketError', T, async () => {
    await observe(['TypeError:TypeError', 'DOMException:SyntaxError', ...Array(4).fill('DOMException:InvalidAccessError'), 'rejected:WebSocketError:null', 'rejected:WebSocketError:1006'], async ({ Stream }) => {
      const wss = new Stream(ECHOURL);
      await within(wss.opened, 10_000, 'opened');
      const record: string[] = [thrown(() => wss.close(true as unknown as undefined)), thrown(() => wss.close({ reason: '.'.repeat(124) }))];
      for (const closeCode of [999, 1001, 2999, 5000]) record.push(thrown(() => wss.close({ closeCode })));
      wss.close();
      const early = new Stream(ECHOURL);
      early.close();
      record.push(await outcome(early.opened), await outcome(early.closed));
      return record;
    });
  });

  it('closing the writable is a clean close (1005)', T, async () => {
    await observe(['resolved:{"closeCode":1005,"reason":""}'], async ({ Stream }) => {
      const wss = new Stream(ECHOURL);
      const { writable } = await within(wss.opened, 10_000, 'opened');
      void writable.getWriter().close();
      return [await outcome(wss.closed)];
    });
  });

  it('an incomplete closing handshake is unclean: WebSocketError 1006 (ours alone: undici reports 1005)', T, async () => {
    await observe(['rejected:WebSocketError:1006'], async ({ Stream }) => {
      const aborted = new Stream(`${RAWURL}/passive-close-abort`);
      await within(aborted.opened, 10_000, 'opened');
      aborted.close({ closeCode: 4000, reason: 'because' });
      return [await outcome(aborted.closed)];
    }, [OURS]);
  });

  it("writer.close() resolves only once the closing handshake completes (the server's delayed reply came first; ours alone: undici resolves at once)", T, async () => {
    await observe(['server replied', 'writer.close() resolved'], async ({ Stream }) => {
      rawLog.length = 0;
      const wss = new Stream(`${RAWURL}/delayed-passive-close`);
      const { writable } = await within(wss.opened, 10_000, 'opened');
      await within(writable.getWriter().close(), 10_000, 'writer.close()');
      rawLog.push('writer.close() resolved');
      return [...rawLog];
    }, [OURS]);
  });

  for (const [method, stream] of [['abort', 'writable'], ['cancel', 'readable']] as const) {
    // undici 7.30 throws "Controller is already closed" from a socket event after readable.cancel(): ours alone there.
    const impls = stream === 'readable' ? [OURS] : BOTH;
    it(`${method}ing the ${stream}: plain or with a non-WebSocketError reason is 1005; a WebSocketError's code and reason are sent${impls.length === 1 ? ' (ours alone: undici crashes)' : ''}`, T, async () => {
      await observe([
        'resolved:{"closeCode":1005,"reason":""}', 'resolved:{"closeCode":1005,"reason":""}', 'resolved:{"closeCode":3333,"reason":""}',
        'resolved:{"closeCode":3456,"reason":"set"}', 'resolved:{"closeCode":1000,"reason":"specified"}', 'resolved:{"closeCode":1005,"reason":""}',
      ], async ({ Stream, Error: WsError }) => {
        const domException = Object.assign(new DOMException('yes', 'DataCloneError'), { closeCode: 1000, reason: 'should be ignored' });
        const reasons = [undefined, { closeCode: 3333, reason: 'obsolete' }, new WsError('', { closeCode: 3333 }), new WsError('', { closeCode: 3456, reason: 'set' }), new WsError('', { reason: 'specified' }), domException];
        const record: string[] = [];
        for (const reason of reasons) {
          const wss = new Stream(ECHOURL);
          const info = await within(wss.opened, 10_000, 'opened');
          void (stream === 'writable' ? info.writable.abort(reason) : info.readable.cancel(reason));
          record.push(await outcome(wss.closed));
        }
        return record;
      }, impls);
    });
  }
});

describe('web-platform-tests websockets/stream/: write.any.js', () => {
  it('a write incomplete at close time rejects with InvalidStateError, and the stream errors with that same object (ours alone: undici hands the whole message to the socket at once and resolves the write)', T, async () => {
    await observe(['rejected:WebSocketError:1006', 'rejected:DOMException:InvalidStateError', true], async ({ Stream }) => {
      const wss = new Stream(`${BASEURL}/echo_exit`);
      const { writable } = await within(wss.opened, 10_000, 'opened');
      const writer = writable.getWriter();
      const goodbye = writer.write('Goodbye');
      const big = writer.write(new Uint8Array(64 * 1024 * 1024));
      await goodbye;
      const record: unknown[] = [await outcome(wss.closed), await outcome(big)];
      const error = await big.catch((e: unknown) => e);
      record.push(await writer.write('word').then(() => false, (e: unknown) => e === error));
      return record;
    }, [OURS]);
  });

  it('a value that cannot be stringified, a resizable ArrayBuffer, a view on a shared buffer: write() rejects with TypeError', T, async () => {
    await observe(Array(3).fill('rejected:TypeError:TypeError'), async ({ Stream }) => {
      const cannotStringify = { toString() { return this; } };
      const resizable = new (ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer)(1024, { maxByteLength: 65536 });
      const shared = new Uint8Array(new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true }).buffer);
      const record: string[] = [];
      for (const value of [cannotStringify, resizable, shared]) {
        const wss = new Stream(ECHOURL);
        const { writable } = await within(wss.opened, 10_000, 'opened');
        record.push(await outcome(writable.getWriter().write(value as unknown as string)));
        wss.close();
      }
      return record;
    });
  });
});

describe('web-platform-tests websockets/stream/: abort.any.js', () => {
  it('abort before constructing prevents the connection; abort after connect does nothing', T, async () => {
    await observe(['rejected:DOMException:AbortError', 'rejected:DOMException:AbortError', 0, 'connected'], async ({ Stream }) => {
      const before = echo.clients.size;
      const controller = new AbortController();
      controller.abort();
      const wss = new Stream(ECHOURL, { signal: controller.signal });
      const record: unknown[] = [await outcome(wss.opened), await outcome(wss.closed), echo.clients.size - before];
      const late = new AbortController();
      const open = new Stream(ECHOURL, { signal: late.signal });
      const { readable, writable } = await within(open.opened, 10_000, 'opened');
      late.abort();
      void writable.getWriter().write('connected');
      record.push((await within(readable.getReader().read(), 10_000, 'the echo')).value);
      open.close();
      return record;
    });
  });

  it('abort during the handshake rejects both with AbortError (ours alone: undici rejects with a WebSocketError)', T, async () => {
    await observe(['rejected:DOMException:AbortError', 'rejected:DOMException:AbortError'], async ({ Stream }) => {
      const connected = rawSockets.size;
      const controller = new AbortController();
      const wss = new Stream(`${RAWURL}/handshake_sleep`, { signal: controller.signal });
      await until(() => rawSockets.size > connected, 10_000, 'the connection to start');
      controller.abort();
      return [await outcome(wss.opened), await outcome(wss.closed)];
    }, [OURS]);
  });
});
