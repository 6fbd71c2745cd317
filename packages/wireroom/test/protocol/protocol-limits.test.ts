// Limits of the protocol core (src/protocol/limits.ts): frame size and message size (1009), checked on the
// declared length before any payload byte; fragments per message (1008).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes } from '../../src/protocol/errors.js';
import { DEFAULT_LIMITS } from '../../src/protocol/limits.js';
import type { Role } from '../../src/protocol/protocol.js';
import { OP, assertFailed, feed, frameHeader, open, peerFrame } from '../helpers/frames.js';

const ROLES: Role[] = ['server', 'client'];

describe('limits: defaults and options', () => {
  test('the documented defaults', () => {
    assert.deepEqual({ ...DEFAULT_LIMITS }, { maxMessageSize: 1024 * 1024, maxFrameSize: 1024 * 1024, maxFragments: 4096 });
    const { proto } = open('server');
    assert.deepEqual(proto.limits, { ...DEFAULT_LIMITS });
  });

  test('options override each limit; maxFrameSize follows maxMessageSize when not given', () => {
    assert.deepEqual(open('server', { maxMessageSize: 10, maxFrameSize: 5, maxFragments: 2 }).proto.limits, { maxMessageSize: 10, maxFrameSize: 5, maxFragments: 2 });
    assert.deepEqual(open('server', { maxMessageSize: 10 }).proto.limits, { maxMessageSize: 10, maxFrameSize: 10, maxFragments: 4096 });
    assert.deepEqual(open('server', { maxMessageSize: 8 * 1024 * 1024 }).proto.limits.maxFrameSize, 8 * 1024 * 1024);
  });
});

describe('limits: frame size (1009) on the declared length', () => {
  for (const role of ROLES) {
    const mask = role === 'server';

    test(`${role}: default limit: a header declaring 1 MiB + 1 fails before any payload byte`, () => {
      for (const opcode of [OP.TEXT, OP.BINARY]) {
        const { proto, rec } = open(role);
        feed(proto, frameHeader(opcode, 1024 * 1024 + 1, { mask }));
        assertFailed(rec, ErrorCodes.FRAME_TOO_BIG, 1009);
      }
    });

    test(`${role}: default limit: exactly 1 MiB is accepted`, () => {
      const { proto, rec } = open(role);
      const payload = Buffer.alloc(1024 * 1024, 0x5a);
      feed(proto, frameHeader(OP.BINARY, payload.length, { mask }));
      assert.deepEqual(rec.log, [], 'header alone: nothing yet, no error');
      feed(proto, peerFrame(role, OP.BINARY, payload).subarray(mask ? 14 : 10));
      assert.equal(rec.messages.length, 1);
      assert.ok(rec.messages[0]!.data.equals(payload));
    });

    test(`${role}: huge declared lengths (2^32, 2^53 - 1, 2^63 - 1) fail from the header`, () => {
      for (const declared of [2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n]) {
        const { proto, rec } = open(role);
        feed(proto, frameHeader(OP.BINARY, declared, { mask, lengthBits: 64 }));
        assertFailed(rec, ErrorCodes.FRAME_TOO_BIG, 1009);
      }
    });

    for (const bits of [7, 16, 64] as const) {
      test(`${role}: custom maxFrameSize, ${bits}-bit length: limit accepted, limit + 1 fails from the header`, () => {
        const limit = bits === 7 ? 100 : bits === 16 ? 1000 : 70_000;
        const options = { maxFrameSize: limit, maxMessageSize: 10 * limit };
        const { proto, rec } = open(role, options);
        feed(proto, frameHeader(OP.BINARY, limit + 1, { mask, lengthBits: bits }));
        assertFailed(rec, ErrorCodes.FRAME_TOO_BIG, 1009);

        const ok = open(role, options);
        feed(ok.proto, peerFrame(role, OP.BINARY, Buffer.alloc(limit, 1), { lengthBits: bits }));
        assert.deepEqual(ok.rec.types, ['message']);
      });
    }

    test(`${role}: maxFrameSize applies to every fragment, including continuations and compressed frames`, () => {
      const a = open(role, { maxFrameSize: 10, maxMessageSize: 1000 });
      feed(a.proto, peerFrame(role, OP.TEXT, 'x'.repeat(10), { fin: false }), frameHeader(OP.CONT, 11, { mask }));
      assertFailed(a.rec, ErrorCodes.FRAME_TOO_BIG, 1009);
      const b = open(role, { maxFrameSize: 10, maxMessageSize: 1000, compressionNegotiated: true });
      feed(b.proto, frameHeader(OP.BINARY, 11, { mask, rsv1: true }));
      assertFailed(b.rec, ErrorCodes.FRAME_TOO_BIG, 1009);
    });
  }
});

describe('limits: message size (1009) on the declared lengths', () => {
  for (const role of ROLES) {
    const mask = role === 'server';

    test(`${role}: the fragment that would exceed maxMessageSize fails from its header`, () => {
      const { proto, rec } = open(role, { maxMessageSize: 100, maxFrameSize: 100 });
      feed(proto, peerFrame(role, OP.BINARY, Buffer.alloc(60), { fin: false }), peerFrame(role, OP.CONT, Buffer.alloc(40), { fin: false }));
      assert.deepEqual(rec.log, [], '100 bytes so far: fine');
      feed(proto, frameHeader(OP.CONT, 1, { mask, fin: true }));
      assertFailed(rec, ErrorCodes.MESSAGE_TOO_BIG, 1009);
    });

    test(`${role}: exactly maxMessageSize over several fragments is delivered`, () => {
      const { proto, rec } = open(role, { maxMessageSize: 100, maxFrameSize: 100 });
      feed(proto, peerFrame(role, OP.TEXT, 'a'.repeat(60), { fin: false }), peerFrame(role, OP.PING, 'p'.repeat(125)), peerFrame(role, OP.CONT, 'b'.repeat(40)));
      assert.deepEqual(rec.types, ['ping', 'message'], 'control frames do not count toward the message');
      assert.equal(rec.messages[0]!.data.length, 100);
    });

    test(`${role}: a single frame over maxMessageSize (under maxFrameSize) fails from its header`, () => {
      const { proto, rec } = open(role, { maxMessageSize: 50, maxFrameSize: 1000 });
      feed(proto, frameHeader(OP.TEXT, 51, { mask }));
      assertFailed(rec, ErrorCodes.MESSAGE_TOO_BIG, 1009);
    });

    test(`${role}: the size is counted per message (a new message starts from zero)`, () => {
      const { proto, rec } = open(role, { maxMessageSize: 10 });
      for (let i = 0; i < 5; i++) feed(proto, peerFrame(role, OP.BINARY, Buffer.alloc(6), { fin: false }), peerFrame(role, OP.CONT, Buffer.alloc(4)));
      assert.equal(rec.messages.length, 5);
      assert.deepEqual(rec.errors, []);
    });

    test(`${role}: compressed messages: the declared compressed lengths count toward maxMessageSize`, () => {
      const { proto, rec } = open(role, { maxMessageSize: 20, compressionNegotiated: true });
      feed(proto, peerFrame(role, OP.BINARY, Buffer.alloc(15), { fin: false, rsv1: true }), frameHeader(OP.CONT, 6, { mask }));
      assert.deepEqual(rec.types.slice(0, 1), ['compressed']);
      assertFailed(rec, ErrorCodes.MESSAGE_TOO_BIG, 1009);
    });
  }
});

describe('limits: fragments per message (1008)', () => {
  for (const role of ROLES) {
    test(`${role}: maxFragments fragments are accepted, one more fails at its header`, () => {
      const limit = 5;
      const ok = open(role, { maxFragments: limit });
      const frames = [peerFrame(role, OP.TEXT, 'a', { fin: false })];
      for (let i = 1; i < limit - 1; i++) frames.push(peerFrame(role, OP.CONT, 'b', { fin: false }));
      feed(ok.proto, ...frames, peerFrame(role, OP.CONT, 'c'));
      assert.deepEqual(ok.rec.messages.map((m) => m.data.toString()), ['abbbc']);

      const bad = open(role, { maxFragments: limit });
      feed(bad.proto, ...frames, peerFrame(role, OP.CONT, 'b', { fin: false }));
      assert.deepEqual(bad.rec.log, []);
      feed(bad.proto, frameHeader(OP.CONT, 1, { mask: role === 'server' }));
      assertFailed(bad.rec, ErrorCodes.TOO_MANY_FRAGMENTS, 1008);
    });

    test(`${role}: control frames between fragments do not count as fragments`, () => {
      const { proto, rec } = open(role, { maxFragments: 2 });
      feed(proto, peerFrame(role, OP.BINARY, 'a', { fin: false }), peerFrame(role, OP.PING, ''), peerFrame(role, OP.PONG, ''), peerFrame(role, OP.CONT, 'b'));
      assert.deepEqual(rec.types, ['ping', 'pong', 'message']);
    });

    test(`${role}: the count restarts with each message`, () => {
      const { proto, rec } = open(role, { maxFragments: 2 });
      for (let i = 0; i < 10; i++) feed(proto, peerFrame(role, OP.BINARY, 'a', { fin: false }), peerFrame(role, OP.CONT, 'b'));
      assert.equal(rec.messages.length, 10);
      assert.deepEqual(rec.errors, []);
    });
  }

  test('a flood of 100,000 one-byte fragments is refused at the limit, without memory growing', () => {
    const count = 100_000;
    const frameSize = 7; // 2 header + 4 mask + 1 byte
    const stream = Buffer.allocUnsafe(count * frameSize);
    clientFrame1(OP.BINARY, false).copy(stream, 0);
    for (let i = 1; i < count; i++) clientFrame1(OP.CONT, i === count - 1).copy(stream, i * frameSize);

    globalThis.gc?.();
    const before = process.memoryUsage();
    const started = performance.now();
    const { proto, rec } = open('server');
    let failedAt = -1;
    for (let i = 0; i < count; i++) {
      // Views into one prebuilt buffer: the test itself allocates nothing per fragment.
      proto.receive(stream.subarray(i * frameSize, (i + 1) * frameSize));
      if (failedAt < 0 && rec.errors.length > 0) failedAt = i;
    }
    const elapsed = performance.now() - started;
    const after = process.memoryUsage();

    assert.equal(failedAt, DEFAULT_LIMITS.maxFragments, 'the fragment after the 4096th is refused');
    assertFailed(rec, ErrorCodes.TOO_MANY_FRAGMENTS, 1008);
    assert.deepEqual(rec.messages, []);
    assert.equal(rec.log.length, 2, 'close frame + error, nothing for the ~96,000 fragments after it');
    const grown = after.arrayBuffers - before.arrayBuffers;
    assert.ok(grown < 1024 * 1024, `buffer memory grew by ${grown} bytes`);
    assert.ok(elapsed < 2000, `took ${elapsed.toFixed(0)} ms`);
  });

  test('with a generous limit, 100,000 one-byte fragments reassemble with buffer memory proportional to the bytes', () => {
    const count = 100_000;
    const frames: Buffer[] = [serverFrame1(OP.BINARY, false)];
    for (let i = 1; i < count; i++) frames.push(serverFrame1(OP.CONT, i === count - 1));
    const stream = Buffer.concat(frames);
    frames.length = 0;
    globalThis.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    const { proto, rec } = open('client', { maxFragments: count });
    for (let offset = 0; offset < stream.length; offset += 3 * 1000 + 1) proto.receive(stream.subarray(offset, offset + 3 * 1000 + 1));
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.equal(rec.messages.length, 1);
    assert.equal(rec.messages[0]!.data.length, count);
    assert.ok(rec.messages[0]!.data.every((b, i) => b === (i & 0xff)));
    // The accumulator doubles from 16 KiB: at most 2x the message, plus slack; not a buffer per fragment.
    assert.ok(grown < 4 * count + 256 * 1024, `buffer memory grew by ${grown} bytes for ${count} bytes of message`);
  });
});

/** A masked 1-byte frame (payload byte 0x78), built by hand for the flood tests. */
function clientFrame1(opcode: number, fin: boolean): Buffer {
  return Buffer.from([(fin ? 0x80 : 0) | opcode, 0x81, 1, 2, 3, 4, 0x78 ^ 1]);
}
let serial = 0;
/** An unmasked 1-byte frame carrying a running counter byte. */
function serverFrame1(opcode: number, fin: boolean): Buffer {
  if (opcode !== OP.CONT) serial = 0;
  return Buffer.from([(fin ? 0x80 : 0) | opcode, 0x01, serial++ & 0xff]);
}
