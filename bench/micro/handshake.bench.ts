/**
 * The JavaScript cost of one standalone handshake, warm, without the kernel: a fake socket (an in-memory
 * Duplex) goes through the path a TCP connection takes (accept, request parsed and checked, 101 written,
 * WebSocket attached, 'connection' listener adding a 'message' listener). Compare with the CPU per handshake
 * of the idle10k scenario, which adds the system calls, Node's net.Socket, a cold JIT and GC.
 *
 *   node --import tsx bench/micro/handshake.bench.ts
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { WebSocketServer } from '../../packages/wireroom/src/server/websocket-server.js';
import type { WebSocket } from '../../packages/wireroom/src/connection/websocket.js';

const REQUEST = Buffer.from(
  'GET /echo HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
);

function echo(this: WebSocket, data: Buffer, isBinary: boolean): void {
  this.send(data, { binary: isBinary });
}

const server = new WebSocketServer({ noServer: true, maxConnections: Number.MAX_SAFE_INTEGER, heartbeatInterval: 0 });
server.on('connection', (ws: WebSocket) => ws.on('message', echo));
// The standalone accept path of a listening server (private: no socket is listening here).
const accept = (server as unknown as { acceptRawSocket(socket: Socket): void }).acceptRawSocket.bind(server);

let open: Duplex[] = [];
function handshake(): void {
  const socket = new Duplex({ read() {}, write(_chunk, _encoding, done) { done(); } });
  accept(socket as unknown as Socket);
  socket.emit('data', Buffer.from(REQUEST));
  open.push(socket);
  if (open.length === 2000) {
    for (const s of open) s.destroy();
    open = [];
  }
}

function duplexOnly(): void {
  const socket = new Duplex({ read() {}, write(_chunk, _encoding, done) { done(); } });
  socket.on('error', () => {});
  socket.on('data', () => {});
  open.push(socket);
  if (open.length === 2000) {
    for (const s of open) s.destroy();
    open = [];
  }
}

/** Median over 7 batches of CPU µs per call, after a warm-up. */
function measure(fn: () => void): number {
  for (let i = 0; i < 20_000; i++) fn();
  const perCall: number[] = [];
  for (let batch = 0; batch < 7; batch++) {
    const start = process.cpuUsage();
    for (let i = 0; i < 10_000; i++) fn();
    const used = process.cpuUsage(start);
    perCall.push((used.user + used.system) / 10_000);
  }
  perCall.sort((a, b) => a - b);
  return perCall[3]!;
}

const total = measure(handshake);
const duplex = measure(duplexOnly);
console.log(`standalone handshake on an in-memory socket: ${total.toFixed(1)} µs CPU (of which creating the Duplex with two listeners: ${duplex.toFixed(1)} µs)`);
if (server.clients.size === 0) throw new Error('no handshake completed: the benchmark measured nothing');
process.exit(0);
