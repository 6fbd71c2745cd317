/**
 * Measures Redis memory per chat message: `used_memory` (INFO memory) before and after appending N messages
 * through RedisChatStore, without retention and with a history limit. Needs a redis-server you started:
 *
 *   redis-server --port 6399 --save '' --appendonly no &
 *   node --import tsx packages/chat/scripts/redis-memory.ts redis://127.0.0.1:6399/15 10000
 *
 * It FLUSHDBs the database given in the URL (use a spare one). Text 50 characters, uid a UUID, clientId 30 characters.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisChatStore } from '../src/chat/redis/redis-store.js';

const url = process.argv[2] ?? 'redis://127.0.0.1:6399/15';
const n = Number(process.argv[3] ?? 10_000);
const redis = new Redis(url, { lazyConnect: false });

async function usedMemory(): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

async function run(label: string, options: ConstructorParameters<typeof RedisChatStore>[1], count: number): Promise<void> {
  await redis.flushdb();
  const store = new RedisChatStore(redis, options);
  await store.append({ room: 'warm', uid: randomUUID(), name: 'Warm', text: 'x', clientId: 'warm' }); // loads the script
  const before = await usedMemory();
  const uid = randomUUID();
  for (let i = 0; i < count; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, count - i) }, (_, j) => store.append({
      room: 'lobby', uid, name: 'Ann', text: `message ${String(i + j).padStart(8, '0')} `.padEnd(50, 'x'), clientId: `${String(i + j).padStart(12, '0')}-abcdefghijklmnop`.slice(0, 30),
    })));
  }
  const after = await usedMemory();
  const k = store.keys('lobby');
  console.log(`${label}: ${count} messages, used_memory ${before} -> ${after} (+${after - before} B, ${((after - before) / count).toFixed(0)} B/message); XLEN ${await redis.xlen(k.log)}, keys ${await redis.dbsize()}`);
}

await run('no retention', {}, n);
await run('no retention, log only (dedupe keys deleted)', {}, n).then(async () => {
  const before = await usedMemory();
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', '*:cid:*', 'COUNT', 1000);
    if (keys.length) deleted += await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  const after = await usedMemory();
  console.log(`  dedupe keys: ${deleted} deleted, -${before - after} B, ${((before - after) / deleted).toFixed(0)} B/key`);
});
await run('--history-limit 1000', { historyLimit: 1000 }, n);
await run('--history-limit 1000', { historyLimit: 1000 }, n * 5);
redis.disconnect();
