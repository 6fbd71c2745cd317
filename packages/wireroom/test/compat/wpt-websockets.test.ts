// web-platform-tests `websockets/` re-expressed for Node: the cases that need only a WebSocket echo server (one that
// reflects messages and the close code and reason, as WPT's echo handler does: here a `ws` server) run with
// undici's WebSocket and ours, side by side. Each test names the WPT files it ports; both implementations must
// observe what the test expects. The table in docs/web-websocket.md lists what was ported, what was not and why.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { WebSocket as UndiciWebSocket } from 'undici';
import { WebSocketServer as WsServer } from 'ws';
import { WebSocket as WireroomWebSocket } from '../../src/compat/web.js';
import { delay, HOST, until, within } from '../helpers/loopback.js';

const T = { timeout: 30_000 };
type Ctor = new (url: string | URL, protocols?: string | string[], ...rest: unknown[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any
const IMPLEMENTATIONS: Array<[string, Ctor]> = [['undici', UndiciWebSocket as unknown as Ctor], ['wireroom', WireroomWebSocket as unknown as Ctor]];

let server: WsServer;
let PORT = 0;
/** WPT's SCHEME_DOMAIN_PORT and its echo handler's URL. */
let ORIGIN = '';
let ECHO = '';
/** A server that accepts TCP and never answers the handshake (WPT's sleep_10_v13). */
let silent: NetServer;
let SLEEP = '';
const silentSockets = new Set<Socket>();

before(async () => {
  server = new WsServer({ host: HOST, port: 0, handleProtocols: (protocols) => protocols.values().next().value ?? false });
  await once(server, 'listening');
  PORT = (server.address() as { port: number }).port;
  ORIGIN = `ws://${HOST}:${PORT}`;
  ECHO = `${ORIGIN}/echo`;
  silent = createNetServer((socket) => {
    silentSockets.add(socket);
    socket.on('error', () => {});
  });
  silent.listen(0, HOST);
  await once(silent, 'listening');
  SLEEP = `ws://${HOST}:${(silent.address() as { port: number }).port}/sleep_10_v13`;
  server.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === 'Goodbye') ws.close(1000, 'Goodbye'); // Close-server-initiated-close
      else ws.send(data, { binary: isBinary });
    });
  });
});

after(() => {
  for (const s of silentSockets) s.destroy();
  silent.close();
  for (const c of server.clients) c.terminate();
  server.close();
});

function thrown(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return (error as Error).name;
  }
}

/** Runs `scenario` with both implementations; both records must equal `expected` (WPT's expectation). */
async function bothObserve(expected: unknown, scenario: (Impl: Ctor) => unknown, implementations = IMPLEMENTATIONS): Promise<void> {
  for (const [name, Impl] of implementations) {
    assert.deepEqual(await scenario(Impl), expected, `${name} observes what the web-platform-tests expect`);
  }
}

/** Opens a WebSocket and resolves once 'open' has been dispatched. */
async function opened(Impl: Ctor, url = ECHO, protocols?: string | string[]): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const ws = protocols === undefined ? new Impl(url) : new Impl(url, protocols);
  await within(new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve);
    ws.addEventListener('close', () => reject(new Error('closed before open')));
  }), 10_000, 'open');
  return ws;
}

function closeEvent(ws: any): Promise<{ code: number; reason: string; wasClean: boolean; readyState: number }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return within(new Promise((resolve) => {
    ws.addEventListener('close', (e: { code: number; reason: string; wasClean: boolean }) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean, readyState: ws.readyState }));
  }), 10_000, 'close');
}

/** The next message's data: a string, or the bytes (ArrayBuffer / Blob) as an array. */
async function nextMessage(ws: any): Promise<string | { type: string; bytes: number[] }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const event = await within(new Promise<MessageEvent>((resolve) => ws.addEventListener('message', resolve, { once: true })), 10_000, 'a message');
  const data = event.data as unknown;
  if (typeof data === 'string') return data;
  const type = (data as object).constructor.name;
  const buffer = data instanceof Blob ? await data.arrayBuffer() : data as ArrayBuffer;
  return { type, bytes: [...new Uint8Array(buffer)] };
}

describe('web-platform-tests websockets/: constructor', () => {
  it('Create-invalid-urls, Create-non-absolute-url, Create-wrong-scheme, Create-Secure-url-with-space: SyntaxError', T, async () => {
    const urls = [
      'ws://foo bar.com/', 'wss://foo bar.com/', `ftp://${HOST}:${PORT}/`, 'mailto:example@example.org', 'about:blank',
      `${ORIGIN}/#`, `${ORIGIN}/#test`, '#test', HOST, `invalid-scheme://${HOST}:${PORT}/echo`, `wss://${HOST} /:${PORT}/echo`,
    ];
    await bothObserve(urls.map(() => 'SyntaxError'), (Impl) => urls.map((url) => thrown(() => new Impl(url))));
  });

  it('Create-nonAscii-protocol-string, Create-protocol-with-space, Create-asciiSep-protocol-string, Create-protocols-repeated(-case-insensitive): SyntaxError', T, async () => {
    const protocols: Array<string | string[]> = ['\u00e9ch\u00f2', 'ec ho', '/echo', ['echo', 'echo'], ['echo', 'eCho']];
    await bothObserve(protocols.map(() => 'SyntaxError'), (Impl) => protocols.map((p) => thrown(() => new Impl(ECHO, p))));
  });

  it('constructor (a stray argument does not throw; no argument is a TypeError), Create-http-urls, Create-verify-url-set-(non-)default-port', T, async () => {
    await bothObserve(['ok', 'TypeError', `ws://${HOST}:${PORT}/echo`, `wss://${HOST}:${PORT}/echo`, `ws://${HOST}/echo`, `wss://${HOST}/echo`, `ws://${HOST}:8080/echo`], (Impl) => {
      const made: Array<{ close(): void }> = [];
      const keep = <W extends { close(): void }>(ws: W): W => { made.push(ws); return ws; };
      const record = [
        thrown(() => keep(new Impl(ECHO, 'echo', 'Stray argument'))),
        thrown(() => new (Impl as unknown as new () => unknown)()),
        keep(new Impl(`http://${HOST}:${PORT}/echo`)).url,
        keep(new Impl(`https://${HOST}:${PORT}/echo`)).url,
        keep(new Impl(`ws://${HOST}:80/echo`)).url,
        keep(new Impl(`wss://${HOST}:443/echo`)).url,
        keep(new Impl(`ws://${HOST}:8080/echo`)).url,
      ];
      for (const ws of made) ws.close();
      return record;
    });
  });

  it('Create-valid-url(-protocol, -array-protocols, -protocol-empty, -binaryType-blob), Create-Secure-extensions-empty, Create-Secure-valid-url-protocol-setCorrectly', T, async () => {
    await bothObserve([[0, ECHO, '', '', 'blob'], [1, 'echo', ''], [1, 'echo', ''], [1, '', '']], async (Impl) => {
      const plain = new Impl(ECHO, []);
      const atOnce = [plain.readyState, plain.url, plain.protocol, plain.extensions, plain.binaryType];
      const records: unknown[] = [atOnce];
      for (const protocols of ['echo', ['echo', 'chat'], undefined]) {
        const ws = await opened(Impl, ECHO, protocols);
        records.push([ws.readyState, ws.protocol, ws.extensions]);
        ws.close();
      }
      plain.close();
      return records;
    });
  });

  it('eventhandlers: on* are null, and a non-callable value sets them to null ([TreatNonCallableAsNull])', T, async () => {
    await bothObserve(Array(4).fill([null, 'function', null]), (Impl) => {
      const ws = new Impl(ECHO, 'echo');
      const record = ['open', 'error', 'close', 'message'].map((name) => {
        const before = ws[`on${name}`];
        ws[`on${name}`] = (): void => {};
        const set = typeof ws[`on${name}`];
        ws[`on${name}`] = 2;
        return [before, set, ws[`on${name}`]];
      });
      ws.close();
      return record;
    });
  });

  it('binaryType-wrong-value: an unknown value leaves it blob', T, async () => {
    await bothObserve(['blob', 'blob', true], async (Impl) => {
      const ws = await opened(Impl, ECHO, 'echo');
      const record: unknown[] = [ws.binaryType];
      ws.binaryType = 'notBlobOrArrayBuffer';
      record.push(ws.binaryType);
      const closed = closeEvent(ws);
      ws.close();
      record.push((await closed).wasClean);
      return record;
    });
  });
});

describe('web-platform-tests websockets/: send()', () => {
  it('Send-before-open: InvalidStateError; Send-data: bufferedAmount is the data length right after send(), then the echo, a clean close', T, async () => {
    await bothObserve(['InvalidStateError', 15, 'Message to send', true], async (Impl) => {
      const early = new Impl(ECHO);
      const record: unknown[] = [thrown(() => early.send('too early'))];
      early.close();
      const ws = await opened(Impl);
      ws.send('Message to send');
      record.push(ws.bufferedAmount);
      record.push(await nextMessage(ws));
      const closed = closeEvent(ws);
      ws.close();
      record.push((await closed).wasClean);
      return record;
    });
  });

  it('Send-0byte-data, Send-65K-data, Send-unicode-data, Send-paired-surrogates, Send-unpaired-surrogates (sent as U+FFFD), Send-null', T, async () => {
    const unicode = 'Ā¥¨¬®°±´µ¶·¸¹º¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞßàáâãäåæçèéêëìíîï';
    const sends: unknown[] = ['', 'x'.repeat(65000), unicode, '\uD801\uDC07', '\uD807', null];
    const expected = ['', 'x'.repeat(65000), unicode, '\uD801\uDC07', '\uFFFD', 'null'];
    await bothObserve(expected, async (Impl) => {
      const ws = await opened(Impl);
      const got: unknown[] = [];
      for (const data of sends) {
        ws.send(data);
        got.push(await nextMessage(ws));
      }
      ws.close();
      return got;
    });
  });

  it('Send-binary-arraybuffer, Send-binary-65K-arraybuffer, Send-binary-arraybufferview-*, Send-binary-blob: the bytes come back', T, async () => {
    const buffer = new ArrayBuffer(15);
    new Uint8Array(buffer).set([1, 2, 3, 250]);
    const sizes = new ArrayBuffer(32);
    new Uint8Array(sizes).forEach((_, i, a) => { a[i] = i * 7; });
    const views: Array<ArrayBuffer | ArrayBufferView> = [
      buffer, new ArrayBuffer(65000),
      new Int8Array([-1, 2, -3]), new Int16Array(sizes, 2), new Uint8Array(sizes, 2), new Uint8Array(sizes, 2, 4),
      new Uint16Array(sizes, 2, 4), new Uint32Array(sizes, 4), new Int32Array([-5, 6]), new Float32Array([1.5, -2.25]), new Float64Array([Math.PI]),
    ];
    const bytesOf = (v: ArrayBuffer | ArrayBufferView): number[] => [...(ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v))];
    const expected = [...views.map((v) => ({ type: 'ArrayBuffer', bytes: bytesOf(v) })), { type: 'Blob', bytes: Array(65000).fill(0) }];
    await bothObserve(expected, async (Impl) => {
      const ws = await opened(Impl);
      ws.binaryType = 'arraybuffer';
      const got: unknown[] = [];
      for (const data of views) {
        ws.send(data);
        got.push(await nextMessage(ws));
      }
      ws.binaryType = 'blob';
      ws.send(new Blob(['\0'.repeat(65000)]));
      got.push(await nextMessage(ws));
      ws.close();
      return got;
    });
  });
});

describe('web-platform-tests websockets/: close()', () => {
  it('Close-0, Close-NaN, Close-null, Close-string, Close-onlyReason, Close-2999-reason: InvalidAccessError; Close-Reason-124Bytes: SyntaxError', T, async () => {
    const calls: Array<[unknown, string?]> = [[0], [NaN], [null], ['string'], ['Close with only reason'], [2999, 'Close not allowed'], [1000, '0123456789'.repeat(12) + '0123']];
    await bothObserve([...Array(6).fill('InvalidAccessError'), 'SyntaxError', 1], async (Impl) => {
      const ws = await opened(Impl);
      const record: unknown[] = calls.map(([code, reason]) => thrown(() => ws.close(code, reason)));
      record.push(ws.readyState); // nothing was closed
      ws.close();
      return record;
    });
  });

  it('Close-1000(-reason, -verify-code), Close-1005(-verify-code), Close-undefined, Close-3000(-reason, -verify-code), Close-4999-reason, Close-reason-unpaired-surrogates', T, async () => {
    const calls: Array<[number | undefined, string | undefined]> = [
      [1000, undefined], [1000, 'Clean Close with code - 1000'], [1000, 'Clean Close'], [undefined, undefined],
      [3000, undefined], [3000, 'Clean Close with code - 3000'], [4999, 'Clean Close with code - 4999'], [1000, '\uD807'],
    ];
    const expected = [
      [1000, '', true], [1000, 'Clean Close with code - 1000', true], [1000, 'Clean Close', true], [1005, '', true],
      [3000, '', true], [3000, 'Clean Close with code - 3000', true], [4999, 'Clean Close with code - 4999', true], [1000, '\uFFFD', true],
    ];
    await bothObserve(expected, async (Impl) => {
      const got: unknown[] = [];
      for (const [code, reason] of calls) {
        const ws = await opened(Impl);
        const closed = closeEvent(ws);
        if (code === undefined) ws.close(undefined);
        else ws.close(code, reason);
        const event = await closed;
        got.push([event.code, event.reason, event.wasClean]);
      }
      return got;
    });
  });

  it('Close-readyState-Closing, Close-readyState-Closed, Close-server-initiated-close', T, async () => {
    await bothObserve([2, 3, [1000, 'Goodbye', true, 3]], async (Impl) => {
      const ws = await opened(Impl);
      const closed = closeEvent(ws);
      ws.close();
      const record: unknown[] = [ws.readyState, (await closed).readyState];
      const other = await opened(Impl);
      const byServer = closeEvent(other);
      other.send('Goodbye');
      const event = await byServer;
      record.push([event.code, event.reason, event.wasClean, event.readyState]);
      return record;
    });
  });
});

describe('web-platform-tests websockets/: bufferedAmount', () => {
  it('bufferedAmount counts application data only and falls to 0 once written (Send-data, Send-binary-65K-arraybuffer)', T, async () => {
    await bothObserve([65000 + 10, 0], async (Impl) => {
      const ws = await opened(Impl);
      ws.send(new ArrayBuffer(65000));
      ws.send('0123456789');
      const record: unknown[] = [ws.bufferedAmount];
      await until(() => ws.bufferedAmount === 0, 10_000, 'bufferedAmount to fall to 0');
      record.push(ws.bufferedAmount);
      ws.close();
      return record;
    });
  });
});

describe('web-platform-tests websockets/interfaces/WebSocket/', () => {
  // undici dispatches error and close inside close() (before the page could set onclose, as this test does): ours alone.
  it('close/close-connecting: close() while connecting is CLOSING, then one unclean close event in CLOSED; no open (ours alone: undici dispatches the events inside close())', T, async () => {
    await bothObserve([0, 2, ['close', 3, false]], async (Impl) => {
      const connected = silentSockets.size;
      const ws = new Impl(SLEEP);
      const events: unknown[] = [];
      ws.onopen = (): void => { events.push('open'); };
      await until(() => silentSockets.size > connected, 10_000, 'the TCP connection');
      const record: unknown[] = [ws.readyState];
      ws.close();
      record.push(ws.readyState);
      const closed = closeEvent(ws);
      ws.addEventListener('close', (e: { wasClean: boolean }) => events.push(['close', ws.readyState, e.wasClean]));
      await closed;
      await delay(100); // nothing else may follow
      record.push(...events);
      return record;
    }, IMPLEMENTATIONS.filter(([name]) => name === 'wireroom'));
  });

  it('close/close-multiple and close/close-nested: one close event, whatever close() is called again (readyState stays CLOSED in the handler)', T, async () => {
    await bothObserve([2, 1, [3, 3], 1], async (Impl) => {
      const nested = await opened(Impl);
      let count = 0;
      const states: number[] = [];
      nested.onclose = (): void => {
        count++;
        if (count === 1) {
          states.push(nested.readyState);
          nested.close();
          states.push(nested.readyState);
        }
      };
      nested.close();
      const record: unknown[] = [nested.readyState];
      await until(() => count > 0, 10_000, 'the close event');
      await delay(100);
      record.push(count, states);
      const multiple = new Impl(ECHO);
      let closes = 0;
      multiple.onclose = (): void => { closes++; };
      multiple.close();
      multiple.close();
      multiple.close();
      await until(() => closes > 0, 10_000, 'the close event');
      await delay(100);
      record.push(closes);
      return record;
    });
  });

  it('constants: CONNECTING, OPEN, CLOSING, CLOSED on the interface and its instances', T, async () => {
    await bothObserve([[0, 1, 2, 3], [0, 1, 2, 3]], (Impl) => {
      const ws = new Impl(ECHO);
      const names = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
      const record = [names.map((n) => (Impl as unknown as Record<string, number>)[n]), names.map((n) => ws[n])];
      ws.close();
      return record;
    });
  });
});
