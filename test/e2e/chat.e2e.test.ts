// Browser end-to-end tests of the chat page (src/web/public) against the real chat server, in headless
// Chromium through playwright-core. Locally they skip loudly without /usr/bin/chromium; in CI
// (WIREROOM_REQUIRE_BROWSER=1) a missing browser fails them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { browserAvailable, browserRequired, launchBrowser } from '../helpers/browser.js';
import { startChatServer } from '../../src/chat/server.js';

const avail = browserAvailable();
const skip = !avail.ok && !browserRequired() ? avail.reason : false;
if (skip) console.warn(`\n!!! SKIPPING browser end-to-end tests: ${skip}\n`);

const STEP_TIMEOUT = 10_000; // any single wait in a page
const TEST_TIMEOUT = 60_000;

type Server = { url: string; close(): Promise<void> };

describe('chat page in Chromium', { skip }, () => {
  let browser: Browser | undefined;
  let server: Server | undefined;
  let dir = '';
  let dbPath = '';
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  let roomSeq = 0;

  before(async () => {
    if (!avail.ok) throw new Error(`WIREROOM_REQUIRE_BROWSER is set but ${avail.reason}`);
    dir = mkdtempSync(join(tmpdir(), 'wireroom-e2e-'));
    dbPath = join(dir, 'chat.db');
    server = await startChatServer({ port: 0, host: '127.0.0.1', dbPath });
    browser = await launchBrowser();
  });

  after(async () => {
    for (const ctx of contexts) await ctx.close().catch(() => {});
    await browser?.close().catch(() => {});
    await server?.close().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh room per test keeps the tests independent although they share one server. */
  const newRoom = (label: string) => `e2e-${label}-${process.pid}-${++roomSeq}`;

  /** A new browser profile (own localStorage) with the chat page open in `room`, named `name`, online. */
  async function openChat(room: string, name: string, ctx?: BrowserContext): Promise<Page> {
    if (!ctx) {
      ctx = await browser!.newContext({ viewport: { width: 1000, height: 700 } });
      contexts.push(ctx);
    }
    const page = await ctx.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
    await page.goto(`${server!.url}/#${room}`);
    const dialog = page.locator('#name-dialog');
    if (await dialog.evaluate((d: HTMLDialogElement) => d.open)) {
      await page.fill('#name-input', name);
      await page.press('#name-input', 'Enter');
    }
    await waitState(page, 'online');
    await page.waitForSelector('#members .member.me');
    return page;
  }

  async function waitState(page: Page, state: string, timeout = STEP_TIMEOUT) {
    await page.waitForSelector(`#conn[data-state="${state}"]`, { timeout });
  }

  async function send(page: Page, text: string) {
    await page.fill('#composer-input', text);
    await page.press('#composer-input', 'Enter');
  }

  /** The row showing exactly `text`. */
  const row = (page: Page, text: string) =>
    page.locator('#messages > li.msg').filter({ has: page.locator('.text', { hasText: text }) });

  async function texts(page: Page): Promise<string[]> {
    return page.locator('#messages > li.msg .text').allTextContents();
  }

  it('two pages chat with each other: own messages marked own and delivered', { timeout: TEST_TIMEOUT }, async () => {
    const room = newRoom('two');
    const ada = await openChat(room, 'Ada');
    const bob = await openChat(room, 'Bob');

    // Presence: each sees the other.
    await ada.locator('#members .member-name', { hasText: 'Bob' }).waitFor();
    await bob.locator('#members .member-name', { hasText: 'Ada' }).waitFor();

    await send(ada, 'hello from Ada');
    await row(bob, 'hello from Ada').waitFor();
    await ada.locator('#messages li.msg.own[data-status="delivered"]', { hasText: 'hello from Ada' }).waitFor();
    assert.equal(await row(bob, 'hello from Ada').getAttribute('class'), 'msg', 'not own on the other page');
    assert.equal(await row(bob, 'hello from Ada').locator('.author').textContent(), 'Ada');

    await send(bob, 'hi Ada, Bob here');
    await row(ada, 'hi Ada, Bob here').waitFor();
    await bob.locator('#messages li.msg.own[data-status="delivered"]', { hasText: 'hi Ada, Bob here' }).waitFor();
    assert.doesNotMatch(await row(ada, 'hi Ada, Bob here').getAttribute('class') ?? '', /\bown\b/);

    // Both pages show the same conversation in the same order; the input was cleared and kept focus.
    assert.deepEqual(await texts(ada), ['hello from Ada', 'hi Ada, Bob here']);
    assert.deepEqual(await texts(bob), ['hello from Ada', 'hi Ada, Bob here']);
    assert.equal(await ada.inputValue('#composer-input'), '');
    assert.equal(await ada.evaluate(() => document.activeElement?.id), 'composer-input');
    assert.deepEqual(pageErrors, []);
  });

  it('a reload shows the history, without duplicates, own messages still marked', { timeout: TEST_TIMEOUT }, async () => {
    const room = newRoom('reload');
    const ada = await openChat(room, 'Ada');
    for (const text of ['one', 'two', 'three']) {
      await send(ada, text);
      await ada.locator('#messages li.msg.own[data-status="delivered"]', { hasText: text }).waitFor();
    }

    await ada.reload();
    await waitState(ada, 'online');
    await row(ada, 'three').waitFor();
    assert.deepEqual(await texts(ada), ['one', 'two', 'three']);
    assert.equal(await ada.locator('#messages li.msg.own[data-status="delivered"]').count(), 3);
    assert.equal(await ada.evaluate(() => (document.getElementById('name-dialog') as HTMLDialogElement).open), false,
      'the display name is remembered');

    // A newcomer (fresh profile) gets the history too, as someone else's messages.
    const cat = await openChat(room, 'Cat');
    await row(cat, 'three').waitFor();
    assert.deepEqual(await texts(cat), ['one', 'two', 'three']);
    assert.equal(await cat.locator('#messages li.msg.own').count(), 0);
    assert.deepEqual(pageErrors, []);
  });

  it('user text is rendered as text and runs nothing', { timeout: TEST_TIMEOUT }, async () => {
    const room = newRoom('xss');
    const evil = '<img src=x onerror=alert(1)>';
    const mallory = await openChat(room, '<b>Mallory</b>');
    const victim = await openChat(room, 'Victim');
    const dialogs: string[] = [];
    for (const page of [mallory, victim]) {
      page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
    }

    await send(mallory, evil);
    await row(victim, evil).waitFor();
    await mallory.locator('#messages li.msg.own[data-status="delivered"]').waitFor();
    await victim.waitForTimeout(500); // give a (wrongly) created <img> time to fail loading and fire onerror

    for (const page of [mallory, victim]) {
      assert.equal(await row(page, evil).locator('.text').textContent(), evil);
      assert.equal(await page.locator('#messages img, #members img, #messages b, #members b').count(), 0);
      assert.equal(await page.evaluate(() => document.querySelectorAll('img').length), 0);
    }
    assert.equal(await victim.locator('#members .member-name', { hasText: '<b>Mallory</b>' }).count(), 1);
    assert.deepEqual(dialogs, []);
    assert.deepEqual(pageErrors, []);
  });

  it('server down and up: reconnecting, then online, offline message delivered exactly once', { timeout: TEST_TIMEOUT }, async () => {
    const room = newRoom('restart');
    const ada = await openChat(room, 'Ada');
    const bob = await openChat(room, 'Bob');
    await ada.evaluate(() => {
      const w = window as unknown as { wireroom: { client: EventTarget }; states: string[] };
      w.states = [];
      w.wireroom.client.addEventListener('state', (e) => w.states.push((e as CustomEvent).detail.state));
    });
    await send(ada, 'before restart');
    await row(bob, 'before restart').waitFor();

    const port = Number(new URL(server!.url).port);
    await server!.close();
    server = undefined;
    await waitState(ada, 'reconnecting');
    await waitState(bob, 'reconnecting');

    await send(ada, 'typed while the server was down');
    const pending = ada.locator('#messages li.msg.own', { hasText: 'typed while the server was down' });
    await pending.waitFor();
    assert.equal(await pending.getAttribute('data-status'), 'pending');

    server = await startChatServer({ port, host: '127.0.0.1', dbPath });
    // Backoff is capped by attempts so far (well under 10 s here); allow some slack.
    await waitState(ada, 'online', 20_000);
    await waitState(bob, 'online', 20_000);
    await ada.locator('#messages li.msg.own[data-status="delivered"]', { hasText: 'typed while the server was down' }).waitFor();
    await row(bob, 'typed while the server was down').waitFor();

    const states = await ada.evaluate(() => (window as unknown as { states: string[] }).states);
    const down = states.indexOf('reconnecting');
    assert.ok(down >= 0 && states.indexOf('online', down) > down, `states: ${states.join(' -> ')}`);

    // Exactly once: on both pages now, and in the stored history a reload shows.
    await bob.waitForTimeout(300);
    const expected = ['before restart', 'typed while the server was down'];
    assert.deepEqual(await texts(ada), expected);
    assert.deepEqual(await texts(bob), expected);
    await bob.reload();
    await waitState(bob, 'online');
    await row(bob, 'typed while the server was down').waitFor();
    assert.deepEqual(await texts(bob), expected);
    assert.equal(await ada.evaluate(() => (window as unknown as { wireroom: { client: { pending(): unknown[] } } }).wireroom.client.pending().length), 0);
    assert.deepEqual(pageErrors, []);
  });
});
