/**
 * Counters of the chat server, exposed at `/metrics` in the Prometheus text format (version 0.0.4).
 * Observed from the outside of the WebSocket library: the HTTP server's upgrade sockets (bytes), the App's
 * `onRejected` hook (refused handshakes), each chat connection (messages in and out, close codes), and the broker.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { PreparedMessage } from 'wireroom';
import { ChatHandler, type ChatServices } from './chat-handler.js';

/** Upper bounds (seconds) of the broker round-trip histogram. */
const RTT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Label values are quoted; backslash, quote and newline escaped as the format requires. */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * One metric family as data (JSON-safe, so it crosses the cluster IPC channel). A sample is
 * `[name suffix, labels without braces, value]`, e.g. `['_bucket', 'le="0.001"', 3]`.
 */
export interface MetricFamily {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly help: string;
  /** How the whole server's value is made from the workers' values: `sum` (default), or `min` (e.g. "all up"). */
  readonly aggregate?: 'sum' | 'min';
  readonly samples: ReadonlyArray<readonly [suffix: string, labels: string, value: number]>;
}

/** Renders families in the Prometheus text format. */
export function renderFamilies(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const [suffix, labels, value] of f.samples) lines.push(`${f.name}${suffix}${labels ? `{${labels}}` : ''} ${value}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The whole server from its workers' families: per series, the sum across workers (or the min, as the
 * family says), followed by each worker's own series with a `worker` label. Families appear in the order
 * first seen; a series missing from a worker counts as absent there. Adds `wireroom_cluster_workers`
 * (workers asked) and `wireroom_cluster_workers_reporting` (those that answered in time).
 */
export function aggregateFamilies(reports: ReadonlyArray<{ readonly worker: number; readonly data: readonly MetricFamily[] }>, missing: readonly number[]): MetricFamily[] {
  const merged = new Map<string, { family: MetricFamily; totals: Map<string, readonly [string, string, number]>; perWorker: Array<readonly [string, string, number]> }>();
  for (const { worker, data } of reports) {
    if (!Array.isArray(data)) continue;
    for (const family of data) {
      let m = merged.get(family.name);
      if (m === undefined) merged.set(family.name, (m = { family, totals: new Map(), perWorker: [] }));
      for (const [suffix, labels, value] of family.samples) {
        const key = `${suffix}{${labels}}`;
        const prev = m.totals.get(key);
        const combined = prev === undefined ? value : family.aggregate === 'min' ? Math.min(prev[2], value) : prev[2] + value;
        m.totals.set(key, [suffix, labels, combined]);
        m.perWorker.push([suffix, labels ? `worker="${worker}",${labels}` : `worker="${worker}"`, value]);
      }
    }
  }
  const families: MetricFamily[] = [...merged.values()].map(({ family, totals, perWorker }) => ({
    name: family.name, type: family.type, help: family.help, samples: [...totals.values(), ...perWorker],
  }));
  families.push(
    { name: 'wireroom_cluster_workers', type: 'gauge', help: 'Workers asked for this scrape (cluster mode).', samples: [['', '', reports.length + missing.length]] },
    { name: 'wireroom_cluster_workers_reporting', type: 'gauge', help: 'Workers whose metrics are in this scrape (the others did not answer in time).', samples: [['', '', reports.length]] },
  );
  return families;
}

/** Gathers every worker's families (cluster mode); see ChatMetrics.setCluster. */
export type MetricsGather = () => Promise<{ reports: ReadonlyArray<{ worker: number; data: readonly MetricFamily[] }>; missing: readonly number[] }>;

/** What the metrics read when scraped. */
export interface MetricsSources {
  /** Open WebSocket connections. */
  readonly connections: () => number;
}

export class ChatMetrics {
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  connectionsOpened = 0;
  /** Messages a broker had to read back from storage to fill a gap. */
  brokerRecovered = 0;
  readonly handshakesRejected = new Map<string, number>();
  /** Open WebSockets by transport: `h1` (HTTP/1.1 upgrade, RFC 6455) and `h2` (HTTP/2 stream, RFC 8441). */
  readonly openByTransport = { h1: 0, h2: 0 };
  readonly closeCodes = new Map<number, number>();
  private readonly rttBuckets = new Array<number>(RTT_BUCKETS.length).fill(0);
  private rttCount = 0;
  private rttSum = 0;
  private readonly liveSockets = new Set<Socket>();
  private closedBytesIn = 0;
  private closedBytesOut = 0;
  private sources: MetricsSources = { connections: () => 0 };
  private readonly gauges = new Map<string, { help: string; read: () => number; aggregate: 'sum' | 'min' }>();
  private gather: MetricsGather | undefined;
  private worker = 0;

  setSources(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** Adds a gauge read at scrape time, e.g. `wireroom_redis_up` (`min` across workers: 1 only if all are up). */
  addGauge(name: string, help: string, read: () => number, aggregate: 'sum' | 'min' = 'sum'): void {
    this.gauges.set(name, { help, read, aggregate });
  }

  /** Cluster mode: `/metrics` answers for every worker (sum plus `worker`-labelled series), gathered with this. */
  setCluster(gather: MetricsGather, worker: number): void {
    this.gather = gather;
    this.worker = worker;
  }

  /** Watches the upgrade sockets of `server` for the bytes on the wire (handshake included). */
  observeHttpServer(server: Server): void {
    server.prependListener('upgrade', (_req: IncomingMessage, socket: Socket) => {
      this.liveSockets.add(socket);
      socket.once('close', () => {
        this.liveSockets.delete(socket);
        this.closedBytesIn += socket.bytesRead;
        this.closedBytesOut += socket.bytesWritten;
      });
    });
  }

  /** Counts a refused handshake: the App's `onRejected` hook (status and reason as answered to the client). */
  readonly handshakeRejected = (status: number, reason: string): void => {
    const key = `${status}\u0000${reason.split('\n', 1)[0]!.trim().slice(0, 60)}`;
    this.handshakesRejected.set(key, (this.handshakesRejected.get(key) ?? 0) + 1);
  };

  /** Wraps the chat handler factory so that every connection is counted. */
  chatHandler(request: IncomingMessage, services: ChatServices): ChatHandler {
    return new MeteredChatHandler(request, services, this);
  }

  observeRoundTrip(ms: number): void {
    const s = ms / 1000;
    this.rttCount++;
    this.rttSum += s;
    for (let i = 0; i < RTT_BUCKETS.length; i++) if (s <= (RTT_BUCKETS[i] as number)) this.rttBuckets[i]!++;
  }

  closed(code: number): void {
    this.closeCodes.set(code, (this.closeCodes.get(code) ?? 0) + 1);
  }

  /** This process's metrics as data. */
  families(): MetricFamily[] {
    let liveIn = 0;
    let liveOut = 0;
    for (const socket of this.liveSockets) {
      liveIn += socket.bytesRead;
      liveOut += socket.bytesWritten;
    }
    const families: MetricFamily[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number]>, aggregate: 'sum' | 'min' = 'sum'): void => {
      families.push({ name, type, help, aggregate, samples: samples.map(([labels, value]) => ['', labels, value] as const) });
    };
    metric('wireroom_connections', 'gauge', 'Open WebSocket connections.', [['', this.sources.connections()]]);
    metric('wireroom_connections_by_transport', 'gauge', 'Open WebSocket connections by transport: h1 (HTTP/1.1 upgrade) or h2 (HTTP/2 extended CONNECT, RFC 8441).',
      [['transport="h1"', this.openByTransport.h1], ['transport="h2"', this.openByTransport.h2]]);
    metric('wireroom_connections_opened_total', 'counter', 'WebSocket connections accepted.', [['', this.connectionsOpened]]);
    metric('wireroom_messages_received_total', 'counter', 'WebSocket messages received from clients.', [['', this.messagesIn]]);
    metric('wireroom_messages_sent_total', 'counter', 'WebSocket messages sent to clients.', [['', this.messagesOut]]);
    metric('wireroom_bytes_received_total', 'counter', 'Bytes read from WebSocket connections (wire level, handshake included).', [['', this.closedBytesIn + liveIn]]);
    metric('wireroom_bytes_sent_total', 'counter', 'Bytes written to WebSocket connections (wire level, handshake included).', [['', this.closedBytesOut + liveOut]]);
    metric('wireroom_handshakes_rejected_total', 'counter', 'WebSocket handshakes refused, by HTTP status and reason.',
      [...this.handshakesRejected].map(([key, n]) => {
        const [status, reason] = key.split('\u0000') as [string, string];
        return [`status="${label(status)}",reason="${label(reason)}"`, n];
      }));
    metric('wireroom_close_codes_total', 'counter', 'WebSocket connections closed, by close code.',
      [...this.closeCodes].sort((a, b) => a[0] - b[0]).map(([code, n]) => [`code="${code}"`, n]));
    families.push({
      name: 'wireroom_broker_round_trip_seconds', type: 'histogram', help: 'Publish to Redis and back to this process.',
      samples: [
        ...RTT_BUCKETS.map((le, i) => ['_bucket', `le="${le}"`, this.rttBuckets[i] as number] as const),
        ['_bucket', 'le="+Inf"', this.rttCount], ['_sum', '', this.rttSum], ['_count', '', this.rttCount],
      ],
    });
    metric('wireroom_broker_recovered_messages_total', 'counter', 'Messages the broker read back from storage to fill a gap in pub/sub delivery.', [['', this.brokerRecovered]]);
    for (const [name, { help, read, aggregate }] of this.gauges) metric(name, 'gauge', help, [['', read()]], aggregate);
    return families;
  }

  /** The exposition text of this process. */
  render(): string {
    return renderFamilies(this.families());
  }

  /** The exposition text of the whole server: every worker in cluster mode, else this process. */
  async renderAll(): Promise<string> {
    if (this.gather === undefined) return this.render();
    try {
      const { reports, missing } = await this.gather();
      return renderFamilies(aggregateFamilies(reports, missing));
    } catch {
      // The primary did not answer (shutting down?): this worker's own series, labelled, are better than nothing.
      return renderFamilies(aggregateFamilies([{ worker: this.worker, data: this.families() }], []));
    }
  }

  /** The `/metrics` route. */
  readonly route = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await this.renderAll();
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };
}

/** A ChatHandler that counts its messages and its close code. */
class MeteredChatHandler extends ChatHandler {
  constructor(request: IncomingMessage, services: ChatServices, private readonly metrics: ChatMetrics) {
    super(request, services);
  }

  private transport: 'h1' | 'h2' | null = null;

  override open(): Promise<void> {
    this.metrics.connectionsOpened++;
    this.transport = this.request.httpVersionMajor === 2 ? 'h2' : 'h1';
    this.metrics.openByTransport[this.transport]++;
    return super.open();
  }

  override onMessage(data: string | Buffer, isBinary: boolean): void | Promise<void> {
    this.metrics.messagesIn++;
    return super.onMessage(data, isBinary);
  }

  // ChatHandler.onClose() declares no parameters; the framework passes the close code anyway.
  override onClose(code = 1005): void {
    this.metrics.closed(code);
    if (this.transport !== null) this.metrics.openByTransport[this.transport]--;
    this.transport = null;
    super.onClose();
  }

  override send(message: string | object): boolean {
    const sent = super.send(message);
    if (sent || this.isOpen) this.metrics.messagesOut++;
    return sent;
  }

  override sendPrepared(frame: PreparedMessage): boolean {
    const sent = super.sendPrepared(frame);
    if (sent || this.isOpen) this.metrics.messagesOut++;
    return sent;
  }
}
