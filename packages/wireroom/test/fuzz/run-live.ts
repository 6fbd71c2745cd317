/**
 * Fuzzes a live server over loopback: each case opens a TCP connection, performs (or garbles) the handshake,
 * writes a fuzz stream in random chunks, and hangs up after the server reacts or a short wait.
 */
import { connect as netConnect } from 'node:net';
import { chunk, fuzzCase, mutate, Rng } from './generators.js';

const HANDSHAKE = Buffer.from(
  'GET /fuzz HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
  'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n',
);

export interface LiveFuzzResult {
  cases: number;
  upgraded: number;
  refused: number;
}

function runCase(port: number, caseSeed: number, waitMs: number): Promise<'upgraded' | 'refused' | 'other'> {
  const rng = new Rng(caseSeed);
  const handshake = rng.int(10) === 0 ? mutate(rng, HANDSHAKE) : HANDSHAKE;
  const body = fuzzCase(rng);
  const pieces = chunk(rng, Buffer.concat([handshake, body]));
  return new Promise((resolve) => {
    const socket = netConnect({ port, host: '127.0.0.1' });
    let firstBytes = '';
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(firstBytes.startsWith('HTTP/1.1 101') ? 'upgraded' : firstBytes.startsWith('HTTP/1.1 4') || firstBytes.startsWith('HTTP/1.1 5') ? 'refused' : 'other');
    };
    // Wait for the server's first answer (bounded: a garbled handshake may leave it waiting for more bytes),
    // then give it `waitMs` to react to the frames before hanging up. Timing-independent on a busy machine.
    let timer = setTimeout(finish, 1000);
    socket.on('error', () => {});
    socket.on('data', (data) => {
      if (firstBytes.length === 0) {
        clearTimeout(timer);
        timer = setTimeout(finish, waitMs);
      }
      if (firstBytes.length < 16) firstBytes += data.toString('latin1', 0, 16);
    });
    socket.on('close', finish);
    socket.on('connect', () => {
      for (const piece of pieces) socket.write(piece);
    });
  });
}

/** Runs `cases` cases, `concurrency` at a time, against 127.0.0.1:port. */
export async function fuzzLive(port: number, seed: number, cases: number, concurrency = 16, waitMs = 60): Promise<LiveFuzzResult> {
  const result: LiveFuzzResult = { cases, upgraded: 0, refused: 0 };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases) {
      const i = next++;
      const outcome = await runCase(port, (seed + Math.imul(i, 0x85ebca6b)) >>> 0, waitMs);
      if (outcome === 'upgraded') result.upgraded++;
      else if (outcome === 'refused') result.refused++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return result;
}
