/**
 * IP address lists (single addresses and CIDR ranges, IPv4 and IPv6) for trusted proxies. Pure: no sockets.
 * Every address is compared as 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so `10.0.0.0/8` matches the
 * `::ffff:10.1.2.3` a dual-stack socket reports, and `::ffff:10.0.0.0/104` is the same range.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ErrorCodes, WireroomError } from '../../protocol/errors.js';

/** A set of addresses: `contains(address)` (an address that does not parse is not contained). */
export interface AddressMatcher {
  contains(address: string | undefined | null): boolean;
}

interface Range { readonly bytes: Uint8Array; readonly prefix: number }

/**
 * Parses a list of IPs and CIDR ranges (`'127.0.0.1'`, `'10.0.0.0/8'`, `'::1'`, `'fd00::/8'`,
 * `'::ffff:192.168.0.0/112'`); a string is split on commas. Host bits under the prefix are ignored
 * (`10.1.2.3/8` is `10.0.0.0/8`). Throws WireroomError(WS_ERR_INVALID_ARGUMENT) on an entry that is not one,
 * and on an empty list.
 */
export function parseCidrList(list: readonly string[] | string): AddressMatcher {
  const entries = typeof list === 'string' ? list.split(',') : list;
  if (!Array.isArray(entries)) throw invalid('An address list is an array of strings (or a comma-separated string)');
  const ranges: Range[] = [];
  for (const raw of entries) {
    if (typeof raw !== 'string') throw invalid(`Not an address: ${String(raw)}`);
    const entry = raw.trim();
    if (entry === '' && typeof list === 'string') continue; // '10.0.0.1,' from a command line
    ranges.push(parseRange(entry));
  }
  if (ranges.length === 0) throw invalid('An empty address list trusts nobody: give at least one address');
  return new CidrMatcher(ranges);
}

class CidrMatcher implements AddressMatcher {
  constructor(private readonly ranges: readonly Range[]) {}

  contains(address: string | undefined | null): boolean {
    if (typeof address !== 'string') return false;
    const bytes = addressBytes(address);
    if (bytes === null) return false;
    return this.ranges.some((range) => inRange(bytes, range));
  }
}

function parseRange(entry: string): Range {
  const slash = entry.indexOf('/');
  const text = slash < 0 ? entry : entry.slice(0, slash);
  if (text.includes('%')) throw invalid(`Zone indexes are not allowed in an address list: ${entry}`);
  const bytes = addressBytes(text);
  if (bytes === null) throw invalid(`Not an IP address or CIDR range: ${JSON.stringify(entry)}`);
  const v4 = isIPv4(text);
  let prefix = 128;
  if (slash >= 0) {
    const bits = entry.slice(slash + 1);
    const max = v4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) throw invalid(`Bad prefix length in ${JSON.stringify(entry)} (0 to ${max})`);
    prefix = Number(bits) + (v4 ? 96 : 0);
    // '::ffff:10.0.0.0/8' reads like an IPv4 /8 but is ::/8 (every IPv4 peer, ::1 too): refuse, not trust everyone.
    if (!v4 && prefix < 96 && isMapped(bytes)) {
      throw invalid(`${JSON.stringify(entry)} is an IPv4-mapped address with a prefix under 96, which covers far more than its IPv4 range: write the IPv4 range (e.g. 10.0.0.0/8) or a prefix of 96 + the IPv4 prefix`);
    }
  }
  return { bytes, prefix };
}

/** Whether 16 address bytes are IPv4-mapped (::ffff:a.b.c.d). */
function isMapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

function inRange(bytes: Uint8Array, range: Range): boolean {
  let bits = range.prefix;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i]! & mask) !== (range.bytes[i]! & mask)) return false;
  }
  return true;
}

/** 16 bytes of an IPv4 (as IPv4-mapped) or IPv6 address (a zone index is dropped), or null. */
function addressBytes(text: string): Uint8Array | null {
  const percent = text.indexOf('%');
  const address = percent < 0 ? text : text.slice(0, percent);
  const out = new Uint8Array(16);
  if (isIPv4(address)) {
    out[10] = 0xff;
    out[11] = 0xff;
    writeV4(address, out, 12);
    return out;
  }
  if (!isIPv6(address)) return null;
  // An embedded dotted quad at the end (::ffff:1.2.3.4) is the last two groups.
  let groups = address;
  let tail: string | null = null;
  const lastColon = address.lastIndexOf(':');
  if (address.indexOf('.', lastColon) >= 0) {
    tail = address.slice(lastColon + 1);
    groups = `${address.slice(0, lastColon + 1)}0:0`;
  }
  const double = groups.indexOf('::');
  const head = double < 0 ? groups.split(':') : splitNonEmpty(groups.slice(0, double));
  const rest = double < 0 ? [] : splitNonEmpty(groups.slice(double + 2));
  const fill = 8 - head.length - rest.length;
  const words = [...head, ...Array<string>(double < 0 ? 0 : fill).fill('0'), ...rest];
  if (words.length !== 8) return null;
  for (let i = 0; i < 8; i++) {
    const word = parseInt(words[i]!, 16);
    out[i * 2] = word >> 8;
    out[i * 2 + 1] = word & 0xff;
  }
  if (tail !== null) writeV4(tail, out, 12);
  return out;
}

function splitNonEmpty(text: string): string[] {
  return text === '' ? [] : text.split(':');
}

function writeV4(address: string, out: Uint8Array, at: number): void {
  const octets = address.split('.');
  for (let i = 0; i < 4; i++) out[at + i] = Number(octets[i]);
}

function invalid(message: string): WireroomError {
  return new WireroomError(ErrorCodes.INVALID_ARGUMENT, message);
}
