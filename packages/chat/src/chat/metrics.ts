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
  readonly closeCodes = new Map<number, number>();
  private readonly rttBuckets = new Array<number>(RTT_BUCKETS.length).fill(0);
  private rttCount = 0;
  private rttSum = 0;
  private readonly liveSockets = new Set<Socket>();
  private closedBytesIn = 0;
  private closedBytesOut = 0;
  private sources: MetricsSources = { connections: () => 0 };
  private readonly gauges = new Map<string, { help: string; read: () => number }>();

  setSources(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** Adds a gauge read at scrape time, e.g. `wireroom_redis_up`. */
  addGauge(name: string, help: string, read: () => number): void {
    this.gauges.set(name, { help, read });
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

  /** The exposition text. */
  render(): string {
    let liveIn = 0;
    let liveOut = 0;
    for (const socket of this.liveSockets) {
      liveIn += socket.bytesRead;
      liveOut += socket.bytesWritten;
    }
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: Array<[string, number]>): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    metric('wireroom_connections', 'gauge', 'Open WebSocket connections.', [['', this.sources.connections()]]);
    metric('wireroom_connections_opened_total', 'counter', 'WebSocket connections accepted.', [['', this.connectionsOpened]]);
    metric('wireroom_messages_received_total', 'counter', 'WebSocket messages received from clients.', [['', this.messagesIn]]);
    metric('wireroom_messages_sent_total', 'counter', 'WebSocket messages sent to clients.', [['', this.messagesOut]]);
    metric('wireroom_bytes_received_total', 'counter', 'Bytes read from WebSocket connections (wire level, handshake included).', [['', this.closedBytesIn + liveIn]]);
    metric('wireroom_bytes_sent_total', 'counter', 'Bytes written to WebSocket connections (wire level, handshake included).', [['', this.closedBytesOut + liveOut]]);
    metric('wireroom_handshakes_rejected_total', 'counter', 'WebSocket handshakes refused, by HTTP status and reason.',
      [...this.handshakesRejected].map(([key, n]) => {
        const [status, reason] = key.split('\u0000') as [string, string];
        return [`{status="${label(status)}",reason="${label(reason)}"}`, n];
      }));
    metric('wireroom_close_codes_total', 'counter', 'WebSocket connections closed, by close code.',
      [...this.closeCodes].sort((a, b) => a[0] - b[0]).map(([code, n]) => [`{code="${code}"}`, n]));
    lines.push('# HELP wireroom_broker_round_trip_seconds Publish to Redis and back to this process.', '# TYPE wireroom_broker_round_trip_seconds histogram');
    RTT_BUCKETS.forEach((le, i) => lines.push(`wireroom_broker_round_trip_seconds_bucket{le="${le}"} ${this.rttBuckets[i]}`));
    lines.push(`wireroom_broker_round_trip_seconds_bucket{le="+Inf"} ${this.rttCount}`);
    lines.push(`wireroom_broker_round_trip_seconds_sum ${this.rttSum}`, `wireroom_broker_round_trip_seconds_count ${this.rttCount}`);
    metric('wireroom_broker_recovered_messages_total', 'counter', 'Messages the broker read back from storage to fill a gap in pub/sub delivery.', [['', this.brokerRecovered]]);
    for (const [name, { help, read }] of this.gauges) metric(name, 'gauge', help, [['', read()]]);
    return `${lines.join('\n')}\n`;
  }

  /** The `/metrics` route. */
  readonly route = (_req: IncomingMessage, res: ServerResponse): void => {
    const body = this.render();
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };
}

/** A ChatHandler that counts its messages and its close code. */
class MeteredChatHandler extends ChatHandler {
  constructor(request: IncomingMessage, services: ChatServices, private readonly metrics: ChatMetrics) {
    super(request, services);
  }

  override open(): void | Promise<void> {
    this.metrics.connectionsOpened++;
    return super.open();
  }

  override onMessage(data: string | Buffer, isBinary: boolean): void | Promise<void> {
    this.metrics.messagesIn++;
    return super.onMessage(data, isBinary);
  }

  // ChatHandler.onClose() declares no parameters; the framework passes the close code anyway.
  override onClose(code = 1005): void {
    this.metrics.closed(code);
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
