/**
 * TEMPORARY stand-in for the toolkit's `trustedHeaderIdentity` (issue 18 contract), used until the toolkit
 * exports it: the user named by `header`, believed only from `trustedProxies` peers (403 otherwise), 401
 * when the header is missing, empty, repeated, over 256 bytes or holds control characters.
 */
import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { refuse, type IdentifyHook } from 'wireroom/app';

/** Peer addresses to trust, from IPs and CIDRs (v4 and v6; IPv4-mapped IPv6 peers match IPv4 entries). */
export function trustedAddresses(list: readonly string[]): (address: string | undefined) => boolean {
  const blocks = new BlockList();
  for (const entry of list) {
    const [ip, bits, extra] = entry.trim().split('/');
    const family = isIP(ip ?? '');
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
    if (family === 0 || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32) || (bits !== undefined && !/^\d+$/.test(bits))) {
      throw new RangeError(`not an IP address or CIDR: '${entry}'`);
    }
    blocks.addSubnet(ip!, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return (address) => {
    if (address === undefined) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    const a = mapped ? mapped[1]! : address;
    const family = isIP(a);
    return family !== 0 && blocks.check(a, family === 6 ? 'ipv6' : 'ipv4');
  };
}

export function trustedHeaderIdentity(options: { header: string; trustedProxies: readonly string[] }): IdentifyHook<string> {
  const header = options.header.toLowerCase();
  const trusted = trustedAddresses(options.trustedProxies);
  return (request) => {
    const req = request as unknown as IncomingMessage;
    if (!trusted(req.socket?.remoteAddress)) return refuse(403, 'Untrusted proxy address');
    const value = req.headers[header];
    // eslint-disable-next-line no-control-regex
    if (typeof value !== 'string' || value.trim() === '' || Buffer.byteLength(value) > 256 || /[\u0000-\u001f\u007f]/.test(value)) {
      return refuse(401, `Missing ${header}`);
    }
    return value.trim();
  };
}
