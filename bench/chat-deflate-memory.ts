/**
 * RSS per idle browser-like connection of `wireroom chat`, with permessage-deflate (the default) and with
 * `--no-deflate`, alternated twice. Each connection offers deflate as Chromium does, gets its `welcome`, sends
 * one ~230-byte chat message (answered with an error: it joined no room) and idles; RSS is read 1 s after the
 * exchange and again 8 s later (past the codec's 5 s hibernateAfterMs).
 *
 *   npm run build && node --import tsx bench/chat-deflate-memory.ts [connections=2000] [port=9861]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDeflateLoad } from './lib/deflate-load.js';
import { startServer, stopServer } from './lib/wsload.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const connections = Number(process.argv[2] ?? 2000);
const port = Number(process.argv[3] ?? 9861);
console.log('| chat server | RSS / conn 1 s after its message (B) | RSS / conn idle, 8 s later (B) |');
console.log('|---|---:|---:|');
for (const flags of [[], ['--no-deflate'], [], ['--no-deflate']]) {
  const dir = mkdtempSync(join(tmpdir(), 'chat-deflate-memory-'));
  const argv = [process.execPath, join(repo, 'packages/chat/bin/wireroom-chat.js'), '--port', String(port), '--db', join(dir, 'chat.db'), '--heartbeat', '0', ...flags];
  const server = await startServer({ name: 'chat', label: 'chat', argv, raw: false }, port);
  try {
    const r = await runDeflateLoad(
      { name: 'chat-idle', mode: 'idle', connections, size: 200, inFlight: 1, duration: 0, warmup: 0, settle: 8, path: '/chat', acceptPlain: true },
      port,
      server.pid,
    );
    console.log(`| ${flags.length ? 'deflate off' : `deflate on (${r['extension']})`} | ${r['bytes_per_conn_active']} | ${r['bytes_per_conn']} |`);
  } finally {
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  }
}
