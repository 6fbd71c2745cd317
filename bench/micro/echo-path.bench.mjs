// The server's per-message cost on the echo path, without the kernel: a built `wireroom` server connection
// over a Duplex that swallows writes, fed chunks of masked client frames; each message is echoed (send ->
// core -> one write per turn). Prints process CPU time per message (user+sys, so other processes' load
// matters less than for wall time). Run one build against another in alternation:
//   node bench/micro/echo-path.bench.mjs <path to the build's connection module (websocket.js)> [size=32] [messages=2000000] [framesPerRead=16]
import { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';

const [entry, sizeArg = '32', countArg = '2000000', perChunkArg = '16'] = process.argv.slice(2);
const lib = await import(entry);
const size = Number(sizeArg);
const total = Number(countArg);
const perChunk = Number(perChunkArg); // frames per socket read: wsload's echo keeps 16 in flight per connection

function maskedFrame(payload) {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = Buffer.alloc(head + 4 + len);
  frame[0] = 0x82;
  if (len < 126) frame[1] = 0x80 | len;
  else if (len < 65536) { frame[1] = 0x80 | 126; frame.writeUInt16BE(len, 2); }
  else { frame[1] = 0x80 | 127; frame.writeBigUInt64BE(BigInt(len), 2); }
  const mask = randomBytes(4);
  mask.copy(frame, head);
  for (let i = 0; i < len; i++) frame[head + 4 + i] = payload[i] ^ mask[i & 3];
  return frame;
}
const chunk = Buffer.concat(Array.from({ length: perChunk }, () => maskedFrame(randomBytes(size))));

let written = 0;
const transport = new Duplex({ read() {}, write(c, e, cb) { written += c.length; cb(); }, writev(cs, cb) { for (const c of cs) written += c.chunk.length; cb(); } });
const ws = new lib.WebSocket();
const options = { role: 'server', protocol: '', extensions: '', deflate: null, connection: lib.resolveConnectionOptions({ maxMessageSize: 1 << 24 }) };
ws._attach(transport, options);
let got = 0;
ws.on('message', (data, isBinary) => { got++; ws.send(data, { binary: isBinary }); });
ws._startReading(Buffer.alloc(0));

const turns = Math.ceil(total / perChunk);
const start = process.cpuUsage();
for (let t = 0; t < turns; t++) {
  transport.emit('data', Buffer.from(chunk)); // a fresh chunk, as a socket read gives: the core unmasks in place
  await new Promise((r) => setImmediate(r)); // one turn: the coalesced write
}
const used = process.cpuUsage(start);
const us = (used.user + used.system) / got;
console.log(JSON.stringify({ entry, size, messages: got, usPerMessage: +us.toFixed(4), written }));
