/**
 * The parsed head of an HTTP/1.1 message (start line plus header fields), as produced by
 * `HttpHeadParser`. Header names are lower-cased; values are Latin-1 decoded (byte-preserving) and
 * trimmed of surrounding optional whitespace.
 */

/** Header fields in wire order with case-insensitive look-up. */
export interface HeaderFields {
  /** Every header line in order: `[lower-cased name, value]`. Repeated names appear repeatedly. */
  readonly headers: Array<[name: string, value: string]>;
  /** Value of the first header named `name` (case-insensitive), or `undefined`. */
  get(name: string): string | undefined;
  /** Values of every header named `name` (case-insensitive), in order. */
  getAll(name: string): string[];
}

/** An HTTP request head (what a server reads). */
export interface RequestHead extends HeaderFields {
  readonly method: string;
  /** The request-target exactly as sent, e.g. `/chat?room=1`. */
  readonly target: string;
  readonly versionMajor: number;
  readonly versionMinor: number;
}

/** An HTTP response head (what a client reads). */
export interface ResponseHead extends HeaderFields {
  readonly status: number;
  readonly reason: string;
  readonly versionMajor: number;
  readonly versionMinor: number;
}

class Fields implements HeaderFields {
  readonly headers: Array<[name: string, value: string]> = [];

  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (const [n, v] of this.headers) if (n === lower) return v;
    return undefined;
  }

  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    const out: string[] = [];
    for (const [n, v] of this.headers) if (n === lower) out.push(v);
    return out;
  }
}

/** Concrete `RequestHead`; headers are appended by the parser. */
export class ParsedRequestHead extends Fields implements RequestHead {
  constructor(
    readonly method: string,
    readonly target: string,
    readonly versionMajor: number,
    readonly versionMinor: number,
  ) {
    super();
  }
}

/** Concrete `ResponseHead`; headers are appended by the parser. */
export class ParsedResponseHead extends Fields implements ResponseHead {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly versionMajor: number,
    readonly versionMinor: number,
  ) {
    super();
  }
}
