// The `wireroom echo` command as a child process (bin/wireroom.js runs dist/: built here if missing or stale).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as http2Connect } from 'node:http2';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../../src/client/connect.js';
import type { WebSocket } from '../../src/connection/websocket.js';
import { Cleanup, freePort, HOST, next, rawWebSocket, until, within, closeCodeOf, type RawPeer } from '../helpers/loopback.js';
import { selfSignedCert } from '../helpers/http2.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${ROOT}bin/wireroom.js`;
const DIST = `${ROOT}dist/cjs/cli/commands/echo.js`;
const SRC = `${ROOT}src/cli/commands/echo.ts`;
const T = { timeout: 30_000 };
const cleanup = new Cleanup();

/** The newest modification time among the sources `wireroom echo` runs (dist/ is rebuilt when older). */
function newestSource(): number {
  let newest = 0;
  for (const dir of ['cli', 'server', 'connection', 'client', 'protocol', 'compression']) {
    for (const entry of readdirSync(`${ROOT}src/${dir}`, { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
    }
  }
  return newest;
}

interface Run { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

function run(args: string[], ms = 15_000): Promise<Run> {
  const began = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.add(child, (c) => c.exitCode === null && c.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  return within(new Promise((resolve) => child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr, ms: Date.now() - began }))), ms, `wireroom ${args.join(' ')}`);
}

/** Starts `wireroom echo` on a port picked up front; resolves after its first line of output. */
async function startEcho(extra: string[] = []): Promise<{ child: ChildProcess; port: number; firstLine: string; exited: Promise<Run> }> {
  const port = await freePort();
  const began = Date.now();
  const child = spawn(process.execPath, [BIN, 'echo', '--port', String(port), '--host', HOST, ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.add(child, (c) => c.exitCode === null && c.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<Run>((resolve) => child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr, ms: Date.now() - began })));
  const firstLine = await within(new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
      if (stdout.includes('\n')) resolve(stdout.split('\n')[0]!);
    });
    child.once('close', () => reject(new Error(`wireroom echo exited early: ${stderr}`)));
  }), 10_000, 'wireroom echo to start');
  return { child, port, firstLine, exited };
}

async function nextText(ws: WebSocket): Promise<[string, boolean]> {
  const [data, isBinary] = await next<[Buffer, boolean]>(ws, 'message');
  return [data.toString(), isBinary];
}

/**
 * Sends what Autobahn 9.3.1 sends: '*' x 4 MiB as a text message with a fragment size of 64. Its sendMessage()
 * cuts 64-byte frames while the cut does not pass the end, so 4 MiB makes 65,536 full frames, then an empty
 * final continuation frame: 65,537 frames.
 */
async function autobahnFragmented(port: number): Promise<RawPeer> {
  const peer = (await rawWebSocket(port, '/x')).read();
  cleanup.socket(peer.socket);
  const size = 4 * 1024 * 1024;
  const chunk = 64;
  const frames = size / chunk + 1;
  const wire = Buffer.alloc(frames * (6 + chunk));
  let at = 0;
  for (let i = 0; i < frames; i++) {
    const length = i < frames - 1 ? chunk : 0;
    wire[at] = (i === frames - 1 ? 0x80 : 0) | (i === 0 ? 0x1 : 0x0);
    wire[at + 1] = 0x80 | length; // masked, with the all-zero mask: the payload goes as it is
    at += 6;
    wire.fill(0x2a, at, at + length);
    at += length;
  }
  assert.equal(frames, 65_537);
  peer.socket.write(wire.subarray(0, at));
  return peer;
}

/** The first complete data message the peer received (its frames joined). */
async function messageOf(peer: RawPeer): Promise<{ opcode: number; payload: Buffer }> {
  const complete = (): number => peer.frames.findIndex((f) => f.fin && (f.opcode === 0 || f.opcode === 1 || f.opcode === 2));
  await until(() => complete() >= 0 || peer.closeFrames().length > 0, 20_000, 'the echo');
  assert.equal(peer.closeFrames().length, 0, `closed with ${peer.closeFrames().map(closeCodeOf).join()}`);
  const frames = peer.frames.filter((f) => f.opcode <= 2).slice(0, complete() + 1);
  return { opcode: frames[0]!.opcode, payload: Buffer.concat(frames.map((f) => f.payload)) };
}

function ensureBuilt(): void {
  if (!existsSync(DIST) || statSync(DIST).mtimeMs < newestSource()) {
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
    assert.equal(build.status, 0, `npm run build failed: ${build.stdout}${build.stderr}`);
  }
}

describe('wireroom echo (child process)', () => {
  let echo: Awaited<ReturnType<typeof startEcho>>;
  before(async () => {
    ensureBuilt();
    echo = await startEcho();
  });
  after(() => cleanup.run());

  it('prints the address it listens on in its first line', T, () => {
    assert.match(echo.firstLine, new RegExp(`listening on ws://${HOST.replace(/\./g, '\\.')}:${echo.port}\\b`));
  });

  it('echoes on /x: text as text, binary as binary, with permessage-deflate', T, async () => {
    const ws = cleanup.socket(await connect(`ws://${HOST}:${echo.port}/x`, { perMessageDeflate: true, maxMessageSize: 16 * 1024 * 1024 }));
    assert.match(ws.extensions, /permessage-deflate/);
    ws.send('echo me ✓');
    assert.deepEqual(await nextText(ws), ['echo me ✓', false]);
    const bin = Buffer.from([0, 1, 2, 255]);
    const reply = next<[Buffer, boolean]>(ws, 'message');
    ws.send(bin);
    const [data, isBinary] = await reply;
    assert.equal(isBinary, true);
    assert.ok(data.equals(bin));
    const big = 'z'.repeat(3 * 1024 * 1024);
    ws.send(big, { fragmentSize: 64 * 1024 });
    const [back] = await nextText(ws);
    assert.equal(back.length, big.length);
  });

  it('echoes a 4 MiB text message in 64-byte fragments as Autobahn 9.3.1 sends it: 65,537 frames', T, async () => {
    const peer = await autobahnFragmented(echo.port);
    const echoed = await messageOf(peer);
    assert.equal(echoed.opcode, 1);
    assert.equal(echoed.payload.length, 4 * 1024 * 1024);
    assert.ok(echoed.payload.every((b) => b === 0x2a), 'the payload comes back as sent');
    assert.equal(peer.closeFrames().length, 0);
  });

  it('--max-fragments 65536 (the old default) refuses that message with 1008 (policy violation): the test above crosses the limit', T, async () => {
    const own = await startEcho(['--max-fragments', '65536']);
    const peer = await autobahnFragmented(own.port);
    await until(() => peer.closeFrames().length > 0, 10_000, 'the close frame');
    assert.equal(closeCodeOf(peer.closeFrames()[0]!), 1008);
    assert.equal(peer.frames.filter((f) => f.opcode === 1).length, 0, 'no echo');
    own.child.kill('SIGTERM');
    await within(own.exited, 5000, 'exit');
  });

  it('broadcasts on /broadcast to every connection there, sender included, and not to /x', T, async () => {
    const url = `ws://${HOST}:${echo.port}/broadcast`;
    const members = [await connect(url), await connect(url), await connect(url)].map((w) => cleanup.socket(w));
    const outsider = cleanup.socket(await connect(`ws://${HOST}:${echo.port}/x`));
    let outsiderGot = 0;
    outsider.on('message', () => outsiderGot++);
    await new Promise((r) => setTimeout(r, 100)); // the server has registered all three
    const received = members.map((m) => nextText(m));
    members[1]!.send('to the room');
    for (const got of await Promise.all(received)) assert.deepEqual(got, ['to the room', false]);
    const binReceived = members.map((m) => next<[Buffer, boolean]>(m, 'message'));
    members[0]!.send(Buffer.from([7, 7]));
    for (const [data, isBinary] of await Promise.all(binReceived)) {
      assert.equal(isBinary, true);
      assert.deepEqual([...data], [7, 7]);
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(outsiderGot, 0);
  });

  it('--help lists every flag the command accepts', T, async () => {
    const result = await run(['echo', '--help']);
    assert.equal(result.status, 0);
    // The flags declared in the source's parseFlags() call, so a new flag without help text fails here.
    const source = readFileSync(SRC, 'utf8');
    const decl = /parseFlags\(argv, \{([\s\S]*?)\}\s*\)/.exec(source)![1]!;
    const flags = [...decl.matchAll(/'?([a-z][a-z-]*)'?\s*:\s*\{\s*type/g)].map((m) => m[1]!);
    assert.ok(flags.length >= 7, `found flags: ${flags.join(', ')}`);
    for (const flag of [...flags, 'help']) assert.match(result.stdout, new RegExp(`--${flag}\\b`), `--help mentions --${flag}`);
  });

  it('a bad flag exits 2 with a clear message', T, async () => {
    const unknown = await run(['echo', '--bogus']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /bogus/);
    assert.doesNotMatch(unknown.stderr, /\n\s+at /, 'no stack trace');
    const badPort = await run(['echo', '--port', 'eighty']);
    assert.equal(badPort.status, 2);
    assert.match(badPort.stderr, /--port must be an integer/);
    const badSize = await run(['echo', '--max-message', 'huge']);
    assert.equal(badSize.status, 2);
    assert.match(badSize.stderr, /--max-message/);
  });

  it('same-origin by default; --any-origin opens it; --max-message is enforced (1009); --heartbeat pings', T, async () => {
    const refused = await connect(`ws://${HOST}:${echo.port}/x`, { origin: 'https://elsewhere.example' }).then((w) => (w.terminate(), null), (e: unknown) => e);
    assert.equal((refused as { status?: number }).status, 403);
    const open = await startEcho(['--any-origin', '--max-message', '1k', '--heartbeat', '200']);
    const ws = cleanup.socket(await connect(`ws://${HOST}:${open.port}/x`, { origin: 'https://elsewhere.example' }));
    let pings = 0;
    ws.on('ping', () => pings++);
    ws.send('a'.repeat(1024));
    assert.equal((await nextText(ws))[0].length, 1024);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(pings >= 1, `pinged ${pings} times`);
    const closed = next<[number, string, boolean]>(ws, 'close');
    ws.send('a'.repeat(1025));
    assert.equal((await closed)[0], 1009);
    open.child.kill('SIGTERM');
    assert.equal((await within(open.exited, 5000, 'exit')).status, 0);
  });

  it('SIGTERM exits 0 quickly, closing open connections with 1001', T, async () => {
    const own = await startEcho(['--no-deflate']);
    const ws = await connect(`ws://${HOST}:${own.port}/x`);
    assert.equal(ws.extensions, '', '--no-deflate');
    const closed = next<[number, string, boolean]>(ws, 'close');
    const began = Date.now();
    own.child.kill('SIGTERM');
    const result = await within(own.exited, 5000, 'exit after SIGTERM');
    assert.equal(result.status, 0, result.stderr);
    assert.ok(Date.now() - began < 3000, `exited after ${Date.now() - began} ms`);
    assert.equal((await closed)[0], 1001);
  });
});

describe('wireroom echo --tls-cert --tls-key: HTTP/2 (RFC 8441) and HTTP/1.1 on one port', () => {
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let dir = '';
  const tls = selfSignedCert();
  before(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'wireroom-echo-tls-'));
    writeFileSync(join(dir, 'cert.pem'), tls.cert);
    writeFileSync(join(dir, 'key.pem'), tls.key);
    echo = await startEcho(['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')]);
  });
  after(async () => {
    await cleanup.run();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('says so in its first line', T, () => {
    assert.match(echo.firstLine, new RegExp(`listening on wss://${HOST.replace(/\./g, '\\.')}:${echo.port}\\b.*HTTP/2 and HTTP/1\\.1`));
  });

  it('50 WebSockets on one HTTP/2 session each echo text and binary; permessage-deflate is negotiated over the streams', T, async () => {
    const session = http2Connect(`https://localhost:${echo.port}`, { ca: tls.cert });
    cleanup.add(session, (s) => s.destroy());
    await next(session, 'remoteSettings');
    assert.equal(session.remoteSettings.enableConnectProtocol, true);
    const sockets = await Promise.all(Array.from({ length: 50 }, () =>
      connect(`wss://localhost:${echo.port}/x`, { http2: session, perMessageDeflate: true }).then((ws) => cleanup.socket(ws))));
    // Client stream ids are odd: 50 streams took ids 1..99 on this one session (none fell back to HTTP/1.1).
    assert.equal(session.state.nextStreamID, 101);
    await Promise.all(sockets.map(async (ws, i) => {
      assert.match(ws.extensions, /permessage-deflate/);
      ws.send(`text ${i} `.repeat(50));
      assert.deepEqual(await nextText(ws), [`text ${i} `.repeat(50), false]);
      const reply = next<[Buffer, boolean]>(ws, 'message');
      ws.send(Buffer.from([i, 0, 255]));
      const [data, isBinary] = await reply;
      assert.deepEqual([...data], [i, 0, 255]);
      assert.equal(isBinary, true);
    }));
  });

  it('serves an HTTP/1.1 upgrade on the same port', T, async () => {
    const ws = cleanup.socket(await connect(`wss://localhost:${echo.port}/x`, { tls: { ca: tls.cert } }));
    ws.send('over HTTP/1.1');
    assert.deepEqual(await nextText(ws), ['over HTTP/1.1', false]);
  });

  it('refuses --tls-cert without --tls-key (usage error, exit 2)', T, async () => {
    const result = await run(['echo', '--tls-cert', join(dir, 'cert.pem')]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--tls-cert and --tls-key go together/);
  });
});
