// Browser end-to-end test of several tabs of one browser profile (one person, one session: issue 18) in
// different rooms, sharing the outbox in localStorage: messages sent from each tab while the others are open,
// some while offline, and every tab's outbox is empty once they are delivered, and stays empty. Regression
// test for the write-back that brought delivered entries back: a tab outside the room (which sees neither the
// message nor its ack) wrote back entries another tab had settled, and they stayed pending for ever.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserSkip, chatHarness, delivered, row, send, texts, waitState, STEP_TIMEOUT, TEST_TIMEOUT } from './chat-harness.js';

type Pending = { room: string; text: string };

/** The tab's client outbox (`pending()`) and its copy of the stored outbox. */
async function outboxes(page: Page): Promise<{ pending: Pending[]; stored: Pending[] }> {
  return page.evaluate(() => ({
    pending: (window as unknown as { wireroom: { client: { pending(): Pending[] } } }).wireroom.client.pending()
      .map((e) => ({ room: e.room, text: e.text })),
    stored: (JSON.parse(localStorage.getItem('wireroom:outbox') ?? '[]') as Pending[]).map((e) => ({ room: e.room, text: e.text })),
  }));
}

/** Waits until every tab's outbox, and its copy of the stored one, is empty. */
async function allEmpty(tabs: Page[]): Promise<void> {
  for (const tab of tabs) {
    await tab.waitForFunction(() => (window as unknown as { wireroom: { client: { pending(): unknown[] } } }).wireroom.client.pending().length === 0
      && JSON.parse(localStorage.getItem('wireroom:outbox') ?? '[]').length === 0, undefined, { timeout: STEP_TIMEOUT });
  }
}

describe('chat page in Chromium: tabs of one profile in different rooms', { skip: browserSkip, timeout: 4 * TEST_TIMEOUT }, () => {
  const h = chatHarness('e2e-tabs');

  it('three tabs, three rooms, online and offline sends: delivered once each, every outbox empty and staying empty', { timeout: 2 * TEST_TIMEOUT }, async () => {
    const rooms = [0, 1, 2].map((i) => h.newRoom(`room${i}`));
    const ctx = await h.personContext('Ada');
    const tabs: Page[] = [];
    for (const room of rooms) tabs.push(await h.openChat(room, 'Ada', { ctx }));
    const expected: string[][] = [[], [], []];

    // Online, interleaved across the tabs: each message is in every tab's outbox until its tab settles it.
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < 3; i++) {
        const text = `online ${k} from tab ${i}`;
        await send(tabs[i], text);
        expected[i].push(text);
      }
    }
    for (let i = 0; i < 3; i++) await delivered(tabs[i], expected[i].at(-1)!).waitFor();
    await allEmpty(tabs);

    // Offline: every tab queues; the outbox is shared (each tab holds all six), then the network comes back.
    await ctx.setOffline(true);
    for (const tab of tabs) await waitState(tab, 'offline');
    for (let k = 0; k < 2; k++) {
      for (let i = 0; i < 3; i++) {
        const text = `offline ${k} from tab ${i}`;
        await send(tabs[i], text);
        expected[i].push(text);
      }
    }
    for (const tab of tabs) {
      await tab.waitForFunction(() => (window as unknown as { wireroom: { client: { pending(): unknown[] } } }).wireroom.client.pending().length === 6);
    }
    const held = await outboxes(tabs[0]);
    assert.equal(held.stored.length, 6, JSON.stringify(held));
    await ctx.setOffline(false);
    for (const tab of tabs) await waitState(tab, 'online');
    for (let i = 0; i < 3; i++) await delivered(tabs[i], expected[i].at(-1)!).waitFor();
    await allEmpty(tabs);

    // Further storage events (a fourth tab opens in yet another room and sends): still nothing pending anywhere.
    const fourth = await h.openChat(h.newRoom('room3'), 'Ada', { ctx });
    await send(fourth, 'from the fourth tab');
    await delivered(fourth, 'from the fourth tab').waitFor();
    await allEmpty([...tabs, fourth]);
    await fourth.waitForTimeout(500);
    for (const [i, tab] of [...tabs, fourth].entries()) assert.deepEqual(await outboxes(tab), { pending: [], stored: [] }, `tab ${i}`);
    // A pending row would mean an entry came back; every own row is delivered.
    for (const tab of tabs) assert.equal(await tab.locator('#messages li.msg.own:not([data-status="delivered"])').count(), 0);

    // The server has each message once, in order (a fresh profile reads each room's history).
    for (let i = 0; i < 3; i++) {
      const bob = await h.openChat(rooms[i], 'Bob');
      await row(bob, expected[i].at(-1)!).waitFor();
      await bob.waitForTimeout(200);
      assert.deepEqual(await texts(bob), expected[i], `room ${i}`);
      await bob.close();
    }
    assert.deepEqual(h.pageErrors, []);
  });
});
