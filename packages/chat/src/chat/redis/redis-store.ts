/**
 * A ChatStore on Redis: per room a Stream whose entry IDs are `0-<message id>`, an INCR counter, and
 * dedupe keys with a TTL. `append` is one Lua script that dedupes, assigns the id, XADDs and PUBLISHes
 * the message on the room's channel in one atomic step, so every process sees the publishes in id order.
 */
import type { Redis } from 'ioredis';
import type { ChatMessage } from '../protocol.js';
import { nameKey } from '../sanitize.js';
import {
  StoreUnavailableError, type AppendResult, type ChatStore, type MessagePage, type NameClaim, type NewMessage, type RetentionOptions,
} from '../store.js';
import { idOfEntry, roomKeys, type RoomKeys } from './keys.js';

/**
 * KEYS: seq, log, dedupe key. ARGV: uid, name, text, clientId, dedupe TTL (ms), channel, JSON head, JSON tail,
 * history limit (0: none), history max age in ms (0: none), dedupe key prefix.
 * Returns {duplicate (0|1), id, ts} as strings. TIME is Redis's clock: one clock for every process.
 *
 * Retention happens here, atomically with the append: the oldest entries past the limit or the age leave
 * the stream (at most RETENTION_STEP per append, so lowering the bounds never blocks Redis; the log
 * converges within a few appends), and the dedupe key of each goes with it. With an age, the log and
 * every dedupe key also expire after that long, so an idle room's history goes too. The counter (`seq`)
 * is never trimmed: ids never restart.
 */
const RETENTION_STEP = 100;
const APPEND_LUA = `
local prev = redis.call('GET', KEYS[3])
if prev then
  local sep = string.find(prev, ':', 1, true)
  return {'1', string.sub(prev, 1, sep - 1), string.sub(prev, sep + 1)}
end
local id = tostring(redis.call('INCR', KEYS[1]))
local t = redis.call('TIME')
local ms = math.floor(tonumber(t[2]) / 1000)
local ts = t[1] .. string.format('%03d', ms)
redis.call('XADD', KEYS[2], '0-' .. id, 'ts', ts, 'uid', ARGV[1], 'name', ARGV[2], 'text', ARGV[3], 'cid', ARGV[4])
redis.call('SET', KEYS[3], id .. ':' .. ts, 'PX', ARGV[5])
local limit = tonumber(ARGV[9])
local maxAge = tonumber(ARGV[10])
if limit > 0 or maxAge > 0 then
  local n = tonumber(id)
  local dropIds = -1
  if limit > 0 then dropIds = n - limit end
  local dropBefore = -1
  if maxAge > 0 then dropBefore = tonumber(t[1]) * 1000 + ms - maxAge end
  local start = '-'
  local cut = nil
  for _ = 1, ${RETENTION_STEP} do
    local e = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', 1)[1]
    if not e then break end
    local eid = string.sub(e[1], 3)
    local en = tonumber(eid)
    local ets, ecid = 0, nil
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 'ts' then ets = tonumber(f[i + 1]) elseif f[i] == 'cid' then ecid = f[i + 1] end
    end
    if en >= n or not (en <= dropIds or ets < dropBefore) then break end
    if ecid then
      local key = ARGV[11] .. ecid
      local v = redis.call('GET', key)
      if v and string.sub(v, 1, #eid + 1) == eid .. ':' then redis.call('DEL', key) end
    end
    cut = en + 1
    start = '0-' .. string.format('%d', cut)
  end
  if cut then redis.call('XTRIM', KEYS[2], 'MINID', '0-' .. string.format('%d', cut)) end
  if maxAge > 0 then redis.call('PEXPIRE', KEYS[2], maxAge) end
end
redis.call('PUBLISH', ARGV[6], 'm' .. id .. ' ' .. ARGV[7] .. id .. ',"ts":' .. ts .. ARGV[8])
return {'0', id, ts}
`;

/**
 * KEYS: owners (hash name key → uid), people (hash uid → `<name key>\n<display name>`). ARGV: uid, name, key.
 * Returns {'0'} when another person holds the key, else {'1', previous display name or ''}. Atomic, so two
 * processes cannot both take a name.
 */
const CLAIM_NAME_LUA = `
local owner = redis.call('HGET', KEYS[1], ARGV[3])
if owner and owner ~= ARGV[1] then return {'0'} end
local prev = redis.call('HGET', KEYS[2], ARGV[1])
local previous = ''
if prev then
  local nl = string.find(prev, '\\n', 1, true)
  local oldKey = string.sub(prev, 1, nl - 1)
  previous = string.sub(prev, nl + 1)
  if oldKey ~= ARGV[3] and redis.call('HGET', KEYS[1], oldKey) == ARGV[1] then redis.call('HDEL', KEYS[1], oldKey) end
end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. '\\n' .. ARGV[2])
return {'1', previous}
`;

/** Options of RedisChatStore. */
export interface RedisStoreOptions extends RetentionOptions {
  /** Key prefix. Default `wr:`. */
  readonly prefix?: string;
  /** How long a clientId is remembered for deduplication, in seconds. Default 7 days, at most `historyMaxAgeMs`. */
  readonly dedupeTtlSeconds?: number;
}

type StreamEntry = [id: string, fields: string[]];
type ScriptCall = (...args: Array<string | number>) => Promise<[string, string, string]>;
type ClaimCall = (...args: string[]) => Promise<string[]>;

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
  /** Dedupe key TTL, in ms. */
  private readonly dedupeTtlMs: number;
  private readonly historyLimit: number;
  private readonly historyMaxAgeMs: number;
  private readonly appendScript: ScriptCall;
  private readonly claimScript: ClaimCall;
  /** The two hashes of the names, in one hash slot (`{names}`) so the claim script may touch both. */
  private readonly nameKeys: { readonly owners: string; readonly people: string };
  private closed = false;

  constructor(redis: Redis, options: RedisStoreOptions = {}) {
    this.redis = redis;
    this.prefix = options.prefix ?? 'wr:';
    const { historyLimit, historyMaxAgeMs } = options;
    if (historyLimit !== undefined && !(Number.isSafeInteger(historyLimit) && historyLimit >= 1)) throw new RangeError('historyLimit must be an integer >= 1');
    if (historyMaxAgeMs !== undefined && !(historyMaxAgeMs > 0)) throw new RangeError('historyMaxAgeMs must be > 0');
    this.historyLimit = historyLimit ?? 0;
    this.historyMaxAgeMs = historyMaxAgeMs === undefined ? 0 : Math.ceil(historyMaxAgeMs);
    // A clientId is remembered no longer than its message is kept.
    const dedupeMs = (options.dedupeTtlSeconds ?? 7 * 24 * 3600) * 1000;
    this.dedupeTtlMs = this.historyMaxAgeMs > 0 ? Math.min(dedupeMs, this.historyMaxAgeMs) : dedupeMs;
    // defineCommand: EVALSHA, falling back to EVAL once after a Redis restart emptied the script cache.
    redis.defineCommand('wireroomAppend', { numberOfKeys: 3, lua: APPEND_LUA });
    const commands = redis as unknown as Record<string, ScriptCall>;
    this.appendScript = (commands['wireroomAppend'] as ScriptCall).bind(redis);
    redis.defineCommand('wireroomClaimName', { numberOfKeys: 2, lua: CLAIM_NAME_LUA });
    this.claimScript = ((redis as unknown as Record<string, ClaimCall>)['wireroomClaimName'] as ClaimCall).bind(redis);
    this.nameKeys = { owners: `${this.prefix}{names}:owners`, people: `${this.prefix}{names}:people` };
  }

  async claimName(uid: string, name: string): Promise<NameClaim> {
    this.checkOpen();
    const key = nameKey(name);
    if (key.length === 0) throw new RangeError('a name must have a visible character');
    const reply = await this.run(() => this.claimScript(this.nameKeys.owners, this.nameKeys.people, uid, name, key));
    if (reply[0] !== '1') return { ok: false, reason: 'taken' };
    const previous = reply[1] ?? '';
    return { ok: true, name, previous: previous === '' ? undefined : previous };
  }

  async nameOf(uid: string): Promise<string | undefined> {
    this.checkOpen();
    const value = await this.run(() => this.redis.hget(this.nameKeys.people, uid));
    if (value === null) return undefined;
    return value.slice(value.indexOf('\n') + 1);
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
      reply = await this.appendScript(k.seq, k.log, k.cidPrefix + m.clientId, m.uid, m.name, m.text, m.clientId, this.dedupeTtlMs, k.channel, head, tail,
        this.historyLimit, this.historyMaxAgeMs, k.cidPrefix);
    } catch (err) {
      throw new StoreUnavailableError('Redis is unavailable: nothing was stored', { cause: err });
    }
    return { duplicate: reply[0] === '1', id: Number(reply[1]), ts: Number(reply[2]) };
  }

  async latest(room: string, limit: number): Promise<MessagePage> {
    this.checkOpen();
    // lastId from the counter, not the log: a log emptied by retention must not look like a new room.
    const k = this.keys(room);
    const [entries, last, oldest] = await this.snapshot(k, (tx) => tx.xrevrange(k.log, '+', '-', 'COUNT', limit + 1));
    return this.page(room, entries, limit, true, last, oldest);
  }

  async before(room: string, beforeId: number, limit: number): Promise<MessagePage> {
    this.checkOpen();
    const k = this.keys(room);
    const end = `0-${Math.max(0, Math.min(beforeId, Number.MAX_SAFE_INTEGER) - 1)}`;
    const [entries, last, oldest] = await this.snapshot(k, (tx) => tx.xrevrange(k.log, end, '-', 'COUNT', limit + 1));
    return this.page(room, entries, limit, true, last, oldest);
  }

  async after(room: string, afterId: number, limit: number): Promise<MessagePage> {
    this.checkOpen();
    const k = this.keys(room);
    const start = `0-${Math.max(0, afterId) + 1}`;
    const [entries, last, oldest] = await this.snapshot(k, (tx) => tx.xrange(k.log, start, '+', 'COUNT', limit + 1));
    return this.page(room, entries, limit, false, last, oldest);
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

  /**
   * Reads a range, the counter and the oldest entry's id in one MULTI, so the page, `lastId` and `oldestId`
   * are one snapshot. `oldestId` is `lastId + 1` when the log keeps nothing.
   */
  private async snapshot(k: RoomKeys, range: (tx: ReturnType<Redis['multi']>) => unknown): Promise<[StreamEntry[], number, number]> {
    const results = await this.run(() => {
      const tx = this.redis.multi();
      range(tx);
      tx.get(k.seq);
      tx.xrange(k.log, '-', '+', 'COUNT', 1);
      return tx.exec();
    });
    if (results === null) throw new StoreUnavailableError('Redis transaction aborted');
    for (const [err] of results) if (err) throw new StoreUnavailableError('Redis read failed', { cause: err });
    const last = Number(results[1]![1] ?? 0);
    const first = (results[2]![1] as StreamEntry[])[0];
    return [results[0]![1] as StreamEntry[], last, first !== undefined ? idOfEntry(first[0]) : last + 1];
  }

  private page(room: string, entries: StreamEntry[], limit: number, reversed: boolean, lastId: number, oldestId: number): MessagePage {
    const hasMore = entries.length > limit;
    if (hasMore) entries.length = limit;
    if (reversed) entries.reverse();
    return { messages: entries.map((e) => entryToMessage(room, e)), hasMore, lastId, oldestId };
  }
}
