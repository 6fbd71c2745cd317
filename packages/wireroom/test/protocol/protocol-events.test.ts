// Event delivery contract of the protocol core: errors (one event, stable code, close frame, silence after),
// failWith() from the I/O layer, pause()/resume() and re-entrant receive().
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode } from '../../src/protocol/constants.js';
import { ErrorCodes, ProtocolError } from '../../src/protocol/errors.js';
import { ReadyState, WebSocketProtocol, type Role } from '../../src/protocol/protocol.js';
import {
  OP,
  assertFailed,
  closePayload,
  decodeFrames,
  feed,
  frameHeader,
  open,
  peerFrame,
  readClose,
  splitEvery,
  type ProtocolEvent,
} from '../helpers/frames.js';

const ROLES: Role[] = ['server', 'client'];

/** One stream per error the peer can cause, with the stable code and close code it must produce. */
function violations(role: Role): { name: string; stream: Buffer; code: string; closeCode: number }[] {
  const mask = role === 'server';
  const f = (opcode: number, payload?: Uint8Array | string | number[], options = {}) => peerFrame(role, opcode, payload, options);
  return [
    { name: 'reserved opcode', stream: f(3, 'x'), code: ErrorCodes.INVALID_OPCODE, closeCode: 1002 },
    { name: 'RSV2', stream: f(OP.TEXT, 'x', { rsv2: true }), code: ErrorCodes.UNEXPECTED_RSV, closeCode: 1002 },
    {
      name: 'wrong masking',
      stream: role === 'server' ? peerFrame('client', OP.TEXT, 'x') : peerFrame('server', OP.TEXT, 'x'),
      code: role === 'server' ? ErrorCodes.EXPECTED_MASK : ErrorCodes.UNEXPECTED_MASK,
      closeCode: 1002,
    },
    { name: 'fragmented ping', stream: f(OP.PING, 'x', { fin: false }), code: ErrorCodes.INVALID_CONTROL_FRAME, closeCode: 1002 },
    { name: 'orphan continuation', stream: f(OP.CONT, 'x'), code: ErrorCodes.UNEXPECTED_CONTINUATION, closeCode: 1002 },
    { name: 'data frame inside a message', stream: Buffer.concat([f(OP.TEXT, 'a', { fin: false }), f(OP.BINARY, 'b')]), code: ErrorCodes.EXPECTED_CONTINUATION, closeCode: 1002 },
    { name: '64-bit length MSB', stream: frameHeader(OP.BINARY, 2n ** 63n, { mask, lengthBits: 64 }), code: ErrorCodes.INVALID_LENGTH, closeCode: 1002 },
    { name: 'invalid close code', stream: f(OP.CLOSE, closePayload(1006)), code: ErrorCodes.INVALID_CLOSE_CODE, closeCode: 1002 },
    { name: '1-byte close', stream: f(OP.CLOSE, [3]), code: ErrorCodes.INVALID_CLOSE_PAYLOAD, closeCode: 1002 },
    { name: 'invalid UTF-8 text', stream: f(OP.TEXT, [0xff]), code: ErrorCodes.INVALID_UTF8, closeCode: 1007 },
    { name: 'invalid UTF-8 close reason', stream: f(OP.CLOSE, closePayload(1000, Buffer.from([0xc0]))), code: ErrorCodes.INVALID_UTF8, closeCode: 1007 },
    { name: 'frame too big', stream: frameHeader(OP.BINARY, 2 * 1024 * 1024, { mask }), code: ErrorCodes.FRAME_TOO_BIG, closeCode: 1009 },
  ];
}

describe('errors: one event, stable code, close frame, then silence', () => {
  for (const role of ROLES) {
    for (const { name, stream, code, closeCode } of violations(role)) {
      test(`${role}: ${name} -> ${code} / ${closeCode}, whole and byte by byte, nothing after`, () => {
        for (const chunks of [[stream], splitEvery(stream, 1)]) {
          const { proto, rec } = open(role);
          feed(proto, peerFrame(role, OP.TEXT, 'before'));
          assert.doesNotThrow(() => feed(proto, ...chunks));
          assert.deepEqual(rec.messages.map((m) => m.data.toString()), ['before']);
          const error = assertFailed(rec, code, closeCode);
          assert.ok(error instanceof ProtocolError);
          assert.equal(proto.state, ReadyState.CLOSED);
          assert.equal(proto.inputClosed, true);

          // The close frame: masked by the client only, a short valid UTF-8 reason.
          const close = rec.outputFrames.at(-1)!;
          assert.equal(close.masked, role === 'client');
          assert.ok(close.payload.length <= 125);
          assert.equal(Buffer.from(readClose(close.payload).reason).equals(close.payload.subarray(2)), true, 'reason is valid UTF-8');

          const before = rec.log.length;
          assert.doesNotThrow(() =>
            feed(proto, peerFrame(role, OP.TEXT, 'after'), peerFrame(role, OP.PING, 'p'), peerFrame(role, OP.CLOSE, closePayload(1000)), Buffer.from([0xff, 0xff, 0, 0])),
          );
          assert.equal(rec.log.length, before, 'no event and no output after the error');
          assert.equal(proto.close(1000), false, 'close() after a failure sends nothing');
          assert.equal(rec.log.length, before);
        }
      });
    }
  }

  test('a long error message is truncated to a valid close reason of at most 123 bytes', () => {
    const { proto, rec } = open('server');
    proto.failWith(new ProtocolError(ErrorCodes.COMPRESSION_FAILED, CloseCode.INTERNAL_ERROR, 'ü'.repeat(200)));
    const close = rec.outputFrames[0]!;
    assert.equal(readClose(close.payload).code, 1011);
    assert.ok(close.payload.length - 2 <= 123);
    assert.equal(readClose(close.payload).reason, 'ü'.repeat(61));
  });
});

describe('failWith() (errors detected by the I/O layer)', () => {
  for (const role of ROLES) {
    test(`${role}: emits the close frame with the error's code, reports it once, ignores later input`, () => {
      const { proto, rec } = open(role);
      const error = new ProtocolError(ErrorCodes.INVALID_COMPRESSED_DATA, CloseCode.INVALID_DATA, 'bad deflate data');
      proto.failWith(error);
      assertFailed(rec, ErrorCodes.INVALID_COMPRESSED_DATA, 1007);
      assert.equal(rec.errors[0], error);
      proto.failWith(new ProtocolError(ErrorCodes.HEARTBEAT_TIMEOUT, CloseCode.INTERNAL_ERROR, 'again'));
      feed(proto, peerFrame(role, OP.TEXT, 'x'));
      assert.equal(rec.log.length, 2, 'a second failure and later input are ignored');
    });

    test(`${role}: while CLOSING, no second close frame is sent`, () => {
      const { proto, rec } = open(role);
      proto.close(1000);
      proto.failWith(new ProtocolError(ErrorCodes.HEARTBEAT_TIMEOUT, CloseCode.INTERNAL_ERROR, 'no pong'));
      assert.deepEqual(rec.log.map((e) => e.type), ['output', 'error']);
      assert.equal(proto.state, ReadyState.CLOSED);
    });

    test(`${role}: after the peer's close, failWith() is a no-op`, () => {
      const { proto, rec } = open(role);
      feed(proto, peerFrame(role, OP.CLOSE, closePayload(1000)));
      const before = rec.log.length;
      proto.failWith(new ProtocolError(ErrorCodes.HEARTBEAT_TIMEOUT, CloseCode.INTERNAL_ERROR, 'late'));
      assert.equal(rec.log.length, before);
    });

    test(`${role}: failWith() from inside onMessage stops the rest of the chunk`, () => {
      const { proto, rec } = open(role);
      rec.hook = (e) => {
        if (e.type === 'message') proto.failWith(new ProtocolError(ErrorCodes.MESSAGE_TOO_BIG, CloseCode.MESSAGE_TOO_BIG, 'inflated too big'));
      };
      feed(proto, Buffer.concat([peerFrame(role, OP.TEXT, 'a'), peerFrame(role, OP.TEXT, 'b'), peerFrame(role, OP.PING, 'c')]));
      assert.deepEqual(rec.types, ['message', 'error']);
      assert.equal(readClose(rec.outputFrames[0]!.payload).code, 1009);
    });
  }
});

/** A compact description of the non-output events, for comparing sequences. */
function summary(log: readonly ProtocolEvent[]): string[] {
  return log.flatMap((e) => {
    switch (e.type) {
      case 'message':
        return [`${e.isBinary ? 'bin' : 'text'}:${e.data.toString('latin1')}`];
      case 'compressed':
        return [`z:${e.fin}:${e.payload.toString('latin1')}`];
      case 'ping':
      case 'pong':
        return [`${e.type}:${e.payload.toString('latin1')}`];
      case 'close':
        return [`close:${e.code}:${e.reason}`];
      case 'error':
        return [`error:${e.error.code}`];
      case 'output':
        return [`out:${decodeFrames(e.data).map((f) => `${f.opcode}/${f.payload.toString('latin1')}`).join('+')}`];
    }
  });
}

describe('pause() / resume()', () => {
  for (const role of ROLES) {
    const f = (opcode: number, payload?: Uint8Array | string | number[], options = {}) => peerFrame(role, opcode, payload, options);
    const stream = Buffer.concat([
      f(OP.TEXT, 'one'),
      f(OP.BINARY, 'two'),
      f(OP.TEXT, 'thr', { fin: false }),
      f(OP.PING, 'ping-in-between'),
      f(OP.CONT, 'ee'),
      f(OP.PONG, 'pong'),
      f(OP.TEXT, 'four'),
      f(OP.CLOSE, closePayload(1000, 'bye')),
      f(OP.TEXT, 'ignored after close'),
    ]);

    function reference(): string[] {
      const { proto, rec } = open(role);
      feed(proto, stream);
      return summary(rec.log);
    }

    test(`${role}: pausing in every callback stops events until resume(); nothing lost or reordered`, () => {
      const expected = reference();
      assert.deepEqual(expected.filter((s) => !s.startsWith('out:')), ['text:one', 'bin:two', 'ping:ping-in-between', 'text:three', 'pong:pong', 'text:four', 'close:1000:bye']);
      for (const chunks of [[stream], splitEvery(stream, 1), splitEvery(stream, 5)]) {
        const { proto, rec } = open(role);
        rec.hook = (e) => {
          if (e.type !== 'output') proto.pause();
        };
        feed(proto, ...chunks);
        let resumes = 0;
        while (proto.isPaused) {
          const before = rec.events.length;
          proto.resume();
          resumes++;
          assert.ok(rec.events.length - before <= 1, 'at most one event per resume()');
          assert.ok(resumes < 100);
        }
        assert.deepEqual(summary(rec.log), expected);
      }
    });

    test(`${role}: paused inside onMessage, the rest of the chunk waits; input received meanwhile is queued in order`, () => {
      const { proto, rec } = open(role);
      rec.hook = (e) => {
        if (e.type === 'message' && e.data.toString() === 'one') proto.pause();
      };
      feed(proto, Buffer.concat([f(OP.TEXT, 'one'), f(OP.TEXT, 'two')]));
      assert.deepEqual(rec.types, ['message']);
      assert.equal(proto.isPaused, true);
      feed(proto, f(OP.TEXT, 'three'), f(OP.PING, 'p'));
      assert.deepEqual(rec.types, ['message'], 'nothing while paused');
      assert.deepEqual(rec.log.filter((e) => e.type === 'output'), [], 'not even the pong');
      proto.resume();
      assert.equal(proto.isPaused, false);
      assert.deepEqual(summary(rec.log), ['text:one', 'text:two', 'text:three', 'out:10/p', 'ping:p']);
    });

    test(`${role}: messages delivered before a pause keep their bytes when later frames of the chunk are unmasked`, () => {
      const { proto, rec } = open(role);
      rec.hook = (e) => {
        if (e.type === 'message') proto.pause();
      };
      proto.receive(Buffer.concat([f(OP.BINARY, 'first message'), f(OP.BINARY, 'second message'), f(OP.BINARY, 'third')]));
      while (proto.isPaused) proto.resume();
      assert.deepEqual(rec.messages.map((m) => m.data.toString()), ['first message', 'second message', 'third']);
    });

    test(`${role}: a protocol error queued while paused is reported only after resume()`, () => {
      const { proto, rec } = open(role);
      feed(proto, f(OP.TEXT, 'a'));
      proto.pause();
      feed(proto, f(OP.TEXT, 'b'), f(5, 'bad'));
      assert.deepEqual(rec.types, ['message']);
      assert.equal(proto.state, ReadyState.OPEN);
      proto.resume();
      assert.deepEqual(rec.types, ['message', 'message', 'error']);
      assertFailed(rec, ErrorCodes.INVALID_OPCODE, 1002);
    });

    test(`${role}: pause() then resume() inside the same callback loses nothing`, () => {
      const { proto, rec } = open(role);
      rec.hook = (e) => {
        if (e.type !== 'output') {
          proto.pause();
          proto.resume();
        }
      };
      feed(proto, ...splitEvery(stream, 3));
      assert.deepEqual(summary(rec.log), reference());
      assert.equal(proto.isPaused, false);
    });

    test(`${role}: resume() called from a later callback of another message continues in order`, () => {
      // The handler pauses on 'one', and an unrelated event (here: the caller feeding more) resumes it.
      const { proto, rec } = open(role);
      let paused = false;
      rec.hook = (e) => {
        if (e.type === 'message' && !paused) {
          paused = true;
          proto.pause();
        }
      };
      feed(proto, stream.subarray(0, 20));
      proto.resume();
      feed(proto, stream.subarray(20));
      assert.deepEqual(summary(rec.log), reference());
    });

    test(`${role}: pausing in onCompressedFrame holds the following frames`, () => {
      const { proto, rec } = open(role, { compressionNegotiated: true });
      rec.hook = (e) => {
        if (e.type === 'compressed') proto.pause();
      };
      feed(proto, Buffer.concat([f(OP.BINARY, 'z1', { rsv1: true, fin: false }), f(OP.CONT, 'z2'), f(OP.TEXT, 'plain')]));
      assert.deepEqual(summary(rec.log), ['z:false:z1']);
      proto.resume();
      assert.deepEqual(summary(rec.log), ['z:false:z1', 'z:true:z2']);
      proto.resume();
      assert.deepEqual(summary(rec.log), ['z:false:z1', 'z:true:z2', 'text:plain']);
    });

    test(`${role}: resume() when not paused, and after an abort, does nothing`, () => {
      const { proto, rec } = open(role);
      proto.resume();
      proto.pause();
      feed(proto, f(OP.TEXT, 'x'));
      proto.abort();
      proto.resume();
      assert.deepEqual(rec.log, []);
    });
  }
});

describe('re-entrant receive()', () => {
  for (const role of ROLES) {
    test(`${role}: receive() called from inside onMessage is processed after the current chunk, in order`, () => {
      const { proto, rec } = open(role);
      let injected = false;
      rec.hook = (e) => {
        if (e.type === 'message' && !injected) {
          injected = true;
          proto.receive(peerFrame(role, OP.TEXT, 'injected'));
        }
      };
      feed(proto, Buffer.concat([peerFrame(role, OP.TEXT, 'a'), peerFrame(role, OP.TEXT, 'b')]));
      assert.deepEqual(rec.messages.map((m) => m.data.toString()), ['a', 'b', 'injected']);
    });

    test(`${role}: a handler that calls close() from onMessage gets the peer's remaining data then its close`, () => {
      const { proto, rec } = open(role);
      rec.hook = (e) => {
        if (e.type === 'message') proto.close(1000, 'enough');
      };
      feed(proto, Buffer.concat([peerFrame(role, OP.TEXT, 'a'), peerFrame(role, OP.PING, 'p'), peerFrame(role, OP.CLOSE, closePayload(1000))]));
      assert.deepEqual(summary(rec.log), ['text:a', 'out:8/' + closePayload(1000, 'enough').toString('latin1'), 'ping:p', 'close:1000:']);
      assert.equal(proto.state, ReadyState.CLOSED);
    });
  }
});

test('failWith() with a code that may not be sent closes with 1011 and still reports the error', () => {
  const events: string[] = [];
  const outputs: Buffer[] = [];
  const core = new WebSocketProtocol({
    onMessage() {}, onCompressedFrame() {}, onPing() {}, onPong() {}, onClose() {},
    onError: (e) => events.push(e.code),
    onOutputReady: () => outputs.push(Buffer.concat(core.takeOutput()!)),
    transportBuffered: () => 0,
  }, { role: 'server' });
  core.failWith(new ProtocolError('WS_ERR_INVALID_STATE', 1006, 'misuse'));
  assert.deepEqual(events, ['WS_ERR_INVALID_STATE']);
  assert.equal(outputs.length, 1);
  assert.equal(outputs[0]!.readUInt16BE(2), 1011);
});
