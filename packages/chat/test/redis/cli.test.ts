/**
 * `wireroom chat --redis ... [--workers N]` as users run it: the cluster primary (workers share the
 * port, a killed worker is replaced, SIGTERM stops everything cleanly), /healthz and /metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { TestClient } from '../chat/fixtures/client.js';
import { freePort, requireRedisOrSkip, TestRedis } from '../helpers/redis.js';
import { startChatProcess, until } from './fixtures/processes.js';

const CLI = fileURLToPath(new URL('../../bin/wireroom-chat.js', import.meta.url));

/** GET on a fresh connection (no keep-alive), so that the cluster may hand it to any worker. */
function getFresh(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('--workers 2: workers share the port and the chat, a killed worker is replaced, SIGTERM stops all', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const redis = await TestRedis.start(t);
  const port = await freePort();
  const primary = spawn(process.execPath, [CLI, '--port', String(port), '--heartbeat', '0', '--redis', redis.url, '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const seen = new Set<number>();
  t.after(() => {
    for (const pid of [...seen, primary.pid!]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  let output = '';
  primary.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  primary.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const base = `http://127.0.0.1:${port}`;
  const pids = async (): Promise<Set<number>> => {
    // Any answer names the worker that gave it: 503 too (the whole server is degraded while a worker restarts).
    const h = await getFresh(`${base}/healthz`).catch(() => undefined);
    if (h?.status === 200 || h?.status === 503) {
      const pid = (JSON.parse(h.body) as { pid?: number }).pid;
      if (typeof pid === 'number') seen.add(pid);
    }
    return seen;
  };
  await until(async () => (await pids()).size >= 2, `two workers answering (${output})`, 60_000);
  const first = [...seen];
  assert.ok(!first.includes(primary.pid!), 'the primary does not serve');

  // Chat between connections that land on different workers.
  const clients = await Promise.all([0, 1, 2, 3].map(() => TestClient.connect(base)));
  t.after(() => clients.forEach((c) => c.close()));
  for (const [i, c] of clients.entries()) await c.join('workers', `w${i}`);
  clients[0]!.send({ type: 'message', room: 'workers', clientId: 'x1', text: 'hello workers' });
  for (const c of clients) assert.equal((await c.next('message', (m) => m.clientId === 'x1', 10_000)).id, 1);

  // kill -9 a worker: the primary starts another one.
  process.kill(first[0]!, 'SIGKILL');
  await until(async () => [...(await pids())].some((pid) => !first.includes(pid)), 'a replacement worker', 60_000);
  assert.match(output, /died \(SIGKILL\); restarting/);

  // SIGTERM to the primary: the workers shut down cleanly and everything exits.
  const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
  primary.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
  assert.equal(code, 0, output);
  await until(() => [...seen].every((pid) => !alive(pid)), 'every worker gone');
});

test('/healthz and /metrics: Prometheus text with connections, messages, bytes, refusals, close codes, round trips', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const redis = await TestRedis.start(t);
  const proc = await startChatProcess(t, redis.url);
  const health = await getFresh(`${proc.url}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(JSON.parse(health.body), { status: 'ok', redis: 'up', connections: 0, pid: proc.child.pid });

  const client = await TestClient.connect(proc.url);
  await client.join('metrics', 'M');
  client.send({ type: 'message', room: 'metrics', clientId: 'm1', text: 'count me' });
  await client.next('message');
  // A refused handshake: a foreign origin.
  const refused = new WebSocket(`${proc.url.replace('http', 'ws')}/chat`, { origin: 'https://evil.example' });
  refused.on('error', () => {});
  await new Promise((r) => refused.once('close', r));
  client.ws.close(1000, 'bye');
  await client.closed;

  const value = (text: string, series: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
  };
  let text = '';
  await until(async () => {
    text = (await getFresh(`${proc.url}/metrics`)).body;
    return value(text, 'wireroom_broker_round_trip_seconds_count') > 0 && value(text, 'wireroom_close_codes_total{code="1000"}') >= 1;
  }, 'a broker probe and the close counted', 20_000).catch((err: Error) => { throw new Error(`${err.message}\n${text}`); });
  assert.equal(value(text, 'wireroom_connections'), 0);
  assert.equal(value(text, 'wireroom_connections_opened_total'), 1);
  assert.equal(value(text, 'wireroom_messages_received_total'), 2, 'join and message');
  assert.ok(value(text, 'wireroom_messages_sent_total') >= 4, 'welcome, joined, ack, message');
  assert.ok(value(text, 'wireroom_bytes_received_total') > 200);
  assert.ok(value(text, 'wireroom_bytes_sent_total') > 300);
  assert.equal(value(text, 'wireroom_handshakes_rejected_total{status="403",reason="Origin not allowed"}'), 1, text);
  assert.equal(value(text, 'wireroom_redis_up'), 1);
  assert.match(text, /# TYPE wireroom_broker_round_trip_seconds histogram/);

  await redis.stop('SIGTERM');
  await until(async () => (await getFresh(`${proc.url}/healthz`)).status === 503, '/healthz turns 503', 10_000);
  const down = JSON.parse((await getFresh(`${proc.url}/healthz`)).body) as { status: string; redis: string };
  assert.deepEqual([down.status, down.redis], ['degraded', 'down']);
  assert.equal(value((await getFresh(`${proc.url}/metrics`)).body, 'wireroom_redis_up'), 0);
  await redis.startAgain();
  await until(async () => (await getFresh(`${proc.url}/healthz`)).status === 200, '/healthz back to 200', 20_000);
});

test('--workers 2: one /metrics for the whole server (sums plus worker-labelled series) and a /healthz of every worker', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const redis = await TestRedis.start(t);
  const port = await freePort();
  const primary = spawn(process.execPath, [CLI, '--port', String(port), '--heartbeat', '0', '--redis', redis.url, '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  primary.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  primary.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const workerPids = new Set<number>();
  t.after(() => {
    for (const pid of [...workerPids, primary.pid!]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  const base = `http://127.0.0.1:${port}`;
  type Health = { status: string; pid: number; worker: number; connections: number; workers: Array<{ worker: number; pid: number; status: string; connections: number; redis: string }> };
  let health: Health | undefined;
  await until(async () => {
    const h = await getFresh(`${base}/healthz`).catch(() => undefined);
    health = h?.status === 200 ? JSON.parse(h.body) as Health : undefined;
    return health !== undefined && health.workers.length === 2;
  }, `both workers listening (${output})`, 60_000);
  for (const w of health!.workers) workerPids.add(w.pid);

  const clients = await Promise.all(Array.from({ length: 10 }, () => TestClient.connect(base)));
  t.after(() => clients.forEach((c) => c.close()));
  for (const [i, c] of clients.entries()) await c.join('scrape', `c${i}`); // every connection fully open

  const value = (text: string, series: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
  };
  const ids = health!.workers.map((w) => w.worker);
  const answeredBy = new Set<number>();
  for (let i = 0; i < 12; i++) {
    const res = await getFresh(`${base}/metrics`);
    assert.equal(res.status, 200);
    const text = res.body;
    assert.equal(value(text, 'wireroom_connections'), 10, `scrape ${i}: the whole server's connections\n${text}`);
    assert.equal(value(text, 'wireroom_connections_opened_total'), 10);
    assert.equal(value(text, 'wireroom_cluster_workers'), 2);
    assert.equal(value(text, 'wireroom_cluster_workers_reporting'), 2);
    assert.equal(value(text, 'wireroom_redis_up'), 1, 'min across workers: all up');
    const perWorker = ids.map((id) => value(text, `wireroom_connections{worker="${id}"}`));
    assert.equal(perWorker[0]! + perWorker[1]!, 10, `per-worker series add up (${perWorker})`);
    assert.ok(perWorker.every((n) => n > 0), `the connections are spread over both workers (${perWorker})`);
    assert.ok(value(text, `wireroom_messages_received_total{worker="${ids[0]}"}`) > 0);
    assert.match(text, new RegExp(`wireroom_broker_round_trip_seconds_bucket\\{worker="${ids[1]}",le="\\+Inf"\\} \\d+`));
    assert.equal(text.match(/^# TYPE wireroom_connections gauge$/gm)?.length, 1, 'one family, not one per worker');

    // One or two health checks in turn, so that the round-robin hands the scrapes and checks to both workers.
    for (let k = 0; k <= i % 2; k++) {
      const h = await getFresh(`${base}/healthz`);
      assert.equal(h.status, 200);
      const body = JSON.parse(h.body) as Health;
      answeredBy.add(body.pid);
      assert.equal(body.status, 'ok');
      assert.equal(body.connections, 10);
      assert.deepEqual(body.workers.map((w) => [w.worker, w.status, w.redis]), ids.map((id) => [id, 'ok', 'up']));
      assert.equal(body.workers.reduce((n, w) => n + w.connections, 0), 10);
    }
  }
  assert.equal(answeredBy.size, 2, 'scrapes landed on both workers and each answered for the whole server');

  // Redis down: every worker reports it, the server is degraded.
  await redis.stop('SIGTERM');
  await until(async () => (await getFresh(`${base}/healthz`)).status === 503, '/healthz turns 503', 15_000);
  const down = JSON.parse((await getFresh(`${base}/healthz`)).body) as Health;
  assert.equal(down.status, 'degraded');
  assert.ok(down.workers.some((w) => w.redis === 'down'));
  assert.equal(value((await getFresh(`${base}/metrics`)).body, 'wireroom_redis_up'), 0);
  await redis.startAgain();
  await until(async () => (await getFresh(`${base}/healthz`)).status === 200, '/healthz back to 200', 20_000);

  const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
  primary.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
  assert.equal(code, 0, output);
  await until(() => [...workerPids].every((pid) => !alive(pid)), 'every worker gone');
});

test('--history-limit and --history-days on Redis: the stream and the dedupe keys stay at N, with TTLs within D', async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const redis = await TestRedis.start(t);
  const proc = await startChatProcess(t, redis.url, ['--history-limit', '5', '--history-days', '1']);
  const client = await TestClient.connect(proc.url);
  t.after(() => client.close());
  await client.join('kept', 'K');
  for (let i = 1; i <= 10; i++) { // within the burst of the rate limit
    client.send({ type: 'message', room: 'kept', clientId: `k${i}`, text: `m${i}` });
    await client.next('ack', undefined, 10_000);
  }
  const other = await TestClient.connect(proc.url);
  t.after(() => other.close());
  const joined = await other.join('kept', 'O');
  assert.deepEqual(joined.messages!.map((m) => m.id), [6, 7, 8, 9, 10]);
  assert.equal(joined.oldestId, 6);
  const { Redis } = await import('ioredis');
  const r = new Redis(redis.url);
  t.after(() => r.disconnect());
  assert.equal(await r.xlen('wr:{kept}:log'), 5);
  const keys = (await r.keys('wr:{kept}:cid:*')).sort();
  assert.deepEqual(keys, ['k10', 'k6', 'k7', 'k8', 'k9'].map((c) => `wr:{kept}:cid:${c}`));
  for (const k of keys) {
    const ttl = await r.pttl(k);
    assert.ok(ttl > 0 && ttl <= 86_400_000, `${k}: ${ttl}`);
  }
  const logTtl = await r.pttl('wr:{kept}:log');
  assert.ok(logTtl > 0 && logTtl <= 86_400_000, `log TTL ${logTtl}`);
});
