/**
 * `WebSocketStream` and `WebSocketError` (the WHATWG WebSockets Standard's streams API, as Chromium ships it and
 * the draft at whatwg/websockets#48 describes it), thin over the one connection class: messages come out of a
 * `ReadableStream` (strings and `Uint8Array`s) and go in through a `WritableStream` (strings and BufferSources).
 *
 * Backpressure is the socket's, both ways:
 * - reading: when the readable's queue reaches its high-water mark (`READABLE_HIGH_WATER_MARK` bytes, strings
 *   counted by length) the connection is paused (the core holds its input, the transport stops reading, the
 *   peer's bytes wait in the kernel and then in the peer's buffers) until the reader pulls again;
 * - writing: a write's promise resolves once the message is queued and the connection's buffered output is
 *   under its high-water mark (64 KiB), so a writer that awaits its writes (or `writer.ready`) stops while the
 *   peer does not read, and memory stays bounded.
 *
 * Unlike a browser, the `opened` and `closed` promises are marked handled: a connection that fails while nobody
 * awaits them must not end the Node process with an unhandled rejection.
 */
import { CloseCode } from '../protocol/constants.js';
import { WebSocket as Connection } from '../connection/websocket.js';
import { openClient } from '../client/connect.js';
import { checkProtocols, parseWebSocketUrl, WEB_MAX_MESSAGE_SIZE } from './web.js';

/** Bytes (string characters) the readable queues before the connection stops reading. */
export const READABLE_HIGH_WATER_MARK = 64 * 1024;

/** What the writable takes besides strings: an ArrayBuffer or a view on one (WebIDL's BufferSource). */
export type BinaryChunk = ArrayBuffer | ArrayBufferView;

/** `WebSocketStream`'s options. */
export interface WebSocketStreamOptions {
  /** Subprotocols to offer, in preference order (a sequence: a lone string is a TypeError, as in WebIDL). */
  protocols?: Iterable<string>;
  /** Aborts the opening handshake: `opened` and `closed` reject with the signal's reason. No effect once open. */
  signal?: AbortSignal | null;
}

/** `close()`'s argument, and what `closed` resolves to. */
export interface WebSocketCloseInfo {
  closeCode?: number;
  reason?: string;
}

/** What `opened` resolves to. */
export interface WebSocketOpenInfo {
  readable: ReadableStream<string | Uint8Array>;
  writable: WritableStream<string | BinaryChunk>;
  /** The subprotocol the server chose, or ''. */
  protocol: string;
  /** The extensions in use (the Sec-WebSocket-Extensions response header), or ''. */
  extensions: string;
}

/**
 * The error of a WebSocketStream closed uncleanly (`closeCode` 1006 when no close frame came), or one to pass to
 * `writable.abort()` / `readable.cancel()` to close with a code and reason. A `DOMException` named 'WebSocketError'.
 */
export class WebSocketError extends DOMException {
  #closeCode: number | null;
  #reason: string;

  constructor(message = '', init: WebSocketCloseInfo = {}) {
    super(String(message), 'WebSocketError');
    const info = toCloseInfo(init);
    this.#closeCode = info.code;
    this.#reason = info.reason;
  }

  /** The close code, or null when none was given. */
  get closeCode(): number | null {
    return this.#closeCode;
  }

  get reason(): string {
    return this.#reason;
  }

  /** @internal An error with what the peer (or the loss of the connection) gave, unvalidated. */
  static _from(message: string, code: number | null, reason: string): WebSocketError {
    const error = new WebSocketError(message);
    error.#closeCode = code;
    error.#reason = reason;
    return error;
  }
}

Object.defineProperty(WebSocketError.prototype, Symbol.toStringTag, { value: 'WebSocketError', configurable: true });

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** A WebSocket as a pair of streams, with backpressure. */
export class WebSocketStream {
  readonly #url: string;
  readonly #connection = new Connection();
  readonly #opened: Deferred<WebSocketOpenInfo>;
  readonly #closed: Deferred<WebSocketCloseInfo>;
  #readable: ReadableStreamDefaultController<string | Uint8Array> | null = null;
  #writable: WritableStreamDefaultController | null = null;
  #readableDone = false;
  #handshakeAborted = false;
  #wasOpen = false;
  #closeStarted = false;
  /** The write waiting for the output to go under its high-water mark. */
  #pendingWrite: Deferred<void> | null = null;
  /** The writable's close(), waiting for the closing handshake. */
  #pendingClose: Deferred<void> | null = null;

  constructor(url: string | URL, options?: WebSocketStreamOptions | null) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'WebSocketStream': 1 argument required, but only 0 present.");
    if (options !== undefined && options !== null && typeof options !== 'object' && typeof options !== 'function') {
      throw new TypeError("Failed to construct 'WebSocketStream': The provided value is not of type 'WebSocketStreamOptions'.");
    }
    const parsed = parseWebSocketUrl(url);
    const protocols = sequence(options?.protocols);
    checkProtocols(protocols);
    const signal = options?.signal ?? null;
    if (signal !== null && !(signal instanceof AbortSignal)) {
      throw new TypeError("Failed to construct 'WebSocketStream': member signal is not of type AbortSignal.");
    }
    this.#url = parsed.href;
    this.#opened = deferred();
    this.#closed = deferred();

    if (signal?.aborted) {
      this.#handshakeAborted = true;
      this.#opened.reject(signal.reason);
      this.#closed.reject(signal.reason);
      return;
    }
    const connection = this.#connection;
    const onAbort = (): void => {
      if (this.#wasOpen || connection.readyState === CLOSED) return;
      this.#handshakeAborted = true;
      this.#opened.reject(signal!.reason);
      this.#closed.reject(signal!.reason);
      connection.terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    connection.on('open', () => {
      signal?.removeEventListener('abort', onAbort);
      this.#onOpen();
    });
    connection.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    connection.on('drain', () => this.#settleWrite());
    connection.on('close', (code: number, reason: string, wasClean: boolean) => {
      signal?.removeEventListener('abort', onAbort);
      this.#onClose(code, reason, wasClean);
    });
    openClient(connection, parsed, {
      protocols,
      maxMessageSize: WEB_MAX_MESSAGE_SIZE,
      backpressure: 'wait', // the writable's promises are the backpressure: nothing is dropped or refused
    }).catch(() => {
      if (connection.readyState !== CLOSED) connection._abortConnecting(CloseCode.ABNORMAL, '');
    });
  }

  /** The URL, serialized (http: and https: become ws: and wss:). */
  get url(): string {
    return this.#url;
  }

  /** Resolves once the connection is open; rejects (WebSocketError, or the signal's reason) if it never opens. */
  get opened(): Promise<WebSocketOpenInfo> {
    return this.#opened.promise;
  }

  /** Resolves with the close code and reason after a clean close; rejects with a WebSocketError otherwise. */
  get closed(): Promise<WebSocketCloseInfo> {
    return this.#closed.promise;
  }

  /**
   * Starts the closing handshake (fails the connection when still opening). `closeCode` must be 1000 or in
   * 3000-4999 (`InvalidAccessError`), `reason` at most 123 UTF-8 bytes (`SyntaxError`); a reason without a code
   * sends 1000; no argument sends a close frame without a code (the peer sees 1005).
   */
  close(closeInfo?: WebSocketCloseInfo | null): void {
    const { code, reason } = toCloseInfo(closeInfo);
    this.#close(code, reason);
  }

  #close(code: number | null, reason: string): void {
    const connection = this.#connection;
    if (connection.readyState === CONNECTING) {
      connection.close(); // fails the attempt: 'close' 1006 follows, and both promises reject
      return;
    }
    if (code === null) connection.close();
    else connection.close(code, reason);
    // Messages that arrive once closing has started are dropped (the draft's "ready state is not OPEN"); reading
    // resumes so that the peer's close frame, behind whatever the reader left unread, is seen.
    this.#closeStarted = true;
    if (connection.isPaused) connection.resume();
  }

  /** The abort and cancel steps: a WebSocketError's code and reason are sent; any other reason closes plainly. */
  #closeUsing(reason: unknown): void {
    if (reason instanceof WebSocketError) {
      try {
        this.#close(reason.closeCode, reason.reason);
        return;
      } catch {
        // an unvalidated error's code (1006 from a lost connection): close without one
      }
    }
    this.#close(null, '');
  }

  #onOpen(): void {
    const connection = this.#connection;
    this.#wasOpen = true;
    const readable = new ReadableStream<string | Uint8Array>({
      start: (controller) => {
        this.#readable = controller;
      },
      pull: () => {
        if (connection.isPaused) connection.resume();
      },
      cancel: (reason) => {
        this.#readableDone = true;
        this.#closeUsing(reason);
      },
    }, {
      highWaterMark: READABLE_HIGH_WATER_MARK,
      size: (chunk) => (typeof chunk === 'string' ? chunk.length : chunk!.byteLength),
    });
    const writable = new WritableStream<string | BinaryChunk>({
      start: (controller) => {
        this.#writable = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => {
        this.#pendingClose = deferred();
        this.#close(null, '');
        return this.#pendingClose.promise;
      },
      abort: (reason) => this.#closeUsing(reason),
    });
    this.#opened.resolve({ readable, writable, protocol: connection.protocol, extensions: connection.extensions });
  }

  #write(chunk: string | BinaryChunk): Promise<void> {
    let data: string | Buffer;
    let binary: boolean;
    if (ArrayBuffer.isView(chunk)) {
      if (isShared(chunk.buffer) || isResizable(chunk.buffer)) return Promise.reject(new TypeError('A view on a shared or resizable ArrayBuffer cannot be sent'));
      data = Buffer.from(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)); // a copy: the caller may reuse its buffer
      binary = true;
    } else if (chunk instanceof ArrayBuffer || isShared(chunk)) {
      if (isShared(chunk) || isResizable(chunk as ArrayBuffer)) return Promise.reject(new TypeError('A shared or resizable ArrayBuffer cannot be sent'));
      data = Buffer.from(new Uint8Array(chunk as ArrayBuffer).slice());
      binary = true;
    } else {
      try {
        data = String(chunk);
      } catch (error) {
        return Promise.reject(error);
      }
      binary = false;
    }
    const connection = this.#connection;
    if (connection.readyState !== OPEN) return Promise.resolve(); // the closing handshake has started: not sent (the draft's steps)
    // false: the output is at its high-water mark ('wait' policy: nothing is dropped); 'drain' settles the write.
    if (connection.send(data, { binary })) return Promise.resolve();
    this.#pendingWrite = deferred();
    return this.#pendingWrite.promise;
  }

  /** The output went under its high-water mark ('drain'): the waiting write resolves. */
  #settleWrite(): void {
    const pending = this.#pendingWrite;
    this.#pendingWrite = null;
    pending?.resolve();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    const controller = this.#readable;
    if (controller === null || this.#readableDone || this.#closeStarted) return;
    controller.enqueue(isBinary ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data.toString('utf8'));
    // The queue is full: stop reading the socket until the reader pulls.
    if ((controller.desiredSize ?? 0) <= 0 && !this.#connection.isPaused) this.#connection.pause();
  }

  #onClose(code: number, reason: string, wasClean: boolean): void {
    if (this.#handshakeAborted) return;
    if (!this.#wasOpen) {
      this.#opened.reject(new WebSocketError('The WebSocket connection could not be established'));
      this.#closed.reject(WebSocketError._from('The WebSocket connection could not be established', CloseCode.ABNORMAL, ''));
      return;
    }
    // A write still waiting for the output to drain did not complete: it rejects, and the writable errors with it.
    let writeError: DOMException | null = null;
    if (this.#pendingWrite !== null) {
      writeError = new DOMException('The WebSocket closed before the message was sent', 'InvalidStateError');
      this.#pendingWrite.reject(writeError);
      this.#pendingWrite = null;
    }
    if (wasClean) {
      if (!this.#readableDone) {
        this.#readableDone = true;
        this.#readable?.close();
      }
      this.#writable?.error(writeError ?? new DOMException('A closed WebSocketStream cannot be written to', 'InvalidStateError'));
      this.#pendingClose?.resolve();
      this.#closed.resolve({ closeCode: code, reason });
      return;
    }
    const error = WebSocketError._from('The WebSocket closed uncleanly', code, reason);
    if (!this.#readableDone) {
      this.#readableDone = true;
      this.#readable?.error(error);
    }
    this.#writable?.error(writeError ?? error);
    this.#pendingClose?.reject(error);
    this.#closed.reject(error);
  }
}

Object.defineProperty(WebSocketStream.prototype, Symbol.toStringTag, { value: 'WebSocketStream', configurable: true });

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** A promise with its settle functions, marked handled (see the module comment). */
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(noop);
  return { promise, resolve, reject };
}

function noop(): void {}

/** The WebIDL conversion and the validation of a WebSocketCloseInfo. */
function toCloseInfo(init: unknown): { code: number | null; reason: string } {
  if (init === null || init === undefined) init = {};
  if (typeof init !== 'object' && typeof init !== 'function') throw new TypeError('The close info must be an object ({ closeCode, reason })');
  const { closeCode, reason: rawReason } = init as WebSocketCloseInfo;
  let code: number | null = null;
  if (closeCode !== undefined) {
    const n = Number(closeCode);
    // unsigned short, [EnforceRange]
    if (!Number.isFinite(n) || Math.trunc(n) < 0 || Math.trunc(n) > 65535) throw new TypeError(`closeCode ${String(closeCode)} is outside the range of an unsigned short`);
    code = Math.trunc(n);
    if (code !== 1000 && (code < 3000 || code > 4999)) {
      throw new DOMException(`The close code must be 1000 or in 3000-4999, got ${code}`, 'InvalidAccessError');
    }
  }
  const reason = rawReason === undefined ? '' : usv(String(rawReason));
  if (Buffer.byteLength(reason) > 123) throw new DOMException('The close reason must be at most 123 UTF-8 bytes', 'SyntaxError');
  if (code === null && reason !== '') code = 1000;
  return { code, reason };
}

/** A WebIDL sequence<USVString>: any iterable object; a string or other primitive is a TypeError. */
function sequence(value: unknown): string[] {
  if (value === undefined) return [];
  if (value === null || (typeof value !== 'object' && typeof value !== 'function') || typeof (value as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new TypeError("Failed to construct 'WebSocketStream': The provided value cannot be converted to a sequence.");
  }
  return Array.from(value as Iterable<unknown>, (item) => usv(String(item)));
}

function isShared(buffer: unknown): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer;
}

function isResizable(buffer: ArrayBufferLike): boolean {
  return (buffer as { resizable?: boolean }).resizable === true || (buffer as { growable?: boolean }).growable === true;
}

/** A USVString: lone surrogates become U+FFFD (the reason is sent as UTF-8). */
function usv(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}
