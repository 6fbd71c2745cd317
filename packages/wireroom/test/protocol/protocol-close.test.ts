// RFC 6455 5.5.1-5.5.3 and 7 (ping/pong, the closing handshake, close codes) against the sans-I/O core.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, WireroomError } from '../../src/protocol/errors.js';
import { ReadyState, type Role } from '../../src/protocol/protocol.js';
import { OP, assertFailed, closePayload, feed, frameHeader, open, peerFrame, readClose, splitEvery } from '../helpers/frames.js';

const ROLES: Role[] = ['server', 'client'];

const VALID_CODES: number[] = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014];
for (let code = 3000; code <= 4999; code++) VALID_CODES.push(code);
const INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

describe('5.5.2 / 5.5.3 ping and pong', () => {
  for (const role of ROLES) {
    test(`${role}: a ping is answered with a pong carrying the same payload (empty to 125 bytes)`, () => {
      for (const size of [0, 1, 4, 5, 31, 32, 33, 125]) {
        const payload = Buffer.alloc(size);
        for (let i = 0; i < size; i++) payload[i] = (i * 7 + size) & 0xff;
        for (const chunkSize of [1000, 1, 3]) {
          const { proto, rec } = open(role);
          feed(proto, ...splitEvery(peerFrame(role, OP.PING, payload), chunkSize));
          assert.deepEqual(rec.log.map((e) => e.type), ['output', 'ping'], 'the pong is emitted, then the ping reported');
          const ping = rec.events[0] as { payload: Buffer };
          assert.ok(ping.payload.equals(payload));
          const frames = rec.outputFrames;
          assert.equal(frames.length, 1);
          const pong = frames[0]!;
          assert.equal(pong.opcode, OP.PONG);
          assert.equal(pong.fin, true);
          assert.equal(pong.rsv1 || pong.rsv2 || pong.rsv3, false);
          assert.equal(pong.masked, role === 'client');
          assert.ok(pong.payload.equals(payload), `pong payload of ${size} bytes, chunks of ${chunkSize}`);
        }
      }
    });

    test(`${role}: the reported ping payload is a copy (not a view of the chunk the core may reuse)`, () => {
      const { proto, rec } = open(role);
      const chunk = peerFrame(role, OP.PING, 'abcd');
      proto.receive(chunk);
      const ping = rec.events[0] as { payload: Buffer };
      chunk.fill(0);
      assert.equal(ping.payload.toString(), 'abcd');
      assert.equal(rec.outputFrames[0]!.payload.toString(), 'abcd');
    });

    test(`${role}: autoPong false: the ping is reported, nothing is sent`, () => {
      const { proto, rec } = open(role, { autoPong: false });
      feed(proto, peerFrame(role, OP.PING, 'x'));
      assert.deepEqual(rec.log.map((e) => e.type), ['ping']);
    });

    test(`${role}: a pong is reported and not answered`, () => {
      const { proto, rec } = open(role);
      feed(proto, peerFrame(role, OP.PONG, 'unsolicited'));
      assert.deepEqual(rec.log.map((e) => e.type), ['pong']);
      assert.equal((rec.events[0] as { payload: Buffer }).payload.toString(), 'unsolicited');
    });

    test(`${role}: no pong after we sent a close (CLOSING), but the ping is still reported`, () => {
      const { proto, rec } = open(role);
      assert.equal(proto.close(1000), true);
      feed(proto, peerFrame(role, OP.PING, 'late'));
      assert.deepEqual(rec.log.map((e) => e.type), ['output', 'ping']);
      assert.deepEqual(rec.outputFrames.map((f) => f.opcode), [OP.CLOSE]);
    });

    test(`${role}: ping() queues a ping (masked by clients) and refuses 126 bytes`, () => {
      const { proto, rec } = open(role);
      proto.ping(Buffer.from('hi'));
      const frame = rec.output;
      assert.equal(frame[0], 0x89);
      assert.equal((frame[1]! & 0x80) !== 0, role === 'client');
      assert.throws(() => proto.ping(Buffer.alloc(126)), (e: unknown) => e instanceof WireroomError && e.code === ErrorCodes.INVALID_ARGUMENT);
    });
  }
});

describe('7 closing handshake', () => {
  for (const role of ROLES) {
    test(`${role}: we close first: OPEN -> CLOSING -> CLOSED; the peer's close is not answered`, () => {
      const { proto, rec } = open(role);
      assert.equal(proto.state, ReadyState.OPEN);
      assert.equal(proto.close(1001, 'going'), true);
      assert.equal(proto.state, ReadyState.CLOSING);
      const sent = rec.outputFrames;
      assert.equal(sent.length, 1);
      assert.equal(sent[0]!.opcode, OP.CLOSE);
      assert.equal(sent[0]!.masked, role === 'client');
      assert.deepEqual(readClose(sent[0]!.payload), { code: 1001, reason: 'going' });
      assert.equal(proto.close(1000), false, 'a second close() sends nothing');
      assert.equal(rec.outputFrames.length, 1);

      // Data the peer sent before it saw our close is still delivered.
      feed(proto, peerFrame(role, OP.TEXT, 'in flight'));
      assert.equal(proto.inputClosed, false);
      feed(proto, peerFrame(role, OP.CLOSE, closePayload(1001)));
      assert.equal(proto.state, ReadyState.CLOSED);
      assert.equal(proto.inputClosed, true);
      assert.deepEqual(rec.events.map((e) => e.type), ['message', 'close']);
      assert.deepEqual(rec.events[1], { type: 'close', code: 1001, reason: '' });
      assert.equal(rec.outputFrames.length, 1, 'no second close frame');
    });

    test(`${role}: close() without a code sends an empty close frame`, () => {
      const { proto, rec } = open(role);
      assert.equal(proto.close(), true);
      assert.equal(rec.outputFrames[0]!.payload.length, 0);
    });

    test(`${role}: the peer closes first: its code is echoed, state CLOSED, onClose after the reply`, () => {
      const { proto, rec } = open(role);
      feed(proto, peerFrame(role, OP.CLOSE, closePayload(1000, 'done, thanks ✓')));
      assert.deepEqual(rec.log.map((e) => e.type), ['output', 'close']);
      assert.deepEqual(rec.events[0], { type: 'close', code: 1000, reason: 'done, thanks ✓' });
      const reply = rec.outputFrames;
      assert.equal(reply.length, 1);
      assert.equal(reply[0]!.opcode, OP.CLOSE);
      assert.equal(reply[0]!.masked, role === 'client');
      assert.equal(readClose(reply[0]!.payload).code, 1000);
      assert.equal(proto.state, ReadyState.CLOSED);
      assert.equal(proto.close(1000), false, 'nothing more to send');
      assert.equal(rec.outputFrames.length, 1);
    });

    test(`${role}: an empty close is answered with an empty close (reported as 1005)`, () => {
      const { proto, rec } = open(role);
      feed(proto, peerFrame(role, OP.CLOSE, ''));
      assert.deepEqual(rec.events, [{ type: 'close', code: 1005, reason: '' }]);
      const reply = rec.outputFrames;
      assert.equal(reply.length, 1);
      assert.equal(reply[0]!.opcode, OP.CLOSE);
      assert.equal(reply[0]!.payload.length, 0);
    });

    test(`${role}: data after a close is ignored (same chunk and later chunks)`, () => {
      const { proto, rec } = open(role);
      feed(
        proto,
        Buffer.concat([
          peerFrame(role, OP.TEXT, 'before'),
          peerFrame(role, OP.CLOSE, closePayload(1000)),
          peerFrame(role, OP.TEXT, 'after'),
          peerFrame(role, OP.PING, 'after'),
          Buffer.from([0xff, 0xff, 0xff]), // garbage that would otherwise be an error
        ]),
      );
      feed(proto, peerFrame(role, OP.TEXT, 'later'), peerFrame(role, OP.CLOSE, closePayload(1000)), Buffer.from([0x0f, 0x00]));
      assert.deepEqual(rec.types, ['message', 'close']);
      assert.equal(rec.outputFrames.length, 1, 'only the close reply, no pong, no error close');
    });

    test(`${role}: a close split over chunks and between fragments of a message`, () => {
      const { proto, rec } = open(role);
      const close = peerFrame(role, OP.CLOSE, closePayload(4321, 'reason split over pieces'));
      feed(proto, peerFrame(role, OP.TEXT, 'never', { fin: false }), ...splitEvery(close, 3), peerFrame(role, OP.CONT, 'finished'));
      assert.deepEqual(rec.events, [{ type: 'close', code: 4321, reason: 'reason split over pieces' }]);
      assert.equal(readClose(rec.outputFrames[0]!.payload).code, 4321);
    });

    test(`${role}: every valid close code is accepted and echoed`, () => {
      for (const code of VALID_CODES) {
        const { proto, rec } = open(role);
        feed(proto, peerFrame(role, OP.CLOSE, closePayload(code, 'r')));
        assert.deepEqual(rec.events, [{ type: 'close', code, reason: 'r' }], `code ${code}`);
        const reply = rec.outputFrames;
        assert.equal(reply.length, 1);
        assert.equal(readClose(reply[0]!.payload).code, code, `echo of ${code}`);
      }
    });

    for (const code of INVALID_CODES) {
      test(`${role}: close code ${code} -> 1002 WS_ERR_INVALID_CLOSE_CODE`, () => {
        const { proto, rec } = open(role);
        feed(proto, peerFrame(role, OP.CLOSE, closePayload(code)));
        assertFailed(rec, ErrorCodes.INVALID_CLOSE_CODE, 1002);
        assert.equal(proto.state, ReadyState.CLOSED);
        assert.equal(rec.types.includes('close'), false);
      });
    }

    test(`${role}: every code in 0-65535 outside the valid ranges is refused`, () => {
      const valid = new Set(VALID_CODES);
      let refused = 0;
      for (let code = 0; code <= 0xffff; code += code < 5000 ? 1 : 97) {
        if (valid.has(code)) continue;
        const { proto, rec } = open(role);
        feed(proto, peerFrame(role, OP.CLOSE, closePayload(code)));
        assert.equal(rec.errors[0]?.code, ErrorCodes.INVALID_CLOSE_CODE, `code ${code}`);
        refused++;
      }
      assert.ok(refused > 3000);
    });

    test(`${role}: a 1-byte close payload -> 1002 WS_ERR_INVALID_CLOSE_PAYLOAD`, () => {
      for (const b of [0x00, 0x03, 0xe8]) {
        const { proto, rec } = open(role);
        feed(proto, peerFrame(role, OP.CLOSE, [b]));
        assertFailed(rec, ErrorCodes.INVALID_CLOSE_PAYLOAD, 1002);
      }
    });

    test(`${role}: an invalid UTF-8 close reason -> 1007 WS_ERR_INVALID_UTF8`, () => {
      for (const reason of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x61, 0xe2, 0x82], [0x80]]) {
        for (const chunkSize of [200, 1]) {
          const { proto, rec } = open(role);
          feed(proto, ...splitEvery(peerFrame(role, OP.CLOSE, closePayload(1000, Buffer.from(reason))), chunkSize));
          assertFailed(rec, ErrorCodes.INVALID_UTF8, 1007);
        }
      }
    });

    test(`${role}: a valid close while CLOSING completes the handshake; an invalid one fails without a 2nd close`, () => {
      const ok = open(role);
      ok.proto.close(3001, 'x');
      feed(ok.proto, peerFrame(role, OP.CLOSE, closePayload(3001)));
      assert.deepEqual(ok.rec.events, [{ type: 'close', code: 3001, reason: '' }]);

      const bad = open(role);
      bad.proto.close(1000);
      feed(bad.proto, peerFrame(role, OP.CLOSE, closePayload(1005)));
      assertFailed(bad.rec, ErrorCodes.INVALID_CLOSE_CODE, 1002, false);
      assert.equal(bad.rec.outputFrames.length, 1, 'only our own close frame');
      assert.equal(readClose(bad.rec.outputFrames[0]!.payload).code, 1000);
      assert.equal(bad.proto.state, ReadyState.CLOSED);
    });

    test(`${role}: a protocol error while CLOSING sends no second close frame`, () => {
      const { proto, rec } = open(role);
      proto.close(1000);
      feed(proto, peerFrame(role, 5, ''));
      assertFailed(rec, ErrorCodes.INVALID_OPCODE, 1002, false);
      assert.equal(rec.outputFrames.length, 1);
    });

    test(`${role}: abort() marks CLOSED and ignores later input`, () => {
      const { proto, rec } = open(role);
      proto.abort();
      assert.equal(proto.state, ReadyState.CLOSED);
      feed(proto, peerFrame(role, OP.TEXT, 'x'), peerFrame(role, OP.CLOSE, closePayload(1000)));
      assert.deepEqual(rec.log, []);
      assert.equal(proto.close(1000), false);
      assert.deepEqual(rec.log, []);
    });
  }
});

describe('close() argument validation', () => {
  const isInvalidArgument = (e: unknown): boolean => e instanceof WireroomError && e.code === ErrorCodes.INVALID_ARGUMENT;

  for (const role of ROLES) {
    test(`${role}: codes that may not be sent throw WS_ERR_INVALID_ARGUMENT and emit nothing`, () => {
      const bad: unknown[] = [...INVALID_CODES, -1, 1000.5, NaN, Infinity, '1000', null, 1000n, {}];
      for (const code of bad) {
        const { proto, rec } = open(role);
        assert.throws(() => proto.close(code as number), isInvalidArgument, `close(${String(code)})`);
        assert.deepEqual(rec.log, [], `nothing emitted for close(${String(code)})`);
        assert.equal(proto.state, ReadyState.OPEN, 'state unchanged');
        assert.equal(proto.close(1000), true, 'a correct close() still works afterwards');
      }
    });

    test(`${role}: every valid code can be sent`, () => {
      for (const code of VALID_CODES) {
        const { proto, rec } = open(role);
        assert.equal(proto.close(code), true);
        assert.equal(readClose(rec.outputFrames[0]!.payload).code, code);
      }
    });

    test(`${role}: a reason of 123 bytes is accepted, 124 bytes throws (ASCII and multi-byte)`, () => {
      for (const reason of ['a'.repeat(123), 'é'.repeat(61) + 'a', '€'.repeat(41)]) {
        assert.equal(Buffer.byteLength(reason), 123);
        const { proto, rec } = open(role);
        assert.equal(proto.close(1000, reason), true);
        assert.deepEqual(readClose(rec.outputFrames[0]!.payload), { code: 1000, reason });
      }
      for (const reason of ['a'.repeat(124), 'é'.repeat(62), '€'.repeat(41) + 'a', Buffer.alloc(124, 0x61)]) {
        const { proto, rec } = open(role);
        assert.throws(() => proto.close(1000, reason), isInvalidArgument);
        assert.deepEqual(rec.log, []);
        assert.equal(proto.state, ReadyState.OPEN);
      }
    });

    test(`${role}: a reason that is neither a string nor a Buffer throws, with or without a code`, () => {
      for (const reason of [42, {}, [1, 2], null, true, Symbol('s')]) {
        for (const code of [1000, undefined]) {
          const { proto, rec } = open(role);
          assert.throws(() => proto.close(code, reason as unknown as string), isInvalidArgument, `close(${code}, ${String(reason)})`);
          assert.deepEqual(rec.log, []);
          assert.equal(proto.state, ReadyState.OPEN);
        }
      }
    });

    test(`${role}: a reason without a code throws; a Buffer reason must be valid UTF-8`, () => {
      const a = open(role);
      assert.throws(() => a.proto.close(undefined, 'why'), isInvalidArgument);
      assert.deepEqual(a.rec.log, []);
      const b = open(role);
      assert.throws(() => b.proto.close(1000, Buffer.from([0xc0, 0x80])), isInvalidArgument);
      assert.deepEqual(b.rec.log, []);
      const c = open(role);
      assert.equal(c.proto.close(1000, Buffer.from('ok')), true);
      assert.deepEqual(readClose(c.rec.outputFrames[0]!.payload), { code: 1000, reason: 'ok' });
    });

    test(`${role}: close() validates even after the connection closed (misuse is still reported)`, () => {
      const { proto, rec } = open(role);
      feed(proto, peerFrame(role, OP.CLOSE, closePayload(1000)));
      const before = rec.log.length;
      assert.throws(() => proto.close(1005), isInvalidArgument);
      assert.equal(rec.log.length, before);
    });
  }
});

describe('close frame header edge cases', () => {
  for (const role of ROLES) {
    test(`${role}: a close frame declaring 126 bytes fails from the header, before its payload`, () => {
      const { proto, rec } = open(role);
      feed(proto, frameHeader(OP.CLOSE, 126, { mask: role === 'server' }));
      assertFailed(rec, ErrorCodes.INVALID_CONTROL_FRAME, 1002);
    });
  }
});
