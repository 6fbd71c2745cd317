/**
 * WebSockets over HTTP/2 (RFC 8441) versus one TLS connection each: N WebSockets on one HTTP/2 session against
 * N wss:// HTTP/1.1 connections, on the same server (`tls` + `http2: true`, one port).
 *
 *   node --import tsx bench/http2-vs-tls.ts [--connections=1000] [--concurrency=50] [--rounds=3]
 *
 * Per mode and round, a fresh server child process (RSS never shrinks back) reports its memory after a full GC
 * before and after the N WebSockets are open: (after - before) / N is the server's memory per WebSocket (RSS, and
 * the JS heap). Handshake rate: N / the time to open them all, `concurrency` handshakes in flight (the client in
 * this process; each TLS connection costs a full TLS handshake, each stream only its HEADERS round trip). Every
 * WebSocket echoes one message before it counts as open. Medians over rounds.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../packages/wireroom/src/client/connect.js';
import type { WebSocket } from '../packages/wireroom/src/connection/websocket.js';
import { WebSocketServer } from '../packages/wireroom/src/server/websocket-server.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const N = Number(args.get('connections') ?? 1000);
const CONCURRENCY = Number(args.get('concurrency') ?? 50);
const ROUNDS = Number(args.get('rounds') ?? 3);

interface Memory { rss: number; heapUsed: number; external: number }

if (process.argv.includes('--server-child')) {
  // The server: echo, reporting its memory (after a full GC) when asked over IPC.
  const tls = { key: readFileSync(process.env.KEY!), cert: readFileSync(process.env.CERT!) };
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, tls, http2: { settings: { maxConcurrentStreams: 100_000 } }, heartbeatInterval: 0, maxConnections: 1_000_000 });
  server.on('connection', (ws: WebSocket) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
  server.on('listening', () => process.send!({ port: server.address()!.port }));
  process.on('message', () => {
    for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    process.send!({ memory: { rss: m.rss, heapUsed: m.heapUsed, external: m.external }, clients: server.clients.size });
  });
} else {
  await main();
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wireroom-bench-h2-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const ca = readFileSync(join(dir, 'cert.pem'));
  const results: Record<string, Array<{ perSocketRss: number; perSocketHeap: number; rate: number }>> = { h2: [], tls: [] };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ['h2', 'tls'] as const) results[mode]!.push(await runMode(mode, dir, ca));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`\n${N} WebSockets, ${CONCURRENCY} handshakes in flight, ${ROUNDS} rounds (medians), node ${process.version}\n`);
  console.log('| transport | server RSS per WebSocket | server heap per WebSocket | handshakes/s |');
  console.log('| --- | --- | --- | --- |');
  for (const [mode, label] of [['h2', `${N} streams on one HTTP/2 session (RFC 8441)`], ['tls', `${N} TLS connections (HTTP/1.1 upgrade)`]] as const) {
    const r = results[mode]!;
    console.log(`| ${label} | ${(median(r.map((x) => x.perSocketRss)) / 1024).toFixed(1)} KiB | ${(median(r.map((x) => x.perSocketHeap)) / 1024).toFixed(1)} KiB | ${Math.round(median(r.map((x) => x.rate)))} |`);
  }
}

async function runMode(mode: 'h2' | 'tls', dir: string, ca: Buffer): Promise<{ perSocketRss: number; perSocketHeap: number; rate: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--server-child'], {
    execArgv: ['--import', 'tsx', '--expose-gc'], env: { ...process.env, KEY: join(dir, 'key.pem'), CERT: join(dir, 'cert.pem') },
  });
  try {
    const [{ port }] = (await once(child, 'message')) as [{ port: number }];
    const memory = async (): Promise<Memory> => {
      child.send('memory');
      const [reply] = (await once(child, 'message')) as [{ memory: Memory }];
      return reply.memory;
    };
    // Warm-up: one of each kind, so code and TLS contexts are not counted per socket.
    const session = mode === 'h2' ? http2Connect(`https://localhost:${port}`, { ca }) : null;
    if (session) await once(session, 'remoteSettings');
    const open = (): Promise<WebSocket> => connect(`wss://localhost:${port}/`, session ? { http2: session } : { tls: { ca } }).then(async (ws) => {
      const echoed = once(ws, 'message');
      ws.send('x');
      await echoed;
      return ws;
    });
    const warm = await open();
    warm.terminate();
    await new Promise((r) => setTimeout(r, 200));
    const before = await memory();
    const sockets: WebSocket[] = [];
    const began = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        next++;
        sockets.push(await open());
      }
    }));
    const seconds = (performance.now() - began) / 1000;
    await new Promise((r) => setTimeout(r, 200));
    const after = await memory();
    for (const ws of sockets) ws.terminate();
    session?.destroy();
    return { perSocketRss: (after.rss - before.rss) / N, perSocketHeap: (after.heapUsed - before.heapUsed) / N, rate: N / seconds };
  } finally {
    child.kill();
  }
}
