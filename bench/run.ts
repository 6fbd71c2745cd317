/**
 * `npm run bench`: Wireroom against ws (+bufferutil) and a raw node:net echo, side by side.
 *
 *   npm run bench                         # full: 3 rounds x 5 s, every scenario, micro + chat (~12 min)
 *   npm run bench:quick                   # 1 round x 2 s (~2-3 min)
 *   npm run bench -- --scenarios echo32,fan1k --rounds 5 --no-micro
 *   npm run bench -- --scenarios zecho200,zecho4k,zecho64k,zfan1k,zidle10k --no-micro --no-chat   # compressed only
 *
 * Compressed scenarios (z*) use bench/lib/deflate-load.ts, a client offering permessage-deflate as Chromium does,
 * against Wireroom's echo (deflate on by default), ws with its deflate defaults (the reference) and ws given
 * Wireroom's settings (ws-13: 13-bit windows, memLevel 6); they report the wire bytes per message beside the CPU.
 *
 * Load scenarios use wsload (C, from ../shared/bench, copied into bench/.work/ and built with make). For every
 * scenario and round the servers run in turn (wireroom, ws, raw, wireroom, ws, raw, ...), each in a fresh
 * process; wsload reads the server's CPU time from /proc/PID/stat. Figures are medians over rounds; ratios are
 * the median of the per-round ratios to ws (same round, so the machine's noise is shared).
 * Raw results go to bench/results/latest.json (--out FILE to keep another); `node --import tsx bench/report.ts`
 * regenerates docs/benchmarks.md and the chart from it.
 */
import { execSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runChatBench, type ChatResult } from './lib/chat-load.js';
import { summarize, formatSummary, type LoadRun } from './lib/summary.js';
import { prepareWsload, runWsload, scenarios, startServer, stopServer, type ServerSpec } from './lib/wsload.js';
import { deflateScenarios, runDeflateLoad } from './lib/deflate-load.js';
import { formatMicro, runMicro, type MicroResult } from './micro/protocol.bench.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    scenarios: { type: 'string' },
    servers: { type: 'string', default: 'wireroom,ws,raw,floor,ws-13' },
    'no-micro': { type: 'boolean', default: false },
    'no-load': { type: 'boolean', default: false },
    'no-chat': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    port: { type: 'string', default: '9740' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  console.log(`usage: npm run bench -- [options]
  --quick              1 round, 2 s windows, short idle hold (~2-3 min in all)
  --rounds N           rounds per scenario and server (default 3; quick 1)
  --duration S         measured seconds per echo/fanout run (default 5; quick 2)
  --warmup S           echo warm-up seconds (default 2; quick 1)
  --scenarios LIST     echo32,echo16k,echo1m,fan1k,fan10k,idle10k,
                       zecho200,zecho4k,zecho64k,zfan1k,zidle10k (compressed; default: all)
  --servers LIST       wireroom,ws,raw,floor,ws-13 (default: all; ws is the reference of the ratios;
                       floor, a node:net server that only answers the 101, runs in idle10k only;
                       raw and floor do not run the compressed scenarios, ws-13 runs only those)
  --no-micro --no-load --no-chat   skip a part
  --no-build           do not run \`npm run build\` first
  --port N             base port (default 9740; moves up by 20 when taken)
  --out FILE           raw results (default bench/results/latest.json)
environment: WSLOAD_SRC=/path/to/shared/bench (default ../shared/bench)`);
  process.exit(0);
}

const quick = opt.quick;
const rounds = Number(opt.rounds ?? (quick ? 1 : 3));
const timing = {
  duration: Number(opt.duration ?? (quick ? 2 : 5)),
  warmup: Number(opt.warmup ?? (quick ? 1 : 2)),
  idleHold: quick ? 2 : 7,
  idleSettle: quick ? 2 : 5,
};
const basePort = Number(opt.port);
const outFile = resolve(opt.out ?? join(repo, 'bench/results/latest.json'));

// ------------------------------------------------------------------------------------------ progress output
const t0 = Date.now();
const tty = process.stderr.isTTY;
const elapsed = (): string => {
  const s = Math.round((Date.now() - t0) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};
let progressShown = false;
function progress(text: string): void {
  const line = `[${elapsed()}] ${text}`;
  if (tty) {
    process.stderr.write(`\r\x1b[K${line}`);
    progressShown = true;
  } else process.stderr.write(`${line}\n`);
}
function log(text: string): void {
  if (progressShown) process.stderr.write('\r\x1b[K');
  progressShown = false;
  process.stderr.write(`${text}\n`);
}

// ------------------------------------------------------------------------------------------ setup
const nodeModules = join(repo, 'node_modules');
const requireVersion = (pkg: string): string | null => {
  try {
    return (JSON.parse(readFileSync(join(nodeModules, pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
};

if (!opt['no-build']) {
  progress('npm run build');
  const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.status !== 0) {
    log('npm run build failed: benchmarking the existing dist/ (if any)');
  }
}

const git = (cmd: string): string => {
  try {
    return execSync(`git ${cmd}`, { cwd: repo, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return '';
  }
};

const meta = {
  date: new Date().toISOString(),
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim().replace(/ --$/, ''),
  commit: git('rev-parse --short HEAD'),
  dirty: git('status --porcelain -- packages/wireroom/src packages/chat/src').length > 0,
  dirtyFiles: git('status --porcelain -- packages/wireroom/src packages/chat/src').split('\n').filter(Boolean).map((l) => l.slice(3)),
  node: process.version,
  ws: requireVersion('ws'),
  bufferutil: requireVersion('bufferutil'),
  cpu: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
  memGiB: Math.round(totalmem() / 2 ** 30),
  kernel: release(),
  loadavgStart: loadavg().map((x) => Number(x.toFixed(2))),
  loadavgEnd: [] as number[],
  rounds,
  ...timing,
  wsload: null as string | null,
  loadSkipped: null as string | null,
};

const servers: ServerSpec[] = [
  { name: 'wireroom', label: 'Wireroom', argv: [process.execPath, join(repo, 'packages/wireroom/bin/wireroom.js'), 'echo'], raw: false },
  { name: 'ws', label: 'ws + bufferutil', argv: [], env: { WS_NODE_MODULES: nodeModules }, raw: false },
  { name: 'raw', label: 'raw node:net', argv: [], raw: true },
  // The least any Node.js server must do per handshake (accept, one read, SHA-1, one write, hold the socket):
  // the floor of the handshake rate and of the memory per idle connection, which raw TCP connects understate.
  { name: 'floor', label: '101-only floor', argv: [process.execPath, join(repo, 'bench/servers/handshake-floor.cjs')], raw: false, only: ['idle10k'] },
  { name: 'ws-13', label: 'ws, deflate 13/6', argv: [], raw: false, only: [] },
].filter((s) => opt.servers.split(',').includes(s.name));

const runs: LoadRun[] = [];
let micro: MicroResult | null = null;
let chat: ChatResult[] = [];

function save(): void {
  mkdirSync(dirname(outFile), { recursive: true });
  meta.loadavgEnd = loadavg().map((x) => Number(x.toFixed(2)));
  writeFileSync(outFile, `${JSON.stringify({ meta, runs, micro, chat }, null, 1)}\n`);
}

// ------------------------------------------------------------------------------------------ load scenarios
async function loadScenarios(): Promise<void> {
  const built = prepareWsload(repo, log);
  if ('error' in built) {
    meta.loadSkipped = built.error;
    log(`LOAD SCENARIOS SKIPPED: ${built.error}`);
    return;
  }
  meta.wsload = built.wsload;
  for (const s of servers) {
    if (s.name === 'ws') s.argv = [process.execPath, join(built.dir, 'servers/ws-server.js')];
    if (s.name === 'raw') s.argv = [process.execPath, join(built.dir, 'servers/tcp-server.js')];
  }
  const wanted = (opt.scenarios ?? 'echo32,echo16k,echo1m,fan1k,fan10k,idle10k').split(',');
  const list = scenarios(timing).filter((s) => wanted.includes(s.name));
  const serversFor = (scenario: string): ServerSpec[] => servers.filter((s) => s.only === undefined || s.only.includes(scenario));
  const total = rounds * list.reduce((sum, sc) => sum + serversFor(sc.name).length, 0);
  let done = 0;
  const started = Date.now();
  for (const sc of list) {
    for (let round = 1; round <= rounds; round++) {
      for (const [i, server] of serversFor(sc.name).entries()) {
        let port = basePort + 2 * i;
        const eta = done > 0 ? Math.round(((Date.now() - started) / done) * (total - done) / 1000) : null;
        progress(`load ${done + 1}/${total}: ${sc.name} round ${round}/${rounds} ${server.label}` + (eta === null ? '' : `  (~${Math.floor(eta / 60)}m${String(eta % 60).padStart(2, '0')}s left)`));
        let fields: Record<string, string>;
        let banner = '';
        try {
          // Another user of the machine may hold the port (shared/bench/run.sh defaults to 9300): move up.
          let running = null;
          let attempt = 0;
          while (running === null) {
            try {
              running = await startServer(server, port + 20 * attempt);
            } catch (error) {
              if (attempt >= 4 || !/already in use/.test(String((error as Error).message))) throw error;
              attempt++;
            }
          }
          port += 20 * attempt;
          fields = await runWsload(built.wsload, sc, server, port, running.pid);
          banner = running.output().split('\n')[0] ?? '';
          await stopServer(running);
        } catch (error) {
          fields = { rc: '99', error: String((error as Error).message).replace(/\s+/g, '_') };
        }
        runs.push({ scenario: sc.name, mode: sc.mode, server: server.name, round, fields, banner });
        done++;
        if (fields['rc'] !== '0') log(`  ${sc.name} ${server.name} round ${round}: FAILED rc=${fields['rc']} ${fields['error'] ?? fields['stderr'] ?? ''}`);
        save();
        await new Promise((r) => setTimeout(r, 1000)); // let TIME_WAIT and the last process's exit settle
      }
    }
    log(formatSummary(summarize(runs, [sc.name]), servers));
  }
}

// ------------------------------------------------------------------------------------------ compressed scenarios
const ALL_DEFLATE_SCENARIOS = ['zecho200', 'zecho4k', 'zecho64k', 'zfan1k', 'zidle10k'];

/** The server of `name` for the compressed scenarios (Wireroom's echo negotiates deflate by default). */
function deflateServer(name: string): ServerSpec | null {
  const wsDeflate = join(repo, 'bench/servers/ws-deflate-server.cjs');
  switch (name) {
    case 'wireroom':
      return { name, label: 'Wireroom', argv: [process.execPath, join(repo, 'packages/wireroom/bin/wireroom.js'), 'echo'], raw: false };
    case 'ws':
      return { name, label: 'ws + bufferutil', argv: [process.execPath, wsDeflate], env: { WS_NODE_MODULES: nodeModules, WS_DEFLATE: 'default' }, raw: false };
    case 'ws-13':
      return { name, label: 'ws, deflate 13/6', argv: [process.execPath, wsDeflate], env: { WS_NODE_MODULES: nodeModules, WS_DEFLATE: 'wireroom' }, raw: false };
    default:
      return null; // raw TCP and the 101-only floor speak no deflate
  }
}

async function deflateLoadScenarios(): Promise<void> {
  const wanted = (opt.scenarios ?? ALL_DEFLATE_SCENARIOS.join(',')).split(',');
  const list = deflateScenarios(timing).filter((s) => wanted.includes(s.name));
  const zServers = servers.map((s) => deflateServer(s.name)).filter((s): s is ServerSpec => s !== null);
  const total = rounds * list.length * zServers.length;
  let done = 0;
  for (const sc of list) {
    for (let round = 1; round <= rounds; round++) {
      for (const [i, server] of zServers.entries()) {
        const port = basePort + 2 * i;
        progress(`compressed ${done + 1}/${total}: ${sc.name} round ${round}/${rounds} ${server.label}`);
        let fields: Record<string, string>;
        let banner = '';
        try {
          const running = await startServer(server, port);
          try {
            fields = await runDeflateLoad(sc, port, running.pid);
          } finally {
            banner = running.output().split('\n')[0] ?? '';
            await stopServer(running);
          }
        } catch (error) {
          fields = { rc: '99', error: String((error as Error).message).replace(/\s+/g, '_') };
        }
        runs.push({ scenario: sc.name, mode: `z${sc.mode}` as LoadRun['mode'], server: server.name, round, fields, banner });
        done++;
        if (fields['rc'] !== '0') log(`  ${sc.name} ${server.name} round ${round}: FAILED rc=${fields['rc']} ${fields['error'] ?? ''}`);
        save();
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    log(formatSummary(summarize(runs, [sc.name]), [...servers, ...zServers]));
  }
}

// ------------------------------------------------------------------------------------------ main
log(`wireroom bench: servers=${servers.map((s) => s.name).join(',')} rounds=${rounds} duration=${timing.duration}s node ${process.version} ws ${meta.ws} bufferutil ${meta.bufferutil} load avg ${meta.loadavgStart.join(' ')}`);
if (!opt['no-load']) {
  const wanted = opt.scenarios?.split(',');
  if (wanted === undefined || wanted.some((s) => !ALL_DEFLATE_SCENARIOS.includes(s))) await loadScenarios();
  if (wanted === undefined || wanted.some((s) => ALL_DEFLATE_SCENARIOS.includes(s))) await deflateLoadScenarios();
}
if (!opt['no-chat']) {
  for (const synchronous of ['FULL', 'NORMAL'] as const) {
    chat.push(await runChatBench(repo, { duration: timing.duration, quick, synchronous }, progress, log));
    save();
  }
}
if (!opt['no-micro']) {
  micro = runMicro(quick ? 2 : 3, quick ? 150 : 250, progress);
  log(formatMicro(micro));
  save();
}
save();
log(`\n==== summary (server CPU per message, ratio to ws in the same round; lower is better) ====`);
if (runs.length) log(formatSummary(summarize(runs), servers));
for (const c of chat) log(c.summary);
log(`raw results: ${outFile}  (regenerate docs: node --import tsx bench/report.ts ${outFile})  total ${elapsed()}`);
