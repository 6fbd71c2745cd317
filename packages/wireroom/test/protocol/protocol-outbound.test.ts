// The core's outbound side without sockets: send order with pending (compressed) frames, our Close behind
// them, pongs in order and coalesced only when the output is backed up, the cap and its policies.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketProtocol, type ProtocolHandler } from '../../src/protocol/protocol.js';
import { PendingFrame, SendStatus } from '../../src/protocol/outbound.js';
import { decodeFrames, OP, peerFrame, closePayload } from '../helpers/frames.js';

/** A handler whose output is taken only when the test says so (as a transport that writes once per turn). */
function core(options: { highWaterMark?: number; maxBufferedAmount?: number; backpressure?: 'close' | 'drop' | 'wait' } = {}) {
  const state = { transport: 0, errors: [] as string[], signals: 0 };
  const handler: ProtocolHandler = {
    onMessage() {}, onCompressedFrame() {}, onPing() {}, onPong() {}, onClose() {},
    onError: (e) => state.errors.push(e.code),
    onOutputReady: () => { state.signals++; },
    transportBuffered: () => state.transport,
  };
  const proto = new WebSocketProtocol(handler, {
    role: 'server',
    outbound: { highWaterMark: options.highWaterMark ?? 64 * 1024, maxBufferedAmount: options.maxBufferedAmount ?? 1024 * 1024, backpressure: options.backpressure ?? 'close', backpressureCloseCode: 1008 },
  });
  const take = () => decodeFrames(Buffer.concat(proto.takeOutput() ?? []));
  return { proto, state, take };
}

describe('core outbound', () => {
  it('pongs keep their place among data frames; every ping is answered while the output is below the high-water mark', () => {
    const { proto, take } = core();
    proto.receive(Buffer.concat([peerFrame('server', OP.TEXT, 'frag1', { fin: false }), peerFrame('server', OP.PING, 'p'), peerFrame('server', OP.CONT, 'frag2')]));
    proto.send(Buffer.from('echo'), false);
    for (let i = 0; i < 10; i++) proto.receive(peerFrame('server', OP.PING, `p${i}`));
    const frames = take();
    assert.deepEqual(frames.map((f) => [f.opcode, f.payload.toString()]), [[OP.PONG, 'p'], [OP.TEXT, 'echo'], ...Array.from({ length: 10 }, (_, i) => [OP.PONG, `p${i}`])]);
  });

  it('a pong that reaches the high-water mark holds input: the rest of the flood is not parsed until progress', () => {
    const { proto, state, take } = core({ highWaterMark: 1000 });
    state.transport = 5000; // the transport holds more than the high-water mark: the peer does not read
    let pings = 0;
    (proto as unknown as { handler: { onPing(): void } }).handler.onPing = () => { pings++; };
    proto.receive(Buffer.concat(Array.from({ length: 500 }, (_, i) => peerFrame('server', OP.PING, `ping ${i}`))));
    assert.equal(pings, 1, 'parsing stopped after the first answer');
    assert.equal(proto.inputHeld, true);
    proto.receive(peerFrame('server', OP.PING, 'later')); // queued, not parsed
    assert.equal(pings, 1);
    assert.deepEqual(take().map((f) => f.payload.toString()), ['ping 0']);
    // The transport takes everything from now on: each time the output is written, more input is parsed.
    state.transport = 0;
    const after: ReturnType<typeof take> = [];
    for (let rounds = 0; rounds < 1000 && pings < 501; rounds++) {
      proto.outputWritten();
      after.push(...take());
    }
    assert.equal(pings, 501, 'held input is read after progress');
    assert.equal(after.length, 500);
    assert.equal(after.at(-1)!.payload.toString(), 'later');
  });

  it('frames sent after a pending frame wait for it; our Close (even answering the peer) goes out last', () => {
    const { proto, take } = core();
    proto.send(Buffer.from('first'), false);
    const pending = new PendingFrame(100, false);
    assert.equal(proto.sendPending(pending), SendStatus.QUEUED);
    proto.send(Buffer.from('third'), false);
    proto.receive(peerFrame('server', OP.CLOSE, closePayload(1000)));
    assert.deepEqual(take().map((f) => f.payload.toString()), ['first'], 'only what precedes the pending frame');
    assert.equal(proto.closeSent, false);
    proto.completePendingFrame(pending, Buffer.from([0x81, 6, ...Buffer.from('second')]));
    const rest = take();
    assert.deepEqual(rest.map((f) => f.opcode), [OP.TEXT, OP.TEXT, OP.CLOSE]);
    assert.deepEqual(rest.slice(0, 2).map((f) => f.payload.toString()), ['second', 'third']);
    assert.equal(proto.closeSent, true);
  });

  it('a failure drops what waits behind a pending frame and sends its Close at once', () => {
    const { proto, state, take } = core();
    const pending = new PendingFrame(10, false);
    proto.sendPending(pending);
    proto.send(Buffer.from('dropped'), false);
    proto.receive(Buffer.from([0x83, 0x80, 0, 0, 0, 0])); // reserved opcode
    assert.deepEqual(state.errors, ['WS_ERR_INVALID_OPCODE']);
    assert.equal(pending.cancelled, true);
    const frames = take();
    assert.deepEqual(frames.map((f) => f.opcode), [OP.CLOSE]);
    proto.completePendingFrame(pending, Buffer.from([0x81, 1, 0x61]));
    assert.equal(proto.takeOutput(), null, 'a cancelled frame is never sent');
  });

  it('the cap: drop discards, close fails with 1008 behind what is queued, wait queues', () => {
    for (const policy of ['drop', 'close', 'wait'] as const) {
      const { proto, state, take } = core({ highWaterMark: 100, maxBufferedAmount: 1000, backpressure: policy });
      assert.equal(proto.send(Buffer.alloc(600), true), SendStatus.ABOVE_HIGH_WATER_MARK);
      const status = proto.send(Buffer.alloc(600), true);
      const frames = take();
      if (policy === 'drop') {
        assert.equal(status, SendStatus.DROPPED);
        assert.deepEqual(frames.map((f) => f.opcode), [OP.BINARY]);
      } else if (policy === 'close') {
        assert.equal(status, SendStatus.REFUSED);
        assert.deepEqual(state.errors, ['WS_ERR_OUTBOUND_BUFFER_FULL']);
        assert.deepEqual(frames.map((f) => f.opcode), [OP.BINARY, OP.CLOSE]);
        assert.equal(frames[1]!.payload.readUInt16BE(0), 1008);
      } else {
        assert.equal(status, SendStatus.ABOVE_HIGH_WATER_MARK);
        assert.deepEqual(frames.map((f) => f.opcode), [OP.BINARY, OP.BINARY]);
      }
    }
  });
});
