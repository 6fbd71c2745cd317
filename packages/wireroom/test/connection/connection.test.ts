// The connection layer over an in-memory transport pair: no sockets, no handshake. What the connection class
// adds to the core (coalesced writes, pausing the transport while the core holds input, compression in send
// order, the close sequence) is checked here in isolation; test/server/* checks it again over real loopback.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectionPair, nextEvent, transportPair } from '../helpers/memory-transport.js';
import { maskedFrame } from '../helpers/loopback.js';

const DEFLATE = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };

describe('connection over an in-memory transport', () => {
  it('the transport pair has backpressure: a reader that stops makes the writer buffer', async () => {
    const [a, b] = transportPair(1024);
    b.pause();
    let ok = true;
    for (let i = 0; i < 10 && ok; i++) ok = a.write(Buffer.alloc(1024));
    await new Promise((r) => setImmediate(r));
    assert.equal(ok, false);
    assert.ok(a.writableLength > 0);
    const drained = nextEvent(a, 'drain');
    b.resume();
    b.on('data', () => {});
    await drained;
    assert.equal(a.writableLength, 0);
  });

  for (const deflate of [undefined, DEFLATE]) {
    const label = deflate ? 'with permessage-deflate' : 'without compression';
    it(`messages both ways keep their type and order, ${label}`, async () => {
      const { server, client } = connectionPair({ deflate });
      const got: string[] = [];
      server.on('message', (data: Buffer, isBinary: boolean) => server.send(data, { binary: isBinary }));
      client.on('message', (data: Buffer, isBinary: boolean) => got.push(`${isBinary ? 'b' : 't'}:${data.toString()}`));
      for (let i = 0; i < 50; i++) client.send(i % 2 === 0 ? `text ${i}` : Buffer.from(`bin ${i}`));
      while (got.length < 50) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? `t:text ${i}` : `b:bin ${i}`)));
      const closed = Promise.all([nextEvent<[number, string, boolean]>(server, 'close'), nextEvent<[number, string, boolean]>(client, 'close')]);
      client.close(1000, 'done');
      const [[serverCode, serverReason, serverClean], [clientCode, , clientClean]] = await closed;
      assert.deepEqual([serverCode, serverReason, serverClean, clientCode, clientClean], [1000, 'done', true, 1000, true]);
      assert.equal(server.readyState, server.CLOSED);
      assert.equal(client.readyState, client.CLOSED);
    });

    it(`close() right after sends: every message arrives before the Close, ${label}`, async () => {
      const { server, client } = connectionPair({ deflate });
      const got: string[] = [];
      server.on('message', (data: Buffer) => got.push(data.toString()));
      await new Promise((r) => setImmediate(r));
      for (let i = 0; i < 20; i++) client.send(`m${i} `.repeat(50));
      client.close(1000);
      const [code] = await nextEvent<[number]>(server, 'close');
      assert.equal(code, 1000);
      assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `m${i} `.repeat(50)));
    });
  }

  it('a peer that stops reading: the sender is told (false, then drain) and buffers at most the high-water mark plus one write', async () => {
    const { server, client, clientEnd } = connectionPair({ highWaterMark: 16 * 1024 });
    await new Promise((r) => setImmediate(r));
    clientEnd.pause(); // the client's transport stops reading: the server's writes back up
    let sent = 0;
    while (server.send(Buffer.alloc(1024)) && sent < 10_000) sent++;
    assert.ok(sent < 100, `send() said stop after ${sent} messages`);
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(server.bufferedAmount <= 16 * 1024 + 2 * 1024, `buffered ${server.bufferedAmount}`);
    let received = 0;
    client.on('message', () => received++);
    const drained = nextEvent(server, 'drain');
    clientEnd.resume();
    await drained;
    assert.equal(received >= sent, true);
  });

  it('a ping flood from a peer that never reads: answers reach the high-water mark, then reading pauses', async () => {
    const { server, serverEnd, clientEnd } = connectionPair({ highWaterMark: 4 * 1024, transportHighWaterMark: 1024 });
    await new Promise((r) => setImmediate(r));
    clientEnd.pause();
    let pings = 0;
    server.on('ping', () => pings++);
    // Raw masked pings written straight into the client's end, as a hostile peer would.
    const burst = Buffer.concat(Array.from({ length: 200 }, () => maskedFrame(0x9, Buffer.alloc(125, 1))));
    for (let i = 0; i < 200; i++) clientEnd.write(burst);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(pings > 0 && pings < 200, `reading paused after ${pings} of 40,000 pings`);
    // Held once the transport holds the mark or this turn's queue twice it: at most 2 x 4 KiB + one pong.
    assert.ok(server.bufferedAmount <= 2 * 4 * 1024 + 1024 + 200, `buffered ${server.bufferedAmount}`);
    assert.equal(serverEnd.isPaused(), true, 'the server paused its transport');
    assert.equal(server.readyState, server.OPEN);
  });

  it('a protocol error closes with its code after the frames already queued, then ends the transport', async () => {
    const { server, client, clientEnd } = connectionPair();
    const got: string[] = [];
    client.on('message', (data: Buffer) => got.push(data.toString()));
    const errors: string[] = [];
    server.on('error', (e: { code: string }) => errors.push(e.code));
    await new Promise((r) => setImmediate(r));
    server.send('before');
    clientEnd.write(Buffer.from([0x83, 0x80, 0, 0, 0, 0])); // reserved opcode 3, masked, empty
    const [code] = await nextEvent<[number]>(client, 'close');
    assert.equal(code, 1002);
    assert.deepEqual(got, ['before']);
    assert.deepEqual(errors, ['WS_ERR_INVALID_OPCODE']);
  });
});
