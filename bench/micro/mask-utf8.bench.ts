/**
 * Micro-benchmark of the two hot-path byte kernels of the protocol core: RFC 6455 masking and UTF-8
 * validation, against `bufferutil` (native addon used by `ws`) and a naive byte loop.
 *
 *   node --import tsx bench/micro/mask-utf8.bench.ts            # the table
 *   node --import tsx bench/micro/mask-utf8.bench.ts --sweep    # more sizes, to place the kernel thresholds
 *
 * Figures are GB/s (1e9 bytes/s), best of several timed rounds (the best round is the least disturbed by
 * other processes on a shared machine).
 */

import { createRequire } from 'node:module';
import { isUtf8 } from 'node:buffer';
import {
  maskBackend,
  maskInto,
  unmaskInPlace,
  unmaskInPlaceJs,
  unmaskInPlaceWasm,
} from '../../packages/wireroom/src/protocol/mask.js';
import { Utf8Validator } from '../../packages/wireroom/src/protocol/utf8.js';

type Unmask = (data: Buffer, mask: Buffer, maskOffset: number) => void;
type MaskInto = (source: Buffer, mask: Buffer, target: Buffer, targetOffset: number) => void;
type Operation = () => void;

interface BufferUtil {
  mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  unmask(buffer: Buffer, mask: Buffer): void;
}

const require = createRequire(import.meta.url);
let bufferutil: BufferUtil | null = null;
try {
  bufferutil = require('bufferutil') as BufferUtil;
} catch {
  console.warn('bufferutil is not installed: its column is left empty');
}

const ROUNDS = 15;
const ROUND_NS = 15e6;

/**
 * Measures several operations that each process `bytes` bytes, returning the best GB/s of each.
 * Rounds are interleaved (A B C, A B C, ...) and the best round kept, so that load from other processes
 * on a shared machine hits every contender alike and mostly drops out. Each operation gets its own
 * loop, compiled separately (`new Function`), so that every call site stays monomorphic: one shared
 * loop would go megamorphic and penalise whoever runs last.
 */
function measureAll(operations: ReadonlyArray<Operation | null>, bytes: number): Array<number | null> {
  const timed = operations.map((operation) => {
    if (operation === null) return null;
    const loop = new Function('operation', 'n', 'for (let i = 0; i < n; i++) operation();') as (
      operation: Operation,
      n: number,
    ) => void;
    let iterations = 1;
    for (;;) {
      const start = process.hrtime.bigint();
      loop(operation, iterations);
      const elapsed = Number(process.hrtime.bigint() - start);
      if (elapsed > ROUND_NS / 4) {
        iterations = Math.max(1, Math.ceil((iterations * ROUND_NS) / elapsed));
        break;
      }
      iterations *= 2;
    }
    return { operation, loop, iterations, best: 0 };
  });
  for (let round = 0; round < ROUNDS; round++) {
    for (const entry of timed) {
      if (entry === null) continue;
      const start = process.hrtime.bigint();
      entry.loop(entry.operation, entry.iterations);
      const elapsed = Number(process.hrtime.bigint() - start);
      entry.best = Math.max(entry.best, (bytes * entry.iterations) / elapsed);
    }
  }
  return timed.map((entry) => (entry === null ? null : entry.best));
}

/** A payload at byteOffset 6 in its ArrayBuffer, where a small masked frame's payload sits in a chunk. */
function payload(size: number): Buffer {
  const backing = Buffer.alloc(size + 16);
  for (let i = 0; i < backing.length; i++) backing[i] = (i * 31) & 0xff;
  return backing.subarray(6, 6 + size);
}

function naiveUnmask(data: Buffer, mask: Buffer, maskOffset: number): void {
  for (let i = 0; i < data.length; i++) data[i] ^= mask[(i + maskOffset) & 3]!;
}

function naiveMaskInto(source: Buffer, mask: Buffer, target: Buffer, targetOffset: number): void {
  for (let i = 0; i < source.length; i++) target[targetOffset + i] = source[i]! ^ mask[i & 3]!;
}

const format = (gbps: number | null): string => (gbps === null ? '-' : gbps.toFixed(2));
const sizeLabel = (size: number): string =>
  size >= 1 << 20 ? `${size >> 20} MiB` : size >= 1024 ? `${size >> 10} KiB` : `${size} B`;

function printTable(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]): string => cells.map((cell, c) => cell.padStart(widths[c]!)).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

const MASK = Buffer.from([0x9c, 0x41, 0x07, 0xe3]);
const sweep = process.argv.includes('--sweep');
const SIZES = sweep
  ? [16, 32, 48, 64, 128, 256, 384, 512, 768, 1024, 4096, 16384, 65536, 1 << 20, 8 << 20]
  : [32, 1024, 65536, 1 << 20];

console.log(`node ${process.version}, ${process.arch}; mask backend for large payloads: ${maskBackend}`);

// ---- unmask in place
{
  const kernels: Array<[string, Unmask | null]> = [
    ['naive loop', naiveUnmask],
    ['unmaskInPlace', unmaskInPlace],
    ['JS words', unmaskInPlaceJs],
    ['wasm SIMD', unmaskInPlaceWasm],
    ['bufferutil', bufferutil === null ? null : (data, mask) => bufferutil!.unmask(data, mask)],
  ];
  const rows = SIZES.map((size) => {
    const data = payload(size);
    const operations = kernels.map(([, kernel]) => (kernel === null ? null : () => kernel(data, MASK, 0)));
    return [sizeLabel(size), ...measureAll(operations, size).map(format)];
  });
  printTable('unmask in place, GB/s', ['size', ...kernels.map(([name]) => name)], rows);
}

// ---- mask into a frame buffer (client side)
{
  const kernels: Array<[string, MaskInto | null]> = [
    ['naive loop', naiveMaskInto],
    ['maskInto', maskInto],
    [
      'bufferutil',
      bufferutil === null ? null : (source, mask, target, offset) => bufferutil!.mask(source, mask, target, offset, source.length),
    ],
  ];
  const rows = SIZES.map((size) => {
    const source = payload(size);
    const frame = Buffer.allocUnsafe(size + 14);
    const operations = kernels.map(([, kernel]) => (kernel === null ? null : () => kernel(source, MASK, frame, 6)));
    return [sizeLabel(size), ...measureAll(operations, size).map(format)];
  });
  printTable('mask into a frame buffer at offset 6, GB/s', ['size', ...kernels.map(([name]) => name)], rows);
}

// ---- UTF-8
{
  const MESSAGE = 1 << 20;
  const ascii = Buffer.alloc(MESSAGE, 'The quick brown fox jumps over the lazy dog. ');
  const mixed = Buffer.alloc(MESSAGE, 'Grüße, κόσμε, привет, 你好, 🎉 and some ASCII around it. ');
  const validator = new Utf8Validator();
  const inPieces = (text: Buffer, piece: number): Operation => () => {
    for (let from = 0; from < text.length; from += piece) validator.push(text.subarray(from, from + piece));
    if (!validator.end()) throw new Error('rejected valid text');
  };
  const cases: Array<[string, (text: Buffer) => Operation]> = [
    ['isUtf8 whole', (text) => () => void isUtf8(text)],
    ['validator, 1 piece', (text) => inPieces(text, MESSAGE)],
    ['validator, 64 KiB pieces', (text) => inPieces(text, 65536)],
    ['validator, 16 KiB+1 pieces', (text) => inPieces(text, 16385)],
    ['validator, 1 KiB+1 pieces', (text) => inPieces(text, 1025)],
    ['validator, 127 B pieces', (text) => inPieces(text, 127)],
  ];
  const asciiResults = measureAll(cases.map(([, make]) => make(ascii)), MESSAGE);
  const mixedResults = measureAll(cases.map(([, make]) => make(mixed)), MESSAGE);
  const rows = cases.map(([name], i) => [name, format(asciiResults[i]!), format(mixedResults[i]!)]);
  printTable('UTF-8 validation of a 1 MiB message, GB/s', ['', 'ASCII', 'mixed'], rows);
}
