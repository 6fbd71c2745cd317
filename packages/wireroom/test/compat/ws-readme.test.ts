// Every code example of ws 8's README (node_modules/ws/README.md, read at test time), run with `'ws'` changed to
// `'wireroom'`, as an ES module and as CommonJS, in a child process that loads the BUILT package by its name
// (`npm run build` first; the workspace links node_modules/wireroom), against a real `ws` peer.
//
// What is changed besides the import, and why (each substitution must match, so a README change fails loudly):
// - ports (8080) and example hosts (www.host.com, websocket-echo.com) become a local port / a local `ws` peer;
//   wss:// examples get a certificate made here with openssl, trusted by the child through NODE_EXTRA_CA_CERTS;
// - the heartbeat examples' 30 s become 300 ms, so that a dead peer is found within the test's time;
// - lines that only observe are appended (console.log of 'LISTENING', of a computed value, ...), and the
//   client-authentication example gets the `authenticate()` its README leaves undefined on purpose.
// The CommonJS form turns `import X, { A } from 'wireroom'` into `const X = require('wireroom'); const { A } = require('wireroom');`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import PeerSocket, { WebSocketServer as PeerServer } from 'ws';
import { REPO } from '../helpers/pack.js';
import { delay, within } from '../helpers/loopback.js';

const T = { timeout: 30_000 };
const README = readFileSync(join(REPO, 'node_modules/ws/README.md'), 'utf8');
const EXAMPLES = [...README.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
// Child scripts live under the repository's node_modules so that `wireroom` and `ws` resolve as for a user.
const WORK = join(REPO, 'node_modules/.cache');
mkdirSync(WORK, { recursive: true });
const dir = mkdtempSync(join(WORK, 'wireroom-ws-readme-'));
const certDir = mkdtempSync(join(tmpdir(), 'wireroom-readme-tls-'));
const CERT = join(certDir, 'cert.pem');
const KEY = join(certDir, 'key.pem');
let files = 0;

after(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(certDir, { recursive: true, force: true });
});

before(() => {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', KEY, '-out', CERT,
  ], { stdio: 'ignore', timeout: 30_000 });
});

type Format = 'esm' | 'cjs';

function toCommonJs(code: string): string {
  return code
    .replace(/^import (\w+), \{([^}]+)\} from '([^']+)';$/gm, "const $1 = require('$3');\nconst {$2} = require('$3');")
    .replace(/^import \{([^}]+)\} from '([^']+)';$/gm, "const {$1} = require('$2');")
    .replace(/^import (\w+) from '([^']+)';$/gm, "const $1 = require('$2');");
}

/** The example with `'ws'` -> `'wireroom'` and the listed substitutions (each must match). */
function prepare(index: number, substitutions: Array<[string, string]>, epilogue: string, format: Format, prologue = ''): string {
  let code = prologue + EXAMPLES[index]!;
  assert.match(code, /from 'ws';/, `example ${index} imports ws`);
  code = code.replaceAll("from 'ws';", "from 'wireroom';");
  for (const [from, to] of substitutions) {
    assert.ok(code.includes(from), `example ${index} still contains ${JSON.stringify(from)}`);
    code = code.replaceAll(from, to);
  }
  code += `\n// ---- harness: observation only\n${epilogue}\n`;
  return format === 'cjs' ? toCommonJs(code) : code;
}

class Child {
  readonly process: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(code: string, format: Format, env: Record<string, string> = {}) {
    const file = join(dir, `example-${files++}.${format === 'esm' ? 'mjs' : 'cjs'}`);
    writeFileSync(file, code);
    this.process = spawn(process.execPath, [file], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.process.stdout!.on('data', (chunk: Buffer) => { this.stdout += chunk.toString(); });
    this.process.stderr!.on('data', (chunk: Buffer) => { this.stderr += chunk.toString(); });
    this.exited = new Promise((resolve) => this.process.once('exit', (code) => resolve(code)));
  }

  async waitFor(pattern: RegExp, ms = 8000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const match = this.stdout.match(pattern);
      if (match) return match;
      if (Date.now() > deadline || this.process.exitCode !== null) {
        throw new Error(`child output never matched ${pattern}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      }
      await delay(20);
    }
  }

  stop(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill();
  }
}

const children: Child[] = [];
const closers: Array<() => void> = [];
function run(code: string, format: Format, env?: Record<string, string>): Child {
  const child = new Child(code, format, env);
  children.push(child);
  return child;
}
function cleanupAll(): void {
  for (const child of children.splice(0)) child.stop();
  for (const close of closers.splice(0)) close();
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A `ws` server on a free port (plain or TLS with the test certificate). */
async function peerServer(options: { tls?: boolean; perMessageDeflate?: boolean } = {}): Promise<{ wss: PeerServer; url: string; wssUrl: string }> {
  let https: HttpsServer | undefined;
  let wss: PeerServer;
  if (options.tls) {
    https = createHttpsServer({ key: readFileSync(KEY), cert: readFileSync(CERT) });
    wss = new PeerServer({ server: https, perMessageDeflate: options.perMessageDeflate ?? false });
    await new Promise<void>((resolve) => https!.listen(0, '127.0.0.1', resolve));
  } else {
    wss = new PeerServer({ port: 0, host: '127.0.0.1', perMessageDeflate: options.perMessageDeflate ?? false });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
  }
  const port = ((https ?? wss).address() as { port: number }).port;
  closers.push(() => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    https?.close();
  });
  return { wss, url: `ws://127.0.0.1:${port}/path`, wssUrl: `wss://localhost:${port}/` };
}

/** A `ws` client, open. */
async function peerClient(url: string, options: ConstructorParameters<typeof PeerSocket>[2] = {}): Promise<PeerSocket> {
  const ws = new PeerSocket(url, { ca: readFileSync(CERT), ...options });
  closers.push(() => ws.terminate());
  await within(new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  }), 5000, `ws client open on ${url}`);
  return ws;
}

function nextMessage(ws: PeerSocket, ms = 5000): Promise<[Buffer, boolean]> {
  return within(new Promise((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve([data, isBinary]))), ms, 'a message');
}

const LISTENING_WSS = "wss.on('listening', () => console.log('LISTENING'));";
const LISTENING_HTTP = "server.on('listening', () => console.log('LISTENING'));";

describe('ws 8 README examples, import changed to wireroom', () => {
  it('the README has the 16 examples this file runs', () => {
    assert.equal(EXAMPLES.length, 16);
  });

  for (const format of ['esm', 'cjs'] as const) {
    describe(format === 'esm' ? 'as ES modules' : 'as CommonJS', () => {
      after(cleanupAll);

      it('1. compression: ws\'s perMessageDeflate shape (zlib options, no context takeover, 10-bit window)', T, async () => {
        const port = await freePort();
        const child = run(prepare(0, [['port: 8080', `port: ${port}`]], `${LISTENING_WSS}\nwss.on('connection', (ws) => ws.on('message', (d, b) => ws.send(d, { binary: b })));`, format), format);
        await child.waitFor(/LISTENING/);
        let extensions = '';
        const client = new PeerSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true });
        closers.push(() => client.terminate());
        client.once('upgrade', (response) => { extensions = String(response.headers['sec-websocket-extensions']); });
        await within(new Promise((resolve) => client.once('open', resolve)), 5000, 'open');
        assert.equal(client.extensions, 'permessage-deflate');
        assert.match(extensions, /server_no_context_takeover/);
        assert.match(extensions, /client_no_context_takeover/);
        assert.match(extensions, /server_max_window_bits=10/);
        const big = 'compress me '.repeat(200);
        client.send(big);
        const [echo] = await nextMessage(client);
        assert.equal(echo.toString(), big);
        assert.equal(child.stderr, '');
      });

      it('2. client with perMessageDeflate: false offers no extension', T, async () => {
        const { wss, url } = await peerServer({ perMessageDeflate: true });
        const connected = new Promise<{ headers: Record<string, unknown> }>((resolve) => wss.once('connection', (_ws, req) => resolve(req)));
        const child = run(prepare(1, [['ws://www.host.com/path', url]], "ws.on('open', () => console.log('OPEN'));", format), format);
        const request = await within(connected, 5000, 'connection');
        assert.equal(request.headers['sec-websocket-extensions'], undefined);
        await child.waitFor(/OPEN/);
      });

      it('3. sending and receiving text data', T, async () => {
        const { wss, url } = await peerServer();
        const received = new Promise<[Buffer, boolean]>((resolve) => wss.once('connection', (ws) => {
          ws.once('message', (data: Buffer, isBinary: boolean) => {
            resolve([data, isBinary]);
            ws.send('hello from ws');
          });
        }));
        const child = run(prepare(2, [['ws://www.host.com/path', url]], '', format), format);
        const [data, isBinary] = await within(received, 5000, 'the message');
        assert.equal(data.toString(), 'something');
        assert.equal(isBinary, false);
        await child.waitFor(/received: hello from ws/);
        assert.equal(child.stderr, '');
      });

      it('4. sending binary data (a Float32Array)', T, async () => {
        const { wss, url } = await peerServer();
        const received = new Promise<[Buffer, boolean]>((resolve) => wss.once('connection', (ws) => ws.once('message', (d: Buffer, b: boolean) => resolve([d, b]))));
        run(prepare(3, [['ws://www.host.com/path', url]], '', format), format);
        const [data, isBinary] = await within(received, 5000, 'the message');
        assert.equal(isBinary, true);
        assert.deepEqual(data, Buffer.from(new Float32Array([0, 0.5, 1, 1.5, 2]).buffer));
      });

      it('5. simple server', T, async () => {
        const port = await freePort();
        const child = run(prepare(4, [['port: 8080', `port: ${port}`]], LISTENING_WSS, format), format);
        await child.waitFor(/LISTENING/);
        const client = new PeerSocket(`ws://127.0.0.1:${port}/`);
        closers.push(() => client.terminate());
        const [greeting] = await nextMessage(client);
        assert.equal(greeting.toString(), 'something');
        client.send('hi there');
        await child.waitFor(/received: hi there/);
      });

      it('6. external HTTPS server (certificate made by the test)', T, async () => {
        const port = await freePort();
        const child = run(prepare(5, [['/path/to/cert.pem', CERT], ['/path/to/key.pem', KEY], ['server.listen(8080)', `server.listen(${port})`]], LISTENING_HTTP, format), format);
        await child.waitFor(/LISTENING/);
        const client = new PeerSocket(`wss://localhost:${port}/`, { ca: readFileSync(CERT) });
        closers.push(() => client.terminate());
        const [greeting] = await nextMessage(client);
        assert.equal(greeting.toString(), 'something');
        client.send('over tls');
        await child.waitFor(/received: over tls/);
      });

      it('7. several servers sharing one HTTP server (noServer + handleUpgrade)', T, async () => {
        const port = await freePort();
        const child = run(prepare(6, [['server.listen(8080)', `server.listen(${port})`]], `${LISTENING_HTTP}
wss1.on('connection', (ws, req) => console.log('wss1 ' + req.url));
wss2.on('connection', (ws, req) => console.log('wss2 ' + req.url));`, format), format);
        await child.waitFor(/LISTENING/);
        await peerClient(`ws://127.0.0.1:${port}/foo`);
        await child.waitFor(/wss1 \/foo/);
        await peerClient(`ws://127.0.0.1:${port}/bar`);
        await child.waitFor(/wss2 \/bar/);
        await assert.rejects(peerClient(`ws://127.0.0.1:${port}/baz`), /socket hang up|ECONNRESET/);
        assert.doesNotMatch(child.stdout, /baz/);
      });

      it('8. client authentication (authenticate() supplied by the test)', T, async () => {
        const port = await freePort();
        const child = run(prepare(7, [['server.listen(8080)', `server.listen(${port})`]], `${LISTENING_HTTP}
function authenticate(request, next) {
  const token = new URL(request.url, 'http://localhost').searchParams.get('token');
  if (token === 'secret') next(null, 'alice');
  else next(new Error('bad token'));
}`, format), format);
        await child.waitFor(/LISTENING/);
        const client = await peerClient(`ws://127.0.0.1:${port}/?token=secret`);
        client.send('hello');
        await child.waitFor(/Received message hello from user alice/);
        await assert.rejects(peerClient(`ws://127.0.0.1:${port}/?token=wrong`), /Unexpected server response: 401/);
      });

      for (const [index, includingItself] of [[8, true], [9, false]] as const) {
        it(`${index + 1}. server broadcast ${includingItself ? 'to every client' : 'to every other client'}`, T, async () => {
          const port = await freePort();
          const child = run(prepare(index, [['port: 8080', `port: ${port}`]], LISTENING_WSS, format), format);
          await child.waitFor(/LISTENING/);
          const a = await peerClient(`ws://127.0.0.1:${port}/`);
          const b = await peerClient(`ws://127.0.0.1:${port}/`);
          const toA: Array<[string, boolean]> = [];
          a.on('message', (d: Buffer, isBinary: boolean) => toA.push([d.toString(), isBinary]));
          const atB = nextMessage(b);
          a.send('from a');
          const [text, isBinary] = await atB;
          assert.deepEqual([text.toString(), isBinary], ['from a', false]);
          const binaryAtB = nextMessage(b);
          a.send(Buffer.from([1, 2, 3]));
          const [bytes, binary] = await binaryAtB;
          assert.deepEqual([[...bytes], binary], [[1, 2, 3], true]);
          await delay(200);
          assert.deepEqual(toA, includingItself ? [['from a', false], ['\u0001\u0002\u0003', true]] : []);
        });
      }

      it('11. round-trip time: numbers sent as text, over wss (local echo instead of websocket-echo.com)', T, async () => {
        const { wss, wssUrl } = await peerServer({ tls: true });
        const seen: Array<[string, boolean]> = [];
        wss.on('connection', (ws) => ws.on('message', (d: Buffer, isBinary: boolean) => {
          seen.push([d.toString(), isBinary]);
          ws.send(d, { binary: isBinary });
        }));
        const child = run(prepare(10, [['wss://websocket-echo.com/', wssUrl]], '', format), format, { NODE_EXTRA_CA_CERTS: CERT });
        await child.waitFor(/connected/);
        await child.waitFor(/(Round-trip time: \d+ ms[\s\S]*){2}/);
        assert.ok(seen.length >= 2);
        for (const [text, isBinary] of seen) {
          assert.match(text, /^\d{13}$/);
          assert.equal(isBinary, false);
        }
      });

      it('12. the streams API: stdin -> createWebSocketStream -> echo -> stdout, then a clean end', T, async () => {
        const { wss, wssUrl } = await peerServer({ tls: true });
        const closed = new Promise<number>((resolve) => wss.on('connection', (ws) => {
          ws.on('message', (d: Buffer, isBinary: boolean) => ws.send(d, { binary: isBinary }));
          ws.on('close', (code: number) => resolve(code));
        }));
        const child = run(prepare(11, [['wss://websocket-echo.com/', wssUrl]], '', format), format, { NODE_EXTRA_CA_CERTS: CERT });
        child.process.stdin!.write('hello stream\n');
        await child.waitFor(/hello stream/);
        child.process.stdin!.end();
        assert.equal(await within(closed, 5000, 'the close'), 1005); // close() without a code, as ws sends it
        assert.equal(await within(child.exited, 5000, 'the child to exit'), 0);
        assert.equal(child.stderr, '');
      });

      it('13. FAQ: the client IP address from req.socket', T, async () => {
        const port = await freePort();
        const child = run(prepare(12, [['port: 8080', `port: ${port}`], ['const ip = req.socket.remoteAddress;', "const ip = req.socket.remoteAddress; console.log('ip ' + ip);"]], LISTENING_WSS, format), format);
        await child.waitFor(/LISTENING/);
        await peerClient(`ws://127.0.0.1:${port}/`);
        await child.waitFor(/ip (::ffff:)?127\.0\.0\.1/);
      });

      it('14. FAQ: the client IP address from X-Forwarded-For (snippet given its server)', T, async () => {
        const port = await freePort();
        const prologue = `import { WebSocketServer } from 'ws';\nconst wss = new WebSocketServer({ port: ${port} });\n`;
        const child = run(prepare(13, [["const ip = req.headers['x-forwarded-for'].split(',')[0].trim();", "const ip = req.headers['x-forwarded-for'].split(',')[0].trim(); console.log('ip ' + ip);"]], LISTENING_WSS, format, prologue), format);
        await child.waitFor(/LISTENING/);
        await peerClient(`ws://127.0.0.1:${port}/`, { headers: { 'X-Forwarded-For': '203.0.113.7, 10.0.0.1' } });
        await child.waitFor(/ip 203\.0\.113\.7/);
      });

      it('15. FAQ: broken connections, server side (interval 30 s -> 300 ms): a peer that stops answering pings is terminated', T, async () => {
        const port = await freePort();
        const child = run(prepare(14, [['port: 8080', `port: ${port}`], ['}, 30000);', '}, 300);']], LISTENING_WSS, format), format);
        await child.waitFor(/LISTENING/);
        const alive = await peerClient(`ws://127.0.0.1:${port}/`);
        const dead = await peerClient(`ws://127.0.0.1:${port}/`, { autoPong: false });
        let pings = 0;
        alive.on('ping', () => pings++);
        const deadClosed = within(new Promise<number>((resolve) => dead.once('close', (code: number) => resolve(code))), 3000, 'the dead peer to be terminated');
        assert.equal(await deadClosed, 1006);
        await delay(700);
        assert.equal(alive.readyState, PeerSocket.OPEN, 'the live peer is kept');
        assert.ok(pings >= 2, `the live peer was pinged (${pings})`);
      });

      it('16. FAQ: broken connections, client side (30 s + 1 s -> 300 ms + 100 ms): pings stop, the client terminates', T, async () => {
        const { wss, wssUrl } = await peerServer({ tls: true });
        // Measured from the last ping sent (on a loaded machine the timer that stops them can run late, well after it).
        let stoppedAt = 0;
        let lastPingAt = 0;
        const closed = new Promise<[number, number]>((resolve) => wss.once('connection', (ws) => {
          const timer = setInterval(() => { ws.ping(); lastPingAt = Date.now(); }, 100);
          setTimeout(() => {
            clearInterval(timer);
            stoppedAt = Date.now();
          }, 800);
          ws.once('close', (code: number) => resolve([code, Date.now()]));
        }));
        run(prepare(15, [['wss://websocket-echo.com/', wssUrl], ['30000 + 1000', '300 + 100']], '', format), format, { NODE_EXTRA_CA_CERTS: CERT });
        const [code, at] = await within(closed, 5000, 'the client to terminate');
        assert.equal(code, 1006, 'terminate(): no closing handshake');
        assert.ok(stoppedAt > 0 && lastPingAt > 0 && at >= lastPingAt + 300, `terminated ${at - lastPingAt} ms after the last ping, not before 300 ms`);
      });
    });
  }

  it('CommonJS: new WebSocket.Server(...) as with require(\'ws\')', T, async () => {
    const port = await freePort();
    const child = run(`const WebSocket = require('wireroom');
const wss = new WebSocket.Server({ port: ${port} }, () => console.log('LISTENING'));
wss.on('connection', (ws) => ws.send(String(ws instanceof WebSocket) + ' ' + (WebSocket.WebSocketServer === WebSocket.Server)));`, 'cjs');
    await child.waitFor(/LISTENING/);
    const client = new PeerSocket(`ws://127.0.0.1:${port}/`);
    closers.push(() => client.terminate());
    const [data] = await nextMessage(client); // listening before 'open': the message may come in the same read
    assert.equal(data.toString(), 'true true');
    cleanupAll();
  });
});
