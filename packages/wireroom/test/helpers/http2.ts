// Helpers for the HTTP/2 tests (RFC 8441): a self-signed certificate made with openssl for the test process,
// raw node:http2 sessions and extended CONNECT streams that speak WebSocket frames by hand.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as http2Connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { clientFrame, decodeFrames, OP, type DecodedFrame } from './frames.js';
import { HOST, within } from './loopback.js';

let cached: { key: Buffer; cert: Buffer } | null = null;

/** A certificate for localhost and 127.0.0.1, valid one day, generated once per test process. */
export function selfSignedCert(): { key: Buffer; cert: Buffer } {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'wireroom-h2-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore', timeout: 30_000 });
    cached = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return cached;
}

/** A raw HTTP/2 session to 127.0.0.1:port, connected and with the server's first SETTINGS received. */
export async function h2Session(port: number, ca: Buffer): Promise<ClientHttp2Session> {
  const session = http2Connect(`https://${HOST}:${port}`, { ca, servername: 'localhost' });
  session.on('error', () => {});
  await within(new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
  }), 5000, 'the server SETTINGS');
  return session;
}

/** A WebSocket spoken by hand over one extended CONNECT stream. */
export class RawStream {
  status = 0;
  headers: IncomingHttpHeaders = {};
  bytes = Buffer.alloc(0);
  ended = false;
  closed = false;
  readonly responded: Promise<void>;
  readonly closedPromise: Promise<void>;

  constructor(readonly stream: ClientHttp2Stream) {
    stream.on('error', () => {});
    this.responded = new Promise((resolve) => {
      stream.once('response', (headers) => {
        this.headers = headers;
        this.status = Number(headers[':status']);
        resolve();
      });
    });
    stream.on('data', (chunk: Buffer) => (this.bytes = Buffer.concat([this.bytes, chunk])));
    stream.on('end', () => (this.ended = true));
    this.closedPromise = new Promise((resolve) => stream.once('close', () => {
      this.closed = true;
      resolve();
    }));
  }

  send(opcode: number, payload: Buffer | string): void {
    this.stream.write(clientFrame(opcode, payload));
  }

  /** The complete frames received so far (a partial one at the end is left out). */
  frames(): DecodedFrame[] {
    for (let end = this.bytes.length; end >= 0; end--) {
      try {
        return decodeFrames(this.bytes.subarray(0, end));
      } catch {
        // a partial frame at the end: try a shorter prefix
      }
    }
    return [];
  }

  async nextFrames(count: number, ms = 5000): Promise<DecodedFrame[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const frames = this.frames();
      if (frames.length >= count) return frames;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} frames (have ${frames.length})`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** Opens `path` as an RFC 8441 WebSocket on `session` and waits for the response headers. */
export async function openRawStream(session: ClientHttp2Session, path = '/', headers: Record<string, string> = {}): Promise<RawStream> {
  const stream = session.request({
    ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': path, ':authority': `${HOST}`,
    'sec-websocket-version': '13', ...headers,
  }, { endStream: false });
  const raw = new RawStream(stream);
  await within(raw.responded, 5000, 'the response headers');
  return raw;
}

export { OP };
