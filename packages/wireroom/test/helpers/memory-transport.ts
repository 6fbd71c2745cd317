/**
 * An in-memory byte transport pair for connection-layer tests that need no sockets: what one end writes, the
 * other end reads, with real stream backpressure (a write completes only once the other end has room to read
 * it, so a peer that stops reading makes the writer's `writableLength` grow, as a TCP socket's would).
 */
import { Duplex } from 'node:stream';
import { WebSocket } from '../../src/connection/websocket.js';
import { resolveConnectionOptions, type ConnectionOptions } from '../../src/connection/options.js';
import { PerMessageDeflate } from '../../src/compression/permessage-deflate.js';
import type { NegotiatedDeflate } from '../../src/protocol/extensions/permessage-deflate-negotiation.js';

export class MemoryEnd extends Duplex {
  peer!: MemoryEnd;
  /** The write waiting for the peer to read (the peer's readable buffer was full). */
  private blocked: (() => void) | null = null;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.peer.destroyed) return callback();
    if (this.peer.push(chunk)) callback();
    else this.peer.blocked = () => callback();
  }

  override _read(): void {
    const release = this.blocked;
    if (release !== null) {
      this.blocked = null;
      release();
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.destroy();
    callback(error);
  }
}

/** Two connected ends: bytes written to one are read from the other. */
export function transportPair(highWaterMark = 16 * 1024): [MemoryEnd, MemoryEnd] {
  const a = new MemoryEnd({ readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark });
  const b = new MemoryEnd({ readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark });
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export interface PairOptions extends ConnectionOptions {
  /** Negotiated permessage-deflate parameters (both ends use them), or none. */
  deflate?: NegotiatedDeflate;
  deflateOptions?: { threshold?: number };
  /** Stream buffer size of each end (default 16 KiB, as a net.Socket's). */
  transportHighWaterMark?: number;
}

/**
 * A server connection and a client connection over an in-memory transport pair, open, with no handshake.
 * Reading starts on the next tick, after the caller has added its listeners.
 */
export function connectionPair(options: PairOptions = {}): { server: WebSocket; client: WebSocket; serverEnd: MemoryEnd; clientEnd: MemoryEnd } {
  const [serverEnd, clientEnd] = transportPair(options.transportHighWaterMark);
  const connection = resolveConnectionOptions(options);
  const extensions = options.deflate ? 'permessage-deflate' : '';
  const server = new WebSocket();
  const client = new WebSocket();
  const deflate = (role: 'server' | 'client'): PerMessageDeflate | null => (options.deflate ? new PerMessageDeflate(role, options.deflate, options.deflateOptions ?? { threshold: 0 }) : null);
  server._attach(serverEnd, { role: 'server', protocol: '', extensions, deflate: deflate('server'), connection });
  client._attach(clientEnd, { role: 'client', protocol: '', extensions, deflate: deflate('client'), connection });
  setImmediate(() => {
    server._startReading(Buffer.alloc(0));
    client._startReading(Buffer.alloc(0));
  });
  return { server, client, serverEnd, clientEnd };
}

/** Resolves with the next `event` of `emitter`, its arguments as an array. */
export function nextEvent<T extends unknown[]>(emitter: { once(event: string, listener: (...args: any[]) => void): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args as T)));
}
