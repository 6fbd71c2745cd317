/**
 * The Host check against DNS rebinding. A page on `attacker.example` can make its own name resolve to
 * 127.0.0.1 (or any address the victim's browser reaches) and then talk to a local server "same-origin":
 * the browser sends `Host: attacker.example:PORT` and `Origin: http://attacker.example:PORT`, so an Origin
 * check that compares the two passes. Only the Host header tells the server that the name is foreign.
 *
 * Default policy ('auto'): the server answers to
 * - any IP literal (`127.0.0.1`, `[::1]`, `192.168.1.5`): a rebinding attack needs a DNS name, so a Host that
 *   is an address cannot come from one (this also keeps port-forwarded and NAT'ed addresses working);
 * - `localhost` and `*.localhost` when the connection arrived on a loopback address;
 * - the names it was told it is bound to (e.g. `listen(port, 'localhost')`), and, when the connection arrived on
 *   a non-loopback address, the machine's host name (`os.hostname()`, with and without `.local`).
 * Anything else needs `allowedHosts` (names, `.example.com` for a domain and its subdomains, or '*').
 */
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';

/** Which Host names the server answers to. */
export type HostPolicy =
  | 'auto'
  | '*'
  | readonly string[]
  | ((host: string | undefined, localAddress: string | undefined) => boolean);

/** A Host header check: `host` is the header as received, `localAddress` the address the connection arrived on. */
export type HostCheck = (host: string | undefined, localAddress: string | undefined) => boolean;

/** The status and reason of a refused Host (421 Misdirected Request: this server does not serve that name). */
export const HOST_REFUSED = {
  status: 421,
  reason: 'Host not allowed: this server does not answer to that name (DNS rebinding protection; see allowedHosts)',
} as const;

/**
 * The host name of a Host header value (`Name.Example:8080` -> `name.example`, `[::1]:80` -> `::1`), lower
 * case, one trailing dot removed; '' for an empty or malformed value. A hand-written linear parser.
 */
export function hostnameOf(host: string): string {
  let name: string;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return '';
    const rest = host.slice(end + 1);
    if (rest !== '' && !isPort(rest)) return '';
    name = host.slice(1, end);
    return isIP(name) === 6 ? name.toLowerCase() : '';
  }
  const colon = host.indexOf(':');
  if (colon >= 0) {
    if (!isPort(host.slice(colon))) return '';
    name = host.slice(0, colon);
  } else {
    name = host;
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  return name.toLowerCase();
}

/** `:` followed by 1-5 digits. */
function isPort(s: string): boolean {
  if (s.length < 2 || s.length > 6 || s.charCodeAt(0) !== 0x3a) return false;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** Whether an address (as in `socket.localAddress`) is a loopback one: 127.0.0.0/8, ::1, ::ffff:127.x. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.toLowerCase();
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}

/** `localhost`, `localhost.` and any `*.localhost` name (RFC 6761: they resolve to loopback). */
function isLocalhostName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost');
}

/** Whether `name` matches an `allowedHosts` entry: exact, or `.example.com` for the domain and its subdomains. */
function matchesEntry(name: string, entry: string): boolean {
  const e = hostnameOf(entry.startsWith('.') ? entry.slice(1) : entry);
  if (e === '') return false;
  if (name === e) return true;
  return entry.startsWith('.') && name.endsWith(`.${e}`);
}

/**
 * Builds the check of a policy. `boundNames`: names the server was bound with (e.g. the `host` given to
 * listen), also allowed under 'auto'. A list is allowed in addition to the 'auto' names.
 */
export function createHostCheck(policy: HostPolicy = 'auto', boundNames: readonly string[] = []): HostCheck {
  if (policy === '*') return () => true;
  if (typeof policy === 'function') return (host, localAddress) => policy(host, localAddress) === true;
  const extra = policy === 'auto' ? [] : [...policy];
  if (extra.includes('*')) return () => true;
  const named = boundNames.map((n) => hostnameOf(n)).filter((n) => n !== '' && isIP(n) === 0);
  const machine = osHostname().toLowerCase();
  return (host, localAddress) => {
    if (host === undefined) return true; // HTTP/1.0 without Host: not a browser, nothing to rebind
    const name = hostnameOf(host);
    if (name === '') return false;
    if (isIP(name) !== 0) return true;
    const loopback = isLoopbackAddress(localAddress);
    if (isLocalhostName(name) && loopback) return true;
    if (named.includes(name)) return true;
    if (!loopback && machine !== '' && (name === machine || name === `${machine}.local`)) return true;
    return extra.some((entry) => matchesEntry(name, entry));
  };
}
