import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpHeadParser, type HeadLimits, type HeadResult, type RequestHead } from '../../src/protocol/handshake/index.js';
import { HandshakeError, WireroomError } from '../../src/protocol/errors.js';

const CHROME_REQUEST =
  'GET /chat?room=lobby HTTP/1.1\r\n' +
  'Host: server.example.com:8080\r\n' +
  'Connection: Upgrade\r\n' +
  'Pragma: no-cache\r\n' +
  'Cache-Control: no-cache\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n' +
  'Upgrade: websocket\r\n' +
  'Origin: http://example.com\r\n' +
  'Sec-WebSocket-Version: 13\r\n' +
  'Accept-Encoding: gzip, deflate, br\r\n' +
  'Accept-Language: en-US,en;q=0.9\r\n' +
  'Cookie: a=1\r\n' +
  'Cookie: b=2\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
  'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' +
  '\r\n';

function feed(kind: 'request' | 'response', chunks: Buffer[], limits?: Partial<HeadLimits>): HeadResult {
  const parser = new HttpHeadParser(kind, limits);
  let result: HeadResult = { state: 'incomplete' };
  for (const chunk of chunks) {
    result = parser.push(chunk);
    if (result.state !== 'incomplete') break;
  }
  return result;
}

function parseRequest(text: string | Buffer, limits?: Partial<HeadLimits>): HeadResult {
  return feed('request', [typeof text === 'string' ? Buffer.from(text, 'latin1') : text], limits);
}

function completeHead(result: HeadResult): RequestHead {
  assert.equal(result.state, 'complete', result.state === 'error' ? result.error.message : 'incomplete');
  if (result.state !== 'complete') throw new Error('unreachable');
  return result.head as RequestHead;
}

/** Comparable snapshot of a request head. */
function snapshot(head: RequestHead): unknown {
  return { method: head.method, target: head.target, v: [head.versionMajor, head.versionMinor], headers: head.headers };
}

function assertError(result: HeadResult, status: number, code: string, label = ''): HandshakeError {
  assert.equal(result.state, 'error', `expected an error ${label}`);
  if (result.state !== 'error') throw new Error('unreachable');
  assert.ok(result.error instanceof HandshakeError);
  assert.equal(result.error.status, status, `${label}: ${result.error.message}`);
  assert.equal(result.error.code, code, label);
  return result.error;
}

test('parses a browser handshake request', () => {
  const head = completeHead(parseRequest(CHROME_REQUEST));
  assert.equal(head.method, 'GET');
  assert.equal(head.target, '/chat?room=lobby');
  assert.equal(head.versionMajor, 1);
  assert.equal(head.versionMinor, 1);
  assert.equal(head.headers.length, 14);
  assert.deepEqual(head.headers[0], ['host', 'server.example.com:8080']);
  assert.equal(head.get('HOST'), 'server.example.com:8080');
  assert.equal(head.get('sec-websocket-key'), 'dGhlIHNhbXBsZSBub25jZQ==');
  assert.equal(head.get('Cookie'), 'a=1');
  assert.deepEqual(head.getAll('cookie'), ['a=1', 'b=2']);
  assert.equal(head.get('x-missing'), undefined);
  assert.deepEqual(head.getAll('x-missing'), []);
});

test('values are trimmed of OWS and keep inner whitespace and obs-text bytes', () => {
  const head = completeHead(parseRequest('GET / HTTP/1.1\r\nA: \t x  y \t\r\nB:\r\nC:z\r\nD: caf\xe9\r\n\r\n'));
  assert.deepEqual(head.headers, [['a', 'x  y'], ['b', ''], ['c', 'z'], ['d', 'caf\xe9']]);
});

test('every split into two chunks, and one byte at a time, gives the same head', () => {
  const bytes = Buffer.from(CHROME_REQUEST, 'latin1');
  const expected = snapshot(completeHead(parseRequest(bytes)));
  for (let cut = 0; cut <= bytes.length; cut++) {
    const result = feed('request', [bytes.subarray(0, cut), bytes.subarray(cut)]);
    assert.deepEqual(snapshot(completeHead(result)), expected, `split at ${cut}`);
    if (result.state === 'complete') assert.equal(result.rest.length, 0);
  }
  const parser = new HttpHeadParser('request');
  for (let i = 0; i < bytes.length; i++) {
    const result = parser.push(bytes.subarray(i, i + 1));
    if (i < bytes.length - 1) assert.equal(result.state, 'incomplete', `byte ${i}`);
    else assert.deepEqual(snapshot(completeHead(result)), expected);
  }
});

test('every split into three chunks gives the same head', () => {
  const bytes = Buffer.from('GET /a HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n', 'latin1');
  const expected = snapshot(completeHead(parseRequest(bytes)));
  for (let a = 0; a <= bytes.length; a++) {
    for (let b = a; b <= bytes.length; b++) {
      const result = feed('request', [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]);
      assert.deepEqual(snapshot(completeHead(result)), expected, `splits at ${a}, ${b}`);
    }
  }
});

test('bytes after the head are returned in rest as a view of the chunk', () => {
  const frame = Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  const chunk = Buffer.concat([Buffer.from(CHROME_REQUEST, 'latin1'), frame]);
  const result = parseRequest(chunk);
  completeHead(result);
  if (result.state !== 'complete') return;
  assert.deepEqual(result.rest, frame);
  assert.equal(result.rest.buffer, chunk.buffer, 'rest must not be a copy');
  assert.equal(result.rest.byteOffset, chunk.byteOffset + CHROME_REQUEST.length);

  // The head's last bytes and the frame arrive together after an earlier partial chunk.
  const cut = CHROME_REQUEST.length - 3;
  const split = feed('request', [chunk.subarray(0, cut), chunk.subarray(cut)]);
  completeHead(split);
  if (split.state === 'complete') assert.deepEqual(split.rest, frame);
});

test('push after complete is API misuse; an empty chunk is incomplete', () => {
  const parser = new HttpHeadParser('request');
  assert.equal(parser.push(Buffer.alloc(0)).state, 'incomplete');
  assert.equal(parser.push(Buffer.from('GET / HTTP/1.1\r\n\r\n')).state, 'complete');
  assert.throws(() => parser.push(Buffer.from('x')), (e: unknown) => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_STATE');
});

test('after an error every later push returns the same error', () => {
  const parser = new HttpHeadParser('request');
  const first = parser.push(Buffer.from('GET / HTTP/1.1\nHost: x\r\n'));
  assertError(first, 400, 'WS_ERR_HANDSHAKE_BAD_REQUEST');
  const again = parser.push(Buffer.from('\r\n'));
  assert.equal(again.state === 'error' && first.state === 'error' && again.error === first.error, true);
});

test('syntax errors are 400 Bad Request', () => {
  const cases: Array<[string, string]> = [
    ['bare LF ending the request line', 'GET / HTTP/1.1\nHost: x\r\n\r\n'],
    ['bare LF ending a header', 'GET / HTTP/1.1\r\nHost: x\n\r\n'],
    ['bare LF ending the head', 'GET / HTTP/1.1\r\nHost: x\r\n\n'],
    ['bare CR inside a value', 'GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n'],
    ['bare CR as a line terminator', 'GET / HTTP/1.1\r\nHost: x\r\rA: b\r\n\r\n'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\n  continued\r\n\r\n'],
    ['obs-fold with a tab', 'GET / HTTP/1.1\r\nHost: x\r\n\tcontinued\r\n\r\n'],
    ['whitespace before the first header', 'GET / HTTP/1.1\r\n Host: x\r\n\r\n'],
    ['space before the colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n'],
    ['invalid name character', 'GET / HTTP/1.1\r\nHo(st: x\r\n\r\n'],
    ['non-ASCII name', 'GET / HTTP/1.1\r\nH\xe9st: x\r\n\r\n'],
    ['missing colon', 'GET / HTTP/1.1\r\nHost x\r\n\r\n'],
    ['empty name', 'GET / HTTP/1.1\r\n: x\r\n\r\n'],
    ['NUL in a value', 'GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n'],
    ['DEL in a value', 'GET / HTTP/1.1\r\nHost: x\x7fy\r\n\r\n'],
    ['escape char in a value', 'GET / HTTP/1.1\r\nHost: x\x1by\r\n\r\n'],
    ['empty line before the request line', '\r\nGET / HTTP/1.1\r\n\r\n'],
    ['lower-case version', 'GET / http/1.1\r\n\r\n'],
    ['two-digit version', 'GET / HTTP/11.1\r\n\r\n'],
    ['trailing garbage after the version', 'GET / HTTP/1.1x\r\n\r\n'],
    ['missing version', 'GET /\r\n\r\n'],
    ['missing target', 'GET  HTTP/1.1\r\n\r\n'],
    ['double space', 'GET  / HTTP/1.1\r\n\r\n'],
    ['tab separator', 'GET\t/ HTTP/1.1\r\n\r\n'],
    ['invalid method', 'G(ET / HTTP/1.1\r\n\r\n'],
    ['non-ASCII target', 'GET /caf\xe9 HTTP/1.1\r\n\r\n'],
    ['space in target', 'GET /a b HTTP/1.1\r\n\r\n'],
  ];
  for (const [label, text] of cases) assertError(parseRequest(text), 400, 'WS_ERR_HANDSHAKE_BAD_REQUEST', label);
});

test('accepts other methods and versions syntactically (validation decides)', () => {
  const head = completeHead(parseRequest('POST * HTTP/1.0\r\n\r\n'));
  assert.equal(head.method, 'POST');
  assert.equal(head.target, '*');
  assert.equal(head.versionMinor, 0);
});

test('parses responses, with or without a reason phrase', () => {
  const result = feed('response', [Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nxy')]);
  assert.equal(result.state, 'complete');
  if (result.state !== 'complete' || !('status' in result.head)) return;
  assert.equal(result.head.status, 101);
  assert.equal(result.head.reason, 'Switching Protocols');
  assert.equal(result.head.get('upgrade'), 'websocket');
  assert.equal(result.rest.toString(), 'xy');

  const bare = feed('response', [Buffer.from('HTTP/1.1 404\r\n\r\n')]);
  assert.equal(bare.state === 'complete' && 'status' in bare.head && bare.head.status === 404 && bare.head.reason === '', true);
});

test('response errors carry HANDSHAKE_INVALID_RESPONSE and the status when known', () => {
  for (const text of ['HTTP/1.1 1O1 OK\r\n\r\n', 'HTTP/1.1\r\n\r\n', 'HTTP/1.1 101Switching\r\n\r\n', 'ICY 200 OK\r\n\r\n', 'HTTP/1.1 101 OK\n\n']) {
    assertError(feed('response', [Buffer.from(text, 'latin1')]), 0, 'WS_ERR_HANDSHAKE_INVALID_RESPONSE', JSON.stringify(text));
  }
  assertError(feed('response', [Buffer.from('HTTP/1.1 403 Forbidden\r\nBad Header: x\r\n\r\n')]), 403, 'WS_ERR_HANDSHAKE_INVALID_RESPONSE');
  assertError(feed('response', [Buffer.from('HTTP/1.1 101 ' + 'x'.repeat(100) + '\r\n\r\n')], { maxRequestLineBytes: 50 }), 0, 'WS_ERR_HANDSHAKE_INVALID_RESPONSE');
});

test('invalid limits are refused', () => {
  for (const limits of [{ maxHeaders: 0 }, { maxHeaderBytes: -1 }, { maxHeaderLineBytes: 1.5 }, { maxRequestLineBytes: Number.NaN }]) {
    assert.throws(() => new HttpHeadParser('request', limits), (e: unknown) => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_ARGUMENT');
  }
});

// ---- limits

const URI_TOO_LONG = 'WS_ERR_HANDSHAKE_URI_TOO_LONG';
const TOO_LARGE = 'WS_ERR_HANDSHAKE_HEADERS_TOO_LARGE';

function requestLineOf(length: number): string {
  const prefix = 'GET /';
  const suffix = ' HTTP/1.1';
  return prefix + 'a'.repeat(length - prefix.length - suffix.length) + suffix;
}

test('request line: 8192 bytes pass, 8193 are 414 URI Too Long (defaults)', () => {
  const ok = requestLineOf(8192);
  assert.equal(ok.length, 8192);
  completeHead(parseRequest(ok + '\r\n\r\n'));
  assertError(parseRequest(requestLineOf(8193) + '\r\n\r\n'), 414, URI_TOO_LONG);
});

test('header line: 8192 bytes pass, 8193 are 431 (defaults)', () => {
  const line = (n: number): string => 'X-Big: ' + 'v'.repeat(n - 7);
  completeHead(parseRequest(`GET / HTTP/1.1\r\n${line(8192)}\r\n\r\n`));
  assertError(parseRequest(`GET / HTTP/1.1\r\n${line(8193)}\r\n\r\n`), 431, TOO_LARGE);
});

test('total head: 16384 bytes pass, 16385 are 431 (defaults)', () => {
  const build = (total: number): string => {
    const start = 'GET / HTTP/1.1\r\n';
    const lines: string[] = [];
    let size = start.length + 2; // + final CRLF
    while (total - size > 4000 + 2) {
      lines.push('X-Fill: ' + 'f'.repeat(4000 - 8) + '\r\n');
      size += 4002;
    }
    lines.push('X-Last: ' + 'l'.repeat(total - size - 2 - 8) + '\r\n');
    return start + lines.join('') + '\r\n';
  };
  assert.equal(build(16384).length, 16384);
  completeHead(parseRequest(build(16384)));
  assertError(parseRequest(build(16385)), 431, TOO_LARGE);
});

test('header count: 128 headers pass, 129 are 431 (defaults)', () => {
  const build = (count: number): string => 'GET / HTTP/1.1\r\n' + Array.from({ length: count }, (_, i) => `H${i}: v\r\n`).join('') + '\r\n';
  assert.equal(completeHead(parseRequest(build(128))).headers.length, 128);
  assertError(parseRequest(build(129)), 431, TOO_LARGE);
});

test('limits are refused at the exact byte that crosses them, fed one byte at a time', () => {
  const limits = { maxRequestLineBytes: 20, maxHeaderLineBytes: 16, maxHeaderBytes: 64, maxHeaders: 3 };
  const cases: Array<[string, string, number, number]> = [
    // [label, input, status, index of the byte that must trigger the error]
    ['request line', 'GET /' + 'a'.repeat(100), 414, 22], // 20 + CRLF allowance, refused at the 23rd byte
    ['header line', 'GET / HTTP/1.1\r\nX: ' + 'a'.repeat(100), 431, 16 + 18],
    ['total head', 'GET / HTTP/1.1\r\n' + 'A: 0123456789\r\n'.repeat(2) + 'B: 012345678901\r\n' + 'C: 0\r\n'.repeat(10), 431, 64],
  ];
  for (const [label, text, status, failAt] of cases) {
    const bytes = Buffer.from(text, 'latin1');
    const parser = new HttpHeadParser('request', limits);
    let failedAt = -1;
    for (let i = 0; i < bytes.length; i++) {
      const result = parser.push(bytes.subarray(i, i + 1));
      if (result.state === 'error') {
        assert.equal(result.error.status, status, label);
        failedAt = i;
        break;
      }
    }
    assert.equal(failedAt, failAt, label);
    // Fed at once, the verdict is the same.
    assertError(parseRequest(bytes, limits), status, status === 414 ? URI_TOO_LONG : TOO_LARGE, label);
  }
});

test('a header flood that never ends is refused as soon as the limit is crossed, with bounded memory', () => {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const parser = new HttpHeadParser('request');
  assert.equal(parser.push(Buffer.from('GET / HTTP/1.1\r\nX-Flood: ')).state, 'incomplete');
  const result = parser.push(chunk); // crosses the 8 KiB header-line limit within this first chunk
  assertError(result, 431, TOO_LARGE);

  // A start line without LF: refused on the push that crosses 8 KiB, not later.
  const slow = new HttpHeadParser('request');
  const piece = Buffer.alloc(1000, 'a');
  let pushes = 0;
  let last: HeadResult = { state: 'incomplete' };
  while (last.state === 'incomplete' && pushes < 100) {
    last = slow.push(piece);
    pushes++;
  }
  assertError(last, 414, URI_TOO_LONG);
  assert.equal(pushes, 9, 'refused on the push that crossed 8194 bytes');

  // Many short header lines: the 16 KiB total head limit ends the flood.
  const lines = new HttpHeadParser('request', { maxHeaders: 100000 });
  lines.push(Buffer.from('GET / HTTP/1.1\r\n'));
  const line = Buffer.from('X-Flood: aaaaaaaaaaaaaaaaaaaaaa\r\n');
  let count = 0;
  let state: HeadResult = { state: 'incomplete' };
  while (state.state === 'incomplete' && count < 100000) {
    state = lines.push(line);
    count++;
  }
  assertError(state, 431, TOO_LARGE);
  assert.ok(count * line.length <= 16384 + line.length, `refused after ${count} lines`);

  // Memory stays bounded while a peer keeps sending ~256 MiB after the refusal, and while a parser
  // carries a partial line that is fed one small piece at a time.
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 4096; i++) assert.equal(parser.push(chunk).state, 'error');
  const retained: HttpHeadParser[] = [];
  for (let i = 0; i < 200; i++) {
    const p = new HttpHeadParser('request');
    p.push(Buffer.from('GET / HTTP/1.1\r\nX: '));
    p.push(chunk.subarray(0, 8000)); // partial line of ~8 KB kept
    retained.push(p);
  }
  const growth = process.memoryUsage().arrayBuffers - before;
  // 200 parsers x ~8 KB partial lines = ~1.6 MB; a parser holding its 64 KiB chunk would be ~13 MB.
  assert.ok(growth < 8 * 1024 * 1024, `arrayBuffers grew by ${growth} bytes`);
  assert.equal(retained.length, 200);
});

test('no rescans: a long line fed in small pieces costs time linear in its length', () => {
  const limits = { maxHeaderLineBytes: 4 * 1024 * 1024, maxHeaderBytes: 8 * 1024 * 1024 };
  const feedInPieces = (valueBytes: number): number => {
    const parser = new HttpHeadParser('request', limits);
    parser.push(Buffer.from('GET / HTTP/1.1\r\nX-Long: '));
    const piece = Buffer.alloc(16, 'v');
    const start = performance.now();
    for (let sent = 0; sent < valueBytes; sent += piece.length) parser.push(piece);
    const result = parser.push(Buffer.from('\r\n\r\n'));
    const ms = performance.now() - start;
    assert.equal(result.state, 'complete');
    return ms;
  };
  feedInPieces(256 * 1024); // warm up
  let label = '';
  let linear = false;
  for (let attempt = 0; attempt < 3 && !linear; attempt++) {
    const small = feedInPieces(512 * 1024);
    const large = feedInPieces(2 * 1024 * 1024);
    label = `512 KiB: ${small.toFixed(1)} ms, 2 MiB: ${large.toFixed(1)} ms`;
    // A parser rescanning its buffered line on every push would be 16x slower for 4x the bytes.
    linear = large < Math.max(150, small * 8);
  }
  assert.ok(linear, label);
});

test('a peer trickling one byte per push costs memory bounded by the line, not by the push count', () => {
  const one = Buffer.from('a');
  const memory = (): number => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = memory();
  const parsers: HttpHeadParser[] = [];
  for (let i = 0; i < 100; i++) {
    const parser = new HttpHeadParser('request');
    parser.push(Buffer.from('GET / HTTP/1.1\r\nX-Slow: '));
    for (let b = 0; b < 4000; b++) assert.equal(parser.push(one).state, 'incomplete');
    parsers.push(parser);
  }
  const growth = memory() - before;
  // 100 partial lines of ~4 KB each (at most 2x for growth slack) is under 1 MB; keeping one object
  // per pushed byte would cost tens of MB.
  assert.ok(growth < 6 * 1024 * 1024, `memory grew by ${growth} bytes`);
  assert.equal(parsers.length, 100);
});
