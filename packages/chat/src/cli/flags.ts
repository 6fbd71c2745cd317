/** Flag checks of `wireroom-chat` (the subset of the toolkit's src/cli/flags.ts that the chat's CLI uses). */
export class UsageError extends Error {}

/** Parses an integer flag within [min, max]. */
export function intFlag(value: string | boolean | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${String(value)}'`);
  }
  return n;
}
