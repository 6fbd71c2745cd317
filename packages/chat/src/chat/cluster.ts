/**
 * `wireroom chat --workers N`: the primary process forks N workers (node:cluster) that share the
 * listening port, each running the chat server with its own Redis connections. The primary restarts a
 * worker that dies and, on SIGTERM/SIGINT, forwards the signal so that every worker shuts down cleanly.
 *
 * It also answers *gathers* over the cluster IPC channel, for `/metrics` and `/healthz` to describe the
 * whole server whichever worker a scrape lands on (as prom-client's AggregatorRegistry does): the worker
 * asks the primary (`gather`), the primary asks every listening worker (`collect`), each answers with its
 * own data (`report`), and the primary replies with all reports once every worker answered or the timeout
 * passed, naming the workers that did not answer.
 */
import cluster, { type Worker } from 'node:cluster';

/** IPC messages, tagged so that they never mix with node:cluster's own or anyone else's. */
type Ipc =
  | { readonly wireroom: 'gather'; readonly id: number; readonly kind: string }
  | { readonly wireroom: 'collect'; readonly id: number; readonly kind: string }
  | { readonly wireroom: 'report'; readonly id: number; readonly data: unknown }
  | { readonly wireroom: 'gathered'; readonly id: number; readonly reports: ReadonlyArray<WorkerReport<unknown>>; readonly missing: readonly number[] };

function isIpc(m: unknown): m is Ipc {
  return typeof m === 'object' && m !== null && typeof (m as { wireroom?: unknown }).wireroom === 'string' && typeof (m as { id?: unknown }).id === 'number';
}

/** One worker's answer to a gather. */
export interface WorkerReport<T> {
  /** node:cluster's worker id (1, 2, ...; a restarted worker gets a new one). */
  readonly worker: number;
  readonly pid: number;
  readonly data: T;
}

/** Everything the workers answered, and the ids of those that did not in time. */
export interface Gathered<T> {
  readonly reports: ReadonlyArray<WorkerReport<T>>;
  readonly missing: readonly number[];
}

/** A worker's side of the gathers. */
export interface ClusterPeer {
  /** This worker's id. */
  readonly worker: number;
  /** What this worker answers when the primary collects `kind` (e.g. its metrics). */
  provide(kind: string, read: () => unknown): void;
  /** Asks the primary to collect `kind` from every listening worker, this one included. Rejects after `timeoutMs`. */
  gather<T>(kind: string, timeoutMs?: number): Promise<Gathered<T>>;
}

/** How long the primary waits for the workers' reports. */
const COLLECT_TIMEOUT_MS = 2000;

/**
 * In a cluster worker: its side of the gathers (undefined in a process that is not a cluster worker).
 * On SIGTERM it stops listening, so that the IPC channel does not keep a worker that shuts down alive.
 */
export function joinCluster(): ClusterPeer | undefined {
  if (!cluster.isWorker || cluster.worker === undefined || typeof process.send !== 'function') return undefined;
  const worker = cluster.worker.id;
  const providers = new Map<string, () => unknown>();
  const waiting = new Map<number, (g: Gathered<unknown>) => void>();
  let nextId = 1;
  const send = (m: Ipc): void => {
    try {
      process.send?.(m);
    } catch {
      // the primary is gone: the gather times out
    }
  };
  const onMessage = (m: unknown): void => {
    if (!isIpc(m)) return;
    if (m.wireroom === 'collect') {
      let data: unknown = null;
      try {
        data = providers.get(m.kind)?.() ?? null;
      } catch {
        data = null;
      }
      send({ wireroom: 'report', id: m.id, data });
    } else if (m.wireroom === 'gathered') {
      waiting.get(m.id)?.({ reports: m.reports, missing: m.missing });
    }
  };
  process.on('message', onMessage);
  process.once('SIGTERM', () => process.removeListener('message', onMessage));
  return {
    worker,
    provide(kind, read) {
      providers.set(kind, read);
    },
    gather<T>(kind: string, timeoutMs = COLLECT_TIMEOUT_MS + 1000): Promise<Gathered<T>> {
      const id = nextId++;
      return new Promise<Gathered<T>>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`no answer from the cluster primary within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, (g) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(g as Gathered<T>);
        });
        send({ wireroom: 'gather', id, kind });
      });
    },
  };
}

/** The primary's side: answers `gather` from any worker by collecting from every listening one. */
function serveGathers(listening: ReadonlySet<Worker>, timeoutMs: number): void {
  let nextId = 1;
  const pending = new Map<number, { readonly onReport: (w: Worker, data: unknown) => void }>();
  cluster.on('message', (from: Worker, m: unknown) => {
    if (!isIpc(m)) return;
    if (m.wireroom === 'report') {
      pending.get(m.id)?.onReport(from, m.data);
      return;
    }
    if (m.wireroom !== 'gather') return;
    const id = nextId++;
    const targets = new Map<number, Worker>();
    for (const w of listening) if (w.isConnected()) targets.set(w.id, w);
    targets.set(from.id, from); // the asker answers too, even if it is not counted as listening yet
    const reports: Array<WorkerReport<unknown>> = [];
    const finish = (): void => {
      clearTimeout(timer);
      pending.delete(id);
      const missing = [...targets.keys()].filter((wid) => !reports.some((r) => r.worker === wid)).sort((a, b) => a - b);
      reports.sort((a, b) => a.worker - b.worker);
      if (from.isConnected()) from.send({ wireroom: 'gathered', id: m.id, reports, missing } satisfies Ipc);
    };
    const timer = setTimeout(finish, timeoutMs);
    pending.set(id, {
      onReport: (w, data) => {
        if (!targets.has(w.id) || reports.some((r) => r.worker === w.id)) return;
        reports.push({ worker: w.id, pid: w.process.pid ?? 0, data });
        if (reports.length === targets.size) finish();
      },
    });
    for (const w of targets.values()) {
      try {
        w.send({ wireroom: 'collect', id, kind: m.kind } satisfies Ipc);
      } catch {
        // a worker exiting right now: reported missing
      }
    }
  });
}

/** Options of runClusterPrimary. */
export interface ClusterOptions {
  readonly workers: number;
  /** A worker that crashed is restarted after this pause, doubled for each crash within a minute (max 30 s). Default 500 ms. */
  readonly restartDelayMs?: number;
  /** How long workers get to shut down before they are killed. Default 15,000 ms. */
  readonly shutdownTimeoutMs?: number;
  /** How long a gather (one `/metrics` or `/healthz` answer) waits for the workers. Default 2,000 ms. */
  readonly collectTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

/** True in the process that should fork workers (not itself a cluster worker). */
export function isClusterPrimary(): boolean {
  return cluster.isPrimary;
}

/**
 * The signals a chat process shuts down on. A worker obeys only SIGTERM, sent by its primary: a Ctrl-C
 * in a terminal reaches the whole process group, and a second signal would force an unclean exit.
 */
export function shutdownSignals(): NodeJS.Signals[] {
  if (cluster.isPrimary) return ['SIGINT', 'SIGTERM'];
  process.on('SIGINT', () => {}); // the primary turns it into a SIGTERM
  // Once shutting down, the IPC channel to the primary must not keep the worker alive.
  process.once('SIGTERM', () => process.channel?.unref());
  return ['SIGTERM'];
}

/**
 * Runs the primary: forks the workers (they re-run this command line), keeps them running, and resolves
 * with the exit code once all of them have exited after SIGTERM/SIGINT.
 */
export function runClusterPrimary(options: ClusterOptions): Promise<number> {
  const log = options.log ?? ((line: string) => console.log(line));
  const baseDelay = options.restartDelayMs ?? 500;
  const crashes: number[] = [];
  let stopping = false;
  const listening = new Set<Worker>();
  serveGathers(listening, options.collectTimeoutMs ?? COLLECT_TIMEOUT_MS);

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.once('listening', () => listening.add(worker));
    worker.on('exit', (code, signal) => {
      listening.delete(worker);
      if (stopping) return;
      const now = Date.now();
      crashes.push(now);
      while (crashes.length > 0 && (crashes[0] as number) < now - 60_000) crashes.shift();
      const delay = Math.min(30_000, baseDelay * 2 ** Math.max(0, crashes.length - 1));
      log(`wireroom chat: worker ${worker.process.pid} died (${signal ?? `exit ${code}`}); restarting in ${delay} ms`);
      setTimeout(() => {
        if (!stopping) fork();
      }, delay);
    });
    return worker;
  };

  log(`wireroom chat: primary ${process.pid} starting ${options.workers} workers`);
  for (let i = 0; i < options.workers; i++) fork();

  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log(`wireroom chat: ${signal}: stopping ${Object.keys(cluster.workers ?? {}).length} workers`);
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      if (workers.length === 0) {
        resolve(0);
        return;
      }
      let left = workers.length;
      let failed = false;
      const timer = setTimeout(() => {
        for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
      }, options.shutdownTimeoutMs ?? 15_000);
      timer.unref();
      for (const w of workers) {
        w.once('exit', (code, signal) => {
          if (code !== 0) {
            failed = true;
            log(`wireroom chat: worker ${w.process.pid} ended with ${signal ?? `exit ${code}`}`);
          }
          if (--left === 0) {
            clearTimeout(timer);
            resolve(failed ? 1 : 0);
          }
        });
        // The worker's own handler shuts it down gracefully (clients told 1012 on SIGTERM).
        w.process.kill('SIGTERM');
      }
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
