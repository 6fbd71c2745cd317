// Backpressure both ways: send() reports the high-water mark and 'drain' follows; a slow reader hits the
// outbound cap and gets the policy ('close' 1008, 'drop') while another client keeps its round-trip time;
// inbound pause()/resume().
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/connect.js';
import type { WebSocket } from '../../src/connection/websocket.js';
import type { BackpressurePolicy } from '../../src/connection/websocket.js';
import { Cleanup, delay, next, rawWebSocket, startServer, until, within } from '../helpers/loopback.js';

const T = { timeout: 60_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

function echo(ws: WebSocket): void {
  ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
}

async function roundTrip(ws: WebSocket): Promise<number> {
  const began = performance.now();
  const reply = next<[Buffer]>(ws, 'message', 10_000);
  ws.send('ping?');
  await reply;
  return performance.now() - began;
}

describe('outbound backpressure', () => {
  it("send() returns false past highWaterMark and 'drain' follows", T, async () => {
    const { server, url } = await startServer({ highWaterMark: 16 * 1024 });
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const client = cleanup.socket(await connect(url, { maxMessageSize: 1024 * 1024 }));
    const [ws] = await connected;
    let received = 0;
    client.on('message', (d: Buffer) => (received += d.length));
    assert.equal(ws.send(Buffer.alloc(1000)), true, 'under the mark');
    const drained = next(ws, 'drain', 5000);
    assert.equal(ws.send(Buffer.alloc(64 * 1024)), false, 'past the mark');
    await drained;
    await until(() => received === 1000 + 64 * 1024, 5000, 'everything received');
    assert.equal(ws.bufferedAmount, 0);
  });

  it("'drain' follows even when highWaterMark is below the socket's own (no socket 'drain' comes)", T, async () => {
    const { server, url } = await startServer({ highWaterMark: 4096 });
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const client = cleanup.socket(await connect(url));
    const [ws] = await connected;
    const got = next<[Buffer]>(client, 'message');
    const drained = next(ws, 'drain', 3000);
    assert.equal(ws.send(Buffer.alloc(8192)), false);
    await drained;
    assert.equal((await got)[0].length, 8192);
    assert.equal(ws.send(Buffer.alloc(100)), true, 'below the mark again after drain');
  });

  it("with permessage-deflate, a send that returns false is followed by 'drain' (both sides)", T, async () => {
    const { server, url } = await startServer({ perMessageDeflate: true });
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const client = cleanup.socket(await connect(url, { perMessageDeflate: true }));
    const [ws] = await connected;
    assert.match(ws.extensions, /permessage-deflate/);
    for (const [sender, receiver] of [[ws, client], [client, ws]] as Array<[WebSocket, WebSocket]>) {
      const got = next<[Buffer]>(receiver, 'message');
      const drained = next(sender, 'drain', 3000);
      assert.equal(sender.send('x'.repeat(200_000)), false, 'past the 64 KiB mark');
      await drained;
      assert.equal((await got)[0].length, 200_000);
    }
  });

  const cases: Array<[BackpressurePolicy, 1008 | 1013]> = [['close', 1008], ['close', 1013], ['drop', 1008]];
  for (const [policy, closeCode] of cases) {
    it(`a slow reader hits maxBufferedAmount (policy '${policy}'${policy === 'close' ? ` ${closeCode}` : ''}) while another client stays fast`, T, async () => {
      const cap = 1024 * 1024;
      const { server, port, url } = await startServer({ maxBufferedAmount: cap, backpressure: policy, backpressureCloseCode: closeCode, closeTimeout: 500 });
      cleanup.server(server);
      const serverSide: WebSocket[] = [];
      server.on('connection', (ws: WebSocket, req: { url?: string }) => {
        serverSide.push(ws);
        if (req.url === '/fast') echo(ws);
      });
      const fast = cleanup.socket(await connect(`${url}/fast`));
      const baseline: number[] = [];
      for (let i = 0; i < 10; i++) baseline.push(await roundTrip(fast));

      // The slow reader completes the handshake and then never reads.
      const slowPeer = await rawWebSocket(port, '/slow');
      cleanup.socket(slowPeer.socket);
      slowPeer.socket.pause();
      await until(() => serverSide.length === 2, 2000, 'the slow connection');
      const slow = serverSide.find((w) => w.url === '/slow')!;
      const errors: string[] = [];
      slow.on('error', (e: { code: string }) => errors.push(e.code));
      let slowClose: [number, string, boolean] | undefined;
      slow.on('close', (...args: [number, string, boolean]) => (slowClose = args));

      const chunk = Buffer.alloc(64 * 1024, 7);
      let sentBytes = 0;
      let maxBuffered = 0;
      let stop = false;
      const flood = (async () => {
        // Bounded: at most 512 MiB offered, far more than any kernel buffers on loopback.
        while (!stop && sentBytes < 512 * 1024 * 1024 && slow.readyState === slow.OPEN) {
          for (let i = 0; i < 16; i++) slow.send(chunk);
          sentBytes += 16 * chunk.length;
          maxBuffered = Math.max(maxBuffered, slow.bufferedAmount);
          if (policy === 'drop' && slow.droppedMessages > 50) break;
          await new Promise((r) => setImmediate(r));
        }
      })();
      const during: number[] = [];
      while (during.length < 10) {
        during.push(await roundTrip(fast));
        await delay(5);
      }
      await within(flood, 30_000, 'the flood to hit the cap');
      stop = true;
      while (during.length < 20) during.push(await roundTrip(fast));

      const worstBefore = Math.max(...baseline);
      const worstDuring = Math.max(...during);
      assert.ok(worstDuring < Math.max(100, worstBefore * 20), `round trip ${worstDuring.toFixed(1)} ms during vs ${worstBefore.toFixed(1)} ms before`);
      assert.ok(maxBuffered <= cap + 64 * 1024 * 16, `buffered ${maxBuffered} bytes`);
      if (policy === 'close') {
        await until(() => slowClose !== undefined, 5000, 'the slow reader to be closed');
        assert.equal(slowClose![0], closeCode);
        assert.equal(slowClose![2], false);
        assert.deepEqual(errors, ['WS_ERR_OUTBOUND_BUFFER_FULL']);
        assert.equal(slow.send('more'), false, 'send after the policy closed it');
      } else {
        assert.ok(slow.droppedMessages > 0, 'messages were dropped');
        assert.equal(slow.readyState, slow.OPEN, "'drop' keeps the connection");
        assert.ok(slow.bufferedAmount <= cap, `buffered ${slow.bufferedAmount}`);
        assert.equal(slow.send(chunk), false, 'a send over the cap reports false');
      }
      assert.equal(fast.readyState, fast.OPEN);
    });
  }
});

describe('inbound backpressure', () => {
  it("pause() stops 'message' events; resume() delivers the rest in order", T, async () => {
    const { server, url } = await startServer();
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const client = cleanup.socket(await connect(url));
    const [ws] = await connected;
    const got: string[] = [];
    ws.on('message', (d: Buffer) => got.push(d.toString()));
    client.send('m0');
    await until(() => got.length === 1, 2000, 'first message');
    ws.pause();
    assert.equal(ws.isPaused, true);
    for (let i = 1; i <= 50; i++) client.send(`m${i}`);
    await delay(300);
    assert.deepEqual(got, ['m0'], 'no message while paused');
    ws.resume();
    await until(() => got.length === 51, 3000, 'the rest');
    assert.deepEqual(got, Array.from({ length: 51 }, (_, i) => `m${i}`));
  });

  it('pausing inside a message handler holds the messages already received in the same chunk', T, async () => {
    const { server, port } = await startServer();
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const peer = await rawWebSocket(port);
    cleanup.socket(peer.socket);
    const [ws] = await connected;
    const got: string[] = [];
    ws.on('message', (d: Buffer) => {
      got.push(d.toString());
      if (got.length === 2) ws.pause();
    });
    // Five frames in one TCP write: the core must stop after the second.
    const { maskedFrame } = await import('../helpers/loopback.js');
    peer.socket.write(Buffer.concat(['a', 'b', 'c', 'd', 'e'].map((s) => maskedFrame(1, Buffer.from(s)))));
    await until(() => got.length >= 2, 2000, 'two messages');
    await delay(200);
    assert.deepEqual(got, ['a', 'b']);
    ws.resume();
    await until(() => got.length === 5, 2000, 'the rest');
    assert.deepEqual(got, ['a', 'b', 'c', 'd', 'e']);
  });
});
