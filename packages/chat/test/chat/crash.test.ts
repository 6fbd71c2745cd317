/** Durability: every acknowledged message survives `kill -9` of the server right after the acks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SqliteChatStore } from '../../src/chat/sqlite-store.js';
import { TestClient } from './fixtures/client.js';
import { startTestServer, tempDir } from './fixtures/server.js';

const CHILD = fileURLToPath(new URL('./fixtures/chat-child.ts', import.meta.url));

for (const synchronous of ['FULL', 'NORMAL'] as const) {
  test(`kill -9 right after acks loses no acknowledged message (synchronous=${synchronous})`, async (t) => {
    const dir = tempDir(t);
    const dbPath = join(dir, 'chat.db');
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dbPath, synchronous], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const { url } = JSON.parse(line) as { url: string };

    const client = await TestClient.connect(url);
    await client.join('crash', 'Ann');
    const total = 2000;
    const killAfter = 150;
    const acked = new Map<string, number>();
    let killed = false;
    client.ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { type: string; clientId?: string; id?: number };
      if (m.type !== 'ack' || killed) return;
      acked.set(m.clientId!, m.id!);
      if (acked.size === killAfter) {
        killed = true;
        child.kill('SIGKILL'); // synchronously, while later messages are still being committed
      }
    });
    for (let i = 0; i < total; i++) client.send({ type: 'message', room: 'crash', clientId: `k${i}`, text: `message ${i}` });
    const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
    assert.equal(signal, 'SIGKILL');
    await client.closed;
    assert.ok(acked.size >= killAfter);

    const store = SqliteChatStore.open(dbPath);
    const stored = (await store.after('crash', 0, 5000)).messages;
    await store.close();
    const byClientId = new Map(stored.map((m) => [m.clientId, m.id]));
    for (const [clientId, id] of acked) assert.equal(byClientId.get(clientId), id, `acked ${clientId} (id ${id}) is stored`);
    assert.deepEqual(stored.map((m) => m.id), Array.from({ length: stored.length }, (_, i) => i + 1), 'ids gap-free');
    assert.ok(stored.length < total, `the kill happened mid-stream (${stored.length} of ${total} stored)`);

    // The restarted server continues the sequence and dedupes resends of what was stored unacked.
    const server = await startTestServer(t, { dir, dbPath });
    const again = await TestClient.connect(server.url, { cookie: client.cookie }); // Ann again: same database, same secret
    t.after(() => again.close());
    again.send({ type: 'join', room: 'crash', name: 'Ann', after: stored.length });
    const rejoined = await Promise.race([again.next('joined'), again.next('error').then((e) => assert.fail(JSON.stringify(e)))]);
    assert.equal(rejoined.lastId, stored.length);
    const lastStored = stored[stored.length - 1]!;
    again.send({ type: 'message', room: 'crash', clientId: lastStored.clientId, text: lastStored.text });
    assert.deepEqual(await again.next('ack'), { type: 'ack', room: 'crash', clientId: lastStored.clientId, id: lastStored.id, ts: lastStored.ts, duplicate: true });
  });
}
