/**
 * Seeded generators of hostile byte streams for fuzzing: valid client frame streams, then mutations of them
 * (bit flips, truncation, splicing, header corruption), and plain random bytes. Reproducible from the seed.
 */
import { encodeFrame } from '../../src/protocol/frame-writer.js';

/** xorshift32: small, fast and reproducible across runs and machines. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  int(max: number): number {
    return this.next() % max;
  }
  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/** A stream of plausible client frames: whole and fragmented messages with controls between fragments. */
export function validishStream(rng: Rng): Buffer {
  const frames: Buffer[] = [];
  const push = (frame: Buffer | [Buffer, Buffer]): void => void frames.push(...(Array.isArray(frame) ? frame : [frame]));
  const count = 1 + rng.int(6);
  for (let i = 0; i < count; i++) {
    const roll = rng.int(10);
    const size = roll < 6 ? rng.int(40) : roll < 9 ? rng.int(300) : rng.int(70000);
    const text = rng.int(2) === 0;
    let payload: Buffer;
    if (text) {
      // A short random string repeated, so large payloads stay cheap to generate.
      const unit = Array.from({ length: 1 + rng.int(16) }, () => String.fromCodePoint(pickCodePoint(rng))).join('');
      payload = Buffer.from(unit.repeat(Math.ceil(size / unit.length) || 0), 'utf8');
      if (rng.int(8) === 0) payload = payload.subarray(0, size); // may cut a character: invalid UTF-8
    } else {
      payload = size > 512 ? Buffer.alloc(size, rng.bytes(64)) : rng.bytes(size);
    }
    const fragments = rng.int(3) === 0 ? 1 + rng.int(5) : 1;
    const step = Math.ceil(payload.length / fragments) || 1;
    let opcode = text ? 0x1 : 0x2;
    for (let offset = 0, n = 0; n < fragments; n++, offset += step) {
      const fin = n === fragments - 1;
      push(encodeFrame(opcode, payload.subarray(offset, fin ? payload.length : offset + step), { mask: true, fin }));
      opcode = 0x0;
      if (!fin && rng.int(3) === 0) push(encodeFrame(rng.int(2) === 0 ? 0x9 : 0xa, rng.bytes(rng.int(20)), { mask: true }));
    }
    if (rng.int(12) === 0) {
      // Something broken: a reserved opcode, a stray continuation, RSV bits, an oversized control frame.
      const bad = [0x3, 0xb, 0x0, 0x1][rng.int(4)]!;
      push(encodeFrame(bad, rng.bytes(rng.int(200)), { mask: true, fin: rng.int(2) === 0, rsv1: rng.int(3) === 0 }));
    }
  }
  if (rng.int(6) === 0) push(encodeFrame(0x8, Buffer.from([0x03, 0xe8]), { mask: true }));
  return Buffer.concat(frames);
}

function pickCodePoint(rng: Rng): number {
  const r = rng.int(10);
  if (r < 6) return 0x20 + rng.int(0x5f);
  if (r < 8) return 0xa0 + rng.int(0x700);
  if (r < 9) return 0x4e00 + rng.int(0x5000);
  return 0x1f300 + rng.int(0x300);
}

/** Mutates a stream: bit flips, byte overwrites, truncation, duplication of a slice, random insertions. */
export function mutate(rng: Rng, input: Buffer): Buffer {
  let out = Buffer.from(input);
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds && out.length > 0; r++) {
    switch (rng.int(5)) {
      case 0: {
        const i = rng.int(out.length);
        out[i] = out[i]! ^ (1 << rng.int(8));
        break;
      }
      case 1:
        out[rng.int(out.length)] = rng.next() & 0xff;
        break;
      case 2:
        out = out.subarray(0, rng.int(out.length + 1));
        break;
      case 3: {
        const a = rng.int(out.length);
        const b = Math.min(out.length, a + rng.int(64));
        out = Buffer.concat([out, out.subarray(a, b)]);
        break;
      }
      default: {
        const at = rng.int(out.length + 1);
        out = Buffer.concat([out.subarray(0, at), rng.bytes(1 + rng.int(16)), out.subarray(at)]);
      }
    }
  }
  return out;
}

/** One fuzz case: random bytes, a valid-ish stream, or a mutated one. */
export function fuzzCase(rng: Rng): Buffer {
  const kind = rng.int(4);
  if (kind === 0) return rng.bytes(rng.int(512));
  const base = validishStream(rng);
  return kind === 1 ? base : mutate(rng, base);
}

/** Splits bytes into random chunks (1 byte up to the whole). */
export function chunk(rng: Rng, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  // Tiny chunks only for small inputs: 100,000 one-byte writes would test the harness, not the parser.
  const tiny = data.length <= 4096 && rng.int(4) === 0;
  while (pos < data.length) {
    const size = tiny ? 1 + rng.int(4) : 1 + rng.int(data.length);
    out.push(data.subarray(pos, pos + size));
    pos += size;
  }
  return out;
}
