// Issue 19, item 5: a compressed conversation of thousands of messages of random sizes and contents, with
// hibernation forced at random points on our side (both directions: `hibernate()` between and during calls,
// a cap of 1 or 2 live contexts that makes the directions evict each other, idle times of 0 and 1 ms), decodes
// exactly on a continuous peer, for every negotiable window size 8..15:
//   - node:zlib (raw deflate/inflate streams as browsers use them), at the codec level;
//   - ws 8 as a client of our server, and as a server of our client, over loopback;
//   - Chromium's own WebSocket against our server (the browser echoes what it inflated with its deflater).
// fast-check with a fixed base seed (printed; WIREROOM_PROPERTY_SEED overrides it; each test adds the offset in its title). No shrinking (endOnFailure):
// the seed and the message index in the failure reproduce the case.
// Chromium: skips loudly without /usr/bin/chromium locally, fails in CI (WIREROOM_REQUIRE_BROWSER=1).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import zlib from 'node:zlib';
import fc from 'fast-check';
import WsClient, { WebSocketServer as WsServer, type RawData } from 'ws';
import type { Browser } from 'playwright-core';
import { liveContextPoolFor, PerMessageDeflate, type DeflateCodecOptions } from '../../src/compression/permessage-deflate.js';
import type { NegotiatedDeflate } from '../../src/protocol/extensions/permessage-deflate-negotiation.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import { connect } from '../../src/client/connect.js';
import type { WebSocket as OurWebSocket } from '../../src/connection/websocket.js';
import { browserAvailable, browserRequired, launchBrowser } from '../helpers/browser.js';
import { HOST, within } from '../helpers/loopback.js';
import { compress, decompressFrames, split, TRAILER, ZlibPeer } from '../helpers/zlib-peer.js';

const SEED = Number(process.env.WIREROOM_PROPERTY_SEED ?? 190_019);
console.log(`hibernation-scale: fast-check seed ${SEED} (WIREROOM_PROPERTY_SEED=${SEED} reproduces)`);

const WINDOW_SIZES = [8, 9, 10, 11, 12, 13, 14, 15];
/** Messages each way per window size and peer: 8 x (450 + 150 + 150 + 100) = 6,800 each way in all. */
const COUNTS = { zlib: 450, wsClient: 150, wsServer: 150, chromium: 100 };

// ---------------------------------------------------------------------------------- the conversation
/** One message of the conversation and what our side does around it. */
interface Step {
  data: Buffer;
  binary: boolean;
  /** Force hibernation on our side right after handing this message over (calls may be in flight). */
  hibernate: boolean;
  /** Wait for everything in flight before the next message (ends a pipelined batch). */
  flush: boolean;
}

/** A message before it is resolved against the history (repeats reach back into earlier messages). */
type Spec =
  | { kind: 'json'; text: string; user: number; n: number }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'empty' }
  | { kind: 'repeat'; back: number; start: number; salt: string }
  | { kind: 'large'; size: number; salt: string };

const WORDS = ['{"type":"message"', '"room":"general"', '"text":"', 'hello', 'world', 'deflate', 'window', '"user":{"id":', '},', '"ts":17640000'];

const specArb: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('json' as const), text: fc.string({ unit: 'binary', maxLength: 400 }), user: fc.nat(50), n: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 1200 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('repeat' as const), back: fc.nat(80), start: fc.nat(), salt: fc.string({ maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('large' as const), size: fc.integer({ min: 2_000, max: 40_000 }), salt: fc.string({ maxLength: 8 }) }) },
);

const stepArb = fc.record({ spec: specArb, hibernate: fc.integer({ min: 0, max: 9 }).map((x) => x < 3), flush: fc.integer({ min: 0, max: 9 }).map((x) => x < 2) });

/** Our side's settings for one run: small caps make the two directions evict each other. */
const ourSettingsArb = fc.record({
  maxLiveContexts: fc.constantFrom(1, 2, 1024),
  hibernateAfterMs: fc.constantFrom(0, 1, 5000),
});

/** Without bias: one long run, not fast-check's usual small-values-first runs (which would pick cap 1 every time). */
function conversationArb(count: number) {
  return fc.noBias(fc.record({ steps: fc.array(stepArb, { minLength: count, maxLength: count }), ours: ourSettingsArb }));
}

/** Resolves specs into messages, in order (a repeat copies part of an earlier message, near or far back). */
function materialize(raw: Array<{ spec: Spec; hibernate: boolean; flush: boolean }>): Step[] {
  const history: Buffer[] = [];
  return raw.map(({ spec, hibernate, flush }) => {
    let data: Buffer;
    let binary = false;
    switch (spec.kind) {
      case 'json':
        data = Buffer.from(JSON.stringify({ type: 'message', room: 'general', user: { id: `u${spec.user}` }, text: spec.text, n: spec.n }));
        break;
      case 'bytes':
        data = Buffer.from(spec.bytes);
        binary = true;
        break;
      case 'empty':
        data = Buffer.alloc(0);
        break;
      case 'repeat': {
        const earlier = history.length > 0 ? history[history.length - 1 - (spec.back % history.length)]! : Buffer.alloc(0);
        const from = earlier.length > 0 ? spec.start % earlier.length : 0;
        // Text stays valid UTF-8: copy from a JSON message at a character boundary, or send as binary.
        data = Buffer.concat([earlier.subarray(from), Buffer.from(spec.salt)]);
        binary = true;
        break;
      }
      case 'large': {
        const parts: string[] = [spec.salt];
        let length = spec.salt.length;
        for (let i = 0; length < spec.size; i++) {
          const word = WORDS[(i * 7 + spec.size) % WORDS.length]! + ((i * 7919) % 1000);
          parts.push(word);
          length += word.length;
        }
        data = Buffer.from(parts.join(''));
        break;
      }
    }
    history.push(data);
    if (history.length > 100) history.shift();
    return { data, binary, hibernate, flush };
  });
}

/** The codec of one of our connections (private: the tests force hibernation on it at random points). */
function codecOf(ws: OurWebSocket): PerMessageDeflate {
  const codec = (ws as unknown as { deflate: PerMessageDeflate | null }).deflate;
  assert.ok(codec !== null, 'permessage-deflate negotiated');
  return codec;
}

function ourOptions(bits: number, ours: { maxLiveContexts: number; hibernateAfterMs: number }): DeflateCodecOptions {
  return { serverMaxWindowBits: bits, clientMaxWindowBits: bits, threshold: 0, ...ours };
}

/** Each test runs with its own seed, SEED + an offset named in its title, so the runs draw different conversations. */
const propertyOptions = (seedOffset: number) => ({ seed: SEED + seedOffset, numRuns: 1, endOnFailure: true });

const totals = { zlib: 0, wsClient: 0, wsServer: 0, chromium: 0, hibernations: 0 };
/** Our settings drawn by the runs (cap, idle time), to check the runs did not all draw the same. */
const settingsSeen = new Set<string>();

describe(`property at scale (seed ${SEED}): hibernation at random points decodes exactly on continuous peers`, () => {
  after(() => {
    console.log(`hibernation-scale: messages each way ${JSON.stringify(totals)}; settings drawn ${[...settingsSeen].join(' ')}`);
  });

  for (const bits of WINDOW_SIZES) {
    it(`${bits}-bit windows: node:zlib peer, ${COUNTS.zlib} messages each way (seed ${SEED + bits})`, { timeout: 120_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(conversationArb(COUNTS.zlib), conversationArb(COUNTS.zlib), async (down, up) => {
          const ours = new PerMessageDeflate('server', { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: bits, clientMaxWindowBits: bits }, ourOptions(bits, down.ours));
          const peerInflater = new ZlibPeer(zlib.createInflateRaw({ windowBits: bits }));
          const peerDeflater = new ZlibPeer(zlib.createDeflateRaw({ windowBits: bits < 9 ? 9 : bits }));
          const toPeer = materialize(down.steps);
          const fromPeer = materialize(up.steps);
          let hibernated = 0;
          settingsSeen.add(JSON.stringify(down.ours));
          try {
            let outgoing: Array<[number, Promise<Buffer>]> = [];
            let incoming: Array<[number, Promise<Buffer>]> = [];
            let ourBytes = 0;
            const settle = async () => {
              for (const [i, payload] of outgoing) {
                const bytes = await payload;
                ourBytes += bytes.length;
                assert.deepEqual(await peerInflater.inflateMessage(bytes), toPeer[i]!.data, `window ${bits}, message ${i} to the peer`);
              }
              for (const [i, message] of incoming) assert.deepEqual(await message, fromPeer[i]!.data, `window ${bits}, message ${i} from the peer`);
              outgoing = [];
              incoming = [];
            };
            for (let i = 0; i < toPeer.length; i++) {
              outgoing.push([i, compress(ours, toPeer[i]!.data)]);
              const frames = split(await peerDeflater.deflateMessage(fromPeer[i]!.data), 1 + (i % 3));
              incoming.push([i, decompressFrames(ours, frames)]);
              if (toPeer[i]!.hibernate) hibernated += ours.hibernate();
              if (toPeer[i]!.flush || fromPeer[i]!.hibernate) await settle();
              if (fromPeer[i]!.hibernate) hibernated += ours.hibernate(); // between messages: frees both
            }
            await settle();
            // A rebuilt deflater that lost its history would still decode (it just references less), so
            // the size tells: rebuilt from the window, ours compresses as well as one continuous stream.
            const reference = new ZlibPeer(zlib.createDeflateRaw({ windowBits: bits < 9 ? 9 : bits, level: 6, memLevel: 6 }));
            let referenceBytes = 0;
            for (const step of toPeer) {
              const payload = await reference.deflateMessage(step.data);
              referenceBytes += payload.length === 0 ? 1 : payload.length;
            }
            reference.close();
            assert.ok(ourBytes <= referenceBytes * 1.01 + 64, `window ${bits}: ${ourBytes} bytes compressed with hibernation vs ${referenceBytes} continuous`);
            totals.zlib += toPeer.length;
            totals.hibernations += hibernated;
          } finally {
            ours.close();
            peerInflater.close();
            peerDeflater.close();
          }
        }),
        propertyOptions(bits),
      );
    });
  }
});

// ------------------------------------------------------------------------------------------ ws peers
function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * Our side of a conversation over a connection whose peer echoes every message: sends the steps in
 * pipelined batches, checks every echo (the peer inflated ours and deflated it back with its own
 * continuous context), forcing hibernation at the steps' random points. Resolves with the number of
 * contexts freed by the forced hibernations.
 */
function converse(ws: OurWebSocket, steps: Step[], what: string): Promise<number> {
  const codec = codecOf(ws);
  return within(
    new Promise<number>((resolve, reject) => {
      let sent = 0;
      let received = 0;
      let hibernated = 0;
      const sendBatch = (): void => {
        while (sent < steps.length) {
          const step = steps[sent++]!;
          ws.send(step.data, { binary: step.binary });
          if (step.hibernate) hibernated += codec.hibernate();
          if (step.flush) return; // wait for the echoes before going on
        }
      };
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        const expected = steps[received]!;
        try {
          assert.equal(isBinary, expected.binary, `${what}: message ${received} type`);
          assert.ok(data.equals(expected.data), `${what}: message ${received} (${expected.data.length} bytes) came back as ${data.length} different bytes`);
        } catch (error) {
          reject(error);
          return;
        }
        received++;
        if (received === steps.length) resolve(hibernated);
        else if (received === sent) sendBatch();
      });
      ws.on('close', (code: number, reason: string) => {
        if (received < steps.length) reject(new Error(`${what}: closed ${code} ${reason} after ${received} of ${steps.length}`));
      });
      sendBatch();
    }),
    90_000,
    what,
  );
}

describe(`property at scale (seed ${SEED}): ws 8 as the continuous peer, both roles`, () => {
  for (const bits of WINDOW_SIZES) {
    it(`${bits}-bit windows: ws client -> our server, ${COUNTS.wsClient} messages each way (seed ${SEED + 100 + bits})`, { timeout: 120_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(conversationArb(COUNTS.wsClient), async (conversation) => {
          const server = new WebSocketServer({ host: HOST, port: 0, heartbeatInterval: 0, perMessageDeflate: ourOptions(bits, conversation.ours) });
          await new Promise<void>((resolve) => server.once('listening', () => resolve()));
          const serverSide = new Promise<OurWebSocket>((resolve) => server.once('connection', resolve));
          const client = new WsClient(`ws://${HOST}:${server.address()!.port}/`, {
            perMessageDeflate: { serverMaxWindowBits: bits, clientMaxWindowBits: bits, threshold: 0 },
          });
          client.on('message', (data: RawData, isBinary: boolean) => client.send(toBuffer(data), { binary: isBinary }));
          try {
            await within(new Promise((resolve, reject) => (client.once('open', resolve), client.once('error', reject))), 10_000, 'ws client open');
            const ws = await serverSide;
            assert.match(ws.extensions, new RegExp(`server_max_window_bits=${bits}`));
            settingsSeen.add(JSON.stringify(conversation.ours));
            totals.hibernations += await converse(ws, materialize(conversation.steps), `ws client, window ${bits}`);
            totals.wsClient += conversation.steps.length;
          } finally {
            client.terminate();
            await server.close({ timeout: 200 });
          }
        }),
        propertyOptions(100 + bits),
      );
    });

    it(`${bits}-bit windows: our client -> ws server, ${COUNTS.wsServer} messages each way (seed ${SEED + 200 + bits})`, { timeout: 120_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(conversationArb(COUNTS.wsServer), async (conversation) => {
          const wss = new WsServer({ host: HOST, port: 0, perMessageDeflate: { serverMaxWindowBits: bits, clientMaxWindowBits: bits, threshold: 0 } });
          await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
          wss.on('connection', (peer) => peer.on('message', (data: RawData, isBinary: boolean) => peer.send(toBuffer(data), { binary: isBinary })));
          const port = (wss.address() as { port: number }).port;
          let ws: OurWebSocket | undefined;
          try {
            ws = await connect(`ws://${HOST}:${port}/`, { perMessageDeflate: ourOptions(bits, conversation.ours) });
            assert.match(ws.extensions, /permessage-deflate/);
            settingsSeen.add(JSON.stringify(conversation.ours));
            totals.hibernations += await converse(ws, materialize(conversation.steps), `ws server, window ${bits}`);
            totals.wsServer += conversation.steps.length;
          } finally {
            ws?.terminate();
            for (const peer of wss.clients) peer.terminate();
            await new Promise<void>((resolve) => wss.close(() => resolve()));
          }
        }),
        propertyOptions(200 + bits),
      );
    });
  }
});

// ------------------------------------------------------------------------------------------- Chromium
const avail = browserAvailable();
const skip = !avail.ok && !browserRequired() ? avail.reason : false;
if (skip) console.warn(`\n!!! SKIPPING the Chromium part of the hibernation property test: ${skip}\n`);

const PAGE = '<!doctype html><meta charset="utf-8"><title>wireroom deflate property</title><p>echo</p>';

/** Runs in the page: echoes every message with the browser's own deflater until the server closes. */
async function echoInPage(url: string): Promise<{ extensions: string; code: number; echoed: number }> {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  let echoed = 0;
  return await new Promise((resolve, reject) => {
    ws.onerror = () => reject(new Error('websocket error in page'));
    ws.onmessage = (e: MessageEvent) => {
      ws.send(e.data as string | ArrayBuffer);
      echoed++;
    };
    ws.onclose = (e: CloseEvent) => resolve({ extensions: ws.extensions, code: e.code, echoed });
  });
}

describe(`property at scale (seed ${SEED}): Chromium's WebSocket as the continuous peer`, { skip }, () => {
  let browser: Browser | undefined;
  before(async () => {
    if (!avail.ok) throw new Error(`WIREROOM_REQUIRE_BROWSER is set but ${avail.reason}`);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close().catch(() => {});
  });

  for (const bits of WINDOW_SIZES) {
    it(`${bits}-bit windows (answered to Chromium's offer): ${COUNTS.chromium} messages each way (seed ${SEED + 300 + bits})`, { timeout: 120_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(conversationArb(COUNTS.chromium), async (conversation) => {
          const http: Server = createServer((_, res) => {
            res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
            res.end(PAGE);
          });
          const wss = new WebSocketServer({ server: http, path: '/ws', heartbeatInterval: 0, perMessageDeflate: ourOptions(bits, conversation.ours) });
          await new Promise<void>((resolve) => http.listen(0, HOST, resolve));
          const origin = `http://${HOST}:${(http.address() as { port: number }).port}`;
          const context = await browser!.newContext();
          try {
            const page = await context.newPage();
            await page.goto(`${origin}/`);
            const serverSide = new Promise<OurWebSocket>((resolve) => wss.once('connection', resolve));
            const inPage = page.evaluate(echoInPage, `ws://${new URL(origin).host}/ws`);
            inPage.catch(() => {}); // awaited below; a failure before that must not leave it unhandled
            const ws = await within(serverSide, 15_000, 'Chromium connects');
            // Chromium offers `permessage-deflate; client_max_window_bits`; we answer both windows.
            // At 15 both are the default and left out (RFC 7692 7.1.2).
            assert.equal(ws.extensions, bits < 15 ? `permessage-deflate; server_max_window_bits=${bits}; client_max_window_bits=${bits}` : 'permessage-deflate');
            const steps = materialize(conversation.steps);
            settingsSeen.add(JSON.stringify(conversation.ours));
            totals.hibernations += await converse(ws, steps, `Chromium, window ${bits}`);
            ws.close(1000, 'done');
            const result = await within(inPage, 15_000, 'page closes');
            assert.equal(result.code, 1000);
            assert.equal(result.echoed, steps.length);
            assert.match(result.extensions, /permessage-deflate/);
            totals.chromium += steps.length;
          } finally {
            await context.close().catch(() => {});
            await wss.close({ timeout: 200 });
            http.closeAllConnections();
            await new Promise<void>((resolve) => http.close(() => resolve()));
          }
        }),
        propertyOptions(300 + bits),
      );
    });
  }
});

describe('property at scale: what ran', () => {
  after(() => console.log(`hibernation-scale: ${JSON.stringify(totals)}; settings drawn ${[...settingsSeen].join(' ')}`));
  it('ran thousands of messages each way and really hibernated and evicted at random points', () => {
    const each = totals.zlib + totals.wsClient + totals.wsServer + totals.chromium;
    const expected = WINDOW_SIZES.length * (COUNTS.zlib + COUNTS.wsClient + COUNTS.wsServer + (skip ? 0 : COUNTS.chromium));
    assert.equal(each, expected, JSON.stringify(totals));
    assert.ok(each >= 5_000, `${each} messages each way`);
    assert.ok(totals.hibernations > 100, `contexts freed by forced hibernation: ${totals.hibernations}`);
    const evicted = liveContextPoolFor(1).evicted + liveContextPoolFor(2).evicted;
    assert.ok(evicted > 100, `contexts evicted by caps of 1 and 2: ${evicted}`);
    assert.ok(settingsSeen.size >= 4, `settings drawn: ${[...settingsSeen].join(' ')}`);
  });
});
