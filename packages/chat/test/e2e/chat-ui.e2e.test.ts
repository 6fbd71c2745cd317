// Browser end-to-end tests of the chat page, continued (see chat.e2e.test.ts): keyboard, display name,
// rooms by URL hash, paging through older history.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { newSession } from '../helpers/session.js';
import { browserSkip, chatHarness, exactly, row, send, texts, STEP_TIMEOUT, TEST_TIMEOUT } from './chat-harness.js';

/** One 'Seeder' session per server: the name is owned, so every seeding is the same person. */
const seeders = new Map<string, Promise<string>>();
async function seederSocket(httpUrl: string): Promise<WebSocket> {
  if (!seeders.has(httpUrl)) seeders.set(httpUrl, newSession(httpUrl).then((s) => s.cookie));
  return new WebSocket(httpUrl.replace(/^http/, 'ws') + '/chat', { headers: { Cookie: await seeders.get(httpUrl)! } });
}

/** Posts `count` messages straight through the protocol (no browser), waiting for every ack. */
async function seed(httpUrl: string, room: string, count: number): Promise<void> {
  const ws = await seederSocket(httpUrl);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let acks = 0;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`seeding: ${acks}/${count} acks`)), STEP_TIMEOUT);
    ws.on('message', (raw) => {
      const env = JSON.parse(String(raw));
      if (env.type === 'error') { clearTimeout(timer); reject(new Error(`seeding: ${env.code} ${env.message}`)); }
      if (env.type === 'joined') for (let i = 1; i <= count; i++) ws.send(JSON.stringify({ type: 'message', room, clientId: `seed-${i}`, text: `message ${i}` }));
      if (env.type === 'ack' && ++acks === count) { clearTimeout(timer); resolve(); }
    });
  });
  ws.send(JSON.stringify({ type: 'join', room, name: 'Seeder' }));
  try { await done; } finally { ws.close(); }
}

describe('chat page in Chromium: input, names, rooms, paging', { skip: browserSkip, timeout: 6 * TEST_TIMEOUT }, () => {
  const h = chatHarness('e2e-ui');

  it('the message box counts code points like the protocol: 1,800 emoji are kept and sent whole; over the limit is flagged, not cut', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('emoji');
    const ada = await h.openChat(room, 'Ada');
    const bob = await h.openChat(room, 'Bob');
    const text = '😀'.repeat(1800); // 1,800 code points, 3,600 UTF-16 units: within the 2,000 limit
    await ada.focus('#composer-input');
    await ada.keyboard.insertText(text); // as typing or pasting does (maxlength would cut this)
    assert.equal(await ada.inputValue('#composer-input'), text, 'nothing cut');
    assert.equal(await ada.locator('#char-count').textContent(), '200 left');
    await ada.keyboard.press('Enter');
    await ada.locator('#messages li.msg.own[data-status="delivered"]').waitFor();
    const got = await bob.locator('#messages li.msg .text').first();
    await got.waitFor();
    assert.equal(await got.textContent(), text, 'delivered whole');
    assert.equal(await ada.locator('#char-count').textContent(), '', 'the counter clears with the box');

    const over = '😀'.repeat(2001);
    await ada.keyboard.insertText(over);
    assert.equal(await ada.inputValue('#composer-input'), over, 'not cut either: the user decides what to remove');
    assert.equal(await ada.locator('#char-count').textContent(), '1 too many');
    assert.equal(await ada.getAttribute('#composer-input', 'aria-invalid'), 'true');
    await ada.keyboard.press('Enter');
    const banner = ada.locator('#error-banner');
    await banner.waitFor();
    assert.match(await banner.textContent() ?? '', /too long \(2000 characters at most\)/);
    assert.equal(await ada.inputValue('#composer-input'), over, 'kept in the box');
    assert.equal(await ada.locator('#messages li.msg').count(), 1, 'nothing was sent');
    await ada.keyboard.press('Backspace'); // one emoji is one code point: the count follows
    assert.equal(await ada.locator('#char-count').textContent(), '0 left');
    assert.equal(await ada.getAttribute('#composer-input', 'aria-invalid'), null);
    assert.deepEqual(h.pageErrors, []);
  });

  it('keyboard: Enter sends, Shift+Enter adds a line; the text keeps its line break', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('keys');
    const ada = await h.openChat(room, 'Ada');
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
    assert.deepEqual(h.pageErrors, []);
  });

  it('the display name can be changed: others see the new name', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('rename');
    const ada = await h.openChat(room, 'Ada');
    const bob = await h.openChat(room, 'Bob');
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
    assert.deepEqual(h.pageErrors, []);
  });

  it('switching the URL hash switches rooms', { timeout: TEST_TIMEOUT }, async () => {
    const red = h.newRoom('red');
    const blue = h.newRoom('blue');
    const ada = await h.openChat(red, 'Ada');
    const bob = await h.openChat(blue, 'Bob');
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
    assert.deepEqual(h.pageErrors, []);
  });

  it('"load older messages" pages back through the history', { timeout: TEST_TIMEOUT }, async () => {
    // A server without rate limits, to seed a long history quickly.
    const big = await h.extraServer({ limits: { ratePerSecond: 10_000, burst: 10_000, requestsPerSecond: 10_000, requestBurst: 10_000 } });
    const room = h.newRoom('older');
    await seed(big.url, room, 130);

    const ada = await h.openChat(room, 'Ada', { baseUrl: big.url });
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
    assert.deepEqual(h.pageErrors, []);
  });
});

describe('chat page in Chromium: history removed by retention', { skip: browserSkip, timeout: 3 * TEST_TIMEOUT }, () => {
  const h = chatHarness('e2e-retention');

  it('at the trimmed edge the page says "Older messages are no longer kept", on join and on resume after a reload', { timeout: TEST_TIMEOUT }, async () => {
    const kept = await h.extraServer({
      limits: { ratePerSecond: 10_000, burst: 10_000, requestsPerSecond: 10_000, requestBurst: 10_000 },
      retention: { historyLimit: 20 },
    });
    const room = h.newRoom('kept');
    await seed(kept.url, room, 60);
    const ctx = await h.newContext();
    const ada = await h.openChat(room, 'Ada', { baseUrl: kept.url, ctx });
    await row(ada, 'message 60').waitFor();
    const start = ada.locator('#room-start');
    await start.waitFor();
    assert.equal(await start.textContent(), 'Older messages are no longer kept');
    assert.deepEqual(await texts(ada), Array.from({ length: 20 }, (_, i) => `message ${41 + i}`));
    assert.equal(await ada.locator('#load-older').isVisible(), false, 'nothing older to load');

    // Away while 60 more are posted: on return 61-100 are gone, the page shows what is kept and says so.
    await ada.close();
    await seedMore(kept.url, room, 61, 120);
    const back = await h.openChat(room, 'Ada', { baseUrl: kept.url, ctx });
    await row(back, 'message 120').waitFor();
    await back.locator('#room-start').waitFor();
    assert.equal(await back.locator('#room-start').textContent(), 'Older messages are no longer kept');
    assert.deepEqual(await texts(back), Array.from({ length: 20 }, (_, i) => `message ${101 + i}`));
    assert.equal(await back.locator('#load-older').isVisible(), false);

    // A room that was never trimmed still says where it starts.
    const small = h.newRoom('small');
    await seed(kept.url, small, 5);
    const bob = await h.openChat(small, 'Bob', { baseUrl: kept.url });
    await row(bob, 'message 5').waitFor();
    assert.equal(await bob.locator('#room-start').textContent(), `This is the start of #${small}`);
    assert.deepEqual(h.pageErrors, []);
  });
});

/** Posts messages `from`..`to` (texts `message N`, clientIds `seed-N`), waiting for every ack. */
async function seedMore(httpUrl: string, room: string, from: number, to: number): Promise<void> {
  const ws = await seederSocket(httpUrl);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let acks = 0;
  const count = to - from + 1;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`seeding: ${acks}/${count} acks`)), STEP_TIMEOUT);
    ws.on('message', (raw) => {
      const env = JSON.parse(String(raw));
      if (env.type === 'error') { clearTimeout(timer); reject(new Error(`seeding: ${env.code} ${env.message}`)); }
      if (env.type === 'joined') for (let i = from; i <= to; i++) ws.send(JSON.stringify({ type: 'message', room, clientId: `seed-${i}`, text: `message ${i}` }));
      if (env.type === 'ack' && ++acks === count) { clearTimeout(timer); resolve(); }
    });
  });
  ws.send(JSON.stringify({ type: 'join', room, name: 'Seeder' }));
  try { await done; } finally { ws.close(); }
}
