/**
 * A/B of two builds of `wireroom echo` on the echo scenarios, alternated in one run (A B A B ...), each run in a
 * fresh process; prints server CPU per message for each and the B/A ratio per round and its median.
 *   node --import tsx bench/ab-echo.ts <A: path to bin/wireroom.js> <B: path to bin/wireroom.js> [scenario=echo32] [rounds=4]
 */
import { prepareWsload, runWsload, scenarios, startServer, stopServer } from './lib/wsload.js';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [a, b, name = 'echo32', roundsArg = '4'] = process.argv.slice(2);
if (!a || !b) throw new Error('usage: ab-echo.ts A B [scenario] [rounds]');
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const prepared = prepareWsload(repo, console.log);
if ('error' in prepared) throw new Error(prepared.error);
const sc = scenarios({ duration: 5, warmup: 2, idleHold: 7, idleSettle: 5 }).find((s) => s.name === name)!;
const ratios: number[] = [];
for (let round = 1; round <= Number(roundsArg); round++) {
  const cpu: number[] = [];
  for (const [label, bin] of [['A', a], ['B', b]] as const) {
    const spec = { name: label, label, argv: [process.execPath, bin, 'echo'], raw: false };
    const running = await startServer(spec, 9880);
    try {
      const fields = await runWsload(prepared.wsload, sc, spec, 9880, running.pid);
      cpu.push(Number(fields['srv_us_per_msg']));
    } finally {
      await stopServer(running);
    }
  }
  ratios.push(cpu[1]! / cpu[0]!);
  console.log(`${name} round ${round}: A ${cpu[0]} us/msg, B ${cpu[1]} us/msg, B/A ${(cpu[1]! / cpu[0]!).toFixed(3)}`);
}
ratios.sort((x, y) => x - y);
console.log(`${name}: median B/A ${ratios[Math.floor(ratios.length / 2)]!.toFixed(3)} over ${ratios.length} rounds`);
