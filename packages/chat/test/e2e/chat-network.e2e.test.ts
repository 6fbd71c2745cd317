// Browser end-to-end tests of the chat page, continued (see chat.e2e.test.ts): server errors, the browser
// going offline, tabs sharing the outbox.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { browserSkip, chatHarness, delivered, row, send, texts, waitState, STEP_TIMEOUT, TEST_TIMEOUT } from './chat-harness.js';

describe('chat page in Chromium: errors and network', { skip: browserSkip, timeout: 6 * TEST_TIMEOUT }, () => {
  const h = chatHarness('e2e-net');

  it('server errors are shown: a rate-limited burst shows "slow down" and still goes out in order', { timeout: TEST_TIMEOUT }, async () => {
    const strict = await h.extraServer({ limits: { ratePerSecond: 2, burst: 2 } });
    const room = h.newRoom('rate');
    const ada = await h.openChat(room, 'Ada', { baseUrl: strict.url });
    const burst = ['b1', 'b2', 'b3', 'b4', 'b5'];
    // Submitted at once (the same form submit that Enter triggers), so the burst surely exceeds the limit.
    await ada.evaluate((msgs) => {
      const input = document.getElementById('composer-input') as HTMLTextAreaElement;
      const form = document.getElementById('composer') as HTMLFormElement;
      for (const m of msgs) { input.value = m; form.requestSubmit(); }
    }, burst);
    const banner = ada.locator('#error-banner');
    await banner.waitFor();
    assert.match(await banner.textContent() ?? '', /slow down, try again in \d+ s/i);
    assert.equal(await banner.getAttribute('role'), 'alert');
    await delivered(ada, 'b5').waitFor({ timeout: 15_000 });
    assert.deepEqual(await texts(ada), burst);
    assert.equal(await ada.locator('#messages li.msg.own[data-status="delivered"]').count(), burst.length);
    assert.deepEqual(h.pageErrors, []);
  });

  it('browser offline: the badge says offline, messages wait, and go out when the network is back', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('netoff');
    const ada = await h.openChat(room, 'Ada');
    const bob = await h.openChat(room, 'Bob');
    await ada.context().setOffline(true);
    await waitState(ada, 'offline');
    await send(ada, 'sent while offline');
    const mine = ada.locator('#messages li.msg.own', { hasText: 'sent while offline' });
    await mine.waitFor();
    assert.equal(await mine.getAttribute('data-status'), 'pending');
    await ada.context().setOffline(false);
    await waitState(ada, 'online');
    await delivered(ada, 'sent while offline').waitFor();
    await row(bob, 'sent while offline').waitFor();
    assert.deepEqual(await texts(bob), ['sent while offline']);
    assert.deepEqual(h.pageErrors, []);
  });

  it('two tabs offline: neither tab erases the other\'s unsent messages; all go out once later', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('tabs');
    const ctx = await h.personContext('Ada');
    const tab1 = await h.openChat(room, 'Ada', { ctx });
    const tab2 = await h.openChat(room, 'Ada', { ctx });
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

    const bob = await h.openChat(room, 'Bob');
    await ctx.setOffline(false);
    const tab3 = await ctx.newPage(); // the user comes back later
    tab3.setDefaultTimeout(STEP_TIMEOUT);
    await tab3.goto(`${h.server!.url}/#${room}`);
    await waitState(tab3, 'online');
    await row(bob, 'from tab 2').waitFor();
    await delivered(tab3, 'from tab 2').waitFor();
    await bob.waitForTimeout(300);
    assert.deepEqual(await texts(bob), ['from tab 1', 'from tab 2']);
    assert.deepEqual(await texts(tab3), ['from tab 1', 'from tab 2']);
    assert.deepEqual(h.pageErrors, []);
  });
});
