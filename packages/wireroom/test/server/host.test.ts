// The Host check (DNS rebinding protection): the parser, the default policy, and the check on a live
// WebSocketServer and App (every HTTP request and every upgrade), on loopback.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { hostname } from 'node:os';
import { createHostCheck, hostnameOf, isLoopbackAddress } from '../../src/server/host.js';
import { App } from '../../src/app/app.js';
import { WebSocketHandler } from '../../src/app/websocket-handler.js';
import { Cleanup, HOST, rawConnect, rawStatus, startServer, upgradeRequest, within } from '../helpers/loopback.js';

const T = { timeout: 15_000 };
const cleanup = new Cleanup();
after(() => cleanup.run());

/** An upgrade request with `host` as its (only) Host header. */
const upgradeWithHost = (host: string, headers: Record<string, string> = {}, path = '/') =>
  upgradeRequest(path, headers).replace('Host: 127.0.0.1\r\n', `Host: ${host}\r\n`);

/** Sends a handshake and resolves with the status line's code as soon as it arrives (a 101 stays open). */
async function statusOf(port: number, request: string): Promise<number> {
  const socket = await rawConnect(port);
  socket.on('error', () => {});
  socket.write(request);
  let text = '';
  try {
    return await within(new Promise<number>((resolve) => {
      socket.on('data', (c: Buffer) => {
        text += c.toString('latin1');
        const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
        if (m) resolve(Number(m[1]));
      });
      socket.on('close', () => resolve(0));
    }), 5000, 'status line');
  } finally {
    socket.destroy();
  }
}

/** A plain GET with `host` as the Host header; resolves with the status and body. */
function getWithHost(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: HOST, port, path, headers: { Host: host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('hostnameOf', () => {
  it('takes the name out of a Host value: case, port, brackets, trailing dot; malformed is empty', () => {
    assert.equal(hostnameOf('Chat.Example.COM:8080'), 'chat.example.com');
    assert.equal(hostnameOf('localhost.'), 'localhost');
    assert.equal(hostnameOf('127.0.0.1:80'), '127.0.0.1');
    assert.equal(hostnameOf('[::1]:8888'), '::1');
    assert.equal(hostnameOf('[::1]'), '::1');
    assert.equal(hostnameOf('[evil.example]:80'), '', 'brackets hold only an IPv6 address');
    assert.equal(hostnameOf('a.example:80:80'), '');
    assert.equal(hostnameOf('a.example:'), '');
    assert.equal(hostnameOf('a.example:123456'), '');
    assert.equal(hostnameOf('[::1'), '');
  });

  it('is linear on hostile input', () => {
    const started = performance.now();
    for (let i = 0; i < 20; i++) hostnameOf('['.repeat(100_000) + ':'.repeat(100_000));
    assert.ok(performance.now() - started < 1000);
  });
});

describe('createHostCheck', () => {
  it('default: IP literals, localhost forms on loopback only, the bound name; foreign names refused', () => {
    const check = createHostCheck('auto', ['chat.local.test']);
    assert.equal(check('127.0.0.1:8888', '127.0.0.1'), true);
    assert.equal(check('[::1]:8888', '::1'), true);
    assert.equal(check('192.168.1.5:8888', '192.168.1.5'), true, 'any address: rebinding needs a name');
    assert.equal(check('localhost:8888', '127.0.0.1'), true);
    assert.equal(check('LOCALHOST.:8888', '::1'), true);
    assert.equal(check('app.localhost:8888', '127.0.0.1'), true);
    assert.equal(check('localhost:8888', '192.168.1.5'), false, 'localhost names only on loopback');
    assert.equal(check('chat.local.test:8888', '127.0.0.1'), true, 'the name the server was bound with');
    assert.equal(check('attacker.example:8888', '127.0.0.1'), false);
    assert.equal(check('127.0.0.1.attacker.example', '127.0.0.1'), false);
    assert.equal(check('0x7f.1', '127.0.0.1'), false, 'legacy address forms are names, not addresses');
    assert.equal(check('', '127.0.0.1'), false);
    assert.equal(check(undefined, '127.0.0.1'), true, 'no Host (HTTP/1.0): not a browser');
  });

  it("the machine's name is answered on a network address, not on loopback", () => {
    const me = hostname().toLowerCase();
    const check = createHostCheck();
    assert.equal(check(`${me}:8888`, '192.168.1.5'), true);
    assert.equal(check(`${me}.local`, '192.168.1.5'), true);
    assert.equal(check(`${me}:8888`, '127.0.0.1'), me === 'localhost');
  });

  it('a list adds names (exact, or .domain for the domain and its subdomains); * allows all; a function decides', () => {
    const check = createHostCheck(['chat.example.com', '.corp.example']);
    assert.equal(check('chat.example.com:443', '10.0.0.1'), true);
    assert.equal(check('Chat.Example.Com', '10.0.0.1'), true);
    assert.equal(check('www.chat.example.com', '10.0.0.1'), false);
    assert.equal(check('corp.example', '10.0.0.1'), true);
    assert.equal(check('a.b.corp.example', '10.0.0.1'), true);
    assert.equal(check('evilcorp.example', '10.0.0.1'), false);
    assert.equal(check('localhost', '127.0.0.1'), true, 'the defaults still apply');
    assert.equal(createHostCheck('*')('attacker.example', '127.0.0.1'), true);
    assert.equal(createHostCheck(['*'])('attacker.example', '127.0.0.1'), true);
    const seen: Array<[string | undefined, string | undefined]> = [];
    const fn = createHostCheck((h, a) => { seen.push([h, a]); return h === 'x.test'; });
    assert.equal(fn('x.test', '::1'), true);
    assert.equal(fn('localhost', '::1'), false, 'a function replaces the defaults');
    assert.deepEqual(seen[0], ['x.test', '::1']);
  });

  it('isLoopbackAddress', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopbackAddress(a), true, a);
    for (const a of ['10.0.0.1', '::', '0.0.0.0', '::ffff:10.0.0.1', undefined]) assert.equal(isLoopbackAddress(a), false, String(a));
  });
});

describe('WebSocketServer: Host check on the upgrade (default on)', () => {
  it('DNS rebinding: a foreign Host with a matching Origin gets 421 with a reason; own names get 101', T, async () => {
    const { server, port } = await startServer();
    cleanup.server(server);
    const rejected: Array<[number, string]> = [];
    server.on('rejected', (status: number, reason: string) => rejected.push([status, reason]));
    const attacker = await rawStatus(port, upgradeWithHost(`attacker.example:${port}`, { Origin: `http://attacker.example:${port}` }));
    assert.equal(attacker.status, 421);
    assert.match(attacker.text, /Host not allowed/);
    assert.deepEqual(rejected.map((r) => r[0]), [421]);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      assert.equal(await statusOf(port, upgradeWithHost(host, { Origin: `http://${host}` })), 101, host);
    }
  });

  it('allowedHosts adds names; * turns the check off', T, async () => {
    const { server, port } = await startServer({ allowedHosts: ['chat.example.com'] });
    cleanup.server(server);
    assert.equal(await statusOf(port, upgradeWithHost('chat.example.com')), 101);
    assert.equal((await rawStatus(port, upgradeWithHost('other.example.com'))).status, 421);
    const open = await startServer({ allowedHosts: '*' });
    cleanup.server(open.server);
    assert.equal(await statusOf(open.port, upgradeWithHost('attacker.example')), 101);
  });
});

class Echo extends WebSocketHandler {
  override onMessage(data: string | Buffer): void { this.send(String(data)); }
}

describe('App: Host check on every request and upgrade (default on)', () => {
  it('a foreign Host gets 421 on pages, routes and upgrades; own names are served', T, async () => {
    const app = new App({ heartbeatInterval: 0 })
      .route('/metrics', (_req, res) => { res.end('metrics'); })
      .websocket('/ws', (req) => new Echo(req));
    const server = await app.listen(0, HOST);
    cleanup.add(app, (a) => a.close());
    const port = (server.address() as { port: number }).port;
    for (const path of ['/metrics', '/ws', '/nothing']) {
      const r = await getWithHost(port, path, `attacker.example:${port}`);
      assert.equal(r.status, 421, path);
      assert.match(r.body, /Host not allowed/);
    }
    assert.deepEqual(await getWithHost(port, '/metrics', `127.0.0.1:${port}`), { status: 200, body: 'metrics' });
    assert.equal((await getWithHost(port, '/metrics', `localhost:${port}`)).status, 200);
    const up = await rawStatus(port, upgradeWithHost(`attacker.example:${port}`, { Origin: `http://attacker.example:${port}` }, '/ws'));
    assert.equal(up.status, 421);
    assert.match(up.text, /Host not allowed/);
    assert.equal(await statusOf(port, upgradeWithHost(`localhost:${port}`, { Origin: `http://localhost:${port}` }, '/ws')), 101);
  });

  it('allowedHosts on the App; the name given to listen() is answered to', T, async () => {
    const app = new App({ heartbeatInterval: 0, allowedHosts: ['.example.org'] }).route('/', (_req, res) => { res.end('hi'); });
    const server = await app.listen(0, 'localhost');
    cleanup.add(app, (a) => a.close());
    const port = (server.address() as { port: number }).port;
    const addr = (server.address() as { address: string }).address;
    const get = (host: string) => new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: addr, port, path: '/', headers: { Host: host } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      req.end();
    });
    assert.equal(await get('chat.example.org'), 200);
    assert.equal(await get(`localhost:${port}`), 200);
    assert.equal(await get('example.net'), 421);
  });
});
