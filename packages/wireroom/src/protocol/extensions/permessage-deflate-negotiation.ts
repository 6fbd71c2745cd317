/**
 * permessage-deflate negotiation (RFC 7692 section 7.1), sans-I/O: it reads parsed
 * `Sec-WebSocket-Extensions` offers and writes header values, nothing else. The codec that uses the
 * result lives in `src/compression/`.
 *
 * Name matching: the extension name is compared ASCII case-insensitively (`PerMessage-Deflate` is
 * accepted), because a differently-cased name cannot mean anything else and refusing it would only
 * lose compression. Parameter names are compared exactly as RFC 7692 spells them: a differently-cased
 * parameter is an unknown parameter, which declines that offer (the safe outcome: no compression).
 */
import { ErrorCodes, HandshakeError, WireroomError } from '../errors.js';
import type { ExtensionOffer } from '../handshake/header-values.js';

/** The registered extension name (RFC 7692 section 7). */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** Smallest and largest LZ77 window sizes, as base-2 logarithms (RFC 7692 7.1.2). */
export const MIN_WINDOW_BITS = 8;
export const MAX_WINDOW_BITS = 15;

/**
 * permessage-deflate configuration, shared by the server and the client side. Every field is
 * optional; `resolveDeflateOptions` fills in `DEFAULT_DEFLATE_OPTIONS` (see docs/compression.md for
 * the measurements behind the defaults).
 */
export interface DeflateOptions {
  /**
   * Server: always make the server compress each message with an empty window (frees the server's
   * deflate context between messages). Client: ask the server for it.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Server: require the client to compress each message with an empty window (lets the server free
   * its inflate context between messages). Client: announce that we will not take over context.
   */
  clientNoContextTakeover?: boolean;
  /** Largest window (8-15) the server compresses with. Client: asked of the server when below 15. */
  serverMaxWindowBits?: number;
  /**
   * Largest window (8-15) the client compresses with. Server: imposed on clients that announce
   * support for `client_max_window_bits`; clients that do not may use 15 and are still accepted.
   */
  clientMaxWindowBits?: number;
  /** zlib compression level 0-9 for outgoing messages. */
  level?: number;
  /** zlib memLevel 1-9 of our deflate context: memory for the hash chains vs speed and ratio. */
  memLevel?: number;
  /** Messages smaller than this many bytes are sent uncompressed. */
  threshold?: number;
  /** Most zlib jobs running at once across every connection that uses this limit (see the codec). */
  concurrencyLimit?: number;
}

/** `DeflateOptions` with every field present. */
export type ResolvedDeflateOptions = Required<DeflateOptions>;

/**
 * Defaults, from the measurements in docs/compression.md (`bench/deflate-memory.ts`): 13-bit windows
 * and memLevel 6 cost ~147 KiB RSS per active connection against ~243 KiB for zlib's 15/8, for 8%
 * more bytes on chat JSON (ratio 0.313 vs 0.290); context takeover is kept because it is what makes
 * small JSON messages compress (0.31 vs 0.75 without). Level 6 is zlib's default. Threshold 64: below
 * it a message saves a few bytes at most, not worth a thread-pool round trip. Concurrency 10 as `ws`.
 */
export const DEFAULT_DEFLATE_OPTIONS: Readonly<ResolvedDeflateOptions> = Object.freeze({
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 13,
  clientMaxWindowBits: 13,
  level: 6,
  memLevel: 6,
  threshold: 64,
  concurrencyLimit: 10,
});

/** The parameters both ends agreed on; each `*MaxWindowBits` is the largest window that side compresses with. */
export interface NegotiatedDeflate {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `permessage-deflate option ${name} must be an integer in ${min}..${max}`);
  }
}

/**
 * Fills in defaults and validates the ranges.
 * @throws WireroomError `INVALID_ARGUMENT` on an out-of-range or non-integer value.
 */
export function resolveDeflateOptions(options: DeflateOptions = {}): ResolvedDeflateOptions {
  const resolved: ResolvedDeflateOptions = { ...DEFAULT_DEFLATE_OPTIONS };
  for (const key of Object.keys(DEFAULT_DEFLATE_OPTIONS) as Array<keyof DeflateOptions>) {
    const value = options[key];
    if (value !== undefined) (resolved as Record<keyof DeflateOptions, number | boolean>)[key] = value;
  }
  for (const flag of ['serverNoContextTakeover', 'clientNoContextTakeover'] as const) {
    if (typeof resolved[flag] !== 'boolean') {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `permessage-deflate option ${flag} must be a boolean`);
    }
  }
  checkInteger('serverMaxWindowBits', resolved.serverMaxWindowBits, MIN_WINDOW_BITS, MAX_WINDOW_BITS);
  checkInteger('clientMaxWindowBits', resolved.clientMaxWindowBits, MIN_WINDOW_BITS, MAX_WINDOW_BITS);
  checkInteger('level', resolved.level, 0, 9);
  checkInteger('memLevel', resolved.memLevel, 1, 9);
  checkInteger('threshold', resolved.threshold, 0, Number.MAX_SAFE_INTEGER);
  checkInteger('concurrencyLimit', resolved.concurrencyLimit, 1, Number.MAX_SAFE_INTEGER);
  return resolved;
}

/** `8`..`15` written as a plain decimal: no sign, no leading zero, no spaces (RFC 7692 7.1.2.1). */
function parseWindowBits(value: string | true): number | null {
  if (value === true) return null;
  if (value.length === 1) return value === '8' ? 8 : value === '9' ? 9 : null;
  if (value.length === 2 && value[0] === '1' && value[1]! >= '0' && value[1]! <= '5') return 10 + Number(value[1]);
  return null;
}

function isDeflateName(name: string): boolean {
  return name.toLowerCase() === PERMESSAGE_DEFLATE;
}

/**
 * The parameters of one offer or response, syntax-checked. `clientMaxWindowBits` is `true` when the
 * parameter is present without a value (only meaningful in an offer).
 */
interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  clientMaxWindowBits: number | true | undefined;
}

/** Reads the parameters of one element, or returns why it is invalid. */
function readParams(params: ExtensionOffer['params']): DeflateParams | string {
  const out: DeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (seen.has(name)) return `duplicate parameter ${name}`;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) return `parameter ${name} takes no value`;
        if (name === 'server_no_context_takeover') out.serverNoContextTakeover = true;
        else out.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        const bits = parseWindowBits(value);
        if (bits === null) return 'server_max_window_bits must be 8..15';
        out.serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        if (value === true) {
          out.clientMaxWindowBits = true;
          break;
        }
        const bits = parseWindowBits(value);
        if (bits === null) return 'client_max_window_bits must be empty or 8..15';
        out.clientMaxWindowBits = bits;
        break;
      }
      default:
        return `unknown parameter ${name}`;
    }
  }
  return out;
}

/** Builds `permessage-deflate; a; b=1` from (name, value) pairs, `true` meaning no value. */
function formatElement(params: Array<[string, number | true]>): string {
  let out = PERMESSAGE_DEFLATE;
  for (const [name, value] of params) out += value === true ? `; ${name}` : `; ${name}=${value}`;
  return out;
}

/** What the server agreed to, and the `Sec-WebSocket-Extensions` element that says so. */
export interface DeflateAcceptance {
  params: NegotiatedDeflate;
  /** e.g. `permessage-deflate; server_max_window_bits=12; client_max_window_bits=12`. */
  responseHeader: string;
}

/** Server side: the answer to one syntactically valid offer. Rules in `negotiateDeflateOffers`. */
function acceptOffer(offer: DeflateParams, options: ResolvedDeflateOptions): DeflateAcceptance {
  const response: Array<[string, number | true]> = [];

  const serverNoContextTakeover = offer.serverNoContextTakeover || options.serverNoContextTakeover;
  if (serverNoContextTakeover) response.push(['server_no_context_takeover', true]);

  // Echoing an offered client_no_context_takeover costs the client nothing (it announced it) and
  // lets us free the inflate context between messages (RFC 7692 7.1.1.2 allows either).
  const clientNoContextTakeover = offer.clientNoContextTakeover || options.clientNoContextTakeover;
  if (clientNoContextTakeover) response.push(['client_no_context_takeover', true]);

  // 7.1.2.1: same or smaller than offered; MAY be sent even when not offered.
  const serverMaxWindowBits = Math.min(offer.serverMaxWindowBits ?? MAX_WINDOW_BITS, options.serverMaxWindowBits);
  if (offer.serverMaxWindowBits !== undefined || serverMaxWindowBits < MAX_WINDOW_BITS) {
    response.push(['server_max_window_bits', serverMaxWindowBits]);
  }

  // 7.1.2.2: MUST NOT be sent unless offered. Without it the client may use up to 15 bits.
  let clientMaxWindowBits = MAX_WINDOW_BITS;
  if (offer.clientMaxWindowBits !== undefined) {
    const announced = offer.clientMaxWindowBits === true ? MAX_WINDOW_BITS : offer.clientMaxWindowBits;
    clientMaxWindowBits = Math.min(announced, options.clientMaxWindowBits);
    if (clientMaxWindowBits < MAX_WINDOW_BITS) response.push(['client_max_window_bits', clientMaxWindowBits]);
  }

  return {
    params: { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits },
    responseHeader: formatElement(response),
  };
}

/**
 * Server side (RFC 7692 7.1): picks the first acceptable `permessage-deflate` offer among all the
 * extension offers of a request, in the client's order of preference. Offers of other extensions
 * are skipped; an invalid offer (unknown or duplicate parameter, a value on a `*_no_context_takeover`,
 * a window size that is not a plain `8`..`15`) is declined and the next one is tried.
 *
 * The response echoes `server_no_context_takeover` when offered or required by our options, echoes
 * `client_no_context_takeover` when offered or required, answers `server_max_window_bits` with
 * min(offered, ours) (also sent unoffered when ours is below 15), and sends `client_max_window_bits`
 * only if the client offered it. `params.serverMaxWindowBits` is the window we will really compress
 * with, which may be smaller than what the response announces.
 *
 * `server_max_window_bits=8` is accepted: zlib cannot deflate with a raw 8-bit window and uses 9,
 * but with a 512-byte window its longest match distance is 512 - 262 = 250 < 256, so the output is
 * decodable with a 256-byte window.
 *
 * @returns the accepted parameters and response element, or null to proceed without compression.
 */
export function negotiateDeflateOffers(offers: readonly ExtensionOffer[], options: DeflateOptions = {}): DeflateAcceptance | null {
  const resolved = resolveDeflateOptions(options);
  for (const offer of offers) {
    if (!isDeflateName(offer.name)) continue;
    const params = readParams(offer.params);
    if (typeof params === 'string') continue;
    return acceptOffer(params, resolved);
  }
  return null;
}

/**
 * Client side: the `Sec-WebSocket-Extensions` element to send. It always announces
 * `client_max_window_bits` (with our limit when below 15) so that the server may shrink our window;
 * the other parameters are sent only when the options ask for them.
 */
export function buildDeflateOffer(options: DeflateOptions = {}): string {
  const resolved = resolveDeflateOptions(options);
  const params: Array<[string, number | true]> = [];
  if (resolved.serverNoContextTakeover) params.push(['server_no_context_takeover', true]);
  if (resolved.clientNoContextTakeover) params.push(['client_no_context_takeover', true]);
  if (resolved.serverMaxWindowBits < MAX_WINDOW_BITS) params.push(['server_max_window_bits', resolved.serverMaxWindowBits]);
  params.push([
    'client_max_window_bits',
    resolved.clientMaxWindowBits < MAX_WINDOW_BITS ? resolved.clientMaxWindowBits : true,
  ]);
  return formatElement(params);
}

/**
 * Client side: checks the server's `permessage-deflate` response element against the offer that
 * `buildDeflateOffer(options)` produced (RFC 7692 7.1). Refused: another extension name, unknown or
 * duplicate parameters, a value on `*_no_context_takeover`, a missing `server_no_context_takeover` or
 * `server_max_window_bits` that we asked for, `server_max_window_bits` above what we asked,
 * `client_max_window_bits` without a value or outside 8..15.
 *
 * A `client_max_window_bits` above the limit we announced is tolerated (some servers always send
 * their configured value); we keep compressing with our smaller window, which is always decodable.
 *
 * @param responseStatus the `status` of the returned error (the handshake's HTTP status, or 0).
 * @returns the agreed parameters, or a `HandshakeError` with code `HANDSHAKE_INVALID_RESPONSE`.
 */
export function validateDeflateResponse(
  response: ExtensionOffer,
  options: DeflateOptions = {},
  responseStatus = 0,
): NegotiatedDeflate | HandshakeError {
  const fail = (why: string): HandshakeError =>
    new HandshakeError(ErrorCodes.HANDSHAKE_INVALID_RESPONSE, responseStatus, `Invalid permessage-deflate response: ${why}`);
  const resolved = resolveDeflateOptions(options);
  if (!isDeflateName(response.name)) return fail(`unexpected extension ${response.name}`);
  const params = readParams(response.params);
  if (typeof params === 'string') return fail(params);

  if (resolved.serverNoContextTakeover && !params.serverNoContextTakeover) {
    return fail('server_no_context_takeover was requested but not accepted');
  }
  const requestedServerBits = resolved.serverMaxWindowBits < MAX_WINDOW_BITS ? resolved.serverMaxWindowBits : undefined;
  if (requestedServerBits !== undefined) {
    if (params.serverMaxWindowBits === undefined) return fail('server_max_window_bits was requested but not accepted');
    if (params.serverMaxWindowBits > requestedServerBits) return fail('server_max_window_bits is larger than requested');
  }
  if (params.clientMaxWindowBits === true) return fail('client_max_window_bits needs a value in a response');

  return {
    serverNoContextTakeover: params.serverNoContextTakeover,
    clientNoContextTakeover: params.clientNoContextTakeover || resolved.clientNoContextTakeover,
    serverMaxWindowBits: params.serverMaxWindowBits ?? MAX_WINDOW_BITS,
    clientMaxWindowBits: Math.min(params.clientMaxWindowBits ?? MAX_WINDOW_BITS, resolved.clientMaxWindowBits),
  };
}
