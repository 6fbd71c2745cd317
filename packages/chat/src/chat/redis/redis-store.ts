/**
 * A ChatStore on Redis: per room a Stream whose entry IDs are `0-<message id>`, an INCR counter, and
 * dedupe keys with a TTL. `append` is one Lua script that dedupes, assigns the id, XADDs and PUBLISHes
 * the message on the room's channel in one atomic step, so every process sees the publishes in id order.
 */
import type { Redis } from 'ioredis';
import type { ChatMessage } from '../protocol.js';
import { StoreUnavailableError, type AppendResult, type ChatStore, type MessagePage, type NewMessage } from '../store.js';
import { idOfEntry, roomKeys, type RoomKeys } from './keys.js';

/**
 * KEYS: seq, log, dedupe key. ARGV: uid, name, text, clientId, dedupe TTL (s), channel, JSON head, JSON tail.
 * Returns {duplicate (0|1), id, ts} as strings. TIME is Redis's clock: one clock for every process.
 */
const APPEND_LUA = `
local prev = redis.call('GET', KEYS[3])
if prev then
  local sep = string.find(prev, ':', 1, true)
  return {'1', string.sub(prev, 1, sep - 1), string.sub(prev, sep + 1)}
end
local id = tostring(redis.call('INCR', KEYS[1]))
local t = redis.call('TIME')
local ts = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
redis.call('XADD', KEYS[2], '0-' .. id, 'ts', ts, 'uid', ARGV[1], 'name', ARGV[2], 'text', ARGV[3], 'cid', ARGV[4])
redis.call('SET', KEYS[3], id .. ':' .. ts, 'EX', ARGV[5])
redis.call('PUBLISH', ARGV[6], 'm' .. id .. ' ' .. ARGV[7] .. id .. ',"ts":' .. ts .. ARGV[8])
return {'0', id, ts}
`;

/** Options of RedisChatStore. */
export interface RedisStoreOptions {
  /** Key prefix. Default `wr:`. */
  readonly prefix?: string;
  /** How long a clientId is remembered for deduplication, in seconds. Default 7 days. */
  readonly dedupeTtlSeconds?: number;
}

type StreamEntry = [id: string, fields: string[]];
type ScriptCall = (...args: Array<string | number>) => Promise<[string, string, string]>;

/** Turns a stream entry into the wire form of the message. */
export function entryToMessage(room: string, [entryId, fields]: StreamEntry): ChatMessage {
  let ts = 0, uid = '', name = '', text = '', clientId = '';
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1] as string;
    switch (fields[i]) {
      case 'ts': ts = Number(value); break;
      case 'uid': uid = value; break;
      case 'name': name = value; break;
      case 'text': text = value; break;
      case 'cid': clientId = value; break;
    }
  }
  return { room, id: idOfEntry(entryId), ts, uid, name, text, clientId };
}

/** The history in Redis. Uses the shared command connection; does not own it. */
export class RedisChatStore implements ChatStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly dedupeTtl: number;
  private readonly appendScript: ScriptCall;
  private closed = false;

  constructor(redis: Redis, options: RedisStoreOptions = {}) {
    this.redis = redis;
    this.prefix = options.prefix ?? 'wr:';
    this.dedupeTtl = options.dedupeTtlSeconds ?? 7 * 24 * 3600;
    // defineCommand: EVALSHA, falling back to EVAL once after a Redis restart emptied the script cache.
    redis.defineCommand('wireroomAppend', { numberOfKeys: 3, lua: APPEND_LUA });
    const commands = redis as unknown as Record<string, ScriptCall>;
    this.appendScript = (commands['wireroomAppend'] as ScriptCall).bind(redis);
  }

  keys(room: string): RoomKeys {
    return roomKeys(room, this.prefix);
  }

  async append(m: NewMessage): Promise<AppendResult> {
    this.checkOpen();
    const k = this.keys(m.room);
    // The envelope around id and ts, in messageEnvelope()'s field order: the script splices them in.
    const head = `{"type":"message","room":${JSON.stringify(m.room)},"id":`;
    const tail = `,"uid":${JSON.stringify(m.uid)},"name":${JSON.stringify(m.name)},"text":${JSON.stringify(m.text)},"clientId":${JSON.stringify(m.clientId)}}`;
    let reply: [string, string, string];
    try {
      reply = await this.appendScript(k.seq, k.log, k.cidPrefix + m.clientId, m.uid, m.name, m.text, m.clientId, this.dedupeTtl, k.channel, head, tail);
    } catch (err) {
      throw new StoreUnavailableError('Redis is unavailable: nothing was stored', { cause: err });
    }
    return { duplicate: reply[0] === '1', id: Number(reply[1]), ts: Number(reply[2]) };
  }

  async latest(room: string, limit: number): Promise<MessagePage> {
    this.checkOpen();
    const entries = await this.run(() => this.redis.xrevrange(this.keys(room).log, '+', '-', 'COUNT', limit + 1) as Promise<StreamEntry[]>);
    const lastId = entries.length > 0 ? idOfEntry(entries[0]![0]) : 0;
    return this.page(room, entries, limit, true, lastId);
  }

  async before(room: string, beforeId: number, limit: number): Promise<MessagePage> {
    this.checkOpen();
    const k = this.keys(room);
    if (beforeId <= 1) return { messages: [], hasMore: false, lastId: await this.lastId(room) };
    const end = `0-${Math.min(beforeId, Number.MAX_SAFE_INTEGER) - 1}`;
    const [entries, last] = await this.snapshot(k, (tx) => tx.xrevrange(k.log, end, '-', 'COUNT', limit + 1));
    return this.page(room, entries, limit, true, last);
  }

  async after(room: string, afterId: number, limit: number): Promise<MessagePage> {
    this.checkOpen();
    const k = this.keys(room);
    const start = `0-${Math.max(0, afterId) + 1}`;
    const [entries, last] = await this.snapshot(k, (tx) => tx.xrange(k.log, start, '+', 'COUNT', limit + 1));
    return this.page(room, entries, limit, false, last);
  }

  async lastId(room: string): Promise<number> {
    this.checkOpen();
    return Number((await this.run(() => this.redis.get(this.keys(room).seq))) ?? 0);
  }

  /** Stops serving; the connection belongs to whoever opened it. */
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreUnavailableError('the store is closed');
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw new StoreUnavailableError('Redis is unavailable', { cause: err });
    }
  }

  /** Reads a range and the counter in one MULTI, so `lastId` and the page are one snapshot. */
  private async snapshot(k: RoomKeys, range: (tx: ReturnType<Redis['multi']>) => unknown): Promise<[StreamEntry[], number]> {
    const results = await this.run(() => {
      const tx = this.redis.multi();
      range(tx);
      tx.get(k.seq);
      return tx.exec();
    });
    if (results === null) throw new StoreUnavailableError('Redis transaction aborted');
    for (const [err] of results) if (err) throw new StoreUnavailableError('Redis read failed', { cause: err });
    return [results[0]![1] as StreamEntry[], Number(results[1]![1] ?? 0)];
  }

  private page(room: string, entries: StreamEntry[], limit: number, reversed: boolean, lastId: number): MessagePage {
    const hasMore = entries.length > limit;
    if (hasMore) entries.length = limit;
    if (reversed) entries.reverse();
    return { messages: entries.map((e) => entryToMessage(room, e)), hasMore, lastId };
  }
}
