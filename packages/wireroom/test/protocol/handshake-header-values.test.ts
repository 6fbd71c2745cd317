import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import {
  formatExtensions,
  isToken,
  parseExtensionOffers,
  parseTokenList,
  parseUpgradeList,
  type ExtensionOffer,
} from '../../src/protocol/handshake/index.js';
import { WireroomError } from '../../src/protocol/errors.js';

test('isToken', () => {
  assert.ok(isToken('permessage-deflate'));
  assert.ok(isToken("!#$%&'*+-.^_`|~09azAZ"));
  for (const bad of ['', 'a b', 'a,b', 'a;b', 'a=b', '"a"', 'a/b', 'a\tb', 'é', 'a\u0000', '(', ')', '<', '@', '[', '{', '?']) {
    assert.equal(isToken(bad), false, JSON.stringify(bad));
  }
});

test('parseTokenList: lists with OWS and empty elements', () => {
  assert.deepEqual(parseTokenList('chat'), ['chat']);
  assert.deepEqual(parseTokenList('chat, superchat'), ['chat', 'superchat']);
  assert.deepEqual(parseTokenList(' \tchat ,superchat\t'), ['chat', 'superchat']);
  assert.deepEqual(parseTokenList(',chat,,  , superchat,'), ['chat', 'superchat']);
  assert.deepEqual(parseTokenList('keep-alive, Upgrade'), ['keep-alive', 'Upgrade']);
  assert.deepEqual(parseTokenList(''), []);
  assert.deepEqual(parseTokenList(' , ,'), []);
});

test('parseTokenList: invalid lists give null', () => {
  for (const bad of ['a b', 'a;b', 'a,b c', '"a"', 'a/b', 'a,\u0000', 'a,é', 'a\r\nb', '=', 'a, b=']) {
    assert.equal(parseTokenList(bad), null, JSON.stringify(bad));
  }
});

test('parseUpgradeList accepts protocol/version elements', () => {
  assert.deepEqual(parseUpgradeList('websocket'), ['websocket']);
  assert.deepEqual(parseUpgradeList('HTTP/2.0, WebSocket'), ['HTTP/2.0', 'WebSocket']);
  assert.equal(parseUpgradeList('websocket/'), null);
  assert.equal(parseUpgradeList('/1'), null);
  assert.equal(parseUpgradeList('a/b/c'), null);
});

test('parseExtensionOffers: typical offers', () => {
  assert.deepEqual(parseExtensionOffers('permessage-deflate'), [{ name: 'permessage-deflate', params: [] }]);
  assert.deepEqual(parseExtensionOffers('permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=10'), [
    { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
    { name: 'permessage-deflate', params: [['server_max_window_bits', '10']] },
  ]);
});

test('parseExtensionOffers: whitespace around ; and =, empty elements, trailing commas', () => {
  const expected: ExtensionOffer[] = [
    { name: 'a', params: [['x', '1'], ['y', true]] },
    { name: 'b', params: [] },
  ];
  assert.deepEqual(parseExtensionOffers('a ; x = 1 ;\ty , b'), expected);
  assert.deepEqual(parseExtensionOffers(', a;x=1;y,,b ,'), expected);
  assert.deepEqual(parseExtensionOffers('a\t;\tx\t=\t1\t;\ty\t,\tb\t'), expected);
});

test('parseExtensionOffers: quoted values with escapes, duplicates kept in order', () => {
  assert.deepEqual(parseExtensionOffers('foo; bits="10"; bits=11; name="a\\bc"'), [
    { name: 'foo', params: [['bits', '10'], ['bits', '11'], ['name', 'abc']] },
  ]);
  assert.deepEqual(parseExtensionOffers('foo; v="\\1\\0"'), [{ name: 'foo', params: [['v', '10']] }]);
  // A quoted value may contain ',' or ';' only if... it is a token after unescaping, so never.
  assert.equal(parseExtensionOffers('foo; v="a,b"'), null);
  assert.equal(parseExtensionOffers('foo; v="a b"'), null);
  assert.equal(parseExtensionOffers('foo; v="a\\"b"'), null);
  assert.equal(parseExtensionOffers('foo; v=""'), null);
});

test('parseExtensionOffers: invalid offers give null', () => {
  for (const bad of [
    '', // 1#extension: at least one
    ' , ',
    ';x',
    'foo;',
    'foo; =1',
    'foo; x=',
    'foo; x==1',
    'foo; x=1=2',
    'foo bar',
    'foo; x y',
    'foo; x="1', // unterminated
    'foo; x="1\\', // dangling escape
    'foo; x=1"',
    'foo; x="1"2',
    'fo"o',
    'foo; x=\u00e9',
    'foo; x="1\u0000"',
    'foo; x="1\\\u0000"',
    'foo\r\n',
    'foo/1',
  ]) {
    assert.equal(parseExtensionOffers(bad), null, JSON.stringify(bad));
  }
});

test('formatExtensions round-trips through parseExtensionOffers', () => {
  const offers: ExtensionOffer[] = [
    { name: 'permessage-deflate', params: [['client_max_window_bits', true], ['server_max_window_bits', '10']] },
    { name: 'x-foo', params: [] },
  ];
  const text = formatExtensions(offers);
  assert.equal(text, 'permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-foo');
  assert.deepEqual(parseExtensionOffers(text), offers);
});

test('formatExtensions refuses names and values that are not tokens', () => {
  for (const offers of [
    [{ name: 'a b', params: [] }],
    [{ name: 'a', params: [['x y', true]] }],
    [{ name: 'a', params: [['x', '1\r\nEvil: yes']] }],
    [{ name: 'a', params: [['x', '']] }],
  ] as ExtensionOffer[][]) {
    assert.throws(() => formatExtensions(offers), (e: unknown) => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_ARGUMENT');
  }
});

/** Fastest of a few runs, in ms: noise (GC, other processes) only ever adds time. */
function timeMs(fn: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

const KiB = 1024;
const pathological: Array<[string, (n: number) => string]> = [
  ['spaces', (n) => 'a' + ' '.repeat(n) + 'b'],
  ['tabs then token', (n) => '\t'.repeat(n) + 'a'],
  ['commas', (n) => ','.repeat(n)],
  ['comma-space', (n) => ', '.repeat(n / 2)],
  ['semicolons', (n) => 'a' + ';'.repeat(n)],
  ['semicolon params', (n) => 'a' + '; x'.repeat(n / 3)],
  ['params with spaces', (n) => 'a' + ' ; x = 1 '.repeat(n / 9)],
  ['quotes', (n) => '"'.repeat(n)],
  ['open quoted value', (n) => 'a; x="' + 'b'.repeat(n)],
  ['escaped quoted value', (n) => 'a; x="' + '\\b'.repeat(n / 2) + '"'],
  ['backslashes', (n) => 'a; x="' + '\\'.repeat(n)],
  ['long token', (n) => 'a'.repeat(n)],
  ['many extensions', (n) => 'a, '.repeat(n / 3)],
  ['equals', (n) => 'a; x' + '='.repeat(n)],
];

test('header value parsers run in linear time on 100 KiB pathological inputs', () => {
  const parsers: Array<[string, (v: string) => unknown]> = [
    ['parseTokenList', parseTokenList],
    ['parseExtensionOffers', parseExtensionOffers],
    ['parseUpgradeList', parseUpgradeList],
  ];
  for (const [parserName, parse] of parsers) {
    for (const [inputName, make] of pathological) {
      const small = make(100 * KiB);
      const large = make(400 * KiB);
      parse(small); // warm up the JIT
      let label = '';
      let linear = false;
      // A noisy machine can slow one measurement down; a superlinear parser fails every attempt.
      for (let attempt = 0; attempt < 3 && !linear; attempt++) {
        const tSmall = timeMs(() => parse(small));
        const tLarge = timeMs(() => parse(large));
        label = `${parserName} on ${inputName}: ${tSmall.toFixed(2)} ms for 100 KiB, ${tLarge.toFixed(2)} ms for 400 KiB`;
        // Linear: 4x the input costs about 4x the time; quadratic would be 16x, and a quadratic scan of
        // 400 KiB would take seconds, far above the floor that absorbs GC pauses and timer noise.
        linear = tSmall < 50 && tLarge < Math.max(100, tSmall * 12);
      }
      assert.ok(linear, label);
    }
  }
});
