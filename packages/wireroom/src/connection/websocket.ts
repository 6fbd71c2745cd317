/**
 * The WebSocket connection: drives one protocol core over one byte transport, and only moves bytes. The same
 * class serves both sides (server connections are made by WebSocketServer, client connections by `connect()`).
 *
 * The core decides and accounts every outbound frame and holds the close state; this class adds what needs
 * an event loop: the coalesced write once per turn (flush-scheduler), pausing the transport while the core
 * holds input, compression on zlib's thread pool (its place in the send order is a PendingFrame in the core),
 * the close timer, and the events.
 *
 * Data path: transport 'data' -> core.receive() -> CoreEvents -> 'message' events.
 * Outbound: send() -> core (framed, accounted, ordered) -> onOutputReady -> flush -> transport.write().
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { CloseCode } from '../protocol/constants.js';
import { ErrorCodes, ProtocolError, WireroomError } from '../protocol/errors.js';
import { buildClosePayload } from '../protocol/close-frame.js';
import { ReadyState, WebSocketProtocol, type ProtocolHandler, type ReadyStateValue, type Role } from '../protocol/protocol.js';
import { PendingFrame, SendStatus, type SendStatusValue } from '../protocol/outbound.js';
import { PerMessageDeflate } from '../compression/permessage-deflate.js';
import { scheduleFlush } from './flush-scheduler.js';
import { PreparedMessage, toBuffer } from './fanout.js';
import { resolveConnectionOptions, type ResolvedConnectionOptions } from './options.js';
import { abortTransport, peerAddress, writeFrames, type Transport } from './transport.js';
import { WhatwgEvents } from './whatwg-events.js';

export { CONNECTION_DEFAULTS, resolveConnectionOptions, type BackpressurePolicy, type ConnectionOptions, type ResolvedConnectionOptions } from './options.js';

export interface SendOptions {
  /** Send as binary (default: strings and numbers as text, everything else as binary). */
  binary?: boolean;
  /** Compress this message when permessage-deflate is negotiated (default true; the threshold still applies). */
  compress?: boolean;
  /** Split the message into frames of at most this many bytes (default: one frame). */
  fragmentSize?: number;
  /** ws's option: only `true` (the default) is supported; `false` (a message sent over several calls) throws. */
  fin?: boolean;
  /** ws's option: must match the role (clients mask, servers do not) when given; anything else throws. */
  mask?: boolean;
}

/** Called once the message has been written to the transport, or with the error that prevented it (as ws). */
export type SendCallback = (error?: Error) => void;

/**
 * @internal How `new WebSocket(address, ...)` connects: installed by the client module (src/client/connect.ts),
 * which sits above this layer. Without it (the class imported on its own) the constructor refuses an address.
 */
export type ClientConnector = (ws: WebSocket, address: string | URL, protocols: unknown, options: unknown) => void;
let clientConnector: ClientConnector | null = null;

/** @internal */
export function setClientConnector(connector: ClientConnector): void {
  clientConnector = connector;
}

const DEFAULT_RESOLVED = resolveConnectionOptions({});

/** @internal Everything a WebSocket needs to start on an upgraded transport. */
export interface AttachOptions {
  role: Role;
  protocol: string;
  extensions: string;
  deflate: PerMessageDeflate | null;
  connection: ResolvedConnectionOptions;
}

const EMPTY = Buffer.alloc(0);

// Connection flags, packed in one integer (`bits`): 10,000 idle connections hold one field each.
const TRANSPORT_CLOSED = 1;
const CLOSE_EMITTED = 2;
const END_AFTER_FLUSH = 4; // end the transport once our close frame is written
const DRAIN_WATCHED = 8; // listening to the transport's 'drain'
const NEED_DRAIN = 16; // a send() returned false: 'drain' is owed
const USER_PAUSED = 32; // reasons to pause the core: pause(), decompression in progress
const INFLATING = 64;
const TRANSPORT_PAUSED = 128;
const MESSAGE_SEEN = 256; // a message arrived since the sweeper last looked (idle timeout)
const ARRAYBUFFER = 512; // binaryType 'arraybuffer'

/**
 * A WebSocket connection. EventEmitter events: 'open', 'message' (data: Buffer, isBinary), 'ping', 'pong',
 * 'close' (code, reason, wasClean), 'error' (WireroomError), 'drain'. The WHATWG style (`onmessage`,
 * `addEventListener('message', e => e.data)`) works too; there text arrives as a string.
 */
export class WebSocket extends EventEmitter {
  static readonly CONNECTING = ReadyState.CONNECTING;
  static readonly OPEN = ReadyState.OPEN;
  static readonly CLOSING = ReadyState.CLOSING;
  static readonly CLOSED = ReadyState.CLOSED;
  // On the prototype (defined below the class), not on every instance.
  declare readonly CONNECTING: typeof ReadyState.CONNECTING;
  declare readonly OPEN: typeof ReadyState.OPEN;
  declare readonly CLOSING: typeof ReadyState.CLOSING;
  declare readonly CLOSED: typeof ReadyState.CLOSED;

  /** Negotiated subprotocol, or ''. */
  protocol = '';
  /** Negotiated Sec-WebSocket-Extensions value, or ''. */
  extensions = '';
  /** The URL (client side) or request path (server side). */
  url = '';
  /**
   * Server side: what the server's `identify` hook answered for this connection (set before 'connection' is
   * emitted); `undefined` without a hook, and on the client side.
   */
  identity: unknown = undefined;
  /** Round-trip time of the last heartbeat ping, in ms. */
  latency: number | undefined = undefined;
  /** Messages discarded by the 'drop' backpressure policy. */
  droppedMessages = 0;

  private transport: Transport | null = null;
  private core: WebSocketProtocol | null = null;
  private deflate: PerMessageDeflate | null = null;
  private options: ResolvedConnectionOptions = DEFAULT_RESOLVED;
  /** The flags above (NEED_DRAIN, USER_PAUSED, ...). */
  private bits = 0;
  /** @internal Flushable */
  flushScheduled = false;
  private closeTimer: NodeJS.Timeout | null = null;

  // heartbeat (driven by a ConnectionSweeper: the server's, or the client's own)
  /** @internal performance.now() when the outstanding heartbeat ping was sent, or 0. */
  pingSentAt = 0;
  /** @internal When the last heartbeat ping was sent. */
  _lastPingAt = 0;
  /** @internal Sweeper ticks without a message. */
  _idleTicks = 0;
  /** @internal Called once when the connection closes, before the 'close' event (the server forgets it). */
  _onClosed: ((ws: WebSocket) => void) | null = null;

  private whatwg: WhatwgEvents | null = null;
  /** send() callbacks waiting for their bytes to reach the transport (null when none wait). */
  private sendCallbacks: SendCallback[] | null = null;
  /** @internal Aborts a connection attempt in progress (set by the client while connecting). */
  _abortConnect: ((code: number, reason: string) => void) | null = null;

  /** 'nodebuffer' (default) or 'arraybuffer': the type of binary `data` in WHATWG message events. */
  get binaryType(): 'nodebuffer' | 'arraybuffer' {
    return (this.bits & ARRAYBUFFER) !== 0 ? 'arraybuffer' : 'nodebuffer';
  }

  set binaryType(type: 'nodebuffer' | 'arraybuffer') {
    if (type === 'arraybuffer') this.bits |= ARRAYBUFFER;
    else if (type === 'nodebuffer') this.bits &= ~ARRAYBUFFER;
  }

  /** @internal A message arrived since the sweeper last looked (idle timeout). */
  get _messageSeen(): boolean {
    return (this.bits & MESSAGE_SEEN) !== 0;
  }

  /** @internal */
  set _messageSeen(seen: boolean) {
    this.bits = seen ? this.bits | MESSAGE_SEEN : this.bits & ~MESSAGE_SEEN;
  }

  /**
   * `new WebSocket()` makes a connection object for a server or `connect()` to attach. `new WebSocket(address,
   * protocols?, options?)` connects to `address` as ws does: 'open' (or 'error' then 'close' 1006) comes on a
   * later tick. `protocols` is a string or an array and may be left out; `options` are `connect()`'s, plus
   * ws's client options (see docs/migrating-from-ws.md).
   */
  constructor(address?: string | URL, protocols?: string | readonly string[] | object, options?: object) {
    super();
    // EventEmitter keeps the listeners in a `{ __proto__: null }` object, which V8 stores as a dictionary
    // (~200 bytes per connection). An instance of a class whose prototype has a null prototype answers the same
    // look-ups (no inherited names) in fast mode, at a fraction of the size. Node's own events.js did this before.
    (this as unknown as { _events: object })._events = new ListenerTableClass();
    if (address !== undefined && address !== null) {
      if (clientConnector === null) throw new WireroomError(ErrorCodes.INVALID_STATE, 'The client is not loaded: import WebSocket from the package (wireroom), not from its connection module');
      clientConnector(this, address, protocols, options);
    }
  }

  private is(flag: number): boolean {
    return (this.bits & flag) !== 0;
  }

  /** CONNECTING until the handshake completes, OPEN, CLOSING once a close frame is queued or received, CLOSED when the transport is closed. */
  get readyState(): ReadyStateValue {
    if ((this.bits & TRANSPORT_CLOSED) !== 0) return ReadyState.CLOSED;
    const core = this.core;
    if (core === null) return ReadyState.CONNECTING;
    return core.canSend ? ReadyState.OPEN : ReadyState.CLOSING;
  }

  /** Bytes accepted for sending and not yet handed to the kernel (compressions in progress included). */
  get bufferedAmount(): number {
    return this.core === null ? 0 : this.core.bufferedAmount;
  }

  get remoteAddress(): string | undefined {
    return peerAddress(this.transport).address;
  }

  get remotePort(): number | undefined {
    return peerAddress(this.transport).port;
  }

  /** @internal Starts the connection on a transport whose handshake is complete (reading starts with `_startReading`). */
  _attach(transport: Transport, options: AttachOptions): void {
    this.transport = transport;
    this.protocol = options.protocol;
    this.extensions = options.extensions;
    this.deflate = options.deflate;
    this.options = options.connection;
    this.core = new WebSocketProtocol(new CoreEvents(this), {
      role: options.role,
      compressionNegotiated: this.deflate !== null,
      limits: options.connection.limits,
      outbound: options.connection.outbound,
    });

    // Servers and connect() set TCP_NODELAY when the socket is created; not again here (a syscall each).
    const s = transport as Socket;
    if (s.timeout) s.setTimeout(0); // an HTTP server's idle timeout must not cut a WebSocket
    transport.on('data', onTransportData);
    transport.on('close', onTransportClose);
    transport.on('error', onTransportError);
    // Transports that allow half-open TCP (http.Server's sockets) do not end themselves when the peer does.
    if (transport.allowHalfOpen) transport.on('end', onTransportEnd);
    (transport as TransportWithOwner)[OWNER] = this;
    this.emit('open');
  }

  /**
   * @internal Starts reading, once the application has had the chance to add its listeners: `head`, the bytes
   * that came with the handshake, is parsed first, then the transport flows.
   */
  _startReading(head: Buffer): void {
    const core = this.core;
    if (core === null) return;
    if (head.length > 0) core.receive(head);
    if (core.inputHeld) this.syncReading();
    else this.transport?.resume();
  }

  // ------------------------------------------------------------------------------------------- sending

  /**
   * Sends a message: strings as text, Buffer / ArrayBuffer / typed arrays as binary (override with `binary`).
   * Returns false when the outbound buffer is above the high-water mark (wait for 'drain'), or when the message
   * was not queued (connection not open, or dropped by the backpressure policy: see `droppedMessages`).
   * Throws WireroomError(WS_ERR_INVALID_STATE) before the connection is open, never after: sending on a
   * closing or closed connection is reported with an 'error' event (if listened to) and returns false.
   */
  send(data: string | number | Buffer | ArrayBuffer | ArrayBufferView, callback?: SendCallback): boolean;
  send(data: string | number | Buffer | ArrayBuffer | ArrayBufferView, options?: SendOptions, callback?: SendCallback): boolean;
  send(data: string | number | Buffer | ArrayBuffer | ArrayBufferView, options?: SendOptions | SendCallback, callback?: SendCallback): boolean {
    if (typeof options === 'function') {
      callback = options;
      options = undefined;
    }
    if (typeof data === 'number') data = String(data); // ws sends numbers as text
    const core = this.core;
    if (core === null || !core.canSend || this.is(TRANSPORT_CLOSED)) return this.sendRefused(callback);
    const isString = typeof data === 'string';
    if (!isString && !Buffer.isBuffer(data) && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'send() takes a string, number, Buffer, ArrayBuffer or typed array');
    }
    if (options !== undefined) checkWsSendOptions(options, core.masksOutput);
    const binary = options?.binary ?? !isString;
    const fragmentSize = options?.fragmentSize ?? 0;
    let status: SendStatusValue;
    if (this.deflate !== null && options?.compress !== false) {
      const payload = toBuffer(data);
      status = this.deflate.shouldCompress(payload.length) ? this.compressAndSend(payload, binary) : core.send(payload, binary, fragmentSize);
    } else if (isString && !binary && fragmentSize <= 0) status = core.sendText(data as string);
    else status = core.send(toBuffer(data as string | Buffer), binary, fragmentSize);
    if (callback !== undefined) this.afterWrite(status, callback);
    return this.sendResult(status);
  }

  /** Calls `callback` once what was queued so far has been written, or at once with the reason it was not queued. */
  private afterWrite(status: SendStatusValue, callback: SendCallback): void {
    if (status >= SendStatus.DROPPED) {
      const error = new WireroomError(ErrorCodes.INVALID_STATE, status === SendStatus.DROPPED ? 'Message dropped by the backpressure policy' : 'Message not sent: the connection is failing');
      process.nextTick(callback, error);
      return;
    }
    (this.sendCallbacks ??= []).push(callback);
  }

  /** Sends a message framed once by `prepareMessage()` (the same bytes for every recipient; see fanout.ts). */
  sendPrepared(message: PreparedMessage): boolean {
    const core = this.core;
    if (core === null || !core.canSend || this.is(TRANSPORT_CLOSED)) return this.sendRefused();
    return this.sendResult(this.deliverStatus(message, true));
  }

  /** @internal Fan-out delivery (no error event when closed). Returns whether the message was queued. */
  _deliver(message: PreparedMessage, compress: boolean): boolean {
    const core = this.core;
    if (core === null || !core.canSend || this.is(TRANSPORT_CLOSED)) return false;
    const status = this.deliverStatus(message, compress);
    this.sendResult(status);
    return status < SendStatus.DROPPED;
  }

  private deliverStatus(message: PreparedMessage, compress: boolean): SendStatusValue {
    const core = this.core!;
    const deflate = this.deflate;
    if (deflate !== null && compress && deflate.shouldCompress(message.payload.length)) {
      const params = deflate.params;
      if (core.role === 'server' && params.serverNoContextTakeover) {
        // No context to keep: one compression per window size serves every such recipient.
        const shared = message._compressedFor(params.serverMaxWindowBits, deflate.options);
        const pending = new PendingFrame(message.payload.length, message.binary);
        const status = core.sendPending(pending);
        if (status < SendStatus.DROPPED) shared.onReady(() => core.completePendingFrame(pending, shared.frame));
        return status;
      }
      return this.compressAndSend(message.payload, message.binary);
    }
    if (core.masksOutput) return core.send(message.payload, message.binary);
    return core.sendFrame(message.frame);
  }

  /** Compresses with this connection's context; the message holds its place in the send order meanwhile. */
  private compressAndSend(payload: Buffer, binary: boolean): SendStatusValue {
    const core = this.core!;
    const pending = new PendingFrame(payload.length, binary);
    const status = core.sendPending(pending);
    if (status >= SendStatus.DROPPED) return status;
    this.deflate!.compress(payload, (error, compressed) => {
      if (pending.cancelled) return;
      if (error || compressed === undefined) {
        core.failWith(new ProtocolError(ErrorCodes.COMPRESSION_FAILED, CloseCode.INTERNAL_ERROR, 'compression failed'));
        return;
      }
      core.completePending(pending, compressed);
    });
    return status;
  }

  private sendResult(status: SendStatusValue): boolean {
    if (status === SendStatus.QUEUED) return true;
    if (status === SendStatus.ABOVE_HIGH_WATER_MARK) {
      this.bits |= NEED_DRAIN;
      this.watchDrain();
    } else if (status === SendStatus.DROPPED) {
      this.droppedMessages++;
    }
    return false;
  }

  /** Sends a ping (payload at most 125 bytes). */
  ping(data?: string | Buffer): void {
    const core = this.core;
    if (core === null || !core.canSend || this.is(TRANSPORT_CLOSED)) return void this.sendRefused();
    this.sendResult(core.ping(data === undefined ? EMPTY : toBuffer(data)));
  }

  /** Sends an unsolicited pong (payload at most 125 bytes). Pings are answered automatically. */
  pong(data?: string | Buffer): void {
    const core = this.core;
    if (core === null || !core.canSend || this.is(TRANSPORT_CLOSED)) return void this.sendRefused();
    this.sendResult(core.pong(data === undefined ? EMPTY : toBuffer(data)));
  }

  /** @internal Heartbeat ping carrying no payload; latency is measured on the pong. */
  _heartbeatPing(now: number): void {
    const core = this.core;
    if (core === null || !core.canSend) return;
    this.pingSentAt = now;
    this._lastPingAt = now;
    core.ping(EMPTY);
  }

  /** @internal The heartbeat pong did not come back in time. */
  _heartbeatTimeout(): void {
    this.core?.failWith(new ProtocolError(ErrorCodes.HEARTBEAT_TIMEOUT, CloseCode.INTERNAL_ERROR, 'keepalive ping timeout'));
  }

  private sendRefused(callback?: SendCallback): false {
    if (this.readyState === ReadyState.CONNECTING) {
      throw new WireroomError(ErrorCodes.INVALID_STATE, 'WebSocket is not open yet');
    }
    const error = new WireroomError(ErrorCodes.INVALID_STATE, 'WebSocket is closing or closed: message not sent');
    // With a callback the error goes there only, as in ws; without one, to 'error' listeners if any.
    if (callback !== undefined) process.nextTick(callback, error);
    else this.emitError(error);
    return false;
  }

  /** @internal Writes what the core has ready with as few writes as possible (called by the flush scheduler). */
  flush(): void {
    const core = this.core;
    const transport = this.transport;
    if (core === null || transport === null) return;
    const frames = core.takeOutput();
    if (transport.destroyed) return;
    // send() callbacks are due once every message queued before them has been handed to the transport.
    const callbacks = this.sendCallbacks !== null && !core.hasQueuedOutput ? this.takeSendCallbacks() : null;
    if (frames !== null) writeFrames(transport, frames, callbacks === null ? undefined : (error) => runSendCallbacks(callbacks, error));
    else if (callbacks !== null) process.nextTick(runSendCallbacks, callbacks, null);
    if (this.is(END_AFTER_FLUSH) && core.closeSent && !core.hasQueuedOutput) {
      this.endTransport();
      return;
    }
    if (transport.writableNeedDrain) {
      // The peer is not keeping up: hold input until 'drain', so what it sends waits in the kernel.
      core.outputBlocked();
      this.syncReading();
      this.watchDrain();
      return;
    }
    // The transport emits 'drain' only after a write that returned false: below its own high-water mark (ours
    // may be lower) no 'drain' would come, so progress is reported once this write has been handed over, when
    // someone waits for it (a 'drain' is owed, or input is held): not after every flush of the hot path.
    if (this.is(NEED_DRAIN) || core.inputHeld) process.nextTick(onWrittenWithoutBackpressure, this);
  }

  /** Listens for the transport's 'drain' only once backpressure has been seen (one listener less per idle connection). */
  private watchDrain(): void {
    if (this.is(DRAIN_WATCHED) || this.transport === null) return;
    this.bits |= DRAIN_WATCHED;
    this.transport.on('drain', onTransportDrain);
  }

  /** @internal The transport took what it was given: held input is read again, and an owed 'drain' is emitted. */
  _onTransportDrain(): void {
    const core = this.core;
    if (core === null || core.hasQueuedOutput) return; // the next flush reports progress
    core.outputWritten();
    this.syncReading();
    if (this.is(NEED_DRAIN) && core.bufferedAmount < core.outbound.highWaterMark) {
      this.bits &= ~NEED_DRAIN;
      this.emit('drain');
    }
  }

  // ------------------------------------------------------------------------------------------- receiving

  /** Stops reading from the peer (inbound backpressure); 'message' events stop until resume(). */
  pause(): void {
    this.bits |= USER_PAUSED;
    this.core?.pause();
    this.syncReading();
  }

  resume(): void {
    this.bits &= ~USER_PAUSED;
    if (!this.is(INFLATING)) this.core?.resume();
    this.syncReading();
  }

  get isPaused(): boolean {
    return this.is(USER_PAUSED);
  }

  /** Pauses the transport while the core holds input (paused, or output at its high-water mark), resumes it after. */
  private syncReading(): void {
    const core = this.core;
    const transport = this.transport;
    if (core === null || transport === null) return;
    if (core.inputHeld) {
      if (!this.is(TRANSPORT_PAUSED)) {
        this.bits |= TRANSPORT_PAUSED;
        transport.pause();
      }
    } else if (this.is(TRANSPORT_PAUSED)) {
      this.bits &= ~TRANSPORT_PAUSED;
      transport.resume();
    }
  }

  /** @internal */
  _onData(chunk: Buffer): void {
    const core = this.core!;
    core.receive(chunk);
    if (core.inputHeld && !this.is(TRANSPORT_PAUSED)) this.syncReading();
  }

  /** @internal */
  _onCompressedFrame(payload: Buffer, fin: boolean, isBinary: boolean): void {
    const deflate = this.deflate;
    const core = this.core!;
    if (deflate === null) return;
    this.bits |= INFLATING;
    core.pause();
    this.syncReading();
    deflate.decompress(payload, fin, core.limits.maxMessageSize, (error, message) => {
      if (core.inputClosed) return;
      this.bits &= ~INFLATING;
      if (error) {
        // The core stops parsing; the transport must flow again so the peer's close frame is read (and
        // discarded), or the closing handshake would wait for ever.
        core.failWith(error);
        this.syncReading();
        return;
      }
      if (fin && message !== undefined) core.receiveDecompressed(message, isBinary);
      if (!this.is(USER_PAUSED)) core.resume();
      this.syncReading();
    });
  }

  /** @internal */
  _emitMessage(data: Buffer, isBinary: boolean): void {
    this.bits |= MESSAGE_SEEN;
    this.emit('message', data, isBinary);
  }

  // ------------------------------------------------------------------------------------------- closing

  /**
   * Starts the closing handshake. `code` must be 1000, 1001-1003, 1007-1014 or 3000-4999 and the reason at
   * most 123 UTF-8 bytes: anything else throws WireroomError(WS_ERR_INVALID_ARGUMENT) and sends nothing.
   * Messages sent before close() go out before the close frame, compressed or not. The 'close' event follows
   * when the peer answers, or after `closeTimeout` if it never does.
   */
  close(code?: number, reason?: string): void {
    buildClosePayload(code, reason); // validate first: misuse throws whatever the state
    const core = this.core;
    if (this.readyState === ReadyState.CONNECTING) {
      this._abortConnecting(code ?? CloseCode.ABNORMAL, reason ?? '');
      return;
    }
    if (core === null || !core.canSend || this.is(TRANSPORT_CLOSED)) return;
    core.close(code, reason);
    this.startCloseTimer();
  }

  /** Destroys the connection at once, without a closing handshake (close code 1006). */
  terminate(): void {
    if (this.readyState === ReadyState.CLOSED) return;
    if (this.core === null) {
      this._abortConnecting(CloseCode.ABNORMAL, '');
      return;
    }
    this.core.abort();
    if (this.transport !== null) abortTransport(this.transport);
  }

  /** @internal Cancels a connection attempt: the client's socket is destroyed, then 'close' is emitted. */
  _abortConnecting(code: number, reason: string): void {
    const abort = this._abortConnect;
    this._abortConnect = null;
    abort?.(code, reason);
    this.bits |= TRANSPORT_CLOSED;
    this.emitClose(code, reason, false);
  }

  private takeSendCallbacks(): SendCallback[] {
    const callbacks = this.sendCallbacks!;
    this.sendCallbacks = null;
    return callbacks;
  }

  private startCloseTimer(): void {
    if (this.closeTimer !== null) return;
    this.closeTimer = setTimeout(onCloseTimeout, this.options.closeTimeout, this);
    this.closeTimer.unref?.();
  }

  /** @internal The peer did not complete the closing handshake in time. */
  _onCloseTimeout(): void {
    this.closeTimer = null;
    if (this.transport !== null) abortTransport(this.transport);
  }

  /** @internal The core saw the peer's close frame (its reply, if due, is queued behind what we accepted). */
  _onPeerClose(): void {
    this.startCloseTimer();
    // The server closes TCP first (RFC 6455 7.1.1); the client waits for it (the close timer bounds the wait).
    if (this.core?.role === 'server') this.endWhenFlushed();
  }

  /** @internal The core failed the connection (its close frame is queued): close TCP once it is written. */
  _onProtocolError(error: ProtocolError): void {
    this.emitError(error);
    this.startCloseTimer();
    this.endWhenFlushed();
  }

  private endWhenFlushed(): void {
    this.bits |= END_AFTER_FLUSH;
    const core = this.core;
    if (core !== null && core.closeSent && !core.hasQueuedOutput) this.endTransport();
  }

  private endTransport(): void {
    const transport = this.transport;
    if (transport !== null && !transport.destroyed && transport.writable) transport.end();
  }

  /** @internal The peer ended its side of TCP: end ours. */
  _onTransportEnd(): void {
    this.endTransport();
  }

  /** @internal */
  _onTransportClose(): void {
    if (this.closeTimer !== null) {
      clearTimeout(this.closeTimer);
      this.closeTimer = null;
    }
    this.bits |= TRANSPORT_CLOSED;
    this.deflate?.close();
    if (this.sendCallbacks !== null) {
      runSendCallbacks(this.takeSendCallbacks(), new WireroomError(ErrorCodes.INVALID_STATE, 'The connection closed before the message was written'));
    }
    const core = this.core;
    if (core === null) return;
    const clean = core.closeSent && core.closeReceived;
    const code = clean || core.closeCode !== CloseCode.ABNORMAL ? core.closeCode : CloseCode.ABNORMAL;
    const reason = core.closeReason;
    core.abort();
    this.emitClose(code, reason, clean);
  }

  private emitClose(code: number, reason: string, wasClean: boolean): void {
    if (this.is(CLOSE_EMITTED)) return;
    this.bits |= CLOSE_EMITTED;
    const onClosed = this._onClosed;
    if (onClosed !== null) {
      this._onClosed = null;
      onClosed(this);
    }
    this.emit('close', code, reason, wasClean);
  }

  /** Emits 'error' only when someone listens: a connection's error must never crash the process. */
  emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  /** @internal For the transport listeners. */
  _transportBuffered(): number {
    const transport = this.transport;
    return transport === null ? 0 : transport.writableLength;
  }

  // ------------------------------------------------------------------------------------------- WHATWG style

  addEventListener(type: string, listener: WhatwgListener, options?: { once?: boolean }): void {
    (this.whatwg ??= new WhatwgEvents(this)).add(type, listener, options?.once === true);
  }

  removeEventListener(type: string, listener: WhatwgListener): void {
    this.whatwg?.remove(type, listener);
  }

  get onopen(): WhatwgListener | null { return this.whatwg?.getHandler('open') ?? null; }
  set onopen(fn: WhatwgListener | null) { (this.whatwg ??= new WhatwgEvents(this)).setHandler('open', fn); }
  get onmessage(): WhatwgListener | null { return this.whatwg?.getHandler('message') ?? null; }
  set onmessage(fn: WhatwgListener | null) { (this.whatwg ??= new WhatwgEvents(this)).setHandler('message', fn); }
  get onclose(): WhatwgListener | null { return this.whatwg?.getHandler('close') ?? null; }
  set onclose(fn: WhatwgListener | null) { (this.whatwg ??= new WhatwgEvents(this)).setHandler('close', fn); }
  get onerror(): WhatwgListener | null { return this.whatwg?.getHandler('error') ?? null; }
  set onerror(fn: WhatwgListener | null) { (this.whatwg ??= new WhatwgEvents(this)).setHandler('error', fn); }
}

Object.defineProperties(WebSocket.prototype, {
  CONNECTING: { value: ReadyState.CONNECTING, enumerable: true },
  OPEN: { value: ReadyState.OPEN, enumerable: true },
  CLOSING: { value: ReadyState.CLOSING, enumerable: true },
  CLOSED: { value: ReadyState.CLOSED, enumerable: true },
});

function runSendCallbacks(callbacks: SendCallback[], error: Error | null | undefined): void {
  for (const callback of callbacks) {
    if (error) callback(error);
    else callback();
  }
}

/** ws's `fin` and `mask` send options: accepted where they describe what we do anyway, refused otherwise. */
function checkWsSendOptions(options: SendOptions, masks: boolean): void {
  if (options.fin === false) {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'send() with fin: false (one message over several calls) is not supported; use fragmentSize to send a message in several frames');
  }
  if (options.mask !== undefined && options.mask !== masks) {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `send() with mask: ${options.mask} is not supported: ${masks ? 'clients must mask' : 'servers must not mask'} (RFC 6455 5.1)`);
  }
}

/** A WHATWG-style listener: receives an event object ({ type, data } / { code, reason, wasClean } / { error }). */
export type WhatwgListener = (event: any) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The EventEmitter listener table of a WebSocket (see the constructor). */
function ListenerTable(): void {}
ListenerTable.prototype = Object.create(null);
const ListenerTableClass = ListenerTable as unknown as new () => object;

const OWNER = Symbol('wireroom.websocket');
type TransportWithOwner = Transport & { [OWNER]?: WebSocket };

// Transport listeners are shared functions (no closure per connection): `this` is the transport.
function owner(transport: Transport): WebSocket | undefined {
  return (transport as TransportWithOwner)[OWNER];
}
function onTransportData(this: Transport, chunk: Buffer): void {
  owner(this)?._onData(chunk);
}
function onTransportEnd(this: Transport): void {
  owner(this)?._onTransportEnd();
}
function onTransportClose(this: Transport): void {
  owner(this)?._onTransportClose();
}
function onTransportError(this: Transport): void {
  // ECONNRESET and friends: the 'close' event that follows reports 1006.
}
function onTransportDrain(this: Transport): void {
  owner(this)?._onTransportDrain();
}
function onWrittenWithoutBackpressure(ws: WebSocket): void {
  ws._onTransportDrain();
}
function onCloseTimeout(ws: WebSocket): void {
  ws._onCloseTimeout();
}

/** Adapts core events to the WebSocket (one object per connection, no per-frame allocation). */
class CoreEvents implements ProtocolHandler {
  constructor(private readonly ws: WebSocket) {}
  onMessage(data: Buffer, isBinary: boolean): void {
    this.ws._emitMessage(data, isBinary);
  }
  onCompressedFrame(payload: Buffer, fin: boolean, isBinary: boolean): void {
    this.ws._onCompressedFrame(payload, fin, isBinary);
  }
  onPing(payload: Buffer): void {
    this.ws.emit('ping', payload);
  }
  onPong(payload: Buffer): void {
    const ws = this.ws;
    if (ws.pingSentAt !== 0) {
      ws.latency = performance.now() - ws.pingSentAt;
      ws.pingSentAt = 0;
    }
    ws.emit('pong', payload);
  }
  onClose(): void {
    this.ws._onPeerClose();
  }
  onError(error: ProtocolError): void {
    this.ws._onProtocolError(error);
  }
  onOutputReady(): void {
    scheduleFlush(this.ws);
  }
  transportBuffered(): number {
    return this.ws._transportBuffered();
  }
}
