/**
 * Presence in Redis with expiry. Per room a sorted set (person uid scored by the time its entry expires), a
 * hash (uid → `<joinedAt>|<name>`), and per person present a sorted set of their connections (connection id
 * scored by its expiry): a person leaves when their last connection does (two tabs are one member). Each process refreshes the entries of its own members every
 * `ttlMs / 3`; a crashed process stops refreshing, so its members expire and drop out. The refresh
 * also sweeps expired entries atomically, so exactly one process announces each of them as a `leave`.
 * Times come from Redis (TIME), one clock for every process.
 */
import type { Redis } from 'ioredis';
import type { Member } from '../protocol.js';
import type { PresenceChange, PresenceRegistry } from '../presence.js';
import { StoreUnavailableError } from '../store.js';
import { encodeEvent, roomKeys, type RoomKeys } from './keys.js';

/** Lua helpers shared by the scripts: `now` in ms and the live members as a flat {uid, value, ...}. */
const COMMON = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function live()
  local uids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
  local out = {}
  for i = 1, #uids, 500 do
    local chunk = {}
    for j = i, math.min(i + 499, #uids) do chunk[#chunk + 1] = uids[j] end
    local values = redis.call('HMGET', KEYS[2], unpack(chunk))
    for j = 1, #chunk do out[#out + 1] = chunk[j]; out[#out + 1] = values[j] or ('0|' .. chunk[j]) end
  end
  return out
end
`;

/**
 * KEYS: members, names. ARGV: uid, name, ttl ms, conns prefix, connection id.
 * Returns {1 when the person was not in the room before, else 0; live members}.
 */
const JOIN_LUA = `${COMMON}
local ttl = tonumber(ARGV[3])
local ck = ARGV[4] .. ARGV[1]
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local present = score and tonumber(score) > now
redis.call('ZADD', ck, now + ttl, ARGV[5])
redis.call('PEXPIRE', ck, ttl * 2)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
local prev = redis.call('HGET', KEYS[2], ARGV[1])
local joined = now
if prev and present then joined = string.sub(prev, 1, string.find(prev, '|', 1, true) - 1) end
redis.call('HSET', KEYS[2], ARGV[1], joined .. '|' .. ARGV[2])
local changed = 1
if present then changed = 0 end
return {changed, live()}
`;

/**
 * KEYS: members, names. ARGV: uid, conns prefix, connection id.
 * Returns {1 when that was the person's last live connection in the room, else 0; live members}.
 */
const LEAVE_LUA = `${COMMON}
local ck = ARGV[2] .. ARGV[1]
redis.call('ZREM', ck, ARGV[3])
redis.call('ZREMRANGEBYSCORE', ck, '-inf', now)
local changed = 0
if redis.call('ZCARD', ck) == 0 then
  redis.call('DEL', ck)
  if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then changed = 1 end
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return {changed, live()}
`;

/** KEYS: members, names. */
const MEMBERS_LUA = `${COMMON}
return live()
`;

/**
 * KEYS: members, names. ARGV: ttl ms, conns prefix, then uid, connection id, name triples of this process's
 * connections. Extends (or re-adds) them, removes the people none of whose connections was refreshed in time;
 * returns {{expired uid, value...}, {live...}, {re-added uid, value...}}.
 */
const REFRESH_LUA = `${COMMON}
local ttl = tonumber(ARGV[1])
local back = {}
for i = 3, #ARGV, 3 do
  local ck = ARGV[2] .. ARGV[i]
  redis.call('ZADD', ck, now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', ck, ttl * 2)
  if redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) == 1 then
    back[#back + 1] = ARGV[i]; back[#back + 1] = now .. '|' .. ARGV[i + 2]
  end
  redis.call('HSETNX', KEYS[2], ARGV[i], now .. '|' .. ARGV[i + 2])
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = {}
for i = 1, #expired do
  local v = redis.call('HGET', KEYS[2], expired[i])
  gone[#gone + 1] = expired[i]; gone[#gone + 1] = v or ('0|' .. expired[i])
  redis.call('ZREM', KEYS[1], expired[i])
  redis.call('HDEL', KEYS[2], expired[i])
  redis.call('DEL', ARGV[2] .. expired[i])
end
return {gone, live(), back}
`;

type Script = (...args: Array<string | number>) => Promise<unknown>;

/** Options of RedisPresence. */
export interface RedisPresenceOptions {
  readonly prefix?: string;
  /** A member not refreshed for this long is gone (its process crashed). Default 30,000 ms. */
  readonly ttlMs?: number;
  readonly logError?: (context: string, error: unknown) => void;
}

/** Turns the flat {uid, "joinedAt|name", ...} reply into members in joining order, at most `limit`. */
function toMembers(flat: unknown, limit: number): Member[] {
  const list = flat as string[];
  const rows: Array<{ uid: string; name: string; joined: number }> = [];
  for (let i = 0; i + 1 < list.length; i += 2) {
    const value = list[i + 1] as string;
    const bar = value.indexOf('|');
    rows.push({ uid: list[i] as string, joined: Number(value.slice(0, bar)), name: value.slice(bar + 1) });
  }
  rows.sort((a, b) => a.joined - b.joined || (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
  return rows.slice(0, limit).map(({ uid, name }) => ({ uid, name }));
}

function unavailableOnError(reply: Promise<unknown>): Promise<unknown> {
  return reply.catch((err: unknown) => {
    throw new StoreUnavailableError('Redis is unavailable', { cause: err });
  });
}

/** Presence shared by every process on the same Redis. */
export class RedisPresence implements PresenceRegistry {
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly log: (context: string, error: unknown) => void;
  /** This process's connections in each room: room → connection id → person. */
  private readonly local = new Map<string, Map<string, { uid: string; name: string }>>();
  private readonly timer: NodeJS.Timeout;
  private readonly scripts: Record<'join' | 'leave' | 'members' | 'refresh', Script>;
  private closed = false;

  constructor(private readonly redis: Redis, options: RedisPresenceOptions = {}) {
    this.prefix = options.prefix ?? 'wr:';
    this.ttlMs = options.ttlMs ?? 30_000;
    this.log = options.logError ?? (() => {});
    const define = (name: string, lua: string): Script => {
      redis.defineCommand(name, { numberOfKeys: 2, lua });
      return ((redis as unknown as Record<string, Script>)[name] as Script).bind(redis);
    };
    this.scripts = {
      join: define('wireroomPresenceJoin', JOIN_LUA),
      leave: define('wireroomPresenceLeave', LEAVE_LUA),
      members: define('wireroomPresenceMembers', MEMBERS_LUA),
      refresh: define('wireroomPresenceRefresh', REFRESH_LUA),
    };
    this.timer = setInterval(() => void this.refresh(), Math.max(100, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  private keys(room: string): RoomKeys {
    return roomKeys(room, this.prefix);
  }

  async join(room: string, member: Member, connection: string, limit: number): Promise<PresenceChange> {
    if (this.closed) return { members: [], changed: false };
    let conns = this.local.get(room);
    if (!conns) this.local.set(room, (conns = new Map()));
    // Remembered first: if Redis is down now, the next refresh adds the member.
    conns.set(connection, { uid: member.uid, name: member.name });
    // Every local connection of the person carries the new name (a rename), so refreshes do not bring back the old one.
    for (const c of conns.values()) if (c.uid === member.uid) c.name = member.name;
    const k = this.keys(room);
    const [changed, live] = (await unavailableOnError(
      this.scripts.join(k.members, k.names, member.uid, member.name, this.ttlMs, k.connsPrefix, connection),
    )) as [number, string[]];
    return { members: toMembers(live, limit), changed: changed === 1 };
  }

  async leave(room: string, uid: string, connection: string, limit: number): Promise<PresenceChange> {
    if (this.closed) return { members: [], changed: false };
    const conns = this.local.get(room);
    if (conns) {
      conns.delete(connection);
      if (conns.size === 0) this.local.delete(room);
    }
    const k = this.keys(room);
    const [changed, live] = (await unavailableOnError(this.scripts.leave(k.members, k.names, uid, k.connsPrefix, connection))) as [number, string[]];
    return { members: toMembers(live, limit), changed: changed === 1 };
  }

  async members(room: string, limit: number): Promise<Member[]> {
    if (this.closed) return [];
    const k = this.keys(room);
    return toMembers(await unavailableOnError(this.scripts.members(k.members, k.names)), limit);
  }

  /** Refreshes this process's members and announces the expired ones of its rooms as `leave` events. */
  async refresh(limit = 500): Promise<void> {
    if (this.closed || this.redis.status !== 'ready') return;
    for (const [room, conns] of [...this.local]) {
      const k = this.keys(room);
      const args: Array<string | number> = [k.members, k.names, this.ttlMs, k.connsPrefix];
      for (const [connection, { uid, name }] of conns) args.push(uid, connection, name);
      try {
        const [gone, live, back] = (await this.scripts.refresh(...args)) as [string[], string[], string[]];
        if (gone.length === 0 && back.length === 0) continue;
        const remaining = toMembers(live, limit);
        for (const { uid, name } of toMembers(gone, Number.MAX_SAFE_INTEGER)) {
          const event = JSON.stringify({ type: 'presence', room, event: 'leave', uid, name, members: remaining });
          await this.redis.publish(k.channel, encodeEvent(undefined, event));
        }
        // Members of this process that had expired (Redis was unreachable longer than the TTL) are back.
        for (const { uid, name } of toMembers(back, Number.MAX_SAFE_INTEGER)) {
          const event = JSON.stringify({ type: 'presence', room, event: 'join', uid, name, members: remaining });
          await this.redis.publish(k.channel, encodeEvent(undefined, event));
        }
      } catch (err) {
        this.log('redis presence: refresh', err);
      }
    }
  }

  /** Removes this process's members (a clean shutdown) and announces them as leaving; stops refreshing. */
  async close(limit = 500): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    const rooms = [...this.local];
    this.local.clear();
    for (const [room, conns] of rooms) {
      const k = this.keys(room);
      for (const [connection, { uid, name }] of conns) {
        try {
          const [changed, live] = (await this.scripts.leave(k.members, k.names, uid, k.connsPrefix, connection)) as [number, string[]];
          if (changed !== 1) continue; // the person is still here through another connection
          const event = JSON.stringify({ type: 'presence', room, event: 'leave', uid, name, members: toMembers(live, limit) });
          await this.redis.publish(k.channel, encodeEvent(connection, event));
        } catch {
          break; // Redis is down: the entries expire by themselves
        }
      }
    }
    this.closed = true;
  }
}
