import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HttpHeadParser,
  buildAcceptResponse,
  buildErrorResponse,
  validateUpgradeRequest,
  type RequestHead,
  type ResponseHead,
  type UpgradeRequest,
} from '../../src/protocol/handshake/index.js';
import { HandshakeError, WireroomError } from '../../src/protocol/errors.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

const BASE_HEADERS: Array<[string, string]> = [
  ['Host', 'server.example.com'],
  ['Upgrade', 'websocket'],
  ['Connection', 'Upgrade'],
  ['Sec-WebSocket-Key', KEY],
  ['Sec-WebSocket-Version', '13'],
];

function head(text: string): RequestHead {
  const result = new HttpHeadParser('request').push(Buffer.from(text, 'latin1'));
  if (result.state !== 'complete') throw new Error(`test request did not parse: ${result.state}`);
  return result.head;
}

/** A request built from the base headers with `changes` applied: `null` removes, an array repeats. */
function request(changes: Record<string, string | string[] | null> = {}, startLine = 'GET /chat HTTP/1.1'): RequestHead {
  const lines: string[] = [];
  const changed = new Map(Object.entries(changes).map(([k, v]) => [k.toLowerCase(), v]));
  for (const [name, value] of BASE_HEADERS) {
    const change = changed.get(name.toLowerCase());
    if (change === undefined) lines.push(`${name}: ${value}`);
  }
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  return head(`${startLine}\r\n${lines.join('\r\n')}\r\n\r\n`);
}

function accepted(result: UpgradeRequest | HandshakeError): UpgradeRequest {
  if (result instanceof HandshakeError) assert.fail(`unexpected rejection: ${result.status} ${result.message}`);
  return result;
}

function rejected(result: UpgradeRequest | HandshakeError, status: number, label: string): HandshakeError {
  assert.ok(result instanceof HandshakeError, `${label}: expected a ${status} rejection`);
  assert.equal(result.status, status, `${label}: ${result.message}`);
  return result;
}

function parseResponse(bytes: Buffer): { head: ResponseHead; rest: Buffer } {
  const result = new HttpHeadParser('response').push(bytes);
  if (result.state !== 'complete') throw new Error(`response did not parse: ${result.state}`);
  return result;
}

test('the RFC 6455 section 1.2 example request is accepted', () => {
  const req = head(
    'GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n' +
      'Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const upgrade = accepted(validateUpgradeRequest(req));
  assert.equal(upgrade.key, KEY);
  assert.equal(upgrade.path, '/chat');
  assert.equal(upgrade.host, 'server.example.com');
  assert.equal(upgrade.origin, 'http://example.com');
  assert.deepEqual(upgrade.protocols, ['chat', 'superchat']);
  assert.deepEqual(upgrade.extensions, []);
  assert.equal(upgrade.head, req);
});

test('lenient but valid spellings are accepted', () => {
  const upgrade = accepted(
    validateUpgradeRequest(
      request({
        Upgrade: 'HTTP/2.0, WebSocket',
        Connection: ['keep-alive', 'UPGRADE'],
        'Sec-WebSocket-Protocol': ['chat', ' , superchat ,'],
        'Sec-WebSocket-Extensions': ['permessage-deflate; client_max_window_bits', 'x-a, x-b; p="1"'],
      }, 'GET /chat?x=1 HTTP/1.1'),
    ),
  );
  assert.equal(upgrade.path, '/chat?x=1');
  assert.deepEqual(upgrade.protocols, ['chat', 'superchat']);
  assert.deepEqual(upgrade.extensions.map((e) => e.name), ['permessage-deflate', 'x-a', 'x-b']);
  assert.deepEqual(upgrade.extensions[2]!.params, [['p', '1']]);
  assert.equal(upgrade.origin, undefined);
  // HTTP versions above 1.1 are allowed.
  accepted(validateUpgradeRequest(request({}, 'GET / HTTP/1.2')));
});

test('a method other than GET is 405 with Allow: GET', () => {
  for (const method of ['POST', 'HEAD', 'get', 'CONNECT']) {
    const error = rejected(validateUpgradeRequest(request({}, `${method} /chat HTTP/1.1`)), 405, method);
    assert.equal(error.code, 'WS_ERR_HANDSHAKE_METHOD_NOT_ALLOWED');
    assert.deepEqual(error.headers, { Allow: 'GET' });
  }
});

test('every request rule rejects with its status', () => {
  const cases: Array<[string, RequestHead, number]> = [
    ['HTTP/1.0', request({}, 'GET /chat HTTP/1.0'), 400],
    ['HTTP/0.9', request({}, 'GET /chat HTTP/0.9'), 400],
    ['missing Host', request({ Host: null }), 400],
    ['empty Host', request({ Host: '' }), 400],
    ['two Host headers', request({ Host: ['a', 'b'] }), 400],
    ['missing Upgrade', request({ Upgrade: null }), 400],
    ['Upgrade without websocket', request({ Upgrade: 'h2c' }), 400],
    ['Upgrade websocket with a version is another protocol', request({ Upgrade: 'websocket/2' }), 400],
    ['invalid Upgrade list', request({ Upgrade: 'web socket' }), 400],
    ['missing Connection', request({ Connection: null }), 400],
    ['Connection without upgrade', request({ Connection: 'keep-alive' }), 400],
    ['Connection upgraded (not a token match)', request({ Connection: 'upgraded' }), 400],
    ['missing Sec-WebSocket-Key', request({ 'Sec-WebSocket-Key': null }), 400],
    ['two Sec-WebSocket-Key headers', request({ 'Sec-WebSocket-Key': [KEY, KEY] }), 400],
    ['short key', request({ 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZQ==' }), 400],
    ['unpadded key', request({ 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ' }), 400],
    ['key with invalid characters', request({ 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZ!==' }), 400],
    ['two Origin headers', request({ Origin: ['http://a', 'http://b'] }), 400],
    ['invalid protocol list', request({ 'Sec-WebSocket-Protocol': 'chat superchat' }), 400],
    ['protocol that is not a token', request({ 'Sec-WebSocket-Protocol': 'chat/1' }), 400],
    ['empty protocol header', request({ 'Sec-WebSocket-Protocol': '' }), 400],
    ['repeated protocol', request({ 'Sec-WebSocket-Protocol': ['chat', 'chat'] }), 400],
    ['invalid extensions', request({ 'Sec-WebSocket-Extensions': 'permessage-deflate; x=' }), 400],
    ['empty extensions header', request({ 'Sec-WebSocket-Extensions': '' }), 400],
  ];
  for (const [label, req, status] of cases) {
    const error = rejected(validateUpgradeRequest(req), status, label);
    assert.equal(error.code, 'WS_ERR_HANDSHAKE_BAD_REQUEST', label);
  }
});

test('an upgrade request with a body is 400: Content-Length other than 0, any Transfer-Encoding, both together', () => {
  const cases: Array<[string, RequestHead]> = [
    ['Content-Length: 5', request({ 'Content-Length': '5' })],
    ['Content-Length: 00', request({ 'Content-Length': '00' })],
    ['Content-Length: 0, 5 (two values in one line)', request({ 'Content-Length': '0, 5' })],
    ['two Content-Length lines, one of them 5', request({ 'Content-Length': ['0', '5'] })],
    ['Transfer-Encoding: chunked', request({ 'Transfer-Encoding': 'chunked' })],
    ['Transfer-Encoding: identity', request({ 'Transfer-Encoding': 'identity' })],
    ['Content-Length: 0 with Transfer-Encoding: chunked', request({ 'Content-Length': '0', 'Transfer-Encoding': 'chunked' })],
    ['Content-Length: 5 with Transfer-Encoding: chunked', request({ 'Content-Length': '5', 'Transfer-Encoding': 'chunked' })],
  ];
  for (const [label, req] of cases) {
    const error = rejected(validateUpgradeRequest(req), 400, label);
    assert.equal(error.code, 'WS_ERR_HANDSHAKE_BAD_REQUEST', label);
    assert.match(error.message, /body/, label);
  }
  // An empty body is no body: Content-Length: 0 (once or repeated) is accepted.
  assert.equal(accepted(validateUpgradeRequest(request({ 'Content-Length': '0' }))).key, KEY);
  assert.equal(accepted(validateUpgradeRequest(request({ 'Content-Length': ['0', '0'] }))).key, KEY);
});

test('Sec-WebSocket-Version: other values are 426, missing or repeated are 400, all name version 13', () => {
  for (const version of ['8', '14', '13, 8', '013', 'thirteen']) {
    const error = rejected(validateUpgradeRequest(request({ 'Sec-WebSocket-Version': version })), 426, version);
    assert.equal(error.code, 'WS_ERR_HANDSHAKE_UNSUPPORTED_VERSION');
    assert.deepEqual(error.headers, { 'Sec-WebSocket-Version': '13' });
  }
  for (const [label, value] of [['missing', null], ['repeated', ['13', '13']]] as const) {
    const error = rejected(validateUpgradeRequest(request({ 'Sec-WebSocket-Version': value === null ? null : [...value] })), 400, label);
    assert.deepEqual(error.headers, { 'Sec-WebSocket-Version': '13' });
  }
  // A server configured for another version says so.
  const error = rejected(validateUpgradeRequest(request(), { supportedVersion: 8 }), 426, 'version 8 server');
  assert.deepEqual(error.headers, { 'Sec-WebSocket-Version': '8' });
});

test('buildAcceptResponse writes the RFC example response exactly', () => {
  const bytes = buildAcceptResponse({ key: KEY, protocol: 'chat' });
  assert.equal(
    bytes.toString('latin1'),
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n',
  );
  const plain = buildAcceptResponse({ key: KEY, protocol: '', extensions: '' });
  assert.ok(!plain.toString('latin1').includes('Sec-WebSocket-Protocol'));
  assert.ok(!plain.toString('latin1').includes('Sec-WebSocket-Extensions'));
});

test('buildAcceptResponse with extensions and extra headers parses back', () => {
  const bytes = buildAcceptResponse({
    key: KEY,
    extensions: 'permessage-deflate; server_no_context_takeover',
    headers: { 'Set-Cookie': ['a=1', 'b=2'], 'X-Server': 'wireroom' },
  });
  const { head, rest } = parseResponse(bytes);
  assert.equal(rest.length, 0);
  assert.equal(head.status, 101);
  assert.equal(head.reason, 'Switching Protocols');
  assert.equal(head.get('sec-websocket-accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.equal(head.get('sec-websocket-extensions'), 'permessage-deflate; server_no_context_takeover');
  assert.deepEqual(head.getAll('set-cookie'), ['a=1', 'b=2']);
  assert.equal(head.get('x-server'), 'wireroom');
});

test('buildAcceptResponse refuses header injection and overriding handshake headers', () => {
  const bad: Array<Parameters<typeof buildAcceptResponse>[0]> = [
    { key: KEY, protocol: 'chat\r\nX-Evil: 1' },
    { key: KEY, protocol: 'a b' },
    { key: KEY, extensions: 'permessage-deflate\r\nX-Evil: 1' },
    { key: KEY, headers: { 'X-A': 'ok\r\nX-Evil: 1' } },
    { key: KEY, headers: { 'X-A': 'ok\nX-Evil: 1' } },
    { key: KEY, headers: { 'X-A': ['ok', 'bad\r'] } },
    { key: KEY, headers: { 'X-A': 'nul\u0000' } },
    { key: KEY, headers: { 'X-A': 'snowman \u2603' } },
    { key: KEY, headers: { 'X-A\r\nX-Evil': '1' } },
    { key: KEY, headers: { 'Bad Name': '1' } },
    { key: KEY, headers: { 'sec-websocket-accept': 'forged' } },
    { key: KEY, headers: { Connection: 'close' } },
  ];
  for (const options of bad) {
    assert.throws(
      () => buildAcceptResponse(options),
      (e: unknown) => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_ARGUMENT',
      JSON.stringify(options),
    );
  }
});

test('buildErrorResponse: status line, close, text body with its length', () => {
  const bytes = buildErrorResponse(426, 'Unsupported WebSocket version', { 'Sec-WebSocket-Version': '13' });
  const { head, rest } = parseResponse(bytes);
  assert.equal(head.status, 426);
  assert.equal(head.reason, 'Upgrade Required');
  assert.equal(head.get('connection'), 'close');
  assert.equal(head.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(head.get('sec-websocket-version'), '13');
  assert.equal(Number(head.get('content-length')), rest.length);
  assert.equal(rest.toString('utf8'), 'Unsupported WebSocket version');

  for (const [status, reason] of [[400, 'Bad Request'], [405, 'Method Not Allowed'], [414, 'URI Too Long'], [431, 'Request Header Fields Too Large'], [403, 'Forbidden'], [503, 'Service Unavailable'], [499, 'Client Error']] as const) {
    const parsed = parseResponse(buildErrorResponse(status));
    assert.equal(parsed.head.status, status);
    assert.equal(parsed.head.reason, reason);
    assert.equal(parsed.rest.toString(), reason, 'the body defaults to the reason phrase');
  }
});

test('buildErrorResponse sanitizes the message and counts UTF-8 bytes', () => {
  const { head, rest } = parseResponse(buildErrorResponse(400, 'bad\r\nX-Evil: 1\u0000\u007f\u0085 – ünïcode ☃'));
  assert.equal(head.get('x-evil'), undefined);
  const body = rest.toString('utf8');
  assert.equal(body, 'bad  X-Evil: 1    – ünïcode ☃');
  assert.equal(Number(head.get('content-length')), Buffer.byteLength(body));
});

test('buildErrorResponse answers a HandshakeError with its status and headers', () => {
  const error = validateUpgradeRequest(request({}, 'POST /chat HTTP/1.1'));
  assert.ok(error instanceof HandshakeError);
  const { head } = parseResponse(buildErrorResponse(error.status, error.message, error.headers));
  assert.equal(head.status, 405);
  assert.equal(head.get('allow'), 'GET');
});

test('buildErrorResponse refuses invalid statuses and headers', () => {
  for (const status of [99, 600, 400.5, Number.NaN]) {
    assert.throws(() => buildErrorResponse(status), (e: unknown) => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_ARGUMENT');
  }
  for (const headers of [{ 'X-A': 'a\r\nb' }, { 'Content-Length': '0' }, { 'bad name': 'x' }] as Array<Record<string, string>>) {
    assert.throws(() => buildErrorResponse(400, 'x', headers), (e: unknown) => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_ARGUMENT');
  }
});
