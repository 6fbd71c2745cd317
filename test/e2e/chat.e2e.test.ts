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

// The suite's own timeout: the default per-test timeout of the runner would otherwise bound all tests together.
describe('chat page in Chromium', { skip, timeout: 10 * TEST_TIMEOUT }, () => {
  let browser: Browser | undefined;
  let server: Server | undefined;
  let dir = '';
  let dbPath = '';
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  const extraServers: Server[] = [];
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
    for (const s of extraServers) await s.close().catch(() => {});
    await browser?.close().catch(() => {});
    await server?.close().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh room per test keeps the tests independent although they share one server. */
  const newRoom = (label: string) => `e2e-${label}-${process.pid}-${++roomSeq}`;

  /** A new browser profile (own localStorage) with the chat page open in `room`, named `name`, online. */
  async function openChat(room: string, name: string, ctx?: BrowserContext, baseUrl?: string): Promise<Page> {
    if (!ctx) {
      ctx = await browser!.newContext({ viewport: { width: 1000, height: 700 } });
      contexts.push(ctx);
    }
    const page = await ctx.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
    await page.goto(`${baseUrl ?? server!.url}/#${room}`);
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
    page.locator('#messages > li.msg').filter({ has: page.locator('.text', { hasText: exactly(text) }) });
  const exactly = (text: string) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

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

  it('keyboard: Enter sends, Shift+Enter adds a line; the text keeps its line break', { timeout: TEST_TIMEOUT }, async () => {
    const room = newRoom('keys');
    const ada = await openChat(room, 'Ada');
    await ada.focus('#composer-input');
    await ada.keyboard.type('first line');
    await ada.keyboard.press('Shift+Enter');
    await ada.keyboard.type('second line');
    assert.equal(await ada.locator('#messages li.msg').count(), 0, 'Shift+Enter did not send');
    await ada.keyboard.press('Enter');
    const sent = ada.locator('#messages li.msg.own[data-status="delivered"]');
    await sent.waitFor();
    assert.equal(await sent.locator('.text').textContent(), 'first line\nsecond line');
    assert.equal(await ada.inputValue('#composer-input'), '');
    assert.deepEqual(pageErrors, []);
  });

  it('switching the URL hash switches rooms', { timeout: TEST_TIMEOUT }, async () => {
    const red = newRoom('red');
    const blue = newRoom('blue');
    const ada = await openChat(red, 'Ada');
    const bob = await openChat(blue, 'Bob');
    await send(ada, 'in red');
    await ada.locator('#messages li.msg.own[data-status="delivered"]').waitFor();

    await ada.evaluate((r) => { location.hash = r; }, blue);
    await ada.waitForFunction((r) => document.getElementById('room-name')?.textContent === r, blue);
    await bob.locator('#members .member-name', { hasText: 'Ada' }).waitFor();
    assert.deepEqual(await texts(ada), []);
    assert.equal(await ada.title(), `#${blue} · Wireroom`);
    await send(ada, 'in blue');
    await row(bob, 'in blue').waitFor();

    await ada.goBack(); // the hash history works like any link
    await ada.waitForFunction((r) => document.getElementById('room-name')?.textContent === r, red);
    await row(ada, 'in red').waitFor();
    assert.deepEqual(await texts(ada), ['in red']);
    await bob.locator('#members .member-name', { hasText: 'Ada' }).waitFor({ state: 'detached' });
    assert.deepEqual(pageErrors, []);
  });

  it('"load older messages" pages back through the history', { timeout: TEST_TIMEOUT }, async () => {
    // A server without rate limits, to seed a long history quickly.
    const big = await startChatServer({ port: 0, host: '127.0.0.1', dbPath: join(dir, 'big.db'), limits: { ratePerSecond: 10_000, burst: 10_000 } });
    extraServers.push(big);
    const room = newRoom('older');
    const seeder = await openChat(room, 'Seeder', undefined, big.url);
    await seeder.evaluate(async (r) => {
      const { client } = (window as unknown as { wireroom: { client: { send(r: string, t: string): unknown; pending(): unknown[] } } }).wireroom;
      for (let i = 1; i <= 130; i++) client.send(r, `message ${i}`);
      while (client.pending().length) await new Promise((res) => setTimeout(res, 50));
    }, room);

    const ada = await openChat(room, 'Ada', undefined, big.url);
    await row(ada, 'message 130').waitFor();
    assert.equal(await ada.locator('#messages li.msg').count(), 100, 'the last 100 on join');
    const button = ada.locator('#load-older');
    await button.waitFor();
    await button.focus(); // scrolls it into view, as a keyboard user reaching it would
    const anchor = row(ada, 'message 40'); // (not 31: it becomes a grouped continuation of 30 and loses its header)
    const topBefore = await anchor.evaluate((el) => el.getBoundingClientRect().top);
    await ada.keyboard.press('Enter');
    await row(ada, 'message 1').waitFor({ state: 'attached' });
    const all = await texts(ada);
    assert.equal(all.length, 130);
    assert.deepEqual(all.slice(0, 3), ['message 1', 'message 2', 'message 3']);
    assert.equal(new Set(all).size, 130, 'no duplicates');
    await button.waitFor({ state: 'hidden' });
    assert.equal(await ada.locator('#room-start').isVisible(), true, '"This is the start of #room" above message 1');
    const topAfter = await anchor.evaluate((el) => el.getBoundingClientRect().top);
    assert.ok(Math.abs(topAfter - topBefore) < 2, `the view stays on the same messages (${topBefore} -> ${topAfter})`);
    assert.deepEqual(pageErrors, []);
  });

  it('server errors are shown: a rate-limited burst shows "slow down" and still goes out in order', { timeout: TEST_TIMEOUT }, async () => {
    const strict = await startChatServer({ port: 0, host: '127.0.0.1', dbPath: join(dir, 'strict.db'), limits: { ratePerSecond: 2, burst: 2 } });
    extraServers.push(strict);
    const room = newRoom('rate');
    const ada = await openChat(room, 'Ada', undefined, strict.url);
    const burst = ['b1', 'b2', 'b3', 'b4', 'b5'];
    for (const text of burst) await send(ada, text);
    const banner = ada.locator('#error-banner');
    await banner.waitFor();
    assert.match(await banner.textContent() ?? '', /slow down, try again in \d+ s/i);
    assert.equal(await banner.getAttribute('role'), 'alert');
    await ada.locator('#messages li.msg.own[data-status="delivered"]', { hasText: 'b5' }).waitFor({ timeout: 15_000 });
    assert.deepEqual(await texts(ada), burst);
    assert.equal(await ada.locator('#messages li.msg.own[data-status="delivered"]').count(), burst.length);
    assert.deepEqual(pageErrors, []);
  });

  it('browser offline: the badge says offline, messages wait, and go out when the network is back', { timeout: TEST_TIMEOUT }, async () => {
    const room = newRoom('netoff');
    const ada = await openChat(room, 'Ada');
    const bob = await openChat(room, 'Bob');
    await ada.context().setOffline(true);
    await waitState(ada, 'offline');
    await send(ada, 'sent while offline');
    const mine = ada.locator('#messages li.msg.own', { hasText: 'sent while offline' });
    await mine.waitFor();
    assert.equal(await mine.getAttribute('data-status'), 'pending');
    await ada.context().setOffline(false);
    await waitState(ada, 'online');
    await ada.locator('#messages li.msg.own[data-status="delivered"]', { hasText: 'sent while offline' }).waitFor();
    await row(bob, 'sent while offline').waitFor();
    assert.deepEqual(await texts(bob), ['sent while offline']);
    assert.deepEqual(pageErrors, []);
  });

  it('two tabs offline: neither tab erases the other\'s unsent messages; all go out once later', { timeout: TEST_TIMEOUT }, async () => {
    const room = newRoom('tabs');
    const ctx = await browser!.newContext({ viewport: { width: 1000, height: 700 } });
    contexts.push(ctx);
    const tab1 = await openChat(room, 'Ada', ctx);
    const tab2 = await openChat(room, 'Ada', ctx);
    await ctx.setOffline(true);
    await waitState(tab1, 'offline');
    await waitState(tab2, 'offline');
    await send(tab1, 'from tab 1');
    await tab2.locator('#messages li.msg.own[data-status="pending"]', { hasText: 'from tab 1' }).waitFor(); // adopted
    await send(tab2, 'from tab 2');
    await tab1.locator('#messages li.msg.own[data-status="pending"]', { hasText: 'from tab 2' }).waitFor();
    const stored = await tab1.evaluate(() => JSON.parse(localStorage.getItem('wireroom:outbox') ?? '[]').map((e: { text: string }) => e.text));
    assert.deepEqual(stored.sort(), ['from tab 1', 'from tab 2']);
    await tab1.close();
    await tab2.close();

    const bob = await openChat(room, 'Bob');
    await ctx.setOffline(false);
    const tab3 = await ctx.newPage(); // the user comes back later
    tab3.setDefaultTimeout(STEP_TIMEOUT);
    await tab3.goto(`${server!.url}/#${room}`);
    await waitState(tab3, 'online');
    await row(bob, 'from tab 2').waitFor();
    await tab3.locator('#messages li.msg.own[data-status="delivered"]', { hasText: 'from tab 2' }).waitFor();
    await bob.waitForTimeout(300);
    assert.deepEqual(await texts(bob), ['from tab 1', 'from tab 2']);
    assert.deepEqual(await texts(tab3), ['from tab 1', 'from tab 2']);
    assert.deepEqual(pageErrors, []);
  });

  it('the display name can be changed: others see the new name', { timeout: TEST_TIMEOUT }, async () => {
    const room = newRoom('rename');
    const ada = await openChat(room, 'Ada');
    const bob = await openChat(room, 'Bob');
    await bob.locator('#members .member-name', { hasText: exactly('Ada') }).waitFor();
    await ada.click('#name-button');
    assert.equal(await ada.evaluate(() => document.activeElement?.id), 'name-input', 'the dialog takes the focus');
    await ada.fill('#name-input', 'Ada Lovelace');
    await ada.press('#name-input', 'Enter');
    await bob.locator('#members .member-name', { hasText: exactly('Ada Lovelace') }).waitFor();
    await bob.locator('#members .member-name', { hasText: exactly('Ada') }).waitFor({ state: 'detached' });
    assert.equal(await ada.evaluate(() => document.activeElement?.id), 'composer-input', 'focus back in the composer');
    assert.equal(await ada.locator('#me-name').textContent(), 'Ada Lovelace');
    await send(ada, 'renamed');
    assert.equal(await row(bob, 'renamed').locator('.author').textContent(), 'Ada Lovelace');
    assert.deepEqual(pageErrors, []);
  });
});
