import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HttpHeadParser, type HeadKind, type HeadLimits, type HeadResult } from '../../src/protocol/handshake/index.js';

const SEED = 0x5eed_1e55;

/** Outcome of parsing `bytes` cut at `cuts`, reduced to what must not depend on the cuts. */
function outcome(kind: HeadKind, bytes: Uint8Array, cuts: number[], limits: Partial<HeadLimits>): unknown {
  const parser = new HttpHeadParser(kind, limits);
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  points.push(bytes.length);
  let start = 0;
  let result: HeadResult = { state: 'incomplete' };
  for (const end of points) {
    result = parser.push(Buffer.from(bytes.subarray(start, end)));
    const fedUpTo = end;
    start = end;
    if (result.state === 'complete') {
      const unconsumed = Buffer.concat([result.rest, bytes.subarray(fedUpTo)]);
      return { state: 'complete', head: JSON.stringify(result.head), unconsumed: unconsumed.toString('hex') };
    }
    if (result.state === 'error') return { state: 'error', code: result.error.code, status: result.error.status };
  }
  return { state: result.state };
}

/** Bytes that make HTTP heads likely, mixed with anything. */
const httpish = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...Buffer.from('GET / HTTP/1.1\r\n: \tHost:ab\r\n\r\n', 'latin1')) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);
const soup = fc.array(httpish, { maxLength: 300 }).map((a) => Uint8Array.from(a));

/** A valid request, possibly followed by frame bytes, then damaged in a few places (or not). */
const damagedRequest = fc
  .record({
    headers: fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/), fc.stringMatching(/^[ -~]{0,40}$/)), { maxLength: 8 }),
    tail: fc.uint8Array({ maxLength: 20 }),
    damage: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
    isResponse: fc.boolean(),
  })
  .map(({ headers, tail, damage, isResponse }) => {
    const start = isResponse ? 'HTTP/1.1 101 Switching Protocols' : 'GET /chat HTTP/1.1';
    const text = start + '\r\n' + headers.map(([n, v]) => `${n}: ${v}\r\n`).join('') + '\r\n';
    const bytes = Buffer.concat([Buffer.from(text, 'latin1'), tail]);
    for (const [at, value] of damage) bytes[at % bytes.length] = value;
    return { kind: (isResponse ? 'response' : 'request') as HeadKind, bytes: Uint8Array.from(bytes) };
  });

const cutsArb = fc.array(fc.nat(), { maxLength: 12 });
const limitsArb = fc.constantFrom<Partial<HeadLimits>>(
  {},
  { maxRequestLineBytes: 12, maxHeaderLineBytes: 10, maxHeaderBytes: 60, maxHeaders: 3 },
  { maxRequestLineBytes: 30, maxHeaderLineBytes: 40, maxHeaderBytes: 40, maxHeaders: 2 },
);

test('random byte soup: never throws, and the outcome does not depend on the chunking', () => {
  fc.assert(
    fc.property(soup, fc.constantFrom<HeadKind>('request', 'response'), cutsArb, cutsArb, limitsArb, (bytes, kind, cutsA, cutsB, limits) => {
      const whole = outcome(kind, bytes, [], limits);
      assert.deepEqual(outcome(kind, bytes, cutsA, limits), whole);
      assert.deepEqual(outcome(kind, bytes, cutsB, limits), whole);
      assert.deepEqual(outcome(kind, bytes, Array.from(bytes.keys()), limits), whole); // one byte at a time
    }),
    { seed: SEED, numRuns: 1500 },
  );
});

test('damaged valid heads: same outcome for every chunking, and undamaged ones complete', () => {
  let completed = 0;
  let failed = 0;
  fc.assert(
    fc.property(damagedRequest, cutsArb, limitsArb, ({ kind, bytes }, cuts, limits) => {
      const whole = outcome(kind, bytes, [], limits) as { state: string };
      if (whole.state === 'complete') completed++;
      if (whole.state === 'error') failed++;
      assert.deepEqual(outcome(kind, bytes, cuts, limits), whole);
      assert.deepEqual(outcome(kind, bytes, Array.from(bytes.keys()), limits), whole);
    }),
    { seed: SEED, numRuns: 1500 },
  );
  // The generator must exercise both paths, or the property above proves little.
  assert.ok(completed > 100, `completed: ${completed}`);
  assert.ok(failed > 100, `failed: ${failed}`);
});
