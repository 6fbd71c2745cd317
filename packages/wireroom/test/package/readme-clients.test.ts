// The client examples on the first screen of both READMEs (the repository's and the package's) are true: each ```js
// block before the first section heading runs as written, as an ES module importing the built package (run after
// `npm run build`), against an echo server at the address it names, and prints what it received.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from '../../src/index.js';
import { startServer, within } from '../helpers/loopback.js';
import { REPO, TOOLKIT_DIR } from '../helpers/pack.js';

const T = { timeout: 60_000 };
const PACKAGE = TOOLKIT_DIR;
const READMES = [join(PACKAGE, 'README.md'), join(REPO, 'README.md')];
const ADDRESS = 'ws://127.0.0.1:9001';

/** The ```js blocks before the first `## ` heading. */
function firstScreenBlocks(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const top = text.slice(0, text.search(/^## /m) === -1 ? undefined : text.search(/^## /m));
  return [...top.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

let server: WebSocketServer;
let url = '';
let project = '';
before(async () => {
  ({ server, url } = await startServer());
  server.on('connection', (ws) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
  project = mkdtempSync(join(tmpdir(), 'wireroom-readme-'));
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(PACKAGE, join(project, 'node_modules/wireroom'), 'dir');
});
after(async () => {
  await server.close({ timeout: 200 });
  rmSync(project, { recursive: true, force: true });
});

/** Runs `code` as an ES module until it prints a line with 'received' (then ends it); resolves with stdout. */
function run(code: string, name: string): Promise<string> {
  const file = join(project, `${name}.mjs`);
  writeFileSync(file, code);
  const child = spawn(process.execPath, [file], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => { err += chunk; });
  return within(new Promise<string>((resolveRun, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      if (/received/.test(out)) {
        child.kill();
        resolveRun(out);
      }
    });
    child.on('exit', (code) => {
      if (!/received/.test(out)) reject(new Error(`${name} exited (${code}) without receiving anything:\n${err}`));
    });
  }), 30_000, `${name} to print what it received`).finally(() => child.kill());
}

describe('README first screens: the client examples run as written', () => {
  for (const readme of READMES) {
    const label = readme.includes('packages') ? 'packages/wireroom/README.md' : 'README.md';
    it(`${label}: ws-style, WHATWG and WebSocketStream clients each receive their echo`, T, async () => {
      const blocks = firstScreenBlocks(readme);
      const styles = blocks.map((code) => (code.includes('WebSocketStream') ? 'stream' : code.includes("from 'wireroom/web'") ? 'whatwg' : 'ws'));
      assert.deepEqual([...new Set(styles)].sort(), ['stream', 'whatwg', 'ws'], 'all three client styles are shown');
      for (const [i, code] of blocks.entries()) {
        assert.ok(code.includes(ADDRESS), `block ${i} talks to ${ADDRESS}`);
        assert.ok(code.split('\n').filter((line) => line.trim() !== '').length <= 8, `block ${i} is a few lines`);
        const output = await run(code.replaceAll(ADDRESS, url), `${label.replace(/\W/g, '_')}-${i}`);
        assert.match(output, /^received hello$/m, `block ${i} (${styles[i]}) printed: ${output}`);
      }
    });
  }
});
