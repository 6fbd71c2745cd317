/**
 * Two tabs of one person, on two chat servers sharing one real redis-server, renaming at the same moment:
 * whatever order Redis took the claims in, both tabs end up stamping messages with the name the store holds
 * (never with a name the person already released, which someone else may own by then).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRedisChat } from '../../src/chat/redis/redis-chat.js';
import { startChatServer, type ChatServer } from '../../src/chat/server.js';
import { fastLimits } from '../chat/fixtures/server.js';
import { claimRace, renameRace } from '../chat/fixtures/rename-race.js';
import { requireRedisOrSkip, TestRedis } from '../helpers/redis.js';

test('concurrent renames from two tabs on two processes settle on the stored name; two people claiming look-alikes at once: one wins', { timeout: 180_000 }, async (t) => {
  if (!requireRedisOrSkip(t)) return;
  const redis = await TestRedis.start(t);
  const sessionKeys = [randomBytes(32)];
  const errors: string[] = [];
  const servers: ChatServer[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const chat = await createRedisChat({ url: redis.url, probeIntervalMs: 0, logError: () => {} });
      servers.push(await startChatServer({
        ...chat.serverOptions(), port: 0, host: '127.0.0.1', heartbeatInterval: 0, sessionKeys, limits: fastLimits,
        logError: (context, error) => errors.push(`${context}: ${String(error)}`),
      }));
    }
    await renameRace(servers[0]!.url, servers[1]!.url, 60);
    await claimRace(servers[0]!.url, servers[1]!.url, 60);
  } finally {
    // Closed here, while redis-server still runs (it stops in an after hook).
    await Promise.all(servers.map((s) => s.close()));
  }
  assert.deepEqual(errors, []);
});
