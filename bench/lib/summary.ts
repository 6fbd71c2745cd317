/**
 * Medians and ratios from raw load runs. Shared by the runner (console table) and the report (docs table).
 */

export interface LoadRun {
  scenario: string;
  /** z*: with permessage-deflate negotiated as Chromium offers it (bench/lib/deflate-load.ts). */
  mode: 'echo' | 'fanout' | 'idle' | 'zecho' | 'zfanout' | 'zidle';
  server: string;
  round: number;
  fields: Record<string, string>;
  banner?: string;
}

/** One figure of a scenario: which wsload field, how to show it, and whether lower is better. */
export interface Metric {
  key: string;
  field: string;
  label: string;
  lowerIsBetter: boolean;
  /** The figure issue 7 sets a target on. */
  primary?: boolean;
}

export const METRICS: Record<LoadRun['mode'], Metric[]> = {
  echo: [
    { key: 'cpu', field: 'srv_us_per_msg', label: 'server CPU µs/msg', lowerIsBetter: true, primary: true },
    { key: 'rate', field: 'msgs_per_s', label: 'msgs/s', lowerIsBetter: false },
    { key: 'p99', field: 'p99_us', label: 'p99 µs', lowerIsBetter: true },
  ],
  fanout: [
    { key: 'cpu', field: 'srv_us_per_delivery', label: 'server CPU µs/delivery', lowerIsBetter: true, primary: true },
    { key: 'rate', field: 'deliveries_per_s', label: 'deliveries/s', lowerIsBetter: false },
    { key: 'p99', field: 'complete_p99_us', label: 'last delivery p99 µs', lowerIsBetter: true },
  ],
  idle: [
    { key: 'mem', field: 'bytes_per_conn', label: 'RSS bytes/conn', lowerIsBetter: true, primary: true },
    { key: 'hs', field: 'connect_rate', label: 'handshakes/s', lowerIsBetter: false, primary: true },
    { key: 'cpu', field: 'srv_us_per_conn', label: 'server CPU µs/handshake', lowerIsBetter: true },
  ],
  zecho: [
    { key: 'cpu', field: 'srv_us_per_msg', label: 'server CPU µs/msg', lowerIsBetter: true, primary: true },
    { key: 'wire', field: 'wire_bytes_per_msg', label: 'wire B/msg out', lowerIsBetter: true },
    { key: 'rate', field: 'msgs_per_s', label: 'msgs/s', lowerIsBetter: false },
  ],
  zfanout: [
    { key: 'cpu', field: 'srv_us_per_delivery', label: 'server CPU µs/delivery', lowerIsBetter: true, primary: true },
    { key: 'wire', field: 'wire_bytes_per_msg', label: 'wire B/delivery', lowerIsBetter: true },
    { key: 'rate', field: 'deliveries_per_s', label: 'deliveries/s', lowerIsBetter: false },
  ],
  zidle: [
    { key: 'mem', field: 'bytes_per_conn', label: 'RSS bytes/conn, idle', lowerIsBetter: true, primary: true },
    { key: 'memActive', field: 'bytes_per_conn_active', label: 'RSS bytes/conn, 1 s after its message', lowerIsBetter: true },
    { key: 'hs', field: 'connect_rate', label: 'handshakes/s', lowerIsBetter: false },
  ],
};

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface SummaryCell {
  median: number | null;
  /** Median of the per-round ratios to the reference server (same round). */
  ratio: number | null;
  min: number | null;
  max: number | null;
}

export interface SummaryRow {
  scenario: string;
  mode: LoadRun['mode'];
  server: string;
  ok: number;
  runs: number;
  cells: Record<string, SummaryCell>;
}

export function summarize(runs: LoadRun[], only?: string[], reference = 'ws'): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const order: string[] = [];
  for (const r of runs) if (!order.includes(r.scenario) && (!only || only.includes(r.scenario))) order.push(r.scenario);
  for (const scenario of order) {
    const these = runs.filter((r) => r.scenario === scenario);
    const mode = these[0]!.mode;
    const serverNames: string[] = [];
    for (const r of these) if (!serverNames.includes(r.server)) serverNames.push(r.server);
    const value = (r: LoadRun, field: string): number | null => {
      if (r.fields['rc'] !== '0' || r.fields[field] === undefined) return null;
      const v = Number(r.fields[field]);
      return Number.isFinite(v) ? v : null;
    };
    for (const server of serverNames) {
      const mine = these.filter((r) => r.server === server);
      const cells: Record<string, SummaryCell> = {};
      for (const m of METRICS[mode]) {
        const vals = mine.map((r) => value(r, m.field)).filter((v): v is number => v !== null);
        const ratios: number[] = [];
        for (const r of mine) {
          const ref = these.find((x) => x.server === reference && x.round === r.round);
          const a = value(r, m.field);
          const b = ref ? value(ref, m.field) : null;
          if (a !== null && b !== null && b > 0) ratios.push(a / b);
        }
        cells[m.key] = { median: median(vals), ratio: median(ratios), min: vals.length ? Math.min(...vals) : null, max: vals.length ? Math.max(...vals) : null };
      }
      rows.push({ scenario, mode, server, ok: mine.filter((r) => r.fields['rc'] === '0').length, runs: mine.length, cells });
    }
  }
  return rows;
}

export function fmtNumber(v: number | null): string {
  if (v === null) return '-';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export const fmtRatio = (v: number | null): string => (v === null ? '-' : `×${v.toFixed(2)}`);

/** Console table: one block per scenario. */
export function formatSummary(rows: SummaryRow[], servers: { name: string; label: string }[]): string {
  const out: string[] = [];
  let last = '';
  for (const row of rows) {
    const metrics = METRICS[row.mode];
    if (row.scenario !== last) {
      last = row.scenario;
      out.push(`== ${row.scenario}: ${metrics.map((m) => `${m.label} (vs ws)`).join(' | ')}`);
    }
    const label = servers.find((s) => s.name === row.server)?.label ?? row.server;
    const cells = metrics.map((m) => `${fmtNumber(row.cells[m.key]!.median).padStart(10)} ${fmtRatio(row.cells[m.key]!.ratio).padEnd(6)}`);
    out.push(`   ${label.padEnd(16)} ${`${row.ok}/${row.runs}`.padEnd(4)} ${cells.join('  ')}`);
  }
  return out.join('\n');
}
