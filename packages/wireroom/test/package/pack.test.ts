// The published toolkit as a user gets it: `npm pack`, installed from the tarball into empty projects.
// - it brings no other package (zero runtime dependencies);
// - `require` and `import` of every entry point work, reach one copy of the code (class identity), export the
//   same names;
// - (types.test.ts: its types resolve for TypeScript consumers under node16, nodenext and bundler)
// - hygiene: LICENSE, no source maps without their sources, nothing a user does not need, no install-time build,
//   README links that resolve to files shipped in this very version.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { npm, pack, TOOLKIT_DIR, type Packed } from '../helpers/pack.js';

const T = { timeout: 180_000 };
const pkg = JSON.parse(readFileSync(join(TOOLKIT_DIR, 'package.json'), 'utf8')) as {
  version: string; exports: Record<string, unknown>; scripts: Record<string, string>; dependencies?: object; files: string[];
};
const SUBPATHS = Object.keys(pkg.exports).filter((s) => s !== './package.json').map((s) => `wireroom${s.slice(1)}`);

describe('the packed toolkit in an empty project', () => {
  let project = '';
  let packed: Packed;
  const work = mkdtempSync(join(tmpdir(), 'wireroom-pack-'));
  process.on('exit', () => rmSync(work, { recursive: true, force: true }));

  before(() => {
    packed = pack(TOOLKIT_DIR, work);
    project = join(work, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    npm(['install', '--offline', '--no-audit', '--no-fund', packed.file], project);
  });

  it('installs nothing but wireroom', T, () => {
    const installed = readdirSync(join(project, 'node_modules')).filter((n) => !n.startsWith('.'));
    assert.deepEqual(installed, ['wireroom']);
    assert.equal(pkg.dependencies, undefined, 'no runtime dependencies');
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
    assert.deepEqual(Object.keys(lock.packages).filter((k) => k !== ''), ['node_modules/wireroom']);
  });

  it('ships what a user needs and nothing else, with a LICENSE and no install-time build', T, () => {
    const paths = packed.files.map((f) => f.path);
    for (const needed of ['LICENSE', 'README.md', 'package.json', 'bin/wireroom.js', 'dist/cjs/package.json', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/esm/index.mjs', 'dist/esm/index.d.mts']) {
      assert.ok(paths.includes(needed), `${needed} is in the package`);
    }
    const unexpected = paths.filter((p) => !/^(LICENSE|README\.md|package\.json|bin\/wireroom\.js|docs\/[\w.-]+\.md|dist\/(cjs|esm)\/.+\.(js|mjs|d\.ts|d\.mts|json))$/.test(p));
    assert.deepEqual(unexpected, [], 'no sources, tests, maps or build files');
    assert.match(readFileSync(join(project, 'node_modules/wireroom/LICENSE'), 'utf8'), /^MIT License/);
    for (const p of paths.filter((x) => x.endsWith('.map'))) {
      const map = JSON.parse(readFileSync(join(project, 'node_modules/wireroom', p), 'utf8')) as { sourcesContent?: unknown[] };
      assert.ok(map.sourcesContent?.length, `${p} carries its sources`);
    }
    for (const script of ['prepare', 'preinstall', 'install', 'postinstall']) assert.equal(pkg.scripts[script], undefined, `no ${script} script`);
    assert.ok(pkg.scripts.prepack, 'dist/ is built before packing');
    console.log(`# wireroom ${pkg.version}: packed ${(packed.size / 1024).toFixed(1)} kB, unpacked ${(packed.unpackedSize / 1024).toFixed(1)} kB, ${paths.length} files`);
  });

  it('README links point at files shipped in this version', T, () => {
    const readme = readFileSync(join(project, 'node_modules/wireroom/README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    assert.ok(links.length > 0);
    const paths = new Set(packed.files.map((f) => f.path));
    for (const link of links) {
      const own = /^https:\/\/unpkg\.com\/wireroom@([^/]+)\/(.+)$/.exec(link);
      if (own) {
        assert.equal(own[1], pkg.version, `${link}: the version being published`);
        assert.ok(paths.has(own[2]!.replace(/#.*$/, '')), `${link}: the file ships in the package`);
      } else {
        assert.match(link, /^https:\/\/|^#/, `${link}: absolute (a relative link is dead on the registry's page)`);
      }
    }
  });

  it('require and import of every entry point give the same classes and names', T, () => {
    const script = `
      const assert = require('node:assert/strict');
      const subpaths = ${JSON.stringify(SUBPATHS)};
      (async () => {
        for (const s of subpaths) {
          const cjs = require(s);
          const esm = await import(s);
          const names = (o) => Object.keys(o).filter((k) => k !== '__esModule' && k !== 'default').sort();
          assert.deepEqual(names(esm), names(cjs), s + ': the same exports');
          assert.ok(names(cjs).length > 3, s);
          for (const k of names(cjs)) assert.equal(esm[k], cjs[k], s + ': ' + k + ' is one binding');
        }
        const cjs = require('wireroom'), esm = await import('wireroom');
        assert.ok(cjs.prepareMessage('hi') instanceof esm.PreparedMessage);
        assert.ok(esm.prepareMessage('hi') instanceof cjs.PreparedMessage);
        const server = new cjs.WebSocketServer({ noServer: true });
        assert.ok(server instanceof esm.WebSocketServer);
        await server.close?.();
        assert.ok(new cjs.WireroomError('WS_ERR_INVALID_ARGUMENT', 'x') instanceof esm.WireroomError);
        const app = new (require('wireroom/app').App)();
        assert.ok(app instanceof (await import('wireroom/app')).App);
        const { WebSocketProtocol } = await import('wireroom/protocol');
        assert.equal(WebSocketProtocol, require('wireroom/protocol').WebSocketProtocol);
        assert.equal(require('wireroom/package.json').version, ${JSON.stringify(pkg.version)});
        console.log('ok');
      })().catch((e) => { console.error(e); process.exit(1); });`;
    writeFileSync(join(project, 'consumer.cjs'), script);
    // The same checks from an ES module: import first, then require through createRequire.
    writeFileSync(join(project, 'consumer.mjs'), `import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n${script.replace("const assert = require('node:assert/strict');", "const assert = (await import('node:assert/strict')).default;")}`);
    for (const file of ['consumer.cjs', 'consumer.mjs']) {
      assert.equal(execFileSync(process.execPath, [file], { cwd: project, encoding: 'utf8', timeout: 30_000 }).trim(), 'ok', file);
    }
    const help = execFileSync(process.execPath, ['node_modules/.bin/wireroom', '--version'], { cwd: project, encoding: 'utf8' });
    assert.equal(help.trim(), pkg.version, 'the wireroom command runs');
  });
});
