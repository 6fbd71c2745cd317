/**
 * RFC 6455 5.3 payload masking: `payload[i] ^= mask[(i + maskOffset) % 4]`.
 *
 * Three kernels, picked by payload size:
 * - < 160 B: a byte loop unrolled by 4 with the mask bytes in locals (setting up anything else costs more);
 * - < 640 B: a 32-bit word loop over a `Uint32Array` view, unrolled by 4 (the view costs ~70 ns);
 * - larger: a hand-written WebAssembly SIMD kernel (`v128.xor`, 64 bytes per iteration). Wasm cannot
 *   see a Node Buffer, so the data is copied into wasm memory and back (memcpy speed): 3 passes instead
 *   of 1, yet still ~2-3x the JS word loop from ~1 KiB on. Without WebAssembly SIMD, the word loop.
 *
 * MEASUREMENTS (GB/s, best of 15 interleaved rounds; AMD EPYC 2 vCPU, Node 20.20.2, x64, a machine shared
 * with other jobs at load ~18, so ±30% noise; payload at byteOffset 6 of its ArrayBuffer):
 *   node --import tsx bench/micro/mask-utf8.bench.ts [--sweep]
 *
 *   unmask   naive loop  unmaskInPlace  JS words  wasm SIMD  bufferutil (native)
 *   32 B        0.38        0.90          0.93      0.26       0.46
 *   128 B       0.40        1.10          1.13      0.95       1.54
 *   512 B       0.39        2.80          2.26      2.97       5.08
 *   768 B       0.38        4.62          1.19      4.65       3.95
 *   1 KiB       0.41        6.44          3.84      6.66       8.77
 *   64 KiB      0.38       13.06          3.70     12.54      18.77
 *   1 MiB       0.39       10.35          5.94     11.73      21.29
 *
 *   maskInto (into a frame at offset 6)   32 B: 0.65 vs bufferutil 0.28   1 KiB: 5.5 vs 6.6
 *                                         64 KiB: 12.8 vs 21.6            1 MiB: 7.6 vs 18.4
 *
 * Per call, in isolation: byte loop ~0.8 ns/B; word loop ~95 ns + 0.17 ns/B; wasm ~160 ns + 0.05 ns/B,
 * hence the thresholds. bufferutil pays ~50-100 ns of N-API per call (we win below ~100 B) and does one
 * pass instead of three (it wins by ~1.5-2x from 64 KiB). Before the scratch placement below, the wasm
 * path fell to 0.6-1.5 GB/s on 1 MiB buffers (4K-aliased memcpy).
 */

import { ErrorCodes, WireroomError } from './errors.js';

/** Which kernel large payloads use on this runtime. */
export type MaskBackend = 'wasm-simd' | 'js';

// ---------------------------------------------------------------------------------------------
// Thresholds (bytes). See MEASUREMENTS.
const BYTE_LOOP_MAX = 160; // below this the unrolled byte loop beats the word loop and its view allocation
const WASM_MIN = 640; // from here copy-in + SIMD xor + copy-out through wasm beats the word loop
const WASM_CHUNK = 65536; // + up to 4 KiB of scratch offset fits in the 2 pages of wasm memory

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The mask as one 32-bit word in *native* byte order, rotated so that its first byte is
 * `mask[phase]`: XOR-ing it into an aligned `Uint32Array` element masks 4 payload bytes at once.
 */
function nativeMaskWord(mask: Uint8Array, phase: number): number {
  const b0 = mask[phase & 3]!;
  const b1 = mask[(phase + 1) & 3]!;
  const b2 = mask[(phase + 2) & 3]!;
  const b3 = mask[(phase + 3) & 3]!;
  return LITTLE_ENDIAN
    ? (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0
    : ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0;
}

/** Same, little-endian regardless of the host: wasm memory is always little-endian. */
function littleEndianMaskWord(mask: Uint8Array, phase: number): number {
  return (
    mask[phase & 3]! |
    (mask[(phase + 1) & 3]! << 8) |
    (mask[(phase + 2) & 3]! << 16) |
    (mask[(phase + 3) & 3]! << 24)
  );
}

// ---------------------------------------------------------------------------------------------
// JS kernels. All work on data[start, end) with `phase` = the mask index that applies to data[start],
// so that callers never need a subarray.

function xorBytes(data: Uint8Array, start: number, end: number, mask: Uint8Array, phase: number): void {
  // Unrolled by 4 with the mask bytes in locals: ~2-3x faster than `mask[(i + phase) & 3]` per byte.
  const m0 = mask[phase & 3]!;
  const m1 = mask[(phase + 1) & 3]!;
  const m2 = mask[(phase + 2) & 3]!;
  const m3 = mask[(phase + 3) & 3]!;
  let i = start;
  for (const unrolledEnd = end - 3; i < unrolledEnd; i += 4) {
    data[i] ^= m0;
    data[i + 1] ^= m1;
    data[i + 2] ^= m2;
    data[i + 3] ^= m3;
  }
  if (i < end) data[i++] ^= m0;
  if (i < end) data[i++] ^= m1;
  if (i < end) data[i] ^= m2;
}

/** xorBytes from `source` into `target` (source untouched), mask phase 0. */
function xorBytesInto(source: Uint8Array, mask: Uint8Array, target: Uint8Array, targetOffset: number): void {
  const m0 = mask[0]!;
  const m1 = mask[1]!;
  const m2 = mask[2]!;
  const m3 = mask[3]!;
  const length = source.length;
  let i = 0;
  let t = targetOffset;
  for (const unrolledEnd = length - 3; i < unrolledEnd; i += 4, t += 4) {
    target[t] = source[i]! ^ m0;
    target[t + 1] = source[i + 1]! ^ m1;
    target[t + 2] = source[i + 2]! ^ m2;
    target[t + 3] = source[i + 3]! ^ m3;
  }
  if (i < length) target[t++] = source[i++]! ^ m0;
  if (i < length) target[t++] = source[i++]! ^ m1;
  if (i < length) target[t] = source[i]! ^ m2;
}

function xorWords(data: Uint8Array, start: number, end: number, mask: Uint8Array, phase: number): void {
  // A Uint32Array view must start 4-aligned in the ArrayBuffer, and Node buffers come from a shared
  // pool at any byteOffset: do the 0-3 leading bytes one by one.
  let i = start;
  const lead = Math.min(end, start + ((4 - ((data.byteOffset + start) & 3)) & 3));
  if (lead > i) {
    xorBytes(data, i, lead, mask, phase);
    i = lead;
  }
  const wordCount = (end - i) >>> 2;
  if (wordCount > 0) {
    const word = nativeMaskWord(mask, phase + (i - start));
    // One small view object per call (~70 ns, hence BYTE_LOOP_MAX); typed arrays offer no way around it.
    const words = new Uint32Array(data.buffer, data.byteOffset + i, wordCount);
    const unrolledEnd = wordCount & ~3;
    let w = 0;
    // Unrolled by 4: measured ~2x over the plain word loop on V8.
    for (; w < unrolledEnd; w += 4) {
      words[w] ^= word;
      words[w + 1] ^= word;
      words[w + 2] ^= word;
      words[w + 3] ^= word;
    }
    for (; w < wordCount; w++) words[w] ^= word;
    i += wordCount << 2;
  }
  if (i < end) xorBytes(data, i, end, mask, phase + (i - start));
}

// ---------------------------------------------------------------------------------------------
// WebAssembly SIMD kernel, assembled by hand (binary format: WebAssembly core spec + fixed-width SIMD).
//
//   (module
//     (memory (export "memory") 2)                      ;; scratch: the data is copied in, XORed, copied out
//     (func (export "xor") (param $p i32) (param $end i32) (param $mask i32)
//       (local $vmask v128)
//       (local.set $vmask (i32x4.splat (local.get $mask)))
//       (block $done (loop $next
//         (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
//         (v128.store offset=0  (local.get $p) (v128.xor (v128.load offset=0  (local.get $p)) (local.get $vmask)))
//         (v128.store offset=16 (local.get $p) (v128.xor (v128.load offset=16 (local.get $p)) (local.get $vmask)))
//         (v128.store offset=32 (local.get $p) (v128.xor (v128.load offset=32 (local.get $p)) (local.get $vmask)))
//         (v128.store offset=48 (local.get $p) (v128.xor (v128.load offset=48 (local.get $p)) (local.get $vmask)))
//         (local.set $p (i32.add (local.get $p) (i32.const 64)))
//         (br $next))))
//
// `$end - $p` must be a multiple of 64: the caller rounds up; the extra bytes are scratch garbage that
// is never copied back.

// prettier-ignore
const XOR_MODULE_BYTES = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, //   "\0asm", version 1
  0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type section: [func (i32 i32 i32) -> ()]
  0x03, 0x02, 0x01, 0x00, //                           function section: [type 0]
  0x05, 0x03, 0x01, 0x00, 0x02, //                     memory section: [{min 2 pages, no max}]
  0x07, 0x10, 0x02, //                                 export section, 2 entries:
  0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, // "memory" -> memory 0
  0x03, 0x78, 0x6f, 0x72, 0x00, 0x00, //                  "xor" -> func 0
  0x0a, 0x63, 0x01, 0x61, //                           code section, 1 body of 0x61 bytes
  0x01, 0x01, 0x7b, //                                 locals: 1 v128 ($vmask = local 3)
  0x20, 0x02, 0xfd, 0x11, 0x21, 0x03, //               local.get 2; i32x4.splat; local.set 3
  0x02, 0x40, 0x03, 0x40, //                           block; loop
  0x20, 0x00, 0x20, 0x01, 0x4f, 0x0d, 0x01, //         local.get 0; local.get 1; i32.ge_u; br_if 1
  // 4x: local.get 0; local.get 0; v128.load align=16 offset=K; local.get 3; v128.xor; v128.store align=16 offset=K
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x00, 0x20, 0x03, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x00,
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x10, 0x20, 0x03, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x10,
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x20, 0x20, 0x03, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x20,
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x30, 0x20, 0x03, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x30,
  0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x00, //   local.get 0; i32.const 64 (signed LEB128); i32.add; local.set 0
  0x0c, 0x00, //                                       br 0 (loop)
  0x0b, 0x0b, 0x0b, //                                 end loop; end block; end func
]);

/** The slice of the WebAssembly JS API we use; lib.es2022 + @types/node do not declare it. */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

type XorKernel = (start: number, end: number, maskWord: number) => void;

/** Instantiated synchronously at load (the module is ~150 bytes). Null if wasm or SIMD is missing. */
function loadWasmKernel(): { xor: XorKernel; scratch: Uint8Array } | null {
  const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (api === undefined) return null;
  try {
    if (!api.validate(XOR_MODULE_BYTES)) return null; // e.g. SIMD disabled
    const { exports } = new api.Instance(new api.Module(XOR_MODULE_BYTES), {});
    const memory = exports['memory'] as { buffer?: unknown } | undefined;
    const xor = exports['xor'];
    if (typeof xor !== 'function' || !(memory?.buffer instanceof ArrayBuffer)) return null;
    // The memory never grows, so this view stays valid for the life of the process.
    return { xor: xor as XorKernel, scratch: new Uint8Array(memory.buffer) };
  } catch {
    return null;
  }
}

const wasm = loadWasmKernel();

/** Which kernel large payloads use on this runtime (`'js'` when WebAssembly SIMD is unavailable). */
export const maskBackend: MaskBackend = wasm === null ? 'js' : 'wasm-simd';

/**
 * Where in wasm memory the scratch copy goes. x86 memcpy slows down 10-40x (measured: 0.5-1.5 GB/s
 * instead of 20+) when source and destination are within a few dozen bytes of each other modulo 4096
 * ("4K aliasing"). Wasm memory is page-aligned and large ArrayBuffers usually start 16 bytes past a page
 * boundary (glibc mmap chunks), so a payload at a small offset in a big read buffer would alias a scratch
 * at offset 0 on every call. We place the scratch half a page away from where the data probably sits.
 * JS cannot see real addresses: for buffers based elsewhere this is just another offset, aliasing with
 * a probability of ~0.5%.
 */
function scratchOffset(source: Buffer, start: number, target: Buffer, targetStart: number): number {
  const ASSUMED_BASE = 16;
  let offset = (target.byteOffset + targetStart + ASSUMED_BASE + 2048) & 0xff0;
  const sourceDistance = (source.byteOffset + start + ASSUMED_BASE - offset) & 0xfff;
  if (sourceDistance < 256 || sourceDistance > 4096 - 256) offset = (offset + 1024) & 0xff0;
  return offset;
}

/** Copies source[start, end) into wasm memory, XORs it there, and writes it to target[targetStart...]. */
function xorViaWasm(
  source: Buffer,
  start: number,
  end: number,
  mask: Uint8Array,
  phase: number,
  target: Buffer,
  targetStart: number,
): void {
  const { xor, scratch } = wasm!;
  // Chunks are a multiple of 4096 long, so one mask word and one scratch offset serve them all.
  const word = littleEndianMaskWord(mask, phase);
  const at = scratchOffset(source, start, target, targetStart);
  for (let offset = start; offset < end; offset += WASM_CHUNK) {
    const length = Math.min(WASM_CHUNK, end - offset);
    // TypedArray#set straight away: Buffer#copy adds argument checks and a view of its own.
    scratch.set(length === source.length ? source : source.subarray(offset, offset + length), at);
    xor(at, at + ((length + 63) & ~63), word);
    target.set(scratch.subarray(at, at + length), targetStart + (offset - start));
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Unmasks (or masks: XOR is its own inverse) `data` in place.
 *
 * @param mask The 4-byte masking key from the frame header.
 * @param maskOffset 0..3 (taken modulo 4): the index in `mask` that applies to `data[0]`. Non-zero
 *   when a frame's payload arrives in pieces: `(bytes of this payload already processed) % 4`.
 */
export function unmaskInPlace(data: Buffer, mask: Uint8Array, maskOffset: number): void {
  const length = data.length;
  if (length < BYTE_LOOP_MAX) xorBytes(data, 0, length, mask, maskOffset);
  else if (length < WASM_MIN || wasm === null) xorWords(data, 0, length, mask, maskOffset);
  else xorViaWasm(data, 0, length, mask, maskOffset, data, 0);
}

/**
 * Writes `source XOR mask` into `target` starting at `targetOffset` (e.g. right after the frame
 * header a client has just written). `source` is not modified; `target` must have room for it.
 */
export function maskInto(source: Buffer, mask: Uint8Array, target: Buffer, targetOffset: number): void {
  const length = source.length;
  if (targetOffset < 0 || targetOffset + length > target.length) {
    throw new WireroomError(
      ErrorCodes.INVALID_ARGUMENT,
      `maskInto: ${length} bytes at offset ${targetOffset} do not fit in a ${target.length}-byte target`,
    );
  }
  if (length < BYTE_LOOP_MAX) {
    xorBytesInto(source, mask, target, targetOffset);
  } else if (length < WASM_MIN || wasm === null) {
    // Source and target may be misaligned to each other, so copy first (memcpy) and then XOR
    // the target in place with the word loop, aligned on the target.
    source.copy(target, targetOffset);
    xorWords(target, targetOffset, targetOffset + length, mask, 0);
  } else {
    xorViaWasm(source, 0, length, mask, 0, target, targetOffset);
  }
}

/**
 * The pure-JavaScript path of {@link unmaskInPlace} (byte loop, then 32-bit word loop), whatever the
 * payload size. Exported so tests and benchmarks can exercise the fallback used without WebAssembly.
 */
export function unmaskInPlaceJs(data: Buffer, mask: Uint8Array, maskOffset: number): void {
  if (data.length < BYTE_LOOP_MAX) xorBytes(data, 0, data.length, mask, maskOffset);
  else xorWords(data, 0, data.length, mask, maskOffset);
}

/**
 * The WebAssembly SIMD path of {@link unmaskInPlace} whatever the payload size, or `null` when this
 * runtime has no WebAssembly SIMD. Exported for tests and benchmarks.
 */
export const unmaskInPlaceWasm: ((data: Buffer, mask: Uint8Array, maskOffset: number) => void) | null =
  wasm === null ? null : (data, mask, maskOffset) => xorViaWasm(data, 0, data.length, mask, maskOffset, data, 0);
