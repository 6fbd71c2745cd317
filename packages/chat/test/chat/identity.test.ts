/** The session secret file (generated next to the database, or given) and the ids derived from sessions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  defaultSecretPath, loadOrCreateSecret, newSessionId, readSecretFile, SecretFileError, uidOfProxyUser, uidOfSession,
} from '../../src/chat/identity.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wireroom-identity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const posix = process.platform !== 'win32';

test('the secret is generated once, mode 0600, in a new directory if needed, and read back the same', (t) => {
  const dir = tempDir(t);
  const path = defaultSecretPath(join(dir, 'data', 'chat.db'));
  assert.equal(path, join(dir, 'data', 'session-secret'));
  const keys = loadOrCreateSecret(path);
  assert.equal(keys.length, 1);
  assert.ok(Buffer.byteLength(keys[0]!) >= 32);
  if (posix) assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(loadOrCreateSecret(path), keys, 'an existing file is kept');
  assert.deepEqual(readSecretFile(path), keys);
});

test('a secret file readable by group or others is refused with a message saying what to do', { skip: !posix && 'POSIX modes only' }, (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'session-secret');
  writeFileSync(path, `${'k'.repeat(40)}\n`, { mode: 0o600 });
  for (const mode of [0o640, 0o604, 0o620]) {
    chmodSync(path, mode);
    assert.throws(() => loadOrCreateSecret(path), (e: unknown) => e instanceof SecretFileError && /group or others/.test(e.message) && /chmod 600/.test(e.message), mode.toString(8));
    assert.throws(() => readSecretFile(path), SecretFileError);
  }
});

test('secret files: several keys, first signs; comments and blank lines skipped; short keys, empty and missing files refused', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'keys');
  writeFileSync(path, `# rotated on Monday\n${'n'.repeat(40)}\n\n${'o'.repeat(32)}\r\n`, { mode: 0o600 });
  assert.deepEqual(readSecretFile(path), ['n'.repeat(40), 'o'.repeat(32)]);
  writeFileSync(path, `${'n'.repeat(40)}\nshort\n`, { mode: 0o600 });
  assert.throws(() => readSecretFile(path), /key 2 is shorter than 32 bytes/);
  writeFileSync(path, '# nothing\n\n', { mode: 0o600 });
  assert.throws(() => readSecretFile(path), /holds no key/);
  assert.throws(() => readSecretFile(join(dir, 'missing')), /cannot read the secret file/);
  assert.equal(readFileSync(path, 'utf8'), '# nothing\n\n', 'reading never rewrites');
});

test('session ids are 128 random bits; public ids are derived, stable and do not reveal the session', () => {
  const a = newSessionId();
  assert.match(a, /^[A-Za-z0-9_-]{22}$/);
  assert.notEqual(newSessionId(), a);
  assert.equal(uidOfSession(a), uidOfSession(a));
  assert.notEqual(uidOfSession(a), a);
  assert.notEqual(uidOfSession(a), uidOfSession(newSessionId()));
  assert.match(uidOfProxyUser('alice@example.com'), /^p_[A-Za-z0-9_-]{22}$/);
  assert.equal(uidOfProxyUser('alice'), uidOfProxyUser('alice'));
  assert.notEqual(uidOfProxyUser('alice'), uidOfProxyUser('Alice'));
});
