// The chat as a user installs it: both packages packed (`npm pack`), installed from the tarballs into an empty
// project, and the `wireroom-chat` command started from there: it serves the page and accepts
// a WebSocket handshake on /chat.
// better-sqlite3 is a native module: `npm install` would download a prebuilt binary or compile it with node-gyp
// (a minute or more). The install here prefers the npm cache that the workspace's own install filled (tarballs are
// there; package metadata may be fetched once from the registry), runs
// with --ignore-scripts, and the workspace's already-built binary is copied into the project's better-sqlite3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { cpSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CHAT_DIR, npm, pack, REPO, tempProject, TOOLKIT_DIR } from '../../../wireroom/test/helpers/pack.js';

test('wireroom-chat from its packed tarball in an empty project serves the page and the WebSocket', { timeout: 240_000 }, async (t) => {
  const project = tempProject(t, 'chat');
  const toolkit = pack(TOOLKIT_DIR, project);
  const chat = pack(CHAT_DIR, project);
  assert.ok(chat.files.some((f) => f.path === 'LICENSE') && chat.files.some((f) => f.path === 'src/web/public/index.html'));
  assert.deepEqual(chat.files.filter((f) => /^(test|src\/chat|src\/cli)\/|\.map$/.test(f.path)), [], 'no sources, tests or maps');
  npm(['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', toolkit.file, chat.file], project);

  const modules = join(project, 'node_modules');
  assert.ok(!existsSync(join(modules, 'wireroom-chat/node_modules/wireroom')), 'one copy of the toolkit, shared');
  const built = join(REPO, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');
  const version = (dir: string): string => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(version(join(modules, 'better-sqlite3')), version(join(REPO, 'node_modules/better-sqlite3')), 'the cached better-sqlite3 is the one built here');
  cpSync(built, join(modules, 'better-sqlite3/build/Release/better_sqlite3.node'));
  assert.ok(readdirSync(modules).includes('ioredis'));

  const child = spawn(process.execPath, [join(modules, '.bin/wireroom-chat'), '--port', '0', '--db', join(project, 'data/chat.db'), '--heartbeat', '0'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const first = once(createInterface({ input: child.stdout! }), 'line') as Promise<[string]>;
  const exited = once(child, 'exit').then(() => { throw new Error(`wireroom-chat exited: ${stderr}`); });
  const [line] = await Promise.race([first, exited]);
  const url = /http:\/\/[\d.]+:\d+/.exec(line)?.[0];
  assert.ok(url, line);

  const page = await fetch(`${url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(await page.text(), /<script[^>]+src="[^"]*chat\.js"/);
  // The page issues the session its WebSocket presents (the secret was generated next to the database).
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0]!;
  assert.match(cookie, /^wireroom_chat_session=/);
  assert.ok(existsSync(join(project, 'data/session-secret')));

  const key = randomBytes(16).toString('base64');
  const { hostname, port } = new URL(url);
  const upgraded = await new Promise<{ status: number | undefined; accept: unknown }>((resolve, reject) => {
    const req = request({ hostname, port, path: '/chat', headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key, Origin: url, Cookie: cookie } });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode, accept: res.headers['sec-websocket-accept'] }); });
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
  assert.equal(upgraded.status, 101);
  assert.equal(upgraded.accept, createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64'));

  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, stderr);
});
