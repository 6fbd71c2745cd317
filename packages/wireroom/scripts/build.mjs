#!/usr/bin/env node
// Builds the published package, both module formats from one copy of the code:
//   dist/cjs/   the library, compiled once to CommonJS by tsc (tsconfig.build.json), with .d.ts and source maps
//               that carry their sources; dist/cjs/package.json says "type": "commonjs".
//   dist/esm/   one thin ES module per entry point that imports the CommonJS module and re-exports its named
//               bindings, with a .d.mts that re-exports its types. `import` and `require` therefore reach the
//               same module instance: an object made through one is `instanceof` the class reached through the
//               other (no dual-package hazard), and module state (the zlib job cap) exists once.
//   dist/cjs/main.js  the CommonJS entry of 'wireroom' with ws's module shape: `module.exports` is the default
//               export (the WebSocket class) with every named export as a property, so that
//               `const WebSocket = require('wireroom'); new WebSocket.Server(...)` works as with ws. Its types are
//               index.d.ts (named exports and `default`); the ES module wrapper re-exports both.
// Usage: node scripts/build.mjs   (from the package directory; `npm run build`)
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

/** The entry points: export subpath -> compiled CommonJS module under dist/cjs, and the ESM wrapper's name. */
export const ENTRIES = [
  // The default export is the WebSocket class: its .d.mts names it (a CommonJS module's `default` seen from an ES
  // module is the whole module.exports, so `export { default }` would give TypeScript the namespace).
  { subpath: '.', cjs: 'main.js', types: 'index.js', esm: 'index', defaultExport: 'WebSocket' },
  { subpath: './protocol', cjs: 'protocol/index.js', esm: 'protocol' },
  { subpath: './app', cjs: 'app/index.js', esm: 'app' },
  { subpath: './web', cjs: 'compat/web.js', esm: 'web' },
];

rmSync(join(root, 'dist'), { recursive: true, force: true });
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
writeFileSync(join(root, 'dist/cjs/package.json'), '{ "type": "commonjs" }\n');
writeFileSync(join(root, 'dist/cjs/main.js'), `'use strict';
// CommonJS entry point of 'wireroom', in ws's module shape: the module is the WebSocket class (the default
// export), and every named export is also a property of it (WebSocket.WebSocketServer, WebSocket.Server, ...).
const lib = require('./index.js');
const WebSocket = lib.default;
for (const name of Object.keys(lib)) {
  if (name === 'default' || Object.prototype.hasOwnProperty.call(WebSocket, name)) continue;
  WebSocket[name] = lib[name];
}
// \`import WebSocket from 'wireroom'\` compiled by TypeScript without esModuleInterop reads .default.
Object.defineProperty(WebSocket, 'default', { value: WebSocket, configurable: true });
module.exports = WebSocket;
`);

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
for (const entry of ENTRIES) {
  const cjsFile = join(root, 'dist/cjs', entry.cjs);
  const loaded = require(cjsFile);
  const names = Object.keys(loaded).filter((name) => name !== '__esModule' && name !== 'default').sort();
  const bad = names.filter((name) => !IDENTIFIER.test(name));
  if (bad.length > 0) throw new Error(`${entry.cjs}: export names that an ES module cannot re-export: ${bad.join(', ')}`);
  const esmFile = join(root, 'dist/esm', `${entry.esm}.mjs`);
  mkdirSync(dirname(esmFile), { recursive: true });
  let from = relative(dirname(esmFile), cjsFile).split('\\').join('/');
  if (!from.startsWith('.')) from = `./${from}`;
  const header = `// ES module entry point of 'wireroom${entry.subpath.slice(1)}': re-exports the CommonJS build, so that import and require share one copy.\n`;
  const hasDefault = typeof loaded === 'function';
  writeFileSync(esmFile, `${header}import cjs from '${from}';\n\nexport const {\n${names.map((n) => `  ${n},`).join('\n')}\n} = cjs;\n${hasDefault ? 'export default cjs;\n' : ''}`);
  let typesFrom = from;
  if (entry.types) typesFrom = from.replace(/[^/]+$/, entry.types);
  writeFileSync(esmFile.replace(/\.mjs$/, '.d.mts'), `${header}export * from '${typesFrom}';\n${hasDefault ? `export { ${entry.defaultExport ?? 'default'} as default } from '${typesFrom}';\n` : ''}`);
}
console.log(`built dist/cjs and ${ENTRIES.length} ES module entry points in dist/esm`);
