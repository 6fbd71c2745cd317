/**
 * Long fuzz run (`npm run fuzz -- --minutes 120 --seed 42`): random and mutated byte streams into the protocol
 * core, and into a live server over loopback, in rounds until the time is up. Prints progress and the seed of
 * every failing case; exits 1 on the first failure.
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from '../packages/wireroom/src/index.js';
import { fuzzCore } from '../packages/wireroom/test/fuzz/run-core.js';
import { fuzzLive } from '../packages/wireroom/test/fuzz/run-live.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '60' }, seed: { type: 'string' } } });
const minutes = Number(values.minutes);
let seed = values.seed !== undefined ? Number(values.seed) : (Date.now() & 0x7fffffff);
const deadline = Date.now() + minutes * 60_000;
console.log(`fuzzing for ${minutes} min from seed ${seed} (replay a round with --seed)`);

const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true, maxMessageSize: 64 * 1024, closeTimeout: 200 });
await once(server, 'listening');
server.on('connection', (ws: WebSocket) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
const port = server.address()!.port;

let round = 0;
let total = 0;
while (Date.now() < deadline) {
  round++;
  const core = fuzzCore(seed, 20_000);
  if (core.failures.length > 0) {
    console.error(`FAILED in round ${round} (seed ${seed}):\n${core.failures.join('\n')}`);
    process.exit(1);
  }
  const live = await fuzzLive(port, seed, 500);
  total += core.cases + live.cases;
  const rss = Math.round(process.memoryUsage().rss / 1048576);
  console.log(`round ${round} seed ${seed}: ${total} cases, core ${core.messages} messages / ${core.errors} errors, live ${live.upgraded} upgraded / ${live.refused} refused, open ${server.clients.size}, rss ${rss} MiB`);
  seed = (seed + 1) >>> 0;
}
await server.close({ timeout: 1000 });
console.log(`done: ${total} cases, no failure`);
