/** Membership tests over list-valued headers that may be repeated (RFC 7230 3.2.2: repeats = one comma list). */
import { parseTokenList, parseUpgradeList } from './header-values.js';

/**
 * Whether one instance of a list header contains `wanted` (compared case-insensitively; `wanted` must be
 * lower-case). A value that is not a valid list does not contain it. A value that is just `wanted` (the usual
 * `Upgrade: websocket`, `Connection: Upgrade`) is answered without parsing a list.
 */
function listContains(value: string, parse: (v: string) => string[] | null, wanted: string): boolean {
  if (value.length === wanted.length && value.toLowerCase() === wanted) return true;
  const items = parse(value);
  if (items === null) return false;
  for (const item of items) if (item.toLowerCase() === wanted) return true;
  return false;
}

/** Whether one `Upgrade` header instance names the `websocket` protocol. */
export function upgradeValueHasWebSocket(value: string): boolean {
  return listContains(value, parseUpgradeList, 'websocket');
}

/** Whether one `Connection` header instance contains the `upgrade` option. */
export function connectionValueHasUpgrade(value: string): boolean {
  return listContains(value, parseTokenList, 'upgrade');
}

/** Whether the `Upgrade` header instances name the `websocket` protocol. */
export function upgradesToWebSocket(upgradeValues: readonly string[]): boolean {
  return upgradeValues.some(upgradeValueHasWebSocket);
}

/** Whether the `Connection` header instances contain the `upgrade` option. */
export function connectionHasUpgrade(connectionValues: readonly string[]): boolean {
  return connectionValues.some(connectionValueHasUpgrade);
}
