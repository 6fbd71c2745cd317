/** `wireroom chat` as a process: flags, help, startup message, graceful SIGTERM/SIGINT. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { connect } from 'wireroom';
import { selfSignedCert } from '../../../wireroom/test/helpers/http2.js';
import { newSession } from '../helpers/session.js';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SqliteChatStore } from '../../src/chat/sqlite-store.js';
import { TestClient } from './fixtures/client.js';
import { tempDir } from './fixtures/server.js';

const CLI = fileURLToPath(new URL('./fixtures/cli-child.ts', import.meta.url));

function runSync(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('bad flags: a clear message, the help, exit code 2', () => {
  for (const [args, message] of [
    [['--port', 'eighty'], /--port must be an integer from 0 to 65535/],
    [['--port', '70000'], /--port must be an integer/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['--synchronous', 'sometimes'], /--synchronous must be full or normal/],
    [['--allow-origin', 'evil'], /--allow-origin needs an origin/],
    [['--public-url', 'chat.example.com'], /--public-url needs a URL/],
    [['--allowed-hosts', 'a.example,bad host'], /--allowed-hosts needs host names/],
    [['extra'], /Unexpected argument 'extra'/],
    [['--db'], /argument missing|--db/],
    [['--history-limit', '0'], /--history-limit must be an integer from 1/],
    [['--history-days', '0'], /--history-days must be a number of days above 0/],
    [['--history-days', 'week'], /--history-days must be a number of days above 0/],
    [['--tls-cert', 'cert.pem'], /--tls-cert and --tls-key go together/],
    [['--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'], /cannot read the TLS files/],
    [['--trust-user-header', 'X-Forwarded-User'], /--trust-user-header needs --trusted-proxies/],
    [['--trusted-proxies', '127.0.0.1'], /--trusted-proxies goes with --trust-user-header/],
    [['--trust-user-header', 'X User', '--trusted-proxies', '127.0.0.1'], /--trust-user-header needs a header name/],
    [['--trust-user-header', 'X-User', '--trusted-proxies', '127.0.0.1,not-an-ip'], /--trusted-proxies needs addresses or CIDRs/],
    [['--trust-user-header', 'X-User', '--trusted-proxies', '127.0.0.1', '--secret-file', 'k'], /--secret-file signs sessions/],
  ] as Array<[string[], RegExp]>) {
    const r = runSync(args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, message);
    assert.match(r.stderr, /Usage: wireroom-chat/);
  }
});

test('a secret file that cannot be used stops the start with its reason (exit code 1)', (t) => {
  const dir = tempDir(t);
  const missing = runSync(['--port', '0', '--db', join(dir, 'chat.db'), '--secret-file', join(dir, 'none')]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot start: cannot read the secret file/);
  if (process.platform === 'win32') return;
  const open = join(dir, 'open-keys');
  writeFileSync(open, `${'k'.repeat(40)}\n`, { mode: 0o644 });
  chmodSync(open, 0o644);
  const readable = runSync(['--port', '0', '--db', join(dir, 'chat.db'), '--secret-file', open]);
  assert.equal(readable.status, 1);
  assert.match(readable.stderr, /accessible to group or others \(mode 644\): run chmod 600/);
});

for (const [signal, code] of [['SIGTERM', 1012], ['SIGINT', 1001]] as const) {
  test(`${signal}: clients are told ${code}, accepted messages are kept, exit code 0`, async (t) => {
    const dir = tempDir(t);
    const db = join(dir, 'nested', 'chat.db');
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--port', '0', '--db', db], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const url = /http:\/\/[\d.]+:\d+/.exec(line)?.[0];
    assert.ok(url, line);
    assert.ok(existsSync(db), 'the database and its directory are created');
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);

    const client = await TestClient.connect(url);
    await client.join('lobby', 'Ann');
    client.send({ type: 'message', room: 'lobby', clientId: 'before-stop', text: 'kept' });
    await client.next('ack');
    child.kill(signal);
    assert.equal((await client.closed).code, code);
    const [exitCode] = (await once(child, 'exit')) as [number | null];
    assert.equal(exitCode, 0);
    const store = SqliteChatStore.open(db);
    const kept = (await store.latest('lobby', 10)).messages.map((m) => m.text);
    await store.close();
    assert.deepEqual(kept, ['kept']);
  });
}

test('--history-limit and --history-days reach the store: the newest N are kept, joined says oldestId', async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'chat.db');
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--port', '0', '--db', db, '--history-limit', '3', '--history-days', '0.5'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const url = /http:\/\/[\d.]+:\d+/.exec(line)?.[0];
  assert.ok(url, line);
  const a = await TestClient.connect(url);
  t.after(() => a.close());
  await a.join('r', 'Ann');
  for (let i = 1; i <= 5; i++) { a.send({ type: 'message', room: 'r', clientId: `k${i}`, text: `m${i}` }); await a.next('ack'); }
  const b = await TestClient.connect(url);
  t.after(() => b.close());
  const joined = await b.join('r', 'Bob');
  assert.deepEqual(joined.messages!.map((m) => m.id), [3, 4, 5]);
  assert.equal(joined.oldestId, 3);
  assert.equal(joined.hasMore, false);
  child.kill('SIGTERM');
  assert.equal((await once(child, 'exit'))[0], 0);
});

test('--tls-cert/--tls-key: https:// and wss:// on one port, the page over HTTP/2, the WebSocket as an HTTP/2 stream', async (t) => {
  const dir = tempDir(t);
  const tls = selfSignedCert();
  writeFileSync(join(dir, 'cert.pem'), tls.cert);
  writeFileSync(join(dir, 'key.pem'), tls.key);
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--port', '0', '--db', join(dir, 'chat.db'),
    '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  assert.match(line, /WebSocket wss:\/\/[\d.]+:\d+\/chat/);
  const url = /https:\/\/[\d.]+:\d+/.exec(line)?.[0];
  assert.ok(url, line);
  const session = http2Connect(url, { ca: tls.cert });
  t.after(() => session.destroy());
  await once(session, 'remoteSettings');
  assert.equal(session.remoteSettings.enableConnectProtocol, true);
  const { cookie } = await newSession(url);
  const ws = await connect(`${url.replace(/^https/, 'wss')}/chat`, { http2: session, headers: { Cookie: cookie } });
  const [welcome] = (await once(ws, 'message')) as [Buffer];
  assert.equal(JSON.parse(welcome.toString()).type, 'welcome');
  const closed = once(ws, 'close');
  child.kill('SIGTERM');
  assert.equal(((await closed) as [number])[0], 1012);
  assert.equal(((await once(child, 'exit')) as [number | null])[0], 0);
});
