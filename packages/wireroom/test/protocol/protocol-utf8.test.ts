// RFC 6455 8.1 (text messages must be valid UTF-8, RFC 3629) through the protocol core: every invalid class
// fails the connection with 1007, fail-fast (in the fragment or chunk where the bad byte appears).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes } from '../../src/protocol/errors.js';
import type { Role } from '../../src/protocol/protocol.js';
import { OP, assertFailed, feed, open, peerFrame, splitEvery } from '../helpers/frames.js';

const ROLES: Role[] = ['server', 'client'];

/** Invalid sequences by class. Each is invalid on its own and after/before valid text. */
const INVALID: { name: string; bytes: number[] }[] = [
  { name: 'overlong 2-byte (C0 AF = "/")', bytes: [0xc0, 0xaf] },
  { name: 'overlong 2-byte (C1 BF)', bytes: [0xc1, 0xbf] },
  { name: 'overlong 2-byte NUL (C0 80)', bytes: [0xc0, 0x80] },
  { name: 'overlong 3-byte (E0 80 AF)', bytes: [0xe0, 0x80, 0xaf] },
  { name: 'overlong 3-byte (E0 9F BF, U+07FF)', bytes: [0xe0, 0x9f, 0xbf] },
  { name: 'overlong 4-byte (F0 80 80 AF)', bytes: [0xf0, 0x80, 0x80, 0xaf] },
  { name: 'overlong 4-byte (F0 8F BF BF, U+FFFF)', bytes: [0xf0, 0x8f, 0xbf, 0xbf] },
  { name: 'surrogate U+D800 (ED A0 80)', bytes: [0xed, 0xa0, 0x80] },
  { name: 'surrogate U+DBFF (ED AF BF)', bytes: [0xed, 0xaf, 0xbf] },
  { name: 'surrogate U+DC00 (ED B0 80)', bytes: [0xed, 0xb0, 0x80] },
  { name: 'surrogate U+DFFF (ED BF BF)', bytes: [0xed, 0xbf, 0xbf] },
  { name: 'surrogate pair encoded as CESU-8 (U+1F600)', bytes: [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80] },
  { name: 'above U+10FFFF (F4 90 80 80, U+110000)', bytes: [0xf4, 0x90, 0x80, 0x80] },
  { name: 'above U+10FFFF (F4 BF BF BF)', bytes: [0xf4, 0xbf, 0xbf, 0xbf] },
  { name: 'above U+10FFFF (F5 80 80 80)', bytes: [0xf5, 0x80, 0x80, 0x80] },
  { name: 'above U+10FFFF (F7 BF BF BF, U+1FFFFF)', bytes: [0xf7, 0xbf, 0xbf, 0xbf] },
  { name: '5-byte form (F8 88 80 80 80)', bytes: [0xf8, 0x88, 0x80, 0x80, 0x80] },
  { name: '5-byte form (FB BF BF BF BF)', bytes: [0xfb, 0xbf, 0xbf, 0xbf, 0xbf] },
  { name: '6-byte form (FC 84 80 80 80 80)', bytes: [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80] },
  { name: '6-byte form (FD BF BF BF BF BF)', bytes: [0xfd, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf] },
  { name: 'FE', bytes: [0xfe] },
  { name: 'FF', bytes: [0xff] },
  { name: 'FE FF (UTF-16 BOM bytes)', bytes: [0xfe, 0xff] },
  { name: 'lone continuation 80', bytes: [0x80] },
  { name: 'lone continuation BF', bytes: [0xbf] },
  { name: 'too many continuations (C3 A9 80)', bytes: [0xc3, 0xa9, 0x80] },
  { name: 'lead byte followed by ASCII (C3 41)', bytes: [0xc3, 0x41] },
  { name: 'truncated 3-byte followed by ASCII (E2 82 41)', bytes: [0xe2, 0x82, 0x41] },
  { name: 'truncated 4-byte followed by a new lead (F0 9F 98 F0 9F 98 80)', bytes: [0xf0, 0x9f, 0x98, 0xf0, 0x9f, 0x98, 0x80] },
];

/** Sequences that are only invalid because the message ends: truncated characters. */
const TRUNCATED: { name: string; bytes: number[] }[] = [
  { name: 'truncated 2-byte (C3)', bytes: [0xc3] },
  { name: 'truncated 3-byte (E2)', bytes: [0xe2] },
  { name: 'truncated 3-byte (E2 82)', bytes: [0xe2, 0x82] },
  { name: 'truncated 4-byte (F0)', bytes: [0xf0] },
  { name: 'truncated 4-byte (F0 9F)', bytes: [0xf0, 0x9f] },
  { name: 'truncated 4-byte (F0 9F 98)', bytes: [0xf0, 0x9f, 0x98] },
  { name: 'truncated 4-byte (F4 8F BF)', bytes: [0xf4, 0x8f, 0xbf] },
];

const PREFIX = Buffer.from('valid prefix é€𝄞 ');
const SUFFIX = Buffer.from(' valid suffix');

/** Every way to deliver `text` as one message: one frame whole / byte by byte, one fragment per byte, etc. */
function deliveries(role: Role, text: Buffer): { name: string; chunks: Buffer[] }[] {
  const out: { name: string; chunks: Buffer[] }[] = [];
  out.push({ name: 'one frame, one chunk', chunks: [peerFrame(role, OP.TEXT, text)] });
  out.push({ name: 'one frame, byte by byte', chunks: splitEvery(peerFrame(role, OP.TEXT, text), 1) });
  const perByte = [...text].map((b, i) => peerFrame(role, i === 0 ? OP.TEXT : OP.CONT, [b], { fin: i === text.length - 1 }));
  if (text.length === 0) perByte.push(peerFrame(role, OP.TEXT, ''));
  out.push({ name: 'one fragment per byte, one chunk', chunks: [Buffer.concat(perByte)] });
  out.push({ name: 'one fragment per byte, one chunk per fragment', chunks: perByte });
  const half = text.length >> 1;
  const two = Buffer.concat([peerFrame(role, OP.TEXT, text.subarray(0, half), { fin: false }), peerFrame(role, OP.CONT, text.subarray(half))]);
  out.push({ name: 'two fragments, chunks of 3', chunks: splitEvery(two, 3) });
  return out;
}

describe('8.1 invalid UTF-8 in text messages -> 1007', () => {
  for (const role of ROLES) {
    for (const { name, bytes } of [...INVALID, ...TRUNCATED]) {
      test(`${role}: ${name}`, () => {
        const variants = [Buffer.from(bytes), Buffer.concat([PREFIX, Buffer.from(bytes)])];
        // A truncated sequence followed by more text is a different (invalid) sequence; test it separately.
        variants.push(Buffer.concat([PREFIX, Buffer.from(bytes), SUFFIX]));
        for (const text of variants) {
          for (const { name: how, chunks } of deliveries(role, text)) {
            const { proto, rec } = open(role);
            feed(proto, ...chunks);
            assert.deepEqual(rec.messages, [], `${how}: no message`);
            assertFailed(rec, ErrorCodes.INVALID_UTF8, 1007);
          }
        }
      });
    }

    test(`${role}: binary messages are not validated`, () => {
      for (const { bytes } of [...INVALID, ...TRUNCATED]) {
        const { proto, rec } = open(role);
        feed(proto, peerFrame(role, OP.BINARY, bytes), peerFrame(role, OP.BINARY, bytes, { fin: false }), peerFrame(role, OP.CONT, bytes));
        assert.equal(rec.messages.length, 2);
        assert.deepEqual(rec.errors, []);
      }
    });
  }
});

describe('8.1 valid UTF-8 is accepted however it is split', () => {
  // Boundary code points of each length, a noncharacter, NUL and a BOM.
  const text = Buffer.from('\u0000\u007f\u0080\u07ff\u0800\ud7ff\ue000\ufeff\ufffd\ufffe\uffff\u{10000}\u{1f600}\u{10ffff}aé€𝄞');

  for (const role of ROLES) {
    test(`${role}: every split point between two fragments and between two chunks`, () => {
      for (let cut = 0; cut <= text.length; cut++) {
        const fragments = open(role);
        feed(fragments.proto, peerFrame(role, OP.TEXT, text.subarray(0, cut), { fin: false }), peerFrame(role, OP.CONT, text.subarray(cut)));
        assert.deepEqual(fragments.rec.errors, [], `fragments cut at ${cut}`);
        assert.ok(fragments.rec.messages[0]!.data.equals(text));

        const frame = peerFrame(role, OP.TEXT, text);
        for (const at of [cut, cut + (role === 'server' ? 6 : 2)]) {
          const chunks = open(role);
          feed(chunks.proto, frame.subarray(0, at), frame.subarray(at));
          assert.deepEqual(chunks.rec.errors, [], `chunks cut at ${at}`);
          assert.ok(chunks.rec.messages[0]!.data.equals(text));
        }
      }
    });

    test(`${role}: a 4-byte character split over 4 fragments, each also split over chunks`, () => {
      const char = Buffer.from('𝄞'); // F0 9D 84 9E
      const frames = [...char].map((b, i) => peerFrame(role, i === 0 ? OP.TEXT : OP.CONT, [b], { fin: i === 3 }));
      const { proto, rec } = open(role);
      feed(proto, ...splitEvery(Buffer.concat(frames), 1));
      assert.equal(rec.messages[0]!.data.toString(), '𝄞');
      assert.equal(rec.messages[0]!.isBinary, false);
    });

    test(`${role}: a long text message in many fragments and odd chunks`, () => {
      const long = Buffer.from('Grüße aus Zürich — 你好世界 — 🎉🎊 '.repeat(500));
      const frames = [];
      for (let i = 0, n = 0; i < long.length; i += 777, n++) frames.push(peerFrame(role, n === 0 ? OP.TEXT : OP.CONT, long.subarray(i, i + 777), { fin: i + 777 >= long.length }));
      const stream = Buffer.concat(frames);
      for (const size of [1, 13, 4096, stream.length]) {
        const { proto, rec } = open(role);
        feed(proto, ...splitEvery(stream, size));
        assert.deepEqual(rec.errors, [], `chunks of ${size}`);
        assert.ok(rec.messages[0]!.data.equals(long));
      }
    });
  }
});

describe('8.1 fail-fast', () => {
  for (const role of ROLES) {
    test(`${role}: an invalid byte in the 2nd of 3 fragments is detected when the 2nd fragment arrives`, () => {
      for (const bad of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xe2, 0x41]]) {
        const second = Buffer.concat([Buffer.from('mid '), Buffer.from(bad), Buffer.from(' dle')]);
        for (const firstSplit of [false, true]) {
          const { proto, rec } = open(role);
          const first = peerFrame(role, OP.TEXT, 'first fragment é', { fin: false });
          if (firstSplit) feed(proto, first.subarray(0, 9), first.subarray(9));
          else feed(proto, first);
          assert.deepEqual(rec.log, []);
          feed(proto, peerFrame(role, OP.CONT, second, { fin: false }));
          assertFailed(rec, ErrorCodes.INVALID_UTF8, 1007);
          const before = rec.log.length;
          feed(proto, peerFrame(role, OP.CONT, 'third'));
          assert.equal(rec.log.length, before, 'the 3rd fragment is ignored');
        }
      }
    });

    test(`${role}: an invalid byte in the middle chunk of one frame split over 3 chunks is detected then`, () => {
      const text = Buffer.concat([Buffer.from('a'.repeat(40)), Buffer.from([0xed, 0xbf, 0xbf]), Buffer.from('b'.repeat(40))]);
      const frame = peerFrame(role, OP.TEXT, text);
      const header = role === 'server' ? 6 : 2;
      const { proto, rec } = open(role);
      feed(proto, frame.subarray(0, header + 30));
      assert.deepEqual(rec.log, []);
      feed(proto, frame.subarray(header + 30, header + 60));
      assertFailed(rec, ErrorCodes.INVALID_UTF8, 1007);
      feed(proto, frame.subarray(header + 60));
      assert.equal(rec.errors.length, 1);
    });

    test(`${role}: a bad continuation of a character split across fragments is detected at the next fragment`, () => {
      // E2 at the end of fragment 2 is a valid prefix; 41 at the start of fragment 3 is not a continuation.
      for (const [tail, head] of [[[0xe2], [0x41]], [[0xed], [0xa0, 0x80]], [[0xf4], [0x90]], [[0xe0], [0x80]], [[0xf0, 0x9f], [0x41]]]) {
        const { proto, rec } = open(role);
        feed(proto, peerFrame(role, OP.TEXT, 'one', { fin: false }), peerFrame(role, OP.CONT, Buffer.concat([Buffer.from('two'), Buffer.from(tail!)]), { fin: false }));
        assert.deepEqual(rec.log, [], `valid so far: ${tail}`);
        feed(proto, peerFrame(role, OP.CONT, Buffer.concat([Buffer.from(head!), Buffer.from('three')]), { fin: false }));
        assertFailed(rec, ErrorCodes.INVALID_UTF8, 1007);
      }
    });

    test(`${role}: F4 | 90 split across chunks of one frame fails on the chunk with 90`, () => {
      const frame = peerFrame(role, OP.TEXT, Buffer.from([0x61, 0xf4, 0x90, 0x80, 0x80, 0x62, 0x63, 0x64]));
      const header = role === 'server' ? 6 : 2;
      const { proto, rec } = open(role);
      feed(proto, frame.subarray(0, header + 2));
      assert.deepEqual(rec.log, []);
      feed(proto, frame.subarray(header + 2, header + 3));
      assertFailed(rec, ErrorCodes.INVALID_UTF8, 1007);
    });

    test(`${role}: a message ending mid-character fails at its final fragment, not before`, () => {
      const { proto, rec } = open(role);
      feed(proto, peerFrame(role, OP.TEXT, 'ok ', { fin: false }), peerFrame(role, OP.CONT, [0xf0, 0x9f], { fin: false }));
      assert.deepEqual(rec.log, []);
      feed(proto, peerFrame(role, OP.CONT, [0x98]));
      assertFailed(rec, ErrorCodes.INVALID_UTF8, 1007);
    });

    test(`${role}: the validator state does not leak from one message into the next`, () => {
      // A message ending in a complete character, then one starting with a continuation byte: must fail.
      const { proto, rec } = open(role);
      feed(proto, peerFrame(role, OP.TEXT, 'é', { fin: false }), peerFrame(role, OP.CONT, 'x'));
      feed(proto, peerFrame(role, OP.TEXT, [0xa9], { fin: false }));
      assert.equal(rec.messages.length, 1);
      assertFailed(rec, ErrorCodes.INVALID_UTF8, 1007);
      // And a failed-looking prefix in a binary message does not taint the next text message.
      const b = open(role);
      feed(b.proto, peerFrame(role, OP.BINARY, [0xe2], { fin: false }), peerFrame(role, OP.CONT, [0x82]));
      feed(b.proto, peerFrame(role, OP.TEXT, [0x41], { fin: false }), peerFrame(role, OP.CONT, [0x42]));
      assert.deepEqual(b.rec.errors, []);
      assert.equal(b.rec.messages[1]!.data.toString(), 'AB');
    });
  }
});
