// Property tests of the protocol core (fast-check, fixed seed printed on failure):
// - any messages, any fragmentation, interleaved control frames, any chunking, any pausing -> exactly those events;
// - frame-writer encode then decode is the identity;
// - any byte stream (random, frame-shaped, mutated valid) ends in events or one error with a valid close code,
//   never a throw, the same whatever the chunking, and quickly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeFrame, encodeTextFrame, COPY_THRESHOLD } from '../../src/protocol/frame-writer.js';
import { ErrorCodes } from '../../src/protocol/errors.js';
import type { ProtocolOptions, Role } from '../../src/protocol/protocol.js';
import { OP, buildFrame, closePayload, decodeFrames, open, outputBytes, splitAt, type FrameOptions, type ProtocolEvent } from '../helpers/frames.js';

const SEED = 0x6455_7692;

/** fc.assert with the fixed seed, and the seed in the failure message. */
function check<T>(property: fc.IProperty<T>, numRuns: number): void {
  try {
    fc.assert(property, { seed: SEED, numRuns });
  } catch (error) {
    if (error instanceof Error) error.message = `fast-check seed ${SEED} (replay with { seed: ${SEED} }):\n${error.message}`;
    throw error;
  }
}

/** What a run reported, output frames decoded, in order: the thing that must not depend on chunking or pausing. */
function summary(log: readonly ProtocolEvent[]): string[] {
  return log.map((e) => {
    switch (e.type) {
      case 'message':
        return `${e.isBinary ? 'bin' : 'text'}:${e.data.toString('hex')}`;
      case 'compressed':
        return `z:${e.fin}:${e.isBinary}:${e.payload.toString('hex')}`;
      case 'ping':
      case 'pong':
        return `${e.type}:${e.payload.toString('hex')}`;
      case 'close':
        return `close:${e.code}:${e.reason}`;
      case 'error':
        return `error:${e.error.code}:${e.error.closeCode}`;
      case 'output':
        return `out:${decodeFrames(e.data).map((f) => `${f.fin}:${f.opcode}:${f.payload.toString('hex')}`).join('+')}`;
    }
  });
}

// ------------------------------------------------------------------------------------------------ messages

interface Message {
  isBinary: boolean;
  data: Buffer;
}
interface Control {
  opcode: number;
  payload: Uint8Array;
  /** Position among the message's fragments: before fragment `at` (0 = before the message; n = after it). */
  at: number;
}
interface PlannedMessage {
  message: Message;
  cuts: number[];
  controls: Control[];
  frameOptions: { bits: 7 | 16 | 64 | undefined; key: Uint8Array }[];
}

const textArb = fc
  .oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 10 }))
  .map((s): Message => ({ isBinary: false, data: Buffer.from(s, 'utf8') }));
const binaryArb = fc
  .oneof(
    { weight: 8, arbitrary: fc.uint8Array({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.integer({ min: 126, max: 70_000 }).map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 131) & 0xff)) },
  )
  .map((a): Message => ({ isBinary: true, data: Buffer.from(a) }));

const plannedArb: fc.Arbitrary<PlannedMessage> = fc.record({
  message: fc.oneof(textArb, binaryArb),
  cuts: fc.array(fc.nat(), { maxLength: 4 }),
  controls: fc.array(
    fc.record({ opcode: fc.constantFrom(OP.PING, OP.PONG), payload: fc.uint8Array({ maxLength: 125 }), at: fc.nat() }),
    { maxLength: 2 },
  ),
  frameOptions: fc.array(
    fc.record({ bits: fc.constantFrom<7 | 16 | 64 | undefined>(undefined, undefined, 16, 64), key: fc.uint8Array({ minLength: 4, maxLength: 4 }) }),
    { minLength: 5, maxLength: 5 },
  ),
});

/** Cuts `data` into 1-5 fragments (empty fragments included when cuts coincide with the ends). */
function fragmentsOf(data: Buffer, cuts: number[]): Buffer[] {
  const points = cuts.map((c) => c % (data.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const p of points) {
    out.push(data.subarray(start, p));
    start = p;
  }
  out.push(data.subarray(start));
  return out;
}

/**
 * Builds the byte stream the peer of `role` sends, and the events the core must report: a control frame is
 * reported where it lies, a message when its last fragment is complete.
 */
function buildStream(role: Role, plan: PlannedMessage[], useWriter: boolean, closeCode: number | null): { stream: Buffer; expected: string[] } {
  const frames: Buffer[] = [];
  const expected: string[] = [];
  const mask = role === 'server';
  const frame = (opcode: number, payload: Uint8Array, fin: boolean, opts: PlannedMessage['frameOptions'][number]): Buffer => {
    if (useWriter) return outputBytes(encodeFrame(opcode, Buffer.from(payload), { fin, mask }));
    let bits = opts.bits;
    if (bits === 16 && payload.length > 0xffff) bits = 64;
    const options: FrameOptions = { fin, mask: mask ? opts.key : false };
    if (bits !== undefined && !(bits === 7 && payload.length > 125)) options.lengthBits = bits;
    return buildFrame(opcode, payload, options);
  };
  for (const { message, cuts, controls, frameOptions } of plan) {
    const fragments = fragmentsOf(message.data, cuts);
    const n = fragments.length;
    const placed = controls.map((c) => ({ ...c, at: c.at % (n + 1) })).sort((a, b) => a.at - b.at);
    const emitControl = (c: Control): void => {
      frames.push(frame(c.opcode, c.payload, true, frameOptions[4]!));
      const hex = Buffer.from(c.payload).toString('hex');
      if (c.opcode === OP.PING) expected.push(`out:true:${OP.PONG}:${hex}`, `ping:${hex}`);
      else expected.push(`pong:${hex}`);
    };
    for (let i = 0; i < n; i++) {
      for (const c of placed) if (c.at === i) emitControl(c);
      frames.push(frame(i === 0 ? (message.isBinary ? OP.BINARY : OP.TEXT) : OP.CONT, fragments[i]!, i === n - 1, frameOptions[i]!));
    }
    expected.push(`${message.isBinary ? 'bin' : 'text'}:${message.data.toString('hex')}`);
    for (const c of placed) if (c.at === n) emitControl(c);
  }
  if (closeCode !== null) {
    const payload = closePayload(closeCode, 'bye');
    frames.push(frame(OP.CLOSE, payload, true, { bits: undefined, key: Uint8Array.of(1, 2, 3, 4) }));
    expected.push(`out:true:${OP.CLOSE}:${closePayload(closeCode).toString('hex')}`, `close:${closeCode}:bye`);
    frames.push(frame(OP.TEXT, Buffer.from('ignored'), true, { bits: undefined, key: Uint8Array.of(0, 0, 0, 0) }));
  }
  return { stream: Buffer.concat(frames), expected };
}

/** Feeds `chunks`, pausing inside the callbacks picked by `pauseBits`, resuming between chunks and at the end. */
function run(role: Role, chunks: Buffer[], pauseBits: number, options: Omit<ProtocolOptions, 'role'> = {}): ProtocolEvent[] {
  const { proto, rec } = open(role, options);
  let index = 0;
  rec.hook = (e) => {
    // Outputs too: an I/O layer may pause when its socket's write buffer fills up.
    if ((pauseBits >>> (index++ % 31)) & 1) proto.pause();
  };
  for (let i = 0; i < chunks.length; i++) {
    proto.receive(chunks[i]!);
    if ((pauseBits >>> (i % 31)) & 2 && proto.isPaused) proto.resume(); // sometimes resume between chunks
  }
  for (let guard = 0; proto.isPaused; guard++) {
    assert.ok(guard < 100_000, 'resume() makes progress');
    proto.resume();
  }
  return rec.log;
}

for (const role of ['server', 'client'] as const) {
  test(`property (${role} role): any messages, fragmentation, control frames, chunking and pausing -> exactly those events`, () => {
    check(
      fc.property(
        fc.array(plannedArb, { maxLength: 6 }),
        fc.boolean(),
        fc.option(fc.constantFrom(1000, 1001, 1011, 3000, 4999), { nil: null }),
        fc.array(fc.nat(), { maxLength: 16 }),
        fc.boolean(),
        fc.nat(),
        (plan, useWriter, closeCode, cuts, byteByByte, pauseBits) => {
          const { stream, expected } = buildStream(role, plan, useWriter, closeCode);
          const chunks = byteByByte && stream.length < 3000 ? splitAt(stream, Array.from({ length: stream.length }, (_, i) => i)) : splitAt(stream, cuts);
          const log = run(role, chunks, byteByByte ? 0 : pauseBits);
          assert.deepEqual(summary(log), expected);
          for (const e of log) {
            if (e.type !== 'output') continue;
            for (const f of decodeFrames(e.data)) assert.equal(f.masked, role === 'client', 'our frames are masked iff we are the client');
          }
        },
      ),
      300,
    );
  });
}

test('property: a message delivered from a single frame within one chunk is a view of that chunk (zero-copy)', () => {
  check(
    fc.property(fc.constantFrom<Role>('server', 'client'), fc.array(fc.oneof(textArb, binaryArb), { minLength: 1, maxLength: 5 }), (role, messages) => {
      const chunk = Buffer.concat(messages.map((m) => buildFrame(m.isBinary ? OP.BINARY : OP.TEXT, m.data, { mask: role === 'server' })));
      const { proto, rec } = open(role);
      proto.receive(chunk);
      assert.equal(rec.messages.length, messages.length);
      for (const [i, m] of rec.messages.entries()) {
        assert.ok(m.data.equals(messages[i]!.data));
        if (m.data.length > 0) assert.equal(m.data.buffer, chunk.buffer, 'same ArrayBuffer as the chunk');
      }
    }),
    200,
  );
});

// ------------------------------------------------------------------------------------------------ encode/decode

test('property: frame-writer encodeFrame then decode is the identity (and the core decodes it too)', () => {
  check(
    fc.property(
      fc.constantFrom(OP.CONT, OP.TEXT, OP.BINARY, OP.CLOSE, OP.PING, OP.PONG),
      fc.oneof({ weight: 6, arbitrary: fc.uint8Array({ maxLength: 300 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).fill(0xa5)) }),
      fc.boolean(),
      fc.boolean(),
      fc.boolean(),
      (opcode, bytes, fin, rsv1, mask) => {
        const payload = Buffer.from(bytes);
        const copy = Buffer.from(payload);
        const encoded = encodeFrame(opcode, payload, { fin, rsv1, mask });
        assert.ok(payload.equals(copy), 'the caller’s payload is not modified');
        if (!mask && payload.length > COPY_THRESHOLD) {
          assert.ok(Array.isArray(encoded), 'large unmasked payloads are returned as [header, payload]');
          assert.equal(encoded[1], payload, 'without copying the payload');
        }
        const frames = decodeFrames(outputBytes(encoded));
        assert.equal(frames.length, 1);
        const f = frames[0]!;
        assert.deepEqual([f.fin, f.rsv1, f.rsv2, f.rsv3, f.opcode, f.masked], [fin, rsv1, false, false, opcode, mask]);
        assert.ok(f.payload.equals(payload));
        const minimal = payload.length < 126 ? 0 : payload.length < 65536 ? 2 : 8;
        assert.equal(f.extendedLengthBytes, minimal, 'the writer uses the minimal length encoding');

        // The core reads what the writer writes (data frames as complete messages).
        if ((opcode === OP.BINARY || opcode === OP.TEXT) && fin && !rsv1 && (opcode === OP.BINARY || Buffer.from(payload.toString('utf8')).equals(payload))) {
          const { proto, rec } = open(mask ? 'server' : 'client');
          proto.receive(outputBytes(encoded));
          assert.equal(rec.messages.length, 1);
          assert.ok(rec.messages[0]!.data.equals(payload));
        }
      },
    ),
    400,
  );
});

test('property: encodeTextFrame then decode is the identity', () => {
  check(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 100 }), fc.string({ minLength: 120, maxLength: 40_000 })), fc.boolean(), fc.boolean(), (text, fin, mask) => {
      const frames = decodeFrames(encodeTextFrame(text, { fin, mask }));
      assert.equal(frames.length, 1);
      assert.deepEqual([frames[0]!.fin, frames[0]!.opcode, frames[0]!.masked], [fin, OP.TEXT, mask]);
      assert.equal(frames[0]!.payload.toString('utf8'), Buffer.from(text, 'utf8').toString('utf8'));
    }),
    300,
  );
});

test('masked frames from the writer use fresh keys (not all the same)', () => {
  const keys = new Set<string>();
  for (let i = 0; i < 64; i++) keys.add(decodeFrames(outputBytes(encodeFrame(OP.BINARY, Buffer.from('x'), { mask: true })))[0]!.maskKey!.toString('hex'));
  assert.ok(keys.size > 60, `${keys.size} distinct keys out of 64`);
});

// ------------------------------------------------------------------------------------------------ robustness

const ERROR_CODES = new Set<string>(Object.values(ErrorCodes));
const PEER_CLOSE_CODES = new Set([1002, 1007, 1008, 1009]);

/** A frame-shaped piece of bytes: any flags and opcode, right or wrong masking, lengths that may lie. */
const frameishArb = fc
  .record({
    fin: fc.boolean(),
    rsv1: fc.boolean(),
    rsv23: fc.constantFrom(0, 0, 0, 0, 1, 2, 3),
    opcode: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0, 1, 2, 8, 9, 10) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
    mask: fc.oneof({ weight: 5, arbitrary: fc.constant<'right'>('right') }, { weight: 1, arbitrary: fc.constant<'wrong'>('wrong') }),
    payload: fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.string({ maxLength: 20 }).map((s) => Buffer.from(s)),
      fc.tuple(fc.integer({ min: 0, max: 5100 }), fc.string({ maxLength: 8 })).map(([code, r]) => closePayload(code, r)),
    ),
    lie: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 300 }) }, { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
    bits: fc.constantFrom<7 | 16 | 64 | undefined>(undefined, undefined, 16, 64),
    key: fc.uint8Array({ minLength: 4, maxLength: 4 }),
  })
  .map((f) => (role: Role) => {
    const masked = (role === 'server') === (f.mask === 'right');
    const options: FrameOptions = { fin: f.fin, rsv1: f.rsv1, rsv2: (f.rsv23 & 2) !== 0, rsv3: (f.rsv23 & 1) !== 0, mask: masked ? f.key : false };
    if (f.lie !== null) {
      options.declaredLength = f.lie;
      options.lengthBits = typeof f.lie === 'bigint' ? 64 : f.lie < 126 ? 7 : 16;
    } else if (f.bits !== undefined && !(f.bits === 7 && f.payload.length > 125)) options.lengthBits = f.bits;
    return buildFrame(f.opcode, f.payload, options);
  });

/** Bytes for a role: pure noise, a sequence of frame-shaped pieces, or a valid stream with a few bytes changed. */
const soupArb = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((a) => (_role: Role) => Buffer.from(a)),
  fc.array(frameishArb, { maxLength: 12 }).map((fs) => (role: Role) => Buffer.concat(fs.map((f) => f(role)))),
  fc
    .record({
      plan: fc.array(plannedArb, { maxLength: 4 }),
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete', 'truncate')), { minLength: 1, maxLength: 4 }),
    })
    .map(({ plan, edits }) => (role: Role) => {
      const bytes = [...buildStream(role, plan, false, null).stream];
      for (const [at, value, kind] of edits) {
        if (bytes.length === 0) bytes.push(value);
        const i = at % bytes.length;
        if (kind === 'set') bytes[i] = value;
        else if (kind === 'insert') bytes.splice(i, 0, value);
        else if (kind === 'delete') bytes.splice(i, 1);
        else bytes.length = i;
      }
      return Buffer.from(bytes);
    }),
);

const optionsArb = fc.constantFrom<Omit<ProtocolOptions, 'role'>>(
  {},
  { compressionNegotiated: true },
  { maxMessageSize: 64, maxFragments: 3 },
  { maxMessageSize: 1000, maxFrameSize: 20, maxFragments: 2, compressionNegotiated: true },
  { autoPong: false },
);

/** Checks the invariants every run must satisfy; returns the summary. */
function checkRun(role: Role, log: readonly ProtocolEvent[]): void {
  const events = log.filter((e) => e.type !== 'output');
  const terminal = events.findIndex((e) => e.type === 'error' || e.type === 'close');
  assert.ok(terminal === -1 || terminal === events.length - 1, 'nothing after an error or a close');
  const last = events.at(-1);
  if (last?.type === 'error') {
    assert.ok(ERROR_CODES.has(last.error.code), `stable error code ${last.error.code}`);
    assert.ok(PEER_CLOSE_CODES.has(last.error.closeCode), `close code ${last.error.closeCode}`);
    const closeOutput = log.at(-2);
    assert.equal(closeOutput?.type, 'output', 'a close frame precedes the error');
    const f = decodeFrames((closeOutput as { data: Buffer }).data);
    assert.equal(f[0]!.opcode, OP.CLOSE);
    assert.equal(f[0]!.payload.readUInt16BE(0), last.error.closeCode);
  }
  for (const e of log) {
    if (e.type === 'output') for (const f of decodeFrames(e.data)) assert.equal(f.masked, role === 'client');
  }
}

test('property: any byte stream ends in events or a single error with a valid close code, independent of chunking', () => {
  let slowest = 0;
  check(
    fc.property(fc.constantFrom<Role>('server', 'client'), soupArb, optionsArb, fc.array(fc.nat(), { maxLength: 10 }), fc.nat(), (role, makeBytes, options, cuts, pauseBits) => {
      const bytes = makeBytes(role);
      const started = performance.now();
      const whole = run(role, [Buffer.from(bytes)], 0, options);
      const chunked = run(role, splitAt(bytes, cuts), pauseBits, options);
      const byByte = bytes.length <= 2000 ? run(role, splitAt(bytes, Array.from({ length: bytes.length }, (_, i) => i)), 0, options) : whole;
      const elapsed = performance.now() - started;
      slowest = Math.max(slowest, elapsed);
      assert.ok(elapsed < 1000, `three runs over ${bytes.length} bytes took ${elapsed.toFixed(1)} ms`);
      for (const log of [whole, chunked, byByte]) checkRun(role, log);
      assert.deepEqual(summary(chunked), summary(whole), 'chunked and paused == whole');
      assert.deepEqual(summary(byByte), summary(whole), 'byte by byte == whole');
    }),
    600,
  );
  assert.ok(slowest < 1000);
});
