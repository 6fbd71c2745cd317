/**
 * The identity hook's vocabulary: what `identify(request)` may answer. Pure: no sockets, no timers.
 */
import { ErrorCodes, WireroomError } from '../../protocol/errors.js';
import type { HandshakeRequest } from '../origin.js';

// A registered symbol rather than `instanceof`: a Refusal made by another copy of the package (a CommonJS and
// an ES module build loaded side by side) is still recognised.
const REFUSAL = Symbol.for('wireroom.refusal');

/**
 * A refused handshake: the HTTP status (4xx or 5xx), the reason sent as the text body and emitted with the
 * server's 'rejected' event, and extra response headers (e.g. `WWW-Authenticate`). Make one with `refuse()`.
 */
export class Refusal {
  readonly status: number;
  readonly reason: string | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** @internal */
  readonly [REFUSAL] = true;

  constructor(status: number, reason?: string, headers?: Readonly<Record<string, string>>) {
    if (!isRefusalStatus(status)) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `A refusal needs a 4xx or 5xx status, not ${String(status)}`);
    }
    this.status = status;
    this.reason = reason;
    this.headers = headers;
  }
}

/** Refuses a handshake from an `identify` hook: `return refuse(401, 'No session cookie')`. */
export function refuse(status: number, reason?: string, headers?: Readonly<Record<string, string>>): Refusal {
  return new Refusal(status, reason, headers);
}

/** Whether an identify hook's answer is a refusal (made by this or another copy of the package). */
export function isRefusal(value: unknown): value is Refusal {
  return typeof value === 'object' && value !== null && (value as { [REFUSAL]?: unknown })[REFUSAL] === true;
}

/** @internal Statuses a refusal may carry. */
export function isRefusalStatus(status: unknown): status is number {
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599;
}

/**
 * Decides who is connecting, after the protocol, Host and Origin checks and after `authenticate` /
 * `verifyClient`. Return the identity (any value but a Refusal; `undefined` too) to accept: it becomes
 * `ws.identity` (and `this.identity` of an App handler). Return `refuse(status, reason?, headers?)` to answer
 * the upgrade with that status. May be async; bounded by the server's `handshakeTimeout` (then 503
 * 'Identification timed out'). A hook that throws or rejects is answered 500 'Identification failed' and the
 * error is emitted as the server's 'error' event (when it has listeners).
 */
export type IdentifyHook<I = unknown> = (request: HandshakeRequest) => I | Refusal | Promise<I | Refusal>;
