// The chat page in Chromium over HTTPS with HTTP/2: the page arrives over h2, and because the server advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL, Chromium opens the chat WebSocket as an extended CONNECT stream of the page's
// connection (RFC 8441): /metrics counts it as transport="h2". Self-signed certificate: --ignore-certificate-errors.
// Locally it skips loudly without /usr/bin/chromium; in CI (WIREROOM_REQUIRE_BROWSER=1) a missing browser fails it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { browserAvailable, CHROMIUM_ARGS, CHROMIUM_PATH } from '../../../wireroom/test/helpers/browser.js';
import { selfSignedCert } from '../../../wireroom/test/helpers/http2.js';
import { startChatServer, type ChatServer } from '../../src/chat/server.js';
import { browserSkip, delivered, send, waitState, TEST_TIMEOUT } from './chat-harness.js';

describe('chat page in Chromium over HTTP/2 (RFC 8441)', { skip: browserSkip, timeout: 2 * TEST_TIMEOUT }, () => {
  let browser: Browser | undefined;
  let server: ChatServer | undefined;
  let dir = '';

  before(async () => {
    const avail = browserAvailable();
    if (!avail.ok) throw new Error(`WIREROOM_REQUIRE_BROWSER is set but ${avail.reason}`);
    dir = mkdtempSync(join(tmpdir(), 'wireroom-chat-h2-'));
    server = await startChatServer({ port: 0, host: '127.0.0.1', dbPath: join(dir, 'chat.db'), tls: selfSignedCert() });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, '--ignore-certificate-errors'], headless: true, timeout: 30_000 });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.close().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function metric(transport: string): Promise<number> {
    // Read by Node (not the page): /metrics over HTTP/1.1 does not disturb the page's connection.
    const response = await fetchInsecure(`${server!.url}/metrics`);
    return Number(new RegExp(`^wireroom_connections_by_transport\\{transport="${transport}"\\} (\\d+)$`, 'm').exec(response)?.[1] ?? NaN);
  }

  it('loads the page over h2 and chats over a WebSocket that is a stream of the same connection', { timeout: TEST_TIMEOUT }, async () => {
    const ctx = await browser!.newContext({ ignoreHTTPSErrors: true });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.addInitScript(() => localStorage.setItem('wireroom:name', 'Hana'));
    await page.goto(`${server!.url}/#h2room`, { waitUntil: 'domcontentloaded' });
    const protocol = await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol);
    assert.equal(protocol, 'h2', 'the page came over HTTP/2');
    await waitState(page, 'online');
    await send(page, 'over one connection');
    await delivered(page, 'over one connection').waitFor();
    assert.equal(await metric('h2'), 1, 'the WebSocket is an HTTP/2 stream');
    assert.equal(await metric('h1'), 0);
    await ctx.close();
    const deadline = Date.now() + 5000;
    while ((await metric('h2')) !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await metric('h2'), 0, 'closed with the page');
    assert.deepEqual(errors, []);
  });
});

/** GET over HTTPS with the test's self-signed certificate trusted. */
async function fetchInsecure(url: string): Promise<string> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: selfSignedCert().cert, servername: 'localhost' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}
