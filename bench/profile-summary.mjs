#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`) by self time: top functions and top files.
//
//   node bench/profile-summary.mjs PROFILE.cpuprofile [--top 25]
//
// Self time of a node = the sampling intervals (timeDeltas) attributed to it; functions are merged by
// name + file + line, files by URL; percentages are of busy (non-idle) time ("(native)" for V8/C++ frames such as (garbage collector), (program)).
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
const topIndex = args.indexOf('--top');
const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 25;
if (!file) {
  console.error('usage: node bench/profile-summary.mjs PROFILE.cpuprofile [--top N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map(); // node id -> µs
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const all = [...self.values()].reduce((a, b) => a + b, 0);
// Percentages are of busy time: the (idle) node is the event loop waiting in epoll.
let idle = 0;
for (const [id, us] of self) if (byId.get(id).callFrame.functionName === '(idle)') idle += us;
const total = all - idle;

const shortUrl = (url) => {
  if (!url) return '(native)';
  const m = url.match(/\/(dist|src|node_modules)\/(.*)$/);
  if (m) return `${m[1]}/${m[2]}`;
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
};
const fnKey = (n) => `${n.callFrame.functionName || '(anonymous)'}  ${shortUrl(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;

const byFn = new Map();
const byFile = new Map();
for (const [id, us] of self) {
  const n = byId.get(id);
  if (n.callFrame.functionName === '(idle)') continue;
  byFn.set(fnKey(n), (byFn.get(fnKey(n)) ?? 0) + us);
  const f = shortUrl(n.callFrame.url);
  byFile.set(f, (byFile.get(f) ?? 0) + us);
}
const show = (title, map, n) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(`${((100 * us) / total).toFixed(1).padStart(6)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  }
};
console.log(`${file}: ${(all / 1e6).toFixed(2)} s sampled, ${(total / 1e6).toFixed(2)} s busy (${((100 * total) / all).toFixed(0)}%), ${profile.samples.length} samples; % below = share of busy time`);
show(`top ${top} functions by self time`, byFn, top);
show('by file (self time)', byFile, 15);
