/** The chat negotiates permessage-deflate by default; `perMessageDeflate: false` / `--no-deflate` turn it off. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { TestClient } from './fixtures/client.js';
import { fastLimits, startTestServer, tempDir } from './fixtures/server.js';

const CLI = fileURLToPath(new URL('./fixtures/cli-child.ts', import.meta.url));

/** Bytes the client's socket has read so far (frame headers and payloads). */
function bytesRead(client: TestClient): number {
  return (client.ws as unknown as { _socket: Socket })._socket.bytesRead;
}

/**
 * One client posts a few long messages; a second one joins and gets them in its `joined` page (a
 * direct reply, compressed per connection). Returns the page's JSON length and the bytes it took.
 */
async function joinedPageBytes(url: string, client: TestClient): Promise<{ json: number; wire: number }> {
  const author = await TestClient.connect(url);
  await author.join('lobby', 'Ann');
  for (let i = 0; i < 5; i++) {
    author.send({ type: 'message', room: 'lobby', clientId: `c${i}`, text: `${i}: ${TEXT}` });
    await author.next('ack');
  }
  author.close();
  const before = bytesRead(client);
  client.send({ type: 'join', room: 'lobby', name: 'Bob' });
  const joined = await client.next('joined');
  assert.equal(joined.messages?.length, 5);
  return { json: JSON.stringify(joined).length, wire: bytesRead(client) - before };
}

// Chat-like text, 1,500 characters: compressible, as real chat JSON is.
const TEXT = Array.from({ length: 60 }, (_, i) => `line ${i} of the standup notes; `).join('').slice(0, 1500);

test('deflate is negotiated by default with a client that offers it, and replies cross compressed', async (t) => {
  const server = await startTestServer(t, { limits: fastLimits });
  const client = await TestClient.connect(server.url); // ws offers permessage-deflate; client_max_window_bits, as browsers do
  t.after(() => client.close());
  assert.equal(client.ws.extensions, 'permessage-deflate'); // ws lists the names only; Chromium's test reads the parameters
  const { json, wire } = await joinedPageBytes(server.url, client);
  assert.ok(wire < json / 4, `a ${json}-byte joined page took ${wire} bytes`);
});

test('perMessageDeflate: false sends everything uncompressed', async (t) => {
  const server = await startTestServer(t, { limits: fastLimits, perMessageDeflate: false });
  const client = await TestClient.connect(server.url);
  t.after(() => client.close());
  assert.equal(client.ws.extensions, '');
  const { json, wire } = await joinedPageBytes(server.url, client);
  assert.ok(wire > json, `uncompressed: ${json}-byte page, ${wire} bytes`);
});

for (const [flags, expected] of [[[], 'on'], [['--no-deflate'], 'off']] as const) {
  test(`wireroom chat ${flags.join(' ') || '(no flag)'}: deflate ${expected}`, async (t) => {
    const dir = tempDir(t);
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--port', '0', '--db', join(dir, 'chat.db'), ...flags], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    assert.match(line, new RegExp(`deflate ${expected}`));
    const url = /http:\/\/[\d.]+:\d+/.exec(line)?.[0];
    assert.ok(url, line);
    const client = await TestClient.connect(url);
    if (expected === 'on') assert.match(client.ws.extensions, /^permessage-deflate/);
    else assert.equal(client.ws.extensions, '');
    client.close();
    child.kill('SIGTERM');
    const [exitCode] = (await once(child, 'exit')) as [number | null];
    assert.equal(exitCode, 0);
  });
}
