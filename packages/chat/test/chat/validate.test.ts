import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClientEnvelope } from '../../src/chat/validate.js';
import { defaultLimits } from '../../src/chat/limits.js';
import { sanitizeName, normalizeRoom, codePointLength } from '../../src/chat/sanitize.js';

const parse = (v: unknown): ReturnType<typeof parseClientEnvelope> =>
  parseClientEnvelope(typeof v === 'string' ? v : JSON.stringify(v), defaultLimits);

function codeOf(v: unknown): string {
  const r = parse(v);
  return r.ok ? 'OK' : r.code;
}

test('accepts every documented client envelope and applies defaults', () => {
  assert.deepEqual(parse({ type: 'join', room: 'lobby', name: 'Ann' }), { ok: true, envelope: { type: 'join', room: 'lobby', name: 'Ann' } });
  assert.deepEqual(parse({ type: 'join', room: 'Dev-Team', name: ' Ann ', after: 7 }), { ok: true, envelope: { type: 'join', room: 'dev-team', name: 'Ann', after: 7 } });
  assert.deepEqual(parse({ type: 'leave', room: 'a' }), { ok: true, envelope: { type: 'leave', room: 'a' } });
  assert.deepEqual(parse({ type: 'message', room: 'a', clientId: 'c1', text: ' hi ', extra: 1 }), { ok: true, envelope: { type: 'message', room: 'a', clientId: 'c1', text: ' hi ' } });
  assert.deepEqual(parse({ type: 'history', room: 'a', before: 10 }), { ok: true, envelope: { type: 'history', room: 'a', before: 10, limit: 50 } });
  assert.deepEqual(parse({ type: 'sync', room: 'a', after: 0, limit: 5 }), { ok: true, envelope: { type: 'sync', room: 'a', after: 0, limit: 5 } });
  assert.deepEqual(parse({ type: 'sync', room: 'a', after: 3 }), { ok: true, envelope: { type: 'sync', room: 'a', after: 3, limit: 1000 } });
  assert.deepEqual(parse({ type: 'typing', room: 'a' }), { ok: true, envelope: { type: 'typing', room: 'a' } });
  assert.deepEqual(parse({ type: 'ping' }), { ok: true, envelope: { type: 'ping' } });
  assert.deepEqual(parse({ type: 'ping', t: 12.5 }), { ok: true, envelope: { type: 'ping', t: 12.5 } });
});

test('malformed JSON and non-object frames', () => {
  for (const raw of ['', '{', '{"type":"ping"', 'nope', '{"a":1}}']) assert.equal(codeOf(raw), 'BAD_JSON', raw);
  for (const v of [null, 1, 'str', [], [{ type: 'ping' }], true]) assert.equal(codeOf(JSON.stringify(v)), 'BAD_MESSAGE', String(v));
  for (const v of [{}, { type: 1 }, { type: null }, { type: ['ping'] }]) assert.equal(codeOf(v), 'BAD_MESSAGE');
});

test('unknown types', () => {
  for (const type of ['', 'PING', 'hello', '__proto__', 'constructor', 'x'.repeat(10_000)]) assert.equal(codeOf({ type }), 'UNKNOWN_TYPE', type.slice(0, 20));
  const r = parse({ type: 'x'.repeat(1000) });
  assert.ok(!r.ok && r.message.length < 100, 'the echoed type is truncated');
});

test('bad rooms', () => {
  for (const room of [undefined, 1, '', '   ', 'a b', 'a/b', '../x', 'é', 'x'.repeat(65), null, {}, 'room\u0000']) {
    assert.equal(codeOf({ type: 'join', room, name: 'Ann' }), 'BAD_MESSAGE', String(room));
    assert.equal(codeOf({ type: 'typing', room }), 'BAD_MESSAGE', String(room));
  }
  assert.equal(codeOf({ type: 'join', room: 'x'.repeat(64), name: 'Ann' }), 'OK');
});

test('bad names', () => {
  for (const name of [5, null, ['Ann']]) assert.equal(codeOf({ type: 'join', room: 'a', name }), 'BAD_MESSAGE', JSON.stringify(name));
  for (const name of ['', '   ', '\u0000\u0007', '\u202E\u200B', '\u00AD\u2060\uFE0F']) {
    assert.equal(codeOf({ type: 'join', room: 'a', name }), 'INVALID_NAME', JSON.stringify(name));
    assert.equal(codeOf({ type: 'rename', name }), 'INVALID_NAME', `rename ${JSON.stringify(name)}`);
  }
  // Lone surrogates: UTF-8 stores them as U+FFFD, so the name held would differ from the name shown.
  for (const name of ['\uD800bob', 'bob\uDC00', '\uDBFF']) {
    assert.equal(codeOf({ type: 'rename', name }), 'INVALID_NAME', `rename ${JSON.stringify(name)}`);
    assert.equal(codeOf({ type: 'join', room: 'a', name }), 'INVALID_NAME', `join ${JSON.stringify(name)}`);
  }
  assert.equal(codeOf({ type: 'rename', name: 'bob\uD83D\uDE00' }), 'OK', 'a pair is fine');
  assert.equal(codeOf({ type: 'join', room: 'a' }), 'OK', 'join without a name: the person\'s current one');
  assert.equal(codeOf({ type: 'rename' }), 'BAD_MESSAGE');
  assert.equal(codeOf({ type: 'rename', name: 'n'.repeat(33) }), 'TOO_LONG');
  assert.deepEqual(parse({ type: 'rename', name: ' Ali\u200Bce ', uid: 'forged' }), { ok: true, envelope: { type: 'rename', name: 'Alice' } });
  assert.equal(codeOf({ type: 'join', room: 'a', name: 'n'.repeat(33) }), 'TOO_LONG');
  assert.equal(codeOf({ type: 'join', room: 'a', name: 'n'.repeat(100_00) }), 'TOO_LONG');
  assert.equal(codeOf({ type: 'join', room: 'a', name: '😀'.repeat(32) }), 'OK', '32 code points, 64 code units');
});

test('bad ids and limits', () => {
  for (const after of [-1, 1.5, '3', null, Number.MAX_SAFE_INTEGER + 2, true]) {
    assert.equal(codeOf({ type: 'join', room: 'a', name: 'A', after }), 'BAD_MESSAGE', String(after));
    assert.equal(codeOf({ type: 'sync', room: 'a', after }), 'BAD_MESSAGE', String(after));
    assert.equal(codeOf({ type: 'history', room: 'a', before: after }), 'BAD_MESSAGE', String(after));
  }
  assert.equal(codeOf({ type: 'history', room: 'a' }), 'BAD_MESSAGE');
  assert.equal(codeOf({ type: 'sync', room: 'a' }), 'BAD_MESSAGE');
  for (const limit of [0, 101, 2.5, '5', null]) assert.equal(codeOf({ type: 'history', room: 'a', before: 5, limit }), 'BAD_MESSAGE', String(limit));
  assert.equal(codeOf({ type: 'history', room: 'a', before: 5, limit: 100 }), 'OK');
  assert.equal(codeOf({ type: 'sync', room: 'a', after: 5, limit: 1001 }), 'BAD_MESSAGE');
  for (const t of ['1', null, {}]) assert.equal(codeOf({ type: 'ping', t }), 'BAD_MESSAGE');
  assert.equal(codeOf('{"type":"ping","t":1e400}'), 'BAD_MESSAGE', 'Infinity');
});

test('bad chat messages echo clientId and room when those were valid', () => {
  const base = { type: 'message', room: 'Lobby', clientId: 'c-1', text: 'hi' };
  for (const clientId of [undefined, '', 'has space', 'x'.repeat(65), 7, 'é']) {
    const r = parse({ ...base, clientId });
    assert.ok(!r.ok && r.code === 'BAD_MESSAGE' && r.clientId === undefined, String(clientId));
  }
  for (const text of [undefined, 5, '', '   \n\t ', '\ud800 lone', 'x\udc00']) {
    const r = parse({ ...base, text });
    assert.ok(!r.ok && r.code === 'BAD_MESSAGE', JSON.stringify(text));
    assert.equal(r.ok ? '' : r.clientId, 'c-1');
    assert.equal(r.ok ? '' : r.room, 'lobby');
  }
  const long = parse({ ...base, text: 'x'.repeat(2001) });
  assert.ok(!long.ok && long.code === 'TOO_LONG' && long.clientId === 'c-1' && long.room === 'lobby');
  assert.equal(codeOf({ ...base, text: 'x'.repeat(2000) }), 'OK');
  assert.equal(codeOf({ ...base, text: '😀'.repeat(2000) }), 'OK', 'limit counts code points');
  const badRoom = parse({ ...base, room: 'no way' });
  assert.ok(!badRoom.ok && badRoom.clientId === 'c-1' && badRoom.room === undefined);
});

test('text is kept verbatim: HTML, control characters, surrounding whitespace', () => {
  const text = ' <script>alert(1)</script>\u0000\u0007\r\n ';
  const r = parse({ type: 'message', room: 'a', clientId: 'c', text });
  assert.ok(r.ok && r.envelope.type === 'message' && r.envelope.text === text);
});

test('oversized frames are refused before parsing', () => {
  const r = parse(JSON.stringify({ type: 'message', room: 'a', clientId: 'c', text: 'x'.repeat(20_000) }));
  assert.ok(!r.ok && r.code === 'TOO_LONG');
});

test('a deeply nested or hostile JSON value never throws', () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  assert.doesNotThrow(() => parseClientEnvelope(deep, { ...defaultLimits, maxEnvelopeBytes: 1_000_000 }));
  assert.equal(codeOf('{"type":"join","room":"a","name":"A","__proto__":{"x":1}}'), 'OK');
});

test('sanitising helpers', () => {
  assert.equal(sanitizeName('  Ann\u0000\u001b[31m  \t Lee\u202E '), 'Ann[31m Lee');
  assert.equal(normalizeRoom(' Dev.Team_1 ', 64), 'dev.team_1');
  assert.equal(normalizeRoom('a b', 64), undefined);
  assert.equal(codePointLength('a😀b'), 3);
  assert.equal(codePointLength('\ud800'), 1);
});
