/**
 * The WebSocket connection: one protocol core driven over one socket. The same class serves both sides
 * (server connections are made by WebSocketServer, client connections by `connect()`).
 *
 * Data path: socket 'data' -> core.receive() -> handler methods below -> 'message' events.
 * Outbound: send() frames the message -> queued -> one coalesced write per event-loop turn (flush-scheduler).
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { CloseCode, Opcode } from '../protocol/constants.js';
import { ErrorCodes, ProtocolError, WireroomError } from '../protocol/errors.js';
import { buildClosePayload } from '../protocol/close-frame.js';
import { encodeFrame, encodeTextFrame } from '../protocol/frame-writer.js';
import { ReadyState, WebSocketProtocol, type ProtocolHandler, type ReadyStateValue, type Role } from '../protocol/protocol.js';
import { resolveLimits, type ProtocolLimits } from '../protocol/limits.js';
import { isValidUtf8 } from '../protocol/utf8.js';
import { PerMessageDeflate } from '../compression/permessage-deflate.js';
import { scheduleFlush, type Flushable } from './flush-scheduler.js';
import { PreparedMessage, toBuffer } from './prepared-message.js';
import { WhatwgEvents } from './whatwg-events.js';

/** What happens when a connection's outbound buffer would pass `maxBufferedAmount`. */
export type BackpressurePolicy = 'close' | 'drop' | 'wait';

/** Per-connection options (the server and client pass theirs down). */
export interface ConnectionOptions extends Partial<ProtocolLimits> {
  /** `send()` returns false above this many buffered bytes; 'drain' follows. Default 64 KiB. */
  highWaterMark?: number;
  /** Hard cap on buffered outbound bytes. Default 8 MiB. */
  maxBufferedAmount?: number;
  /** At the cap: 'close' (1008, default), 'drop' (the message is discarded), 'wait' (queue it and stop reading until drained). */
  backpressure?: BackpressurePolicy;
  /** Close code of the 'close' policy: 1008 (policy violation, default) or 1013 (try again later). */
  backpressureCloseCode?: 1008 | 1013;
  /** How long to wait for the peer's close frame / TCP close after ours, in ms. Default 5000. */
  closeTimeout?: number;
}

export const CONNECTION_DEFAULTS = {
  highWaterMark: 64 * 1024,
  maxBufferedAmount: 8 * 1024 * 1024,
  backpressure: 'close' as BackpressurePolicy,
  backpressureCloseCode: 1008 as 1008 | 1013,
  closeTimeout: 5000,
};

export interface SendOptions {
  /** Send as binary (default: strings as text, everything else as binary). */
  binary?: boolean;
  /** Compress this message when permessage-deflate is negotiated (default true; the threshold still applies). */
  compress?: boolean;
  /** Split the message into frames of at most this many bytes (default: one frame). */
  fragmentSize?: number;
}

/** Connection options with every default filled in: computed once per server (or client), shared by its connections. */
export interface ResolvedConnectionOptions {
  readonly highWaterMark: number;
  readonly maxBufferedAmount: number;
  readonly backpressure: BackpressurePolicy;
  readonly backpressureCloseCode: 1008 | 1013;
  readonly closeTimeout: number;
  /** The protocol limits, resolved once and shared by every connection's core. */
  readonly limits: Readonly<ProtocolLimits>;
}

/** Fills in the defaults (once per server, not once per connection: idle connections stay small). */
export function resolveConnectionOptions(options: ConnectionOptions): ResolvedConnectionOptions {
  return Object.freeze({
    highWaterMark: options.highWaterMark ?? CONNECTION_DEFAULTS.highWaterMark,
    maxBufferedAmount: options.maxBufferedAmount ?? CONNECTION_DEFAULTS.maxBufferedAmount,
    backpressure: options.backpressure ?? CONNECTION_DEFAULTS.backpressure,
    backpressureCloseCode: options.backpressureCloseCode ?? CONNECTION_DEFAULTS.backpressureCloseCode,
    closeTimeout: options.closeTimeout ?? CONNECTION_DEFAULTS.closeTimeout,
    limits: resolveLimits(options),
  });
}

const DEFAULT_RESOLVED = resolveConnectionOptions({});

/** Internal: everything a WebSocket needs to start on an upgraded socket. */
export interface AttachOptions {
  role: Role;
  protocol: string;
  extensions: string;
  deflate: PerMessageDeflate | null;
  connection: ResolvedConnectionOptions;
}

const EMPTY = Buffer.alloc(0);
/**
 * Queued frames up to this many bytes in all are concatenated into one write; above it they go out as one
 * corked writev. Copying 16 KiB frames into a 64 KiB concat cost more than the writev (echo16k profile).
 */
const COALESCE_LIMIT = 8 * 1024;

// Connection flags, packed in one integer (`bits`): 10,000 idle connections hold one field each, not twelve.
const CLOSE_SENT = 1; // our close frame is queued (or the connection failed): nothing more may be sent
const CLOSE_RECEIVED = 2;
const CLOSE_EMITTED = 4;
const END_AFTER_FLUSH = 8; // end TCP once the queued bytes are written
const CAP_LIFTED = 16; // the outbound cap no longer applies: the close frame of an over-cap connection must still go out
const DRAIN_WATCHED = 32; // listening to the socket's 'drain'
const NEED_DRAIN = 64; // a send() returned false: 'drain' is owed
const USER_PAUSED = 128; // inbound pause reasons: pause(), decompression in progress, 'wait' backpressure
const INFLATING = 256;
const WAITING_FOR_DRAIN = 512;
const MESSAGE_SEEN = 1024; // a message arrived since the sweeper last looked (idle timeout)
const ARRAYBUFFER = 2048; // binaryType 'arraybuffer'

/**
 * A WebSocket connection. EventEmitter events: 'open', 'message' (data: Buffer, isBinary), 'ping', 'pong',
 * 'close' (code, reason, wasClean), 'error' (WireroomError), 'drain'. The WHATWG style (`onmessage`,
 * `addEventListener('message', e => e.data)`) works too; there text arrives as a string.
 */
export class WebSocket extends EventEmitter implements Flushable {
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
  /** Round-trip time of the last heartbeat ping, in ms. */
  latency: number | undefined = undefined;
  /** Messages discarded by the 'drop' backpressure policy. */
  droppedMessages = 0;

  private _readyState: ReadyStateValue = ReadyState.CONNECTING;
  private socket: Duplex | null = null;
  private core: WebSocketProtocol | null = null;
  private deflate: PerMessageDeflate | null = null;
  private options: ResolvedConnectionOptions = DEFAULT_RESOLVED;
  /** The flags above (CLOSE_SENT, NEED_DRAIN, ...). */
  private bits = 0;

  // outbound
  flushScheduled = false;
  /** Frames waiting for this turn's write; created on the first send. */
  private outQueue: Buffer[] | null = null;
  private outBytes = 0;
  /** Sends (and a close) waiting behind an asynchronous compression, to keep message order. */
  private pendingSends: PendingSend[] | null = null;

  // close bookkeeping
  private closeCode: number = CloseCode.ABNORMAL;
  private closeReason = '';
  private closeTimer: NodeJS.Timeout | null = null;

  // heartbeat (driven by the server's sweeper or the client's timer)
  /** @internal performance.now() when the outstanding heartbeat ping was sent, or 0. */
  pingSentAt = 0;
  /** @internal When the last heartbeat ping was sent. */
  _lastPingAt = 0;
  /** @internal Sweeper ticks without a message. */
  _idleTicks = 0;
  /** @internal Called once when the connection closes, before the 'close' event (the server forgets it). */
  _onClosed: ((ws: WebSocket) => void) | null = null;

  private whatwg: WhatwgEvents | null = null;

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

  set _messageSeen(seen: boolean) {
    this.bits = seen ? this.bits | MESSAGE_SEEN : this.bits & ~MESSAGE_SEEN;
  }

  constructor() {
    super();
    // EventEmitter keeps the listeners in a `{ __proto__: null }` object, which V8 stores as a dictionary
    // (~200 bytes per connection). An instance of a class whose prototype has a null prototype answers the same
    // look-ups (no inherited names) in fast mode, at a fraction of the size. Node's own events.js did this before.
    (this as unknown as { _events: object })._events = new ListenerTableClass();
  }

  private is(flag: number): boolean {
    return (this.bits & flag) !== 0;
  }

  get readyState(): ReadyStateValue {
    return this._readyState;
  }

  /** Bytes queued for sending and not yet handed to the kernel. */
  get bufferedAmount(): number {
    const socket = this.socket;
    return this.outBytes + (socket ? socket.writableLength : 0);
  }

  get remoteAddress(): string | undefined {
    return (this.socket as Socket | null)?.remoteAddress;
  }

  get remotePort(): number | undefined {
    return (this.socket as Socket | null)?.remotePort;
  }

  /** @internal Starts the connection on a socket whose handshake is complete (reading starts with `_startReading`). */
  _attach(socket: Duplex, options: AttachOptions): void {
    this.socket = socket;
    this.protocol = options.protocol;
    this.extensions = options.extensions;
    this.deflate = options.deflate;
    this.options = options.connection;
    this.core = new WebSocketProtocol(new CoreEvents(this), { role: options.role, compressionNegotiated: this.deflate !== null, limits: options.connection.limits });
    this._readyState = ReadyState.OPEN;

    // Servers and connect() set TCP_NODELAY when the socket is created; not again here (a syscall each).
    const s = socket as Socket;
    if (s.timeout) s.setTimeout(0); // an HTTP server's idle timeout must not cut a WebSocket
    socket.on('data', onSocketData);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    // Sockets that allow half-open TCP (http.Server's) do not end themselves when the peer does.
    if (socket.allowHalfOpen) socket.on('end', onSocketEnd);
    (socket as SocketWithOwner)[OWNER] = this;
    this.emit('open');
  }

  /**
   * @internal Starts reading, once the application has had the chance to add its listeners: `head`, the bytes
   * that came with the handshake, is parsed first, then the socket flows.
   */
  _startReading(head: Buffer): void {
    if (head.length > 0 && this.core !== null) this.core.receive(head);
    this.updateReading();
  }

  // ------------------------------------------------------------------------------------------- sending

  /**
   * Sends a message: strings as text, Buffer / ArrayBuffer / typed arrays as binary (override with `binary`).
   * Returns false when the outbound buffer is above the high-water mark (wait for 'drain'), or when the message
   * was not queued (connection not open, or dropped by the backpressure policy: see `droppedMessages`).
   * Throws WireroomError(WS_ERR_INVALID_STATE) before the connection is open, never after: sending on a
   * closing or closed connection is reported with an 'error' event (if listened to) and returns false.
   */
  send(data: string | Buffer | ArrayBuffer | ArrayBufferView, options?: SendOptions): boolean {
    if (this._readyState !== ReadyState.OPEN || this.is(CLOSE_SENT)) return this.sendRefused();
    const isString = typeof data === 'string';
    if (!isString && !Buffer.isBuffer(data) && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'send() takes a string, Buffer, ArrayBuffer or typed array');
    }
    const binary = options?.binary ?? !isString;
    const fragmentSize = options?.fragmentSize;
    if (this.deflate !== null && options?.compress !== false) {
      const payload = toBuffer(data);
      if (this.deflate.shouldCompress(payload.length)) return this.sendCompressed(payload, binary);
      if (this.pendingSends !== null) return this.enqueueBehindCompression(payload, binary, fragmentSize);
    } else if (this.pendingSends !== null) {
      return this.enqueueBehindCompression(toBuffer(data), binary, fragmentSize);
    }
    if (fragmentSize !== undefined && fragmentSize > 0) return this.sendFragmented(toBuffer(data), binary, fragmentSize);
    const masked = this.core!.masksOutput;
    if (isString && !binary) return this._enqueue(encodeTextFrame(data, { mask: masked }));
    return this._enqueue(encodeFrame(binary ? Opcode.BINARY : Opcode.TEXT, toBuffer(data), { mask: masked }));
  }

  /** Sends a message framed once by `prepareMessage()` (the same bytes for every recipient). */
  sendPrepared(message: PreparedMessage): boolean {
    if (this._readyState !== ReadyState.OPEN || this.is(CLOSE_SENT)) return this.sendRefused();
    if (this.core!.masksOutput || this.pendingSends !== null) return this.send(message.payload, { binary: message.binary, compress: false });
    return this._enqueue(message.frame);
  }

  /**
   * @internal Sends a frame compressed once for many recipients (broadcast to connections without server
   * context takeover). Queued in order behind earlier sends; goes out when the shared compression finishes.
   */
  _sendSharedCompressed(shared: SharedCompressedFrame): boolean {
    if (this._readyState !== ReadyState.OPEN || this.is(CLOSE_SENT)) return false;
    const entry: PendingSend = { ready: shared.frame !== null, run: () => { if (shared.frame !== null) this._enqueue(shared.frame); } };
    (this.pendingSends ??= []).push(entry);
    if (entry.ready) this.runPendingSends();
    else shared.onReady(() => {
      entry.ready = true;
      this.runPendingSends();
    });
    return true;
  }

  /** Whether a broadcast may share one compressed payload with this connection (see compressOnce). */
  _canShareCompression(serverMaxWindowBits: number): boolean {
    const deflate = this.deflate;
    return deflate !== null && this.core?.role === 'server' && deflate.params.serverNoContextTakeover && deflate.params.serverMaxWindowBits >= serverMaxWindowBits;
  }

  /** Sends a ping (payload at most 125 bytes). */
  ping(data?: string | Buffer): void {
    if (this._readyState !== ReadyState.OPEN || this.is(CLOSE_SENT)) return void this.sendRefused();
    this._enqueue(this.core!.encodeControl(Opcode.PING, data === undefined ? EMPTY : toBuffer(data)));
  }

  /** Sends an unsolicited pong (payload at most 125 bytes). Pings are answered automatically. */
  pong(data?: string | Buffer): void {
    if (this._readyState !== ReadyState.OPEN || this.is(CLOSE_SENT)) return void this.sendRefused();
    this._enqueue(this.core!.encodeControl(Opcode.PONG, data === undefined ? EMPTY : toBuffer(data)));
  }

  /** @internal Heartbeat ping carrying no payload; latency is measured on the pong. */
  _heartbeatPing(now: number): void {
    if (this._readyState !== ReadyState.OPEN || this.is(CLOSE_SENT)) return;
    this.pingSentAt = now;
    this._lastPingAt = now;
    this._enqueue(this.core!.encodeControl(Opcode.PING, EMPTY));
  }

  /** @internal The heartbeat pong did not come back in time. */
  _heartbeatTimeout(): void {
    this.failConnection(new ProtocolError(ErrorCodes.HEARTBEAT_TIMEOUT, CloseCode.INTERNAL_ERROR, 'keepalive ping timeout'), true);
  }

  private sendRefused(): false {
    if (this._readyState === ReadyState.CONNECTING) {
      throw new WireroomError(ErrorCodes.INVALID_STATE, 'WebSocket is not open yet');
    }
    this.emitError(new WireroomError(ErrorCodes.INVALID_STATE, 'WebSocket is closing or closed: message not sent'));
    return false;
  }

  private sendFragmented(payload: Buffer, binary: boolean, fragmentSize: number): boolean {
    const masked = this.core!.masksOutput;
    let ok = true;
    let offset = 0;
    let opcode: number = binary ? Opcode.BINARY : Opcode.TEXT;
    do {
      const end = Math.min(offset + fragmentSize, payload.length);
      ok = this._enqueue(encodeFrame(opcode, payload.subarray(offset, end), { fin: end === payload.length, mask: masked }));
      opcode = Opcode.CONTINUATION;
      offset = end;
    } while (offset < payload.length);
    return ok;
  }

  private sendCompressed(payload: Buffer, binary: boolean): boolean {
    const entry: PendingSend = { ready: false, run: NOOP };
    (this.pendingSends ??= []).push(entry);
    this.deflate!.compress(payload, (error, compressed) => {
      if (error || compressed === undefined) {
        this.failConnection(new ProtocolError(ErrorCodes.COMPRESSION_FAILED, CloseCode.INTERNAL_ERROR, 'compression failed'));
        return;
      }
      entry.run = () => this._enqueue(encodeFrame(binary ? Opcode.BINARY : Opcode.TEXT, compressed, { rsv1: true, mask: this.core!.masksOutput }));
      entry.ready = true;
      this.runPendingSends();
    });
    return this.belowHighWaterMark(payload.length);
  }

  /** For sends still waiting (compression): false promises a 'drain', emitted after the flush that follows. */
  private belowHighWaterMark(pendingBytes: number): boolean {
    if (this.bufferedAmount + pendingBytes < this.options.highWaterMark) return true;
    this.bits |= NEED_DRAIN;
    this.watchDrain();
    return false;
  }

  /** Keeps message order: an uncompressed send waits behind a compression still in progress. */
  private enqueueBehindCompression(payload: Buffer, binary: boolean, fragmentSize: number | undefined): boolean {
    const run = (): void => {
      if (fragmentSize !== undefined && fragmentSize > 0) this.sendFragmented(payload, binary, fragmentSize);
      else this._enqueue(encodeFrame(binary ? Opcode.BINARY : Opcode.TEXT, payload, { mask: this.core!.masksOutput }));
    };
    this.pendingSends!.push({ ready: true, run });
    this.runPendingSends();
    return this.belowHighWaterMark(payload.length);
  }

  /** Runs the queued sends that are ready, in order; stops at the first compression still in progress. */
  private runPendingSends(): void {
    const queue = this.pendingSends;
    if (queue === null) return;
    while (queue.length > 0 && queue[0]!.ready) {
      const entry = queue.shift()!;
      if (this.socket !== null && !this.socket.destroyed && this.core !== null && !this.core.inputClosed) entry.run();
    }
    if (queue.length === 0) this.pendingSends = null;
  }

  /** @internal Queues frame bytes for the next coalesced write, applying the outbound cap. */
  _enqueue(frame: Buffer | [Buffer, Buffer]): boolean {
    const socket = this.socket;
    if (socket === null || socket.destroyed) return false;
    const size = Array.isArray(frame) ? frame[0].length + frame[1].length : frame.length;
    const buffered = this.outBytes + socket.writableLength;
    if (buffered + size > this.options.maxBufferedAmount && !this.is(CLOSE_SENT | CAP_LIFTED)) {
      const policy = this.options.backpressure;
      if (policy === 'drop') {
        this.droppedMessages++;
        return false;
      }
      if (policy === 'close') {
        this.failConnection(new ProtocolError(ErrorCodes.OUTBOUND_BUFFER_FULL, this.options.backpressureCloseCode, 'outbound buffer full (peer too slow)'), true);
        return false;
      }
      // 'wait': keep the message, stop reading from this peer until the buffer drains.
      this.bits |= WAITING_FOR_DRAIN;
      this.watchDrain();
      this.updateReading();
    }
    const queue = (this.outQueue ??= []);
    if (Array.isArray(frame)) queue.push(frame[0], frame[1]);
    else queue.push(frame);
    this.outBytes += size;
    scheduleFlush(this);
    if (buffered + size >= this.options.highWaterMark) {
      this.bits |= NEED_DRAIN;
      this.watchDrain();
      return false;
    }
    return true;
  }

  /** @internal Writes everything queued with one socket write (called by the flush scheduler). */
  flush(): void {
    const socket = this.socket;
    const queue = this.outQueue;
    if (queue === null || queue.length === 0) return;
    if (socket === null || socket.destroyed) {
      queue.length = 0;
      this.outBytes = 0;
      return;
    }
    if (queue.length === 1) {
      socket.write(queue[0]!);
    } else if (this.outBytes <= COALESCE_LIMIT) {
      socket.write(Buffer.concat(queue, this.outBytes));
    } else {
      socket.cork();
      for (let i = 0; i < queue.length; i++) socket.write(queue[i]!);
      socket.uncork();
    }
    queue.length = 0; // the array is reused: the writes hold the buffers, not the array
    this.outBytes = 0;
    if (this.is(END_AFTER_FLUSH)) this.endSocket();
    // The socket emits 'drain' only after a write that returned false: below its own high-water mark (ours
    // may be lower) no 'drain' would come, so ours is emitted once this write has been handed over.
    else if (this.is(NEED_DRAIN | WAITING_FOR_DRAIN) && !socket.writableNeedDrain) process.nextTick(onFlushedWithoutBackpressure, this);
  }

  /** Listens for the socket's 'drain' only once backpressure has been seen (one listener less per idle connection). */
  private watchDrain(): void {
    if (this.is(DRAIN_WATCHED) || this.socket === null) return;
    this.bits |= DRAIN_WATCHED;
    this.socket.on('drain', onSocketDrain);
  }

  /** @internal */
  _onSocketDrain(): void {
    if (this.outBytes > 0) return;
    if (this.is(WAITING_FOR_DRAIN)) {
      this.bits &= ~WAITING_FOR_DRAIN;
      this.updateReading();
    }
    if (this.is(NEED_DRAIN)) {
      this.bits &= ~NEED_DRAIN;
      this.emit('drain');
    }
  }

  // ------------------------------------------------------------------------------------------- receiving

  /** Stops reading from the peer (inbound backpressure); 'message' events stop until resume(). */
  pause(): void {
    this.bits |= USER_PAUSED;
    this.updateReading();
  }

  resume(): void {
    this.bits &= ~USER_PAUSED;
    this.updateReading();
  }

  get isPaused(): boolean {
    return this.is(USER_PAUSED);
  }

  private updateReading(): void {
    const core = this.core;
    const socket = this.socket;
    if (core === null || socket === null) return;
    if (this.is(USER_PAUSED | INFLATING | WAITING_FOR_DRAIN)) {
      core.pause();
      socket.pause();
    } else {
      socket.resume();
      core.resume();
    }
  }

  /** @internal */
  _onData(chunk: Buffer): void {
    this.core!.receive(chunk);
  }

  /** @internal */
  _onCompressedFrame(payload: Buffer, fin: boolean, isBinary: boolean): void {
    const deflate = this.deflate;
    if (deflate === null) return;
    this.bits |= INFLATING;
    this.updateReading();
    deflate.decompress(payload, fin, this.core!.limits.maxMessageSize, (error, message) => {
      if (this.core === null || this.core.inputClosed) return;
      this.bits &= ~INFLATING;
      if (error) {
        // Reading must resume: the peer's answer to our close frame has to be read.
        this.core.failWith(error);
        this.updateReading();
        return;
      }
      if (fin && message !== undefined) {
        if (!isBinary && !isValidUtf8(message)) {
          this.core.failWith(new ProtocolError(ErrorCodes.INVALID_UTF8, CloseCode.INVALID_DATA, 'invalid UTF-8 in text message'));
          return;
        }
        this._emitMessage(message, isBinary);
      }
      this.updateReading();
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
   * Messages sent before close() go out before the close frame. The 'close' event follows when the peer
   * answers, or after `closeTimeout` if it never does.
   */
  close(code?: number, reason?: string): void {
    buildClosePayload(code, reason); // validate first: misuse throws whatever the state
    const core = this.core;
    if (this._readyState === ReadyState.CONNECTING) {
      this._abortConnecting(code ?? CloseCode.ABNORMAL, reason ?? '');
      return;
    }
    if (core === null || this._readyState !== ReadyState.OPEN) return;
    this._readyState = ReadyState.CLOSING;
    this.startCloseTimer();
    const sendClose = (): void => {
      if (core.close(code, reason)) this.bits |= CLOSE_SENT;
    };
    if (this.pendingSends !== null) this.pendingSends.push({ ready: true, run: sendClose });
    else sendClose();
  }

  /** Destroys the connection at once, without a closing handshake (close code 1006). */
  terminate(): void {
    if (this._readyState === ReadyState.CLOSED) return;
    if (this.core === null) {
      this._abortConnecting(CloseCode.ABNORMAL, '');
      return;
    }
    this.core.abort();
    this._readyState = ReadyState.CLOSING;
    this.socket?.destroy();
  }

  /** @internal Cancels a connection attempt (overridden by the client). */
  _abortConnecting(code: number, reason: string): void {
    this._readyState = ReadyState.CLOSED;
    this.emitClose(code, reason, false);
  }

  /** Fails the connection: a close frame with the error's code (if none was sent yet), then TCP closes. */
  private failConnection(error: ProtocolError, fromSender = false): void {
    if (this.core === null) return;
    // When the outbound buffer is full, the close frame must still go out behind what is queued.
    if (fromSender) this.bits |= CAP_LIFTED;
    this.core.failWith(error);
  }

  private startCloseTimer(): void {
    if (this.closeTimer !== null) return;
    this.closeTimer = setTimeout(onCloseTimeout, this.options.closeTimeout, this);
    this.closeTimer.unref?.();
  }

  /** @internal The peer did not complete the closing handshake in time. */
  _onCloseTimeout(): void {
    this.closeTimer = null;
    this.socket?.destroy();
  }

  /** @internal The core saw the peer's close frame (its reply, if due, is queued). */
  _onPeerClose(code: number, reason: string): void {
    this.bits |= CLOSE_RECEIVED | CLOSE_SENT; // ours went earlier, or the core just queued the echo
    this.closeCode = code;
    this.closeReason = reason;
    this._readyState = ReadyState.CLOSING;
    // Keep reading (the core discards it): closing a socket with unread input makes the kernel send RST,
    // and an RST can destroy our close frame before the peer reads it.
    this.startCloseTimer();
    // The server closes TCP first (RFC 6455 7.1.1); the client waits for it (the close timer bounds the wait).
    if (this.core?.role === 'server') this.endWhenFlushed();
  }

  /** @internal The core failed the connection (its close frame is queued): close TCP once it is written. */
  _onProtocolError(error: ProtocolError): void {
    this.bits |= CLOSE_SENT;
    this.closeCode = error.closeCode;
    this.closeReason = error.message;
    this._readyState = ReadyState.CLOSING;
    this.emitError(error);
    this.startCloseTimer();
    this.endWhenFlushed();
  }

  private endWhenFlushed(): void {
    this.bits |= END_AFTER_FLUSH;
    if (this.outBytes === 0) this.endSocket();
  }

  private endSocket(): void {
    const socket = this.socket;
    if (socket !== null && !socket.destroyed && socket.writable) socket.end();
  }

  /** @internal The peer ended its side of TCP: end ours. */
  _onSocketEnd(): void {
    this.endSocket();
  }

  /** @internal */
  _onSocketClose(): void {
    if (this.closeTimer !== null) {
      clearTimeout(this.closeTimer);
      this.closeTimer = null;
    }
    this.core?.abort();
    this.deflate?.close();
    this.outQueue = null;
    this.outBytes = 0;
    this.pendingSends = null;
    this._readyState = ReadyState.CLOSED;
    const clean = (this.bits & (CLOSE_SENT | CLOSE_RECEIVED)) === (CLOSE_SENT | CLOSE_RECEIVED);
    this.emitClose(clean || this.closeCode !== CloseCode.ABNORMAL ? this.closeCode : CloseCode.ABNORMAL, this.closeReason, clean);
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

/** A WHATWG-style listener: receives an event object ({ type, data } / { code, reason, wasClean } / { error }). */
export type WhatwgListener = (event: any) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A broadcast frame compressed once (RSV1 set, unmasked) and shared by its server-side recipients. */
export interface SharedCompressedFrame {
  /** The frame, once compression has finished (null before, and after a failure: then nothing is sent). */
  frame: Buffer | [Buffer, Buffer] | null;
  onReady(callback: () => void): void;
}

interface PendingSend {
  ready: boolean;
  run: () => void;
}
const NOOP = (): void => {};

/** The EventEmitter listener table of a WebSocket (see the constructor). */
function ListenerTable(): void {}
ListenerTable.prototype = Object.create(null);
const ListenerTableClass = ListenerTable as unknown as new () => object;

const OWNER = Symbol('wireroom.websocket');
type SocketWithOwner = Duplex & { [OWNER]?: WebSocket };

// Socket listeners are shared functions (no closure per connection): `this` is the socket.
function owner(socket: Duplex): WebSocket | undefined {
  return (socket as SocketWithOwner)[OWNER];
}
function onSocketData(this: Duplex, chunk: Buffer): void {
  owner(this)?._onData(chunk);
}
function onSocketEnd(this: Duplex): void {
  owner(this)?._onSocketEnd();
}
function onSocketClose(this: Duplex): void {
  owner(this)?._onSocketClose();
}
function onSocketError(this: Duplex): void {
  // ECONNRESET and friends: the 'close' event that follows reports 1006.
}
function onSocketDrain(this: Duplex): void {
  owner(this)?._onSocketDrain();
}
function onFlushedWithoutBackpressure(ws: WebSocket): void {
  ws._onSocketDrain();
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
  onClose(code: number, reason: string): void {
    this.ws._onPeerClose(code, reason);
  }
  onError(error: ProtocolError): void {
    this.ws._onProtocolError(error);
  }
  onOutput(data: Buffer | [Buffer, Buffer]): void {
    this.ws._enqueue(data);
  }
}
