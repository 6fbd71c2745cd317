import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isValidUtf8, Utf8Validator } from '../../src/protocol/utf8.js';

const SEED = 0x3629_6455;

// ---------------------------------------------------------------------------------------------
// Reference: a per-byte walk over Unicode 15 Table 3-7 ("Well-Formed UTF-8 Byte Sequences"), which is
// RFC 3629's grammar. Deliberately table-driven and slow, unlike the code under test.

type ByteRange = readonly [number, number];
const WELL_FORMED: ReadonlyArray<readonly ByteRange[]> = [
  [[0x00, 0x7f]],
  [[0xc2, 0xdf], [0x80, 0xbf]],
  [[0xe0, 0xe0], [0xa0, 0xbf], [0x80, 0xbf]],
  [[0xe1, 0xec], [0x80, 0xbf], [0x80, 0xbf]],
  [[0xed, 0xed], [0x80, 0x9f], [0x80, 0xbf]],
  [[0xee, 0xef], [0x80, 0xbf], [0x80, 0xbf]],
  [[0xf0, 0xf0], [0x90, 0xbf], [0x80, 0xbf], [0x80, 0xbf]],
  [[0xf1, 0xf3], [0x80, 0xbf], [0x80, 0xbf], [0x80, 0xbf]],
  [[0xf4, 0xf4], [0x80, 0x8f], [0x80, 0xbf], [0x80, 0xbf]],
];

interface Verdict {
  /** Index of the first byte after which the bytes can no longer be a prefix of valid UTF-8, or -1. */
  firstBad: number;
  /** True if the bytes are complete, valid UTF-8. */
  valid: boolean;
}

function referenceVerdict(bytes: Uint8Array): Verdict {
  let row: readonly ByteRange[] | undefined;
  let position = 0; // index within `row` of the next byte
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (row === undefined) {
      row = WELL_FORMED.find((r) => byte >= r[0]![0] && byte <= r[0]![1]);
      if (row === undefined) return { firstBad: i, valid: false };
      position = 1;
    } else {
      const [lo, hi] = row[position]!;
      if (byte < lo || byte > hi) return { firstBad: i, valid: false };
      position++;
    }
    if (position === row.length) row = undefined;
  }
  return { firstBad: -1, valid: row === undefined };
}

/** Pushes `bytes` cut at `cuts`; returns the index of the piece whose push returned false (or -1), and end(). */
function pushInPieces(validator: Utf8Validator, bytes: Uint8Array, cuts: readonly number[]): { rejectedPiece: number; ended: boolean } {
  let from = 0;
  const ends = [...cuts, bytes.length];
  for (let p = 0; p < ends.length; p++) {
    const to = ends[p]!;
    if (!validator.push(bytes.subarray(from, to))) {
      return { rejectedPiece: p, ended: validator.end() };
    }
    from = to;
  }
  return { rejectedPiece: -1, ended: validator.end() };
}

/** Asserts the validator's behaviour on one chunking against the reference: exact rejecting piece, final verdict. */
function checkChunking(validator: Utf8Validator, bytes: Uint8Array, cuts: readonly number[], label: string): void {
  const { firstBad, valid } = referenceVerdict(bytes);
  const { rejectedPiece, ended } = pushInPieces(validator, bytes, cuts);
  const ends = [...cuts, bytes.length];
  // The piece that holds the first bad byte; an empty piece at that offset comes earlier but holds nothing.
  const expectedPiece = firstBad < 0 ? -1 : ends.findIndex((end) => end > firstBad);
  const where = `${label}: ${Buffer.from(bytes).toString('hex')} cut at [${cuts.join(',')}]`;
  assert.equal(rejectedPiece, expectedPiece, `rejected piece, ${where}`);
  assert.equal(ended, valid, `end(), ${where}`);
}

// ---------------------------------------------------------------------------------------------
// Vectors in the style of Autobahn case 6 (after Markus Kuhn's UTF-8 decoder stress test).

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const KOSME = hex('ce ba e1 bd b9 cf 83 ce bc ce b5'); // "κόσμε"

const VALID: Array<[string, Buffer]> = [
  ['empty', hex('')],
  ['κόσμε', KOSME],
  ['Hello-µ@ßöäüàá-UTF-8!!', Buffer.from('Hello-µ@ßöäüàá-UTF-8!!', 'utf8')],
  ['first 1-byte U+0000', hex('00')],
  ['first 2-byte U+0080', hex('c2 80')],
  ['first 3-byte U+0800', hex('e0 a0 80')],
  ['first 4-byte U+10000', hex('f0 90 80 80')],
  ['last 1-byte U+007F', hex('7f')],
  ['last 2-byte U+07FF', hex('df bf')],
  ['last 3-byte U+FFFF', hex('ef bf bf')],
  ['last 4-byte U+10FFFF', hex('f4 8f bf bf')],
  ['U+D7FF', hex('ed 9f bf')],
  ['U+E000', hex('ee 80 80')],
  ['U+FFFD', hex('ef bf bd')],
  ['noncharacter U+FFFE', hex('ef bf be')],
  ['noncharacter U+FDD0', hex('ef b7 90')],
  ['noncharacter U+1FFFE', hex('f0 9f bf be')],
  ['noncharacter U+10FFFE', hex('f4 8f bf be')],
  ['U+0000 inside text', hex('41 00 42')],
];

const INVALID: Array<[string, Buffer]> = [
  // 5- and 6-byte forms
  ['first 5-byte', hex('f8 88 80 80 80')],
  ['first 6-byte', hex('fc 84 80 80 80 80')],
  ['last 5-byte', hex('fb bf bf bf bf')],
  ['last 6-byte', hex('fd bf bf bf bf bf')],
  // above U+10FFFF
  ['U+110000', hex('f4 90 80 80')],
  ['U+13FFFF', hex('f4 bf bf bf')],
  ['U+1FFFFF', hex('f7 bf bf bf')],
  ['F5 lead', hex('f5 80 80 80')],
  // lone continuation bytes
  ['lone 80', hex('80')],
  ['lone BF', hex('bf')],
  ['80 BF', hex('80 bf')],
  ['80 BF 80', hex('80 bf 80')],
  ['80 BF 80 BF', hex('80 bf 80 bf')],
  ['80 BF 80 BF 80', hex('80 bf 80 bf 80')],
  ['all 64 continuation bytes', Buffer.from(Array.from({ length: 64 }, (_, i) => 0x80 + i))],
  ['continuation after ASCII', hex('41 80')],
  ['extra continuation after a 2-byte char', hex('c2 80 80')],
  ['extra continuation after a 4-byte char', hex('f0 90 80 80 80')],
  // truncated sequences (last continuation byte missing), alone and concatenated
  ['2-byte C0 missing last', hex('c0')],
  ['3-byte E0 80 missing last', hex('e0 80')],
  ['4-byte F0 80 80 missing last', hex('f0 80 80')],
  ['5-byte missing last', hex('f8 80 80 80')],
  ['6-byte missing last', hex('fc 80 80 80 80')],
  ['U+07FF missing last', hex('df')],
  ['U+FFFF missing last', hex('ef bf')],
  ['U+10FFFF missing last', hex('f4 8f bf')],
  ['all truncated sequences concatenated', hex('c0 e0 80 f0 80 80 f8 80 80 80 fc 80 80 80 80 df ef bf f7 bf bf fb bf bf bf fd bf bf bf bf')],
  ['κόσμε cut inside the last char', KOSME.subarray(0, KOSME.length - 1)],
  ['valid text then a truncated 3-byte char', hex('41 42 e2 82')],
  ['valid text then a truncated 4-byte char', hex('41 f0 9f 98')],
  // impossible bytes
  ['FE', hex('fe')],
  ['FF', hex('ff')],
  ['FE FE FF FF', hex('fe fe ff ff')],
  // overlong "/"
  ['overlong / 2-byte', hex('c0 af')],
  ['overlong / 3-byte', hex('e0 80 af')],
  ['overlong / 4-byte', hex('f0 80 80 af')],
  ['overlong / 5-byte', hex('f8 80 80 80 af')],
  ['overlong / 6-byte', hex('fc 80 80 80 80 af')],
  // maximum overlongs
  ['max overlong 2-byte U+007F', hex('c1 bf')],
  ['max overlong 3-byte U+07FF', hex('e0 9f bf')],
  ['max overlong 4-byte U+FFFF', hex('f0 8f bf bf')],
  ['max overlong 5-byte', hex('f8 87 bf bf bf')],
  ['max overlong 6-byte', hex('fc 83 bf bf bf bf')],
  // overlong NUL
  ['overlong NUL 2-byte', hex('c0 80')],
  ['overlong NUL 3-byte', hex('e0 80 80')],
  ['overlong NUL 4-byte', hex('f0 80 80 80')],
  ['overlong NUL 5-byte', hex('f8 80 80 80 80')],
  ['overlong NUL 6-byte', hex('fc 80 80 80 80 80')],
  // single surrogates
  ['U+D800', hex('ed a0 80')],
  ['U+DB7F', hex('ed ad bf')],
  ['U+DB80', hex('ed ae 80')],
  ['U+DBFF', hex('ed af bf')],
  ['U+DC00', hex('ed b0 80')],
  ['U+DF80', hex('ed be 80')],
  ['U+DFFF', hex('ed bf bf')],
  // paired surrogates (CESU-8)
  ['U+D800 U+DC00', hex('ed a0 80 ed b0 80')],
  ['U+D800 U+DFFF', hex('ed a0 80 ed bf bf')],
  ['U+DB7F U+DC00', hex('ed ad bf ed b0 80')],
  ['U+DB7F U+DFFF', hex('ed ad bf ed bf bf')],
  ['U+DB80 U+DC00', hex('ed ae 80 ed b0 80')],
  ['U+DB80 U+DFFF', hex('ed ae 80 ed bf bf')],
  ['U+DBFF U+DC00', hex('ed af bf ed b0 80')],
  ['U+DBFF U+DFFF', hex('ed af bf ed bf bf')],
  // C0/C1 and F5..FF leads anywhere
  ['C1 80', hex('c1 80')],
  ['F5 alone', hex('f5')],
  ['κόσμε then FF', Buffer.concat([KOSME, hex('ff')])],
  ['κόσμε then ED A0 80 then κόσμε', Buffer.concat([KOSME, hex('ed a0 80'), KOSME])],
];

// Lone start bytes followed by a space (Kuhn 3.2): every lead byte C0..FD.
for (let lead = 0xc0; lead <= 0xfd; lead++) {
  INVALID.push([`lone start byte ${lead.toString(16)} followed by space`, Buffer.from([lead, 0x20])]);
}

/** Every chunking of `bytes` into pieces of 1.. bytes is too many for long vectors: all single and double cuts. */
function someChunkings(length: number): number[][] {
  const result: number[][] = [[]];
  for (let a = 0; a <= length; a++) {
    result.push([a]);
    for (let b = a; b <= length; b++) result.push([a, b]);
  }
  result.push(Array.from({ length }, (_, i) => i + 1)); // one byte per piece
  return result;
}

// ---------------------------------------------------------------------------------------------

test('the reference agrees with the vector tables (sanity check of the test itself)', () => {
  for (const [name, bytes] of VALID) assert.equal(referenceVerdict(bytes).valid, true, name);
  for (const [name, bytes] of INVALID) assert.equal(referenceVerdict(bytes).valid, false, name);
});

test('isValidUtf8 accepts every valid RFC 3629 class', () => {
  for (const [name, bytes] of VALID) assert.equal(isValidUtf8(bytes), true, name);
});

test('isValidUtf8 rejects every invalid RFC 3629 class', () => {
  for (const [name, bytes] of INVALID) assert.equal(isValidUtf8(bytes), false, name);
});

test('isValidUtf8 (native isUtf8) agrees with the reference on all 1- and 2-byte inputs and the 3-/4-byte boundaries', () => {
  const edges = [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff];
  const check = (bytes: Uint8Array): void => {
    assert.equal(isValidUtf8(bytes), referenceVerdict(bytes).valid, Buffer.from(bytes).toString('hex'));
  };
  for (let a = 0; a < 256; a++) {
    check(Uint8Array.of(a));
    for (let b = 0; b < 256; b++) check(Uint8Array.of(a, b));
  }
  for (let a = 0xc0; a < 256; a++) {
    for (let b = 0x70; b < 0xd0; b++) {
      for (const c of edges) {
        check(Uint8Array.of(a, b, c));
        for (const d of edges) check(Uint8Array.of(a, b, c, d));
      }
    }
  }
});

test('every prefix of κόσμε: valid as a whole only on character boundaries, always a valid prefix', () => {
  const boundaries = new Set([0, 2, 5, 7, 9, 11]);
  const validator = new Utf8Validator();
  for (let length = 0; length <= KOSME.length; length++) {
    const prefix = KOSME.subarray(0, length);
    assert.equal(isValidUtf8(prefix), boundaries.has(length), `isValidUtf8 of ${length} bytes`);
    assert.equal(validator.push(prefix), true, `push of ${length} bytes`);
    assert.equal(validator.end(), boundaries.has(length), `end after ${length} bytes`);
  }
});

test('Utf8Validator gives the reference verdict, in the exact failing piece, for every vector and split', () => {
  const validator = new Utf8Validator();
  for (const [name, bytes] of [...VALID, ...INVALID]) {
    for (const cuts of someChunkings(bytes.length)) checkChunking(validator, bytes, cuts, name);
  }
});

test('Utf8Validator fails fast on characters split across pieces', () => {
  const cases: Array<[string, number[][]]> = [
    ['F4 | 90', [[0xf4], [0x90]]],
    ['E0 | 80', [[0xe0], [0x80]]],
    ['ED | A0', [[0xed], [0xa0]]],
    ['F0 | 8F', [[0xf0], [0x8f]]],
    ['41 E2 | 82 | 41', [[0x41, 0xe2], [0x82], [0x41]]],
    ['F0 | 9F | 98 | 41', [[0xf0], [0x9f], [0x98], [0x41]]],
    ['C2 | C2', [[0xc2], [0xc2]]],
  ];
  for (const [name, pieces] of cases) {
    const validator = new Utf8Validator();
    const results = pieces.map((piece) => validator.push(Uint8Array.from(piece)));
    assert.deepEqual(results.slice(0, -1), pieces.slice(0, -1).map(() => true), `${name}: earlier pieces`);
    assert.equal(results.at(-1), false, `${name}: the offending piece`);
    assert.equal(validator.push(Buffer.from('ok')), false, `${name}: stays failed`);
    assert.equal(validator.end(), false, `${name}: end`);
  }
  for (const lead of [0xc0, 0xc1, 0xf5, 0xff, 0x80]) {
    const validator = new Utf8Validator();
    assert.equal(validator.push(Uint8Array.of(lead)), false, `${lead.toString(16)} alone is rejected at once`);
  }
});

test('Utf8Validator accepts a 4-byte character split 1/1/1/1 and rejects one that stops early', () => {
  const validator = new Utf8Validator();
  for (const byte of [0xf0, 0x9f, 0x98, 0x80]) assert.equal(validator.push(Uint8Array.of(byte)), true);
  assert.equal(validator.end(), true);
  for (const byte of [0xf0, 0x9f, 0x98]) assert.equal(validator.push(Uint8Array.of(byte)), true);
  assert.equal(validator.end(), false, 'message ended mid-character');
});

test('Utf8Validator: reset() and end() start a new message; empty pushes change nothing', () => {
  const validator = new Utf8Validator();
  assert.equal(validator.push(Uint8Array.of(0xff)), false);
  validator.reset();
  assert.equal(validator.push(Buffer.alloc(0)), true);
  assert.equal(validator.push(Uint8Array.of(0xe2)), true);
  assert.equal(validator.push(Buffer.alloc(0)), true);
  assert.equal(validator.end(), false);
  assert.equal(validator.push(Buffer.from('fresh message €', 'utf8')), true);
  assert.equal(validator.end(), true);
  assert.equal(validator.end(), true, 'an empty message is valid');
});

test('Utf8Validator on large pieces with characters straddling every boundary', () => {
  const text = Buffer.from('a€𝄞ж'.repeat(50_000), 'utf8');
  const validator = new Utf8Validator();
  for (let from = 0; from < text.length; from += 65_537) {
    assert.equal(validator.push(text.subarray(from, from + 65_537)), true);
  }
  assert.equal(validator.end(), true);
  const corrupted = Buffer.from(text);
  corrupted[corrupted.length - 100] = 0xff;
  for (let from = 0; from < corrupted.length; from += 65_537) {
    const accepted = validator.push(corrupted.subarray(from, from + 65_537));
    assert.equal(accepted, from + 65_537 < corrupted.length - 100, `piece at ${from}`);
  }
  validator.reset();
});

// ---------------------------------------------------------------------------------------------
// Properties

/** Byte strings built from pieces that are likely to sit near the edge of validity. */
const nearlyUtf8 = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }).map((s) => Array.from(Buffer.from(s, 'utf8'))),
      fc.constantFrom(0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff).map((b) => [b]),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).chain((s) => {
        const bytes = Array.from(Buffer.from(s, 'utf8'));
        return fc.nat(bytes.length - 1).map((keep) => bytes.slice(0, keep || 1)); // a truncated character
      }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => Uint8Array.from(parts.flat()));

const withCuts = (bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<[Uint8Array, number[]]> =>
  bytes.chain((b) =>
    fc.tuple(
      fc.constant(b),
      fc.array(fc.nat(b.length), { maxLength: 8 }).map((cuts) => cuts.sort((x, y) => x - y)),
    ),
  );

test('property: the UTF-8 encoding of any string is accepted in any chunking', () => {
  const validator = new Utf8Validator();
  fc.assert(
    fc.property(
      withCuts(fc.string({ unit: 'binary', maxLength: 200 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8')))),
      ([bytes, cuts]) => {
        assert.equal(isValidUtf8(bytes), true);
        assert.deepEqual(pushInPieces(validator, bytes, cuts), { rejectedPiece: -1, ended: true });
      },
    ),
    { seed: SEED, numRuns: 2000 },
  );
});

test('property: for any bytes and chunking, validator == isUtf8(whole) == reference, rejecting in the first bad piece', () => {
  const validator = new Utf8Validator();
  fc.assert(
    fc.property(withCuts(fc.oneof(nearlyUtf8, fc.uint8Array({ maxLength: 64 }))), ([bytes, cuts]) => {
      assert.equal(isValidUtf8(bytes), referenceVerdict(bytes).valid);
      checkChunking(validator, bytes, cuts, 'property');
    }),
    { seed: SEED, numRuns: 5000 },
  );
});
