/**
 * permessage-deflate: memory per connection and compression ratio on chat-like JSON, per setting.
 *
 *   node --import tsx --expose-gc bench/deflate-memory.ts [--connections=2000] [--messages=3000]
 *
 * Memory: each setting runs in its own child process (RSS never shrinks back, so settings must not
 * share one). The child creates N server-side codecs and makes each one inflate one client message
 * and deflate one server message, so both zlib contexts exist; then it reports (after - before) / N
 * for RSS and `external` (node:zlib accounts its allocations there) after a full GC.
 *
 *   node --import tsx --expose-gc bench/deflate-memory.ts --hibernation [--connections=10000]
 *
 * Hibernation: per window size, RSS per idle connection with both contexts live ("active") and after
 * the codecs hibernated (zlib contexts freed, windows kept). Connections either all exchange their
 * messages at once and then hibernate ("burst": the peak of N live context pairs stays in the
 * allocator) or arrive in waves of `--wave` connections, each wave hibernating before the next
 * ("paced": at most `wave` context pairs alive at once, as under a steady message rate). "burst" runs
 * without the cap on live contexts (`maxLiveContexts: Infinity`, as before the cap existed), "capped"
 * is the same burst with the default cap (`DEFAULT_MAX_LIVE_CONTEXTS`), "active" has no cap and no
 * hibernation. History:
 * one chat message each way, or enough messages to fill both windows (the steady state).
 * Ratio: one codec compresses a stream of chat-protocol envelopes (docs/chat-protocol.md) in order,
 * as a server does for one client; ratio = compressed bytes / raw bytes (lower is better).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { DEFAULT_MAX_LIVE_CONTEXTS, liveContextPoolFor, PerMessageDeflate } from '../packages/wireroom/src/compression/permessage-deflate.js';
import type { DeflateOptions, NegotiatedDeflate } from '../packages/wireroom/src/protocol/extensions/permessage-deflate-negotiation.js';

interface Setting {
  name: string;
  /** Server window (our deflater); null: compression off, no codec at all. */
  windowBits: number | null;
  /** Client window (our inflater); defaults to `windowBits`. */
  clientWindowBits?: number;
  memLevel: number;
  noContextTakeover: boolean;
  /** Construct codecs but never use them (shows that contexts are lazy). */
  idle?: boolean;
}

const SETTINGS: Setting[] = [
  { name: 'off', windowBits: null, memLevel: 8, noContextTakeover: false },
  { name: 'idle codec (never used)', windowBits: 15, memLevel: 8, noContextTakeover: false, idle: true },
  { name: 'window 15, memLevel 8 (zlib defaults)', windowBits: 15, memLevel: 8, noContextTakeover: false },
  { name: 'window 15, memLevel 4', windowBits: 15, memLevel: 4, noContextTakeover: false },
  { name: 'window 13, memLevel 8', windowBits: 13, memLevel: 8, noContextTakeover: false },
  { name: 'window 13, memLevel 6', windowBits: 13, memLevel: 6, noContextTakeover: false },
  { name: 'window 13, memLevel 6, client window 11', windowBits: 13, clientWindowBits: 11, memLevel: 6, noContextTakeover: false },
  { name: 'window 12, memLevel 5', windowBits: 12, memLevel: 5, noContextTakeover: false },
  { name: 'window 11, memLevel 5', windowBits: 11, memLevel: 5, noContextTakeover: false },
  { name: 'window 10, memLevel 4', windowBits: 10, memLevel: 4, noContextTakeover: false },
  { name: 'window 9, memLevel 3', windowBits: 9, memLevel: 3, noContextTakeover: false },
  { name: 'no context takeover (15/8)', windowBits: 15, memLevel: 8, noContextTakeover: true },
];

function argument(name: string, fallback: number): number {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? fallback : Number(found.slice(name.length + 3));
}

function negotiated(setting: Setting): NegotiatedDeflate {
  const bits = setting.windowBits ?? 15;
  return {
    serverNoContextTakeover: setting.noContextTakeover,
    clientNoContextTakeover: setting.noContextTakeover,
    serverMaxWindowBits: bits,
    clientMaxWindowBits: setting.clientWindowBits ?? bits,
  };
}

function options(setting: Setting): DeflateOptions {
  return { memLevel: setting.memLevel, level: 6 };
}

// ---- chat-like traffic (server -> client envelopes of docs/chat-protocol.md)

const WORDS = (
  'the a to and is in it you that of for on was with this are have be at not but so what just like do ' +
  'can we all get if they my your out about up when will one there how now know see think good time ' +
  'meeting tomorrow deploy build release fixed bug thanks ok sure lol yes no maybe later lunch coffee ' +
  'websocket server client message room please check review merge branch test green red'
).split(' ');
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
const ROOMS = ['lobby', 'dev', 'ops', 'random'];

function makeRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
}

/** A reproducible stream of envelopes: mostly messages, some typing/presence/acks. */
function chatTraffic(count: number): Buffer[] {
  const random = makeRandom(42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const uids = new Map(NAMES.map((name) => [name, randomUUID()]));
  const out: Buffer[] = [];
  let id = 1000;
  let ts = 1764000000000;
  for (let i = 0; i < count; i++) {
    const name = pick(NAMES);
    const uid = uids.get(name)!;
    const room = pick(ROOMS);
    ts += Math.floor(random() * 5000);
    const roll = random();
    let envelope: object;
    if (roll < 0.7) {
      const words = Array.from({ length: 2 + Math.floor(random() * 25) }, () => pick(WORDS));
      envelope = { type: 'message', room, id: ++id, ts, uid, name, text: words.join(' '), clientId: randomUUID() };
    } else if (roll < 0.85) {
      envelope = { type: 'typing', room, uid, name };
    } else if (roll < 0.95) {
      envelope = { type: 'ack', room, clientId: randomUUID(), id: ++id, ts, duplicate: false };
    } else {
      const members = NAMES.slice(0, 3 + Math.floor(random() * 5)).map((n) => ({ uid: uids.get(n)!, name: n }));
      envelope = { type: 'presence', room, event: random() < 0.5 ? 'join' : 'leave', uid, name, members };
    }
    out.push(Buffer.from(JSON.stringify(envelope)));
  }
  return out;
}

function compress(codec: PerMessageDeflate, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => codec.compress(data, (e, p) => (e ? reject(e) : resolve(p!))));
}

function decompress(codec: PerMessageDeflate, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => codec.decompress(data, true, Infinity, (e, m) => (e ? reject(e) : resolve(m!))));
}

async function settle(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface ChildResult {
  rssPerConnection: number;
  externalPerConnection: number;
  heapPerConnection: number;
  contexts: number;
}

/** 64 KiB of chat JSON: a message big enough to touch every zlib buffer (worst case after a history page). */
function largeSample(): Buffer {
  return Buffer.concat(chatTraffic(400)).subarray(0, 64 * 1024);
}

interface HibernationResult {
  rssPerConnection: number;
  heapPerConnection: number;
  keptWindowPerConnection: number;
  contexts: number;
  hibernated: number;
  /** Most contexts alive at once in the pool the codecs used. */
  peakContexts: number;
}

type HibernationMode = 'active' | 'burst' | 'capped' | 'paced';

/**
 * `connections` server codecs with the default options and `bits` windows each way, each having
 * inflated and deflated `history` chat envelopes (different for every connection).
 */
async function runHibernationChild(bits: number, connections: number, mode: HibernationMode, fullHistory: boolean, wave: number): Promise<HibernationResult> {
  const negotiatedParams: NegotiatedDeflate = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: bits, clientMaxWindowBits: bits };
  const traffic = chatTraffic(fullHistory ? Math.ceil((2 ** bits * 1.2) / 150) + 1 : 1);
  // The client side of every connection: one continuous deflater, shared (its messages decode in any
  // server inflater whose history is the same, so each server codec sees the same client stream).
  const clientPayloads: Buffer[] = [];
  const clientSide = new PerMessageDeflate('client', negotiatedParams, { hibernateAfterMs: Infinity, threshold: 0 });
  for (const message of traffic) clientPayloads.push(await compress(clientSide, message));
  clientSide.close();
  await settle();
  const before = process.memoryUsage();
  const codecs: PerMessageDeflate[] = [];
  const exchange = async (codec: PerMessageDeflate): Promise<void> => {
    for (let i = 0; i < traffic.length; i++) {
      await decompress(codec, clientPayloads[i]!);
      await compress(codec, traffic[i]!);
    }
  };
  const step = mode === 'paced' ? wave : connections;
  for (let start = 0; start < connections; start += step) {
    const batch: PerMessageDeflate[] = [];
    for (let i = start; i < Math.min(connections, start + step); i++) {
      const maxLiveContexts = mode === 'capped' || mode === 'paced' ? DEFAULT_MAX_LIVE_CONTEXTS : Infinity;
      batch.push(new PerMessageDeflate('server', negotiatedParams, { hibernateAfterMs: Infinity, maxLiveContexts }));
    }
    await Promise.all(batch.map(exchange));
    if (mode !== 'active') for (const codec of batch) codec.hibernate();
    codecs.push(...batch);
  }
  await settle();
  const after = process.memoryUsage();
  const result: HibernationResult = {
    rssPerConnection: (after.rss - before.rss) / connections,
    heapPerConnection: (after.heapUsed - before.heapUsed) / connections,
    keptWindowPerConnection: codecs.reduce((sum, codec) => sum + codec.keptWindowBytes, 0) / connections,
    contexts: codecs.reduce((sum, codec) => sum + codec.allocatedContexts, 0),
    hibernated: codecs.reduce((sum, codec) => sum + codec.hibernatedDirections, 0),
    peakContexts: mode === 'capped' || mode === 'paced' ? liveContextPoolFor(DEFAULT_MAX_LIVE_CONTEXTS).peak : liveContextPoolFor(Infinity).peak,
  };
  for (const codec of codecs) codec.close();
  return result;
}

async function runChild(setting: Setting, connections: number, large: boolean): Promise<ChildResult> {
  const sample = large ? largeSample() : chatTraffic(1)[0]!;
  // A client message compressed with a fresh context decodes in any server inflater.
  const fromClient = zlib
    .deflateRawSync(sample, { windowBits: Math.max(9, setting.clientWindowBits ?? setting.windowBits ?? 15), finishFlush: zlib.constants.Z_SYNC_FLUSH })
    .subarray(0, -4);
  await settle();
  const before = process.memoryUsage();
  const codecs: PerMessageDeflate[] = [];
  if (setting.windowBits !== null) {
    for (let i = 0; i < connections; i++) codecs.push(new PerMessageDeflate('server', negotiated(setting), options(setting)));
    if (!setting.idle) {
      await Promise.all(codecs.map(async (codec) => {
        await decompress(codec, fromClient);
        await compress(codec, sample);
      }));
    }
  }
  await settle();
  const after = process.memoryUsage();
  const contexts = codecs.reduce((sum, codec) => sum + codec.allocatedContexts, 0);
  const result: ChildResult = {
    rssPerConnection: (after.rss - before.rss) / connections,
    externalPerConnection: (after.external - before.external) / connections,
    heapPerConnection: (after.heapUsed - before.heapUsed) / connections,
    contexts,
  };
  for (const codec of codecs) codec.close();
  return result;
}

interface RatioResult {
  ratio: number;
  smallRatio: number;
}

async function measureRatio(setting: Setting, traffic: Buffer[]): Promise<RatioResult | null> {
  if (setting.windowBits === null || setting.idle) return null;
  const server = new PerMessageDeflate('server', negotiated(setting), options(setting));
  const client = new PerMessageDeflate('client', negotiated(setting), options(setting));
  let raw = 0;
  let compressed = 0;
  let smallRaw = 0;
  let smallCompressed = 0;
  for (const message of traffic) {
    const payload = await compress(server, message);
    raw += message.length;
    compressed += payload.length;
    if (message.length < 128) {
      smallRaw += message.length;
      smallCompressed += payload.length;
    }
    const back = await decompress(client, payload);
    if (!back.equals(message)) throw new Error('round trip mismatch');
  }
  server.close();
  client.close();
  return { ratio: compressed / raw, smallRatio: smallCompressed / smallRaw };
}

function kib(bytes: number): string {
  return (bytes / 1024).toFixed(1);
}

async function main(): Promise<void> {
  const connections = argument('connections', 2000);
  const hibernationChild = process.argv.find((a) => a.startsWith('--hibernation-child='))?.slice('--hibernation-child='.length);
  if (hibernationChild !== undefined) {
    const [bits, mode, history] = hibernationChild.split(',');
    const result = await runHibernationChild(Number(bits), connections, mode as HibernationMode, history === 'full', argument('wave', 100));
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  if (process.argv.includes('--hibernation')) {
    await hibernationTable(connections);
    return;
  }
  const childName = process.argv.find((a) => a.startsWith('--child='))?.slice('--child='.length);
  if (childName !== undefined) {
    const setting = SETTINGS.find((s) => s.name === childName);
    if (setting === undefined) throw new Error(`unknown setting ${childName}`);
    process.stdout.write(JSON.stringify(await runChild(setting, connections, process.argv.includes('--large'))) + '\n');
    return;
  }

  const traffic = chatTraffic(argument('messages', 3000));
  const rawBytes = traffic.reduce((sum, m) => sum + m.length, 0);
  console.log(`node ${process.version}, zlib ${process.versions.zlib}; ${connections} connections per setting; ` +
    `ratio over ${traffic.length} chat envelopes (${(rawBytes / traffic.length).toFixed(0)} bytes on average)\n`);
  console.log('| setting | RSS / conn, chat msg (KiB) | external / conn (KiB) | JS heap / conn (KiB) | live contexts | RSS / conn after a 64 KiB msg (KiB) | ratio (all) | ratio (< 128 B msgs) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  const script = fileURLToPath(import.meta.url);
  const measure = (setting: Setting, large: boolean): ChildResult => {
    const args = ['--import', 'tsx', '--expose-gc', script, `--child=${setting.name}`, `--connections=${connections}`];
    const child = spawnSync(process.execPath, large ? [...args, '--large'] : args, { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`child ${setting.name} failed: ${child.stderr}`);
    return JSON.parse(child.stdout.trim().split('\n').pop()!) as ChildResult;
  };
  for (const setting of SETTINGS) {
    const memory = measure(setting, false);
    const warm = measure(setting, true);
    const ratio = await measureRatio(setting, traffic);
    console.log(
      `| ${setting.name} | ${kib(memory.rssPerConnection)} | ${kib(memory.externalPerConnection)} | ${kib(memory.heapPerConnection)} | ` +
        `${memory.contexts} | ${kib(warm.rssPerConnection)} | ${ratio ? ratio.ratio.toFixed(3) : '1'} | ${ratio ? ratio.smallRatio.toFixed(3) : '1'} |`,
    );
  }
}

async function hibernationTable(connections: number): Promise<void> {
  const wave = argument('wave', 100);
  const bitsList = (process.argv.find((a) => a.startsWith('--bits='))?.slice('--bits='.length) ?? '8,9,10,11,12,13,14,15').split(',').map(Number);
  const script = fileURLToPath(import.meta.url);
  const measure = (bits: number, mode: HibernationMode, history: 'one' | 'full'): HibernationResult => {
    const args = ['--import', 'tsx', '--expose-gc', script, `--hibernation-child=${bits},${mode},${history}`, `--connections=${connections}`, `--wave=${wave}`];
    const child = spawnSync(process.execPath, args, { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`child ${bits}/${mode}/${history} failed: ${child.stderr}`);
    return JSON.parse(child.stdout.trim().split('\n').pop()!) as HibernationResult;
  };
  console.log(`node ${process.version}, zlib ${process.versions.zlib}; ${connections} server codecs per cell, default options (memLevel 6, level 6); ` +
    `paced = waves of ${wave} connections, each hibernating before the next\n`);
  // Ratio: the same chat stream through a codec that hibernates after every message and one that never does.
  const traffic = chatTraffic(argument('messages', 3000));
  const sizes: number[] = [];
  for (const hibernateAfterMs of [0, Infinity]) {
    const p: NegotiatedDeflate = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 13, clientMaxWindowBits: 13 };
    const server = new PerMessageDeflate('server', p, { hibernateAfterMs });
    const client = new PerMessageDeflate('client', p, { hibernateAfterMs: Infinity });
    let total = 0;
    for (const message of traffic) {
      const payload = await compress(server, message);
      total += payload.length;
      if (!(await decompress(client, payload)).equals(message)) throw new Error('round trip mismatch');
    }
    sizes.push(total);
    server.close();
    client.close();
  }
  const raw = traffic.reduce((sum, m) => sum + m.length, 0);
  console.log(`ratio on ${traffic.length} chat envelopes, 13-bit window: ${(sizes[0]! / raw).toFixed(4)} rebuilding the context before every message, ` +
    `${(sizes[1]! / raw).toFixed(4)} continuous (${sizes[0]} vs ${sizes[1]} bytes)\n`);
  console.log(`| windows (both ways) | history | active RSS / conn (KiB) | hibernated, burst, no cap (KiB) | hibernated, burst, cap ${DEFAULT_MAX_LIVE_CONTEXTS} (KiB) | hibernated, paced (KiB) | kept windows / conn (KiB) | JS heap / conn, hibernated (KiB) | peak live contexts: burst / capped / paced |`);
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---|');
  for (const bits of bitsList) {
    for (const history of ['one', 'full'] as const) {
      const active = measure(bits, 'active', history);
      const burst = measure(bits, 'burst', history);
      const capped = measure(bits, 'capped', history);
      const paced = measure(bits, 'paced', history);
      if (paced.contexts !== 0 || burst.contexts !== 0 || capped.contexts !== 0) throw new Error('contexts left after hibernation');
      console.log(
        `| ${bits} | ${history === 'one' ? '1 msg each way' : 'full windows'} | ${kib(active.rssPerConnection)} | ${kib(burst.rssPerConnection)} | ` +
          `${kib(capped.rssPerConnection)} | ${kib(paced.rssPerConnection)} | ${kib(paced.keptWindowPerConnection)} | ${kib(paced.heapPerConnection)} | ` +
          `${burst.peakContexts} / ${capped.peakContexts} / ${paced.peakContexts} |`,
      );
    }
  }
}

await main();
