// RFC 6455 section 5 (base framing, masking, fragmentation, control frames) against the sans-I/O core.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes } from '../../src/protocol/errors.js';
import type { Role } from '../../src/protocol/protocol.js';
import {
  OP,
  assertFailed,
  buildFrame,
  clientFrame,
  closePayload,
  feed,
  frameHeader,
  open,
  peerFrame,
  serverFrame,
  splitAt,
  splitEvery,
} from '../helpers/frames.js';

const ROLES: Role[] = ['server', 'client'];

function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe('5.2 frame header: payload length encodings', () => {
  for (const role of ROLES) {
    const cases: { name: string; length: number; bits: 7 | 16 | 64 }[] = [
      { name: '7-bit, empty', length: 0, bits: 7 },
      { name: '7-bit, 1 byte', length: 1, bits: 7 },
      { name: '7-bit, 125 bytes', length: 125, bits: 7 },
      { name: '16-bit, 126 bytes', length: 126, bits: 16 },
      { name: '16-bit, 65535 bytes', length: 65535, bits: 16 },
      { name: '64-bit, 65536 bytes', length: 65536, bits: 64 },
      { name: '64-bit, 200000 bytes', length: 200_000, bits: 64 },
      { name: 'non-minimal 16-bit, 0 bytes', length: 0, bits: 16 },
      { name: 'non-minimal 16-bit, 5 bytes', length: 5, bits: 16 },
      { name: 'non-minimal 16-bit, 125 bytes', length: 125, bits: 16 },
      { name: 'non-minimal 64-bit, 0 bytes', length: 0, bits: 64 },
      { name: 'non-minimal 64-bit, 7 bytes', length: 7, bits: 64 },
      { name: 'non-minimal 64-bit, 300 bytes', length: 300, bits: 64 },
    ];
    for (const { name, length, bits } of cases) {
      test(`${role}: ${name} (binary), whole and byte by byte`, () => {
        const payload = bytes(length, length);
        const frame = peerFrame(role, OP.BINARY, payload, { lengthBits: bits });
        const expectedHeader = 2 + (bits === 16 ? 2 : bits === 64 ? 8 : 0) + (role === 'server' ? 4 : 0);
        assert.equal(frame.length, expectedHeader + length, 'the builder used the requested encoding');

        const whole = open(role);
        feed(whole.proto, frame);
        assert.deepEqual(whole.rec.types, ['message']);
        assert.equal(whole.rec.messages[0]!.isBinary, true);
        assert.ok(whole.rec.messages[0]!.data.equals(payload));

        // One byte at a time is slow for big payloads; 7-byte pieces still cut every header field.
        const pieces = open(role);
        feed(pieces.proto, ...splitEvery(frame, length > 1000 ? 4099 : 1));
        if (length > 1000) {
          const tiny = open(role);
          feed(tiny.proto, ...splitEvery(frame.subarray(0, expectedHeader + 3), 1), frame.subarray(expectedHeader + 3));
          assert.ok(tiny.rec.messages[0]!.data.equals(payload));
        }
        assert.deepEqual(pieces.rec.types, ['message']);
        assert.ok(pieces.rec.messages[0]!.data.equals(payload));
        assert.deepEqual(whole.rec.log.filter((e) => e.type === 'output'), [], 'nothing is sent back for a data frame');
      });
    }

    test(`${role}: a non-minimal 16-bit length on a control frame (ping of 5 bytes) is accepted`, () => {
      const { proto, rec } = open(role);
      feed(proto, peerFrame(role, OP.PING, 'hello', { lengthBits: 16 }));
      assert.deepEqual(rec.types, ['ping']);
      assert.equal((rec.events[0] as { payload: Buffer }).payload.toString(), 'hello');
    });

    test(`${role}: text frame decoded as text`, () => {
      const { proto, rec } = open(role);
      feed(proto, peerFrame(role, OP.TEXT, 'héllo wörld €𝄞'));
      assert.deepEqual(rec.messages.map((m) => [m.data.toString('utf8'), m.isBinary]), [['héllo wörld €𝄞', false]]);
    });

    test(`${role}: many frames in one chunk are all delivered in order`, () => {
      const { proto, rec } = open(role);
      const frames = [];
      for (let i = 0; i < 50; i++) frames.push(peerFrame(role, i % 2 ? OP.BINARY : OP.TEXT, `m${i}`));
      feed(proto, Buffer.concat(frames));
      assert.deepEqual(rec.messages.map((m) => m.data.toString()), Array.from({ length: 50 }, (_, i) => `m${i}`));
      assert.deepEqual(rec.messages.map((m) => m.isBinary), Array.from({ length: 50 }, (_, i) => i % 2 === 1));
    });

    test(`${role}: 64-bit length with the most significant bit set -> 1002, from the header alone`, () => {
      for (const declared of [0x8000_0000_0000_0000n, 0xffff_ffff_ffff_ffffn, 0x8000_0000_0000_0005n]) {
        const { proto, rec } = open(role);
        feed(proto, frameHeader(OP.BINARY, declared, { lengthBits: 64, mask: role === 'server' }));
        assertFailed(rec, ErrorCodes.INVALID_LENGTH, 1002);
      }
    });

    test(`${role}: the header is parsed only once complete (each byte of a 64-bit masked header apart)`, () => {
      const { proto, rec } = open(role);
      const frame = peerFrame(role, OP.BINARY, bytes(70_000), { lengthBits: 64 });
      const headerSize = role === 'server' ? 14 : 10;
      for (let i = 0; i < headerSize; i++) {
        feed(proto, frame.subarray(i, i + 1));
        assert.deepEqual(rec.log, [], `nothing after header byte ${i}`);
      }
      feed(proto, frame.subarray(headerSize));
      assert.ok(rec.messages[0]!.data.equals(bytes(70_000)));
    });
  }
});

describe('5.1 / 5.3 masking rules', () => {
  test('server role: an unmasked client frame -> 1002 WS_ERR_EXPECTED_MASK', () => {
    for (const opcode of [OP.TEXT, OP.BINARY, OP.PING, OP.PONG, OP.CLOSE]) {
      const { proto, rec } = open('server');
      feed(proto, serverFrame(opcode, opcode === OP.CLOSE ? closePayload(1000) : 'x'));
      assertFailed(rec, ErrorCodes.EXPECTED_MASK, 1002);
      const close = rec.outputFrames[0]!;
      assert.equal(close.masked, false, 'the server close frame is unmasked');
    }
  });

  test('client role: a masked server frame -> 1002 WS_ERR_UNEXPECTED_MASK', () => {
    for (const opcode of [OP.TEXT, OP.BINARY, OP.PING, OP.PONG, OP.CLOSE]) {
      const { proto, rec } = open('client');
      feed(proto, clientFrame(opcode, opcode === OP.CLOSE ? closePayload(1000) : 'x'));
      assertFailed(rec, ErrorCodes.UNEXPECTED_MASK, 1002);
      const close = rec.outputFrames[0]!;
      assert.equal(close.masked, true, 'the client close frame is masked');
    }
  });

  test('server role: every mask key unmasks correctly, whole and split at every mask phase', () => {
    const payload = bytes(37, 5);
    for (const key of [[0, 0, 0, 0], [0xff, 0xff, 0xff, 0xff], [1, 2, 3, 4], [0x80, 0x00, 0x7f, 0xfe]]) {
      const frame = clientFrame(OP.BINARY, payload, { mask: key });
      for (let cut = 0; cut <= frame.length; cut++) {
        const { proto, rec } = open('server');
        feed(proto, frame.subarray(0, cut), frame.subarray(cut));
        assert.ok(rec.messages[0]!.data.equals(payload), `key ${key}, cut ${cut}`);
      }
      for (const size of [1, 2, 3, 5]) {
        const { proto, rec } = open('server');
        feed(proto, ...splitEvery(frame, size));
        assert.ok(rec.messages[0]!.data.equals(payload), `key ${key}, pieces of ${size}`);
      }
    }
  });

  test('a long masked payload (word and SIMD kernels) in odd-sized chunks is unmasked correctly', () => {
    const payload = bytes(100_000, 9);
    const frame = clientFrame(OP.BINARY, payload, { mask: [0xde, 0xad, 0xbe, 0xef] });
    for (const size of [1021, 4097, 65_537]) {
      const { proto, rec } = open('server');
      feed(proto, ...splitEvery(frame, size));
      assert.ok(rec.messages[0]!.data.equals(payload), `chunks of ${size}`);
    }
  });

  test('outgoing frames: the server does not mask, the client masks (pong replies)', () => {
    const server = open('server');
    feed(server.proto, clientFrame(OP.PING, 'abc'));
    const s = server.rec.outputFrames;
    assert.equal(s.length, 1);
    assert.equal(s[0]!.masked, false);
    const client = open('client');
    feed(client.proto, serverFrame(OP.PING, 'abc'));
    const c = client.rec.outputFrames;
    assert.equal(c.length, 1);
    assert.equal(c[0]!.masked, true);
    assert.equal(c[0]!.payload.toString(), 'abc');
  });
});

describe('5.2 reserved bits', () => {
  for (const role of ROLES) {
    for (const bit of ['rsv1', 'rsv2', 'rsv3'] as const) {
      for (const opcode of [OP.TEXT, OP.BINARY, OP.PING, OP.PONG, OP.CLOSE]) {
        test(`${role}: ${bit} on opcode ${opcode} without an extension -> 1002`, () => {
          const { proto, rec } = open(role);
          feed(proto, peerFrame(role, opcode, opcode === OP.CLOSE ? closePayload(1000) : 'x', { [bit]: true }));
          assertFailed(rec, ErrorCodes.UNEXPECTED_RSV, 1002);
        });
      }
    }

    test(`${role}: RSV1 on a continuation frame without an extension -> 1002`, () => {
      const { proto, rec } = open(role);
      feed(proto, peerFrame(role, OP.TEXT, 'a', { fin: false }), peerFrame(role, OP.CONT, 'b', { rsv1: true }));
      assertFailed(rec, ErrorCodes.UNEXPECTED_RSV, 1002);
    });

    test(`${role} with compression: RSV1 on the first data frame is allowed and goes to onCompressedFrame`, () => {
      const { proto, rec } = open(role, { compressionNegotiated: true });
      feed(
        proto,
        peerFrame(role, OP.TEXT, 'deflated-1', { rsv1: true, fin: false }),
        peerFrame(role, OP.PING, 'p'),
        peerFrame(role, OP.CONT, 'deflated-2', { fin: false }),
        peerFrame(role, OP.CONT, 'deflated-3'),
        peerFrame(role, OP.BINARY, 'bin', { rsv1: true }),
        peerFrame(role, OP.TEXT, 'plain'),
      );
      const events = rec.events.map((e) =>
        e.type === 'compressed' ? ['compressed', e.payload.toString(), e.fin, e.isBinary] : e.type === 'message' ? ['message', e.data.toString(), e.isBinary] : [e.type],
      );
      assert.deepEqual(events, [
        ['compressed', 'deflated-1', false, false],
        ['ping'],
        ['compressed', 'deflated-2', false, false],
        ['compressed', 'deflated-3', true, false],
        ['compressed', 'bin', true, true],
        ['message', 'plain', false],
      ]);
    });

    test(`${role} with compression: a compressed frame split over chunks is delivered whole`, () => {
      const { proto, rec } = open(role, { compressionNegotiated: true });
      const payload = bytes(3000, 3);
      feed(proto, ...splitEvery(peerFrame(role, OP.BINARY, payload, { rsv1: true }), 7));
      assert.equal(rec.events.length, 1);
      const event = rec.events[0]!;
      assert.equal(event.type, 'compressed');
      assert.ok((event as { payload: Buffer }).payload.equals(payload));
    });

    test(`${role} with compression: compressed data is not validated as UTF-8 (the decompressor does that)`, () => {
      const { proto, rec } = open(role, { compressionNegotiated: true });
      feed(proto, peerFrame(role, OP.TEXT, [0xff, 0xfe, 0xc0], { rsv1: true }));
      assert.deepEqual(rec.types, ['compressed']);
    });

    for (const [name, opcode] of [['ping', OP.PING], ['pong', OP.PONG], ['close', OP.CLOSE]] as const) {
      test(`${role} with compression: RSV1 on a ${name} frame -> 1002`, () => {
        const { proto, rec } = open(role, { compressionNegotiated: true });
        feed(proto, peerFrame(role, opcode, opcode === OP.CLOSE ? closePayload(1000) : '', { rsv1: true }));
        assertFailed(rec, ErrorCodes.UNEXPECTED_RSV, 1002);
      });
    }

    test(`${role} with compression: RSV1 on a continuation frame -> 1002`, () => {
      for (const firstCompressed of [true, false]) {
        const { proto, rec } = open(role, { compressionNegotiated: true });
        feed(proto, peerFrame(role, OP.BINARY, 'a', { fin: false, rsv1: firstCompressed }), peerFrame(role, OP.CONT, 'b', { rsv1: true }));
        assertFailed(rec, ErrorCodes.UNEXPECTED_RSV, 1002);
      }
    });

    test(`${role} with compression: RSV2 and RSV3 are still refused`, () => {
      for (const bit of ['rsv2', 'rsv3'] as const) {
        const { proto, rec } = open(role, { compressionNegotiated: true });
        feed(proto, peerFrame(role, OP.TEXT, 'x', { [bit]: true, rsv1: true }));
        assertFailed(rec, ErrorCodes.UNEXPECTED_RSV, 1002);
      }
    });

    test(`${role}: enableCompression() allows RSV1 from then on`, () => {
      const { proto, rec } = open(role);
      proto.enableCompression();
      feed(proto, peerFrame(role, OP.TEXT, 'z', { rsv1: true }));
      assert.deepEqual(rec.types, ['compressed']);
    });
  }
});

describe('5.2 opcodes', () => {
  for (const role of ROLES) {
    for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
      test(`${role}: reserved opcode ${opcode} -> 1002 (also with FIN=0, empty or not)`, () => {
        for (const [fin, payload] of [[true, ''], [true, 'abc'], [false, 'abc']] as const) {
          const { proto, rec } = open(role);
          feed(proto, peerFrame(role, opcode, payload, { fin }));
          assertFailed(rec, ErrorCodes.INVALID_OPCODE, 1002);
        }
      });
      test(`${role}: reserved opcode ${opcode} between fragments -> 1002`, () => {
        const { proto, rec } = open(role);
        feed(proto, peerFrame(role, OP.TEXT, 'a', { fin: false }), peerFrame(role, opcode, 'b'));
        assertFailed(rec, ErrorCodes.INVALID_OPCODE, 1002);
      });
    }
  }
});

describe('5.5 control frames', () => {
  for (const role of ROLES) {
    for (const [name, opcode, payload] of [
      ['ping', OP.PING, 'p'],
      ['pong', OP.PONG, 'p'],
      ['close', OP.CLOSE, closePayload(1000)],
    ] as const) {
      test(`${role}: ${name} with FIN=0 -> 1002`, () => {
        const { proto, rec } = open(role);
        feed(proto, peerFrame(role, opcode, payload, { fin: false }));
        assertFailed(rec, ErrorCodes.INVALID_CONTROL_FRAME, 1002);
      });
      test(`${role}: ${name} of 126 bytes -> 1002 (from the header alone), 125 bytes accepted`, () => {
        const big = opcode === OP.CLOSE ? closePayload(1000, 'r'.repeat(124)) : Buffer.alloc(126, 0x61);
        assert.equal(big.length, 126);
        const { proto, rec } = open(role);
        const frame = peerFrame(role, opcode, big);
        feed(proto, frame.subarray(0, role === 'server' ? 8 : 4));
        assertFailed(rec, ErrorCodes.INVALID_CONTROL_FRAME, 1002);

        const ok = open(role);
        const max = opcode === OP.CLOSE ? closePayload(1000, 'r'.repeat(123)) : Buffer.alloc(125, 0x61);
        feed(ok.proto, peerFrame(role, opcode, max));
        assert.deepEqual(ok.rec.errors, []);
        assert.deepEqual(ok.rec.types, [name]);
      });
      test(`${role}: ${name} declaring a 64-bit length of 200 -> 1002`, () => {
        const { proto, rec } = open(role);
        feed(proto, frameHeader(opcode, 200, { mask: role === 'server' }));
        assertFailed(rec, ErrorCodes.INVALID_CONTROL_FRAME, 1002);
      });
    }

    test(`${role}: control frames interleaved between fragments are delivered in order`, () => {
      const { proto, rec } = open(role);
      const stream = Buffer.concat([
        peerFrame(role, OP.TEXT, 'Hel', { fin: false }),
        peerFrame(role, OP.PING, 'p1'),
        peerFrame(role, OP.CONT, 'lo, ', { fin: false }),
        peerFrame(role, OP.PONG, 'q1'),
        peerFrame(role, OP.PING, 'p2'),
        peerFrame(role, OP.CONT, '', { fin: false }),
        peerFrame(role, OP.CONT, 'world'),
        peerFrame(role, OP.PING, 'p3'),
        peerFrame(role, OP.BINARY, [1, 2], { fin: false }),
        peerFrame(role, OP.PONG, ''),
        peerFrame(role, OP.CONT, [3]),
        peerFrame(role, OP.CLOSE, closePayload(1000, 'bye')),
      ]);
      const summary = (r: typeof rec) =>
        r.events.map((e) =>
          e.type === 'message' ? `message:${e.isBinary ? e.data.toString('hex') : e.data.toString()}` : e.type === 'ping' || e.type === 'pong' ? `${e.type}:${e.payload.toString()}` : e.type === 'close' ? `close:${e.code}:${e.reason}` : e.type,
        );
      const expected = ['ping:p1', 'pong:q1', 'ping:p2', 'message:Hello, world', 'ping:p3', 'pong:', 'message:010203', 'close:1000:bye'];
      feed(proto, stream);
      assert.deepEqual(summary(rec), expected);
      for (const size of [1, 2, 3, 7]) {
        const chunked = open(role);
        feed(chunked.proto, ...splitEvery(stream, size));
        assert.deepEqual(summary(chunked.rec), expected, `chunks of ${size}`);
        // Three pongs answered the pings in order, then the close echo.
        const out = chunked.rec.outputFrames;
        assert.deepEqual(out.map((f) => [f.opcode, f.opcode === OP.CLOSE ? f.payload.readUInt16BE(0) : f.payload.toString()]), [
          [OP.PONG, 'p1'],
          [OP.PONG, 'p2'],
          [OP.PONG, 'p3'],
          [OP.CLOSE, 1000],
        ]);
      }
    });

    test(`${role}: a control frame split across chunks between fragments`, () => {
      const { proto, rec } = open(role);
      const ping = peerFrame(role, OP.PING, 'ping-payload-123');
      feed(proto, peerFrame(role, OP.TEXT, 'ab', { fin: false }), ping.subarray(0, 5), ping.subarray(5, 11), ping.subarray(11), peerFrame(role, OP.CONT, 'cd'));
      assert.deepEqual(rec.types, ['ping', 'message']);
      assert.equal((rec.events[0] as { payload: Buffer }).payload.toString(), 'ping-payload-123');
      assert.equal(rec.messages[0]!.data.toString(), 'abcd');
    });
  }
});

describe('5.4 fragmentation', () => {
  for (const role of ROLES) {
    test(`${role}: a continuation frame with no message open -> 1002`, () => {
      for (const fin of [true, false]) {
        const { proto, rec } = open(role);
        feed(proto, peerFrame(role, OP.CONT, 'x', { fin }));
        assertFailed(rec, ErrorCodes.UNEXPECTED_CONTINUATION, 1002);
      }
    });

    test(`${role}: a continuation after a complete message -> 1002`, () => {
      const { proto, rec } = open(role);
      feed(proto, peerFrame(role, OP.TEXT, 'a', { fin: false }), peerFrame(role, OP.CONT, 'b'), peerFrame(role, OP.CONT, 'c'));
      assert.deepEqual(rec.messages.map((m) => m.data.toString()), ['ab']);
      assertFailed(rec, ErrorCodes.UNEXPECTED_CONTINUATION, 1002);
    });

    for (const [first, second] of [
      [OP.TEXT, OP.TEXT],
      [OP.TEXT, OP.BINARY],
      [OP.BINARY, OP.TEXT],
      [OP.BINARY, OP.BINARY],
    ]) {
      test(`${role}: a new data frame (opcode ${second}) while a message (opcode ${first}) is open -> 1002`, () => {
        for (const fin of [true, false]) {
          const { proto, rec } = open(role);
          feed(proto, peerFrame(role, first!, 'a', { fin: false }), peerFrame(role, second!, 'b', { fin }));
          assertFailed(rec, ErrorCodes.EXPECTED_CONTINUATION, 1002);
          assert.deepEqual(rec.messages, []);
        }
      });
    }

    test(`${role}: fragmented text and binary messages are reassembled (including empty fragments)`, () => {
      const { proto, rec } = open(role);
      feed(
        proto,
        peerFrame(role, OP.TEXT, '', { fin: false }),
        peerFrame(role, OP.CONT, 'x', { fin: false }),
        peerFrame(role, OP.CONT, ''),
        peerFrame(role, OP.BINARY, '', { fin: false }),
        peerFrame(role, OP.CONT, ''),
        peerFrame(role, OP.TEXT, ''),
        peerFrame(role, OP.BINARY, bytes(20_000), { fin: false }),
        peerFrame(role, OP.CONT, bytes(30_000, 2)),
      );
      assert.deepEqual(rec.messages.slice(0, 3).map((m) => [m.data.toString(), m.isBinary]), [
        ['x', false],
        ['', true],
        ['', false],
      ]);
      assert.ok(rec.messages[3]!.data.equals(Buffer.concat([bytes(20_000), bytes(30_000, 2)])));
      assert.equal(rec.messages[3]!.isBinary, true);
    });

    test(`${role}: messages after a fragmented one are independent (no leftover bytes)`, () => {
      const { proto, rec } = open(role);
      const stream = Buffer.concat([
        peerFrame(role, OP.BINARY, 'first-part-', { fin: false }),
        peerFrame(role, OP.CONT, 'second'),
        peerFrame(role, OP.BINARY, 'solo'),
        peerFrame(role, OP.TEXT, 'a', { fin: false }),
        peerFrame(role, OP.CONT, 'b'),
      ]);
      feed(proto, ...splitEvery(stream, 5));
      assert.deepEqual(rec.messages.map((m) => m.data.toString()), ['first-part-second', 'solo', 'ab']);
    });
  }
});

describe('zero-copy delivery', () => {
  for (const role of ROLES) {
    test(`${role}: a single-frame message within one chunk is a view of that chunk`, () => {
      const { proto, rec } = open(role);
      const chunk = Buffer.concat([peerFrame(role, OP.BINARY, bytes(5000)), peerFrame(role, OP.TEXT, 'second')]);
      proto.receive(chunk);
      assert.equal(rec.messages.length, 2);
      for (const { data } of rec.messages) {
        assert.equal(data.buffer, chunk.buffer, 'same ArrayBuffer');
        assert.ok(data.byteOffset >= chunk.byteOffset && data.byteOffset + data.length <= chunk.byteOffset + chunk.length, 'inside the chunk');
      }
      assert.ok(rec.messages[0]!.data.equals(bytes(5000)));
    });

    test(`${role}: header in one chunk, the whole payload in the next: a view of the second chunk`, () => {
      const { proto, rec } = open(role);
      const frame = peerFrame(role, OP.BINARY, bytes(300));
      const headerSize = role === 'server' ? 8 : 4;
      const first = Buffer.from(frame.subarray(0, headerSize));
      const second = Buffer.from(frame.subarray(headerSize));
      proto.receive(first);
      proto.receive(second);
      assert.equal(rec.messages[0]!.data.buffer, second.buffer);
      assert.ok(rec.messages[0]!.data.equals(bytes(300)));
    });
  }
});

describe('receive() robustness', () => {
  test('an empty chunk is ignored', () => {
    const { proto, rec } = open('server');
    proto.receive(Buffer.alloc(0));
    const frame = clientFrame(OP.TEXT, 'ok');
    proto.receive(frame.subarray(0, 3));
    proto.receive(Buffer.alloc(0));
    proto.receive(frame.subarray(3));
    assert.deepEqual(rec.messages.map((m) => m.data.toString()), ['ok']);
  });

  test('a frame built by the independent builder with an explicit key matches the RFC 5.7 examples', () => {
    // RFC 6455 5.7: a single-frame masked text message "Hello".
    const rfc = Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    assert.ok(clientFrame(OP.TEXT, 'Hello', { mask: [0x37, 0xfa, 0x21, 0x3d] }).equals(rfc));
    const server = open('server');
    feed(server.proto, rfc);
    assert.equal(server.rec.messages[0]!.data.toString(), 'Hello');
    // Unmasked "Hello" in two fragments, to the client.
    const client = open('client');
    feed(client.proto, Buffer.from([0x01, 0x03, 0x48, 0x65, 0x6c]), Buffer.from([0x80, 0x02, 0x6c, 0x6f]));
    assert.equal(client.rec.messages[0]!.data.toString(), 'Hello');
    // Unmasked ping "Hello" and the masked pong the client answers with.
    const ping = open('client');
    feed(ping.proto, Buffer.from([0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]));
    const pong = ping.rec.outputFrames[0]!;
    assert.equal(pong.opcode, OP.PONG);
    assert.equal(pong.payload.toString(), 'Hello');
    // 256 bytes binary in a single unmasked frame: 0x82 0x7E 0x0100.
    const bin = open('client');
    feed(bin.proto, Buffer.concat([Buffer.from([0x82, 0x7e, 0x01, 0x00]), bytes(256)]));
    assert.ok(bin.rec.messages[0]!.data.equals(bytes(256)));
    assert.ok(buildFrame(OP.BINARY, bytes(256)).subarray(0, 4).equals(Buffer.from([0x82, 0x7e, 0x01, 0x00])));
  });
});

test('a one-frame binary message split across chunks arrives intact, whatever the cuts and the key', () => {
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (const size of [2, 5, 159, 161, 700, 1500, 5000, 70_000, 300_000]) {
    const payload = Buffer.alloc(size);
    for (let i = 0; i < size; i++) payload[i] = random(256);
    const key = Uint8Array.of(random(256), random(256), random(256), random(256));
    const frame = clientFrame(OP.BINARY, payload, { mask: key });
    const headerLength = frame.length - size;
    const cutPatterns: number[][] = [
      [headerLength + 1], // one byte, then the rest: the second piece starts at mask phase 1
      [headerLength + (size >> 1)],
      Array.from({ length: 8 }, () => headerLength + 1 + random(size - 1)).sort((a, b) => a - b),
      size <= 5000 ? Array.from({ length: size - 1 }, (_, i) => headerLength + 1 + i) : [headerLength + 3, headerLength + 4096, headerLength + 70_001],
    ];
    for (const cuts of cutPatterns) {
      const { proto, rec } = open('server', { maxMessageSize: 1 << 20 });
      feed(proto, ...splitAt(frame, cuts));
      assert.equal(rec.messages.length, 1, `size ${size}, cuts ${cuts.length}`);
      assert.equal(rec.messages[0]!.isBinary, true);
      assert.ok(rec.messages[0]!.data.equals(payload), `size ${size}: payload intact after ${cuts.length} cuts`);
    }
  }
});
