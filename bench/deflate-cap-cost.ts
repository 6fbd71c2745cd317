/**
 * What the cap on live zlib contexts (`maxLiveContexts`) costs at normal loads: K connections all
 * exchanging chat messages within one idle period (every round, every connection sends one ~200 B
 * chat message and gets one back, in a shuffled order, all at once), with the cap at 1024, 2048 and
 * none. Reports the process CPU per round trip (both ends' codecs run here: the client ends are the
 * same work in every cell, so differences are the server's) and the evictions per message.
 *
 *   node --import tsx bench/deflate-cap-cost.ts [--pairs=250,500,1000] [--caps=1024,2048,Infinity] [--rounds=4] [--reps=3]
 *
 * The cells alternate (cap A, B, C, A, B, C, ...) so a noisy machine hits all of them; medians of the reps.
 */
import { liveContextPoolFor, PerMessageDeflate } from '../packages/wireroom/src/compression/permessage-deflate.js';
import type { NegotiatedDeflate } from '../packages/wireroom/src/protocol/extensions/permessage-deflate-negotiation.js';

function list(name: string, fallback: string): number[] {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
  return found.split(',').map((x) => (x === 'Infinity' ? Infinity : Number(x)));
}

const pairsList = list('pairs', '250,500,1000');
const caps = list('caps', '1024,2048,Infinity');
const rounds = list('rounds', '4')[0]!;
const reps = list('reps', '3')[0]!;
const params: NegotiatedDeflate = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 13, clientMaxWindowBits: 13 };

function compress(codec: PerMessageDeflate, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => codec.compress(data, (error, payload) => (error ? reject(error) : resolve(payload!))));
}
function decompress(codec: PerMessageDeflate, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => codec.decompress(payload, true, Infinity, (error, message) => (error ? reject(error) : resolve(message!))));
}

let seed = 7;
function random(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x80000000;
}

function chat(i: number, r: number): Buffer {
  return Buffer.from(JSON.stringify({ type: 'message', room: 'general', id: `m${r}-${i}`, user: { id: `u${i % 97}`, name: `user ${i % 97}` }, text: `message ${Math.floor(random() * 1e6)} in round ${r}`, ts: 1764000000000 + r * 1000 + i }));
}

async function cell(pairs: number, cap: number): Promise<{ usPerRoundTrip: number; evictionsPerMessage: number; peak: number }> {
  const pool = liveContextPoolFor(cap);
  const servers = Array.from({ length: pairs }, () => new PerMessageDeflate('server', params, { maxLiveContexts: cap, hibernateAfterMs: Infinity }));
  // The client ends in a pool of their own (a cap never reached), so the peaks count the server ends only.
  const clients = servers.map(() => new PerMessageDeflate('client', params, { maxLiveContexts: 1e9, hibernateAfterMs: Infinity }));
  const round = async (r: number): Promise<void> => {
    const order = servers.map((_, i) => i).sort(() => random() - 0.5);
    await Promise.all(order.map(async (i) => {
      const up = chat(i, r);
      if (!(await decompress(servers[i]!, await compress(clients[i]!, up))).equals(up)) throw new Error('mismatch up');
      const down = chat(i + 1, r);
      if (!(await decompress(clients[i]!, await compress(servers[i]!, down))).equals(down)) throw new Error('mismatch down');
    }));
  };
  await round(0); // every context created once
  pool.resetPeak();
  const evictedBefore = pool.evicted;
  const before = process.cpuUsage();
  for (let r = 1; r <= rounds; r++) await round(r);
  const cpu = process.cpuUsage(before);
  const result = { usPerRoundTrip: (cpu.user + cpu.system) / (pairs * rounds), evictionsPerMessage: (pool.evicted - evictedBefore) / (pairs * rounds * 2), peak: pool.peak };
  for (const c of [...servers, ...clients]) c.close();
  return result;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`node ${process.version}; 13-bit windows both ways, default level/memLevel; ${rounds} measured rounds x ${reps} alternated reps per cell`);
console.log('| pairs active | cap | CPU / round trip (µs), median (min-max) | × no cap | evictions / message | peak live contexts |');
console.log('|---:|---:|---|---:|---:|---:|');
for (const pairs of pairsList) {
  const results = new Map<number, Array<Awaited<ReturnType<typeof cell>>>>();
  for (let rep = 0; rep < reps; rep++) {
    for (const cap of caps) {
      const r = await cell(pairs, cap);
      results.set(cap, [...(results.get(cap) ?? []), r]);
    }
  }
  const base = median(results.get(Infinity)?.map((r) => r.usPerRoundTrip) ?? [NaN]);
  for (const cap of caps) {
    const rs = results.get(cap)!;
    const us = rs.map((r) => r.usPerRoundTrip);
    const m = median(us);
    console.log(`| ${pairs} | ${cap} | ${m.toFixed(0)} (${Math.min(...us).toFixed(0)}-${Math.max(...us).toFixed(0)}) | ×${(m / base).toFixed(2)} | ${median(rs.map((r) => r.evictionsPerMessage)).toFixed(2)} | ${Math.max(...rs.map((r) => r.peak))} |`);
  }
}
