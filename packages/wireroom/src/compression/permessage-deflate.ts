/**
 * permessage-deflate codec (RFC 7692 section 7.2) over node:zlib, for one connection. Negotiation is
 * in `src/protocol/extensions/permessage-deflate-negotiation.ts`; this module only maps the agreed
 * parameters to an inflating and a deflating direction.
 *
 * Safety: the size cap is enforced while inflating (a bomb is never fully inflated), zlib jobs of all
 * connections share a FIFO concurrency cap, and zlib contexts exist only while needed (created on
 * first use, freed by `close()` and, without context takeover, after every message).
 *
 * Hibernation: with context takeover, a direction idle for `hibernateAfterMs` frees its zlib context
 * and keeps only its window (the last 2^bits bytes of plaintext); the next message rebuilds the
 * context with that window as zlib's `dictionary`, which continues the stream exactly. Nothing
 * changes on the wire; an idle connection costs its two windows instead of two zlib contexts.
 */
import { ErrorCodes, WireroomError } from '../protocol/errors.js';
import {
  MAX_WINDOW_BITS,
  MIN_WINDOW_BITS,
  resolveDeflateOptions,
  type DeflateOptions,
  type NegotiatedDeflate,
  type ResolvedDeflateOptions,
} from '../protocol/extensions/permessage-deflate-negotiation.js';
import { MessageDeflater, type CompressCallback } from './message-deflater.js';
import { MessageInflater, type DecompressCallback } from './message-inflater.js';
import { DEFAULT_MAX_LIVE_CONTEXTS, sharedContextPool, type LiveContextPool } from './hibernation.js';
import { sharedZlibLimiter, type ZlibJobLimiter } from './zlib-limiter.js';

export { DEFAULT_MAX_LIVE_CONTEXTS } from './hibernation.js';

/** Default idle time after which a codec direction frees its zlib context (see `hibernateAfterMs`). */
export const DEFAULT_HIBERNATE_AFTER_MS = 5000;

/**
 * ws's `zlibDeflateOptions` / `zlibInflateOptions`: the fields we can honour map to ours; the others are
 * refused with a WireroomError rather than silently ignored (see docs/migrating-from-ws.md).
 */
export interface ZlibOptionsSubset {
  /** zlib compression level 0-9 (our `level`). Deflate only. */
  level?: number;
  /** zlib memLevel 1-9 (our `memLevel`). Deflate only. */
  memLevel?: number;
  /** Accepted and has no effect: our codec sizes its output buffers itself (it changes nothing on the wire). */
  chunkSize?: number;
}

/** `DeflateOptions` plus the settings that only concern the codec, not the negotiation. */
export interface DeflateCodecOptions extends DeflateOptions {
  /**
   * With context takeover: after this many milliseconds without a message in a direction, free that
   * direction's zlib context (~60-140 KiB) and keep only its window (2^bits bytes); the next message
   * rebuilds the context from it, with identical results on the wire. 0 frees it after every message
   * (least memory, a context rebuild per message); `Infinity` never by idle time (the cap
   * `maxLiveContexts` still applies). Default 5000.
   */
  hibernateAfterMs?: number;
  /**
   * With context takeover: at most this many zlib contexts alive at once across every codec of the
   * process configured with the same value (one shared pool per distinct value, like
   * `concurrencyLimit`). A context created beyond it makes the least recently used direction that is
   * between messages hibernate at once (it keeps its window; its next message rebuilds the context,
   * with identical bytes on the wire). Directions in the middle of a message are never touched.
   * Bounds the memory of a burst: 10,000 connections exchanging at once keep at most this many
   * contexts (~70 KiB deflate, ~30 KiB inflate at 13 bits) instead of 20,000. `Infinity`: no cap.
   * Default 2048 (see docs/compression.md).
   */
  maxLiveContexts?: number;
  /** ws's shape: `level` and `memLevel` are used, `chunkSize` accepted; anything else throws. */
  zlibDeflateOptions?: ZlibOptionsSubset;
  /** ws's shape: `chunkSize` accepted; anything else throws (the window is the negotiated one). */
  zlibInflateOptions?: Pick<ZlibOptionsSubset, 'chunkSize'>;
}

const CODEC_KEYS = new Set([
  'serverNoContextTakeover', 'clientNoContextTakeover', 'serverMaxWindowBits', 'clientMaxWindowBits', 'level', 'memLevel',
  'threshold', 'concurrencyLimit', 'hibernateAfterMs', 'maxLiveContexts', 'zlibDeflateOptions', 'zlibInflateOptions',
]);

/**
 * The `perMessageDeflate` option of a server or client, in our shape or ws's: false/undefined -> null (off),
 * true -> {} (defaults), options -> options with ws's zlib fields mapped to ours. Throws WireroomError
 * (WS_ERR_INVALID_ARGUMENT) on a field it cannot honour.
 */
export function normalizeDeflateOptions(option: boolean | DeflateCodecOptions | undefined | null): DeflateCodecOptions | null {
  if (option === undefined || option === null || option === false) return null;
  if (option === true) return {};
  if (typeof option !== 'object') throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'perMessageDeflate must be a boolean or an object');
  for (const key of Object.keys(option)) {
    if (!CODEC_KEYS.has(key)) throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `permessage-deflate option ${key} is not supported`);
  }
  const { zlibDeflateOptions, zlibInflateOptions, ...rest } = option;
  const result: DeflateCodecOptions = { ...rest };
  // ws: `clientMaxWindowBits: true` announces support for the parameter, which we always do.
  if ((result.clientMaxWindowBits as unknown) === true) delete result.clientMaxWindowBits;
  if (zlibDeflateOptions !== undefined) {
    for (const [key, value] of Object.entries(zlibDeflateOptions)) {
      if (key === 'level' || key === 'memLevel') {
        if (rest[key] !== undefined && rest[key] !== value) {
          throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `permessage-deflate: ${key} and zlibDeflateOptions.${key} disagree`);
        }
        result[key] = value as number;
      } else if (key !== 'chunkSize') throw unsupportedZlib('zlibDeflateOptions', key);
    }
  }
  if (zlibInflateOptions !== undefined) {
    for (const key of Object.keys(zlibInflateOptions)) if (key !== 'chunkSize') throw unsupportedZlib('zlibInflateOptions', key);
  }
  return result;
}

function unsupportedZlib(field: string, key: string): WireroomError {
  const hint = key === 'windowBits' ? ' (the window is negotiated: use serverMaxWindowBits / clientMaxWindowBits)' : '';
  return new WireroomError(ErrorCodes.INVALID_ARGUMENT, `permessage-deflate option ${field}.${key} is not supported${hint}`);
}

function resolveHibernateAfter(options: DeflateCodecOptions): number {
  const value = options.hibernateAfterMs ?? DEFAULT_HIBERNATE_AFTER_MS;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'permessage-deflate option hibernateAfterMs must be a number >= 0 (Infinity: never)');
  }
  return value;
}

function resolveMaxLiveContexts(options: DeflateCodecOptions): number {
  const value = options.maxLiveContexts ?? DEFAULT_MAX_LIVE_CONTEXTS;
  if (!(value === Infinity || (Number.isInteger(value) && value >= 1))) {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, 'permessage-deflate option maxLiveContexts must be an integer >= 1 (Infinity: no cap)');
  }
  return value;
}

export type { CompressCallback } from './message-deflater.js';
export type { DecompressCallback } from './message-inflater.js';

/** Window sizes reach zlib inside a limiter slot, where a throw would be harmful: check them here. */
function checkNegotiated(params: NegotiatedDeflate): void {
  for (const bits of [params.serverMaxWindowBits, params.clientMaxWindowBits]) {
    if (!Number.isInteger(bits) || bits < MIN_WINDOW_BITS || bits > MAX_WINDOW_BITS) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `permessage-deflate window bits must be ${MIN_WINDOW_BITS}..${MAX_WINDOW_BITS}`);
    }
  }
}

/** Which end of the connection this codec runs on. */
export type DeflateRole = 'server' | 'client';

/** The permessage-deflate state of one connection: one inflating and one deflating direction. */
export class PerMessageDeflate {
  readonly role: DeflateRole;
  readonly params: Readonly<NegotiatedDeflate>;
  /** Messages shorter than this many bytes should be sent uncompressed (see `shouldCompress`). */
  readonly threshold: number;
  /** The options it was made with (level, memLevel, ...): a broadcast compressed once for it uses the same. */
  readonly options: Readonly<DeflateOptions>;
  private readonly inflater: MessageInflater;
  private readonly deflater: MessageDeflater;
  private isClosed = false;

  /**
   * @param params what the handshake agreed (`negotiateDeflateOffers` / `validateDeflateResponse`).
   * @param options the same options the negotiation used (level, memLevel, threshold, concurrencyLimit),
   *   and `hibernateAfterMs`.
   * @throws WireroomError `INVALID_ARGUMENT` on invalid options or window sizes outside 8..15.
   */
  constructor(role: DeflateRole, params: NegotiatedDeflate, options: DeflateCodecOptions = {}) {
    const resolved = resolveDeflateOptions(options);
    const hibernateAfterMs = resolveHibernateAfter(options);
    const pool = sharedContextPool(resolveMaxLiveContexts(options));
    checkNegotiated(params);
    this.role = role;
    this.params = Object.freeze({ ...params });
    this.threshold = resolved.threshold;
    this.options = options;
    const limiter = sharedZlibLimiter(resolved.concurrencyLimit);
    const isServer = role === 'server';
    this.inflater = new MessageInflater({
      windowBits: isServer ? params.clientMaxWindowBits : params.serverMaxWindowBits,
      peerNoContextTakeover: isServer ? params.clientNoContextTakeover : params.serverNoContextTakeover,
      limiter,
      hibernateAfterMs,
      pool,
    });
    this.deflater = new MessageDeflater({
      windowBits: isServer ? params.serverMaxWindowBits : params.clientMaxWindowBits,
      noContextTakeover: isServer ? params.serverNoContextTakeover : params.clientNoContextTakeover,
      level: resolved.level,
      memLevel: resolved.memLevel,
      limiter,
      hibernateAfterMs,
      pool,
    });
  }

  /** Whether a message of `byteLength` bytes is worth compressing (at or above `threshold`). */
  shouldCompress(byteLength: number): boolean {
    return byteLength >= this.threshold;
  }

  /**
   * Inflates one frame of a compressed message (the message's first frame had RSV1). Call it for
   * every frame of the message, in order; calls are processed strictly in call order.
   *
   * Non-final frame: `callback(null)` once the frame is consumed (pause reading until then).
   * Final frame: `callback(null, message)` with the whole inflated message.
   * Errors: `MESSAGE_TOO_BIG` (close 1009) as soon as the inflated size passes `maxMessageSize`
   * (`Infinity` for no cap); `INVALID_COMPRESSED_DATA` (close 1007) for bad DEFLATE data, including
   * a back-reference beyond the negotiated window. After an error, or after `close()`, every call
   * reports an error (asynchronously). Every call gets exactly one callback.
   * zlib reads `payload` on a worker thread: do not modify it until the callback.
   */
  decompress(payload: Buffer, fin: boolean, maxMessageSize: number, callback: DecompressCallback): void {
    this.inflater.decompress(payload, fin, maxMessageSize, callback);
  }

  /**
   * Compresses a whole message; `payload` is what goes on the wire with RSV1 set (it may be split
   * into frames). Calls are processed strictly in call order. After `close()` the callback gets an
   * `INVALID_STATE` error (asynchronously). Do not modify `data` until the callback.
   */
  compress(data: Buffer, callback: CompressCallback): void {
    this.deflater.compress(data, callback);
  }

  /**
   * Releases both zlib contexts. Pending and later calls get an error on a later tick; nothing is
   * thrown. Idempotent.
   */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.inflater.close();
    this.deflater.close();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Inflated bytes of the message the size cap stopped (0 if none): shows the cap acted early. */
  get inflatedBytesAtFailure(): number {
    return this.inflater.inflatedBytesAtFailure;
  }

  /** How many zlib contexts this codec holds right now (0-2), for tests and memory metrics. */
  get allocatedContexts(): number {
    return (this.inflater.hasContext ? 1 : 0) + (this.deflater.hasContext ? 1 : 0);
  }

  /**
   * Frees both zlib contexts now, keeping only the windows (as the idle sweep does after
   * `hibernateAfterMs`), e.g. when the application knows the connection went quiet. A direction in
   * the middle of a message, or with calls queued, does so as soon as it is between messages.
   * Ordering, results and the bytes on the wire are unaffected. Returns how many contexts were freed now.
   */
  hibernate(): number {
    if (this.isClosed) return 0;
    return (this.inflater.hibernate() ? 1 : 0) + (this.deflater.hibernate() ? 1 : 0);
  }

  /** How many directions (0-2) are hibernated: no zlib context, a window kept to resume from. */
  get hibernatedDirections(): number {
    return (this.inflater.isHibernated ? 1 : 0) + (this.deflater.isHibernated ? 1 : 0);
  }

  /** Bytes of window memory kept for resuming (at most 2^inflate bits + 2^deflate bits). */
  get keptWindowBytes(): number {
    return this.inflater.keptWindowBytes + this.deflater.keptWindowBytes;
  }
}

/**
 * Compresses one message with a fresh context, for broadcast: the payload can be sent unchanged to
 * every recipient for which `canShareCompressedPayload(recipientParams, params)` holds. Uses the
 * server's window (`params.serverMaxWindowBits`) and the level/memLevel of `options`; runs in the
 * shared limiter. The context is freed before `callback` runs.
 */
export function compressOnce(
  data: Buffer,
  params: NegotiatedDeflate,
  options: DeflateOptions,
  callback: CompressCallback,
): void {
  const resolved: ResolvedDeflateOptions = resolveDeflateOptions(options);
  checkNegotiated(params);
  const deflater = new MessageDeflater({
    windowBits: params.serverMaxWindowBits,
    noContextTakeover: true,
    level: resolved.level,
    memLevel: resolved.memLevel,
    limiter: sharedZlibLimiter(resolved.concurrencyLimit),
    hibernateAfterMs: Infinity, // no context takeover: nothing to hibernate, nothing counted in the pool
    pool: sharedContextPool(),
  });
  deflater.compress(data, callback);
}

/**
 * The broadcast rule: a payload made by `compressOnce(…, sharedParams, …)` may be sent to a
 * connection whose server-side codec negotiated `recipient` only if
 * - the recipient negotiated `server_no_context_takeover`: otherwise our own deflater for it keeps a
 *   window that does not contain the broadcast, while the recipient's inflater does, and our next
 *   message to it would reference the wrong bytes;
 * - the recipient accepts a window at least as large as the one used.
 */
export function canShareCompressedPayload(recipient: NegotiatedDeflate, sharedParams: NegotiatedDeflate): boolean {
  return recipient.serverNoContextTakeover && recipient.serverMaxWindowBits >= sharedParams.serverMaxWindowBits;
}

/**
 * For tests and metrics: the shared pool of live contexts codecs with this `maxLiveContexts` use
 * (`size`, `peak`, `evicted`).
 */
export function liveContextPoolFor(maxLiveContexts: number = DEFAULT_MAX_LIVE_CONTEXTS): LiveContextPool {
  return sharedContextPool(maxLiveContexts);
}

/** For tests and metrics: the shared limiter codecs with this `concurrencyLimit` use. */
export function zlibLimiterFor(concurrencyLimit?: number): ZlibJobLimiter {
  return sharedZlibLimiter(concurrencyLimit ?? resolveDeflateOptions().concurrencyLimit);
}
