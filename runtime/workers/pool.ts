import type { RoundResult } from "../contract/mod.ts";
import { partitionsOfWorker, type RoutedBatch } from "../route/mod.ts";
import type { FromWorker, ToWorker, WorkerInit } from "./protocol.ts";

/** What every worker is told at start (its own index and partitions aside), and the pool's own settings. */
export interface WorkerPoolOptions extends Omit<WorkerInit, "type" | "index" | "partitions"> {
  workers: number;
  /** The partitions this instance owns, spread over the workers as {@link partitionsOfWorker} says. */
  partitions: readonly number[];
  /** A worker snapshotted: how long it took, and dead letters it sent outside rounds. */
  onSnapshot?: (ms: number, dlq: number) => void;
}

export interface WorkerPool {
  readonly size: number;
  /**
   * Sends one round to every worker (each gets its own events, possibly none, and the position it
   * covers); `onDone` runs when all of them have finished it.
   */
  dispatch(batch: Pick<RoutedBatch, "perWorker" | "through" | "watermark" | "marks">, onDone: (results: RoundResult[]) => void): void;
  /** Actors in memory, summed over workers (as of their last ack). */
  actors(): number;
  /** Rejects when a worker reports a fatal error or dies. */
  readonly failed: Promise<never>;
  /** Final snapshot in every worker, then terminate. */
  stop(): Promise<void>;
  /** Terminates every worker at once, without a snapshot (their partitions' leases are lost). */
  abort(): Promise<void>;
}

/**
 * Starts W Bun workers and waits until each has loaded the app and its partitions' progress.
 *
 * @example
 * const pool = await startWorkerPool({ workers: 4, partitions: 32, appUrl, natsUrl, bucket, dlqSubject, logLevel: "info" });
 */
export async function startWorkerPool(opts: WorkerPoolOptions): Promise<WorkerPool> {
  const workers: Worker[] = [];
  const actorCounts: number[] = [];
  const rounds = new Map<number, { remaining: number; results: RoundResult[]; onDone: (r: RoundResult[]) => void }>();
  let nextRound = 1;
  let fail!: (err: Error) => void;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => {});
  const stopped: Array<() => void> = [];
  let stopping = false;

  // What every worker is told: the options, without the pool's own.
  const { workers: _count, partitions: _total, onSnapshot: _onSnapshot, ...shared } = opts;
  const ready = Promise.all(
    Array.from({ length: opts.workers }, (_, i) => {
      return new Promise<void>((resolve, reject) => {
        // From source: worker.ts beside this file. In the compiled binary import.meta.url is the
        // binary itself, and ./worker.ts the build's second entry point (cli/worker.ts).
        const w = new Worker(new URL("./worker.ts", import.meta.url).href);
        workers.push(w);
        actorCounts.push(0);
        w.onmessage = (e: MessageEvent<FromWorker>) => {
          const m = e.data;
          switch (m.type) {
            case "ready":
              resolve();
              break;
            case "ack": {
              actorCounts[i] = m.actors;
              const r = rounds.get(m.result.id);
              if (!r) break;
              r.results.push(m.result);
              if (--r.remaining === 0) {
                rounds.delete(m.result.id);
                r.onDone(r.results);
              }
              break;
            }
            case "snapshot":
              opts.onSnapshot?.(m.ms, m.dlq);
              break;
            case "stopped":
              stopped[i]?.();
              break;
            case "fatal": {
              const err = new Error(`worker ${i}: ${m.message}`);
              reject(err);
              fail(err);
              break;
            }
          }
        };
        w.onerror = (e) => {
          const err = new Error(`worker ${i} crashed: ${e.message}`);
          reject(err);
          fail(err);
        };
        w.addEventListener("close", () => {
          if (!stopping) fail(new Error(`worker ${i} exited unexpectedly`));
        });
        const init: ToWorker = { ...shared, type: "init", index: i, partitions: partitionsOfWorker(i, opts.workers, opts.partitions) };
        w.postMessage(init);
      });
    }),
  );
  try {
    await Promise.race([ready, failed]);
  } catch (err) {
    stopping = true;
    for (const w of workers) w.terminate();
    throw err;
  }

  return {
    size: opts.workers,
    failed,
    actors: () => actorCounts.reduce((a, b) => a + b, 0),
    dispatch({ perWorker, through, watermark, marks }, onDone) {
      const id = nextRound++;
      rounds.set(id, { remaining: workers.length, results: [], onDone });
      workers.forEach((w, i) => {
        const msg: ToWorker = { type: "round", round: { id, through, events: perWorker[i] ?? [], watermark, marks } };
        w.postMessage(msg);
      });
    },
    async abort() {
      stopping = true;
      await Promise.all(workers.map((w) => w.terminate()));
    },
    async stop() {
      stopping = true;
      await Promise.race([
        Promise.all(
          workers.map(
            (w, i) =>
              new Promise<void>((resolve) => {
                stopped[i] = resolve;
                w.postMessage({ type: "stop" } satisfies ToWorker);
              }),
          ),
        ),
        failed,
      ]);
      for (const w of workers) w.terminate();
    },
  };
}
