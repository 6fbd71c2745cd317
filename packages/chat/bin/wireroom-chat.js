#!/usr/bin/env node
// The `wireroom-chat` command. It runs the built package (dist/): in a checkout, `npm install` at the repository
// root builds it (or `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('wireroom-chat: dist/ is missing; run `npm install` (or `npm run build`) in the checkout first.');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
