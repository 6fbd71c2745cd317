// Interop with Python's `websockets` (Debian's python3-websockets) as a client of our server.
// Locally it skips loudly when the module is missing; with WIREROOM_REQUIRE_BROWSER or CI=true it fails.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { WebSocket } from '../../src/connection/websocket.js';
import type { WebSocketServer } from '../../src/server/websocket-server.js';
import { Cleanup, startServer, within } from '../helpers/loopback.js';

const PYTHON = process.env.WIREROOM_PYTHON ?? '/usr/bin/python3';
const required = Boolean(process.env.WIREROOM_REQUIRE_BROWSER) || process.env.CI === 'true';
const probe = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], { encoding: 'utf8', timeout: 10_000 });
const missing = probe.status === 0 ? '' : `Python websockets not importable by ${PYTHON}: apt-get install -y python3-websockets`;
if (missing && !required) console.warn(`\n!!! SKIPPING Python websockets interop tests: ${missing}\n`);

// The client: echo checks, a ping, a fragmented send, compression, and a close with a code and reason.
const SCRIPT = String.raw`
import asyncio, json, os, sys
import websockets

async def main(url):
    out = {}
    async with websockets.connect(url, max_size=None, compression='deflate') as ws:
        out['extensions'] = [type(e).__name__ for e in ws.extensions]
        await ws.send('hello from python ✓')
        out['text'] = await ws.recv()
        blob = bytes(range(256)) * 8
        await ws.send(blob)
        r = await ws.recv()
        out['binary_ok'] = isinstance(r, bytes) and r == blob
        big = os.urandom(3 * 1024 * 1024)
        await ws.send(big)
        r = await ws.recv()
        out['big_ok'] = r == big
        await ws.send(iter(['frag', 'ment', 'ed']))
        out['fragmented'] = await ws.recv()
        pong_waiter = await ws.ping(b'py-ping')
        await asyncio.wait_for(pong_waiter, 5)
        out['pong'] = True
        await ws.close(4000, 'python done')
        out['close_code'] = ws.close_code
    print(json.dumps(out))

asyncio.run(asyncio.wait_for(main(sys.argv[1]), 20))
`;

describe('Python websockets -> our server', { skip: missing && !required ? missing : false }, () => {
  const cleanup = new Cleanup();
  let server: WebSocketServer;
  let url = '';
  const events: Array<{ code: number; reason: string; wasClean: boolean; extensions: string; pings: number }> = [];
  before(async () => {
    if (missing) throw new Error(`${required ? 'CI / WIREROOM_REQUIRE_BROWSER is set but ' : ''}${missing}`);
    ({ server, url } = await startServer({ perMessageDeflate: true, maxMessageSize: 8 * 1024 * 1024, maxBufferedAmount: 32 * 1024 * 1024 }));
    cleanup.server(server);
    server.on('connection', (ws: WebSocket) => {
      const record = { code: 0, reason: '', wasClean: false, extensions: ws.extensions, pings: 0 };
      events.push(record);
      ws.on('ping', () => record.pings++);
      ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
      ws.on('close', (code: number, reason: string, wasClean: boolean) => Object.assign(record, { code, reason, wasClean }));
    });
  });
  after(() => cleanup.run());

  it('echo, large, fragmented, ping, deflate and close', { timeout: 40_000 }, async () => {
    const child = spawn(PYTHON, ['-c', SCRIPT, `${url}/py`], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanup.add(child, (c) => c.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const status = await within(new Promise<number | null>((resolve) => child.on('close', resolve)), 30_000, 'python client');
    assert.equal(status, 0, `python failed: ${stderr}`);
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.equal(out.text, 'hello from python ✓');
    assert.equal(out.binary_ok, true);
    assert.equal(out.big_ok, true);
    assert.equal(out.fragmented, 'fragmented');
    assert.equal(out.pong, true);
    assert.equal(out.close_code, 4000);
    assert.deepEqual(out.extensions, ['PerMessageDeflate']);
    const record = events.at(-1)!;
    assert.match(record.extensions, /^permessage-deflate/);
    assert.equal(record.pings, 1);
    await within((async () => { while (record.code === 0) await new Promise((r) => setTimeout(r, 10)); })(), 5000, 'server close event');
    assert.deepEqual({ code: record.code, reason: record.reason, wasClean: record.wasClean }, { code: 4000, reason: 'python done', wasClean: true });
  });
});
