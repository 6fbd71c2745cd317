/**
 * Tornado-style WebSocket handlers: subclass `WebSocketHandler`, override `open`, `onMessage`, `onClose`,
 * keep per-connection state in fields. The App creates one handler per connection.
 */
import type { IncomingMessage } from 'node:http';
import { isOriginAllowed } from '../server/origin.js';
import type { PreparedMessage } from '../connection/fanout.js';
import type { WebSocket } from '../connection/websocket.js';
import type { PublishMeta, Subscriber } from './broker.js';

/** @internal What a handler needs from the App that accepted it. */
export interface HandlerHost {
  /** False once the App is shutting down: new messages are no longer handed to handlers. */
  readonly acceptingMessages: boolean;
  /** Frames a paused handler may have queued (already parsed) before it is closed as abusive. */
  readonly maxQueuedMessages: number;
  taskStarted(): void;
  taskSettled(): void;
  reportError(error: unknown, context: string): void;
}

/** @internal Hands the accepted connection to its handler (not exported from the package). */
export const ATTACH = Symbol('wireroom.attach');

const OPEN = 1;

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * One WebSocket connection, seen the way Tornado's `WebSocketHandler` shows it.
 *
 * Ordering guarantees: `open()` settles before the first `onMessage()`; an async `onMessage()` settles
 * before the next one starts (reading from the socket is paused meanwhile, so a slow handler pushes back
 * on its client instead of buffering); `onClose()` runs exactly once, after whatever was in progress has
 * settled, and nothing runs after it.
 */
export abstract class WebSocketHandler<I = unknown> implements Subscriber {
  /** The HTTP upgrade request (headers, url, socket). */
  readonly request: IncomingMessage;
  /** Capture groups of the route pattern. */
  readonly params: readonly string[];

  private ws: WebSocket | undefined;
  private host: HandlerHost | undefined;
  private busy = false;
  private readonly inbox: Array<{ data: Buffer; isBinary: boolean }> = [];
  private closedWith: { code: number; reason: string } | undefined;
  private onCloseDone = false;

  constructor(request: IncomingMessage, params: readonly string[] = []) {
    this.request = request;
    this.params = params;
  }

  // ------------------------------------------------------------------ to override

  /**
   * Whether a browser page from `origin` may connect; called before the handshake is accepted.
   * Default: same origin only (the Origin's host equals the Host header); no Origin (a non-browser client) is allowed.
   */
  checkOrigin(origin: string | undefined): boolean {
    return isOriginAllowed('same-origin', origin, this.request.headers.host, this.request);
  }

  /** The connection is open. May be async: messages wait until it settles. */
  open(): void | Promise<void> {}

  /** A message arrived: text as a string, binary as a Buffer. May be async: reading pauses until it settles. */
  abstract onMessage(data: string | Buffer, isBinary: boolean): void | Promise<void>;

  /** The connection is closed (`code` 1005 when the peer gave none, 1006 when it vanished). */
  onClose(_code: number, _reason: string): void {}

  /** Broker delivery: by default every message of a subscribed topic is sent as it is. */
  deliver(_topic: string, frame: PreparedMessage, _meta: PublishMeta): void {
    this.sendPrepared(frame);
  }

  // ------------------------------------------------------------------ to call

  /** Sends a string as a text frame, anything else as JSON text. Returns false when not sent (closed) or over the high-water mark. */
  send(message: string | object): boolean {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== OPEN) return false;
    return ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Sends a frame prepared once for many connections (`prepareMessage`). */
  sendPrepared(frame: PreparedMessage): boolean {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== OPEN) return false;
    return ws.sendPrepared(frame);
  }

  /** Starts the closing handshake. */
  close(code = 1000, reason = ''): void {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== OPEN) return;
    try {
      ws.close(code, reason);
    } catch {
      ws.close(1000);
    }
  }

  /** True while the connection is open. */
  get isOpen(): boolean {
    return this.ws !== undefined && this.ws.readyState === OPEN;
  }

  /**
   * Who is connected: the answer of the route's (or App's) `identify` hook, set before `open()`. `undefined`
   * without a hook, and in the constructor (the hook runs after the factory).
   */
  get identity(): I {
    return this.ws?.identity as I;
  }

  /** The underlying connection (for what the handler API does not cover: ping, latency, bufferedAmount). */
  get connection(): WebSocket {
    if (this.ws === undefined) throw new Error('the handler is not attached to a connection yet');
    return this.ws;
  }

  // ------------------------------------------------------------------ plumbing

  /** @internal */
  [ATTACH](ws: WebSocket, host: HandlerHost): void {
    this.ws = ws;
    this.host = host;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.received(data, isBinary));
    ws.on('close', (code: number, reason: string) => this.closed(code, reason));
    ws.on('error', () => {
      // 'close' always follows; the close code tells the handler what happened.
    });
    this.run(() => this.open(), 'open');
  }

  private received(data: Buffer, isBinary: boolean): void {
    const host = this.host as HandlerHost;
    if (this.closedWith !== undefined || !host.acceptingMessages) return;
    if (this.busy) {
      // Frames parsed from a chunk read before the pause took effect; bounded.
      if (this.inbox.length >= host.maxQueuedMessages) {
        this.close(1008, 'too many messages in flight');
        return;
      }
      this.inbox.push({ data, isBinary });
      return;
    }
    this.dispatch(data, isBinary);
  }

  private dispatch(data: Buffer, isBinary: boolean): void {
    this.run(() => this.onMessage(isBinary ? data : data.toString('utf8'), isBinary), 'onMessage');
  }

  /** Runs a user callback; when it returns a promise, holds further input until it settles. */
  private run(callback: () => unknown, context: string): void {
    let result: unknown;
    try {
      result = callback();
    } catch (err) {
      this.failed(err, context);
      return;
    }
    if (!isPromiseLike(result)) return;
    const host = this.host as HandlerHost;
    this.busy = true;
    host.taskStarted();
    this.ws?.pause();
    result.then(
      () => this.settled(),
      (err: unknown) => {
        this.failed(err, context);
        this.settled();
      },
    );
  }

  private settled(): void {
    this.busy = false;
    (this.host as HandlerHost).taskSettled();
    while (!this.busy && this.inbox.length > 0 && this.closedWith === undefined && (this.host as HandlerHost).acceptingMessages) {
      const next = this.inbox.shift() as { data: Buffer; isBinary: boolean };
      this.dispatch(next.data, next.isBinary);
    }
    if (this.busy) return;
    if (this.closedWith !== undefined) this.finish();
    else this.ws?.resume();
  }

  private failed(err: unknown, context: string): void {
    (this.host as HandlerHost).reportError(err, `WebSocketHandler.${context}`);
    this.close(1011, 'internal error');
  }

  private closed(code: number, reason: string): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = { code, reason };
    this.inbox.length = 0;
    if (!this.busy) this.finish();
  }

  private finish(): void {
    if (this.onCloseDone || this.closedWith === undefined) return;
    this.onCloseDone = true;
    try {
      this.onClose(this.closedWith.code, this.closedWith.reason);
    } catch (err) {
      (this.host as HandlerHost).reportError(err, 'WebSocketHandler.onClose');
    }
  }
}
