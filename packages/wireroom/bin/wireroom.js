#!/usr/bin/env node
// The `wireroom` command. It runs the built package (dist/cjs): in a checkout, `npm install` at the repository
// root builds it (or `npm run build`).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let main;
try {
  ({ main } = require('../dist/cjs/cli/main.js'));
} catch (error) {
  if (error?.code !== 'MODULE_NOT_FOUND') throw error;
  console.error('wireroom: dist/ is missing; run `npm install` (or `npm run build`) in the checkout first.');
  process.exit(1);
}
process.exitCode = await main(process.argv.slice(2));
