/**
 * Topics (rooms) with subscribe / unsubscribe / publish. The Broker interface is asynchronous so that a
 * broker spanning processes (Redis pub/sub) can implement it; `LocalFanout` is the part every broker
 * shares: delivering one publish to the subscribers of this process with the frame built once.
 */
import { prepareMessage, type PreparedMessage } from '../connection/fanout.js';

/** Metadata travelling with a published message, serialisable so that it can cross processes. */
export interface PublishMeta {
  /** A number increasing per topic (e.g. a message id): lets a subscriber drop what it already has. */
  readonly seq?: number;
  /** Who published (e.g. a connection uid): lets a subscriber skip its own events. */
  readonly origin?: string;
}

/** Something that receives the messages of the topics it subscribed to (e.g. a WebSocketHandler). */
export interface Subscriber {
  /** Called once per message, in publish order. Must not throw; `frame` is shared with other subscribers. */
  deliver(topic: string, frame: PreparedMessage, meta: PublishMeta): void;
}

/**
 * Routes published messages to subscribers. Per topic, messages are delivered in the order of the
 * `publish` calls. After `subscribe` resolves, every later publish to the topic is delivered.
 */
export interface Broker {
  subscribe(topic: string, subscriber: Subscriber): Promise<void>;
  unsubscribe(topic: string, subscriber: Subscriber): Promise<void>;
  /** Publishes `data` (sent as one text frame) to every subscriber of `topic`, wherever it lives. */
  publish(topic: string, data: string, meta?: PublishMeta): Promise<void>;
  /** Releases the broker's resources; later calls reject. */
  close(): Promise<void>;
}

const NO_META: PublishMeta = Object.freeze({});

/**
 * The subscribers of this process, by topic. Empty topics are removed, so memory is bounded by the
 * number of live subscriptions.
 */
export class LocalFanout {
  private readonly topics = new Map<string, Set<Subscriber>>();

  add(topic: string, subscriber: Subscriber): void {
    let set = this.topics.get(topic);
    if (!set) this.topics.set(topic, (set = new Set()));
    set.add(subscriber);
  }

  /** Returns true when the topic has no local subscriber left. */
  remove(topic: string, subscriber: Subscriber): boolean {
    const set = this.topics.get(topic);
    if (!set) return true;
    set.delete(subscriber);
    if (set.size > 0) return false;
    this.topics.delete(topic);
    return true;
  }

  has(topic: string): boolean {
    return this.topics.has(topic);
  }

  /** Number of local subscribers of `topic`. */
  count(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }

  /** Frames `data` once and hands the same frame to every local subscriber. Returns how many got it. */
  deliver(topic: string, data: string, meta: PublishMeta = NO_META): number {
    const set = this.topics.get(topic);
    if (!set || set.size === 0) return 0;
    const frame = prepareMessage(data);
    let n = 0;
    for (const subscriber of set) {
      try {
        subscriber.deliver(topic, frame, meta);
        n++;
      } catch {
        // One faulty subscriber must not stop delivery to the others.
      }
    }
    return n;
  }

  clear(): void {
    this.topics.clear();
  }
}

/** A broker for a single process: publish delivers synchronously, before the returned promise settles. */
export class InProcessBroker implements Broker {
  private readonly fanout = new LocalFanout();
  private closed = false;

  subscribe(topic: string, subscriber: Subscriber): Promise<void> {
    if (this.closed) return Promise.reject(new Error('broker is closed'));
    this.fanout.add(topic, subscriber);
    return Promise.resolve();
  }

  unsubscribe(topic: string, subscriber: Subscriber): Promise<void> {
    this.fanout.remove(topic, subscriber);
    return Promise.resolve();
  }

  publish(topic: string, data: string, meta?: PublishMeta): Promise<void> {
    if (this.closed) return Promise.reject(new Error('broker is closed'));
    this.fanout.deliver(topic, data, meta);
    return Promise.resolve();
  }

  /** Local subscribers of a topic (for tests and metrics). */
  subscriberCount(topic: string): number {
    return this.fanout.count(topic);
  }

  close(): Promise<void> {
    this.closed = true;
    this.fanout.clear();
    return Promise.resolve();
  }
}
