// Helpers for the loopback tests of the server and client: servers on ephemeral ports of 127.0.0.1,
// raw TCP peers that speak just enough HTTP/WebSocket to misbehave on purpose, and time-bounded waits.
import { once, type EventEmitter } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect, createServer as createNetServer, type Socket } from 'node:net';
import { WebSocketServer, type ServerOptions } from '../../src/server/websocket-server.js';
import assert from 'node:assert/strict';
import { HandshakeError } from '../../src/protocol/errors.js';
import type { WebSocket } from '../../src/connection/websocket.js';

export const HOST = '127.0.0.1';

/** Rejects after `ms` with a message naming what was awaited (every wait in these tests is bounded). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The arguments of the next `event` on `emitter`, within `ms`. Unlike events.once(), an 'error' event does not
 * reject it (connections report errors and then 'close', and tests wait for the 'close').
 */
export function next<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms = 5000): Promise<T> {
  let listener: ((...args: unknown[]) => void) | undefined;
  const got = new Promise<T>((resolve) => {
    listener = (...args: unknown[]) => resolve(args as T);
    emitter.once(event, listener);
  });
  return within(got, ms, `'${event}'`).finally(() => emitter.removeListener(event, listener!));
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it is truthy, within `ms`. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(10);
  }
}

/** A standalone server listening on an ephemeral port of 127.0.0.1. Heartbeat off unless asked. */
export async function startServer(options: ServerOptions = {}): Promise<{ server: WebSocketServer; port: number; url: string }> {
  const server = new WebSocketServer({ host: HOST, port: 0, heartbeatInterval: 0, ...options });
  await next(server, 'listening');
  const port = server.address()!.port;
  return { server, port, url: `ws://${HOST}:${port}` };
}

/** A port that was free a moment ago (for child processes that need a port number up front). */
export async function freePort(): Promise<number> {
  const srv = createNetServer();
  srv.listen(0, HOST);
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Tracks sockets/servers/closers to dispose of in an `after`/`afterEach` hook. */
export class Cleanup {
  private readonly tasks: Array<() => unknown> = [];
  add<T>(value: T, dispose: (value: T) => unknown): T {
    this.tasks.push(() => dispose(value));
    return value;
  }
  /** Disposes of a socket (destroy) or a WebSocket of ours or of `ws` (terminate). */
  socket<T extends { destroy(): unknown } | { terminate(): unknown }>(s: T): T {
    return this.add(s, (x) => ('terminate' in x ? x.terminate() : x.destroy()));
  }
  server(s: WebSocketServer): WebSocketServer {
    return this.add(s, (x) => x.close({ timeout: 200 }));
  }
  async run(): Promise<void> {
    const tasks = this.tasks.splice(0).reverse();
    for (const task of tasks) {
      try {
        await within(Promise.resolve(task()), 3000, 'cleanup');
      } catch {
        // cleanup is best effort; the test's own assertions decide
      }
    }
  }
}

// ------------------------------------------------------------------------------------------- raw peers

export function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: HOST, port }, () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

export function upgradeRequest(path = '/', headers: Record<string, string> = {}, key = randomBytes(16).toString('base64')): string {
  const lines = [
    `GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return lines.join('\r\n') + '\r\n\r\n';
}

export function acceptFor(key: string): string {
  return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}

/** Collects everything the socket sends until it closes (bounded). */
export async function readAll(socket: Socket, ms = 5000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  if (!socket.destroyed) await within(once(socket, 'close'), ms, 'socket close');
  return Buffer.concat(chunks);
}

/** Sends raw bytes as a handshake and returns the HTTP status the server answers with (then the socket closes). */
export async function rawStatus(port: number, request: string | Buffer, ms = 5000): Promise<{ status: number; text: string }> {
  const socket = await rawConnect(port);
  socket.on('error', () => {});
  socket.write(request);
  const data = await readAll(socket, ms);
  const text = data.toString('latin1');
  const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return { status: match ? Number(match[1]) : 0, text };
}

/**
 * A raw TCP peer that completes the handshake and then does only what the test says.
 * `received` collects the server's frames (parsed), `socket` is the bare socket.
 */
export async function rawWebSocket(port: number, path = '/', options: { headers?: Record<string, string>; onSocket?: (s: Socket) => void } = {}): Promise<RawPeer> {
  const key = randomBytes(16).toString('base64');
  const socket = await rawConnect(port);
  options.onSocket?.(socket);
  socket.on('error', () => {});
  socket.write(upgradeRequest(path, options.headers, key));
  let buffer = Buffer.alloc(0);
  const head = await within(new Promise<{ head: string; rest: Buffer }>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      resolve({ head: buffer.subarray(0, end).toString('latin1'), rest: buffer.subarray(end + 4) });
    };
    const onClose = (): void => reject(new Error('closed during handshake'));
    socket.on('data', onData);
    socket.on('close', onClose);
  }), 5000, 'handshake response');
  if (!head.head.startsWith('HTTP/1.1 101')) throw new Error(`handshake refused: ${head.head.split('\r\n')[0]}`);
  if (!head.head.includes(acceptFor(key))) throw new Error('bad Sec-WebSocket-Accept');
  return new RawPeer(socket, head.rest);
}

export interface RawFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

export class RawPeer {
  readonly frames: RawFrame[] = [];
  private pending: Buffer;
  private reading = false;
  closed: Promise<void>;

  constructor(readonly socket: Socket, rest: Buffer) {
    this.pending = rest;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Starts parsing what the server sends into `frames` (not called for peers that must not read). */
  read(): this {
    if (this.reading) return this;
    this.reading = true;
    this.socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      this.parse();
    });
    this.parse();
    return this;
  }

  private parse(): void {
    for (;;) {
      const b = this.pending;
      if (b.length < 2) return;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b.length < off + len) return;
      this.frames.push({ fin: (b[0]! & 0x80) !== 0, rsv1: (b[0]! & 0x40) !== 0, opcode: b[0]! & 0x0f, payload: b.subarray(off, off + len) });
      this.pending = b.subarray(off + len);
    }
  }

  send(opcode: number, payload: Buffer | string = Buffer.alloc(0), fin = true): void {
    this.socket.write(maskedFrame(opcode, typeof payload === 'string' ? Buffer.from(payload) : payload, fin));
  }

  closeFrames(): RawFrame[] {
    return this.frames.filter((f) => f.opcode === 8);
  }
}

/** Encodes a masked (client-to-server) frame. */
export function maskedFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const len = payload.length;
  const headLen = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = Buffer.alloc(headLen + 4 + len);
  frame[0] = (fin ? 0x80 : 0) | opcode;
  if (len < 126) frame[1] = 0x80 | len;
  else if (len < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  mask.copy(frame, headLen);
  for (let i = 0; i < len; i++) frame[headLen + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

export function closeCodeOf(frame: RawFrame): number {
  return frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005;
}

/** The HandshakeError a client connection attempt was refused with (fails if it was accepted or failed otherwise). */
export async function refusedStatus(promise: Promise<WebSocket>): Promise<HandshakeError> {
  const error = await promise.then(
    (ws) => {
      ws.terminate();
      throw new Error('handshake unexpectedly accepted');
    },
    (e: unknown) => e,
  );
  assert.ok(error instanceof HandshakeError, `expected a HandshakeError, got ${String(error)}`);
  return error;
}
