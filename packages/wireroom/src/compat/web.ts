/**
 * `wireroom/web`: the WHATWG `WebSocket` (the WebSockets Standard with the HTML event model, as browsers and
 * undici implement it), thin over the one connection class: an `EventTarget` dispatching `Event`,
 * `MessageEvent`, `CloseEvent` and `ErrorEvent`; `binaryType` 'blob' (default) or 'arraybuffer'; strings,
 * `Blob`s, `ArrayBuffer`s and views sent in call order; `DOMException`s where the standard throws them.
 *
 * What a browser does not have and this does not either: a message size limit below memory safety. Messages up
 * to `WEB_MAX_MESSAGE_SIZE` (1 GiB) are accepted; larger ones fail the connection (1009).
 */
import { CloseCode } from '../protocol/constants.js';
import { WebSocket as Connection } from '../connection/websocket.js';
import { openClient } from '../client/connect.js';

/** The largest message a `wireroom/web` WebSocket accepts (1 GiB: memory safety only, see the module comment). */
export const WEB_MAX_MESSAGE_SIZE = 2 ** 30;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** `CloseEvent` (global in browsers and Node 23+; defined here for Node 20 and 22). */
export class CloseEvent extends Event {
  readonly wasClean: boolean;
  readonly code: number;
  readonly reason: string;
  constructor(type: string, init: { wasClean?: boolean; code?: number; reason?: string } & EventInitLike = {}) {
    super(type, init);
    this.wasClean = init.wasClean ?? false;
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
  }
}

/** `ErrorEvent` (global in browsers; not in Node): the `error` event of a failed connection. */
export class ErrorEvent extends Event {
  readonly message: string;
  readonly error: unknown;
  constructor(type: string, init: { message?: string; error?: unknown } & EventInitLike = {}) {
    super(type, init);
    this.message = init.message ?? '';
    this.error = init.error;
  }
}

interface EventInitLike {
  bubbles?: boolean;
  cancelable?: boolean;
  composed?: boolean;
}

/** The types of binary message data. */
export type BinaryType = 'blob' | 'arraybuffer';
type Handler = ((this: WebSocket, event: any) => unknown) | null; // eslint-disable-line @typescript-eslint/no-explicit-any
type Queued = { data: Buffer | string | null; blob: Blob | null; binary: boolean; size: number };

/** RFC 7230 token characters, for subprotocol names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** WebIDL's `[Clamp] unsigned short`: NaN is 0, the value is clamped to 0-65535 and rounded half to even. */
function clampUnsignedShort(value: unknown): number {
  const n = Number(value);
  if (Number.isNaN(n)) return 0;
  const x = Math.min(Math.max(n, 0), 65535);
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** @internal The URL steps of the WebSockets Standard: `SyntaxError` for a bad URL, scheme or a fragment. */
export function parseWebSocketUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw new DOMException(`Invalid URL: ${String(url)}`, 'SyntaxError');
  }
  if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
  else if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new DOMException(`The URL's scheme must be ws or wss, not ${parsed.protocol}`, 'SyntaxError');
  if (parsed.hash !== '' || String(url).endsWith('#')) throw new DOMException('The URL must not have a fragment', 'SyntaxError');
  return parsed;
}

/** @internal Subprotocols must be tokens, none repeated (case-insensitively): `SyntaxError` otherwise. */
export function checkProtocols(list: readonly string[]): void {
  if (list.some((p) => !TOKEN.test(p)) || new Set(list.map((p) => p.toLowerCase())).size !== list.length) {
    throw new DOMException('Invalid or duplicated subprotocol', 'SyntaxError');
  }
}

/** The WHATWG WebSocket. */
export class WebSocket extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;

  readonly #url: URL;
  readonly #connection = new Connection();
  #binaryType: BinaryType = 'blob';
  #closing = false;
  #closeDispatched = false;
  #afterClose = 0;
  /** Data bytes given to the connection whose write has not completed (the standard's bufferedAmount counts data only). */
  #unwritten = 0;
  /** Sends waiting behind a Blob being read, in call order (null when none waits). */
  #queue: Queued[] | null = null;
  #queuedBytes = 0;
  readonly #handlers = new Map<string, { handler: Handler; listener: (event: Event) => void }>();

  constructor(url: string | URL, protocols: string | string[] = []) {
    super();
    if (arguments.length === 0) throw new TypeError("Failed to construct 'WebSocket': 1 argument required, but only 0 present.");
    const parsed = parseWebSocketUrl(url);
    const list = typeof protocols === 'string' ? [protocols] : [...protocols];
    checkProtocols(list);
    this.#url = parsed;

    const connection = this.#connection;
    connection.on('open', () => this.dispatchEvent(new Event('open')));
    connection.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    let failed = false;
    connection.on('error', () => { failed = true; });
    connection.on('close', (code: number, reason: string, wasClean: boolean) => {
      // A task of its own (close() while connecting must not dispatch inside the caller's close()); messages
      // parsed before it have been dispatched already.
      setImmediate(() => {
        this.#closeDispatched = true;
        // As undici: 'error' when the connection failed or was lost without a closing handshake.
        if (failed || code === CloseCode.ABNORMAL) {
          this.dispatchEvent(new ErrorEvent('error', { message: 'WebSocket connection failed', error: new TypeError('WebSocket connection failed') }));
        }
        this.dispatchEvent(new CloseEvent('close', { wasClean, code, reason }));
      });
    });
    openClient(connection, parsed, {
      protocols: list,
      maxMessageSize: WEB_MAX_MESSAGE_SIZE,
      backpressure: 'wait', // a browser buffers what is sent: bufferedAmount tells, nothing is dropped
    }).catch(() => {
      if (connection.readyState === CLOSED) return;
      failed = true;
      connection._abortConnecting(CloseCode.ABNORMAL, '');
    });
  }

  get url(): string {
    return this.#url.href;
  }

  get readyState(): number {
    const state = this.#connection.readyState;
    if (state === CLOSED) return this.#closing && !this.#closeDispatched ? CLOSING : CLOSED;
    if (this.#closing) return CLOSING;
    return state;
  }

  /** Bytes of application data sent and not yet handed to the kernel (frame headers and control frames not counted). */
  get bufferedAmount(): number {
    return this.#unwritten + this.#queuedBytes + this.#afterClose;
  }

  get extensions(): string {
    return this.#connection.extensions;
  }

  get protocol(): string {
    return this.#connection.protocol;
  }

  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(type: BinaryType) {
    if (type === 'blob' || type === 'arraybuffer') this.#binaryType = type; // other values are ignored, as the standard says
  }

  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (arguments.length === 0) throw new TypeError("Failed to execute 'send' on 'WebSocket': 1 argument required, but only 0 present.");
    const state = this.readyState;
    if (state === CONNECTING) throw new DOMException('Still in CONNECTING state.', 'InvalidStateError');
    let item: Queued;
    if (typeof data === 'string') {
      item = { data, blob: null, binary: false, size: Buffer.byteLength(data) };
    } else if (data instanceof Blob) {
      item = { data: null, blob: data, binary: true, size: data.size };
    } else if (ArrayBuffer.isView(data)) {
      item = { data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), blob: null, binary: true, size: data.byteLength };
    } else if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer)) {
      item = { data: Buffer.from(data), blob: null, binary: true, size: data.byteLength };
    } else {
      item = { data: String(data), blob: null, binary: false, size: 0 };
      item.size = Buffer.byteLength(item.data as string);
    }
    if (state !== OPEN) {
      this.#afterClose += item.size; // the standard: counted, never sent
      return;
    }
    if (this.#queue === null && item.blob === null) {
      this.#sendNow(item);
      return;
    }
    // Behind a Blob being read: wait, to keep the call order.
    this.#queuedBytes += item.size;
    const start = this.#queue === null;
    (this.#queue ??= []).push(item);
    if (start) void this.#drainQueue();
  }

  async #drainQueue(): Promise<void> {
    const queue = this.#queue!;
    while (queue.length > 0) {
      const item = queue[0]!;
      if (item.blob !== null) item.data = Buffer.from(await item.blob.arrayBuffer());
      queue.shift();
      this.#queuedBytes -= item.size;
      if (this.#connection.readyState === OPEN) this.#sendNow(item);
    }
    this.#queue = null;
  }

  #sendNow(item: Queued): void {
    const size = item.size;
    this.#unwritten += size;
    // The callback comes once the bytes are written (or the connection failed): they leave bufferedAmount then.
    this.#connection.send(item.data!, { binary: item.binary }, () => {
      this.#unwritten -= size;
    });
  }

  close(code?: number, reason?: string): void {
    if (code !== undefined) {
      code = clampUnsignedShort(code);
      if (code !== 1000 && (code < 3000 || code > 4999)) {
        throw new DOMException(`The close code must be 1000 or in 3000-4999, got ${code}`, 'InvalidAccessError');
      }
    }
    const reasonText = reason === undefined ? '' : String(reason);
    if (Buffer.byteLength(reasonText) > 123) throw new DOMException('The close reason must be at most 123 UTF-8 bytes', 'SyntaxError');
    const state = this.readyState;
    if (state === CLOSING || state === CLOSED) return;
    this.#closing = true;
    if (state === CONNECTING) {
      this.#connection.close(); // fails the connection attempt: error, then close 1006
      return;
    }
    if (code === undefined && reasonText !== '') code = 1000;
    this.#connection.close(code, code === undefined ? undefined : reasonText);
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    let value: string | Blob | ArrayBuffer;
    if (!isBinary) value = data.toString('utf8');
    else if (this.#binaryType === 'blob') value = new Blob([data as Uint8Array<ArrayBuffer>]);
    else value = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    this.dispatchEvent(new MessageEvent('message', { data: value, origin: this.#url.origin }));
  }

  #getHandler(type: string): Handler {
    return this.#handlers.get(type)?.handler ?? null;
  }

  #setHandler(type: string, handler: Handler): void {
    const existing = this.#handlers.get(type);
    if (typeof handler !== 'function' && typeof handler !== 'object') handler = null;
    if (handler === null) {
      if (existing !== undefined) {
        this.removeEventListener(type, existing.listener);
        this.#handlers.delete(type);
      }
      return;
    }
    if (existing !== undefined) {
      existing.handler = handler; // keeps its place among the listeners, as in the HTML standard
      return;
    }
    const entry = {
      handler,
      listener: (event: Event): void => {
        const current = entry.handler;
        if (typeof current === 'function') current.call(this, event);
      },
    };
    this.#handlers.set(type, entry);
    this.addEventListener(type, entry.listener);
  }

  get onopen(): Handler { return this.#getHandler('open'); }
  set onopen(handler: Handler) { this.#setHandler('open', handler); }
  get onmessage(): Handler { return this.#getHandler('message'); }
  set onmessage(handler: Handler) { this.#setHandler('message', handler); }
  get onerror(): Handler { return this.#getHandler('error'); }
  set onerror(handler: Handler) { this.#setHandler('error', handler); }
  get onclose(): Handler { return this.#getHandler('close'); }
  set onclose(handler: Handler) { this.#setHandler('close', handler); }
}

Object.defineProperties(WebSocket.prototype, {
  CONNECTING: { value: CONNECTING, enumerable: true },
  OPEN: { value: OPEN, enumerable: true },
  CLOSING: { value: CLOSING, enumerable: true },
  CLOSED: { value: CLOSED, enumerable: true },
});

export {
  WebSocketStream, WebSocketError, READABLE_HIGH_WATER_MARK, type BinaryChunk, type WebSocketStreamOptions, type WebSocketCloseInfo, type WebSocketOpenInfo,
} from './websocket-stream.js';
