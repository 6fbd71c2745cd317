/**
 * The compressed half of the load suite: a WebSocket client that offers permessage-deflate exactly as
 * Chromium does (`permessage-deflate; client_max_window_bits`) and sends chat JSON compressed with
 * context takeover, so the server inflates and deflates as it would for browsers. wsload (C) speaks no
 * extension, hence this client.
 *
 * It costs the server nothing it would not pay for a browser, and costs itself little: the client's
 * messages are compressed once, before the run, as one continuous DEFLATE stream (message 0 starts
 * from an empty window, so the sequence can be replayed in a loop without breaking the peer's
 * context), and masked once; the server's replies are parsed for their length only. Connection 0
 * inflates what it receives with a continuous zlib stream and checks every byte (`verify_errors`).
 *
 * Figures, as wsload reports them: the server's CPU (utime+stime from /proc/PID/stat) per round trip
 * or per delivery, its RSS per idle connection, and the wire bytes per message server -> client
 * (frame headers included), since window sizes trade CPU for bytes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import zlib from 'node:zlib';

export type DeflateMode = 'echo' | 'fanout' | 'idle';

export interface DeflateScenario {
  name: string;
  mode: DeflateMode;
  /** Connections. */
  connections: number;
  /** Approximate size of each JSON message. */
  size: number;
  /** Echo: messages in flight per connection; fanout: messages not yet delivered to every subscriber. */
  inFlight: number;
  duration: number;
  warmup: number;
  /** Idle: seconds to wait after the exchange before the "hibernated" RSS reading. */
  settle: number;
  /** Idle: the path to connect to (default `/echo`; e.g. `/chat` to measure the chat server). */
  path?: string;
  /** Idle: go on uncompressed when the server declines deflate (to measure a server with it off). */
  acceptPlain?: boolean;
}

export type Fields = Record<string, string>;

const CHROMIUM_OFFER = 'permessage-deflate; client_max_window_bits';
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

// ------------------------------------------------------------------------------------------ messages
function makeRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
}

const WORDS = (
  'the a to and is in it you that of for on was with this are have be at not but so what just like do can we all get if ' +
  'they my your out about up when will one there how now know see think good time meeting tomorrow deploy build release ' +
  'fixed bug thanks ok sure lol yes no maybe later lunch coffee websocket server client message room review merge test'
).split(' ');
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];

/** Chat envelopes of about `size` bytes: one message for ~200 B, a JSON array of them (a history page) above. */
export function chatJson(count: number, size: number, seed = 42): Buffer[] {
  const random = makeRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const uids = new Map(NAMES.map((n) => [n, randomUUID()]));
  let id = 1000;
  let ts = 1764000000000;
  const envelope = (): object => {
    const name = pick(NAMES);
    ts += Math.floor(random() * 5000);
    const words = Array.from({ length: 4 + Math.floor(random() * 14) }, () => pick(WORDS));
    return { type: 'message', room: 'lobby', id: ++id, ts, uid: uids.get(name), name, text: words.join(' '), clientId: randomUUID() };
  };
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    if (size <= 300) {
      out.push(Buffer.from(JSON.stringify(envelope())));
      continue;
    }
    const items: object[] = [];
    let length = 2;
    while (length < size) {
      const e = envelope();
      items.push(e);
      length += JSON.stringify(e).length + 1;
    }
    out.push(Buffer.from(JSON.stringify({ type: 'history', room: 'lobby', messages: items })));
  }
  return out;
}

/** Masked client frames (text, RSV1) of `messages` compressed as one continuous stream with `windowBits`. */
function precompress(messages: Buffer[], windowBits: number): Buffer[] {
  // One deflateRawSync per message with the window so far as its dictionary: the same bytes a
  // continuous stream would reference (the trick the codec's hibernation relies on), synchronously.
  const frames: Buffer[] = [];
  let history = Buffer.alloc(0);
  const window = 2 ** Math.max(9, windowBits);
  for (const message of messages) {
    const options: zlib.ZlibOptions = { windowBits: Math.max(9, windowBits), finishFlush: zlib.constants.Z_SYNC_FLUSH };
    if (history.length > 0) options.dictionary = history;
    let payload = zlib.deflateRawSync(message, options);
    if (payload.subarray(-4).equals(TRAILER)) payload = payload.subarray(0, -4);
    frames.push(maskedFrame(payload));
    history = Buffer.concat([history, message]);
    if (history.length > window) history = history.subarray(history.length - window);
  }
  return frames;
}

function maskedFrame(payload: Buffer, compressed = true): Buffer {
  const n = payload.length;
  const headerLength = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + 4 + n);
  frame[0] = compressed ? 0x80 | 0x40 | 0x01 : 0x80 | 0x01; // FIN, RSV1 when compressed, text
  if (n < 126) frame[1] = 0x80 | n;
  else if (n < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  const mask = randomBytes(4);
  mask.copy(frame, headerLength);
  for (let i = 0; i < n; i++) frame[headerLength + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

// ------------------------------------------------------------------------------------------ /proc
function serverCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1e6) / 100; // USER_HZ is 100 on Linux
}

function serverRss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

// ------------------------------------------------------------------------------------------ connection
interface Connection {
  socket: Socket;
  /** The negotiated extension line of the 101 ('' when the server declined deflate). */
  extension: string;
  clientWindowBits: number;
  serverWindowBits: number;
  /** Bytes received after the 101, frame headers included. */
  bytesIn: number;
  messagesIn: number;
  onMessage: (payload: Buffer | null) => void;
}

/** Opens a connection from `localAddress` and resolves after a 101 that accepted permessage-deflate. */
function open(port: number, path: string, localAddress: string, keepPayload: boolean, acceptPlain = false): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    socket.setNoDelay(true);
    const key = randomBytes(16).toString('base64');
    let head = Buffer.alloc(0);
    let connection: Connection | null = null;
    // Frame parser state (server frames are unmasked).
    let pending: Buffer = Buffer.alloc(0);
    let fragments: Buffer[] = [];
    const parse = (): void => {
      for (;;) {
        if (pending.length < 2) return;
        const b1 = pending[1]! & 0x7f;
        let offset = 2;
        let length = b1;
        if (b1 === 126) {
          if (pending.length < 4) return;
          length = pending.readUInt16BE(2);
          offset = 4;
        } else if (b1 === 127) {
          if (pending.length < 10) return;
          length = Number(pending.readBigUInt64BE(2));
          offset = 10;
        }
        if (pending.length < offset + length) return;
        const fin = (pending[0]! & 0x80) !== 0;
        const opcode = pending[0]! & 0x0f;
        if (keepPayload && opcode < 8) fragments.push(pending.subarray(offset, offset + length));
        pending = pending.subarray(offset + length);
        if (opcode >= 8) continue; // control frames: none expected from these servers
        if (fin) {
          connection!.messagesIn++;
          const payload = keepPayload ? Buffer.concat(fragments) : null;
          fragments = [];
          connection!.onMessage(payload);
        }
      }
    };
    socket.on('data', (chunk: Buffer) => {
      if (connection !== null) {
        connection.bytesIn += chunk.length;
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        parse();
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const text = head.subarray(0, end).toString('latin1');
      if (!/^HTTP\/1\.1 101/.test(text)) {
        socket.destroy();
        reject(new Error(`handshake refused: ${text.split('\r\n')[0]}`));
        return;
      }
      const extension = /\r\nsec-websocket-extensions:\s*([^\r]*)/i.exec(text)?.[1] ?? '';
      if (!/permessage-deflate/i.test(extension) && !acceptPlain) {
        socket.destroy();
        reject(new Error('the server did not accept permessage-deflate'));
        return;
      }
      const bits = (name: string): number => Number(new RegExp(`${name}=(\\d+)`).exec(extension)?.[1] ?? 15);
      connection = { socket, extension, clientWindowBits: bits('client_max_window_bits'), serverWindowBits: bits('server_max_window_bits'), bytesIn: 0, messagesIn: 0, onMessage: () => {} };
      const rest = head.subarray(end + 4);
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      resolve(connection);
      if (rest.length > 0) {
        connection.bytesIn += rest.length;
        pending = rest;
        parse();
      }
    });
    socket.once('error', reject);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:${port}\r\n` +
        `Sec-WebSocket-Extensions: ${CHROMIUM_OFFER}\r\n\r\n`,
    );
  });
}

/** Opens `count` connections, at most `parallel` handshakes at once, spread over source addresses. */
async function openMany(count: number, port: number, path: string, parallel: number, verifyFirst: boolean, acceptPlain = false): Promise<Connection[]> {
  const out: Connection[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      // 127.0.0.2..250, as wsload: one source address runs out of ports near 28k connections.
      out[i] = await open(port, path, `127.0.0.${2 + (i % 249)}`, verifyFirst && i === 0, acceptPlain);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return out;
}

/** Connection 0's checker: inflates the server's messages as one continuous stream and compares. */
function verifier(expected: (index: number) => Buffer, windowBits: number) {
  const inflate = zlib.createInflateRaw({ windowBits });
  let index = 0;
  let errors = 0;
  let checked = 0;
  let out: Buffer[] = [];
  inflate.on('data', (chunk: Buffer) => out.push(chunk));
  inflate.on('error', () => errors++);
  const queue: Buffer[] = [];
  let busy = false;
  const pump = (): void => {
    if (busy || queue.length === 0) return;
    busy = true;
    inflate.write(Buffer.concat([queue.shift()!, TRAILER]));
    inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      const message = Buffer.concat(out);
      out = [];
      if (!message.equals(expected(index))) errors++;
      index++;
      checked++;
      busy = false;
      pump();
    });
  };
  return {
    push(payload: Buffer): void {
      queue.push(payload);
      pump();
    },
    result: (): { checked: number; errors: number } => ({ checked, errors }),
    close: (): void => inflate.close(),
  };
}

/** The compressed scenarios of `npm run bench` (issue 19): Chromium's offer, chat JSON. */
export function deflateScenarios(t: { duration: number; warmup: number }): DeflateScenario[] {
  const base = { duration: t.duration, warmup: t.warmup, settle: 0 };
  return [
    { name: 'zecho200', mode: 'echo', connections: 50, size: 200, inFlight: 4, ...base },
    { name: 'zecho4k', mode: 'echo', connections: 16, size: 4096, inFlight: 4, ...base },
    { name: 'zecho64k', mode: 'echo', connections: 4, size: 65536, inFlight: 2, ...base },
    { name: 'zfan1k', mode: 'fanout', connections: 1000, size: 200, inFlight: 8, ...base },
    // settle: past the default hibernateAfterMs (5 s) and one sweep period (1.25 s).
    { name: 'zidle10k', mode: 'idle', connections: 10000, size: 200, inFlight: 1, duration: 0, warmup: 0, settle: 8 },
  ];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function closeAll(connections: Connection[]): void {
  for (const c of connections) c?.socket.destroy();
}

// ------------------------------------------------------------------------------------------ scenarios
/** Runs one scenario against a server on `port` whose process is `pid`; returns key=value fields as wsload does. */
export async function runDeflateLoad(scenario: DeflateScenario, port: number, pid: number): Promise<Fields> {
  if (scenario.mode === 'idle') return idle(scenario, port, pid);
  const path = scenario.mode === 'fanout' ? '/broadcast' : '/echo';
  const connections = await openMany(scenario.connections, port, path, 64, true);
  const first = connections[0]!;
  const messages = chatJson(scenario.mode === 'fanout' ? 512 : 256, scenario.size);
  const frames = precompress(messages, first.clientWindowBits);
  const check = verifier((i) => messages[i % messages.length]!, first.serverWindowBits);
  first.onMessage = (payload) => check.push(payload!);
  const fields: Fields = { rc: '0', extension: first.extension.replace(/\s+/g, ''), connections: String(connections.length), msg_bytes: String(Math.round(messages.reduce((s, m) => s + m.length, 0) / messages.length)) };
  fields['client_wire_bytes_per_msg'] = (frames.reduce((s, f) => s + f.length, 0) / frames.length).toFixed(1);
  let measuring = false;
  let counted = 0;
  let stop = false;

  if (scenario.mode === 'echo') {
    for (const c of connections) {
      let sent = 0;
      const send = (): void => {
        if (stop) return;
        c.socket.write(frames[sent % frames.length]!);
        sent++;
      };
      const previous = c.onMessage;
      c.onMessage = (payload) => {
        previous(payload);
        if (measuring) counted++;
        send();
      };
      for (let i = 0; i < scenario.inFlight; i++) send();
    }
  } else {
    // One publisher (connection 0, also a subscriber); at most `inFlight` messages not yet delivered to all.
    const subscribers = connections.length;
    const delivered = new Map<number, number>();
    let published = 0;
    let completed = 0;
    const publish = (): void => {
      while (!stop && published - completed < scenario.inFlight) {
        first.socket.write(frames[published % frames.length]!);
        delivered.set(published, 0);
        published++;
      }
    };
    for (const c of connections) {
      let received = 0;
      const previous = c.onMessage;
      c.onMessage = (payload) => {
        previous(payload);
        const n = received++;
        const count = delivered.get(n)! + 1;
        if (measuring) counted++;
        if (count === subscribers) {
          delivered.delete(n);
          completed++;
          publish();
        } else delivered.set(n, count);
      };
    }
    publish();
  }

  await sleep(scenario.warmup * 1000);
  const bytesBefore = connections.reduce((s, c) => s + c.bytesIn, 0);
  const messagesBefore = connections.reduce((s, c) => s + c.messagesIn, 0);
  const cpuBefore = serverCpuMicros(pid);
  const t0 = process.hrtime.bigint();
  measuring = true;
  await sleep(scenario.duration * 1000);
  measuring = false;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = serverCpuMicros(pid) - cpuBefore;
  const bytes = connections.reduce((s, c) => s + c.bytesIn, 0) - bytesBefore;
  const received = connections.reduce((s, c) => s + c.messagesIn, 0) - messagesBefore;
  stop = true;
  await sleep(300);
  const verified = check.result();
  check.close();
  closeAll(connections);
  const key = scenario.mode === 'echo' ? 'msg' : 'delivery';
  fields[`srv_us_per_${key}`] = counted > 0 ? (cpu / counted).toFixed(2) : 'NaN';
  fields[scenario.mode === 'echo' ? 'msgs_per_s' : 'deliveries_per_s'] = (counted / seconds).toFixed(0);
  fields['srv_cores'] = (cpu / 1e6 / seconds).toFixed(2);
  fields['wire_bytes_per_msg'] = received > 0 ? (bytes / received).toFixed(1) : 'NaN';
  fields['verified'] = String(verified.checked);
  fields['verify_errors'] = String(verified.errors);
  if (verified.errors > 0 || verified.checked === 0) fields['rc'] = '3';
  return fields;
}

/**
 * 10k connections offering deflate as Chromium; each sends one ~200 B chat message and reads its
 * echo, then all stay idle. RSS per connection (over the server's RSS before the first connection)
 * right after the exchange and again `settle` seconds later, once idle codecs could hibernate.
 */
async function idle(scenario: DeflateScenario, port: number, pid: number): Promise<Fields> {
  const rssBefore = serverRss(pid);
  const cpuBefore = serverCpuMicros(pid);
  const t0 = process.hrtime.bigint();
  const connections = await openMany(scenario.connections, port, scenario.path ?? '/echo', 256, false, scenario.acceptPlain === true);
  const connectSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuHandshakes = serverCpuMicros(pid) - cpuBefore;
  const first = connections[0]!;
  const messages = chatJson(64, scenario.size);
  const frames = first.extension === '' ? messages.map((m) => maskedFrame(m, false)) : precompress(messages, first.clientWindowBits);
  let echoed = 0;
  let allEchoed: () => void = () => {};
  const done = new Promise<void>((r) => (allEchoed = r));
  connections.forEach((c, i) => {
    c.onMessage = () => {
      if (++echoed === connections.length) allEchoed();
    };
    // Each connection's first message: frame 0 starts from an empty window, so any index-0 frame will do.
    c.socket.write(frames[0]!);
    void i;
  });
  await Promise.race([done, sleep(60_000)]);
  await sleep(1000);
  const rssActive = serverRss(pid);
  await sleep(scenario.settle * 1000);
  const rssIdle = serverRss(pid);
  const bytesIn = connections.reduce((s, c) => s + c.bytesIn, 0);
  closeAll(connections);
  const n = connections.length;
  return {
    rc: echoed === n ? '0' : '4',
    extension: first.extension.replace(/\s+/g, ''),
    connections: String(n),
    echoed: String(echoed),
    bytes_per_conn: ((rssIdle - rssBefore) / n).toFixed(0),
    bytes_per_conn_active: ((rssActive - rssBefore) / n).toFixed(0),
    connect_rate: (n / connectSeconds).toFixed(0),
    srv_us_per_conn: (cpuHandshakes / n).toFixed(1),
    wire_bytes_per_msg: (bytesIn / n).toFixed(1),
  };
}
