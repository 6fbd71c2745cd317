// Runs a private redis-server for a test: a free loopback port, a temp data dir, AOF on, stopped by pid.
// When redis-server is missing, tests skip locally with a loud message and fail in CI
// (WIREROOM_REQUIRE_REDIS=1, set by .ci/run).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type AfterHook = { after: (fn: () => void | Promise<void>) => void };

/** The redis-server binary, or undefined when it is not installed. */
export function redisServerPath(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path.length > 0 ? path : undefined;
}

/**
 * For a test body: true when redis-server is available. Otherwise skips the test with a loud message,
 * or throws when Redis is required (CI).
 */
export function requireRedisOrSkip(t: { skip(message?: string): void }): boolean {
  if (redisServerPath() !== undefined) return true;
  const reason = 'redis-server is not installed: apt-get install redis-server';
  if (process.env.WIREROOM_REQUIRE_REDIS) throw new Error(`WIREROOM_REQUIRE_REDIS is set but ${reason}`);
  console.warn(`\n!!! SKIPPING Redis tests: ${reason}\n`);
  t.skip(reason);
  return false;
}

/** A free TCP port on loopback (closed again before returning; good enough for tests). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}

/** A redis-server that can be stopped and started again on the same port and data dir. */
export class TestRedis {
  private child: ChildProcess | undefined;
  private constructor(readonly port: number, readonly dir: string, private readonly extraArgs: readonly string[]) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get pid(): number | undefined {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /** Starts a server stopped (and its data dir removed) after the test. */
  static async start(t: AfterHook, options: { args?: readonly string[] } = {}): Promise<TestRedis> {
    const dir = mkdtempSync(join(tmpdir(), 'wireroom-redis-'));
    const redis = new TestRedis(await freePort(), dir, options.args ?? []);
    t.after(async () => {
      await redis.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    await redis.startAgain();
    return redis;
  }

  /** (Re)starts redis-server on the same port and data dir; resolves once it accepts connections. */
  async startAgain(timeoutMs = 10_000): Promise<void> {
    if (this.pid !== undefined) throw new Error('redis-server is already running');
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
      '--dir', this.dir, '--protected-mode', 'no', '--loglevel', 'warning', '--logfile', '', ...this.extraArgs,
    ];
    const child = spawn(redisServerPath() ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let output = '';
    const collect = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    // Ready once it answers PING over a plain socket (no client library needed here).
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${output}`);
      if (await this.pings()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    throw new Error(`redis-server did not start within ${timeoutMs} ms: ${output}`);
  }

  /** Stops the server by pid (SIGTERM: clean shutdown; SIGKILL: crash) and waits for its exit. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  private async pings(): Promise<boolean> {
    const { connect } = await import('node:net');
    return new Promise<boolean>((resolve) => {
      const socket = connect(this.port, '127.0.0.1');
      let reply = '';
      const done = (ok: boolean): void => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(500, () => done(false));
      socket.on('error', () => done(false));
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (d) => {
        reply += d.toString();
        if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
      });
    });
  }
}
