// The published type declarations show the public API only: every member marked @internal in the sources is
// stripped from dist/**/*.d.ts (tsconfig.build.json: stripInternal). `npm test` builds dist/ first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function files(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(suffix) && !e.name.endsWith('.d.ts.map'))
    .map((e) => join(e.parentPath ?? e.path, e.name));
}

/** Names of class members and properties documented `@internal` in a source file. */
function internalNames(source: string): string[] {
  const names: string[] = [];
  const re = /\/\*\*(?:(?!\*\/)[\s\S])*@internal(?:(?!\*\/)[\s\S])*\*\/\s*(?:static\s+|readonly\s+|get\s+|set\s+|async\s+)*([A-Za-z_$][\w$]*)\s*[(:?=<!]/g;
  for (const m of source.matchAll(re)) names.push(m[1]!);
  return names;
}

test('no member marked @internal appears in the published .d.ts files', () => {
  const dist = join(ROOT, 'dist', 'cjs');
  assert.ok(existsSync(dist), 'dist/ is built (npm test runs the build first)');
  let checked = 0;
  for (const src of files(join(ROOT, 'src'), '.ts')) {
    if (src.includes(`${join('src', 'web')}`)) continue;
    const names = internalNames(readFileSync(src, 'utf8'));
    if (names.length === 0) continue;
    const dts = join(dist, relative(join(ROOT, 'src'), src)).replace(/\.ts$/, '.d.ts');
    assert.ok(existsSync(dts), `${dts} exists`);
    const text = readFileSync(dts, 'utf8');
    const source = readFileSync(src, 'utf8');
    for (const name of new Set(names)) {
      // A public member elsewhere in the file may share the name (an option of the same name): the .d.ts may
      // declare the name only as often as the source declares it without @internal.
      const member = new RegExp(`^\\s*(?:static\\s+|readonly\\s+|get\\s+|set\\s+)*${name.replace(/\$/g, '\\$')}\\s*[(:?<=!]`, 'gm');
      const declared = source.match(member)?.length ?? 0;
      const internal = names.filter((n) => n === name).length;
      const published = text.match(member)?.length ?? 0;
      assert.ok(published === 0 || published <= declared - internal, `${relative(ROOT, dts)} publishes the internal member ${name}`);
      checked++;
    }
  }
  assert.ok(checked >= 20, `checked ${checked} internal members`);
});

test('the connection class publishes its API and nothing underscored', () => {
  const text = readFileSync(join(ROOT, 'dist/cjs/connection/websocket.d.ts'), 'utf8');
  for (const name of ['send', 'sendPrepared', 'ping', 'pong', 'close', 'terminate', 'pause', 'resume', 'bufferedAmount', 'readyState']) {
    assert.match(text, new RegExp(`\\b${name}\\b`), `${name} is published`);
  }
  const underscored = text.split('\n').filter((l) => /^\s*(?:get\s+|set\s+|readonly\s+)*_\w+\s*[(:?]/.test(l));
  assert.deepEqual(underscored, []);
});
