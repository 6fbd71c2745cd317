// The chat page resuming a room whose backlog is far larger than one reply (1 MiB), in real Chromium:
// while other members keep posting, across a reload in the middle of the sync, and across kill -9 of
// the server in the middle of the sync. Each ends with every message delivered exactly once, in id order.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { browserSkip, chatHarness, waitState, STEP_TIMEOUT, TEST_TIMEOUT } from './chat-harness.js';
import { SqliteChatStore } from '../../src/chat/sqlite-store.js';
import { TestClient } from '../chat/fixtures/client.js';
import { fastLimits } from '../chat/fixtures/server.js';

const CHILD = fileURLToPath(new URL('../chat/fixtures/chat-child.ts', import.meta.url));
const BIG = 'x'.repeat(1200); // ~1.3 KB per message on the wire: a 1 MiB reply holds ~780 of them

/** One `message` event seen by a page: which page load (session), in what order, which id, from where. */
interface Seen { session: string; seq: number; id: number; source: string }

/**
 * Records every `message` event the page's WireroomClient emits, in emission order, across reloads of the
 * tab. Each event is written to the tab's sessionStorage synchronously, in the task that emits it and before
 * the app's listeners run, so it is on record before the client can persist the id or the page can navigate
 * away. (Calls into the test process, e.g. an exposed function, are not durable: those still in flight when
 * the page reloads are dropped, and they reach the test late when it is busy.) Read with `seenMessages`.
 * Instrumentation only: the client runs unchanged.
 */
async function recordMessages(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const session = Math.random().toString(36).slice(2);
    const loads = JSON.parse(sessionStorage.getItem('wr-seen:loads') ?? '[]') as string[];
    loads.push(session);
    sessionStorage.setItem('wr-seen:loads', JSON.stringify(loads));
    let seq = 0;
    const dispatch = EventTarget.prototype.dispatchEvent;
    EventTarget.prototype.dispatchEvent = function (this: EventTarget, e: Event) {
      const d = (e as CustomEvent).detail;
      if (e.type === 'message' && d && d.message && typeof d.message.id === 'number') {
        // No try/catch: a failed write breaks the page loudly (pageErrors, a gap) instead of losing an event.
        sessionStorage.setItem(`wr-seen:${session}:${seq++}`, `${d.message.id} ${d.source}`);
      }
      return dispatch.call(this, e);
    };
  });
}

/** The events recorded by `recordMessages` in the page's tab: one list per page load, in load order, each in emission order. */
async function seenMessages(page: Page): Promise<Seen[][]> {
  return page.evaluate(() => {
    const loads = JSON.parse(sessionStorage.getItem('wr-seen:loads') ?? '[]') as string[];
    return loads.map((session) => {
      const events: Seen[] = [];
      for (let seq = 0; ; seq++) {
        const v = sessionStorage.getItem(`wr-seen:${session}:${seq}`);
        if (v === null) break;
        const [id, source] = v.split(' ');
        events.push({ session, seq, id: Number(id), source: source! });
      }
      return events;
    });
  });
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** Rendered rows: ids strictly increasing (each once, in order) and the newest one is `last`. */
async function assertRendered(page: Page, last: number): Promise<void> {
  const ids = (await page.locator('#messages > li.msg').evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.id)))) as number[];
  assert.ok(ids.length > 0);
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `rendered rows in id order, each once (at ${i}: ${ids[i - 1]} then ${ids[i]})`);
  assert.equal(ids[ids.length - 1], last);
}

/** Appends `n` big messages straight into the database (the backlog a returning member missed). */
async function appendBacklog(dbPath: string, room: string, n: number): Promise<void> {
  const store = SqliteChatStore.open(dbPath);
  try {
    await Promise.all(range(1, n).map((i) => store.append({ room, uid: 'u-backlog', name: 'Backlog', text: `backlog ${i} ${BIG}`, clientId: `b${i}` })));
  } finally {
    await store.close();
  }
}

async function contiguousHigh(page: Page, room: string): Promise<number> {
  return page.evaluate((r) => (window as unknown as { wireroom: { client: { rooms: Map<string, { high: number; mode: string }> } } })
    .wireroom.client.rooms.get(r)?.high ?? -1, room);
}

async function waitHigh(page: Page, room: string, id: number, timeout = 30_000): Promise<void> {
  await page.waitForFunction(([r, want]) => {
    // During a reload the new document exists before chat.js has run (no `wireroom` yet): keep waiting.
    const st = (window as unknown as { wireroom?: { client: { rooms: Map<string, { high: number; mode: string }> } } }).wireroom?.client.rooms.get(r as string);
    return st !== undefined && st.high >= (want as number) && st.mode === 'live';
  }, [room, id], { timeout });
}

async function openPage(ctx: BrowserContext, url: string, room: string, errors: string[]): Promise<Page> {
  const page = await ctx.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  page.on('pageerror', (err) => errors.push(err.message));
  return page;
}

describe('chat page in Chromium: resume far beyond one page', { skip: browserSkip, timeout: 4 * TEST_TIMEOUT }, () => {
  const h = chatHarness('e2e-resume');

  /** A member who saw message 1, then left; returns its browser profile (localStorage has lastIds). */
  async function memberWhoLeft(url: string, room: string, poster: TestClient): Promise<BrowserContext> {
    const ctx = await h.newContext();
    await ctx.addInitScript(() => { if (!localStorage.getItem('wireroom:name')) localStorage.setItem('wireroom:name', 'Ada'); });
    poster.send({ type: 'message', room, clientId: 'first', text: 'first' });
    await poster.next('ack');
    const page = await openPage(ctx, url, room, h.pageErrors);
    await page.goto(`${url}/#${room}`);
    await waitState(page, 'online');
    await page.waitForFunction(() => localStorage.getItem('wireroom:lastIds')?.includes('"id":1'));
    await page.close();
    return ctx;
  }

  it('rejoins with a backlog of several MiB while others post: every message once, in order, nothing lost', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('busy');
    const server = await h.extraServer({ limits: fastLimits, dbPath: join(h.dir, 'busy.db') });
    const poster = await TestClient.connect(server.url);
    await poster.join(room, 'Poster');
    const ctx = await memberWhoLeft(server.url, room, poster);
    const backlog = 2500; // ~3.3 MB: the join reply and three or more sync pages
    await appendBacklog(join(h.dir, 'busy.db'), room, backlog);

    // Live traffic from before the rejoin until well after it: ~50 messages a second.
    let posted = 0;
    let stop = false;
    const posting = (async () => {
      for (let i = 0; i < 3000 && !stop; i++) {
        poster.send({ type: 'message', room, clientId: `live${i}`, text: `live ${i}` });
        posted++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await new Promise((r) => setTimeout(r, 100));

    const page = await openPage(ctx, server.url, room, h.pageErrors);
    await recordMessages(page);
    await page.goto(`${server.url}/#${room}`);
    await waitHigh(page, room, 1 + backlog);
    await new Promise((r) => setTimeout(r, 500)); // more live traffic after catching up
    stop = true;
    await posting;
    const acks = await poster.take('ack', posted, 15_000);
    const last = Math.max(...acks.map((a) => a.id!));
    assert.equal(last, 1 + backlog + posted);
    await waitHigh(page, room, last);

    const loads = await seenMessages(page);
    assert.equal(loads.length, 1);
    const [s] = loads;
    assert.deepEqual(s!.map((e) => e.id), range(2, last), 'every id after the last seen one, exactly once, in id order');
    assert.ok(s!.some((e) => e.source === 'sync'), 'the backlog took sync pages');
    assert.ok(s!.some((e) => e.source === 'live' && e.id > 1 + backlog), 'live messages were delivered');
    await assertRendered(page, last);
    await page.waitForFunction((want) => localStorage.getItem('wireroom:lastIds')?.includes(`"id":${want}`), last);
    poster.close();
    assert.deepEqual(h.pageErrors, []);
  });

  it('a reload in the middle of the sync resumes where the first load stopped: no gap, no repeat', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('reload');
    const server = await h.extraServer({ limits: fastLimits, dbPath: join(h.dir, 'reload.db') });
    const poster = await TestClient.connect(server.url);
    await poster.join(room, 'Poster');
    const ctx = await memberWhoLeft(server.url, room, poster);
    const backlog = 4000;
    await appendBacklog(join(h.dir, 'reload.db'), room, backlog);

    const page = await openPage(ctx, server.url, room, h.pageErrors);
    await recordMessages(page);
    // Reload from inside the page as soon as the first sync page was delivered (once per tab).
    await page.addInitScript(() => {
      if (sessionStorage.getItem('reloaded')) return;
      window.addEventListener('DOMContentLoaded', () => {
        const client = (window as unknown as { wireroom: { client: EventTarget } }).wireroom.client;
        client.addEventListener('message', (e) => {
          if ((e as CustomEvent).detail.source !== 'sync' || sessionStorage.getItem('reloaded')) return;
          sessionStorage.setItem('reloaded', '1');
          location.reload();
        });
      });
    });
    await page.goto(`${server.url}/#${room}`);
    await waitHigh(page, room, 1 + backlog);
    for (let i = 0; i < 5; i++) poster.send({ type: 'message', room, clientId: `after${i}`, text: `after ${i}` });
    const last = 1 + backlog + 5;
    await waitHigh(page, room, last);

    const all = await seenMessages(page);
    assert.equal(all.length, 2, 'two page loads');
    const [first, second] = all as [Seen[], Seen[]];
    const firstIds = first.map((e) => e.id);
    assert.ok(firstIds[firstIds.length - 1]! < 1 + backlog, `the first load stopped mid-sync (at ${firstIds[firstIds.length - 1]})`);
    assert.deepEqual(firstIds, range(2, firstIds[firstIds.length - 1]!), 'first load: contiguous, in order');
    assert.deepEqual([...firstIds, ...second.map((e) => e.id)], range(2, last), 'second load continues right after the first: once each, in order');
    await assertRendered(page, last);
    poster.close();
    assert.deepEqual(h.pageErrors, []);
  });

  it('kill -9 of the server in the middle of the sync, then a restart: the page resumes with no gap and no repeat', { timeout: TEST_TIMEOUT }, async () => {
    const room = h.newRoom('kill');
    const dbPath = join(h.dir, 'kill.db');
    let child: ChildProcess | undefined;
    const start = async (port: number): Promise<string> => {
      child = spawn(process.execPath, ['--import', 'tsx', CHILD, dbPath, 'FULL', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
      return (JSON.parse(line) as { url: string }).url;
    };
    try {
      const url = await start(0);
      const port = Number(new URL(url).port);
      const poster = await TestClient.connect(url);
      await poster.join(room, 'Poster');
      const ctx = await memberWhoLeft(url, room, poster);
      poster.close();
      const backlog = 6000; // ~8 MB: many pages, so the kill lands between two of them
      await appendBacklog(dbPath, room, backlog);

      const page = await openPage(ctx, url, room, h.pageErrors);
      await recordMessages(page);
      // The kill lands in the middle of the sync whatever the load: the page stops (a debugger pause, through
      // CDP) in the first message of the first sync page, before the client asks for the next page; the server
      // is killed while the page is stopped, then the page goes on. (Killing when the test process heard of the
      // first sync message raced the page: under load the news came after the whole sync was done.)
      await page.addInitScript(() => {
        window.addEventListener('DOMContentLoaded', () => {
          const client = (window as unknown as { wireroom: { client: EventTarget } }).wireroom.client;
          let stopped = false;
          client.addEventListener('message', (e) => {
            if ((e as CustomEvent).detail.source !== 'sync' || stopped) return;
            stopped = true;
            debugger;
          });
        });
      });
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('Debugger.enable');
      const stopped = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the page did not reach a sync page')), 30_000);
        cdp.once('Debugger.paused', () => { clearTimeout(timer); resolve(); });
      });
      const loading = page.goto(`${url}/#${room}`);
      loading.catch(() => {}); // awaited after the pause, which may hold the load event
      await stopped;
      child!.kill('SIGKILL');
      if (child!.exitCode === null && child!.signalCode === null) await once(child!, 'exit');
      await cdp.send('Debugger.resume');
      await cdp.send('Debugger.disable');
      await loading;
      await page.waitForFunction(() => document.getElementById('conn')?.dataset.state !== 'online', undefined, { timeout: 20_000 });
      await start(port);
      await waitHigh(page, room, 1 + backlog, 30_000);
      const again = await TestClient.connect(url, { cookie: poster.cookie }); // the poster, back after the restart
      await again.join(room, 'Poster');
      for (let i = 0; i < 3; i++) again.send({ type: 'message', room, clientId: `after${i}`, text: `after ${i}` });
      const last = 1 + backlog + 3;
      await waitHigh(page, room, last);
      again.close();

      const all = await seenMessages(page);
      assert.equal(all.length, 1, 'one page load');
      const s = all[0]!;
      assert.deepEqual(s.map((e) => e.id), range(2, last), 'every id once, in id order, across the crash');
      const firstSync = s.findIndex((e) => e.source === 'sync');
      assert.ok(s.slice(firstSync).some((e) => e.source === 'join' && e.id <= 1 + backlog), 'the sync was cut by the kill and resumed by a new join');
      await assertRendered(page, last);
      assert.deepEqual(h.pageErrors, []);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
