/** Membership tests over list-valued headers that may be repeated (RFC 7230 3.2.2: repeats = one comma list). */
import { parseTokenList, parseUpgradeList } from './header-values.js';

/**
 * Whether any instance of a list header contains `wanted` (compared case-insensitively; `wanted` must
 * be lower-case). An instance that is not a valid list counts as not containing it.
 */
function anyListContains(values: readonly string[], parse: (v: string) => string[] | null, wanted: string): boolean {
  for (const value of values) {
    const items = parse(value);
    if (items === null) continue;
    for (const item of items) if (item.toLowerCase() === wanted) return true;
  }
  return false;
}

/** Whether the `Upgrade` header instances name the `websocket` protocol. */
export function upgradesToWebSocket(upgradeValues: readonly string[]): boolean {
  return anyListContains(upgradeValues, parseUpgradeList, 'websocket');
}

/** Whether the `Connection` header instances contain the `upgrade` option. */
export function connectionHasUpgrade(connectionValues: readonly string[]): boolean {
  return anyListContains(connectionValues, parseTokenList, 'upgrade');
}
