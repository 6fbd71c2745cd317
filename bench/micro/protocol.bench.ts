/**
 * In-process micro-benchmarks of the protocol layer, Wireroom against ws's own classes, alternated A B A B:
 *
 *  - parser: masked client frames (32 B text, 1 KiB text, 64 KiB binary) cut into 64 KiB chunks, as a socket
 *    would deliver them, fed to `new WebSocketProtocol(handler, { role: 'server' })` vs `ws/lib/receiver.js`
 *    (`receiver.write(chunk)`, what ws does with every socket chunk; unmasks with bufferutil when installed);
 *  - framer: unmasked server frames from a Buffer (`encodeFrame`) and from a string (`encodeTextFrame`) vs
 *    `Sender.frame()` of `ws/lib/sender.js` (ws frames a string by `Buffer.from` first);
 *  - unmask: `unmaskInPlace` (src/protocol/mask.ts) vs the function ws uses (`ws/lib/buffer-util.js`, i.e.
 *    bufferutil's native unmask when installed).
 *
 * Figures are per CPU second of this process (`process.cpuUsage()`: a descheduled thread costs nothing), the
 * best of `--rounds` timed rounds (the best round is the least disturbed on a shared machine).
 *
 *   node --import tsx bench/micro/protocol.bench.ts [--rounds 5] [--time 300] [--json]
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeFrame, encodeTextFrame } from '../../packages/wireroom/src/protocol/frame-writer.js';
import { maskBackend, unmaskInPlace } from '../../packages/wireroom/src/protocol/mask.js';
import { WebSocketProtocol, type ProtocolHandler } from '../../packages/wireroom/src/protocol/protocol.js';

const require = createRequire(import.meta.url);

interface WsReceiver {
  write(chunk: Buffer): boolean;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
}
interface WsModules {
  Receiver: new (options: { isServer: boolean; maxPayload: number; binaryType?: string }) => WsReceiver;
  Sender: { frame(data: Buffer | string, options: Record<string, unknown>): Buffer[] };
  unmask: (buffer: Buffer, mask: Buffer) => void;
  version: string;
  bufferutil: boolean;
}

function loadWs(): WsModules | null {
  try {
    // ws's package "exports" hide lib/: load its files by path, as its own index.js does.
    const lib = (f: string): string => join(dirname(require.resolve('ws/package.json')), 'lib', f);
    const bufferUtil = require(lib('buffer-util.js')) as { unmask: (b: Buffer, m: Buffer) => void };
    let bufferutil = false;
    try {
      require.resolve('bufferutil');
      bufferutil = Object.keys(require.cache).some((k) => k.includes('/bufferutil/'));
    } catch { /* not installed */ }
    return {
      Receiver: require(lib('receiver.js')) as WsModules['Receiver'],
      Sender: require(lib('sender.js')) as WsModules['Sender'],
      unmask: bufferUtil.unmask,
      version: (require('ws/package.json') as { version: string }).version,
      bufferutil,
    };
  } catch {
    return null;
  }
}

// Mask bytes below 0x80: ASCII payload XOR mask stays ASCII, so a text stream stays valid UTF-8 however many
// times it is unmasked in place. Both parsers unmask in place, so the same chunks can be fed again and again.
const MASK = Buffer.from([0x12, 0x34, 0x56, 0x78]);
const CHUNK = 64 * 1024;

function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const headerLen = (len < 126 ? 2 : len < 65536 ? 4 : 10) + 4;
  const out = Buffer.alloc(headerLen + len);
  out[0] = 0x80 | opcode;
  let o = 2;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) { out[1] = 0x80 | 126; out.writeUInt16BE(len, 2); o = 4; }
  else { out[1] = 0x80 | 127; out.writeUInt32BE(0, 2); out.writeUInt32BE(len, 6); o = 10; }
  MASK.copy(out, o);
  o += 4;
  for (let i = 0; i < len; i++) out[o + i] = payload[i]! ^ MASK[i & 3]!;
  return out;
}

/** A stream of `count` identical frames, cut into socket-sized chunks (frames straddle chunk boundaries). */
function frameStream(size: number, opcode: number): { chunks: Buffer[]; frames: number } {
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = 0x61 + (i % 26);
  const frame = maskedFrame(opcode, payload);
  const frames = Math.max(16, Math.ceil((1 << 20) / frame.length));
  const stream = Buffer.concat(Array.from({ length: frames }, () => frame));
  const chunks: Buffer[] = [];
  for (let o = 0; o < stream.length; o += CHUNK) chunks.push(stream.subarray(o, Math.min(o + CHUNK, stream.length)));
  return { chunks, frames };
}

let sink = 0;

/** Runs `pass` (which does `unitsPerPass` units) for ~`ms` of CPU time; returns units per CPU second. */
function timed(pass: () => void, unitsPerPass: number, ms: number): number {
  for (let i = 0; i < 3; i++) pass();
  const start = process.cpuUsage();
  let passes = 0;
  let used = 0;
  do {
    pass();
    passes++;
    if ((passes & 3) === 0 || unitsPerPass === 1) {
      const d = process.cpuUsage(start);
      used = (d.user + d.system) / 1e3;
    }
  } while (used < ms);
  const d = process.cpuUsage(start);
  return (passes * unitsPerPass) / ((d.user + d.system) / 1e6);
}

export interface MicroRow {
  group: 'parser' | 'framer' | 'unmask';
  case: string;
  unit: string;
  wireroom: number;
  ws: number | null;
}

export interface MicroResult {
  rows: MicroRow[];
  meta: { rounds: number; timeMs: number; maskBackend: string; ws: string | null; bufferutil: boolean };
}

export function runMicro(rounds: number, timeMs: number, progress: (s: string) => void = () => {}): MicroResult {
  const ws = loadWs();
  const rows: MicroRow[] = [];
  type Case = { group: MicroRow['group']; name: string; unit: string; units: number; a: () => void; b: (() => void) | null; scale?: number };
  const cases: Case[] = [];

  // ---- parser
  for (const [size, opcode, label] of [[32, 1, '32 B text'], [1024, 1, '1 KiB text'], [65536, 2, '64 KiB binary']] as const) {
    const { chunks, frames } = frameStream(size, opcode);
    let received = 0;
    const handler: ProtocolHandler = {
      onMessage(data: Buffer) { received += data.length; },
      onCompressedFrame() {}, onPing() {}, onPong() {}, onClose() {},
      onError(e) { throw e; },
      onOutputReady() {},
      transportBuffered() { return 0; },
    };
    const protocol = new WebSocketProtocol(handler, { role: 'server', maxMessageSize: 64 * 1024 * 1024 });
    const a = (): void => { for (const c of chunks) protocol.receive(c); };
    let b: (() => void) | null = null;
    if (ws) {
      const receiver = new ws.Receiver({ isServer: true, maxPayload: 64 * 1024 * 1024, binaryType: 'nodebuffer' });
      receiver.on('message', (data: Buffer) => { received += data.length; });
      receiver.on('error', (e: Error) => { throw e; });
      b = () => { for (const c of chunks) receiver.write(c); };
    }
    cases.push({ group: 'parser', name: label, unit: 'frames/s', units: frames, a, b });
    sink += received;
  }

  // ---- framer
  for (const [size, label] of [[32, '32 B'], [1024, '1 KiB'], [65536, '64 KiB']] as const) {
    const payload = Buffer.alloc(size, 0x61);
    const opts = { fin: true, rsv1: false, opcode: 2, mask: false, readOnly: false };
    const N = 64;
    cases.push({
      group: 'framer', name: `${label} binary (Buffer)`, unit: 'frames/s', units: N,
      a: () => { for (let i = 0; i < N; i++) { const f = encodeFrame(2, payload); sink += Array.isArray(f) ? f[0].length : f.length; } },
      b: ws ? () => { for (let i = 0; i < N; i++) sink += ws.Sender.frame(payload, opts)[0]!.length; } : null,
    });
  }
  {
    const text = 'x'.repeat(32);
    const N = 64;
    const opts = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false };
    cases.push({
      group: 'framer', name: '32 B text (string)', unit: 'frames/s', units: N,
      a: () => { for (let i = 0; i < N; i++) sink += encodeTextFrame(text).length; },
      // ws.send(string) converts with Buffer.from before framing (websocket.js -> sender.send -> toBuffer).
      b: ws ? () => { for (let i = 0; i < N; i++) sink += ws.Sender.frame(Buffer.from(text), opts)[0]!.length; } : null,
    });
  }

  // ---- unmask
  for (const [size, label] of [[1024, '1 KiB'], [65536, '64 KiB'], [1 << 20, '1 MiB']] as const) {
    const data = Buffer.alloc(size, 0x5a);
    const reps = Math.max(1, Math.floor((1 << 20) / size));
    cases.push({
      group: 'unmask', name: label, unit: 'GB/s', units: size * reps, scale: 1e-9,
      a: () => { for (let i = 0; i < reps; i++) unmaskInPlace(data, MASK, 0); },
      b: ws ? () => { for (let i = 0; i < reps; i++) ws.unmask(data, MASK); } : null,
    });
  }

  let n = 0;
  for (const c of cases) {
    progress(`micro ${++n}/${cases.length}: ${c.group} ${c.name}`);
    let bestA = 0;
    let bestB = 0;
    for (let r = 0; r < rounds; r++) {
      bestA = Math.max(bestA, timed(c.a, c.units, timeMs));
      if (c.b) bestB = Math.max(bestB, timed(c.b, c.units, timeMs));
    }
    const scale = c.scale ?? 1;
    rows.push({ group: c.group, case: c.name, unit: c.unit, wireroom: bestA * scale, ws: c.b ? bestB * scale : null });
  }
  if (sink === 0.5) console.log(sink);
  return { rows, meta: { rounds, timeMs, maskBackend, ws: ws?.version ?? null, bufferutil: ws?.bufferutil ?? false } };
}

export function formatMicro(result: MicroResult): string {
  const fmt = (v: number, unit: string): string =>
    unit === 'GB/s' ? v.toFixed(2) : v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : `${(v / 1e3).toFixed(1)} k`;
  const lines = [`micro-benchmarks (best of ${result.meta.rounds} rounds, per CPU second; mask kernel: ${result.meta.maskBackend}; ws ${result.meta.ws ?? 'missing'}${result.meta.bufferutil ? ' + bufferutil' : ''})`];
  lines.push(`  ${'group'.padEnd(7)} ${'case'.padEnd(22)} ${'wireroom'.padStart(11)} ${'ws'.padStart(11)}  ratio (higher = faster)`);
  for (const r of result.rows) {
    const ratio = r.ws ? `x${(r.wireroom / r.ws).toFixed(2)}` : '-';
    lines.push(`  ${r.group.padEnd(7)} ${r.case.padEnd(22)} ${fmt(r.wireroom, r.unit).padStart(11)} ${r.ws ? fmt(r.ws, r.unit).padStart(11) : '-'.padStart(11)}  ${ratio}  ${r.unit}`);
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, time: { type: 'string', default: '300' }, json: { type: 'boolean', default: false } } });
  const result = runMicro(Number(values.rounds), Number(values.time), (s) => process.stderr.write(`\r${s.padEnd(60)}`));
  process.stderr.write('\r'.padEnd(62) + '\r');
  console.log(values.json ? JSON.stringify(result) : formatMicro(result));
}
