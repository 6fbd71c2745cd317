// Shared fixture of the chat page end-to-end tests: one real chat server (temp database) and one headless
// Chromium per test file, with helpers to open pages and read the message list. Not a test file itself.
import { before, after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { browserAvailable, browserRequired, launchBrowser } from '../../../wireroom/test/helpers/browser.js';
import { startChatServer, type ChatServerOptions } from '../../src/chat/server.js';

const avail = browserAvailable();

/** `describe(..., { skip: browserSkip })`: a reason to skip (Chromium missing locally), or false. */
export const browserSkip: string | false = !avail.ok && !browserRequired() ? avail.reason : false;
if (browserSkip) console.warn(`\n!!! SKIPPING browser end-to-end tests: ${browserSkip}\n`);

export const STEP_TIMEOUT = 10_000; // any single wait in a page
export const TEST_TIMEOUT = 60_000;

export type Server = { url: string; close(): Promise<void> };

export interface OpenOptions {
  /**
   * Browser profile to open the page in (shares localStorage and the session cookie: one profile, one person).
   * Default: the profile of this display name (`personContext(name)`), since names are owned per server.
   */
  ctx?: BrowserContext;
  /** Another server than the shared one. */
  baseUrl?: string;
  /** Go through the first-visit name dialog instead of a stored name. */
  viaDialog?: boolean;
}

/** The row showing exactly `text`. */
export const row = (page: Page, text: string): Locator =>
  page.locator('#messages > li.msg').filter({ has: page.locator('.text', { hasText: exactly(text) }) });

/** A regular expression matching exactly `text`. */
export const exactly = (text: string): RegExp => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

/** The texts of the rendered messages, top to bottom. */
export const texts = (page: Page): Promise<string[]> => page.locator('#messages > li.msg .text').allTextContents();

/** Own row with `text` once the server acknowledged it. */
export const delivered = (page: Page, text: string): Locator =>
  page.locator('#messages > li.msg.own[data-status="delivered"]').filter({ has: page.locator('.text', { hasText: exactly(text) }) });

export async function waitState(page: Page, state: string, timeout = STEP_TIMEOUT): Promise<void> {
  await page.waitForSelector(`#conn[data-state="${state}"]`, { timeout });
}

/** Types `text` into the composer and presses Enter. */
export async function send(page: Page, text: string): Promise<void> {
  await page.fill('#composer-input', text);
  await page.press('#composer-input', 'Enter');
}

/**
 * Registers before/after hooks (call it inside a `describe`) and returns the fixture. Every browser
 * context, extra server and the temp directory are closed and removed in `after`.
 */
export function chatHarness(label: string) {
  const h = {
    browser: undefined as Browser | undefined,
    server: undefined as Server | undefined,
    dir: '',
    dbPath: '',
    /** Uncaught errors of any page: every test asserts there are none. */
    pageErrors: [] as string[],
    contexts: [] as BrowserContext[],
    people: new Map<string, BrowserContext>(),
    extraServers: [] as Server[],
    roomSeq: 0,

    /** A fresh room per test keeps the tests independent although they share one server. */
    newRoom(name: string): string {
      return `${label}-${name}-${process.pid}-${++h.roomSeq}`;
    },

    async newContext(): Promise<BrowserContext> {
      const ctx = await h.browser!.newContext({ viewport: { width: 1000, height: 700 } });
      h.contexts.push(ctx);
      return ctx;
    },

    /**
     * The browser profile of the person called `name` in this file: a name belongs to one session on a server,
     * so every page opened as 'Ada' (in any test of the file) is the same browser, with the same cookie.
     */
    async personContext(name: string): Promise<BrowserContext> {
      let ctx = h.people.get(name);
      if (ctx === undefined) h.people.set(name, (ctx = await h.newContext()));
      return ctx;
    },

    /** Opens the chat page in `room` as `name` and waits until it is online and in the member list. */
    async openChat(room: string, name: string, options: OpenOptions = {}): Promise<Page> {
      const ctx = options.ctx ?? await h.personContext(name);
      const page = await ctx.newPage();
      page.setDefaultTimeout(STEP_TIMEOUT);
      page.on('pageerror', (err) => h.pageErrors.push(`${name}: ${err.message}`));
      if (!options.viaDialog) {
        // A returning visitor: skips the dialog (tested on its own), which keeps the suite fast.
        await page.addInitScript((n) => { if (!localStorage.getItem('wireroom:name')) localStorage.setItem('wireroom:name', n); }, name);
      }
      await page.goto(`${options.baseUrl ?? h.server!.url}/#${room}`, { waitUntil: 'domcontentloaded' });
      if (options.viaDialog) {
        // A first visit asks for a name (a profile the server already knows is told its name by `welcome`).
        await page.waitForSelector('#name-dialog[open]');
        await page.fill('#name-input', name);
        await page.press('#name-input', 'Enter');
      }
      await waitState(page, 'online');
      await page.waitForSelector('#members .member.me');
      return page;
    },

    /** Another chat server (e.g. with other limits), closed in `after`. */
    async extraServer(options: ChatServerOptions): Promise<Server> {
      const s = await startChatServer({ port: 0, host: '127.0.0.1', dbPath: join(h.dir, `extra-${h.extraServers.length}.db`), ...options });
      h.extraServers.push(s);
      return s;
    },
  };

  before(async () => {
    if (!avail.ok) throw new Error(`WIREROOM_REQUIRE_BROWSER is set but ${avail.reason}`);
    h.dir = mkdtempSync(join(tmpdir(), `wireroom-${label}-`));
    h.dbPath = join(h.dir, 'chat.db');
    h.server = await startChatServer({ port: 0, host: '127.0.0.1', dbPath: h.dbPath });
    h.browser = await launchBrowser();
  });

  after(async () => {
    for (const ctx of h.contexts) await ctx.close().catch(() => {});
    await h.browser?.close().catch(() => {});
    for (const s of h.extraServers) await s.close().catch(() => {});
    await h.server?.close().catch(() => {});
    if (h.dir) rmSync(h.dir, { recursive: true, force: true });
  });

  return h;
}
