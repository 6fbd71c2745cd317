// The chat server (src/chat/server.ts, built into dist/) for the chat throughput benchmark: PORT and DB from the
// environment, rate limits raised so the load generator measures the server rather than its token buckets.
import { rmSync } from 'node:fs';

const { startChatServer } = await import(new URL('../../packages/chat/dist/chat/server.js', import.meta.url).href);
const dbPath = process.env.DB ?? new URL('../.work/chat-bench.db', import.meta.url).pathname;
for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true });
const many = 1e9;
const server = await startChatServer({
  port: Number(process.env.PORT ?? 9500),
  host: '127.0.0.1',
  dbPath,
  heartbeatInterval: 0,
  synchronous: process.env.SYNC === 'NORMAL' ? 'NORMAL' : 'FULL',
  limits: { ratePerSecond: many, burst: many, requestsPerSecond: many, requestBurst: many, maxErrors: many },
});
console.log(`chat server ${server.url} db ${dbPath} synchronous=${process.env.SYNC === 'NORMAL' ? 'NORMAL' : 'FULL'} node ${process.version}`);
const stop = () => server.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
