// Our client against a scripted raw server: it validates the handshake response, reads frames that arrive in
// the same TCP chunk as the 101, fails the connection on protocol violations, and bounds its closing handshake.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { connect } from '../../src/client/connect.js';
import { HandshakeError } from '../../src/protocol/errors.js';
import { acceptFor, Cleanup, HOST, next, within } from '../helpers/loopback.js';

const T = { timeout: 15_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

/** An unmasked server frame. */
function frame(opcode: number, payload: Buffer, masked = false): Buffer {
  const head = Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | payload.length]);
  if (!masked) return Buffer.concat([head, payload]);
  const mask = Buffer.from([1, 2, 3, 4]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]!));
  return Buffer.concat([head, mask, body]);
}

/** A server that answers the handshake with `respond(key, request)` and then runs `after(socket)`. */
async function scripted(respond: (key: string, request: string) => string | Buffer, then?: (socket: Socket) => void): Promise<{ url: string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.removeListener('data', onData);
      const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
      socket.write(respond(key, head));
      then?.(socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  cleanup.add(server, (s) => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    s.close(() => resolve());
  }));
  return { url: `ws://${HOST}:${(server.address() as { port: number }).port}/`, sockets };
}

function ok101(key: string, extra = ''): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n${extra}\r\n`;
}

async function refusal(promise: Promise<unknown>): Promise<HandshakeError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  assert.ok(error instanceof HandshakeError, `expected a HandshakeError, got ${String(error)}`);
  return error;
}

describe('handshake response validation', () => {
  it('rejects a wrong Sec-WebSocket-Accept', T, async () => {
    const { url } = await scripted((key) => ok101(`${key}x`)); // the accept value of another key
    const error = await refusal(connect(url));
    assert.equal(error.code, 'WS_ERR_HANDSHAKE_INVALID_RESPONSE');
    assert.equal(error.status, 101);
  });

  it('rejects a subprotocol it did not offer, and one when none was offered', T, async () => {
    const { url } = await scripted((key) => ok101(key, 'Sec-WebSocket-Protocol: evil\r\n'));
    await refusal(connect(url, { protocols: ['good'] }));
    await refusal(connect(url));
  });

  it('rejects an extension it did not offer', T, async () => {
    const { url } = await scripted((key) => ok101(key, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'));
    await refusal(connect(url));
  });

  it('rejects a non-101 answer with its status, and a server that hangs up mid-handshake', T, async () => {
    const forbidden = await scripted(() => 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    assert.equal((await refusal(connect(forbidden.url))).status, 403);
    const hangup = await scripted(() => 'HTTP/1.1 101 Swi', (s) => s.end());
    await refusal(connect(hangup.url));
  });
});

describe('after the handshake', () => {
  it('delivers frames that arrived in the same chunk as the 101 response', T, async () => {
    const { url } = await scripted((key) => Buffer.concat([
      Buffer.from(ok101(key), 'latin1'), frame(1, Buffer.from('first')), frame(2, Buffer.from([1, 2, 3])),
    ]));
    const ws = cleanup.socket(await connect(url));
    const messages: Array<[string, boolean]> = [];
    ws.on('message', (d: Buffer, isBinary: boolean) => messages.push([isBinary ? d.toString('hex') : d.toString(), isBinary]));
    await within((async () => { while (messages.length < 2) await new Promise((r) => setTimeout(r, 5)); })(), 3000, 'early frames');
    assert.deepEqual(messages, [['first', false], ['010203', true]]);
  });

  it('a server that closes right in the 101 chunk: the client reports its code and reason', T, async () => {
    const close = Buffer.concat([Buffer.from([0x03, 0xe9]), Buffer.from('going now')]); // 1001
    const { url } = await scripted((key) => Buffer.concat([Buffer.from(ok101(key), 'latin1'), frame(8, close)]), (s) => s.end());
    const ws = await connect(url);
    const [code, reason, wasClean] = await next<[number, string, boolean]>(ws, 'close', 5000);
    assert.equal(code, 1001);
    assert.equal(reason, 'going now');
    assert.equal(wasClean, true);
  });

  it('a masked frame from the server fails the connection with 1002', T, async () => {
    const { url, sockets } = await scripted((key) => ok101(key), (s) => setTimeout(() => s.write(frame(1, Buffer.from('masked!'), true)), 50));
    const ws = await connect(url);
    const errors: string[] = [];
    ws.on('error', (e: { code: string }) => errors.push(e.code));
    const received: Buffer[] = [];
    sockets[0]!.on('data', (d: Buffer) => received.push(d));
    const [code, , wasClean] = await next<[number, string, boolean]>(ws, 'close', 8000);
    assert.equal(code, 1002);
    assert.equal(wasClean, false);
    assert.deepEqual(errors, ['WS_ERR_UNEXPECTED_MASK']);
    const sent = Buffer.concat(received);
    assert.equal(sent[0]! & 0x0f, 8, 'the client sent a close frame');
    assert.equal(sent[1]! & 0x80, 0x80, 'masked, as client frames must be');
  });

  it("a server that never answers the client's close is cut off after closeTimeout (1006)", T, async () => {
    const { url } = await scripted((key) => ok101(key)); // reads, never answers, never closes
    const ws = await connect(url, { closeTimeout: 300 });
    const closed = next<[number, string, boolean]>(ws, 'close', 5000);
    const began = Date.now();
    ws.close(1000, 'bye');
    const [code, , wasClean] = await closed;
    const elapsed = Date.now() - began;
    assert.equal(code, 1006);
    assert.equal(wasClean, false);
    assert.ok(elapsed >= 250 && elapsed < 2000, `after ${elapsed} ms`);
  });
});
