/**
 * Regenerates the figures in docs/benchmarks.md (between the `generated` markers) and the chart
 * docs/images/bench-ratios.svg from a raw result file written by `npm run bench`.
 *
 *   node --import tsx bench/report.ts [bench/results/latest.json]
 *
 * Everything outside the markers in docs/benchmarks.md is prose and is left alone.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChatResult } from './lib/chat-load.js';
import { fmtNumber, fmtRatio, METRICS, summarize, type LoadRun, type SummaryRow } from './lib/summary.js';
import type { MicroResult } from './micro/protocol.bench.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const resultFile = resolve(process.argv[2] ?? join(repo, 'bench/results/latest.json'));
const docFile = join(repo, 'packages/wireroom/docs/benchmarks.md');
const svgFile = join(repo, 'packages/wireroom/docs/images/bench-ratios.svg');

interface Results {
  meta: Record<string, unknown> & { rounds: number; duration: number; command: string; date: string };
  runs: LoadRun[];
  micro: MicroResult | null;
  chat: ChatResult[] | ChatResult | null;
}
const results = JSON.parse(readFileSync(resultFile, 'utf8')) as Results;
const rows = summarize(results.runs);
const row = (scenario: string, server: string): SummaryRow | undefined => rows.find((r) => r.scenario === scenario && r.server === server);
const LABEL: Record<string, string> = { wireroom: 'Wireroom', ws: 'ws + bufferutil', raw: 'raw node:net', floor: '101-only floor' };

/**
 * The Node floor of a scenario: raw node:net for echo and fan-out; for idle connections the server that only
 * answers the 101 (raw TCP connects do no handshake at all), when the run has it.
 */
function floorOf(scenario: string): string {
  return scenario === 'idle10k' && row(scenario, 'floor') ? 'floor' : 'raw';
}

/** The targets of issue 7, on the primary figure of each scenario. */
interface Target {
  scenario: string;
  metric: string;
  what: string;
  /** Ratio to ws that meets the target. */
  ratio: number;
  higherIsBetter?: boolean;
  unit: string;
}
const TARGETS: Target[] = [
  { scenario: 'echo32', metric: 'cpu', what: 'echo 32 B text, 64 conns × 16 in flight', ratio: 0.25, unit: 'server CPU µs/msg' },
  { scenario: 'echo16k', metric: 'cpu', what: 'echo 16 KiB binary, 16 × 4', ratio: 0.75, unit: 'server CPU µs/msg' },
  { scenario: 'echo1m', metric: 'cpu', what: 'echo 1 MiB binary, 4 × 2', ratio: 0.9, unit: 'server CPU µs/msg' },
  { scenario: 'fan1k', metric: 'cpu', what: 'broadcast 32 B to 1,000', ratio: 0.2, unit: 'server CPU µs/delivery' },
  { scenario: 'fan10k', metric: 'cpu', what: 'broadcast 32 B to 10,000', ratio: 0.2, unit: 'server CPU µs/delivery' },
  { scenario: 'idle10k', metric: 'mem', what: 'idle connections at 10,000', ratio: 0.75, unit: 'RSS bytes/conn' },
  { scenario: 'idle10k', metric: 'hs', what: 'handshakes per second (10,000 connects)', ratio: 1.5, higherIsBetter: true, unit: 'handshakes/s' },
];

function targetTable(): string {
  const out = [
    '| scenario | figure | Wireroom | ws + bufferutil | Node floor | Wireroom × ws | floor × ws | target | met |',
    '|---|---|---:|---:|---:|---:|---:|---:|:---:|',
  ];
  for (const t of TARGETS) {
    const w = row(t.scenario, 'wireroom')?.cells[t.metric];
    const ws = row(t.scenario, 'ws')?.cells[t.metric];
    const floor = floorOf(t.scenario);
    const raw = row(t.scenario, floor)?.cells[t.metric];
    if (!w && !ws) continue;
    const ratio = w?.ratio ?? null;
    const met = ratio === null ? '?' : (t.higherIsBetter ? ratio >= t.ratio : ratio <= t.ratio) ? 'yes' : '**no**';
    const rawNote = floor === 'floor' ? ' (101 only)' : t.metric === 'hs' && raw ? ' (TCP only)' : '';
    out.push(`| ${t.scenario} — ${t.what} | ${t.unit} | ${fmtNumber(w?.median ?? null)} | ${fmtNumber(ws?.median ?? null)} | ${fmtNumber(raw?.median ?? null)}${rawNote} | **${ratio === null ? '-' : `×${ratio.toFixed(3)}`}** | ${fmtRatio(raw?.ratio ?? null)} | ${t.higherIsBetter ? '≥' : '≤'} ×${t.ratio} | ${met} |`);
  }
  const fan10k = row('fan10k', 'wireroom')?.cells['p99'];
  if (fan10k && fan10k.median !== null) {
    const s = fan10k.median / 1e6;
    const wsS = (row('fan10k', 'ws')?.cells['p99']?.median ?? 0) / 1e6;
    out.push(`| fan10k — last delivery of a message to 10,000 (p99 of publish → last subscriber) | seconds | ${s.toFixed(3)} | ${wsS.toFixed(3)} | ${fmtNumber(((row('fan10k', 'raw')?.cells['p99']?.median) ?? 0) / 1e6)} | ${fmtRatio(fan10k.ratio)} | ${fmtRatio(row('fan10k', 'raw')?.cells['p99']?.ratio ?? null)} | ≤ 0.3 s | ${s <= 0.3 ? 'yes' : '**no**'} |`);
  }
  return out.join('\n');
}

function fullTable(): string {
  const out = ['| scenario | server | ok/runs | figure | median | min–max | × ws |', '|---|---|---|---|---:|---:|---:|'];
  for (const r of rows) {
    for (const m of METRICS[r.mode]) {
      const c = r.cells[m.key]!;
      out.push(`| ${r.scenario} | ${LABEL[r.server] ?? r.server} | ${r.ok}/${r.runs} | ${m.label} | ${fmtNumber(c.median)} | ${fmtNumber(c.min)}–${fmtNumber(c.max)} | ${fmtRatio(c.ratio)} |`);
    }
  }
  return out.join('\n');
}

function microTable(): string {
  const m = results.micro;
  if (!m) return '_not run_';
  const fmt = (v: number, unit: string): string => (unit === 'GB/s' ? v.toFixed(2) : fmtNumber(v));
  const out = [
    `Best of ${m.meta.rounds} rounds of ${m.meta.timeMs} ms CPU each, alternated; per CPU second of the benchmark process. Mask kernel: \`${m.meta.maskBackend}\`; ws ${m.meta.ws ?? 'missing'}${m.meta.bufferutil ? ' with bufferutil' : ''}.`,
    '',
    '| group | case | unit | Wireroom | ws | Wireroom ÷ ws (higher = faster) |',
    '|---|---|---|---:|---:|---:|',
  ];
  for (const r of m.rows) out.push(`| ${r.group} | ${r.case} | ${r.unit} | ${fmt(r.wireroom, r.unit)} | ${r.ws === null ? '-' : fmt(r.ws, r.unit)} | ${r.ws ? `×${(r.wireroom / r.ws).toFixed(2)}` : '-'} |`);
  return out.join('\n');
}

function chatSection(): string {
  const list = results.chat === null ? [] : Array.isArray(results.chat) ? results.chat : [results.chat];
  if (list.length === 0) return '_not run_';
  const out = ['| SQLite `synchronous` | members | senders × in flight | messages/s persisted (acked) | deliveries/s | server CPU µs/message | server CPU µs/delivery | server cores | client cores | ack p50 / p99 ms |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const c of list) {
    if (!c.available) {
      out.push(`| ${c.synchronous ?? '?'} | skipped: ${c.reason} | | | | | | | | |`);
      continue;
    }
    out.push(`| ${c.synchronous} | ${c.members} | ${c.senders} × ${c.window} | ${fmtNumber(c.persistedPerSec)} | ${fmtNumber(c.deliveriesPerSec)} | ${fmtNumber(c.serverCpuUsPerMessage)} | ${fmtNumber(c.serverCpuUsPerDelivery)} | ${c.serverCores.toFixed(2)} | ${(c.clientCores ?? 0).toFixed(2)} | ${c.ackP50Ms.toFixed(0)} / ${c.ackP99Ms.toFixed(0)} |`);
  }
  return out.join('\n');
}

function metaTable(): string {
  const m = results.meta as Record<string, unknown>;
  const la = (v: unknown): string => (Array.isArray(v) ? v.join(' / ') : '?');
  return [
    '| item | value |',
    '|---|---|',
    `| date | ${m['date']} |`,
    `| command | \`${m['command']}\` |`,
    `| commit | ${m['commit']}${m['dirty'] ? ` (with uncommitted changes in src/${Array.isArray(m['dirtyFiles']) ? `: ${(m['dirtyFiles'] as string[]).join(', ')}` : ''})` : ''} |`,
    `| machine | ${m['cpu']}, ${m['memGiB']} GiB, Linux ${m['kernel']} |`,
    `| load average (1/5/15 min) at start / end | ${la(m['loadavgStart'])} — ${la(m['loadavgEnd'])} (2 cores: anything above 2 means other work competed) |`,
    `| Node.js | ${m['node']} |`,
    `| ws / bufferutil | ${m['ws']} / ${m['bufferutil']} |`,
    `| rounds × measured seconds (echo warm-up) | ${m['rounds']} × ${m['duration']} s (${m['warmup']} s); idle hold ${m['idleHold']} s, settle ${m['idleSettle']} s |`,
  ].join('\n');
}

// ------------------------------------------------------------------------------------------------ chart
function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Horizontal bars, log scale: how many times better than ws (ws = 1). Hand-written SVG, no dependencies. */
function chart(): string {
  const items: { label: string; target: number; values: { server: string; v: number | null }[] }[] = [];
  for (const t of TARGETS) {
    const better = (server: string): number | null => {
      const r = row(t.scenario, server)?.cells[t.metric]?.ratio ?? null;
      if (r === null || r <= 0) return null;
      return t.higherIsBetter ? r : 1 / r;
    };
    if (!row(t.scenario, 'wireroom')) continue;
    items.push({
      label: t.metric === 'hs' ? 'handshakes/s' : t.metric === 'mem' ? 'idle10k RSS/conn' : `${t.scenario} CPU/msg`,
      target: t.higherIsBetter ? t.ratio : 1 / t.ratio,
      values: [{ server: 'wireroom', v: better('wireroom') }, { server: 'raw', v: floorOf(t.scenario) === 'floor' ? better('floor') : t.metric === 'hs' ? null : better('raw') }],
    });
  }
  const colors: Record<string, string> = { wireroom: '#2563eb', raw: '#9ca3af' };
  const left = 150, width = 460, barH = 12, gap = 4, groupGap = 14, top = 46;
  const lo = Math.log2(0.25), hi = Math.log2(32);
  const x = (v: number): number => left + ((Math.log2(Math.min(Math.max(v, 0.25), 32)) - lo) / (hi - lo)) * width;
  const height = top + items.length * (2 * barH + gap + groupGap) + 40;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${left + width + 40} ${height}" width="${left + width + 40}" height="${height}" font-family="system-ui, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${left}" y="16" font-size="13" font-weight="600">Times better than ws + bufferutil (same round; log scale; ws = 1)</text>`,
    `<text x="${left}" y="32" fill="#555">CPU and memory: ws ÷ server; handshakes: server ÷ ws. Black tick: target of issue 7.</text>`,
  ];
  for (const v of [0.25, 0.5, 1, 2, 4, 8, 16, 32]) {
    parts.push(`<line x1="${x(v)}" y1="${top - 4}" x2="${x(v)}" y2="${height - 30}" stroke="${v === 1 ? '#111' : '#e5e7eb'}" stroke-width="${v === 1 ? 1.5 : 1}"/>`);
    parts.push(`<text x="${x(v)}" y="${height - 16}" text-anchor="middle" fill="#555">${v}×</text>`);
  }
  let y = top;
  for (const it of items) {
    parts.push(`<text x="${left - 8}" y="${y + barH + 3}" text-anchor="end">${escapeXml(it.label)}</text>`);
    for (const { server, v } of it.values) {
      if (v !== null) {
        const x0 = x(1), x1 = x(v);
        parts.push(`<rect x="${Math.min(x0, x1)}" y="${y}" width="${Math.max(1, Math.abs(x1 - x0))}" height="${barH}" fill="${colors[server]}"/>`);
        // Worse than ws: the bar goes left and its label sits left of it, clear of the target tick.
        parts.push(v >= 1
          ? `<text x="${Math.max(x1, x(it.target) + 2) + 4}" y="${y + barH - 2}" fill="#333">${v.toFixed(2)}×</text>`
          : `<text x="${x1 - 4}" y="${y + barH - 2}" text-anchor="end" fill="#b91c1c">${v.toFixed(2)}×</text>`);
      }
      y += barH + gap;
    }
    const tx = x(it.target);
    parts.push(`<line x1="${tx}" y1="${y - 2 * (barH + gap) - 2}" x2="${tx}" y2="${y - barH - gap + 2}" stroke="#111" stroke-width="2.5"/>`);
    y += groupGap - gap;
  }
  const ly = height - 4;
  parts.push(`<rect x="${left}" y="${ly - 9}" width="10" height="10" fill="${colors['wireroom']}"/><text x="${left + 14}" y="${ly}">Wireroom</text>`);
  parts.push(`<rect x="${left + 90}" y="${ly - 9}" width="10" height="10" fill="${colors['raw']}"/><text x="${left + 104}" y="${ly}">Node floor: raw node:net; idle10k: a server that only answers the 101</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

// ------------------------------------------------------------------------------------------------ write
const generated = [
  '<!-- generated:start (node --import tsx bench/report.ts; do not edit by hand) -->',
  `Raw results: \`${relative(repo, resultFile)}\`.`,
  '',
  '### Machine and versions',
  '',
  metaTable(),
  '',
  '### Targets (server CPU per message as a ratio to ws in the same round; lower is better unless marked ≥)',
  '',
  targetTable(),
  '',
  '![Times better than ws, per scenario](images/bench-ratios.svg)',
  '',
  '### Every figure (medians over rounds; × ws = median of the per-round ratios)',
  '',
  fullTable(),
  '',
  '### Micro-benchmarks (in process, Wireroom vs ws\'s own Receiver / Sender / unmask)',
  '',
  microTable(),
  '',
  '### Chat throughput (src/chat/server.ts: JSON envelopes, SQLite group commit, broadcast to the room)',
  '',
  chatSection(),
  '<!-- generated:end -->',
].join('\n');

let doc = readFileSync(docFile, 'utf8');
const start = doc.indexOf('<!-- generated:start');
const end = doc.indexOf('<!-- generated:end -->');
if (start < 0 || end < 0) throw new Error(`${docFile}: the generated markers are missing`);
doc = doc.slice(0, start) + generated + doc.slice(end + '<!-- generated:end -->'.length);
writeFileSync(docFile, doc);
writeFileSync(svgFile, chart());
console.log(`wrote ${relative(repo, docFile)} and ${relative(repo, svgFile)} from ${relative(repo, resultFile)}`);
