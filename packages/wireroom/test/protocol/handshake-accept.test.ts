import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeAcceptKey, generateKey, isValidClientKey } from '../../src/protocol/handshake/index.js';

test('computeAcceptKey matches the RFC 6455 section 1.3 example', () => {
  assert.equal(computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

test('generateKey returns distinct valid keys of 16 random bytes', () => {
  const keys = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const key = generateKey();
    assert.ok(isValidClientKey(key), key);
    assert.equal(Buffer.from(key, 'base64').length, 16);
    keys.add(key);
  }
  assert.equal(keys.size, 100);
});

test('isValidClientKey accepts 22 base64 characters followed by ==', () => {
  assert.ok(isValidClientKey('dGhlIHNhbXBsZSBub25jZQ=='));
  assert.ok(isValidClientKey('+/+/+/+/+/+/+/+/+/+/+w=='));
  // Non-canonical trailing bits are accepted on purpose (documented in accept.ts).
  assert.ok(isValidClientKey('dGhlIHNhbXBsZSBub25jZR=='));
});

test('isValidClientKey rejects everything else', () => {
  for (const bad of [
    '',
    'dGhlIHNhbXBsZSBub25jZQ', // unpadded
    'dGhlIHNhbXBsZSBub25jZQ=', // wrong padding
    'dGhlIHNhbXBsZSBub25jZQ===',
    'dGhlIHNhbXBsZSBub25jZ===', // 15 bytes
    'dGhlIHNhbXBsZSBub25jZQAA', // no padding: 18 bytes
    'dGhlIHNhbXBsZSBub25jZ-_==', // base64url alphabet
    'dGhlIHNhbXBsZSBub25j ZQ==',
    'dGhlIHNhbXBsZSBub25jZQ==\r\n',
    'dGhlIHNhbXBsZSBub25jZéQ=',
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', // 24 bytes
  ]) {
    assert.equal(isValidClientKey(bad), false, JSON.stringify(bad));
  }
});
