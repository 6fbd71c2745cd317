/** Feeds fuzz cases into the protocol core and checks its contract: no throw, at most one error, valid close codes. */
import { WebSocketProtocol, type ProtocolHandler } from '../../src/protocol/protocol.js';
import { isValidWireCloseCode } from '../../src/protocol/constants.js';
import { chunk, fuzzCase, Rng } from './generators.js';

export interface CoreFuzzResult {
  cases: number;
  messages: number;
  errors: number;
  closes: number;
  failures: string[];
}

export function fuzzCore(seed: number, cases: number): CoreFuzzResult {
  const result: CoreFuzzResult = { cases, messages: 0, errors: 0, closes: 0, failures: [] };
  for (let i = 0; i < cases; i++) {
    const caseSeed = (seed + Math.imul(i, 0x9e3779b1)) >>> 0;
    const rng = new Rng(caseSeed);
    const data = fuzzCase(rng);
    let errors = 0;
    const handler: ProtocolHandler = {
      onMessage: () => { result.messages++; },
      onCompressedFrame: () => {},
      onPing: () => {},
      onPong: () => {},
      onClose: () => { result.closes++; },
      onError: (error) => {
        errors++;
        if (!isValidWireCloseCode(error.closeCode)) result.failures.push(`case seed ${caseSeed}: invalid close code ${error.closeCode}`);
      },
      onOutputReady: () => { core.takeOutput(); },
      transportBuffered: () => 0,
    };
    const core = new WebSocketProtocol(handler, { role: 'server', maxMessageSize: 64 * 1024, maxFragments: 64, compressionNegotiated: rng.int(2) === 0 });
    try {
      for (const piece of chunk(rng, data)) core.receive(piece);
    } catch (error) {
      result.failures.push(`case seed ${caseSeed}: receive() threw ${(error as Error).stack}`);
    }
    if (errors > 1) result.failures.push(`case seed ${caseSeed}: ${errors} errors reported (at most one allowed)`);
    result.errors += errors;
    if (result.failures.length > 20) break;
  }
  return result;
}
