/**
 * What the client's ws-style events hand to the application, shaped as Node's http objects that ws passes (our
 * client speaks HTTP itself, so there is no ClientRequest / IncomingMessage to give):
 * - `ClientHandshakeResponse` ('upgrade' and 'unexpected-response'): status, headers, rawHeaders as
 *   `http.IncomingMessage` has them; for 'unexpected-response' a Readable of the body (the bytes after the head, up
 *   to Content-Length or the end of the connection; a chunked body is passed as it came, undecoded).
 * - `ClientHandshakeRequest` ('unexpected-response' and 'redirect'): method, path, host and the headers of the
 *   request; `abort()` / `destroy()` end the attempt. In 'redirect', the headers of the next request can still be
 *   changed (`setHeader`, `removeHeader`), as on ws's ClientRequest before it is sent.
 */
import { Readable } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCodes, WireroomError } from '../protocol/errors.js';
import type { ResponseHead } from '../protocol/handshake/index.js';

/** Header names that Node's IncomingMessage keeps as arrays; others are joined with ', ' (a few keep the first). */
const FIRST_ONLY = new Set(['age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent']);

/** The server's answer to the opening handshake, as `http.IncomingMessage` describes one. */
export class ClientHandshakeResponse extends Readable {
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly headers: IncomingHttpHeaders = {};
  readonly rawHeaders: string[] = [];
  /** Body bytes still expected (Content-Length), or -1 to read until the connection ends. */
  private remaining = -1;
  private socket: Socket | null = null;

  /** @internal */
  constructor(head: ResponseHead) {
    super();
    this.statusCode = head.status;
    this.statusMessage = head.reason;
    this.httpVersionMajor = head.versionMajor;
    this.httpVersionMinor = head.versionMinor;
    this.httpVersion = `${head.versionMajor}.${head.versionMinor}`;
    const headers = this.headers as Record<string, string | string[]>;
    for (const [name, value] of head.headers) {
      this.rawHeaders.push(name, value);
      const existing = headers[name];
      if (existing === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
      else if (Array.isArray(existing)) existing.push(value);
      else if (!FIRST_ONLY.has(name)) headers[name] = `${existing}, ${value}`;
    }
  }

  /** @internal A head without a body ('upgrade': the socket now speaks WebSocket). */
  _endNow(): this {
    this.push(null);
    return this;
  }

  /** @internal Reads the body from `socket`, starting with `rest` (the bytes that came with the head). */
  _readBody(socket: Socket, rest: Buffer): void {
    this.socket = socket;
    const length = this.headers['content-length'];
    if (length !== undefined && /^\d{1,15}$/.test(length)) this.remaining = Number(length);
    if (this.remaining === 0) {
      this.push(null);
      return;
    }
    if (rest.length > 0) this._onData(rest);
  }

  /** @internal */
  _onData(chunk: Buffer): void {
    if (this.readableEnded || this.remaining === 0) return;
    if (this.remaining > 0) {
      if (chunk.length >= this.remaining) {
        const last = chunk.subarray(0, this.remaining);
        this.remaining = 0;
        this.push(last);
        this.push(null);
        return;
      }
      this.remaining -= chunk.length;
    }
    if (!this.push(chunk)) this.socket?.pause(); // the application reads the body at its own pace
  }

  /** @internal The connection ended: so does the body. */
  _onEnd(): void {
    if (!this.readableEnded && !this.destroyed) this.push(null);
  }

  override _read(): void {
    this.socket?.resume();
  }
}

/** The opening handshake request, as much of `http.ClientRequest` as ws's events let an application use. */
export class ClientHandshakeRequest {
  readonly method = 'GET';
  readonly path: string;
  readonly host: string;
  /** 'http:' or 'https:', as on a ClientRequest. */
  readonly protocol: string;
  /** Whether abort() or destroy() was called. */
  destroyed = false;
  private readonly fields: Map<string, [name: string, value: string]>;
  private readonly sent: boolean;
  private readonly onDestroy: (error?: Error) => void;

  /** @internal */
  constructor(target: { secure: boolean; host: string; path: string }, headers: Record<string, string>, sent: boolean, onDestroy: (error?: Error) => void) {
    this.path = target.path;
    this.host = target.host;
    this.protocol = target.secure ? 'https:' : 'http:';
    this.fields = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), [name, value]]));
    this.sent = sent;
    this.onDestroy = onDestroy;
  }

  getHeader(name: string): string | undefined {
    return this.fields.get(name.toLowerCase())?.[1];
  }

  getHeaders(): Record<string, string> {
    return Object.fromEntries([...this.fields].map(([lower, [, value]]) => [lower, value]));
  }

  getHeaderNames(): string[] {
    return [...this.fields.keys()];
  }

  hasHeader(name: string): boolean {
    return this.fields.has(name.toLowerCase());
  }

  /** Sets a header of the request ('redirect' only: the others have been sent). Values may not hold CR, LF or NUL. */
  setHeader(name: string, value: string | number | readonly string[]): this {
    this.checkNotSent();
    const text = Array.isArray(value) ? value.join(', ') : String(value);
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) || /[\r\n\0]/.test(text)) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid header: ${name}`);
    }
    this.fields.set(name.toLowerCase(), [name, text]);
    return this;
  }

  removeHeader(name: string): void {
    this.checkNotSent();
    this.fields.delete(name.toLowerCase());
  }

  /** Ends the attempt (the socket is destroyed). */
  abort(): void {
    this.destroy();
  }

  /** Ends the attempt; with an error, the WebSocket reports it ('error', then 'close' 1006). */
  destroy(error?: Error): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.onDestroy(error);
    }
    return this;
  }

  /** @internal The headers as the next request will send them. */
  _headers(): Record<string, string> {
    return Object.fromEntries(this.fields.values());
  }

  private checkNotSent(): void {
    if (this.sent) throw new WireroomError(ErrorCodes.INVALID_STATE, 'The request has been sent: its headers cannot change');
  }
}
