// Chromium and the chat server negotiate permessage-deflate by default, and a conversation stays exact
// when the server rebuilds its zlib contexts from the kept windows before every message (hibernation).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { browserAvailable, browserRequired, launchBrowser } from '../../../wireroom/test/helpers/browser.js';
import { startChatServer, type ChatServer, type ChatServerOptions } from '../../src/chat/server.js';

const avail = browserAvailable();
const skip: string | false = !avail.ok && !browserRequired() ? avail.reason : false;
if (skip) console.warn(`\n!!! SKIPPING browser deflate tests: ${skip}\n`);

interface PageResult {
  extensions: string;
  texts: string[];
  /** Acks received: direct replies, compressed per connection (broadcasts are prepared frames). */
  acks: number;
  error?: string;
}

describe('chat permessage-deflate in Chromium', { skip, timeout: 120_000 }, () => {
  let browser: Browser;
  let dir: string;
  const servers: ChatServer[] = [];

  before(async () => {
    browser = await launchBrowser();
    dir = mkdtempSync(join(tmpdir(), 'wireroom-deflate-e2e-'));
  });
  after(async () => {
    await browser?.close();
    for (const server of servers) await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(name: string, options: Partial<ChatServerOptions> = {}): Promise<ChatServer> {
    const server = await startChatServer({
      port: 0, host: '127.0.0.1', dbPath: join(dir, `${name}.db`), heartbeatInterval: 0,
      limits: { ratePerSecond: 10_000, burst: 10_000, requestsPerSecond: 10_000, requestBurst: 10_000 },
      ...options,
    });
    servers.push(server);
    return server;
  }

  /** Opens the page of `server`, then a WebSocket of its own from the page; sends `texts` and collects their broadcasts. */
  async function converse(server: ChatServer, texts: string[]): Promise<PageResult> {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${server.url}/`);
      return await page.evaluate(
        ({ url, texts }) =>
          new Promise<PageResult>((resolve) => {
            const ws = new WebSocket(url);
            const received: string[] = [];
            let acks = 0;
            const timer = setTimeout(() => resolve({ extensions: ws.extensions, texts: received, acks, error: 'timeout' }), 30_000);
            ws.onerror = () => resolve({ extensions: ws.extensions, texts: received, acks, error: 'socket error' });
            ws.onclose = (event) => {
              if (event.code !== 1000 && event.code !== 1005) resolve({ extensions: ws.extensions, texts: received, acks, error: `closed ${event.code}` });
            };
            ws.onmessage = (event) => {
              const m = JSON.parse(String(event.data)) as { type: string; text?: string; uid?: string };
              if (m.type === 'welcome') ws.send(JSON.stringify({ type: 'join', room: 'lobby', name: 'Deflate' }));
              else if (m.type === 'joined') texts.forEach((text, i) => ws.send(JSON.stringify({ type: 'message', room: 'lobby', clientId: `c${i}`, text })));
              else if (m.type === 'ack') acks++;
              else if (m.type === 'message') received.push(m.text!);
              if (received.length === texts.length && acks === texts.length) {
                clearTimeout(timer);
                resolve({ extensions: ws.extensions, texts: received, acks });
                ws.close();
              }
            };
          }),
        { url: `${server.url.replace(/^http/, 'ws')}/chat`, texts },
      );
    } finally {
      await context.close();
    }
  }

  it('negotiates permessage-deflate with Chromium by default', async () => {
    const server = await start('default');
    const result = await converse(server, ['hello, compressed world']);
    assert.equal(result.error, undefined);
    assert.match(result.extensions, /^permessage-deflate/);
    assert.match(result.extensions, /server_max_window_bits=13/);
    assert.deepEqual(result.texts, ['hello, compressed world']);
  });

  it('perMessageDeflate: false negotiates nothing', async () => {
    const server = await start('off', { perMessageDeflate: false });
    const result = await converse(server, ['plain']);
    assert.equal(result.extensions, '');
    assert.deepEqual(result.texts, ['plain']);
  });

  it('stays exact with Chromium when the server rebuilds its contexts before every message', async () => {
    const server = await start('hibernating', { perMessageDeflate: { hibernateAfterMs: 0 } });
    // Repeats of earlier texts (back-references across messages), growing past the 8 KiB window.
    const texts = Array.from({ length: 40 }, (_, i) => `${'standup notes, item '.repeat(1 + (i % 7))}#${i} ${'x'.repeat((i * 37) % 300)}`);
    const result = await converse(server, texts);
    assert.equal(result.error, undefined);
    assert.match(result.extensions, /^permessage-deflate/);
    assert.deepEqual(result.texts, texts);
    assert.equal(result.acks, texts.length);
  });
});
