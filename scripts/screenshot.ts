// Takes docs/images/chat.png: starts the chat server on a free port with a temporary database,
// has a few people talk from separate browser profiles, and screenshots one page at 1200x800.
// Usage: node --import tsx scripts/screenshot.ts [output.png]
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { browserAvailable, launchBrowser } from '../packages/wireroom/test/helpers/browser.js';
import { startChatServer } from '../packages/chat/src/chat/server.js';

const out = resolve(process.argv[2] ?? 'packages/chat/docs/images/chat.png');
const avail = browserAvailable();
if (!avail.ok) {
  console.error(avail.reason);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'wireroom-shot-'));
const server = await startChatServer({ port: 0, host: '127.0.0.1', dbPath: join(dir, 'chat.db') });
let browser: Browser | undefined;
try {
  browser = await launchBrowser();
  const open = async (name: string): Promise<Page> => {
    const ctx = await browser!.newContext({
      viewport: { width: 1200, height: 800 }, deviceScaleFactor: 1, locale: 'en-US', timezoneId: 'UTC', colorScheme: 'light',
    });
    const page = await ctx.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/#lobby`);
    await page.fill('#name-input', name);
    await page.press('#name-input', 'Enter');
    await page.waitForSelector('#conn[data-state="online"]');
    return page;
  };
  const say = async (page: Page, text: string) => {
    await page.fill('#composer-input', text);
    await page.press('#composer-input', 'Enter');
    await page.waitForSelector('#messages li.msg.own[data-status="delivered"] >> nth=-1');
    await page.waitForTimeout(120);
  };

  const grace = await open('Grace Hopper');
  const ada = await open('Ada Lovelace');
  const linus = await open('Linus');
  await say(ada, 'Morning! Is the staging server back up?');
  await say(grace, 'Yes, deployed ten minutes ago. Reconnects look clean now.');
  await say(grace, 'Try it: stop the server, type something, start it again. The message goes out once.');
  await say(linus, 'Just did. Badge went to "Reconnecting…", then back to Online, and my message had a check mark.');
  await say(ada, 'And <img src=x onerror=alert(1)> shows up as plain text, as it should.');
  await say(grace, 'Great. Merging the PR.\nRelease notes after lunch.');
  await ada.waitForTimeout(2100); // past the typing throttle
  await ada.locator('#composer-input').pressSequentially('Sounds good');
  await grace.waitForFunction(() => document.getElementById('typing')?.textContent !== '');
  await grace.locator('#composer-input').blur();
  mkdirSync(dirname(out), { recursive: true });
  await grace.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser?.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
