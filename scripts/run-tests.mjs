#!/usr/bin/env node
// Runs the test suite with Node's built-in test runner, TypeScript loaded through tsx.
// A file may take up to 5 minutes (a loaded 2-core machine runs the Chromium resume tests in 1 to 2).
// Usage: node scripts/run-tests.mjs [dir-or-file ...]   (default: every package's test/, the toolkit's first)
// Test files are `*.test.ts`. Files under packages/chat/test/e2e need Chromium; they skip loudly when it is missing
// locally, and CI installs it.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(path, out) {
  const st = statSync(path);
  if (st.isFile()) { if (path.endsWith('.test.ts')) out.push(path); return out; }
  for (const name of readdirSync(path).sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    collect(join(path, name), out);
  }
  return out;
}

const roots = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const passthrough = process.argv.slice(2).filter((a) => a.startsWith('--'));
const files = (roots.length ? roots : ['packages/wireroom/test', 'packages/chat/test']).flatMap((r) => collect(resolve(r), []));
if (files.length === 0) { console.error('no test files found'); process.exit(1); }

const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const result = spawnSync(process.execPath, [
  '--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...passthrough, ...files,
], { stdio: 'inherit' });
process.exit(result.status ?? 1);
