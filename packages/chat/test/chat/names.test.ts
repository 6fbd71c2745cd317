/** Name ownership in the SQLite store: look-alikes are the same name, a name belongs to its first taker. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nameKey, sanitizeName } from '../../src/chat/sanitize.js';
import { SqliteChatStore } from '../../src/chat/sqlite-store.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wireroom-identity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const LOOK_ALIKES = ['Alice', 'ALICE', 'alice', 'Ａｌｉｃｅ', 'Ali\u200Bce', 'A\u00ADlice', 'Al\u2060ice', ' alice ', 'ali\uFE0Fce', '\u{1D400}lice'];

test('nameKey folds case, width, compatibility forms and invisible characters; different names stay different', () => {
  for (const n of LOOK_ALIKES) assert.equal(nameKey(n), 'alice', JSON.stringify(n));
  assert.equal(nameKey('Straße'), nameKey('STRASSE'), 'full case folding of ß');
  assert.equal(nameKey('ΟΔΥΣΣΕΥΣ'), nameKey('οδυσσευς'), 'sigma');
  assert.equal(nameKey('ﬁona'), 'fiona', 'ligature');
  assert.equal(nameKey('Ann  Lee'), nameKey('ann lee'), 'whitespace runs');
  assert.equal(nameKey('e\u0301'), nameKey('\u00e9'), 'composed and decomposed forms');
  assert.notEqual(nameKey('Alice'), nameKey('Alicia'));
  assert.notEqual(nameKey('Ann'), nameKey('Anne'));
  assert.equal(nameKey('\u200B\u2060\uFEFF'), '', 'nothing visible: no key');
  assert.equal(sanitizeName('Ali\u200Bce'), 'Alice', 'the displayed name has no invisible characters either');
});

test('a name belongs to its first taker: look-alikes are refused to others; the owner may change its case; a rename frees it', async (t) => {
  const dir = tempDir(t);
  const store = SqliteChatStore.open(join(dir, 'chat.db'));
  t.after(() => store.close());
  assert.equal(await store.nameOf('u-alice'), undefined);
  assert.deepEqual(await store.claimName('u-alice', 'Alice'), { ok: true, name: 'Alice', previous: undefined });
  for (const n of LOOK_ALIKES) assert.deepEqual(await store.claimName('u-mallory', sanitizeName(n)), { ok: false, reason: 'taken' }, JSON.stringify(n));
  assert.equal(await store.nameOf('u-mallory'), undefined, 'a refused claim gives nothing');
  assert.deepEqual(await store.claimName('u-alice', 'ALICE'), { ok: true, name: 'ALICE', previous: 'Alice' }, 'its owner may restyle it');
  assert.equal(await store.nameOf('u-alice'), 'ALICE');
  assert.deepEqual(await store.claimName('u-alice', 'Alicia'), { ok: true, name: 'Alicia', previous: 'ALICE' });
  assert.deepEqual(await store.claimName('u-bob', 'alice'), { ok: true, name: 'alice', previous: undefined }, 'released by the rename');
  assert.deepEqual(await store.claimName('u-bob', 'Alicia'), { ok: false, reason: 'taken' });
  await assert.rejects(store.claimName('u-bob', '\u200B'), RangeError);
});

test('names survive reopening the file, and two stores on one file cannot both take a name', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'chat.db');
  const first = SqliteChatStore.open(path);
  const second = SqliteChatStore.open(path); // another process's view of the same file
  assert.equal((await first.claimName('u1', 'Zoë')).ok, true);
  assert.deepEqual(await second.claimName('u2', 'ZOË'), { ok: false, reason: 'taken' });
  await first.close();
  await second.close();
  const reopened = SqliteChatStore.open(path);
  t.after(() => reopened.close());
  assert.equal(await reopened.nameOf('u1'), 'Zoë');
  assert.deepEqual(await reopened.claimName('u3', 'zoe\u0308'), { ok: false, reason: 'taken' }, 'decomposed ë');
});
