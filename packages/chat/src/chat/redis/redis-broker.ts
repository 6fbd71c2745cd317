/**
 * A Broker spanning processes through Redis pub/sub, for the chat.
 *
 * One subscriber connection per process. A room's channel is SUBSCRIBEd when its first local member
 * joins and UNSUBSCRIBEd when the last one leaves. Chat messages are PUBLISHed by the store's append
 * script, atomically with their id, so the channel carries them in id order; `publish()` with a `seq`
 * therefore sends nothing to Redis (it only lets local members get their message without the round
 * trip when it is next in order). Per room the broker remembers the last id it delivered; a message
 * arriving after a gap (a reconnect, a lost publish) is preceded by the missing ones read from the
 * room's Stream with XRANGE. So local subscribers get every message once, in id order.
 * Events without `seq` (presence, typing) are PUBLISHed as they are: best effort, never stored.
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { LocalFanout, type Broker, type PublishMeta, type Subscriber } from 'wireroom/app';
import { messageEnvelope } from '../protocol.js';
import { StoreUnavailableError } from '../store.js';
import { decodePayload, encodeEvent, idOfEntry, roomKeys, type Payload, type RoomKeys } from './keys.js';
import { entryToMessage } from './redis-store.js';

/** Options of RedisChatBroker. */
export interface RedisBrokerOptions {
  /** Key prefix (the store's). Default `wr:`. */
  readonly prefix?: string;
  /** The chat room of a topic, or undefined for other topics (events only). Default: topics `room:<name>`. */
  readonly roomOfTopic?: (topic: string) => string | undefined;
  /** How often the subscriber connection is probed with a PUBLISH to itself. Default 5,000 ms; 0 disables. */
  readonly probeIntervalMs?: number;
  /** A probe unanswered this long makes the subscriber reconnect (and catch up). Default 3 × interval. */
  readonly probeTimeoutMs?: number;
  /** Queued payloads per room while catching up; beyond it they are dropped and re-read from the Stream. */
  readonly maxQueuedPerRoom?: number;
  readonly logError?: (context: string, error: unknown) => void;
  /** Round trip command connection → Redis → subscriber connection, in ms (for /metrics). */
  readonly onRoundTrip?: (ms: number) => void;
  /** Messages read from the Stream to fill a gap (for /metrics). */
  readonly onRecovered?: (count: number) => void;
  /** Called once by close(), after the broker has stopped (e.g. to close the connections). */
  readonly onClose?: () => Promise<void>;
}

type Queued = Payload | { readonly kind: 'f' };

/** One subscribed channel. */
interface ChannelState {
  readonly topic: string;
  readonly channel: string;
  /** Undefined for non-room topics. */
  readonly keys: RoomKeys | undefined;
  readonly ready: Promise<void>;
  /** SUBSCRIBEd and `last` known. */
  live: boolean;
  dead: boolean;
  /** Highest message id delivered to the local subscribers. */
  last: number;
  queue: Queued[];
  pumping: boolean;
}

const FILL_PAGE = 1000;

function defaultRoomOfTopic(topic: string): string | undefined {
  return topic.startsWith('room:') ? topic.slice(5) : undefined;
}

export class RedisChatBroker implements Broker {
  private readonly fanout = new LocalFanout();
  private readonly byTopic = new Map<string, ChannelState>();
  private readonly byChannel = new Map<string, ChannelState>();
  private readonly prefix: string;
  private readonly roomOfTopic: (topic: string) => string | undefined;
  private readonly maxQueued: number;
  private readonly log: (context: string, error: unknown) => void;
  private readonly probeChannel: string;
  private probeTimer: NodeJS.Timeout | undefined;
  private lastProbeAnswer = performance.now();
  private closed = false;

  constructor(private readonly command: Redis, private readonly subscriber: Redis, private readonly options: RedisBrokerOptions = {}) {
    this.prefix = options.prefix ?? 'wr:';
    this.roomOfTopic = options.roomOfTopic ?? defaultRoomOfTopic;
    this.maxQueued = options.maxQueuedPerRoom ?? 10_000;
    this.log = options.logError ?? (() => {});
    this.probeChannel = `${this.prefix}probe:${process.pid}:${Math.random().toString(36).slice(2)}`;
    subscriber.on('message', this.onMessage);
    subscriber.on('ready', this.onSubscriberReady);
    command.on('ready', this.onCommandReady);
    if (subscriber.status === 'ready') this.onSubscriberReady();
    const interval = options.probeIntervalMs ?? 5000;
    if (interval > 0) {
      const timeout = options.probeTimeoutMs ?? 3 * interval;
      this.probeTimer = setInterval(() => this.probe(timeout), interval);
      this.probeTimer.unref();
    }
  }

  /** True while the subscriber connection is up (cross-process delivery works). */
  get healthy(): boolean {
    return this.subscriber.status === 'ready' && !this.closed;
  }

  subscribe(topic: string, subscriber: Subscriber): Promise<void> {
    if (this.closed) return Promise.reject(new Error('broker is closed'));
    this.fanout.add(topic, subscriber);
    let state = this.byTopic.get(topic);
    if (state === undefined) {
      const room = this.roomOfTopic(topic);
      const keys = room === undefined ? undefined : roomKeys(room, this.prefix);
      const channel = keys?.channel ?? `${this.prefix}t:${topic}`;
      const created: ChannelState = {
        topic, channel, keys, live: false, dead: false, last: 0, queue: [], pumping: false, ready: Promise.resolve(),
      };
      (created as { ready: Promise<void> }).ready = this.open(created);
      state = created;
      this.byTopic.set(topic, state);
      this.byChannel.set(channel, state);
    }
    const opened = state;
    return opened.ready.catch((err: unknown) => {
      this.fanout.remove(topic, subscriber);
      if (this.byTopic.get(topic) === opened && !opened.live) {
        this.forget(opened);
        // The SUBSCRIBE may have gone through (only reading the counter failed): undo it.
        if (this.subscriber.status === 'ready') this.subscriber.unsubscribe(opened.channel).catch(() => {});
      }
      throw new StoreUnavailableError('Redis is unavailable: cannot subscribe', { cause: err });
    });
  }

  async unsubscribe(topic: string, subscriber: Subscriber): Promise<void> {
    if (!this.fanout.remove(topic, subscriber)) return;
    const state = this.byTopic.get(topic);
    if (state === undefined) return;
    this.forget(state);
    // Commands on the subscriber connection run in order: a later SUBSCRIBE to this channel comes after.
    if (this.subscriber.status === 'ready') await this.subscriber.unsubscribe(state.channel).catch(() => {});
  }

  async publish(topic: string, data: string, meta: PublishMeta = {}): Promise<void> {
    if (this.closed) return; // shutting down: nobody local is left to receive, and events are best effort
    const state = this.byTopic.get(topic);
    if (meta.seq !== undefined && state?.keys !== undefined) {
      // Already on the channel (the append script published it). Deliver now if it is next in order.
      if (state.live && !state.pumping && state.queue.length === 0 && meta.seq === state.last + 1) {
        state.last = meta.seq;
        this.fanout.deliver(topic, data, meta);
      }
      return;
    }
    const channel = state?.channel ?? this.channelOf(topic);
    try {
      await this.command.publish(channel, encodeEvent(meta.origin, data));
    } catch (err) {
      // Events are best effort: the local members still get it; the others miss a presence or typing notice.
      this.log('redis broker: publish', err);
      this.fanout.deliver(topic, data, meta);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.subscriber.off('message', this.onMessage);
    this.subscriber.off('ready', this.onSubscriberReady);
    this.command.off('ready', this.onCommandReady);
    for (const state of this.byTopic.values()) state.dead = true;
    this.byTopic.clear();
    this.byChannel.clear();
    this.fanout.clear();
    await this.options.onClose?.();
  }

  /** Rooms subscribed in this process (for tests and metrics). */
  get channelCount(): number {
    return this.byTopic.size;
  }

  // ---------------------------------------------------------------- internals

  private channelOf(topic: string): string {
    const room = this.roomOfTopic(topic);
    return room === undefined ? `${this.prefix}t:${topic}` : roomKeys(room, this.prefix).channel;
  }

  private forget(state: ChannelState): void {
    state.dead = true;
    state.queue = [];
    if (this.byTopic.get(state.topic) === state) this.byTopic.delete(state.topic);
    if (this.byChannel.get(state.channel) === state) this.byChannel.delete(state.channel);
  }

  /** SUBSCRIBE, then read the room's last id: what commits later surely arrives on the channel. */
  private async open(state: ChannelState): Promise<void> {
    await this.subscriber.subscribe(state.channel);
    if (state.keys !== undefined) state.last = Number((await this.command.get(state.keys.seq)) ?? 0);
    state.live = true;
    this.pump(state);
  }

  private readonly onMessage = (channel: string, raw: string): void => {
    if (channel === this.probeChannel) {
      this.lastProbeAnswer = performance.now();
      const sent = Number(raw);
      if (Number.isFinite(sent)) this.options.onRoundTrip?.(this.lastProbeAnswer - sent);
      return;
    }
    const state = this.byChannel.get(channel);
    if (state === undefined || state.dead) return;
    const payload = decodePayload(raw);
    if (payload === undefined) return;
    if (state.live && !state.pumping && state.queue.length === 0 && this.deliverInOrder(state, payload)) return;
    this.enqueue(state, payload);
  };

  private enqueue(state: ChannelState, item: Queued): void {
    if (state.queue.length >= this.maxQueued) {
      // Too far behind: drop what is queued; the messages are re-read from the Stream after the gap.
      state.queue = [{ kind: 'f' }];
    }
    state.queue.push(item);
    this.pump(state);
  }

  /** Delivers `payload` if nothing is missing before it; false when a gap must be filled first. */
  private deliverInOrder(state: ChannelState, payload: Payload): boolean {
    if (payload.kind === 'e') {
      this.fanout.deliver(state.topic, payload.json, payload.origin.length > 0 ? { origin: payload.origin } : {});
      return true;
    }
    if (state.keys === undefined) {
      this.fanout.deliver(state.topic, payload.json, { seq: payload.id });
      return true;
    }
    if (payload.id <= state.last) return true; // already delivered (e.g. from the Stream, or locally)
    if (payload.id !== state.last + 1) return false;
    state.last = payload.id;
    this.fanout.deliver(state.topic, payload.json, { seq: payload.id });
    return true;
  }

  /** Works through the queue in order, filling gaps from the Stream. Stops (keeping the queue) if Redis fails. */
  private pump(state: ChannelState): void {
    if (state.pumping || !state.live || state.dead || state.queue.length === 0) return;
    state.pumping = true;
    void (async () => {
      try {
        while (state.queue.length > 0 && !state.dead) {
          const item = state.queue[0] as Queued;
          if (item.kind === 'f') {
            if (state.keys !== undefined) {
              const seq = Number((await this.command.get(state.keys.seq)) ?? 0);
              if (seq < state.last) {
                // Redis lost writes (restarted without its AOF, or everysec and a power cut): ids restart lower.
                this.log('redis broker', new Error(`${state.topic}: last id went back from ${state.last} to ${seq}; Redis lost data`));
                state.last = seq;
              }
              await this.fill(state, seq);
            }
          } else if (item.kind === 'm' && state.keys !== undefined && item.id > state.last + 1) {
            await this.fill(state, item.id - 1);
          }
          if (state.queue[0] === item) state.queue.shift();
          if (item.kind !== 'f') this.deliverInOrder(state, item);
        }
      } catch (err) {
        // Redis is away: the queue waits; the subscriber's reconnection ('ready') resumes it.
        this.log('redis broker: catching up', err);
      } finally {
        state.pumping = false;
      }
    })();
  }

  /** Delivers the messages after `state.last` up to `upTo` from the room's Stream. */
  private async fill(state: ChannelState, upTo: number): Promise<void> {
    const keys = state.keys as RoomKeys;
    let recovered = 0;
    while (state.last < upTo && !state.dead) {
      const entries = (await this.command.xrange(keys.log, `0-${state.last + 1}`, `0-${upTo}`, 'COUNT', FILL_PAGE)) as Array<[string, string[]]>;
      if (entries.length === 0) {
        // Missing from the Stream (lost by Redis itself, e.g. appendfsync everysec and a power cut): skip.
        this.log('redis broker: gap', new Error(`messages ${state.last + 1}..${upTo} of ${state.topic} are not in the Stream`));
        state.last = upTo;
        break;
      }
      const room = this.roomOfTopic(state.topic) as string;
      for (const entry of entries) {
        const id = idOfEntry(entry[0]);
        if (id <= state.last || state.dead) continue;
        state.last = id;
        recovered++;
        this.fanout.deliver(state.topic, JSON.stringify(messageEnvelope(entryToMessage(room, entry))), { seq: id });
      }
    }
    if (recovered > 0) this.options.onRecovered?.(recovered);
  }

  /** (Re)connected: subscribe the probe and every room again, then catch up on what was missed meanwhile. */
  private readonly onSubscriberReady = (): void => {
    if (this.closed) return;
    this.lastProbeAnswer = performance.now();
    const channels = [this.probeChannel, ...this.byChannel.keys()];
    this.subscriber.subscribe(...channels).then(
      () => {
        for (const state of this.byChannel.values()) if (state.live) this.enqueue(state, { kind: 'f' });
      },
      (err: unknown) => this.log('redis broker: resubscribe', err),
    );
  };

  /** The command connection is back: resume the catch-ups it interrupted. */
  private readonly onCommandReady = (): void => {
    for (const state of this.byChannel.values()) this.pump(state);
  };

  private probe(timeoutMs: number): void {
    if (this.closed || this.subscriber.status !== 'ready' || this.command.status !== 'ready') return;
    if (performance.now() - this.lastProbeAnswer > timeoutMs) {
      this.log('redis broker', new Error(`no probe answer for ${timeoutMs} ms: reconnecting the subscriber`));
      this.lastProbeAnswer = performance.now();
      this.subscriber.disconnect(true);
      return;
    }
    this.command.publish(this.probeChannel, String(performance.now())).catch(() => {});
  }
}
