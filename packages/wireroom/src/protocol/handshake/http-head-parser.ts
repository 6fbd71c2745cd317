/**
 * Incremental, sans-I/O parser of an HTTP/1.1 message head (RFC 7230 section 3), used for the
 * WebSocket opening handshake: the request on the server side, the response on the client side.
 *
 * Bytes may arrive in any chunking. Each byte is scanned once: complete lines are parsed as soon as
 * their LF arrives and only the unfinished line is carried over (copied, so a large chunk is not kept
 * alive by a few bytes of it, into one buffer no larger than the line's limit). Limits are checked on every push, before anything is stored, so memory
 * stays bounded by the limits however much a peer sends.
 *
 * Strictness decisions:
 * - Lines must end in CRLF. A bare LF (allowed to be recognised by RFC 7230 3.5) or a bare CR is a 400,
 *   like llhttp in strict mode: lenient line endings are a request-smuggling vector behind proxies.
 * - No empty lines before the start line, no obs-fold (RFC 7230 3.2.4 says reject with 400), no
 *   whitespace between a header name and its colon, no control characters in values.
 * - Limit verdicts do not depend on chunking: each limit is a byte position; whichever is crossed first
 *   wins, and a limit crossed on or before a line's LF wins over a syntax error in that line.
 */
import { ErrorCodes, HandshakeError, WireroomError } from '../errors.js';
import { ParsedRequestHead, ParsedResponseHead, type RequestHead, type ResponseHead } from './http-head.js';
import { FIELD_VALUE_CHAR, TOKEN_CHAR, VISIBLE_CHAR } from './http-chars.js';

// Local byte constants: V8 inlines these, whereas imported bindings cost a load in every loop turn.
const SP = 0x20;
const HTAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;

/** Size limits of a message head. All counts are in bytes except `maxHeaders`. */
export interface HeadLimits {
  /** Longest start line, CRLF excluded. Exceeded on a request: 414. Default 8192. */
  maxRequestLineBytes: number;
  /** Largest whole head: start line, headers and every CRLF including the final one. 431. Default 16384. */
  maxHeaderBytes: number;
  /** Longest header line, CRLF excluded. 431. Default 8192. */
  maxHeaderLineBytes: number;
  /** Most header lines. 431. Default 128. */
  maxHeaders: number;
}

/** The defaults of `HeadLimits`. */
export const DEFAULT_HEAD_LIMITS: Readonly<HeadLimits> = Object.freeze({
  maxRequestLineBytes: 8192,
  maxHeaderBytes: 16384,
  maxHeaderLineBytes: 8192,
  maxHeaders: 128,
});

/** Limit objects already checked by `resolveHeadLimits()`. */
const RESOLVED = new WeakSet<object>([DEFAULT_HEAD_LIMITS]);

/**
 * Fills in the defaults and checks every limit.
 * @throws WireroomError `INVALID_ARGUMENT` if a limit is not a positive integer.
 */
export function resolveHeadLimits(limits: Partial<HeadLimits>): Readonly<HeadLimits> {
  if (RESOLVED.has(limits)) return limits as HeadLimits;
  const merged: HeadLimits = { ...DEFAULT_HEAD_LIMITS, ...limits };
  for (const [name, value] of Object.entries(merged)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `${name} must be a positive integer`);
    }
  }
  const resolved = Object.freeze(merged);
  RESOLVED.add(resolved);
  return resolved;
}

/** Which message the parser reads: `request` on the server side, `response` on the client side. */
export type HeadKind = 'request' | 'response';

/** The head type a parser of kind `K` produces. */
export type HeadFor<K extends HeadKind> = K extends 'request' ? RequestHead : ResponseHead;

/** Outcome of `HttpHeadParser.push`. */
export type HeadResult<H = RequestHead | ResponseHead> =
  | { state: 'incomplete' }
  /** `rest` holds the bytes after the blank line (e.g. the first frames): a view of the last chunk, not a copy. */
  | { state: 'complete'; head: H; rest: Buffer }
  | { state: 'error'; error: HandshakeError };

const INCOMPLETE: { state: 'incomplete' } = Object.freeze({ state: 'incomplete' as const });

type Failure = 'syntax' | 'start-line-too-long' | 'head-too-large';

/**
 * Parses one HTTP/1.1 message head from a byte stream.
 *
 * Errors on a request carry the status to answer with (400, 414 or 431) and the matching `code`.
 * Errors on a response carry `HANDSHAKE_INVALID_RESPONSE`, with `status` set to the server's status
 * when the status line was already parsed and 0 otherwise (there is nothing to answer a server with).
 */
export class HttpHeadParser<K extends HeadKind = HeadKind> {
  readonly kind: K;
  private readonly limits: HeadLimits;
  private head: ParsedRequestHead | ParsedResponseHead | null = null;
  private done = false;
  private error: HandshakeError | null = null;
  /** Bytes of the lines already parsed. */
  private consumed = 0;
  /**
   * Copy of the unfinished line, in one buffer grown geometrically up to the line's limit: one small
   * Buffer per pushed byte would cost a peer that trickles bytes far more memory than the limit says.
   */
  private carry: Buffer | null = null;
  private carryLength = 0;

  /**
   * @throws WireroomError `INVALID_ARGUMENT` if a limit is not a positive integer. Limits returned by
   * `resolveHeadLimits()` are used as they are (a server resolves them once, not once per connection).
   */
  constructor(kind: K, limits: Partial<HeadLimits> = DEFAULT_HEAD_LIMITS) {
    this.kind = kind;
    this.limits = resolveHeadLimits(limits);
  }

  /**
   * Feeds the next bytes. Returns `incomplete` until the blank line ending the head arrives, then
   * `complete` once; after an `error`, every later call returns the same error.
   * @throws WireroomError `INVALID_STATE` if called again after `complete`.
   */
  push(chunk: Buffer): HeadResult<HeadFor<K>> {
    if (this.error !== null) return { state: 'error', error: this.error };
    if (this.done) throw new WireroomError(ErrorCodes.INVALID_STATE, 'The message head is already complete');

    let pos = 0;
    while (pos < chunk.length) {
      const lf = chunk.indexOf(LF, pos);
      const end = lf === -1 ? chunk.length : lf + 1;
      const lineLength = this.carryLength + (end - pos);
      const overLimit = this.checkLimits(lineLength);
      if (overLimit !== null) return this.fail(overLimit);

      if (lf === -1) {
        this.appendToCarry(chunk, pos, end);
        return INCOMPLETE;
      }

      let line: Buffer;
      if (this.carryLength === 0) {
        line = chunk.subarray(pos, end);
      } else {
        this.appendToCarry(chunk, pos, end);
        line = this.carry!.subarray(0, lineLength);
        this.carryLength = 0; // parseLine copies what it keeps into strings, so the buffer is reusable
      }
      this.consumed += lineLength;
      pos = end;

      const failure = this.parseLine(line);
      if (failure !== null) return this.fail(failure);
      if (this.done) {
        this.carry = null;
        // `done` is only set after the head was built, so `head` is non-null here.
        return { state: 'complete', head: this.head as HeadFor<K>, rest: chunk.subarray(end) };
      }
    }
    return INCOMPLETE;
  }

  /** Copies `chunk[from..to)` after the carried bytes. Callers have checked the limits first. */
  private appendToCarry(chunk: Buffer, from: number, to: number): void {
    const needed = this.carryLength + (to - from);
    if (this.carry === null || this.carry.length < needed) {
      // Grow geometrically (linear total copying) but never beyond what the limits allow this line.
      const lineMax = (this.head === null ? this.limits.maxRequestLineBytes : this.limits.maxHeaderLineBytes) + 2;
      const cap = Math.min(lineMax, this.limits.maxHeaderBytes - this.consumed);
      const grown = Buffer.allocUnsafe(Math.max(needed, Math.min(cap, Math.max(256, 2 * (this.carry?.length ?? 0)))));
      if (this.carry !== null) this.carry.copy(grown, 0, 0, this.carryLength);
      this.carry = grown;
    }
    chunk.copy(this.carry, this.carryLength, from, to);
    this.carryLength = needed;
  }

  /** Which limit, if any, the current line of `lineLength` bytes (so far) has crossed. */
  private checkLimits(lineLength: number): [Failure, string] | null {
    const onStartLine = this.head === null;
    const lineMax = (onStartLine ? this.limits.maxRequestLineBytes : this.limits.maxHeaderLineBytes) + 2; // + CRLF
    const lineOver = lineLength > lineMax;
    const headOver = this.consumed + lineLength > this.limits.maxHeaderBytes;
    if (!lineOver && !headOver) return null;
    // Report the limit crossed at the earlier byte, so the verdict is the same for every chunking.
    const lineCrossedAt = this.consumed + lineMax;
    if (lineOver && (!headOver || lineCrossedAt <= this.limits.maxHeaderBytes)) {
      return onStartLine
        ? ['start-line-too-long', `Start line longer than ${this.limits.maxRequestLineBytes} bytes`]
        : ['head-too-large', `Header line longer than ${this.limits.maxHeaderLineBytes} bytes`];
    }
    return ['head-too-large', `Message head larger than ${this.limits.maxHeaderBytes} bytes`];
  }

  /** Parses one complete line (terminator included). Returns a failure, or null. */
  private parseLine(line: Buffer): [Failure, string] | null {
    const n = line.length;
    if (n < 2 || line[n - 2] !== CR) return ['syntax', 'Line not terminated by CRLF (bare LF)'];
    const end = n - 2;
    if (this.head === null) return this.kind === 'request' ? this.parseRequestLine(line, end) : this.parseStatusLine(line, end);
    if (end === 0) {
      this.done = true;
      return null;
    }
    return this.parseHeaderLine(line, end);
  }

  private parseRequestLine(line: Buffer, end: number): [Failure, string] | null {
    let i = 0;
    while (i < end && TOKEN_CHAR[line[i]] === 1) i++;
    if (i === 0 || i === end || line[i] !== SP) return ['syntax', 'Malformed request line (method)'];
    const method = line.toString('latin1', 0, i);
    const targetStart = ++i;
    while (i < end && VISIBLE_CHAR[line[i]] === 1) i++;
    if (i === targetStart || i === end || line[i] !== SP) return ['syntax', 'Malformed request line (target)'];
    const target = line.toString('latin1', targetStart, i);
    i++;
    if (end - i !== 8 || !isHttpVersion(line, i)) return ['syntax', 'Malformed request line (HTTP version)'];
    this.head = new ParsedRequestHead(method, target, line[i + 5] - 0x30, line[i + 7] - 0x30);
    return null;
  }

  private parseStatusLine(line: Buffer, end: number): [Failure, string] | null {
    // HTTP-version SP 3DIGIT [ SP reason-phrase ]: the reason is optional because many servers omit it.
    if (end < 12 || !isHttpVersion(line, 0) || line[8] !== SP) return ['syntax', 'Malformed status line'];
    let status = 0;
    for (let i = 9; i < 12; i++) {
      const d = line[i] - 0x30;
      if (d < 0 || d > 9) return ['syntax', 'Malformed status code'];
      status = status * 10 + d;
    }
    if (end > 12) {
      if (line[12] !== SP) return ['syntax', 'Malformed status line'];
      for (let i = 13; i < end; i++) {
        if (FIELD_VALUE_CHAR[line[i]] === 0) return ['syntax', 'Invalid character in reason phrase'];
      }
    }
    const reason = end > 12 ? line.toString('latin1', 13, end) : '';
    this.head = new ParsedResponseHead(status, reason, line[5] - 0x30, line[7] - 0x30);
    return null;
  }

  private parseHeaderLine(line: Buffer, end: number): [Failure, string] | null {
    const head = this.head!;
    if (head.headers.length >= this.limits.maxHeaders) {
      return ['head-too-large', `More than ${this.limits.maxHeaders} header fields`];
    }
    const first = line[0];
    if (first === SP || first === HTAB) return ['syntax', 'Obsolete line folding is not allowed'];
    let i = 0;
    while (i < end && TOKEN_CHAR[line[i]] === 1) i++;
    if (i === end) return ['syntax', 'Header line without a colon'];
    if (i === 0 || line[i] !== COLON) return ['syntax', 'Invalid character in header name'];
    const name = line.toString('latin1', 0, i).toLowerCase();
    let valueStart = i + 1;
    while (valueStart < end && (line[valueStart] === SP || line[valueStart] === HTAB)) valueStart++;
    let valueEnd = end;
    while (valueEnd > valueStart && (line[valueEnd - 1] === SP || line[valueEnd - 1] === HTAB)) valueEnd--;
    for (let k = valueStart; k < valueEnd; k++) {
      if (FIELD_VALUE_CHAR[line[k]] === 0) return ['syntax', `Invalid character in value of header ${name}`];
    }
    head.headers.push([name, line.toString('latin1', valueStart, valueEnd)]);
    return null;
  }

  private fail([failure, message]: [Failure, string]): { state: 'error'; error: HandshakeError } {
    this.carry = null;
    this.carryLength = 0;
    this.error = this.kind === 'request' ? requestError(failure, message) : responseError(this.head, message);
    return { state: 'error', error: this.error };
  }
}

function requestError(failure: Failure, message: string): HandshakeError {
  switch (failure) {
    case 'start-line-too-long':
      return new HandshakeError(ErrorCodes.HANDSHAKE_URI_TOO_LONG, 414, message);
    case 'head-too-large':
      return new HandshakeError(ErrorCodes.HANDSHAKE_HEADERS_TOO_LARGE, 431, message);
    case 'syntax':
      return new HandshakeError(ErrorCodes.HANDSHAKE_BAD_REQUEST, 400, message);
  }
}

function responseError(head: ParsedRequestHead | ParsedResponseHead | null, message: string): HandshakeError {
  const status = head instanceof ParsedResponseHead ? head.status : 0;
  return new HandshakeError(ErrorCodes.HANDSHAKE_INVALID_RESPONSE, status, `Invalid HTTP response: ${message}`);
}

/** Whether `buf[at..at+8)` is `HTTP/<digit>.<digit>`. */
function isHttpVersion(buf: Buffer, at: number): boolean {
  return (
    buf[at] === 0x48 && // H
    buf[at + 1] === 0x54 && // T
    buf[at + 2] === 0x54 && // T
    buf[at + 3] === 0x50 && // P
    buf[at + 4] === 0x2f && // /
    isDigit(buf[at + 5]) &&
    buf[at + 6] === 0x2e && // .
    isDigit(buf[at + 7])
  );
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}
