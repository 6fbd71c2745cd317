/**
 * Two tabs of one person renaming at the same moment on one server: whatever order the store took the claims
 * in, both tabs end up stamping messages with the name the store holds. (test/redis/rename-race.test.ts: the
 * same across two processes, where the claims really interleave.)
 */
import { test } from 'node:test';
import { claimRace, renameRace } from './fixtures/rename-race.js';
import { fastLimits, startTestServer } from './fixtures/server.js';

test('concurrent renames from two tabs: both tabs settle on the stored name', { timeout: 120_000 }, async (t) => {
  const server = await startTestServer(t, { limits: fastLimits });
  await renameRace(server.url, server.url, 40);
  await claimRace(server.url, server.url, 40);
});
