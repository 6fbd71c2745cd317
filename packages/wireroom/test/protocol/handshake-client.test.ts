import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HttpHeadParser,
  buildAcceptResponse,
  buildClientRequest,
  buildErrorResponse,
  computeAcceptKey,
  formatExtensions,
  generateKey,
  validateServerResponse,
  validateUpgradeRequest,
  type ClientOffer,
  type ResponseHead,
  type ServerHandshakeResult,
} from '../../src/protocol/handshake/index.js';
import { HandshakeError, WireroomError } from '../../src/protocol/errors.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
const OFFER: ClientOffer = { key: KEY, protocols: ['chat', 'superchat'], offeredExtensions: ['permessage-deflate'] };

function response(text: string): ResponseHead {
  const result = new HttpHeadParser('response').push(Buffer.from(text, 'latin1'));
  if (result.state !== 'complete') throw new Error(`test response did not parse: ${result.state}`);
  return result.head;
}

/** A 101 response with `extra` header lines appended; `accept` overrides Sec-WebSocket-Accept. */
function switching(extra: string[] = [], accept: string | null = ACCEPT): ResponseHead {
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade'];
  if (accept !== null) lines.push(`Sec-WebSocket-Accept: ${accept}`);
  return response([...lines, ...extra].join('\r\n') + '\r\n\r\n');
}

function ok(result: ServerHandshakeResult | HandshakeError): ServerHandshakeResult {
  if (result instanceof HandshakeError) assert.fail(`unexpected failure: ${result.message}`);
  return result;
}

function failure(result: ServerHandshakeResult | HandshakeError, label: string, status = 101): HandshakeError {
  assert.ok(result instanceof HandshakeError, `${label}: expected a failure`);
  assert.equal(result.code, 'WS_ERR_HANDSHAKE_INVALID_RESPONSE', label);
  assert.equal(result.status, status, label);
  return result;
}

test('round trip: client request -> server validation -> accept response -> client validation', () => {
  const key = generateKey();
  const offer = formatExtensions([{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }]);
  const requestBytes = buildClientRequest({
    host: 'chat.example.com',
    port: 8443,
    path: '/ws?room=lobby',
    key,
    protocols: ['chat.v2', 'chat.v1'],
    extensions: offer,
    origin: 'https://chat.example.com',
    headers: { Authorization: 'Bearer abc', Cookie: ['a=1', 'b=2'] },
  });
  const frame = Buffer.from([0x81, 0x80, 1, 2, 3, 4]);
  const parsed = new HttpHeadParser('request').push(Buffer.concat([requestBytes, frame]));
  assert.equal(parsed.state, 'complete');
  if (parsed.state !== 'complete') return;
  assert.deepEqual(parsed.rest, frame);

  const upgrade = validateUpgradeRequest(parsed.head);
  if (upgrade instanceof HandshakeError) assert.fail(upgrade.message);
  assert.equal(upgrade.key, key);
  assert.equal(upgrade.path, '/ws?room=lobby');
  assert.equal(upgrade.host, 'chat.example.com:8443');
  assert.equal(upgrade.origin, 'https://chat.example.com');
  assert.deepEqual(upgrade.protocols, ['chat.v2', 'chat.v1']);
  assert.deepEqual(upgrade.extensions, [{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }]);
  assert.equal(parsed.head.get('authorization'), 'Bearer abc');
  assert.deepEqual(parsed.head.getAll('cookie'), ['a=1', 'b=2']);

  const accepted = formatExtensions([{ name: 'permessage-deflate', params: [['client_max_window_bits', '12']] }]);
  const responseBytes = buildAcceptResponse({ key: upgrade.key, protocol: upgrade.protocols[1]!, extensions: accepted });
  const res = new HttpHeadParser('response').push(responseBytes);
  assert.equal(res.state, 'complete');
  if (res.state !== 'complete') return;
  assert.equal(res.head.get('sec-websocket-accept'), computeAcceptKey(key));

  const result = ok(validateServerResponse(res.head, { key, protocols: ['chat.v2', 'chat.v1'], offeredExtensions: ['permessage-deflate'] }));
  assert.equal(result.protocol, 'chat.v1');
  assert.deepEqual(result.extensions, [{ name: 'permessage-deflate', params: [['client_max_window_bits', '12']] }]);
});

test('buildClientRequest writes the minimal request exactly', () => {
  assert.equal(
    buildClientRequest({ host: 'server.example.com', path: '/chat', key: KEY }).toString('latin1'),
    'GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const ipv6 = buildClientRequest({ host: '::1', port: 9000, path: '/', key: KEY, protocols: [] }).toString('latin1');
  assert.ok(ipv6.includes('\r\nHost: [::1]:9000\r\n'), ipv6);
  assert.ok(!ipv6.includes('Sec-WebSocket-Protocol'));
  assert.ok(buildClientRequest({ host: '[::1]', path: '/', key: KEY }).toString('latin1').includes('\r\nHost: [::1]\r\n'));
});

test('buildClientRequest refuses invalid arguments', () => {
  const base = { host: 'h', path: '/', key: KEY };
  const bad: Array<Parameters<typeof buildClientRequest>[0]> = [
    { ...base, host: '' },
    { ...base, host: 'h\r\nX-Evil: 1' },
    { ...base, host: 'h h' },
    { ...base, port: 0 },
    { ...base, port: 65536 },
    { ...base, port: 80.5 },
    { ...base, path: '' },
    { ...base, path: 'chat' },
    { ...base, path: '/a b' },
    { ...base, path: '/a\r\nX-Evil: 1' },
    { ...base, path: '/caf\u00e9' },
    { ...base, key: 'short' },
    { ...base, protocols: ['chat', 'chat'] },
    { ...base, protocols: ['a b'] },
    { ...base, protocols: ['chat,superchat'] },
    { ...base, protocols: [''] },
    { ...base, extensions: 'permessage-deflate\r\nX-Evil: 1' },
    { ...base, extensions: 'permessage-deflate; x=' },
    { ...base, origin: 'http://a\r\nX-Evil: 1' },
    { ...base, origin: '' },
    { ...base, headers: { 'X-A': 'a\nb' } },
    { ...base, headers: { 'X-A': 'a\rb' } },
    { ...base, headers: { 'X A': 'a' } },
    { ...base, headers: { Host: 'other' } },
    { ...base, headers: { 'sec-websocket-key': KEY } },
    { ...base, headers: { Origin: 'http://other' } },
  ];
  for (const options of bad) {
    assert.throws(
      () => buildClientRequest(options),
      (e: unknown) => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_ARGUMENT',
      JSON.stringify(options),
    );
  }
});

test('a minimal valid 101 is accepted; no protocol selected gives ""', () => {
  const result = ok(validateServerResponse(switching(), OFFER));
  assert.equal(result.protocol, '');
  assert.deepEqual(result.extensions, []);
  ok(validateServerResponse(response(`HTTP/1.1 101\r\nUpgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`), OFFER));
});

test('a non-101 status fails with the server status kept', () => {
  for (const status of [200, 400, 403, 404, 426, 500]) {
    const head = parseStatus(buildErrorResponse(status, 'nope'));
    const error = failure(validateServerResponse(head, OFFER), `status ${status}`, status);
    assert.match(error.message, new RegExp(String(status)));
  }
});

function parseStatus(bytes: Buffer): ResponseHead {
  const result = new HttpHeadParser('response').push(bytes);
  if (result.state !== 'complete') throw new Error('did not parse');
  return result.head;
}

test('every response rule fails the handshake', () => {
  const cases: Array<[string, ResponseHead]> = [
    ['wrong accept', switching([], computeAcceptKey('AAAAAAAAAAAAAAAAAAAAAA=='))],
    ['missing accept', switching([], null)],
    ['two accept headers', switching([`Sec-WebSocket-Accept: ${ACCEPT}`])],
    ['accept in the wrong case', switching([], ACCEPT.toLowerCase())],
    ['HTTP/1.0', response(`HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`)],
    ['missing Upgrade', response(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`)],
    ['Upgrade not websocket', response(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`)],
    ['missing Connection', response(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`)],
    ['unoffered protocol', switching(['Sec-WebSocket-Protocol: other'])],
    ['protocol in another case', switching(['Sec-WebSocket-Protocol: Chat'])],
    ['two protocols in one header', switching(['Sec-WebSocket-Protocol: chat, superchat'])],
    ['two protocol headers', switching(['Sec-WebSocket-Protocol: chat', 'Sec-WebSocket-Protocol: chat'])],
    ['empty protocol header', switching(['Sec-WebSocket-Protocol: '])],
    ['invalid protocol header', switching(['Sec-WebSocket-Protocol: chat/1'])],
    ['unoffered extension', switching(['Sec-WebSocket-Extensions: x-webkit-deflate-frame'])],
    ['offered and unoffered extension', switching(['Sec-WebSocket-Extensions: permessage-deflate, x-other'])],
    ['extension accepted twice', switching(['Sec-WebSocket-Extensions: permessage-deflate', 'Sec-WebSocket-Extensions: permessage-deflate'])],
    ['invalid extensions header', switching(['Sec-WebSocket-Extensions: permessage-deflate; a="b c"'])],
  ];
  for (const [label, head] of cases) failure(validateServerResponse(head, OFFER), label);
});

test('a protocol or extension answer to a client that offered none fails', () => {
  const none: ClientOffer = { key: KEY, protocols: [], offeredExtensions: [] };
  failure(validateServerResponse(switching(['Sec-WebSocket-Protocol: chat']), none), 'protocol');
  failure(validateServerResponse(switching(['Sec-WebSocket-Extensions: permessage-deflate']), none), 'extension');
  ok(validateServerResponse(switching(), none));
});

test('the accept response is cheap to build (thousands per second on any machine)', () => {
  const keys = Array.from({ length: 5000 }, () => generateKey());
  const start = process.hrtime.bigint();
  let bytes = 0;
  for (const key of keys) bytes += buildAcceptResponse({ key }).length;
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.equal(bytes, 5000 * 129);
  assert.ok(ms < 2000, `5000 accept responses took ${ms.toFixed(1)} ms`);
});
