import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzCore } from '../fuzz/run-core.js';

// Seeded and reproducible: WIREROOM_FUZZ_SEED=<n> replays a run. `npm run fuzz` runs for hours.
const seed = Number(process.env.WIREROOM_FUZZ_SEED ?? 0x5eed);

test(`protocol core survives 30,000 random and mutated byte streams (seed ${seed})`, () => {
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const result = fuzzCore(seed, 30_000);
  const elapsed = performance.now() - started;
  assert.deepEqual(result.failures, []);
  // The corpus must exercise both outcomes, or the fuzzer is not testing anything.
  assert.ok(result.messages > 1000, `only ${result.messages} messages decoded`);
  assert.ok(result.errors > 1000, `only ${result.errors} protocol errors seen`);
  assert.ok(elapsed < 60_000, `took ${elapsed} ms`);
  if (global.gc) global.gc();
  const grown = process.memoryUsage().heapUsed - heapBefore;
  assert.ok(grown < 200 * 1024 * 1024, `heap grew by ${grown} bytes`);
});
