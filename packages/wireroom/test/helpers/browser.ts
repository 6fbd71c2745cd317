// Launches Debian's Chromium through playwright-core for the browser end-to-end tests.
// When Chromium is missing, tests skip locally with a loud message and fail in CI
// (WIREROOM_REQUIRE_BROWSER=1, set by .ci/run).
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Where Debian's `chromium` package installs the browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags for a quiet, deterministic headless browser in containers and CI. */
export const CHROMIUM_ARGS = [
  '--no-sandbox', // containers often run as root, where Chromium's sandbox cannot start
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export type BrowserAvailability = { ok: true } | { ok: false; reason: string };

/** Tells whether the browser tests can run here, and if not, what to install. */
export function browserAvailable(): BrowserAvailability {
  if (!existsSync(CHROMIUM_PATH)) {
    return { ok: false, reason: `Chromium not installed at ${CHROMIUM_PATH}: apt-get install chromium` };
  }
  return { ok: true };
}

/** True when a missing browser must fail the run instead of skipping (CI). */
export function browserRequired(): boolean {
  return Boolean(process.env.WIREROOM_REQUIRE_BROWSER);
}

/** Launches headless Chromium. Close it with `browser.close()` (in an `after` hook). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true, timeout: 30_000 });
}

/**
 * For a test body: returns true when the test can go on. Otherwise skips the test with a loud
 * message, or throws when the browser is required (CI).
 */
export function requireBrowserOrSkip(t: { skip(message?: string): void }): boolean {
  const avail = browserAvailable();
  if (avail.ok) return true;
  if (browserRequired()) throw new Error(`WIREROOM_REQUIRE_BROWSER is set but ${avail.reason}`);
  console.warn(`\n!!! SKIPPING browser tests: ${avail.reason}\n`);
  t.skip(avail.reason);
  return false;
}
