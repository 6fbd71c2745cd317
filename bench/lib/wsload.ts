/**
 * The load half of the suite: builds `wsload` (the C load generator of ../shared/bench) from a private copy,
 * starts one server process per run and drives `wsload --pid` against it. The figure that matters is the
 * server's CPU time per message (utime+stime of the server PID from /proc/PID/stat, read by wsload), not the
 * wall-clock rate: on a shared 2-core machine the rate is capped by whatever CPU the server happened to get.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';

export interface ServerSpec {
  /** Short name used in results (`wireroom`, `ws`, `raw`). */
  name: string;
  label: string;
  /** argv; `$PORT` is passed in the environment. */
  argv: string[];
  env?: Record<string, string>;
  /** Raw TCP (no WebSocket): echo on PORT, byte relay on PORT+1. */
  raw: boolean;
  /** Run only in these scenarios (default: all). */
  only?: string[];
}

export interface ScenarioSpec {
  name: string;
  mode: 'echo' | 'fanout' | 'idle';
  args: string[];
}

export interface TimingOptions {
  duration: number;
  warmup: number;
  idleHold: number;
  idleSettle: number;
}

/** The scenarios of issue 7; the same wsload arguments as shared/bench/run.sh. */
export function scenarios(t: TimingOptions): ScenarioSpec[] {
  const d = String(t.duration);
  const w = String(t.warmup);
  return [
    { name: 'echo32', mode: 'echo', args: ['echo', '-c', '64', '-f', '16', '-s', '32', '-d', d, '-w', w] },
    { name: 'echo16k', mode: 'echo', args: ['echo', '-c', '16', '-f', '4', '-s', '16384', '-b', '-d', d, '-w', w] },
    { name: 'echo1m', mode: 'echo', args: ['echo', '-c', '4', '-f', '2', '-s', '1048576', '-b', '-d', d, '-w', w] },
    { name: 'fan1k', mode: 'fanout', args: ['fanout', '-c', '1000', '-s', '32', '-n', '1000000', '-d', d, '-W', '8'] },
    { name: 'fan10k', mode: 'fanout', args: ['fanout', '-c', '10000', '-s', '32', '-n', '1000000', '-d', d, '-W', '8'] },
    { name: 'idle10k', mode: 'idle', args: ['idle', '-c', '10000', '--hold', String(t.idleHold), '--settle', String(t.idleSettle)] },
  ];
}

/**
 * Copies the shared load generator into bench/.work/ (shared/ is read-only) and builds it with make.
 * Returns the path of the built binary and of the copied folder, or null with the reason.
 */
export function prepareWsload(repo: string, log: (line: string) => void): { wsload: string; dir: string } | { error: string } {
  const source = process.env['WSLOAD_SRC'] ? resolve(process.env['WSLOAD_SRC']) : resolve(repo, '../shared/bench');
  if (!existsSync(join(source, 'wsload.c'))) {
    return { error: `the load generator sources were not found at ${source} (expected ../shared/bench next to the checkout, or set WSLOAD_SRC=/path/to/bench)` };
  }
  const dir = join(repo, 'bench/.work/wsload-src');
  const binary = join(dir, 'wsload');
  const fresh = existsSync(binary) && statSync(binary).mtimeMs >= statSync(join(source, 'wsload.c')).mtimeMs;
  if (!fresh) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    cpSync(source, dir, { recursive: true, filter: (p) => !/results-.*\.(log|stderr)$/.test(p) });
    log(`building wsload in ${dir} (make)`);
    const make = spawnSync('make', ['-s', '-C', dir, 'wsload'], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (make.status !== 0 || !existsSync(binary)) return { error: `make failed in ${dir} (needs make and a C compiler)` };
  }
  // The copy sits inside this "type": "module" package; the reference servers are CommonJS.
  writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
  return { wsload: binary, dir };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RunningServer {
  child: ChildProcess;
  pid: number;
  output: () => string;
}

/** Starts a server with the hard RLIMIT_NOFILE as its soft limit (10k connections need it), waits until it listens. */
export async function startServer(spec: ServerSpec, port: number): Promise<RunningServer> {
  if (await portOpen(port)) throw new Error(`port ${port} is already in use`);
  const child = spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'bash', ...spec.argv], {
    env: { ...process.env, ...spec.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { if (output.length < 4096) output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { if (output.length < 4096) output += d.toString(); });
  const ports = spec.raw ? [port, port + 1] : [port];
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) throw new Error(`${spec.name} exited: ${output.trim().split('\n').slice(-3).join(' | ')}`);
    let all = true;
    for (const p of ports) if (!(await portOpen(p))) all = false;
    if (all) {
      await sleep(200);
      return { child, pid: child.pid!, output: () => output };
    }
    await sleep(100);
  }
  await stopServer({ child, pid: child.pid!, output: () => output });
  throw new Error(`${spec.name} did not listen on ${port} within 15 s`);
}

export async function stopServer(server: RunningServer): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export type Fields = Record<string, string>;

/** Parses wsload's one line of key=value pairs. */
export function parseFields(line: string): Fields {
  const out: Fields = {};
  for (const part of line.trim().split(/\s+/)) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** Runs wsload once against a started server; resolves with its key=value fields (rc in `rc`). */
export function runWsload(wsload: string, scenario: ScenarioSpec, server: ServerSpec, port: number, pid: number): Promise<Fields> {
  const args = [...scenario.args];
  if (server.raw) args.push('--raw', '-p', String(scenario.mode === 'fanout' ? port + 1 : port));
  else args.push('-p', String(port));
  args.push('--pid', String(pid));
  return new Promise((done) => {
    const child = spawn(wsload, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => { if (err.length < 2000) err += d.toString(); });
    // wsload bounds itself; this is only a guard against a hang.
    const guard = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code) => {
      clearTimeout(guard);
      const lines = out.trim().split('\n').filter((l) => l.includes('mode='));
      const fields = parseFields(lines[lines.length - 1] ?? '');
      fields['rc'] = String(code ?? -1);
      if (code !== 0 && err) fields['stderr'] = err.trim().split('\n').slice(-1)[0]!.replace(/\s+/g, '_').slice(0, 200);
      done(fields);
    });
  });
}
