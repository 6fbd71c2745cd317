/**
 * Chat throughput: the chat server (src/chat/server.ts via dist/, SQLite with group commit, synchronous=FULL
 * (the default: an ack survives power loss) or NORMAL)
 * in its own process; `members` clients join one room, `senders` of them keep `window` messages each waiting
 * for their ack. Counted over the measured window: acks (messages persisted), `message` envelopes received by
 * the members (broadcast deliveries; the sender gets an ack instead of its own message), and the server's CPU
 * time from /proc/PID/stat. The clients are ws clients in this process: on 2 cores they compete with the
 * server, so the CPU per message is the figure to compare across runs, the rates are lower bounds.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { startServer, stopServer } from './wsload.js';

export interface ChatResult {
  available: boolean;
  synchronous: 'FULL' | 'NORMAL';
  reason?: string;
  members: number;
  senders: number;
  window: number;
  seconds: number;
  persistedPerSec: number;
  deliveriesPerSec: number;
  serverCpuUsPerMessage: number;
  serverCpuUsPerDelivery: number;
  serverCores: number;
  /** CPU of this (client) process over the window, in cores: near 1, the clients are the bottleneck. */
  clientCores: number;
  ackP50Ms: number;
  ackP99Ms: number;
  errors: number;
  summary: string;
}

interface WsClient {
  on(event: string, listener: (...args: never[]) => void): void;
  send(data: string): void;
  close(): void;
  terminate(): void;
}

const TICK = 100; // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s on Linux
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICK; // utime, stime (fields 14, 15)
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runChatBench(
  repo: string,
  options: { duration: number; quick: boolean; port?: number; synchronous: 'FULL' | 'NORMAL' },
  progress: (s: string) => void,
  log: (s: string) => void,
): Promise<ChatResult> {
  const members = 100;
  const senders = 50;
  const window = 4;
  const synchronous = options.synchronous;
  const empty = { synchronous, members, senders, window, seconds: 0, persistedPerSec: 0, deliveriesPerSec: 0, serverCpuUsPerMessage: 0, serverCpuUsPerDelivery: 0, serverCores: 0, clientCores: 0, ackP50Ms: 0, ackP99Ms: 0, errors: 0 };
  if (!existsSync(join(repo, 'packages/chat/src/chat/server.ts')) || !existsSync(join(repo, 'packages/chat/dist/chat/server.js'))) {
    const reason = 'src/chat/server.ts (startChatServer) is not built into dist/ yet';
    log(`chat: SKIPPED: ${reason}`);
    return { available: false, reason, ...empty, summary: `chat: skipped (${reason})` };
  }
  const require = createRequire(join(repo, 'package.json'));
  const WebSocket = require('ws') as new (url: string, options?: object) => WsClient;
  const port = options.port ?? 9500;
  progress('chat: starting the chat server');
  const server = await startServer({ name: 'chat', label: 'chat', argv: [process.execPath, join(repo, 'bench/lib/chat-server.mjs')], raw: false, env: { DB: join(repo, 'bench/.work/chat-bench.db'), SYNC: synchronous } }, port);
  const clients: WsClient[] = [];
  let delivered = 0;
  let acked = 0;
  let errors = 0;
  let measuring = false;
  let stopping = false;
  const ackLatencies: number[] = [];
  try {
    // Join everyone first (a member's `joined` arrives before any live message counted).
    let joined = 0;
    await Promise.all(Array.from({ length: members }, (_, i) => new Promise<void>((resolveJoin, rejectJoin) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, { perMessageDeflate: false });
      clients.push(ws);
      const sentAt = new Map<string, number>();
      let seq = 0;
      const isSender = i < senders;
      const sendOne = (): void => {
        const clientId = `c${i}-${seq++}`;
        sentAt.set(clientId, performance.now());
        ws.send(JSON.stringify({ type: 'message', room: 'bench', clientId, text: `message ${seq} from ${i}: hello, room` }));
      };
      ws.on('error', (e: Error) => rejectJoin(e));
      ws.on('message', (raw: Buffer) => {
        const msg = JSON.parse(raw.toString()) as { type: string; clientId?: string };
        switch (msg.type) {
          case 'welcome':
            ws.send(JSON.stringify({ type: 'join', room: 'bench', name: `user${i}` }));
            break;
          case 'joined':
            joined++;
            if (joined % 20 === 0) progress(`chat: ${joined}/${members} joined`);
            resolveJoin();
            break;
          case 'message':
            if (measuring) delivered++;
            break;
          case 'ack': {
            const t = sentAt.get(msg.clientId!);
            sentAt.delete(msg.clientId!);
            if (measuring) {
              acked++;
              if (t !== undefined) ackLatencies.push(performance.now() - t);
            }
            if (!stopping) sendOne();
            break;
          }
          case 'error':
            errors++;
            break;
        }
      });
      (ws as unknown as { startSending: () => void }).startSending = () => { if (isSender) for (let k = 0; k < window; k++) sendOne(); };
    })));
    for (const ws of clients) (ws as unknown as { startSending: () => void }).startSending();
    progress('chat: warming up');
    await sleep(1000);
    const cpu0 = cpuSeconds(server.pid);
    const client0 = process.cpuUsage();
    const t0 = performance.now();
    measuring = true;
    progress(`chat: measuring ${options.duration} s (${members} members, ${senders} senders x ${window} in flight)`);
    await sleep(options.duration * 1000);
    measuring = false;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(server.pid) - cpu0;
    const clientUsage = process.cpuUsage(client0);
    stopping = true;
    ackLatencies.sort((a, b) => a - b);
    const pct = (p: number): number => ackLatencies.length ? ackLatencies[Math.min(ackLatencies.length - 1, Math.floor(p * ackLatencies.length))]! : 0;
    const result: ChatResult = {
      available: true, synchronous, members, senders, window, seconds,
      persistedPerSec: acked / seconds,
      deliveriesPerSec: delivered / seconds,
      serverCpuUsPerMessage: acked ? (cpu * 1e6) / acked : 0,
      serverCpuUsPerDelivery: delivered ? (cpu * 1e6) / delivered : 0,
      serverCores: cpu / seconds,
      clientCores: (clientUsage.user + clientUsage.system) / 1e6 / seconds,
      ackP50Ms: pct(0.5), ackP99Ms: pct(0.99), errors,
      summary: '',
    };
    result.summary = `chat (${members} members in one room, ${senders} senders x ${window} in flight, SQLite synchronous=${synchronous}): ` +
      `${Math.round(result.persistedPerSec).toLocaleString('en-US')} messages/s persisted, ${Math.round(result.deliveriesPerSec).toLocaleString('en-US')} deliveries/s, ` +
      `server ${result.serverCpuUsPerMessage.toFixed(0)} µs CPU per message (${result.serverCpuUsPerDelivery.toFixed(2)} µs per delivery, ${result.serverCores.toFixed(2)} cores; clients ${result.clientCores.toFixed(2)} cores), ` +
      `ack p50 ${result.ackP50Ms.toFixed(1)} ms p99 ${result.ackP99Ms.toFixed(1)} ms, errors ${errors}`;
    log(result.summary);
    return result;
  } catch (error) {
    const reason = `chat run failed: ${(error as Error).message}`;
    log(reason);
    return { available: false, reason, ...empty, summary: reason };
  } finally {
    stopping = true;
    for (const ws of clients) ws.terminate();
    await stopServer(server);
  }
}
