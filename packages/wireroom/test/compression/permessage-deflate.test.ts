import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { ProtocolError, WireroomError } from '../../src/protocol/errors.js';
import type { NegotiatedDeflate } from '../../src/protocol/extensions/permessage-deflate-negotiation.js';
import {
  PerMessageDeflate,
  canShareCompressedPayload,
  compressOnce,
  zlibLimiterFor,
} from '../../src/compression/permessage-deflate.js';
import { ZlibJobLimiter, type ZlibJob } from '../../src/compression/zlib-limiter.js';

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const MiB = 1024 * 1024;

function params(overrides: Partial<NegotiatedDeflate> = {}): NegotiatedDeflate {
  return {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    ...overrides,
  };
}

/** A server codec and a client codec that agreed on `p`. */
function pair(p: NegotiatedDeflate = params()) {
  return { server: new PerMessageDeflate('server', p), client: new PerMessageDeflate('client', p) };
}

function compress(codec: PerMessageDeflate, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    codec.compress(data, (error, payload) => (error ? reject(error) : resolve(payload!)));
  });
}

/** Feeds `frames` as one message; resolves with the message, rejects with the first error. */
function decompressFrames(codec: PerMessageDeflate, frames: Buffer[], maxMessageSize = Infinity): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    frames.forEach((frame, i) => {
      const fin = i === frames.length - 1;
      codec.decompress(frame, fin, maxMessageSize, (error, message) => {
        if (error) reject(error);
        else if (fin) resolve(message!);
        else assert.equal(message, undefined, 'non-final frames yield no message');
      });
    });
  });
}

function decompress(codec: PerMessageDeflate, payload: Buffer, maxMessageSize = Infinity): Promise<Buffer> {
  return decompressFrames(codec, [payload], maxMessageSize);
}

function split(payload: Buffer, parts: number): Buffer[] {
  const size = Math.ceil(payload.length / parts) || 1;
  const frames: Buffer[] = [];
  for (let i = 0; i < payload.length; i += size) frames.push(payload.subarray(i, i + size));
  return frames.length > 0 ? frames : [payload];
}

function chatMessage(i: number): Buffer {
  return Buffer.from(
    JSON.stringify({ type: 'message', room: 'general', id: `m${i}`, user: { id: 'u42', name: 'alice' }, text: `hello number ${i}`, ts: 1764000000000 + i }),
  );
}

/** Compressible but not trivial: text with repeats and noise. */
function largeText(bytes: number): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'websocket', 'frame', 'deflate', 'window', 'message'];
  const parts: string[] = [];
  let length = 0;
  let seed = 7;
  while (length < bytes) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const word = words[seed % words.length]! + (seed % 97).toString(36);
    parts.push(word);
    length += word.length + 1;
  }
  return Buffer.from(parts.join(' ')).subarray(0, bytes);
}

function expectProtocolError(code: string, closeCode: number) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ProtocolError, `expected ProtocolError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.closeCode, closeCode);
    return true;
  };
}

describe('PerMessageDeflate round trips', () => {
  const samples: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['small JSON', chatMessage(1)],
    ['incompressible 64 KiB', randomBytes(64 * 1024)],
    ['large text (5 MiB)', largeText(5 * MiB)],
  ];
  for (const [label, data] of samples) {
    it(`server -> client and client -> server: ${label}`, async () => {
      const { server, client } = pair();
      assert.deepEqual(await decompress(client, await compress(server, data)), data);
      assert.deepEqual(await decompress(server, await compress(client, data)), data);
      server.close();
      client.close();
    });
  }

  it('compresses the empty message to the single byte 00 (RFC 7692 7.2.3.6), also twice in a row', async () => {
    const { server, client } = pair();
    // zlib emits nothing for a second flush without input; the codec must still send 00.
    for (let i = 0; i < 3; i++) {
      const payload = await compress(server, Buffer.alloc(0));
      assert.deepEqual(payload, Buffer.from([0x00]));
      assert.deepEqual(await decompress(client, payload), Buffer.alloc(0));
    }
    assert.deepEqual(await decompress(client, await compress(server, chatMessage(1))), chatMessage(1));
    server.close();
    client.close();
  });

  it('reads a compressed message with an empty payload as empty, leaving the context intact', async () => {
    const { server, client } = pair();
    assert.deepEqual(await decompress(client, await compress(server, chatMessage(1))), chatMessage(1));
    assert.deepEqual(await decompressFrames(client, [Buffer.alloc(0), Buffer.alloc(0)]), Buffer.alloc(0));
    assert.deepEqual(await decompress(client, await compress(server, chatMessage(1))), chatMessage(1));
    server.close();
    client.close();
  });

  it('decodes a message split across many frames, including empty frames', async () => {
    const { server, client } = pair();
    const data = largeText(3 * MiB);
    const payload = await compress(server, data);
    const frames = split(payload, 37);
    frames.splice(5, 0, Buffer.alloc(0));
    frames.push(Buffer.alloc(0)); // an empty final frame is legal
    assert.deepEqual(await decompressFrames(client, frames), data);
    // The next message still decodes with the kept context.
    assert.deepEqual(await decompressFrames(client, split(await compress(server, chatMessage(2)), 3)), chatMessage(2));
    server.close();
    client.close();
  });

  it('interoperates with raw zlib in both directions', async () => {
    for (const data of [Buffer.alloc(0), chatMessage(3), largeText(2 * MiB)]) {
      const server = new PerMessageDeflate('server', params()); // fresh: one-shot zlib has no window
      const ours = await compress(server, data);
      server.close();
      assert.deepEqual(zlib.inflateRawSync(Buffer.concat([ours, TRAILER]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }), data, 'zlib inflates our payload');
      const theirs = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      assert.deepEqual(theirs.subarray(-4), TRAILER);
      const fresh = new PerMessageDeflate('client', params());
      assert.deepEqual(await decompress(fresh, theirs.subarray(0, -4)), data, 'we inflate zlib output');
      fresh.close();
    }
  });

  it('decodes the RFC 7692 section 7.2.3 examples', async () => {
    const hello = Buffer.from('Hello');
    const cases: Array<[string, Buffer[]]> = [
      ['7.2.3.1 one message', [Buffer.from('f248cdc9c90700', 'hex')]],
      ['7.2.3.1 fragmented', [Buffer.from('f248cd', 'hex'), Buffer.from('c9c90700', 'hex')]],
      ['7.2.3.3 stored block', [Buffer.from('000500faff48656c6c6f00', 'hex')]],
      ['7.2.3.5 two DEFLATE blocks', [Buffer.from('f24805000000ffffcac9c90700', 'hex')]],
    ];
    for (const [label, frames] of cases) {
      const client = new PerMessageDeflate('client', params());
      assert.deepEqual(await decompressFrames(client, frames), hello, label);
      client.close();
    }
    // 7.2.3.2: the second "Hello" refers back into the first message's window.
    const client = new PerMessageDeflate('client', params());
    assert.deepEqual(await decompress(client, Buffer.from('f248cdc9c90700', 'hex')), hello);
    assert.deepEqual(await decompress(client, Buffer.from('f200110000', 'hex')), hello);
    client.close();
  });

  it('handles a BFINAL=1 block and keeps working on the next message (RFC 7692 7.2.3.4)', async () => {
    const client = new PerMessageDeflate('client', params());
    const bfinal = Buffer.from('f348cdc9c9070000', 'hex');
    assert.deepEqual(await decompress(client, bfinal), Buffer.from('Hello'));
    assert.deepEqual(await decompress(client, bfinal), Buffer.from('Hello'));
    // A normal message after it starts from an empty window, as the sender's did.
    const server = new PerMessageDeflate('server', params());
    assert.deepEqual(await decompress(client, await compress(server, chatMessage(4))), chatMessage(4));
    // BFINAL split across frames.
    assert.deepEqual(await decompressFrames(client, [bfinal.subarray(0, 3), bfinal.subarray(3)]), Buffer.from('Hello'));
    client.close();
    server.close();
  });

  it('rejects a message made of many DEFLATE streams as invalid data', async () => {
    const client = new PerMessageDeflate('client', params());
    const emptyFinalBlocks = Buffer.from('0300'.repeat(1000), 'hex');
    await assert.rejects(decompress(client, emptyFinalBlocks), expectProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', 1007));
    client.close();
  });

  it('property: any messages, any fragmentation, round trip in order', async () => {
    const seed = 20261125;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1, max: 6 })), { minLength: 1, maxLength: 8 }),
          fc.boolean(),
          async (messages, noTakeover) => {
            const { server, client } = pair(params({ serverNoContextTakeover: noTakeover, serverMaxWindowBits: 10, clientMaxWindowBits: 10 }));
            try {
              for (const [bytes, parts] of messages) {
                const data = Buffer.from(bytes);
                assert.deepEqual(await decompressFrames(client, split(await compress(server, data), parts)), data);
              }
            } finally {
              server.close();
              client.close();
            }
          },
        ),
        { seed, numRuns: 60 },
      );
    } catch (error) {
      console.error(`property failed with fast-check seed ${seed}`);
      throw error;
    }
  });
});

describe('PerMessageDeflate context takeover', () => {
  it('keeps the window: a repeated message compresses to a few bytes', async () => {
    const { server, client } = pair();
    const data = chatMessage(5);
    const first = await compress(server, data);
    const second = await compress(server, data);
    assert.ok(second.length * 4 < first.length, `second ${second.length} vs first ${first.length}`);
    assert.deepEqual(await decompress(client, first), data);
    assert.deepEqual(await decompress(client, second), data);
    server.close();
    client.close();
  });

  it('without takeover every message compresses alone and the context is freed after it', async () => {
    const p = params({ serverNoContextTakeover: true, clientNoContextTakeover: true });
    const { server, client } = pair(p);
    const data = chatMessage(6);
    const first = await compress(server, data);
    assert.equal(server.allocatedContexts, 0, 'deflate context freed after the message');
    const second = await compress(server, data);
    assert.deepEqual(second, first, 'identical messages compress identically without a window');
    // The client's inflater was told the server does not take over context: it frees it too.
    assert.deepEqual(await decompress(client, first), data);
    assert.deepEqual(await decompress(client, second), data);
    assert.equal(client.allocatedContexts, 0);
    server.close();
    client.close();
  });

  it('a decoder keeping its window still decodes a sender that resets (no takeover in one direction)', async () => {
    const server = new PerMessageDeflate('server', params({ serverNoContextTakeover: true }));
    const client = new PerMessageDeflate('client', params()); // did not hear about it: keeps the window
    for (let i = 0; i < 5; i++) assert.deepEqual(await decompress(client, await compress(server, chatMessage(i))), chatMessage(i));
    server.close();
    client.close();
  });
});

describe('PerMessageDeflate window bits', () => {
  for (let bits = 8; bits <= 15; bits++) {
    it(`round trips with ${bits}-bit windows in both directions`, async () => {
      const { server, client } = pair(params({ serverMaxWindowBits: bits, clientMaxWindowBits: bits }));
      const data = largeText(200 * 1024);
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(await decompress(client, await compress(server, data)), data);
        assert.deepEqual(await decompress(server, await compress(client, data)), data);
      }
      server.close();
      client.close();
    });
  }

  it('a smaller window compresses repeated data worse (the window is really limited)', async () => {
    const block = randomBytes(3000);
    const data = Buffer.concat([block, block]); // the repeat is 3000 bytes back
    const wide = pair(params({ serverMaxWindowBits: 15 }));
    const narrow = pair(params({ serverMaxWindowBits: 10 }));
    const wideOut = await compress(wide.server, data);
    const narrowOut = await compress(narrow.server, data);
    assert.ok(wideOut.length < 3300 && narrowOut.length > 5900, `wide ${wideOut.length}, narrow ${narrowOut.length}`);
    for (const p of [wide, narrow]) {
      p.server.close();
      p.client.close();
    }
  });

  it('fails with 1007 when the peer references a previous message beyond the negotiated window', async () => {
    // zlib only checks distances that reach into its window, not into the output of the same call,
    // so the reliable violation is a reference into the previous message.
    const block = randomBytes(3000);
    const server = new PerMessageDeflate('server', params({ serverMaxWindowBits: 15 }));
    const first = await compress(server, block);
    const second = await compress(server, block);
    assert.ok(second.length < 100, 'the second message is a back-reference');
    const client = new PerMessageDeflate('client', params({ serverMaxWindowBits: 10 }));
    assert.deepEqual(await decompress(client, first), block);
    await assert.rejects(decompress(client, second), expectProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', 1007));
    server.close();
    client.close();
  });
});

describe('PerMessageDeflate ordering and limits', () => {
  it('calls back strictly in call order under many concurrent calls', async () => {
    const { server, client } = pair();
    const messages = Array.from({ length: 300 }, (_, i) => (i % 10 === 0 ? largeText(100_000 + i) : chatMessage(i)));
    const order: number[] = [];
    const payloads = await Promise.all(
      messages.map(
        (data, i) =>
          new Promise<Buffer>((resolve, reject) =>
            server.compress(data, (error, payload) => {
              order.push(i);
              if (error) reject(error);
              else resolve(payload!);
            }),
          ),
      ),
    );
    assert.deepEqual(order, messages.map((_, i) => i));
    const decoded: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      payloads.forEach((payload, i) => {
        const frames = split(payload, (i % 3) + 1);
        frames.forEach((frame, j) => {
          const fin = j === frames.length - 1;
          client.decompress(frame, fin, Infinity, (error, message) => {
            if (error) return reject(error);
            if (!fin) return;
            decoded.push(message!);
            if (decoded.length === messages.length) resolve();
          });
        });
      });
    });
    assert.deepEqual(decoded, messages);
    server.close();
    client.close();
  });

  it('stops a decompression bomb at the limit with 1009, without inflating it all', async () => {
    const bomb = zlib.deflateRawSync(Buffer.alloc(10 * MiB), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    assert.ok(bomb.length < 20 * 1024, `bomb is ${bomb.length} bytes`);
    const server = new PerMessageDeflate('server', params());
    const started = performance.now();
    await assert.rejects(decompress(server, bomb, MiB), expectProtocolError('WS_ERR_MESSAGE_TOO_BIG', 1009));
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 500, `took ${elapsed} ms`);
    const inflated = server.inflatedBytesAtFailure;
    assert.ok(inflated > MiB && inflated <= MiB + 64 * 1024, `stopped after ${inflated} bytes`);
    assert.equal(server.allocatedContexts, 0, 'the poisoned inflater is freed');
    // The direction is unusable afterwards: later frames report the error instead of inflating.
    await assert.rejects(decompress(server, bomb, MiB), expectProtocolError('WS_ERR_MESSAGE_TOO_BIG', 1009));
    server.close();
  });

  it('counts the limit across the frames of a message', async () => {
    const payload = zlib.deflateRawSync(Buffer.alloc(4 * MiB, 0x61), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const server = new PerMessageDeflate('server', params());
    const frames = split(payload, 50);
    const outcomes: Array<string> = [];
    await new Promise<void>((resolve) => {
      frames.forEach((frame, i) => {
        server.decompress(frame, i === frames.length - 1, MiB, (error) => {
          outcomes.push(error ? error.code : 'ok');
          if (outcomes.length === frames.length) resolve();
        });
      });
    });
    const firstError = outcomes.indexOf('WS_ERR_MESSAGE_TOO_BIG');
    assert.ok(firstError > 0 && firstError < frames.length - 1, `failed at frame ${firstError}`);
    assert.ok(outcomes.slice(firstError).every((o) => o === 'WS_ERR_MESSAGE_TOO_BIG'), 'every later frame is failed too');
    assert.ok(server.inflatedBytesAtFailure <= MiB + 64 * 1024);
    server.close();
  });

  it('accepts a message of exactly maxMessageSize bytes', async () => {
    const { server, client } = pair();
    const data = largeText(100_000);
    assert.deepEqual(await decompress(client, await compress(server, data), data.length), data);
    server.close();
    client.close();
  });

  it('fails invalid DEFLATE data with 1007, and later calls too', async () => {
    const server = new PerMessageDeflate('server', params());
    await assert.rejects(decompress(server, Buffer.from([0xff, 0xff, 0xff, 0xff])), expectProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', 1007));
    await assert.rejects(decompress(server, Buffer.from('f248cdc9c90700', 'hex')), expectProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', 1007));
    server.close();
  });

  it('never runs more zlib jobs than the shared cap', async () => {
    const cap = 3;
    const limiter = zlibLimiterFor(cap);
    limiter.resetPeak();
    const codecs = Array.from({ length: 40 }, () => new PerMessageDeflate('server', params(), { concurrencyLimit: cap }));
    const data = largeText(300_000);
    let maxPending = 0;
    await Promise.all(
      codecs.map(async (codec) => {
        const payload = compress(codec, data);
        maxPending = Math.max(maxPending, limiter.pending);
        await payload;
      }),
    );
    assert.equal(limiter.peak, cap, 'the cap was reached and never exceeded');
    assert.ok(maxPending > 0, 'jobs had to wait');
    assert.equal(limiter.active, 0);
    for (const codec of codecs) codec.close();
  });
});

describe('ZlibJobLimiter', () => {
  it('runs jobs in FIFO order and survives jobs that finish synchronously', () => {
    const limiter = new ZlibJobLimiter(2);
    const ran: number[] = [];
    const held: Array<() => void> = [];
    const job = (i: number, sync: boolean): ZlibJob => ({
      runZlibJob() {
        ran.push(i);
        if (sync) limiter.release();
        else held.push(() => limiter.release());
      },
    });
    limiter.enqueue(job(0, false));
    limiter.enqueue(job(1, false));
    for (let i = 2; i < 20_000; i++) limiter.enqueue(job(i, true));
    assert.deepEqual(ran, [0, 1]);
    assert.equal(limiter.pending, 19_998);
    held.shift()!(); // frees a slot: every synchronous job runs, without recursion
    assert.equal(ran.length, 20_000);
    assert.deepEqual(ran.slice(0, 5), [0, 1, 2, 3, 4]);
    assert.equal(limiter.peak, 2);
    held.shift()!();
    assert.equal(limiter.active, 0);
    assert.throws(() => limiter.release());
  });
});

describe('PerMessageDeflate lifecycle', () => {
  it('creates zlib contexts lazily and frees them on close', async () => {
    const { server, client } = pair();
    assert.equal(server.allocatedContexts, 0, 'an idle codec holds no zlib memory');
    const payload = await compress(server, chatMessage(7));
    assert.equal(server.allocatedContexts, 1);
    await decompress(server, await compress(client, chatMessage(8)));
    assert.equal(server.allocatedContexts, 2);
    server.close();
    assert.equal(server.allocatedContexts, 0);
    assert.equal(server.closed, true);
    server.close(); // idempotent
    assert.ok(payload.length > 0);
    client.close();
  });

  it('rejects invalid negotiated window sizes up front', () => {
    for (const bad of [params({ serverMaxWindowBits: 7 }), params({ clientMaxWindowBits: 16 }), params({ serverMaxWindowBits: 12.5 })]) {
      assert.throws(() => new PerMessageDeflate('server', bad), (e: unknown) => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_ARGUMENT');
    }
  });

  it('fails later calls asynchronously, without throwing', async () => {
    const server = new PerMessageDeflate('server', params());
    server.close();
    let synchronous = true;
    const compressError = await new Promise<Error | null>((resolve) => {
      assert.doesNotThrow(() => server.compress(chatMessage(9), (error) => resolve(error)));
    }).finally(() => (synchronous = false));
    assert.ok(compressError instanceof WireroomError && compressError.code === 'WS_ERR_INVALID_STATE');
    assert.equal(synchronous, false);
    await assert.rejects(decompress(server, Buffer.from([0x00])), (e: unknown) => e instanceof ProtocolError && e.code === 'WS_ERR_INVALID_STATE');
    assert.equal(server.allocatedContexts, 0);
  });

  it('fails calls pending at close and releases their limiter slots', async () => {
    const cap = 2;
    const limiter = zlibLimiterFor(cap);
    const codec = new PerMessageDeflate('server', params(), { concurrencyLimit: cap });
    const results = Array.from({ length: 5 }, () =>
      new Promise<string>((resolve) => codec.compress(largeText(500_000), (error) => resolve(error ? (error as WireroomError).code : 'ok'))),
    );
    const inflated = new Promise<string>((resolve) => codec.decompress(Buffer.from([0x00]), true, Infinity, (error) => resolve(error ? error.code : 'ok')));
    codec.close();
    assert.deepEqual(await Promise.all(results), Array(5).fill('WS_ERR_INVALID_STATE'));
    assert.equal(await inflated, 'WS_ERR_INVALID_STATE');
    await new Promise((resolve) => setTimeout(resolve, 50)); // let the abandoned zlib work drain
    assert.equal(limiter.active, 0);
    assert.equal(codec.allocatedContexts, 0);
  });
});

describe('compressOnce (broadcast)', () => {
  it('produces one payload that recipients with server_no_context_takeover decode between their own messages', async () => {
    const shared = params({ serverNoContextTakeover: true, serverMaxWindowBits: 12 });
    const broadcast = await new Promise<Buffer>((resolve, reject) =>
      compressOnce(chatMessage(10), shared, {}, (error, payload) => (error ? reject(error) : resolve(payload!))),
    );
    for (const recipient of [shared, params({ serverNoContextTakeover: true, serverMaxWindowBits: 15 })]) {
      assert.equal(canShareCompressedPayload(recipient, shared), true);
      const server = new PerMessageDeflate('server', recipient);
      // The client keeps its window even though it need not: the shared payload must still fit in.
      const client = new PerMessageDeflate('client', { ...recipient, serverNoContextTakeover: false });
      assert.deepEqual(await decompress(client, await compress(server, chatMessage(11))), chatMessage(11));
      assert.deepEqual(await decompress(client, broadcast), chatMessage(10));
      assert.deepEqual(await decompress(client, await compress(server, chatMessage(11))), chatMessage(11));
      server.close();
      client.close();
    }
  });

  it('refuses recipients with context takeover or a smaller window', () => {
    const shared = params({ serverNoContextTakeover: true, serverMaxWindowBits: 12 });
    assert.equal(canShareCompressedPayload(params({ serverMaxWindowBits: 15 }), shared), false);
    assert.equal(canShareCompressedPayload(params({ serverNoContextTakeover: true, serverMaxWindowBits: 11 }), shared), false);
  });
});

describe('interoperability with the ws library', () => {
  /** The untyped internal codec of `ws` (lib/permessage-deflate.js), used only as a reference peer. */
  interface WsPerMessageDeflate {
    accept(configurations: Array<Record<string, string[] | true[]>>): unknown;
    compress(data: Buffer, fin: boolean, callback: (error: Error | null, result?: Buffer) => void): void;
    decompress(data: Buffer, fin: boolean, callback: (error: Error | null, result?: Buffer) => void): void;
    cleanup(): void;
  }
  type WsPerMessageDeflateClass = new (options: Record<string, unknown>) => WsPerMessageDeflate;

  async function loadWs(): Promise<WsPerMessageDeflateClass> {
    const { createRequire } = await import('node:module');
    const { dirname, join } = await import('node:path');
    const require = createRequire(import.meta.url);
    // Not in the package's exports map: load it by file path.
    return require(join(dirname(require.resolve('ws')), 'lib', 'permessage-deflate.js')) as WsPerMessageDeflateClass;
  }

  const variants: Array<[string, NegotiatedDeflate, Record<string, string[] | true[]>]> = [
    ['default windows, context takeover', params(), {}],
    [
      'small windows, no context takeover',
      params({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9 }),
      { server_no_context_takeover: [true], client_no_context_takeover: [true], server_max_window_bits: ['10'], client_max_window_bits: ['9'] },
    ],
  ];
  for (const [label, negotiated, wsResponse] of variants) {
    it(`our server and a ws client understand each other: ${label}`, async () => {
      const WsPmd = await loadWs();
      const wsClient = new WsPmd({ isServer: false, clientMaxWindowBits: true });
      wsClient.accept([wsResponse]);
      const server = new PerMessageDeflate('server', negotiated);
      const viaWs = (method: 'compress' | 'decompress', data: Buffer) =>
        new Promise<Buffer>((resolve, reject) => wsClient[method](data, true, (e, r) => (e ? reject(e) : resolve(r!))));
      for (const data of [chatMessage(1), chatMessage(1), largeText(300_000), Buffer.alloc(0), chatMessage(2)]) {
        assert.deepEqual(await viaWs('decompress', await compress(server, data)), data, 'ws inflates ours');
        assert.deepEqual(await decompress(server, await viaWs('compress', data)), data, 'we inflate ws');
      }
      server.close();
      wsClient.cleanup();
    });
  }
});
