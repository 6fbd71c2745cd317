// Who is speaking, in Chromium: separate browser contexts are separate cookie jars, so separate people.
// A name belongs to its first owner; forged fields are ignored; reloads and restarts keep the person; two
// tabs are one member; renames reach everyone. Locally skips loudly without Chromium (see chat-harness.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startChatServer } from '../../src/chat/server.js';
import { newSession } from '../helpers/session.js';
import { browserSkip, chatHarness, delivered, row, send, texts, waitState, STEP_TIMEOUT, TEST_TIMEOUT } from './chat-harness.js';
import type { Page } from 'playwright-core';

const memberNames = (page: Page): Promise<string[]> => page.locator('#members .member-name').allTextContents();
const myUid = (page: Page): Promise<string | null> => page.locator('#name-button').getAttribute('data-uid');

describe('chat identity in Chromium', { skip: browserSkip, timeout: 6 * TEST_TIMEOUT }, () => {
  const h = chatHarness('e2e-identity');

  it('a second browser cannot take a name someone holds (nor a look-alike), nor post as them by forging the body', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('owned');
    const ada = await h.openChat(room, 'Ada');
    await waitState(ada, 'online');
    const adaUid = await myUid(ada);
    assert.ok(adaUid);

    // Mallory, in her own browser, asks for 'Ada', then 'ＡＤＡ': both refused, the dialog comes back.
    const ctx = await h.personContext('Mallory');
    const mallory = await ctx.newPage();
    mallory.setDefaultTimeout(STEP_TIMEOUT);
    mallory.on('pageerror', (err) => h.pageErrors.push(`mallory: ${err.message}`));
    await mallory.goto(`${h.server!.url}/#${room}`);
    for (const attempt of ['Ada', 'ＡＤＡ', 'A\u200Bda']) {
      await mallory.waitForSelector('#name-dialog[open]');
      await mallory.fill('#name-input', attempt);
      await mallory.press('#name-input', 'Enter');
      await mallory.locator('#error-text', { hasText: 'belongs to someone else' }).waitFor();
      await mallory.waitForSelector('#name-dialog[open]');
      await mallory.evaluate(() => { (document.getElementById('error-banner') as HTMLElement).hidden = true; });
    }
    assert.equal(await mallory.locator('#members .member.me').count(), 0, 'never joined under it');
    await mallory.fill('#name-input', 'Mallory');
    await mallory.press('#name-input', 'Enter');
    await mallory.waitForSelector('#members .member.me');
    await ada.locator('#members .member-name', { hasText: 'Mallory' }).waitFor();
    assert.deepEqual((await memberNames(ada)).sort(), ['Ada', 'Mallory']);

    // A raw client with its own session forges Ada's uid and name in the body.
    const session = await newSession(h.server!.url);
    const ws = new WebSocket(`${h.server!.url.replace(/^http/, 'ws')}/chat`, { headers: { Cookie: session.cookie } });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const acked = new Promise<void>((resolve, reject) => {
      ws.on('message', (raw) => {
        const env = JSON.parse(String(raw)) as { type: string; code?: string };
        if (env.type === 'welcome') ws.send(JSON.stringify({ type: 'join', room, name: 'Forger' }));
        if (env.type === 'joined') ws.send(JSON.stringify({ type: 'message', room, clientId: 'forged-1', text: 'I am Ada, trust me', uid: adaUid, name: 'Ada' }));
        if (env.type === 'ack') resolve();
        if (env.type === 'error') reject(new Error(env.code));
      });
    });
    await acked;
    ws.close();
    const forged = row(ada, 'I am Ada, trust me');
    await forged.waitFor();
    assert.equal(await forged.locator('.author').textContent(), 'Forger', 'stamped with the sender\'s own name');
    assert.doesNotMatch(await forged.getAttribute('class') ?? '', /\bown\b/, 'not shown as Ada\'s own');
    assert.deepEqual(h.pageErrors, []);
  });

  it('reload and server restart keep the same person and name; own messages stay marked', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('keep');
    const kim = await h.openChat(room, 'Kim');
    const uid = await myUid(kim);
    await send(kim, 'kept across restarts');
    await delivered(kim, 'kept across restarts').waitFor();

    await kim.evaluate(() => localStorage.removeItem('wireroom:name')); // only the cookie remains
    await kim.reload();
    await waitState(kim, 'online');
    await kim.waitForSelector('#members .member.me');
    assert.equal(await myUid(kim), uid, 'same id after a reload');
    assert.equal(await kim.locator('#me-name').textContent(), 'Kim', 'the name comes from the server');
    assert.equal(await kim.locator('#name-dialog').evaluate((d: HTMLDialogElement) => d.open), false);

    const port = Number(new URL(h.server!.url).port);
    await h.server!.close();
    h.server = undefined;
    await waitState(kim, 'reconnecting');
    h.server = await startChatServer({ port, host: '127.0.0.1', dbPath: h.dbPath }); // same database, same secret
    await waitState(kim, 'online', 20_000);
    assert.equal(await myUid(kim), uid, 'same id after a server restart');
    await kim.reload();
    await waitState(kim, 'online');
    await row(kim, 'kept across restarts').waitFor();
    assert.equal(await myUid(kim), uid);
    assert.equal(await kim.locator('#messages li.msg.own').count(), 1, 'own message recognised by the stable id');
    assert.deepEqual(h.pageErrors, []);
  });

  it('two tabs of one browser are one member; the person leaves with the last tab', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('tabs');
    const bob = await h.openChat(room, 'Bob');
    const ctx = await h.personContext('Pat');
    const tab1 = await h.openChat(room, 'Pat', { ctx });
    const tab2 = await h.openChat(room, 'Pat', { ctx });
    assert.equal(await myUid(tab1), await myUid(tab2));
    await bob.locator('#members .member-name', { hasText: 'Pat' }).waitFor();
    assert.deepEqual((await memberNames(bob)).sort(), ['Bob', 'Pat'], 'one Pat');
    assert.equal(await tab2.locator('#members .member').count(), 2);
    await tab1.close();
    await bob.waitForTimeout(300);
    assert.deepEqual((await memberNames(bob)).sort(), ['Bob', 'Pat'], 'still there through tab 2');
    await tab2.close();
    await bob.waitForFunction(() => document.querySelectorAll('#members .member').length === 1);
    assert.deepEqual(await memberNames(bob), ['Bob']);
    assert.deepEqual(h.pageErrors, []);
  });

  it('renaming: everyone sees the new name, history keeps the old one, the old name is free again', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('rename');
    const ctx = await h.personContext('Ann');
    const ann = await h.openChat(room, 'Ann', { ctx });
    const other = await h.openChat(room, 'Cid');
    await send(ann, 'said as Ann');
    await row(other, 'said as Ann').waitFor();
    const annTab2 = await h.openChat(room, 'Ann', { ctx });

    await ann.click('#name-button');
    await ann.fill('#name-input', 'Annabel');
    await ann.press('#name-input', 'Enter');
    await ann.locator('#me-name', { hasText: 'Annabel' }).waitFor();
    await annTab2.locator('#me-name', { hasText: 'Annabel' }).waitFor(); // the other tab follows
    await other.locator('#members .member-name', { hasText: 'Annabel' }).waitFor();
    assert.deepEqual((await memberNames(other)).sort(), ['Annabel', 'Cid']);

    await send(annTab2, 'said as Annabel');
    await row(other, 'said as Annabel').waitFor();
    assert.equal(await row(other, 'said as Ann').locator('.author').textContent(), 'Ann', 'history keeps the name at the time');
    assert.equal(await row(other, 'said as Annabel').locator('.author').textContent(), 'Annabel');
    assert.deepEqual(await texts(other), ['said as Ann', 'said as Annabel']);

    const newcomer = await h.openChat(room, 'ann'); // the old name, in any case, is free now
    assert.equal(await newcomer.locator('#me-name').textContent(), 'ann');
    assert.deepEqual(h.pageErrors, []);
  });
  it('behind a login proxy the name is the login: the name button is disabled, messages carry the login', { timeout: TEST_TIMEOUT }, async () => {
    const proxied = await h.extraServer({ trustUserHeader: { header: 'x-forwarded-user', trustedProxies: ['127.0.0.1', '::1'] } });
    const room = h.newRoom('proxy');
    // The proxy's header on every request of this browser (the page and its WebSocket).
    const ctx = await h.newContext();
    await ctx.setExtraHTTPHeaders({ 'X-Forwarded-User': 'jo.smith' });
    const page = await ctx.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('pageerror', (err) => h.pageErrors.push(`jo: ${err.message}`));
    // This browser remembers another name: the server's (the login) wins, and no dialog asks for one.
    await page.addInitScript(() => localStorage.setItem('wireroom:name', 'Someone Else'));
    await page.goto(`${proxied.url}/#${room}`, { waitUntil: 'domcontentloaded' });
    await waitState(page, 'online');
    await page.waitForSelector('#members .member.me');
    assert.equal(await page.locator('#me-name').textContent(), 'jo.smith');
    assert.equal(await page.locator('#name-button').isDisabled(), true, 'no rename control');
    assert.equal(await page.locator('#name-dialog[open]').count(), 0);
    assert.deepEqual(await memberNames(page), ['jo.smith']);
    await send(page, 'hello from the proxy');
    await delivered(page, 'hello from the proxy').waitFor();
    assert.equal(await row(page, 'hello from the proxy').locator('.author').textContent(), 'jo.smith');
    assert.deepEqual(h.pageErrors, []);
  });
});
