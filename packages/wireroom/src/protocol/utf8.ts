/**
 * UTF-8 validation as RFC 3629 defines it (what RFC 6455 8.1 requires of text messages): no overlong
 * forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no 5- or 6-byte forms, no C0, C1 or
 * F5..FF bytes. Noncharacters such as U+FFFE are valid.
 *
 * The bulk of the work is Node's native `buffer.isUtf8` (simdutf), which follows RFC 3629 exactly and is
 * an order of magnitude faster than any JavaScript loop. The incremental validator only handles, per
 * piece, the at most 3 bytes before and after the character boundaries in JavaScript.
 */

import { isUtf8 } from 'node:buffer';

/** True when `bytes` is, as a whole, well-formed UTF-8 (RFC 3629). An empty buffer is valid. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}

/** Bytes 0x80..0xBF: the only bytes allowed after a lead byte. */
function isContinuation(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}

/** Total length of the character a lead byte starts, or 1 for ASCII and for bytes that can start nothing. */
function sequenceLength(lead: number): number {
  if (lead < 0xc2) return 1; // ASCII, a continuation byte, or the always-overlong C0/C1
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  if (lead < 0xf5) return 4;
  return 1; // F5..FF would encode above U+10FFFF (or are not UTF-8 at all)
}

/**
 * Incremental, fail-fast UTF-8 validation of a message that arrives in pieces (fragments, TCP chunks).
 *
 * `push()` returns false as soon as the bytes seen so far cannot be the start of valid UTF-8, even when
 * the offending character is split across pieces (`F4 | 90`); `end()` then rejects a message that stops
 * mid-character. The state is three small integers; `push()` allocates at most one subarray view, and
 * none at all when the piece starts and ends on character boundaries.
 */
export class Utf8Validator {
  /** Continuation bytes still expected for the pending character (0..3); -1 once invalid. */
  private pending = 0;
  /** Allowed range of the next continuation byte: narrower than 80..BF right after E0, ED, F0, F4. */
  private nextMin = 0x80;
  private nextMax = 0xbf;

  /**
   * Validates the next piece of the message. Returns false if the message can no longer be valid UTF-8,
   * and keeps returning false until `reset()`.
   */
  push(data: Uint8Array): boolean {
    if (this.pending < 0) return false;
    const length = data.length;
    let start = 0;

    // 1. Finish the character left incomplete by the previous piece (at most 3 bytes).
    if (this.pending > 0) {
      start = this.consumeContinuations(data, 0, length);
      if (start < 0) return false;
      if (this.pending > 0) return true; // the piece ended before the character did
    }
    if (start === length) return true;

    // 2. Find where the last complete character ends: look back at most 4 bytes for a lead byte.
    let end = length;
    const last = data[length - 1]!;
    if (last >= 0x80) {
      const floor = Math.max(start, length - 4);
      let lead = length - 1;
      while (lead > floor && isContinuation(data[lead]!)) lead--;
      // If the character at `lead` is cut off by the end of the piece, validate only up to it and keep
      // it as pending. Anything else (complete, too many continuations, invalid lead, no lead in the
      // last 4 bytes) is left to isUtf8 over the whole rest of the piece, which rejects what is wrong.
      if (lead + sequenceLength(data[lead]!) > length) end = lead;
    }

    // 3. The complete middle, natively. A view only when the piece does not start and end on boundaries.
    if (end > start) {
      const middle = start === 0 && end === length ? data : data.subarray(start, end);
      if (!isUtf8(middle)) {
        this.pending = -1;
        return false;
      }
    }

    // 4. The incomplete character at the end (2-3 bytes at most, its lead byte known to be C2..F4).
    if (end < length) {
      this.startCharacter(data[end]!);
      if (this.consumeContinuations(data, end + 1, length) < 0) return false;
    }
    return true;
  }

  /**
   * Ends the message: true if everything pushed since the last reset is valid UTF-8 and does not stop
   * mid-character. Also resets the validator for the next message.
   */
  end(): boolean {
    const valid = this.pending === 0;
    this.reset();
    return valid;
  }

  /** Forgets everything pushed so far (start of a new message). */
  reset(): void {
    this.pending = 0;
    this.nextMin = 0x80;
    this.nextMax = 0xbf;
  }

  /** Sets the state for a character that `lead` (C2..F4) starts. */
  private startCharacter(lead: number): void {
    this.nextMin = 0x80;
    this.nextMax = 0xbf;
    if (lead < 0xe0) {
      this.pending = 1;
    } else if (lead < 0xf0) {
      this.pending = 2;
      if (lead === 0xe0) this.nextMin = 0xa0; // E0 80..9F would be overlong
      else if (lead === 0xed) this.nextMax = 0x9f; // ED A0..BF would be a surrogate
    } else {
      this.pending = 3;
      if (lead === 0xf0) this.nextMin = 0x90; // F0 80..8F would be overlong
      else if (lead === 0xf4) this.nextMax = 0x8f; // F4 90..BF would be above U+10FFFF
    }
  }

  /**
   * Checks continuation bytes of the pending character from data[from] on, stopping at `to` or when the
   * character is complete. Returns the index after the last byte consumed, or -1 (and marks the
   * validator invalid) on a byte that does not fit.
   */
  private consumeContinuations(data: Uint8Array, from: number, to: number): number {
    let i = from;
    while (this.pending > 0 && i < to) {
      const byte = data[i]!;
      if (byte < this.nextMin || byte > this.nextMax) {
        this.pending = -1;
        return -1;
      }
      this.nextMin = 0x80;
      this.nextMax = 0xbf;
      this.pending--;
      i++;
    }
    return i;
  }
}
