// Heartbeat (a peer that stops answering pings is closed with 1011; latency measured for normal clients) and
// the idle timeout (a silent connection is closed, a chatty one is not).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect } from '../../src/client/connect.js';
import type { WebSocket } from '../../src/connection/websocket.js';
import { Cleanup, closeCodeOf, delay, next, rawWebSocket, startServer, until, within } from '../helpers/loopback.js';

const T = { timeout: 20_000 };

/**
 * How late this process's timers ran during `fn` (ms, the worst case): on a loaded machine a timer can fire
 * hundreds of ms late, which no sweeper can prevent. The upper bounds below allow that lateness on top of their
 * own slack, so they still catch a lost sweeper period (a whole interval) without failing on a busy CI host.
 */
async function withTimerLateness<R>(fn: () => Promise<R>): Promise<[R, number]> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  try {
    const result = await fn();
    return [result, histogram.max / 1e6];
  } finally {
    histogram.disable();
  }
}
const cleanup = new Cleanup();
after(() => cleanup.run());

describe('heartbeat', () => {
  it('a raw peer that never answers pings is closed with 1011 within interval + timeout', T, async () => {
    const interval = 300;
    const timeout = 300;
    // Several servers at once (each sweeper has its own phase): a lost sweeper period shows up in one of them.
    const one = async (): Promise<void> => {
      const { server, port } = await startServer({ heartbeatInterval: interval, heartbeatTimeout: timeout });
      cleanup.server(server);
      const connected = next<[WebSocket]>(server, 'connection');
      const began = Date.now();
      const peer = await rawWebSocket(port);
      cleanup.socket(peer.socket);
      peer.read(); // reads the pings, never answers them
      const [ws] = await connected;
      const errors: string[] = [];
      ws.on('error', (e: { code: string }) => errors.push(e.code));
      const [[code, , wasClean], lateness] = await withTimerLateness(() => next<[number, string, boolean]>(ws, 'close', 5000));
      const elapsed = Date.now() - began;
      assert.equal(code, 1011);
      assert.equal(wasClean, false);
      assert.deepEqual(errors, ['WS_ERR_HEARTBEAT_TIMEOUT']);
      // The first ping goes out within `interval` (the sweeper's phase), the close `timeout` after it: no extra
      // sweeper period may be lost to timer drift. 250 ms of slack, plus however late this process's timers ran.
      assert.ok(elapsed <= interval + timeout + 250 + lateness, `closed after ${elapsed} ms (timers up to ${Math.round(lateness)} ms late)`);
      assert.ok(elapsed >= timeout, `closed after ${elapsed} ms`);
      assert.ok(peer.frames.some((f) => f.opcode === 0x9), 'the peer was pinged');
      const closeFrame = peer.closeFrames()[0];
      assert.ok(closeFrame, 'a close frame was sent');
      assert.equal(closeCodeOf(closeFrame), 1011);
      await within(peer.closed, 2000, 'TCP closed');
    };
    await Promise.all([one(), one(), one(), one(), one(), one()]);
  });

  it('a normal client stays connected through several intervals and latency is a positive number', T, async () => {
    const { server, url } = await startServer({ heartbeatInterval: 150, heartbeatTimeout: 300 });
    cleanup.server(server);
    const connected = next<[WebSocket]>(server, 'connection');
    const client = cleanup.socket(await connect(url));
    const [ws] = await connected;
    let pings = 0;
    client.on('ping', () => pings++);
    await until(() => typeof ws.latency === 'number', 3000, 'latency');
    await delay(800);
    assert.equal(ws.readyState, ws.OPEN);
    assert.equal(client.readyState, client.OPEN);
    assert.ok(pings >= 3, `pinged ${pings} times`);
    assert.equal(typeof ws.latency, 'number');
    assert.ok(ws.latency! > 0 && ws.latency! < 1000, `latency ${ws.latency}`);
  });
});

describe('idle timeout', () => {
  it('closes silent connections with 1000 after the timeout, whatever their phase; keeps a chatty one', T, async () => {
    const idle = 500;
    const { server, url } = await startServer({ idleTimeout: idle });
    cleanup.server(server);
    const chatty = cleanup.socket(await connect(url));
    const chat = setInterval(() => chatty.readyState === chatty.OPEN && chatty.send('still here'), 100);
    cleanup.add(chat, clearInterval);
    // Silent connections opened at different points of the sweeper's period (250 ms here).
    const [lifetimes, lateness] = await withTimerLateness(() => Promise.all([0, 50, 100, 150, 200].map(async (offset) => {
      await delay(offset);
      const began = Date.now();
      const silent = cleanup.socket(await connect(url));
      const [code, reason] = await next<[number, string, boolean]>(silent, 'close', 5000);
      assert.equal(code, 1000);
      assert.equal(reason, 'Idle timeout');
      return Date.now() - began;
    })));
    for (const ms of lifetimes) {
      assert.ok(ms >= idle - 30, `closed after ${ms} ms, before the ${idle} ms idle timeout (${lifetimes.join(', ')})`);
      assert.ok(ms < idle + 250 + 500 + lateness, `closed after ${ms} ms (${lifetimes.join(', ')}; timers up to ${Math.round(lateness)} ms late)`);
    }
    await delay(300);
    clearInterval(chat);
    assert.equal(chatty.readyState, chatty.OPEN, 'a connection sending messages is not idle');
    assert.equal(server.clients.size, 1);
  });
});
