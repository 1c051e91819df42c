import { FencedError } from "../contract/mod.ts";
import type { Telemetry } from "../observe/mod.ts";
import { partitionsOfWorker } from "../route/mod.ts";
import type { FromWorker, RoundReport, ToWorker, WorkerInit } from "./protocol.ts";
import { watchBuffer, watchWorkers, type StuckInvocation } from "./watchdog.ts";

/**
 * A handler or `onTimer` ran past its deadline without returning (a synchronous loop): its
 * worker was terminated. The pool fails with this; the runtime dead-letters the event and
 * restarts the partitions from their snapshots.
 */
export class StuckWorkerError extends Error {
  constructor(
    message: string,
    readonly stuck: StuckInvocation,
  ) {
    super(message);
    this.name = "StuckWorkerError";
  }
}

/**
 * A worker failed on the broker (timeouts, a lost connection, JetStream unavailable for a while):
 * its partitions can start again from their snapshots once it is back.
 */
export class TransientWorkerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TransientWorkerError";
  }
}

/** The start was called off (`WorkerPoolOptions.signal`): its workers were terminated before they were all ready. */
export class StartAbandonedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartAbandonedError";
  }
}

/** What every worker is told at start (its own index and partitions aside), and the pool's own settings. */
export interface WorkerPoolOptions extends Omit<WorkerInit, "type" | "index" | "partitions" | "watch"> {
  workers: number;
  /** The partitions this instance owns, spread over the workers as {@link partitionsOfWorker} says. */
  partitions: readonly number[];
  /** A worker snapshotted: how long it took, and dead letters it sent outside rounds. */
  onSnapshot?: (ms: number, dlq: number) => void;
  /** A worker applied a round of one of its partitions. */
  onRound?: (report: RoundReport) => void;
  /** Every worker has applied its whole range (a replay). */
  onEnded?: () => void;
  /** A worker's measurements since its last report (see `Telemetry`). */
  onTelemetry?: (worker: number, t: Telemetry) => void;
  /** URL of the workers' entry module (see `RuntimeOptions.workerEntry`); the runtime's own worker by default. */
  entry?: string;
  /**
   * Calls the start off (a lease lost meanwhile: the workers would wait for good to write on it):
   * the workers are terminated and the start rejects with a {@link StartAbandonedError}.
   */
  signal?: AbortSignal;
}

export interface WorkerPool {
  readonly size: number;
  /** Each partition's stored position as its worker started (it reads on from the next). */
  readonly positions: ReadonlyMap<number, number>;
  /** Actors in memory, summed over workers (as of their last ack). */
  actors(): number;
  /**
   * Rejects when a worker reports a fatal error or dies; with a `FencedError` when one's writes
   * were fenced, a {@link StuckWorkerError} when the watchdog terminated one.
   */
  readonly failed: Promise<never>;
  /**
   * Takes more partitions on in the running workers (each to the worker with the fewest), with their
   * lease epochs and streams: resolves once each is claimed and read from its stored position (then
   * in `positions`).
   */
  add(partitions: readonly number[], epochs: ReadonlyMap<number, number>, streams: ReadonlyMap<number, string>): Promise<void>;
  /** Hands partitions over: their workers stop reading them, snapshot, and let them go. */
  drop(partitions: readonly number[]): Promise<void>;
  /** Final snapshot in every worker, then terminate. */
  stop(): Promise<void>;
  /** Terminates every worker at once, without a snapshot (their partitions' leases are lost). */
  abort(): Promise<void>;
}

/**
 * Starts W Bun workers and waits until each has loaded the app and its partitions' progress.
 *
 * @example
 * const pool = await startWorkerPool({ workers: 4, partitions: 32, appUrl, nats: natsTarget(url), bucket, dlqSubject, logLevel: "info" });
 */
export async function startWorkerPool(opts: WorkerPoolOptions): Promise<WorkerPool> {
  const workers: Worker[] = [];
  const actorCounts: number[] = [];
  const positions = new Map<number, number>();
  let ended = 0;
  let fail!: (err: Error) => void;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => {});
  const stopped: Array<() => void> = [];
  /** Which worker reads each partition. */
  const assigned = new Map<number, number>();
  /** Per worker, the replies awaited to its "add" and "drop" messages, in the order they were sent. */
  const replies: { resolve: (m: FromWorker) => void; reject: (err: Error) => void }[][] = Array.from({ length: opts.workers }, () => []);
  failed.catch((err) => {
    for (const queue of replies) for (const r of queue.splice(0)) r.reject(err);
  });
  /** Sends a worker an "add" or "drop" and waits for its reply (or the pool's failure). */
  const ask = (i: number, m: ToWorker) =>
    new Promise<FromWorker>((resolve, reject) => {
      replies[i]!.push({ resolve, reject });
      workers[i]!.postMessage(m);
    });
  let stopping = false;
  const watches = Array.from({ length: opts.workers }, watchBuffer);
  /** Workers the watchdog ended. */
  const terminated = new Set<number>();
  // An async attempt ends at its deadline inside the worker; past that and a grace, only a thread
  // that never yields is still in it.
  const deadlineMs = opts.config.retry.deadlineMs;
  const stopWatchdog = watchWorkers(watches, deadlineMs + Math.max(1_000, deadlineMs / 2), (s) => {
    const w = workers[s.worker];
    if (!w) return;
    const what = s.seq < 0 ? `an onTimer of partition ${s.partition}` : `the handler of event ${s.seq} (partition ${s.partition})`;
    const err = new StuckWorkerError(`worker ${s.worker}: ${what} ran for more than ${deadlineMs} ms without returning; the worker was terminated`, s);
    w.terminate();
    // A stop does not wait for it (now or later); its partitions resume from their snapshots.
    terminated.add(s.worker);
    stopped[s.worker]?.();
    if (!stopping) fail(err);
  });

  // What every worker is told: the options, without the pool's own.
  const { workers: _count, partitions: _total, onSnapshot: _onSnapshot, onRound: _onRound, onEnded: _onEnded, onTelemetry: _onTelemetry, entry, input, signal, ...shared } = opts;
  const abandoned = new Promise<never>((_, reject) => {
    const off = () => reject(new StartAbandonedError(`the start of the workers was abandoned: ${String(signal!.reason ?? "called off")}`));
    if (signal?.aborted) off();
    else signal?.addEventListener("abort", off, { once: true });
  });
  abandoned.catch(() => {});
  const ready = Promise.all(
    Array.from({ length: opts.workers }, (_, i) => {
      return new Promise<void>((resolve, reject) => {
        // From source: worker.ts beside this file. In the compiled binary import.meta.url is the
        // binary itself, and ./worker.ts the build's second entry point (cli/worker.ts).
        const w = new Worker(entry ?? new URL("./worker.ts", import.meta.url).href);
        workers.push(w);
        actorCounts.push(0);
        w.onmessage = (e: MessageEvent<FromWorker>) => {
          const m = e.data;
          switch (m.type) {
            case "ready":
              for (const [p, seq] of m.positions) positions.set(p, seq);
              resolve();
              break;
            case "added":
              for (const [p, seq] of m.positions) positions.set(p, seq);
              replies[i]!.shift()?.resolve(m);
              break;
            case "dropped":
              replies[i]!.shift()?.resolve(m);
              break;
            case "rounds":
              for (const r of m.reports) {
                actorCounts[i] = r.actors;
                opts.onRound?.(r);
              }
              if (m.telemetry) opts.onTelemetry?.(i, m.telemetry);
              break;
            case "ended":
              if (++ended === opts.workers) opts.onEnded?.();
              break;
            case "snapshot":
              opts.onSnapshot?.(m.ms, m.dlq);
              if (m.telemetry) opts.onTelemetry?.(i, m.telemetry);
              break;
            case "stopped":
              stopped[i]?.();
              break;
            case "fatal": {
              const err = m.transient ? new TransientWorkerError(`worker ${i}: ${m.message}`) : new Error(`worker ${i}: ${m.message}`);
              reject(err);
              fail(err);
              break;
            }
            case "fenced": {
              const err = new FencedError(m.message, m.partitions);
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
        const mine = partitionsOfWorker(i, opts.workers, opts.partitions);
        for (const p of mine) assigned.set(p, i);
        const own = new Set(mine);
        const init: ToWorker = {
          ...shared,
          type: "init",
          index: i,
          partitions: mine,
          watch: watches[i]!,
          input: { ...input, streams: input.streams.filter(([p]) => own.has(p)), maxInFlight: Math.max(1, Math.floor(input.maxInFlight / opts.workers)) },
        };
        w.postMessage(init);
      });
    }),
  );
  try {
    await Promise.race([ready, failed, abandoned]);
  } catch (err) {
    stopping = true;
    stopWatchdog();
    for (const w of workers) w.terminate();
    throw err;
  }

  return {
    size: opts.workers,
    positions,
    failed,
    actors: () => actorCounts.reduce((a, b) => a + b, 0),
    async add(partitions, epochs, streams) {
      const load = workers.map((_, i) => [...assigned.values()].filter((w) => w === i).length);
      const to = new Map<number, number[]>();
      for (const p of partitions) {
        const i = load.indexOf(Math.min(...load));
        load[i]!++;
        assigned.set(p, i);
        to.set(i, [...(to.get(i) ?? []), p]);
      }
      await Promise.all(
        [...to].map(([i, ps]) =>
          ask(i, { type: "add", partitions: ps, epochs: ps.map((p) => [p, epochs.get(p)!]), streams: ps.map((p) => [p, streams.get(p)!]) }),
        ),
      );
    },
    async drop(partitions) {
      const from = new Map<number, number[]>();
      for (const p of partitions) {
        const i = assigned.get(p);
        if (i === undefined) continue;
        from.set(i, [...(from.get(i) ?? []), p]);
      }
      await Promise.all([...from].map(([i, ps]) => ask(i, { type: "drop", partitions: ps })));
      for (const p of partitions) {
        assigned.delete(p);
        positions.delete(p);
      }
    },
    async abort() {
      stopping = true;
      stopWatchdog();
      await Promise.all(workers.map((w) => w.terminate()));
      for (const queue of replies) for (const r of queue.splice(0)) r.reject(new Error("the workers were terminated"));
      // A stop under way (its final snapshot) ends here too: nothing more of it is written.
      for (const s of stopped) s?.();
    },
    async stop() {
      stopping = true;
      await Promise.race([
        Promise.all(
          workers.map(
            (w, i) =>
              new Promise<void>((resolve) => {
                if (terminated.has(i)) return resolve();
                stopped[i] = resolve;
                w.postMessage({ type: "stop" } satisfies ToWorker);
              }),
          ),
        ),
        // A worker the watchdog ended has stopped already (the others are waited for).
        failed.catch((err) => (err instanceof StuckWorkerError ? new Promise<never>(() => {}) : Promise.reject(err))),
      ]);
      stopWatchdog();
      for (const w of workers) w.terminate();
    },
  };
}
