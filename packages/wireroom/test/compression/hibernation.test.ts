import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import zlib from 'node:zlib';
import fc from 'fast-check';
import type { NegotiatedDeflate } from '../../src/protocol/extensions/permessage-deflate-negotiation.js';
import { liveContextPoolFor, PerMessageDeflate, type DeflateCodecOptions } from '../../src/compression/permessage-deflate.js';
import { SlidingWindow } from '../../src/compression/sliding-window.js';
import { awakeCount, sweepNow } from '../../src/compression/hibernation.js';
import { compress, decompressFrames, split, TRAILER, ZlibPeer } from '../helpers/zlib-peer.js';

function params(overrides: Partial<NegotiatedDeflate> = {}): NegotiatedDeflate {
  return { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 13, clientMaxWindowBits: 13, ...overrides };
}

/** Deterministic PRNG (mulberry32) so a failure names its seed and reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['{"type":"message"', '"room":"general"', '"text":"', 'hello', 'world', 'deflate', 'window', '"user":{"id":', '},', '"ts":17640000'];

/**
 * Random messages that exercise the window: chat-like JSON, random bytes, copies of earlier output
 * (back-references across messages, some beyond small windows), empty ones and a few larger than 32 KiB.
 */
function messageSource(random: () => number) {
  const history: Buffer[] = [];
  return (): Buffer => {
    const kind = random();
    let message: Buffer;
    if (kind < 0.05) message = Buffer.alloc(0);
    else if (kind < 0.15) {
      message = Buffer.allocUnsafe(1 + Math.floor(random() * 600));
      for (let i = 0; i < message.length; i++) message[i] = Math.floor(random() * 256);
    } else if (kind < 0.35 && history.length > 0) {
      // Repeat (a piece of) an earlier message, from the recent or the distant past.
      const earlier = history[history.length - 1 - Math.floor(random() * Math.min(history.length, 60))]!;
      const start = Math.floor(random() * earlier.length);
      message = Buffer.concat([earlier.subarray(start), Buffer.from(String(random()))]);
    } else {
      const large = random() < 0.02;
      const target = large ? 33_000 + Math.floor(random() * 40_000) : Math.floor(random() * (random() < 0.5 ? 300 : 3000));
      const parts: string[] = [];
      let length = 0;
      while (length < target) {
        const word = WORDS[Math.floor(random() * WORDS.length)]! + Math.floor(random() * 1000);
        parts.push(word);
        length += word.length;
      }
      message = Buffer.from(parts.join(''));
    }
    history.push(message);
    if (history.length > 100) history.shift();
    return message;
  };
}

describe('SlidingWindow', () => {
  it('keeps exactly the last `capacity` bytes of everything appended, growing only as needed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2048 }), fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 30 }), (capacity, pieces) => {
        const window = new SlidingWindow(capacity);
        let all = Buffer.alloc(0);
        for (const piece of pieces) {
          window.append(piece);
          all = Buffer.concat([all, piece]);
          const expected = all.subarray(Math.max(0, all.length - capacity));
          assert.deepEqual(window.toBuffer(), expected);
          assert.equal(window.size, expected.length);
          assert.ok(window.allocatedBytes <= capacity, 'never more storage than the capacity');
          assert.ok(window.allocatedBytes <= Math.max(256, 2 * expected.length), 'storage grows with the content');
        }
        window.clear();
        assert.equal(window.size, 0);
        assert.equal(window.allocatedBytes, 0);
      }),
      { numRuns: 300 },
    );
  });
});

describe('hibernating compression contexts', () => {
  it('hibernate() frees both contexts, keeps only the windows, and the next messages continue the stream', async () => {
    const server = new PerMessageDeflate('server', params(), { hibernateAfterMs: Infinity });
    const client = new PerMessageDeflate('client', params(), { hibernateAfterMs: Infinity });
    const message = Buffer.from(JSON.stringify({ type: 'message', room: 'general', text: 'the same chat message, sent twice over', user: 'alice' }));
    const first = await compress(server, message);
    assert.deepEqual(await decompressFrames(client, [first]), message);
    assert.equal(server.allocatedContexts, 1);
    assert.equal(client.allocatedContexts, 1);

    assert.equal(server.hibernate(), 1);
    assert.equal(client.hibernate(), 1);
    assert.equal(server.allocatedContexts, 0);
    assert.equal(client.allocatedContexts, 0);
    assert.equal(server.hibernatedDirections, 1, 'the deflating direction sleeps; the inflating one never ran');
    assert.ok(server.keptWindowBytes >= message.length && server.keptWindowBytes <= 2 ** 13, `kept ${server.keptWindowBytes}`);

    const second = await compress(server, message);
    assert.ok(second.length < 12, `context taken over across hibernation: ${second.length} bytes`);
    assert.deepEqual(await decompressFrames(client, [second]), message);
    server.close();
    client.close();
  });

  it('keeps nothing between messages with no_context_takeover, and hibernate() is a no-op', async () => {
    const p = params({ serverNoContextTakeover: true, clientNoContextTakeover: true });
    const server = new PerMessageDeflate('server', p);
    const client = new PerMessageDeflate('client', p);
    const message = Buffer.from('x'.repeat(500) + 'no context takeover');
    assert.deepEqual(await decompressFrames(server, [await compress(client, message)]), message);
    assert.deepEqual(await decompressFrames(client, [await compress(server, message)]), message);
    for (const codec of [server, client]) {
      assert.equal(codec.allocatedContexts, 0);
      assert.equal(codec.keptWindowBytes, 0);
      assert.equal(codec.hibernatedDirections, 0);
      assert.equal(codec.hibernate(), 0);
      codec.close();
    }
  });

  it('the shared sweep hibernates directions idle for hibernateAfterMs, and only those', async () => {
    const quick = new PerMessageDeflate('server', params(), { hibernateAfterMs: 60 });
    const never = new PerMessageDeflate('server', params(), { hibernateAfterMs: Infinity });
    const message = Buffer.from('a message long enough to be compressed, a message long enough');
    const peer = new PerMessageDeflate('client', params());
    assert.deepEqual(await decompressFrames(peer, [await compress(quick, message)]), message);
    await compress(never, message);
    assert.equal(quick.allocatedContexts, 1);
    assert.ok(awakeCount() >= 1, 'the awake direction is registered');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(quick.allocatedContexts, 1, 'not before its idle time');
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal(quick.allocatedContexts, 0, 'released by the sweep');
    assert.equal(quick.hibernatedDirections, 1);
    assert.equal(never.allocatedContexts, 1, 'Infinity never hibernates');
    // Still the same stream afterwards (the peer's window holds the first message).
    for (let i = 0; i < 3; i++) assert.deepEqual(await decompressFrames(peer, [await compress(quick, message)]), message);
    quick.close();
    never.close();
    peer.close();
    assert.equal(awakeCount(), 0, 'closed codecs leave the sweep');
  });

  it('a sweep does not interrupt a fragmented message: the inflater sleeps only between messages', async () => {
    const sender = new ZlibPeer(zlib.createDeflateRaw({ windowBits: 13 }));
    const server = new PerMessageDeflate('server', params(), { hibernateAfterMs: 1 });
    const data = Buffer.from('fragmented '.repeat(400));
    const frames = split(await sender.deflateMessage(data), 4);
    const results: Array<Promise<Buffer | undefined>> = frames.map(
      (frame, i) =>
        new Promise((resolve, reject) =>
          server.decompress(frame, i === frames.length - 1, Infinity, (error, message) => (error ? reject(error) : resolve(message))),
        ),
    );
    await results[0];
    assert.equal(server.hibernate(), 0, 'mid-message: refuses for now');
    sweepNow();
    sweepNow();
    assert.equal(server.allocatedContexts, 1, 'the sweep left the mid-message context alone');
    assert.deepEqual(await results[frames.length - 1], data);
    assert.equal(server.allocatedContexts, 0, 'hibernated once the message was complete');
    assert.deepEqual(await decompressFrames(server, [await sender.deflateMessage(data)]), data, 'and resumes');
    server.close();
    sender.close();
  });

  it('compresses chat JSON as well when hibernating after every message as when never hibernating', async () => {
    const always = new PerMessageDeflate('server', params(), { hibernateAfterMs: 0 });
    const never = new PerMessageDeflate('server', params(), { hibernateAfterMs: Infinity });
    const random = prng(42);
    let raw = 0;
    let hibernatedBytes = 0;
    let continuousBytes = 0;
    for (let i = 0; i < 400; i++) {
      const message = Buffer.from(
        JSON.stringify({ type: 'message', room: 'general', id: `m${i}`, user: { id: `u${Math.floor(random() * 20)}` }, text: `message ${Math.floor(random() * 1e6)}`, ts: 1764000000000 + i }),
      );
      raw += message.length;
      hibernatedBytes += (await compress(always, message)).length;
      continuousBytes += (await compress(never, message)).length;
      assert.equal(always.allocatedContexts, 0, 'hibernateAfterMs 0 frees the context after each message');
    }
    assert.ok(hibernatedBytes / raw < 0.45, `context taken over: ratio ${(hibernatedBytes / raw).toFixed(3)}`);
    assert.ok(Math.abs(hibernatedBytes - continuousBytes) <= continuousBytes * 0.02, `hibernating ${hibernatedBytes} vs continuous ${continuousBytes}`);
    always.close();
    never.close();
  });

  it('rejects an invalid hibernateAfterMs', () => {
    for (const value of [-1, Number.NaN, '5' as unknown as number]) {
      assert.throws(() => new PerMessageDeflate('server', params(), { hibernateAfterMs: value } as DeflateCodecOptions), { code: 'WS_ERR_INVALID_ARGUMENT' });
    }
  });
});

describe('maxLiveContexts: a process-wide cap on live zlib contexts', () => {
  // Each test uses its own cap value, hence its own pool (one pool per distinct value).
  const chat = (i: number) => Buffer.from(JSON.stringify({ type: 'message', room: 'general', id: `m${i}`, text: `chat message number ${i} `.repeat(1 + (i % 5)) }));

  it('evicts the least recently used idle direction when a new context would exceed the cap', async () => {
    const pool = liveContextPoolFor(3);
    const options = { maxLiveContexts: 3, hibernateAfterMs: Infinity };
    const codecs = Array.from({ length: 5 }, () => new PerMessageDeflate('server', params(), options));
    const peers = codecs.map(() => new PerMessageDeflate('client', params(), { maxLiveContexts: Infinity, hibernateAfterMs: Infinity }));
    const roundTrip = async (i: number, n: number) => assert.deepEqual(await decompressFrames(peers[i]!, [await compress(codecs[i]!, chat(n))]), chat(n));
    await roundTrip(0, 0);
    await roundTrip(1, 1);
    await roundTrip(2, 2);
    assert.deepEqual(codecs.map((c) => c.allocatedContexts), [1, 1, 1, 0, 0]);
    await roundTrip(3, 3);
    assert.deepEqual(codecs.map((c) => c.allocatedContexts), [0, 1, 1, 1, 0], 'the least recently used (0) was hibernated');
    assert.equal(codecs[0]!.hibernatedDirections, 1);
    await roundTrip(1, 4); // 1 is now the most recently used
    await roundTrip(4, 5);
    assert.deepEqual(codecs.map((c) => c.allocatedContexts), [0, 1, 0, 1, 1], 'then 2, not 1');
    assert.equal(pool.size, 3);
    assert.ok(pool.evicted >= 2);
    // The evicted ones resume their streams exactly.
    for (let i = 0; i < 5; i++) await roundTrip(i, 10 + i);
    assert.ok(pool.peak <= 3, `peak ${pool.peak}`);
    for (const c of [...codecs, ...peers]) c.close();
    assert.equal(pool.size, 0, 'closed codecs leave the pool');
  });

  it('never touches a direction in the middle of a message, even over the cap', async () => {
    const pool = liveContextPoolFor(2);
    const options = { maxLiveContexts: 2, hibernateAfterMs: Infinity };
    const sender = new ZlibPeer(zlib.createDeflateRaw({ windowBits: 13 }));
    const fragmented = new PerMessageDeflate('server', params(), options);
    const data = Buffer.from('fragmented and held open '.repeat(300));
    const frames = split(await sender.deflateMessage(data), 3);
    const results = frames.map(
      (frame, i) => new Promise<Buffer | undefined>((resolve, reject) => {
        if (i === 0) fragmented.decompress(frame, false, Infinity, (error) => (error ? reject(error) : resolve(undefined)));
      }),
    );
    await results[0];
    assert.equal(fragmented.allocatedContexts, 1);
    const others = Array.from({ length: 4 }, () => new PerMessageDeflate('server', params(), options));
    const peer = new PerMessageDeflate('client', params(), { maxLiveContexts: Infinity, hibernateAfterMs: Infinity });
    for (const [i, codec] of others.entries()) {
      const peerOf = new PerMessageDeflate('client', params(), { maxLiveContexts: Infinity });
      assert.deepEqual(await decompressFrames(peerOf, [await compress(codec, chat(i))]), chat(i));
      peerOf.close();
      assert.equal(fragmented.allocatedContexts, 1, 'the mid-message inflater keeps its context');
      assert.ok(pool.size <= 2, `pool ${pool.size}`);
    }
    // The rest of the message arrives later and decodes exactly.
    const last = await new Promise<Buffer>((resolve, reject) => {
      for (let i = 1; i < frames.length; i++) {
        const fin = i === frames.length - 1;
        fragmented.decompress(frames[i]!, fin, Infinity, (error, message) => (error ? reject(error) : fin && resolve(message!)));
      }
    });
    assert.deepEqual(last, data);
    assert.deepEqual(await decompressFrames(fragmented, [await sender.deflateMessage(data)]), data, 'and the stream goes on');
    for (const c of [fragmented, ...others, peer]) c.close();
    sender.close();
  });

  it('holds under a burst: 600 connections exchanging at once keep at most the cap alive, and every message decodes exactly', async () => {
    const CAP = 50;
    const N = 600;
    const ROUNDS = 4;
    const pool = liveContextPoolFor(CAP);
    pool.resetPeak();
    const servers = Array.from({ length: N }, () => new PerMessageDeflate('server', params(), { maxLiveContexts: CAP }));
    // Continuous peers (never hibernating, in a pool without a cap): what the server's bytes must decode on.
    const clients = servers.map(() => new PerMessageDeflate('client', params(), { maxLiveContexts: Infinity, hibernateAfterMs: Infinity }));
    let peakAllocated = 0;
    const sample = () => {
      let allocated = 0;
      for (const s of servers) allocated += s.allocatedContexts;
      if (allocated > peakAllocated) peakAllocated = allocated;
    };
    let decoded = 0;
    await Promise.all(
      servers.map(async (server, i) => {
        const client = clients[i]!;
        for (let r = 0; r < ROUNDS; r++) {
          const up = chat(i * ROUNDS + r);
          const received = await decompressFrames(server, [await compress(client, up)]);
          sample();
          assert.deepEqual(received, up);
          const down = Buffer.concat([Buffer.from('echo '), up]);
          const payload = await compress(server, down);
          sample();
          assert.deepEqual(await decompressFrames(client, [payload]), down);
          decoded += 2;
        }
      }),
    );
    assert.equal(decoded, N * ROUNDS * 2);
    assert.ok(peakAllocated > 0 && peakAllocated <= CAP, `allocatedContexts summed over the servers peaked at ${peakAllocated} (cap ${CAP})`);
    assert.ok(pool.peak <= CAP, `pool peak ${pool.peak}`);
    assert.ok(pool.evicted > N, `evictions ${pool.evicted}: the burst really went through the cap`);
    for (const c of [...servers, ...clients]) c.close();
    assert.equal(pool.size, 0);
  });

  it('rejects an invalid maxLiveContexts', () => {
    for (const value of [0, -1, 1.5, Number.NaN, '5' as unknown as number]) {
      assert.throws(() => new PerMessageDeflate('server', params(), { maxLiveContexts: value } as DeflateCodecOptions), { code: 'WS_ERR_INVALID_ARGUMENT' });
    }
  });
});

describe('property: hibernation at random points decodes exactly on a continuous peer', () => {
  const MESSAGES = 1500;
  for (let bits = 8; bits <= 15; bits++) {
    it(`${bits}-bit windows: node:zlib peer, ${MESSAGES} messages each way`, async () => {
      const seed = 1000 + bits;
      const random = prng(seed);
      const next = messageSource(random);
      const p = params({ serverMaxWindowBits: bits, clientMaxWindowBits: bits });
      // Odd sizes also rebuild after every message; all get forced hibernation at random points.
      const server = new PerMessageDeflate('server', p, { hibernateAfterMs: bits % 2 === 1 ? 0 : Infinity, threshold: 0 });
      // The peer: zlib as browsers use it, never released. Raw deflate with 8 bits is really 9 in
      // zlib, which still never reaches further back than 250 bytes.
      const peerInflater = new ZlibPeer(zlib.createInflateRaw({ windowBits: bits }));
      const peerDeflater = new ZlibPeer(zlib.createDeflateRaw({ windowBits: bits < 9 ? 9 : bits }));
      let sent = 0;
      let hibernations = 0;
      while (sent < MESSAGES) {
        // A batch of calls in flight at once, with hibernate() requested between them.
        const batch = 1 + Math.floor(random() * 6);
        const outgoing: Array<[Buffer, Promise<Buffer>]> = [];
        const incoming: Array<[Buffer, Promise<Buffer>]> = [];
        for (let i = 0; i < batch; i++) {
          const toPeer = next();
          outgoing.push([toPeer, compress(server, toPeer)]);
          const fromPeer = next();
          const frames = split(await peerDeflater.deflateMessage(fromPeer), 1 + Math.floor(random() * 3));
          incoming.push([fromPeer, decompressFrames(server, frames)]);
          if (random() < 0.4) hibernations += server.hibernate();
        }
        for (const [data, payload] of outgoing) {
          assert.deepEqual(await peerInflater.inflateMessage(await payload), data, `seed ${seed}, message ${sent}: peer inflates ours`);
          sent++;
        }
        for (const [data, message] of incoming) assert.deepEqual(await message, data, `seed ${seed}: we inflate the peer's`);
        if (random() < 0.3) hibernations += server.hibernate(); // idle now: frees both
      }
      assert.ok(hibernations > 50 || bits % 2 === 1, `hibernation really happened (${hibernations})`);
      server.close();
      peerInflater.close();
      peerDeflater.close();
    });
  }

  /** The untyped internal codec of `ws` (lib/permessage-deflate.js), a continuous reference peer. */
  interface WsPerMessageDeflate {
    accept(configurations: Array<Record<string, string[] | true[]>>): unknown;
    compress(data: Buffer, fin: boolean, callback: (error: Error | null, result?: Buffer) => void): void;
    decompress(data: Buffer, fin: boolean, callback: (error: Error | null, result?: Buffer) => void): void;
    cleanup(): void;
  }
  type WsPerMessageDeflateClass = new (options: Record<string, unknown>) => WsPerMessageDeflate;
  const require = createRequire(import.meta.url);
  const WsPmd = require(join(dirname(require.resolve('ws')), 'lib', 'permessage-deflate.js')) as WsPerMessageDeflateClass;

  for (let bits = 8; bits <= 15; bits++) {
    it(`${bits}-bit windows: a ws client, 400 messages each way`, async () => {
      const seed = 2000 + bits;
      const random = prng(seed);
      const next = messageSource(random);
      const wsClient = new WsPmd({ isServer: false, clientMaxWindowBits: true });
      wsClient.accept([{ server_max_window_bits: [String(bits)], client_max_window_bits: [String(bits)] }]);
      const viaWs = (method: 'compress' | 'decompress', data: Buffer) =>
        new Promise<Buffer>((resolve, reject) => wsClient[method](data, true, (e, r) => (e ? reject(e) : resolve(r!))));
      const server = new PerMessageDeflate('server', params({ serverMaxWindowBits: bits, clientMaxWindowBits: bits }), { hibernateAfterMs: Infinity, threshold: 0 });
      let hibernations = 0;
      for (let i = 0; i < 400; i++) {
        const toWs = next();
        assert.deepEqual(await viaWs('decompress', await compress(server, toWs)), toWs, `seed ${seed}, message ${i}: ws inflates ours`);
        const fromWs = next();
        assert.deepEqual(await decompressFrames(server, [await viaWs('compress', fromWs)]), fromWs, `seed ${seed}, message ${i}: we inflate ws`);
        if (random() < 0.5) hibernations += server.hibernate();
      }
      assert.ok(hibernations > 100, `hibernation really happened (${hibernations})`);
      server.close();
      wsClient.cleanup();
    });
  }
});
