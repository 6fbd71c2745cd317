// The packed toolkit's types as TypeScript consumers see them: an empty project with the tarball installed, a
// consumer compiled by the repository's tsc under moduleResolution node16, nodenext and bundler, as an ES module
// (.mts: the `import` condition, dist/esm/*.d.mts) and as CommonJS (.cts: the `require` condition,
// dist/cjs/*.d.ts). One case also checks the package's declaration files themselves (skipLibCheck off).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { npm, pack, REPO, TOOLKIT_DIR } from '../helpers/pack.js';

const T = { timeout: 120_000 };
const TSC = createRequire(join(REPO, 'package.json')).resolve('typescript/bin/tsc');

describe('TypeScript consumers of the packed toolkit', () => {
  let project = '';
  const work = mkdtempSync(join(tmpdir(), 'wireroom-types-'));
  process.on('exit', () => rmSync(work, { recursive: true, force: true }));

  before(() => {
    const packed = pack(TOOLKIT_DIR, work);
    project = join(work, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    npm(['install', '--offline', '--no-audit', '--no-fund', packed.file], project);
  });

  const CASES = [
    { resolution: 'node16', module: 'node16', format: 'esm', libCheck: false },
    { resolution: 'node16', module: 'node16', format: 'cjs', libCheck: false },
    { resolution: 'nodenext', module: 'nodenext', format: 'esm', libCheck: true },
    { resolution: 'nodenext', module: 'nodenext', format: 'cjs', libCheck: false },
    { resolution: 'bundler', module: 'preserve', format: 'esm', libCheck: false },
    { resolution: 'bundler', module: 'preserve', format: 'cjs', libCheck: false },
  ] as const;
  for (const c of CASES) {
    it(`types resolve under moduleResolution ${c.resolution}, ${c.format === 'esm' ? 'ES module' : 'CommonJS'} consumer`, T, () => {
      const dir = join(project, `ts-${c.resolution}-${c.format}`);
      mkdirSync(dir);
      const file = c.format === 'esm' ? 'consumer.mts' : 'consumer.cts';
      // bundler + CommonJS: `import x = require()` takes the `require` condition.
      const imports = c.format === 'cjs' && c.resolution === 'bundler'
        ? `import wireroom = require('wireroom');\nimport protocol = require('wireroom/protocol');\nimport appModule = require('wireroom/app');\nimport webModule = require('wireroom/web');\nconst { WebSocketServer, prepareMessage, PreparedMessage } = wireroom;\nconst { WebSocketProtocol } = protocol;\nconst { App, WebSocketHandler } = appModule;\nconst { SessionCookie, refuse, trustedHeaderIdentity } = wireroom;\nconst WebSocket = wireroom.default;\ntype WebSocket = InstanceType<typeof wireroom.WebSocket>;\nconst WebWebSocket = webModule.WebSocket;\ntype ServerOptions = wireroom.ServerOptions;\n`
        : `import WebSocket, { WebSocketServer, prepareMessage, PreparedMessage, type ServerOptions } from 'wireroom';\nimport { WebSocketProtocol } from 'wireroom/protocol';\nimport { App, WebSocketHandler } from 'wireroom/app';\nimport { SessionCookie, refuse, trustedHeaderIdentity } from 'wireroom';\nimport { WebSocket as WebWebSocket } from 'wireroom/web';\n`;
      writeFileSync(join(dir, file), `${imports}
const options: ServerOptions = { noServer: true, maxMessageSize: 1024 };
const server: InstanceType<typeof WebSocketServer> = new WebSocketServer(options);
const prepared: InstanceType<typeof PreparedMessage> = prepareMessage('hello');
const app = new App();
// @ts-expect-error: the types are real, not any
const wrong: number = new WebSocketServer({ noServer: true });
// ws's shape: the default export is the class, typed as a class (usable as a type), with WebSocket.Server.
const client: WebSocket = new WebSocket('ws://127.0.0.1:1', ['chat'], { maxPayload: 1024 });
const sent: boolean = client.send(42, (error?: Error) => void error);
const wsServer: InstanceType<typeof WebSocketServer> = new WebSocket.Server({ noServer: true });
const web: InstanceType<typeof WebWebSocket> = new WebWebSocket('ws://127.0.0.1:1');
const state: number = web.readyState;
// identity (issue 18): the hook's type flows to this.identity; helpers typed.
const sessions = new SessionCookie({ keys: ['k'.repeat(32)] });
class Who extends WebSocketHandler<string> { onMessage(): void { const me: string = this.identity; void me; } }
const routed = new App({ identify: sessions.identify() }).websocket('/w', (req) => new Who(req), { identify: (req) => (req.headers.cookie ? 'x' : refuse(401)) });
const proxied = new WebSocketServer({ noServer: true, identify: trustedHeaderIdentity({ header: 'X-User', trustedProxies: ['127.0.0.1'] }) });
const identity: unknown = client.identity;
export { server, prepared, app, wrong, WebSocketProtocol, client, sent, wsServer, state, routed, proxied, identity };
`);
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: {
          module: c.module, moduleResolution: c.resolution, target: 'ES2022', strict: true, noEmit: true, skipLibCheck: !c.libCheck,
          types: ['node'], typeRoots: [join(REPO, 'node_modules/@types')],
        },
        files: [file],
      }));
      let output = '';
      try {
        output = execFileSync(process.execPath, [TSC, '-p', dir, '--traceResolution'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      } catch (error) {
        const e = error as { stdout?: string };
        assert.fail(`tsc failed:\n${(e.stdout ?? '').split('\n').filter((l) => /error TS/.test(l)).join('\n')}`);
      }
      const expected = c.format === 'esm' ? 'dist/esm/index.d.mts' : 'dist/cjs/index.d.ts';
      assert.match(output, new RegExp(`Module name 'wireroom' was successfully resolved to '[^']*node_modules/wireroom/${expected.replace(/\./g, '\\.')}'`));
    });
  }
});
