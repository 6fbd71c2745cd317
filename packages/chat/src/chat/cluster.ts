/**
 * `wireroom chat --workers N`: the primary process forks N workers (node:cluster) that share the
 * listening port, each running the chat server with its own Redis connections. The primary restarts a
 * worker that dies and, on SIGTERM/SIGINT, forwards the signal so that every worker shuts down cleanly.
 */
import cluster, { type Worker } from 'node:cluster';

/** Options of runClusterPrimary. */
export interface ClusterOptions {
  readonly workers: number;
  /** A worker that crashed is restarted after this pause, doubled for each crash within a minute (max 30 s). Default 500 ms. */
  readonly restartDelayMs?: number;
  /** How long workers get to shut down before they are killed. Default 15,000 ms. */
  readonly shutdownTimeoutMs?: number;
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

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('exit', (code, signal) => {
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
