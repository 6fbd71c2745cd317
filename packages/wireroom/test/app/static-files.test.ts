import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../../src/app/app.js';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** Raw HTTP so that paths reach the server exactly as written (fetch would normalise `..`). */
function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function site(t: { after: (fn: () => void | Promise<void>) => void }): Promise<{ port: number; root: string }> {
  const base = mkdtempSync(join(tmpdir(), 'wireroom-static-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const root = join(base, 'public');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>home</title>');
  writeFileSync(join(root, 'app.js'), 'export {};');
  writeFileSync(join(root, 'style.css'), 'body{}');
  writeFileSync(join(root, 'data.bin'), Buffer.from([1, 2, 3]));
  writeFileSync(join(root, 'sub', 'index.html'), 'sub index');
  writeFileSync(join(root, '.env'), 'SECRET=1');
  writeFileSync(join(base, 'secret.txt'), 'outside the root');
  symlinkSync(join(base, 'secret.txt'), join(root, 'link.txt'));
  const old = new Date('2024-01-02T03:04:05Z');
  utimesSync(join(root, 'style.css'), old, old);
  const app = new App().route('/hello', (_req, res) => { res.end('hi'); }).static('/', root);
  const server = await app.listen(0, '127.0.0.1');
  t.after(() => app.close());
  return { port: (server.address() as AddressInfo).port, root };
}

test('serves files with their content type, validators and cache headers; / is index.html', async (t) => {
  const { port } = await site(t);
  const home = await get(port, '/');
  assert.equal(home.status, 200);
  assert.equal(home.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(home.body, '<!doctype html><title>home</title>');
  assert.equal(home.headers['cache-control'], 'no-cache');
  assert.equal(home.headers['x-content-type-options'], 'nosniff');
  assert.match(String(home.headers.etag), /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
  assert.ok(home.headers['last-modified']);
  assert.equal(home.headers['content-length'], String(Buffer.byteLength(home.body)));
  assert.equal((await get(port, '/index.html')).body, home.body);
  assert.equal((await get(port, '/app.js')).headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal((await get(port, '/style.css')).headers['content-type'], 'text/css; charset=utf-8');
  assert.equal((await get(port, '/data.bin')).headers['content-type'], 'application/octet-stream');
  assert.equal((await get(port, '/sub/')).body, 'sub index');
  assert.equal((await get(port, '/hello')).body, 'hi', 'earlier routes win');
  assert.equal((await get(port, '/app.js?v=3')).status, 200, 'the query string is ignored');
});

test('conditional requests: If-None-Match and If-Modified-Since give 304', async (t) => {
  const { port } = await site(t);
  const first = await get(port, '/style.css');
  const etag = String(first.headers.etag);
  const notModified = await get(port, '/style.css', { 'If-None-Match': etag });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.body, '');
  assert.equal(notModified.headers.etag, etag);
  assert.equal((await get(port, '/style.css', { 'If-None-Match': `"other", ${etag}` })).status, 304);
  assert.equal((await get(port, '/style.css', { 'If-None-Match': '"other"' })).status, 200);
  assert.equal(first.headers['last-modified'], 'Tue, 02 Jan 2024 03:04:05 GMT');
  assert.equal((await get(port, '/style.css', { 'If-Modified-Since': 'Tue, 02 Jan 2024 03:04:05 GMT' })).status, 304);
  assert.equal((await get(port, '/style.css', { 'If-Modified-Since': 'Tue, 02 Jan 2024 03:04:04 GMT' })).status, 200);
  // If-None-Match wins over If-Modified-Since.
  assert.equal((await get(port, '/style.css', { 'If-None-Match': '"x"', 'If-Modified-Since': 'Tue, 02 Jan 2030 00:00:00 GMT' })).status, 200);
});

test('HEAD has the headers without a body; other methods get 405', async (t) => {
  const { port } = await site(t);
  const head = await get(port, '/app.js', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-length'], '10');
  const post = await get(port, '/app.js', {}, 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
});

test('no way out of the root: dot segments, encoded slashes, NUL, dotfiles, symlinks', async (t) => {
  const { port } = await site(t);
  for (const path of [
    '/../secret.txt', '/sub/../../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%2E%2E%2Fsecret.txt',
    '/sub/%2e%2e%2f%2e%2e%2fsecret.txt', '/.env', '/sub/../.env', '/link.txt', '/missing.html', '/..\\secret.txt', '/%5c..%5csecret.txt',
  ]) {
    const r = await get(port, path);
    assert.ok(r.status === 404 || r.status === 400, `${path} -> ${r.status}`);
    assert.ok(!r.body.includes('outside the root') && !r.body.includes('SECRET'), path);
  }
  assert.equal((await get(port, '/%00')).status, 400);
  assert.equal((await get(port, '/%E0%A4%A')).status, 400, 'malformed percent-encoding');
});
