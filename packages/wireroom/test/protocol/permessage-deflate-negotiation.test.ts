import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HandshakeError, WireroomError } from '../../src/protocol/errors.js';
import { parseExtensionOffers, type ExtensionOffer } from '../../src/protocol/handshake/header-values.js';
import {
  DEFAULT_DEFLATE_OPTIONS,
  buildDeflateOffer,
  negotiateDeflateOffers,
  resolveDeflateOptions,
  validateDeflateResponse,
  type DeflateOptions,
  type NegotiatedDeflate,
} from '../../src/protocol/extensions/permessage-deflate-negotiation.js';

/** Options that impose nothing, so each test sees only what the offer asks for. */
const LENIENT: DeflateOptions = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

function offers(header: string): ExtensionOffer[] {
  const parsed = parseExtensionOffers(header);
  assert.ok(parsed, `test header must parse: ${header}`);
  return parsed;
}

function negotiate(header: string, options: DeflateOptions = LENIENT) {
  return negotiateDeflateOffers(offers(header), options);
}

const FULL: NegotiatedDeflate = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

describe('negotiateDeflateOffers (server)', () => {
  it('accepts a bare offer with an empty response', () => {
    const result = negotiate('permessage-deflate');
    assert.deepEqual(result, { params: FULL, responseHeader: 'permessage-deflate' });
  });

  it('matches the extension name case-insensitively', () => {
    assert.ok(negotiate('PerMessage-Deflate'));
  });

  it('returns null when no permessage-deflate offer exists', () => {
    assert.equal(negotiate('x-webkit-deflate-frame, foo; bar=1'), null);
    assert.equal(negotiateDeflateOffers([], LENIENT), null);
  });

  it('echoes server_no_context_takeover when offered', () => {
    const result = negotiate('permessage-deflate; server_no_context_takeover');
    assert.equal(result?.responseHeader, 'permessage-deflate; server_no_context_takeover');
    assert.equal(result?.params.serverNoContextTakeover, true);
  });

  it('adds server_no_context_takeover when our option demands it', () => {
    const result = negotiate('permessage-deflate', { ...LENIENT, serverNoContextTakeover: true });
    assert.equal(result?.responseHeader, 'permessage-deflate; server_no_context_takeover');
    assert.equal(result?.params.serverNoContextTakeover, true);
  });

  it('echoes an offered client_no_context_takeover and adds it when our option demands it', () => {
    const offered = negotiate('permessage-deflate; client_no_context_takeover');
    assert.equal(offered?.responseHeader, 'permessage-deflate; client_no_context_takeover');
    assert.equal(offered?.params.clientNoContextTakeover, true);
    const demanded = negotiate('permessage-deflate', { ...LENIENT, clientNoContextTakeover: true });
    assert.equal(demanded?.responseHeader, 'permessage-deflate; client_no_context_takeover');
    assert.equal(demanded?.params.clientNoContextTakeover, true);
  });

  it('answers server_max_window_bits with min(offered, ours)', () => {
    const smaller = negotiate('permessage-deflate; server_max_window_bits=10', { ...LENIENT, serverMaxWindowBits: 12 });
    assert.equal(smaller?.responseHeader, 'permessage-deflate; server_max_window_bits=10');
    assert.equal(smaller?.params.serverMaxWindowBits, 10);
    const larger = negotiate('permessage-deflate; server_max_window_bits=14', { ...LENIENT, serverMaxWindowBits: 12 });
    assert.equal(larger?.responseHeader, 'permessage-deflate; server_max_window_bits=12');
    assert.equal(larger?.params.serverMaxWindowBits, 12);
    const fifteen = negotiate('permessage-deflate; server_max_window_bits=15');
    assert.equal(fifteen?.responseHeader, 'permessage-deflate; server_max_window_bits=15');
  });

  it('announces our smaller server window even when the client did not offer one', () => {
    const result = negotiate('permessage-deflate', { ...LENIENT, serverMaxWindowBits: 11 });
    assert.equal(result?.responseHeader, 'permessage-deflate; server_max_window_bits=11');
    assert.equal(result?.params.serverMaxWindowBits, 11);
  });

  it('accepts server_max_window_bits=8 (compressed with a 9-bit zlib window, see docs)', () => {
    const result = negotiate('permessage-deflate; server_max_window_bits=8');
    assert.equal(result?.params.serverMaxWindowBits, 8);
    assert.equal(result?.responseHeader, 'permessage-deflate; server_max_window_bits=8');
  });

  it('sends client_max_window_bits only when offered', () => {
    const notOffered = negotiate('permessage-deflate', { ...LENIENT, clientMaxWindowBits: 10 });
    assert.equal(notOffered?.responseHeader, 'permessage-deflate');
    assert.equal(notOffered?.params.clientMaxWindowBits, 15, 'a client that did not offer it may use 15 bits');

    const bare = negotiate('permessage-deflate; client_max_window_bits', { ...LENIENT, clientMaxWindowBits: 10 });
    assert.equal(bare?.responseHeader, 'permessage-deflate; client_max_window_bits=10');
    assert.equal(bare?.params.clientMaxWindowBits, 10);

    const bareFull = negotiate('permessage-deflate; client_max_window_bits');
    assert.equal(bareFull?.responseHeader, 'permessage-deflate', '15 is the default, nothing to say');

    const hinted = negotiate('permessage-deflate; client_max_window_bits=9', { ...LENIENT, clientMaxWindowBits: 10 });
    assert.equal(hinted?.responseHeader, 'permessage-deflate; client_max_window_bits=9');
    assert.equal(hinted?.params.clientMaxWindowBits, 9);
  });

  it('accepts quoted values (already unquoted by the header parser)', () => {
    const result = negotiate('permessage-deflate; server_max_window_bits="11"; client_max_window_bits="12"');
    assert.deepEqual(result?.params, { ...FULL, serverMaxWindowBits: 11, clientMaxWindowBits: 12 });
  });

  it('formats every parameter in a fixed order', () => {
    const result = negotiate(
      'permessage-deflate; client_max_window_bits; server_max_window_bits=10; client_no_context_takeover; server_no_context_takeover',
      { ...LENIENT, clientMaxWindowBits: 11 },
    );
    assert.equal(
      result?.responseHeader,
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11',
    );
    assert.deepEqual(result?.params, {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 11,
    });
    // The response must itself be a valid header value.
    assert.ok(parseExtensionOffers(result!.responseHeader));
  });

  const invalidOffers: Array<[string, string]> = [
    ['unknown parameter', 'permessage-deflate; foo'],
    ['unknown parameter with value', 'permessage-deflate; foo=1'],
    ['differently-cased parameter', 'permessage-deflate; Server_No_Context_Takeover'],
    ['duplicate server_no_context_takeover', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    ['duplicate client_no_context_takeover', 'permessage-deflate; client_no_context_takeover; client_no_context_takeover'],
    ['duplicate server_max_window_bits', 'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10'],
    ['duplicate client_max_window_bits', 'permessage-deflate; client_max_window_bits; client_max_window_bits=10'],
    ['value on server_no_context_takeover', 'permessage-deflate; server_no_context_takeover=true'],
    ['value on client_no_context_takeover', 'permessage-deflate; client_no_context_takeover=1'],
    ['server_max_window_bits without value', 'permessage-deflate; server_max_window_bits'],
    ['server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=7'],
    ['server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=16'],
    ['server_max_window_bits=0', 'permessage-deflate; server_max_window_bits=0'],
    ['leading zero', 'permessage-deflate; server_max_window_bits=010'],
    ['leading zero single digit', 'permessage-deflate; server_max_window_bits=09'],
    ['plus sign', 'permessage-deflate; server_max_window_bits=+9'],
    ['hex', 'permessage-deflate; server_max_window_bits=0xA'],
    ['fraction', 'permessage-deflate; server_max_window_bits=9.0'],
    ['letters', 'permessage-deflate; server_max_window_bits=ten'],
    ['quoted out of range', 'permessage-deflate; server_max_window_bits="16"'],
    ['client_max_window_bits=7', 'permessage-deflate; client_max_window_bits=7'],
    ['client_max_window_bits=16', 'permessage-deflate; client_max_window_bits=16'],
    ['client_max_window_bits leading zero', 'permessage-deflate; client_max_window_bits=012'],
    ['client_max_window_bits garbage', 'permessage-deflate; client_max_window_bits=abc'],
  ];
  for (const [label, header] of invalidOffers) {
    it(`declines an offer with ${label}`, () => {
      assert.equal(negotiate(header), null);
    });
  }

  it('tries the next offer when the first is invalid', () => {
    const result = negotiate(
      'permessage-deflate; server_max_window_bits=16, permessage-deflate; foo, permessage-deflate; server_max_window_bits=10',
    );
    assert.equal(result?.params.serverMaxWindowBits, 10);
    assert.equal(result?.responseHeader, 'permessage-deflate; server_max_window_bits=10');
  });

  it('takes the first acceptable offer in the client order, skipping other extensions', () => {
    const result = negotiate('x-foo, permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate');
    assert.equal(result?.params.serverMaxWindowBits, 10);
  });

  it('uses the documented defaults when no options are given', () => {
    const result = negotiateDeflateOffers(offers('permessage-deflate; client_max_window_bits'));
    assert.ok(result);
    assert.equal(result.params.serverMaxWindowBits, DEFAULT_DEFLATE_OPTIONS.serverMaxWindowBits);
    assert.equal(result.params.clientMaxWindowBits, DEFAULT_DEFLATE_OPTIONS.clientMaxWindowBits);
  });
});

describe('resolveDeflateOptions', () => {
  it('fills in defaults', () => {
    assert.deepEqual(resolveDeflateOptions(), DEFAULT_DEFLATE_OPTIONS);
    assert.equal(resolveDeflateOptions({ level: 1 }).level, 1);
  });

  const bad: DeflateOptions[] = [
    { serverMaxWindowBits: 7 },
    { serverMaxWindowBits: 16 },
    { clientMaxWindowBits: 9.5 },
    { level: 10 },
    { memLevel: 0 },
    { threshold: -1 },
    { concurrencyLimit: 0 },
  ];
  for (const options of bad) {
    it(`throws INVALID_ARGUMENT for ${JSON.stringify(options)}`, () => {
      assert.throws(() => resolveDeflateOptions(options), (e: unknown) => e instanceof WireroomError && e.code === 'WS_ERR_INVALID_ARGUMENT');
    });
  }
});

describe('buildDeflateOffer (client)', () => {
  it('always announces client_max_window_bits', () => {
    assert.equal(buildDeflateOffer(LENIENT), 'permessage-deflate; client_max_window_bits');
  });

  it('writes every requested parameter', () => {
    const offer = buildDeflateOffer({
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 9,
    });
    assert.equal(
      offer,
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9',
    );
  });

  it('produces an offer our own server accepts with the same parameters', () => {
    const options: DeflateOptions = { serverNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 10 };
    const accepted = negotiateDeflateOffers(offers(buildDeflateOffer(options)), options);
    assert.ok(accepted);
    const response = offers(accepted.responseHeader)[0]!;
    const validated = validateDeflateResponse(response, options);
    assert.deepEqual(validated, accepted.params);
  });
});

describe('validateDeflateResponse (client)', () => {
  function validate(header: string, options: DeflateOptions = LENIENT, status?: number) {
    return validateDeflateResponse(offers(header)[0]!, options, status);
  }

  function assertRejected(result: NegotiatedDeflate | HandshakeError, status = 0): void {
    assert.ok(result instanceof HandshakeError, `expected a HandshakeError, got ${JSON.stringify(result)}`);
    assert.equal(result.code, 'WS_ERR_HANDSHAKE_INVALID_RESPONSE');
    assert.equal(result.status, status);
  }

  it('accepts a bare response', () => {
    assert.deepEqual(validate('permessage-deflate'), FULL);
  });

  it('reads every parameter', () => {
    const result = validate(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9',
    );
    assert.deepEqual(result, {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 9,
    });
  });

  it('accepts server_no_context_takeover we did not ask for (RFC 7692 7.1.1.1)', () => {
    const result = validate('permessage-deflate; server_no_context_takeover');
    assert.equal((result as NegotiatedDeflate).serverNoContextTakeover, true);
  });

  it('keeps our own client_no_context_takeover even when the response omits it', () => {
    const result = validate('permessage-deflate', { ...LENIENT, clientNoContextTakeover: true });
    assert.equal((result as NegotiatedDeflate).clientNoContextTakeover, true);
  });

  it('accepts a server window at or below what we asked', () => {
    const result = validate('permessage-deflate; server_max_window_bits=9', { ...LENIENT, serverMaxWindowBits: 10 });
    assert.equal((result as NegotiatedDeflate).serverMaxWindowBits, 9);
  });

  it('compresses with min(response, ours) for client_max_window_bits', () => {
    const result = validate('permessage-deflate; client_max_window_bits=15', { ...LENIENT, clientMaxWindowBits: 10 });
    assert.equal((result as NegotiatedDeflate).clientMaxWindowBits, 10);
    const smaller = validate('permessage-deflate; client_max_window_bits=9', { ...LENIENT, clientMaxWindowBits: 10 });
    assert.equal((smaller as NegotiatedDeflate).clientMaxWindowBits, 9);
  });

  it('accepts quoted values', () => {
    const result = validate('permessage-deflate; server_max_window_bits="12"', { ...LENIENT, serverMaxWindowBits: 12 });
    assert.equal((result as NegotiatedDeflate).serverMaxWindowBits, 12);
  });

  const rejected: Array<[string, string, DeflateOptions]> = [
    ['another extension', 'x-foo', LENIENT],
    ['an unknown parameter', 'permessage-deflate; foo', LENIENT],
    ['a duplicate parameter', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', LENIENT],
    ['a value on server_no_context_takeover', 'permessage-deflate; server_no_context_takeover=1', LENIENT],
    ['a value on client_no_context_takeover', 'permessage-deflate; client_no_context_takeover=1', LENIENT],
    ['server_max_window_bits above what we asked', 'permessage-deflate; server_max_window_bits=11', { ...LENIENT, serverMaxWindowBits: 10 }],
    ['server_max_window_bits missing when asked', 'permessage-deflate', { ...LENIENT, serverMaxWindowBits: 10 }],
    ['server_max_window_bits out of range', 'permessage-deflate; server_max_window_bits=16', LENIENT],
    ['server_max_window_bits without value', 'permessage-deflate; server_max_window_bits', LENIENT],
    ['server_no_context_takeover missing when asked', 'permessage-deflate', { ...LENIENT, serverNoContextTakeover: true }],
    ['client_max_window_bits without value', 'permessage-deflate; client_max_window_bits', LENIENT],
    ['client_max_window_bits out of range', 'permessage-deflate; client_max_window_bits=7', LENIENT],
    ['client_max_window_bits with leading zero', 'permessage-deflate; client_max_window_bits=09', LENIENT],
  ];
  for (const [label, header, options] of rejected) {
    it(`rejects ${label}`, () => {
      assertRejected(validate(header, options));
    });
  }

  it('reports the given response status', () => {
    assertRejected(validate('permessage-deflate; foo', LENIENT, 101), 101);
  });
});
