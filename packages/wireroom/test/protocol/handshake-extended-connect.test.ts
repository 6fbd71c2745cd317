// The RFC 8441 handshake, sans-I/O: validating an extended CONNECT and its answer, building the response fields.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  extendedConnectAcceptHeaders, extendedConnectErrorResponse, http2RequestHead, validateExtendedConnect, validateExtendedConnectResponse,
} from '../../src/protocol/handshake/extended-connect.js';
import { HandshakeError, WireroomError } from '../../src/protocol/errors.js';

const BASE = [':method', 'CONNECT', ':protocol', 'websocket', ':scheme', 'https', ':path', '/chat?x=1', ':authority', 'example.com', 'sec-websocket-version', '13'];

function validate(raw: string[]) {
  return validateExtendedConnect(http2RequestHead(raw));
}

function without(name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < BASE.length; i += 2) if (BASE[i] !== name) out.push(BASE[i]!, BASE[i + 1]!);
  return out;
}

describe('validateExtendedConnect', () => {
  it('accepts a WebSocket extended CONNECT: path, :authority as host, offers; no key needed', () => {
    const result = validate([...BASE, 'origin', 'https://example.com', 'sec-websocket-protocol', 'a, b', 'sec-websocket-extensions', 'permessage-deflate']);
    assert.ok(!(result instanceof HandshakeError));
    assert.equal(result.path, '/chat?x=1');
    assert.equal(result.host, 'example.com');
    assert.equal(result.origin, 'https://example.com');
    assert.equal(result.key, '');
    assert.deepEqual(result.protocols, ['a', 'b']);
    assert.equal(result.extensions[0]!.name, 'permessage-deflate');
  });

  const refusals: Array<[string, string[], number]> = [
    ['GET', [...without(':method'), ':method', 'GET'], 405],
    ['a plain CONNECT (no :protocol)', without(':protocol'), 400],
    ['another :protocol', [...without(':protocol'), ':protocol', 'webtransport'], 400],
    ['no :path', without(':path'), 400],
    ['no :scheme', without(':scheme'), 400],
    ['no :authority', without(':authority'), 400],
    [':authority and host disagreeing', [...BASE, 'host', 'other.example'], 400],
    ['no version', without('sec-websocket-version'), 400],
    ['version 8', [...without('sec-websocket-version'), 'sec-websocket-version', '8'], 400],
    ['two versions', [...BASE, 'sec-websocket-version', '13'], 400],
    ['two origins', [...BASE, 'origin', 'https://a.example', 'origin', 'https://b.example'], 400],
    ['a repeated subprotocol', [...BASE, 'sec-websocket-protocol', 'a, a'], 400],
    ['a broken extension offer', [...BASE, 'sec-websocket-extensions', ';;'], 400],
  ];
  for (const [what, raw, status] of refusals) {
    it(`refuses ${what} with ${status}`, () => {
      const result = validate(raw);
      assert.ok(result instanceof HandshakeError, what);
      assert.equal(result.status, status);
    });
  }

  it('a bad version tells the client what we speak (sec-websocket-version: 13)', () => {
    const result = validate([...without('sec-websocket-version'), 'sec-websocket-version', '8']);
    assert.ok(result instanceof HandshakeError);
    assert.deepEqual(result.headers, { 'sec-websocket-version': '13' });
  });

  it('takes host when :authority is absent', () => {
    const result = validate([...without(':authority'), 'host', 'h.example:8443']);
    assert.ok(!(result instanceof HandshakeError));
    assert.equal(result.host, 'h.example:8443');
  });
});

describe('extended CONNECT responses', () => {
  it('accept: :status 200 and the negotiated fields only; a non-token protocol throws', () => {
    assert.deepEqual(extendedConnectAcceptHeaders({}), { ':status': 200 });
    assert.deepEqual(extendedConnectAcceptHeaders({ protocol: 'chat', extensions: 'permessage-deflate' }), {
      ':status': 200, 'sec-websocket-protocol': 'chat', 'sec-websocket-extensions': 'permessage-deflate',
    });
    assert.throws(() => extendedConnectAcceptHeaders({ protocol: 'a b' }), WireroomError);
  });

  it('refusal: status, lower-cased headers, connection-specific ones dropped, control characters out of the body', () => {
    const { headers, body } = extendedConnectErrorResponse(401, 'no\r\nway', { 'WWW-Authenticate': 'Bearer', Connection: 'close' });
    assert.deepEqual(headers, { ':status': 401, 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer' });
    assert.equal(body, 'no  way');
    assert.throws(() => extendedConnectErrorResponse(101), WireroomError);
    assert.throws(() => extendedConnectErrorResponse(400, 'x', { 'X-A': 'a\nb' }), WireroomError);
  });

  it('client validation: 200 with an offered subprotocol and extension; anything else is refused with the status', () => {
    const offer = { protocols: ['chat'], offeredExtensions: ['permessage-deflate'] };
    const ok = validateExtendedConnectResponse(200, [['sec-websocket-protocol', 'chat'], ['sec-websocket-extensions', 'permessage-deflate']], offer);
    assert.ok(!(ok instanceof HandshakeError));
    assert.equal(ok.protocol, 'chat');
    assert.equal(ok.extensionsHeader, 'permessage-deflate');
    const refused = validateExtendedConnectResponse(403, [], offer);
    assert.ok(refused instanceof HandshakeError);
    assert.equal(refused.status, 403);
    assert.ok(validateExtendedConnectResponse(200, [['sec-websocket-protocol', 'other']], offer) instanceof HandshakeError);
    assert.ok(validateExtendedConnectResponse(200, [['sec-websocket-extensions', 'x-unknown']], offer) instanceof HandshakeError);
    assert.ok(validateExtendedConnectResponse(200, [['sec-websocket-extensions', 'permessage-deflate, permessage-deflate']], offer) instanceof HandshakeError);
  });
});
