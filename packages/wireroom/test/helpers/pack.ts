// Packs a workspace package as `npm publish` would and installs tarballs into empty temporary projects, with no
// network (`--offline`: what is not in the npm cache fails loudly instead of being downloaded).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root and the packages' directories. */
export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
export const TOOLKIT_DIR = join(REPO, 'packages/wireroom');
export const CHAT_DIR = join(REPO, 'packages/chat');

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

export function npm(args: string[], cwd: string): string {
  return execFileSync(NPM, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000, env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' } });
}

export interface Packed { readonly file: string; readonly size: number; readonly unpackedSize: number; readonly files: ReadonlyArray<{ path: string; size: number }> }

/**
 * `npm pack` of a package directory into `dest`. The package must be built (`npm test` builds first; the
 * `prepack` script builds when publishing); lifecycle scripts are not run here, so a test does not rebuild.
 */
export function pack(dir: string, dest: string): Packed {
  if (!existsSync(join(dir, 'dist'))) npm(['run', 'build'], dir);
  const [info] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dest], dir)) as Array<{ filename: string; size: number; unpackedSize: number; files: Array<{ path: string; size: number }> }>;
  return { file: join(dest, info!.filename), size: info!.size, unpackedSize: info!.unpackedSize, files: info!.files };
}

/** An empty directory with a package.json, removed after the test. */
export function tempProject(t: { after(fn: () => void): void }, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `wireroom-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true }, null, 2));
  return dir;
}
