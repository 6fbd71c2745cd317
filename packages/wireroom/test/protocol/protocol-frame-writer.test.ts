// RFC 6455 5.2 / 5.3 / 5.7 on the sending side: src/protocol/frame-writer.ts, checked with the independent decoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COPY_THRESHOLD, encodeFrame, encodeTextFrame, headerSize, writeHeader } from '../../src/protocol/frame-writer.js';
import { OP, decodeFrames, outputBytes } from '../helpers/frames.js';

test('RFC 5.7 examples: unmasked "Hello", fragmented "Hel"+"lo", 256 bytes binary', () => {
  assert.deepEqual([...outputBytes(encodeFrame(OP.TEXT, Buffer.from('Hello')))], [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
  assert.deepEqual([...outputBytes(encodeFrame(OP.TEXT, Buffer.from('Hel'), { fin: false }))], [0x01, 0x03, 0x48, 0x65, 0x6c]);
  assert.deepEqual([...outputBytes(encodeFrame(OP.CONT, Buffer.from('lo')))], [0x80, 0x02, 0x6c, 0x6f]);
  assert.deepEqual([...outputBytes(encodeFrame(OP.PING, Buffer.from('Hello')))], [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
  assert.deepEqual([...outputBytes(encodeFrame(OP.BINARY, Buffer.alloc(256))).subarray(0, 4)], [0x82, 0x7e, 0x01, 0x00]);
  assert.deepEqual([...outputBytes(encodeFrame(OP.BINARY, Buffer.alloc(65536))).subarray(0, 10)], [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
  assert.deepEqual([...encodeTextFrame('Hello')], [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
});

test('length encodings at every boundary, masked and unmasked', () => {
  for (const length of [0, 1, 125, 126, 127, 65535, 65536, 65537]) {
    for (const mask of [false, true]) {
      const payload = Buffer.alloc(length, 0x42);
      const bytes = outputBytes(encodeFrame(OP.BINARY, payload, { mask }));
      assert.equal(bytes.length, headerSize(length, mask) + length, `length ${length}, mask ${mask}`);
      const expectedHeader = (length < 126 ? 2 : length < 65536 ? 4 : 10) + (mask ? 4 : 0);
      assert.equal(headerSize(length, mask), expectedHeader);
      const [frame] = decodeFrames(bytes);
      assert.equal(frame!.masked, mask);
      assert.ok(frame!.payload.equals(payload));
    }
  }
});

test('writeHeader: 64-bit lengths beyond 2^32 are written big-endian', () => {
  for (const length of [2 ** 32, 2 ** 32 + 5, 2 ** 40 + 0x010203, Number.MAX_SAFE_INTEGER]) {
    const target = Buffer.alloc(12, 0xee);
    const end = writeHeader(target, 1, OP.BINARY, length, true, false, true);
    assert.equal(end, 11);
    assert.equal(target[0], 0xee, 'nothing written before the offset');
    assert.equal(target[1], 0x82);
    assert.equal(target[2], 0x80 | 127);
    assert.equal(target.readBigUInt64BE(3), BigInt(length));
  }
});

test('flags: FIN, RSV1 and the opcode land in the first byte; RSV2/RSV3 stay clear', () => {
  for (const opcode of [OP.CONT, OP.TEXT, OP.BINARY, OP.CLOSE, OP.PING, OP.PONG]) {
    for (const fin of [true, false]) {
      for (const rsv1 of [true, false]) {
        const b0 = outputBytes(encodeFrame(opcode, Buffer.from('x'), { fin, rsv1 }))[0]!;
        assert.equal(b0, (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
        const t0 = encodeTextFrame('x', { fin, rsv1, mask: true })[0]!;
        assert.equal(t0, (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | OP.TEXT);
      }
    }
  }
});

test('masked frames: key in the header, payload masked with it, the caller’s data untouched', () => {
  for (const length of [0, 3, 31, 32, 33, 511, 512, 4099, 70_000]) {
    const payload = Buffer.from(Array.from({ length }, (_, i) => (i * 7) & 0xff));
    const before = Buffer.from(payload);
    const bytes = outputBytes(encodeFrame(OP.BINARY, payload, { mask: true }));
    assert.ok(payload.equals(before), `payload of ${length} bytes unchanged`);
    const [frame] = decodeFrames(bytes);
    assert.equal(frame!.masked, true);
    assert.ok(frame!.payload.equals(payload), `length ${length}`);
  }
});

test('unmasked payloads above COPY_THRESHOLD are returned as [header, payload] without a copy', () => {
  const small = Buffer.alloc(COPY_THRESHOLD, 1);
  assert.ok(!Array.isArray(encodeFrame(OP.BINARY, small)));
  const big = Buffer.alloc(COPY_THRESHOLD + 1, 2);
  const out = encodeFrame(OP.BINARY, big);
  assert.ok(Array.isArray(out));
  assert.equal(out[1], big);
  assert.equal(out[0].length, headerSize(big.length, false));
  assert.ok(!Array.isArray(encodeFrame(OP.BINARY, big, { mask: true })), 'masked frames are always one buffer');
});

test('encodeTextFrame: multi-byte text, masked and unmasked, matches encodeFrame of the UTF-8 bytes', () => {
  for (const text of ['', 'a', 'é€𝄞', 'x'.repeat(125), 'é'.repeat(63), '🎉'.repeat(20_000)]) {
    const plain = encodeTextFrame(text);
    assert.ok(plain.equals(outputBytes(encodeFrame(OP.TEXT, Buffer.from(text)))), `unmasked ${text.length}`);
    const [masked] = decodeFrames(encodeTextFrame(text, { mask: true }));
    assert.equal(masked!.masked, true);
    assert.equal(masked!.payload.toString('utf8'), text);
  }
});
