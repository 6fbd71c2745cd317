// Browser end-to-end tests of the chat page (src/web/public) against the real chat server, in headless
// Chromium through playwright-core: the core flows. More in chat-ui.e2e.test.ts and chat-network.e2e.test.ts
// (split so that each file stays well within the runner's per-file timeout). Locally they skip loudly without
// /usr/bin/chromium; in CI (WIREROOM_REQUIRE_BROWSER=1) a missing browser fails them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startChatServer } from '../../src/chat/server.js';
import { browserSkip, chatHarness, delivered, row, send, texts, waitState, TEST_TIMEOUT } from './chat-harness.js';

describe('chat page in Chromium', { skip: browserSkip, timeout: 6 * TEST_TIMEOUT }, () => {
  const h = chatHarness('e2e');

  it('two pages chat with each other: own messages marked own and delivered', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('two');
    const ada = await h.openChat(room, 'Ada', { viaDialog: true }); // a first visit: the name dialog
    const bob = await h.openChat(room, 'Bob', { viaDialog: true });

    // Presence: each sees the other.
    await ada.locator('#members .member-name', { hasText: 'Bob' }).waitFor();
    await bob.locator('#members .member-name', { hasText: 'Ada' }).waitFor();

    await send(ada, 'hello from Ada');
    await row(bob, 'hello from Ada').waitFor();
    await delivered(ada, 'hello from Ada').waitFor();
    assert.equal(await row(bob, 'hello from Ada').getAttribute('class'), 'msg', 'not own on the other page');
    assert.equal(await row(bob, 'hello from Ada').locator('.author').textContent(), 'Ada');

    await send(bob, 'hi Ada, Bob here');
    await row(ada, 'hi Ada, Bob here').waitFor();
    await delivered(bob, 'hi Ada, Bob here').waitFor();
    assert.doesNotMatch(await row(ada, 'hi Ada, Bob here').getAttribute('class') ?? '', /\bown\b/);

    // Both pages show the same conversation in the same order; the input was cleared and kept focus.
    assert.deepEqual(await texts(ada), ['hello from Ada', 'hi Ada, Bob here']);
    assert.deepEqual(await texts(bob), ['hello from Ada', 'hi Ada, Bob here']);
    assert.equal(await ada.inputValue('#composer-input'), '');
    assert.equal(await ada.evaluate(() => document.activeElement?.id), 'composer-input');
    assert.deepEqual(h.pageErrors, []);
  });

  it('a reload shows the history, without duplicates, own messages still marked', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('reload');
    const ada = await h.openChat(room, 'Ada');
    for (const text of ['one', 'two', 'three']) {
      await send(ada, text);
      await delivered(ada, text).waitFor();
    }

    await ada.reload();
    await waitState(ada, 'online');
    await row(ada, 'three').waitFor();
    assert.deepEqual(await texts(ada), ['one', 'two', 'three']);
    assert.equal(await ada.locator('#messages li.msg.own[data-status="delivered"]').count(), 3);
    assert.equal(await ada.evaluate(() => (document.getElementById('name-dialog') as HTMLDialogElement).open), false,
      'the display name is remembered');

    // A newcomer (fresh profile) gets the history too, as someone else's messages.
    const cat = await h.openChat(room, 'Cat');
    await row(cat, 'three').waitFor();
    assert.deepEqual(await texts(cat), ['one', 'two', 'three']);
    assert.equal(await cat.locator('#messages li.msg.own').count(), 0);
    assert.deepEqual(h.pageErrors, []);
  });

  it('user text is rendered as text and runs nothing', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('xss');
    const evil = '<img src=x onerror=alert(1)>';
    const mallory = await h.openChat(room, '<b>Mallory</b>');
    const victim = await h.openChat(room, 'Victim');
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
    assert.deepEqual(h.pageErrors, []);
  });

  it('server down and up: reconnecting, then online, offline message delivered exactly once', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('restart');
    const ada = await h.openChat(room, 'Ada');
    const bob = await h.openChat(room, 'Bob');
    await ada.evaluate(() => {
      const w = window as unknown as { wireroom: { client: EventTarget }; states: string[] };
      w.states = [];
      w.wireroom.client.addEventListener('state', (e) => w.states.push((e as CustomEvent).detail.state));
    });
    await send(ada, 'before restart');
    await row(bob, 'before restart').waitFor();

    const port = Number(new URL(h.server!.url).port);
    await h.server!.close();
    h.server = undefined;
    await waitState(ada, 'reconnecting');
    await waitState(bob, 'reconnecting');

    await send(ada, 'typed while the server was down');
    const pending = ada.locator('#messages li.msg.own', { hasText: 'typed while the server was down' });
    await pending.waitFor();
    assert.equal(await pending.getAttribute('data-status'), 'pending');

    h.server = await startChatServer({ port, host: '127.0.0.1', dbPath: h.dbPath }); // same port, same database
    // Backoff is capped by attempts so far (well under 10 s here); allow some slack.
    await waitState(ada, 'online', 20_000);
    await waitState(bob, 'online', 20_000);
    await delivered(ada, 'typed while the server was down').waitFor();
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
    // The whole outbox: Ada's profile (shared by every test of this file, one person) also has tabs in other rooms,
    // which must not bring back what this tab delivered.
    await ada.waitForFunction(() => (window as unknown as { wireroom: { client: { pending(): unknown[] } } }).wireroom.client.pending().length === 0);
    assert.equal(await ada.evaluate(() => (window as unknown as { wireroom: { client: { pending(): unknown[] } } }).wireroom.client.pending().length), 0);
    assert.deepEqual(h.pageErrors, []);
  });
});
