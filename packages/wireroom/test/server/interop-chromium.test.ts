// Headless Chromium against our server: a page served by a node:http server that the WebSocketServer attaches
// to (so the Origin is same-origin and the default origin policy applies) connects, sends text and binary,
// receives echoes and closes cleanly; with permessage-deflate enabled on the server Chromium negotiates it.
// Skips loudly without /usr/bin/chromium locally; fails in CI (WIREROOM_REQUIRE_BROWSER=1).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { browserAvailable, browserRequired, launchBrowser } from '../helpers/browser.js';
import { WebSocketServer } from '../../src/server/websocket-server.js';
import type { WebSocket as OurWebSocket } from '../../src/connection/websocket.js';
import { HOST, within } from '../helpers/loopback.js';

const avail = browserAvailable();
const skip = !avail.ok && !browserRequired() ? avail.reason : false;
if (skip) console.warn(`\n!!! SKIPPING Chromium interop tests: ${skip}\n`);

const PAGE = '<!doctype html><meta charset="utf-8"><title>wireroom interop</title><p>interop</p>';

interface Site {
  http: Server;
  wss: WebSocketServer;
  origin: string;
  serverSide: Array<{ ws: OurWebSocket; origin: string | undefined; close?: [number, string, boolean] }>;
}

async function startSite(perMessageDeflate: boolean): Promise<Site> {
  const http = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate, heartbeatInterval: 0 });
  const serverSide: Site['serverSide'] = [];
  wss.on('connection', (ws: OurWebSocket, req: { headers: Record<string, string | string[] | undefined> }) => {
    const entry: Site['serverSide'][number] = { ws, origin: req.headers.origin as string | undefined };
    serverSide.push(entry);
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    ws.on('close', (code: number, reason: string, wasClean: boolean) => (entry.close = [code, reason, wasClean]));
  });
  await new Promise<void>((resolve) => http.listen(0, HOST, resolve));
  const port = (http.address() as { port: number }).port;
  return { http, wss, origin: `http://${HOST}:${port}`, serverSide };
}

async function stopSite(site: Site | undefined): Promise<void> {
  if (!site) return;
  await site.wss.close({ timeout: 500 });
  site.http.closeAllConnections();
  await new Promise<void>((resolve) => site.http.close(() => resolve()));
}

/** Runs in the page: open, send text + binary, collect echoes, close with 4000. */
async function pageScript(): Promise<unknown> {
  const ws = new WebSocket(`ws://${location.host}/ws`);
  ws.binaryType = 'arraybuffer';
  const messages: Array<string | number[]> = [];
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('page timed out')), 8000);
    ws.onerror = () => reject(new Error('websocket error in page'));
    ws.onopen = () => {
      ws.send('hello from chromium ✓');
      ws.send(new Uint8Array([0, 1, 2, 253, 254, 255]));
      ws.send('x'.repeat(100_000));
    };
    ws.onmessage = (e: MessageEvent) => {
      messages.push(typeof e.data === 'string' ? e.data : Array.from(new Uint8Array(e.data as ArrayBuffer)));
      if (messages.length === 3) ws.close(4000, 'page done');
    };
    ws.onclose = (e: CloseEvent) => {
      clearTimeout(timer);
      resolve({ messages, extensions: ws.extensions, code: e.code, reason: e.reason, wasClean: e.wasClean });
    };
  });
}

describe('Chromium -> our server (attached to node:http)', { skip }, () => {
  let browser: Browser | undefined;
  const sites: Site[] = [];
  before(async () => {
    if (!avail.ok) throw new Error(`WIREROOM_REQUIRE_BROWSER is set but ${avail.reason}`);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close().catch(() => {});
    for (const site of sites) await stopSite(site).catch(() => {});
  });

  it('a page on another origin is refused (403): the browser sees a failed connection, no message gets through', { timeout: 45_000 }, async () => {
    const site = await startSite(false);
    sites.push(site);
    const rejected: Array<[number, string]> = [];
    site.wss.on('rejected', (status: number, _reason: string, req: { headers: Record<string, unknown> }) => rejected.push([status, String(req.headers.origin)]));
    // Another origin: same host, another port.
    const other = createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    });
    await new Promise<void>((resolve) => other.listen(0, HOST, resolve));
    const otherOrigin = `http://${HOST}:${(other.address() as { port: number }).port}`;
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${otherOrigin}/`);
      const target = `ws://${new URL(site.origin).host}/ws`;
      const result = (await within(page.evaluate(async (url: string) => {
        const ws = new WebSocket(url);
        return await new Promise((resolve) => {
          let opened = false;
          ws.onopen = () => (opened = true);
          ws.onclose = (e: CloseEvent) => resolve({ opened, code: e.code, wasClean: e.wasClean });
        });
      }, target), 15_000, 'cross-origin page')) as { opened: boolean; code: number; wasClean: boolean };
      assert.deepEqual(result, { opened: false, code: 1006, wasClean: false });
      assert.deepEqual(rejected, [[403, otherOrigin]]);
      assert.equal(site.serverSide.length, 0);
    } finally {
      await context.close().catch(() => {});
      other.closeAllConnections();
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });

  for (const deflate of [false, true]) {
    it(`echoes text and binary and closes cleanly (permessage-deflate ${deflate ? 'enabled' : 'disabled'})`, { timeout: 45_000 }, async () => {
      const site = await startSite(deflate);
      sites.push(site);
      const context = await browser!.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${site.origin}/`);
        const result = (await within(page.evaluate(pageScript), 15_000, 'page script')) as {
          messages: Array<string | number[]>; extensions: string; code: number; reason: string; wasClean: boolean;
        };
        assert.deepEqual(result.messages, ['hello from chromium ✓', [0, 1, 2, 253, 254, 255], 'x'.repeat(100_000)]);
        assert.equal(result.code, 4000);
        assert.equal(result.wasClean, true);
        const entry = site.serverSide.at(-1)!;
        assert.equal(entry.origin, site.origin, 'the browser sent its same-origin Origin');
        if (deflate) {
          assert.match(result.extensions, /permessage-deflate/);
          assert.match(entry.ws.extensions, /^permessage-deflate/);
        } else {
          assert.equal(result.extensions, '');
          assert.equal(entry.ws.extensions, '');
        }
        await within((async () => { while (!entry.close) await new Promise((r) => setTimeout(r, 10)); })(), 5000, 'server close');
        assert.deepEqual(entry.close, [4000, 'page done', true]);
      } finally {
        await context.close().catch(() => {});
      }
    });
  }
});
