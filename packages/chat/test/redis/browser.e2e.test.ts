/**
 * Two browser pages (headless Chromium) on two different chat processes sharing one Redis: they chat.
 * Skips loudly without Chromium or redis-server locally; fails in CI when either is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { launchBrowser, requireBrowserOrSkip } from '../../../wireroom/test/helpers/browser.js';
import { requireRedisOrSkip, TestRedis } from '../helpers/redis.js';
import { startChatProcess } from './fixtures/processes.js';

const STEP = 15_000;
const row = (page: Page, text: string) => page.locator('#messages > li.msg .text', { hasText: text });
const texts = (page: Page): Promise<string[]> => page.locator('#messages > li.msg .text').allTextContents();

async function open(page: Page, url: string, room: string, name: string): Promise<void> {
  page.setDefaultTimeout(STEP);
  await page.addInitScript((n) => localStorage.setItem('wireroom:name', n), name);
  await page.goto(`${url}/#${room}`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#conn[data-state="online"]');
  await page.waitForSelector('#members .member.me');
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#composer-input', text);
  await page.press('#composer-input', 'Enter');
  await page.locator('#messages > li.msg.own[data-status="delivered"] .text', { hasText: text }).waitFor();
}

test('two pages on two processes chat with each other through Redis', { timeout: 120_000 }, async (t) => {
  if (!requireRedisOrSkip(t) || !requireBrowserOrSkip(t)) return;
  const redis = await TestRedis.start(t);
  const [a, b] = await Promise.all([0, 1].map(() => startChatProcess(t, redis.url)));
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const errors: string[] = [];
  const ada = await (await browser.newContext()).newPage();
  const bob = await (await browser.newContext()).newPage();
  for (const [name, page] of [['ada', ada], ['bob', bob]] as const) page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));

  await open(ada, a!.url, 'two-processes', 'Ada');
  await open(bob, b!.url, 'two-processes', 'Bob');
  await ada.locator('#members .member-name', { hasText: 'Bob' }).waitFor();
  await bob.locator('#members .member-name', { hasText: 'Ada' }).waitFor();

  await say(ada, 'hello from process A');
  await row(bob, 'hello from process A').waitFor();
  await say(bob, 'hi, this is process B');
  await row(ada, 'hi, this is process B').waitFor();
  await say(ada, 'third');
  await row(bob, 'third').waitFor();
  assert.deepEqual(await texts(ada), ['hello from process A', 'hi, this is process B', 'third']);
  assert.deepEqual(await texts(bob), await texts(ada));

  // Reloading Bob's page on process B shows the history written through process A.
  await bob.reload();
  await bob.waitForSelector('#conn[data-state="online"]');
  await row(bob, 'third').waitFor();
  assert.deepEqual(await texts(bob), ['hello from process A', 'hi, this is process B', 'third']);
  assert.deepEqual(errors, []);
});
