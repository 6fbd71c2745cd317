/**
 * Soak test (`npm run soak -- --minutes 5 --connections 2000`; not part of CI): starts `wireroom echo` or
 * `wireroom chat` as a child process, then for the given time keeps opening connections in waves, sends
 * messages on them (broadcast on /broadcast for echo, chat messages for chat), and closes them. It reports the
 * server's RSS and open file descriptors (from /proc) at the start, at every wave and after the last
 * connection closed, and fails if they do not come back near the baseline.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { connect, type WebSocket } from '../packages/wireroom/src/index.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    connections: { type: 'string', default: '2000' },
    target: { type: 'string', default: 'echo' },
  },
});
const minutes = Number(values.minutes);
const perWave = Number(values.connections);
const target = values.target === 'chat' ? 'chat' : 'echo';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function stats(pid: number): { rssMiB: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssMiB: Math.round(rss / 1024), fds: readdirSync(`/proc/${pid}/fd`).length };
}

const port = await freePort();
const args = target === 'chat'
  ? ['packages/chat/bin/wireroom-chat.js', '--port', String(port), '--db', join(mkdtempSync(join(tmpdir(), 'wireroom-soak-')), 'chat.db')]
  : ['packages/wireroom/bin/wireroom.js', 'echo', '--port', String(port)];
const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
const pid = child.pid!;
await new Promise((r) => setTimeout(r, 500));
const baseline = stats(pid);
console.log(`soak ${target} on port ${port} for ${minutes} min, ${perWave} connections per wave; baseline rss ${baseline.rssMiB} MiB, fds ${baseline.fds}`);

const url = target === 'chat' ? `ws://127.0.0.1:${port}/chat` : `ws://127.0.0.1:${port}/broadcast`;
const deadline = Date.now() + minutes * 60_000;
let wave = 0;
let messages = 0;
let failures = 0;
while (Date.now() < deadline) {
  wave++;
  const sockets: WebSocket[] = [];
  for (let i = 0; i < perWave; i += 100) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(100, perWave - i) }, () => connect(url, { origin: `http://127.0.0.1:${port}` })));
    for (const r of batch) {
      if (r.status === 'fulfilled') {
        r.value.on('error', () => {});
        sockets.push(r.value);
      } else failures++;
    }
  }
  const peak = stats(pid);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < sockets.length; i += 50) {
      const ws = sockets[i]!;
      if (target === 'chat') {
        ws.send(JSON.stringify({ type: 'join', room: `soak-${i % 10}`, name: `soak${i}` }));
        ws.send(JSON.stringify({ type: 'message', room: `soak-${i % 10}`, clientId: `w${wave}-${i}-${round}`, text: `soak message ${round}` }));
      } else ws.send(`wave ${wave} message ${round} from ${i}`);
      messages++;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
    if (ws.readyState === 3) return resolve();
    ws.once('close', () => resolve());
    ws.close(1000);
  })));
  await new Promise((r) => setTimeout(r, 1000));
  const after = stats(pid);
  console.log(`wave ${wave}: ${sockets.length} connections, peak rss ${peak.rssMiB} MiB fds ${peak.fds}; after close rss ${after.rssMiB} MiB fds ${after.fds}; messages ${messages}, failed connects ${failures}`);
}

await new Promise((r) => setTimeout(r, 3000));
const end = stats(pid);
child.kill('SIGTERM');
const fdOk = end.fds <= baseline.fds + 5;
const rssOk = end.rssMiB <= baseline.rssMiB * 2 + 50;
console.log(`end: rss ${end.rssMiB} MiB (baseline ${baseline.rssMiB}), fds ${end.fds} (baseline ${baseline.fds}): ${fdOk && rssOk ? 'OK' : 'NOT BACK TO BASELINE'}`);
process.exit(fdOk && rssOk && failures === 0 ? 0 : 1);
