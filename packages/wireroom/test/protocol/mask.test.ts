import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  maskBackend,
  maskInto,
  unmaskInPlace,
  unmaskInPlaceJs,
  unmaskInPlaceWasm,
} from '../../src/protocol/mask.js';
import { WireroomError } from '../../src/protocol/errors.js';

const SEED = 0x5eed_6455;

/** The RFC 6455 5.3 definition, one byte at a time. */
function referenceMask(data: Uint8Array, mask: Uint8Array, maskOffset: number): Buffer {
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ mask[(i + maskOffset) % 4]!;
  return out;
}

/** A Buffer of `length` bytes starting `misalign` bytes into its ArrayBuffer (like pool slices). */
function bufferAt(bytes: Uint8Array, misalign: number): Buffer {
  const backing = Buffer.alloc(bytes.length + misalign + 8, 0xee);
  backing.set(bytes, misalign);
  return backing.subarray(misalign, misalign + bytes.length);
}

function patterned(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 131 + 7) & 0xff;
  return bytes;
}

const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
// Around every kernel boundary: byte loop / word loop (160), word loop / wasm (640), wasm chunk (65536).
const LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 31, 32, 33, 64, 159, 160, 161, 163, 639, 640, 641, 1000, 4096, 65535, 65536, 65537, 200_003];

const unmaskers: Array<[string, (data: Buffer, mask: Buffer, maskOffset: number) => void]> = [
  ['unmaskInPlace', unmaskInPlace],
  ['unmaskInPlaceJs', unmaskInPlaceJs],
];
if (unmaskInPlaceWasm !== null) unmaskers.push(['unmaskInPlaceWasm', unmaskInPlaceWasm]);

test('Node 20 has WebAssembly SIMD, so large payloads take the wasm kernel', () => {
  assert.equal(maskBackend, 'wasm-simd');
  assert.notEqual(unmaskInPlaceWasm, null);
});

for (const [name, unmask] of unmaskers) {
  test(`${name} matches the RFC 6455 definition for every length, alignment and mask offset`, () => {
    for (const length of LENGTHS) {
      const plain = patterned(length);
      // 0..3: every alignment mod 4; 2030 and 4093: the wasm scratch offset depends on byteOffset mod 4096.
      for (const misalign of [0, 1, 2, 3, 2030, 4093]) {
        for (let maskOffset = 0; maskOffset < 4; maskOffset++) {
          const data = bufferAt(plain, misalign);
          const backing = Buffer.from(data.buffer, data.byteOffset - misalign, data.length + misalign + 8);
          unmask(data, MASK, maskOffset);
          assert.deepEqual(
            data,
            referenceMask(plain, MASK, maskOffset),
            `length ${length} misalign ${misalign} offset ${maskOffset}`,
          );
          // Nothing outside the slice was touched.
          for (let i = 0; i < misalign; i++) assert.equal(backing[i], 0xee);
          for (let i = misalign + length; i < backing.length; i++) assert.equal(backing[i], 0xee);
        }
      }
    }
  });

  test(`${name}: unmasking a payload in pieces with running mask offsets equals unmasking it whole`, () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 3000 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.array(fc.nat(1200), { maxLength: 6 }),
        (plain, mask, cutsRaw) => {
          const maskBuffer = Buffer.from(mask);
          const cuts = [...new Set(cutsRaw.map((c) => Math.min(c, plain.length)))].sort((a, b) => a - b);
          const data = bufferAt(plain, 1);
          let from = 0;
          for (const to of [...cuts, plain.length]) {
            unmask(data.subarray(from, to), maskBuffer, from % 4);
            from = to;
          }
          assert.deepEqual(data, referenceMask(plain, mask, 0));
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
}

test('masking twice restores the payload (XOR is an involution)', () => {
  const plain = patterned(70_000);
  const data = bufferAt(plain, 3);
  unmaskInPlace(data, MASK, 2);
  assert.notDeepEqual(data, Buffer.from(plain));
  unmaskInPlace(data, MASK, 2);
  assert.deepEqual(data, Buffer.from(plain));
});

test('maskInto writes source XOR mask at the target offset, for every length and relative alignment', () => {
  for (const length of LENGTHS) {
    const plain = patterned(length);
    const expected = referenceMask(plain, MASK, 0);
    for (const sourceMisalign of [0, 1, 2, 3, 1800]) {
      for (const targetOffset of [0, 1, 2, 6, 14, 3000]) {
        const source = bufferAt(plain, sourceMisalign);
        const target = Buffer.alloc(targetOffset + length + 5, 0xab);
        maskInto(source, MASK, target, targetOffset);
        const where = `length ${length} source misalign ${sourceMisalign} target offset ${targetOffset}`;
        assert.deepEqual(target.subarray(targetOffset, targetOffset + length), expected, where);
        assert.deepEqual(source, Buffer.from(plain), `source modified: ${where}`);
        for (let i = 0; i < targetOffset; i++) assert.equal(target[i], 0xab, where);
        for (let i = targetOffset + length; i < target.length; i++) assert.equal(target[i], 0xab, where);
      }
    }
  }
});

test('maskInto refuses a target that is too small instead of truncating', () => {
  const source = Buffer.alloc(100);
  assert.throws(
    () => maskInto(source, MASK, Buffer.alloc(105), 6),
    (err: unknown) => err instanceof WireroomError && err.code === 'WS_ERR_INVALID_ARGUMENT',
  );
  assert.throws(() => maskInto(source, MASK, Buffer.alloc(200), -1), WireroomError);
});
