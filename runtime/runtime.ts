import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  appModuleUrl,
  backoffMs,
  ConfigError,
  describeError,
  every,
  FencedError,
  loadApp,
  resolveConfig,
  retrying,
  type ConfigOverrides,
  systemScheduler,
  type AppDefinition,
  type Logger,
  type RuntimeConfig,
  type Scheduler,
} from "./contract/mod.ts";
import { appNames, connectNats, ensureAppStreams, natsTarget, peekSeq, type NatsAddress } from "./nats/mod.ts";
import { createLogger, createPrometheus, type MetricsSummary } from "./observe/mod.ts";
import {
  checkNamespace,
  copiedThrough,
  LIVE,
  liveInputPosition,
  livePositions,
  namespaceRange,
  partitionRanges,
  resolveRange,
  type ReplayOptions,
  type ReplayRange,
} from "./ops/mod.ts";
import { deadLetters, pipelinedPublisher } from "./output/mod.ts";
import { acquireInstanceLock, joinOwnership, liveMembers, lockHolder, LockHeldError, type InstanceLock, type Ownership } from "./ownership/mod.ts";
import { registerInputSchemas, schemaChecks, type SchemaRegistryPort } from "./route/mod.ts";
import { openSink } from "./sinks/mod.ts";
import { startRepartition, type Repartition } from "./source/mod.ts";
import { deleteSnapshotStore, kvSnapshotStore, kvViews, SNAPSHOT_VERSION } from "./state/mod.ts";
import { StartAbandonedError, startWorkerPool, StuckWorkerError, TransientWorkerError, type WorkerPool } from "./workers/mod.ts";
import { stuckKey } from "./host/mod.ts";

/** What to run, where, and the options and flags over the app's own settings. */
export interface RuntimeOptions extends ConfigOverrides {
  /** Path of the app module (exports default `defineApp(...)`). */
  app: string;
  /** NATS server URL (credentials in it are used, never printed), or a target with credentials and TLS. */
  nats: NatsAddress;
  /**
   * Schema registry: actors' input schemas are registered at start (a refusal stops the start) and
   * events carrying a `Weir-Schema-Id` header are validated against that schema.
   */
  registry?: SchemaRegistryPort;
  /**
   * URL of the module the worker threads start from: one that imports the runtime's worker
   * (`runtime/workers/worker.ts`) and installs what workers take from outside the runtime, such as
   * the schema registry they check events published straight to a partition with
   * (`useSchemaRegistry`; the CLI's `cli/worker.ts` does). Default: the runtime's worker alone,
   * whose workers check no schemas (the repartition step still checks what it copies).
   */
  workerEntry?: string;
  /** SQL sink URL for apps that declare tables: `sqlite:<path>` or `postgres://...[?schema=]`. */
  sink?: string;
  /**
   * Run as a replay: reprocess a range of the input stream into a namespace, then finish
   * (`ended` resolves). See {@link ReplayOptions}.
   */
  replay?: ReplayOptions;
  /** The main thread's time: the source's watchdog, lock renewals, waits. Default: the system's. */
  scheduler?: Scheduler;
  /** A NATS that is not up at start is waited for (one log line), instead of failing the start. */
  waitForNats?: boolean;
  /**
   * Measure what the metrics need beyond counts (latency, handler durations, snapshot sizes, sink
   * batches, dead letters by class). Default true; off, those series stay empty.
   */
  metrics?: boolean;
}

export interface RuntimeMetrics {
  /** Messages the workers read from the partitions' streams. */
  received: number;
  /** Events applied by handlers. */
  processed: number;
  /** Events skipped because their effect was already stored before a restart. */
  skipped: number;
  emitted: number;
  /** Messages sent to the dead-letter subject (undecodable, key-less, invalid, failed). */
  dlq: number;
  /**
   * Messages waiting: left in the owned partitions' streams after what the workers applied, plus
   * those left in the input stream for the repartition step (when this instance runs it).
   */
  lag: number;
  /** Position in the input stream the repartition step has copied through (when this instance runs it). */
  repartitioned: number;
  /** Sequence of the input stream the repartition step resumed from (when this instance runs it). */
  startSeq: number;
  snapshots: number;
  lastSnapshotMs: number;
  actors: number;
  workers: number;
  partitions: number;
  /** Partitions this instance owns now (all of them unless other instances share the app). */
  owned: number[];
  /** Watermark of the last finished round (event time, ms; -Infinity before any event). */
  watermark: number;
  /** Processing time minus the watermark, ms: how far behind real time the app's event time is. */
  watermarkAgeMs: number;
  /** Timers fired. */
  timersFired: number;
}

/** Whether an app takes part fully: connected, its workers running its partitions (`/readyz`). */
export interface Readiness {
  ready: boolean;
  /** Why not, when not. */
  reason?: string;
}

export interface Runtime {
  readonly app: AppDefinition;
  readonly inputStream: string;
  metrics(): RuntimeMetrics;
  /** The metrics in Prometheus's text exposition format (see `createPrometheus`). */
  prometheus(): Promise<string>;
  /** The same figures as one object, quantiles worked out (what the live page shows). */
  summary(): MetricsSummary;
  readonly prometheusContentType: string;
  readiness(): Readiness;
  /**
   * Resolves when every message in the input stream (as of the call) has been processed: by this
   * instance for the partitions it reads, and as stored by their owners for the others.
   */
  drained(): Promise<void>;
  /** Stops pulling, finishes in-flight work, takes a final snapshot, disconnects. */
  stop(): Promise<void>;
  /** Settles when the runtime has stopped; rejects if it failed. */
  readonly done: Promise<void>;
  /** A replay's range (stream sequences, inclusive); absent for a live run. */
  readonly range?: ReplayRange;
  /**
   * Resolves when a replay has processed its whole range (never for a live run, which follows its
   * stream until stopped); `stop()` then takes the final snapshot.
   */
  readonly ended: Promise<void>;
}

/**
 * Starts an app: binds its streams, restores partition progress, starts the workers and the
 * source → decode/route → workers pipeline.
 *
 * @example
 * const rt = await startRuntime({ app: "./apps/user-totals/main.ts", nats: "nats://127.0.0.1:4222" });
 * await rt.drained();
 * await rt.stop();
 */
export async function startRuntime(opts: RuntimeOptions): Promise<Runtime> {
  const app = await loadApp(opts.app);
  const config = resolveConfig(app, opts);
  const log: Logger = createLogger({ level: config.logLevel, format: config.logFormat, app: app.name });
  const scheduler = opts.scheduler ?? systemScheduler;
  if (opts.replay) checkNamespace(opts.replay.into);
  const nc = await connectNats(opts.nats, `weir-${app.name}`, opts.waitForNats ? { wait: true, onWait: (line) => log.warn(line) } : {});
  // A replay into a namespace has its own names for everything; one into live writes to the live
  // app's subjects, tables and views, but keeps its own state.
  const ns = opts.replay && opts.replay.into !== LIVE ? opts.replay.into : undefined;
  let lock: InstanceLock | undefined;
  try {
    const live = appNames(app.name);
    if (opts.replay) {
      // One replay at a time per namespace; a replay into live runs alone, the live app stopped.
      lock = await acquireInstanceLock(nc, {
        name: appNames(app.name, ns).bucket,
        what: ns ? `the replay of app ${app.name} into ${ns}` : `a replay of app ${app.name} into live`,
        ttlMs: config.lockTtlMs,
        scheduler,
        onTakeOver: (previous) => log.warn(`took over the instance lock of ${previous}, which stopped renewing it (killed?)`),
      });
      const running = ns ? 0 : (await liveMembers(nc, live.owners)).length;
      if (running > 0) throw new LockHeldError(`app ${app.name} is already running (${running} instance${running > 1 ? "s" : ""}); stop it first: a replay into live runs alone`);
    } else {
      // Instances of the live app share its partitions; a replay into live holds them all off.
      const holder = await retrying(() => lockHolder(nc, live.bucket), startUpRetries(log, scheduler));
      if (holder) throw new LockHeldError(`a replay of app ${app.name} into live is running (instance ${holder}); wait for it to finish or stop it first`);
    }
    return await start(app, config, ns, nc, opts, log, scheduler, lock);
  } catch (err) {
    await lock?.release();
    await nc.close();
    throw err;
  }
}

async function start(
  app: AppDefinition,
  config: RuntimeConfig,
  ns: string | undefined,
  nc: NatsConnection,
  opts: RuntimeOptions,
  log: Logger,
  scheduler: Scheduler,
  lock: InstanceLock | undefined,
): Promise<Runtime> {
  const { partitions, workers: workerCount } = config;
  const replay = opts.replay;
  const intoLive = replay?.into === LIVE;
  const names = appNames(app.name, ns);
  if (opts.registry) await registerInputSchemas(opts.registry, app);
  if (app.tables) {
    if (!opts.sink) throw new ConfigError(`app ${app.name} declares tables: give it a SQL sink (--sink sqlite:<path> or postgres://...)`);
    // Tables are created once, here, before the workers (each with its own connection) check them.
    const sink = openSink(opts.sink, { scope: names.sinkScope, tablePrefix: names.tablePrefix });
    try {
      await sink.prepare(app.tables);
    } finally {
      await sink.close();
    }
  }
  const js = jetstream(nc);
  // Start-up calls are retried like the rest: a cluster electing a leader answers with timeouts for a while.
  const jsm = await retrying(() => jetstreamManager(nc), startUpRetries(log, scheduler));
  const { replicas } = config;
  const streams = await retrying(
    () => ensureAppStreams(jsm, app, { ...(ns ? { namespace: ns } : {}), existingInput: replay !== undefined, dedupWindowMs: config.dedupWindowMs, replicas, partitions, retention: config.retention, notice: (line) => log.warn(line) }),
    startUpRetries(log, scheduler),
  );
  const live = appNames(app.name);
  // Into live: outputs and dead letters the live app has published are not sent again; its
  // position also bounds the replay, so the two never race over the same events.
  const fence = intoLive ? await livePositions(nc, jsm, app.name, partitions) : undefined;
  /** How far the live app has copied the input into the partitions' streams (replays only: what they can read). */
  const copied = replay ? await copiedThrough(nc, jsm, app.name, streams.input) : 0;
  /** How far in the input stream the live app has applied everything (replays into live only). */
  const livePos = fence ? await liveInputPosition(jsm, streams.input, streams.partitionStreams, fence, copied) : undefined;
  let range = replay && (await resolveRange(js, jsm, streams.input, replay, livePos));
  const bucket = intoLive ? appNames(app.name, LIVE).bucket : streams.bucket;
  // A replay into live starts from empty state every time: its effects are fenced, so an
  // interrupted one can simply run again.
  if (intoLive) await deleteSnapshotStore(jsm, bucket);
  const store = await kvSnapshotStore(nc, { bucket, replicas });
  // Created here, with the replicas asked for, before the workers open it.
  if (app.views?.length) await kvViews(nc, names.views, { replicas });

  const stored = await store.loadConfig();
  if (stored && stored.partitions !== partitions) {
    throw new ConfigError(
      `app ${app.name} keeps its state in ${stored.partitions} partitions; it cannot run with ${partitions} (drop --partitions or set partitions: ${stored.partitions})`,
    );
  }
  if (ns && range) range = namespaceRange(ns, stored, range, replay?.to !== undefined);
  if (!stored) await store.saveConfig({ v: SNAPSHOT_VERSION, partitions, ...(range ? { replay: range } : {}) });
  if (range && range.to > copied) {
    log.warn(
      `sequences ${Math.max(range.from, copied + 1)}..${range.to} of ${streams.input} are not in the partitions' streams yet (the live app copies them as it runs): the replay reads what is there`,
    );
  }
  /** A replay's range in each partition's stream (into live, never past where the live app is). */
  const ranges = range && (await partitionRanges(jsm, streams.input, streams.partitionStreams, range));
  if (ranges && fence) for (const [p, r] of ranges) r[1] = Math.min(r[1], fence.get(p) ?? 0);
  const m: RuntimeMetrics = {
    received: 0,
    processed: 0,
    skipped: 0,
    emitted: 0,
    dlq: 0,
    lag: 0,
    repartitioned: 0,
    startSeq: 0,
    snapshots: 0,
    lastSnapshotMs: 0,
    actors: 0,
    workers: workerCount,
    partitions,
    owned: [],
    watermark: Number.NEGATIVE_INFINITY,
    watermarkAgeMs: Number.POSITIVE_INFINITY,
    timersFired: 0,
  };
  const checks = opts.registry ? schemaChecks(opts.registry) : undefined;
  const publisher = pipelinedPublisher(nc, { scheduler });
  /** Whether the main connection is up now (its status says when it drops and comes back). */
  let connected = true;
  void (async () => {
    for await (const st of nc.status()) {
      if (st.type === "disconnect" && connected) {
        connected = false;
        log.warn("lost the connection to NATS: reconnecting");
      } else if (st.type === "reconnect" && !connected) {
        connected = true;
        log.info("connected to NATS again");
      }
    }
  })().catch(() => {});
  /** Why the app is not ready, or undefined when it is (see `readiness`). */
  let notReady: string | undefined = "starting: joining the instances of the app and starting the workers";
  const readinessNow = (): Readiness => {
    if (!connected) return { ready: false, reason: "not connected to NATS (reconnecting)" };
    if (closing) return { ready: false, reason: "stopping" };
    return notReady ? { ready: false, reason: notReady } : { ready: true };
  };
  const prom = createPrometheus(app.name, () => ({
    ...m,
    lag: new Map([...progress].map(([p, at]) => [p, at.pending])),
    repartitionLag,
    watermarkAgeMs: scheduler.now() - m.watermark,
    ready: readinessNow().ready,
  }));
  const dlq = deadLetters({ app: app.name, subject: streams.dlqSubject, publisher, stored: (c) => prom.deadLetter(c) });

  let resolveDone!: () => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => {});
  let resolveEnded!: () => void;
  const ended = new Promise<void>((res) => (resolveEnded = res));

  /** Where each owned partition is: applied through, and left in its stream after that. */
  const progress = new Map<number, { through: number; pending: number; watermark: number }>();
  const shareOf = (owned: readonly number[]) => (owned.length === partitions ? `${partitions} partitions` : `${owned.length} of ${partitions} partitions (${compactList(owned)})`);
  /**
   * A partition's progress as its worker starts reading it, unless a round of it has been reported
   * already (a worker may apply rounds before the others are ready): that one is newer.
   */
  const startProgress = (p: number, seq: number) => {
    if (!progress.has(p)) progress.set(p, { through: seq, pending: 0, watermark: Number.NEGATIVE_INFINITY });
  };
  const sumLag = () => {
    let lag = repartitionLag;
    for (const p of progress.values()) lag += p.pending;
    m.lag = lag;
  };
  /**
   * The data path over the partitions this instance owns: the workers, each reading its own
   * partitions' streams. An ownership change hands partitions over and takes them on in the
   * running workers (`rebalance`); a lost lease or a failed worker stops it (without a final
   * snapshot) and starts another over the new set.
   */
  const startPipeline = async (first: readonly number[], startEpochs: ReadonlyMap<number, number>, signal?: AbortSignal): Promise<Pipeline> => {
    /** The partitions and their epochs now (a rebalance adds and drops some without a restart). */
    let owned: readonly number[] = first;
    const epochs = new Map(startEpochs);
    m.owned = [...owned];
    progress.clear();
    // Until when the leases are certainly ours, for the workers to check before they write.
    const leaseClock = ownership ? new SharedArrayBuffer(8) : undefined;
    let stopLeaseClock = () => {};
    if (leaseClock) {
      // Workers read it on the wall clock; the leases are timed on the scheduler's.
      const until = new Float64Array(leaseClock);
      const update = () => void (until[0] = Date.now() + (ownership!.heldUntil(owned) - scheduler.now()));
      update();
      // It moves on with each renewal (every third of the TTL); read between them, a late update errs on the safe side.
      stopLeaseClock = every(scheduler, Math.max(20, Math.min(250, Math.floor(config.lockTtlMs / 20))), update);
    }
    let resolveEndedHere!: () => void;
    const endedHere = new Promise<void>((r) => (resolveEndedHere = r));
    let up: WorkerPool | undefined;
    // A new pool's workers report their own levels afresh.
    prom.forgetWorkers();
    const pool = await startWorkerPool({
      workers: Math.min(workerCount, owned.length),
      partitions: owned,
      appUrl: appModuleUrl(opts.app),
      nats: natsTarget(opts.nats),
      bucket,
      dlqSubject: streams.dlqSubject,
      logLevel: config.logLevel,
      logFormat: config.logFormat,
      metrics: opts.metrics ?? true,
      config: { snapshot: config.snapshot, evictAfterMs: config.evictAfterMs, retry: config.retry },
      input: {
        streams: owned.map((p) => [p, streams.partitionStreams[p]!]),
        prefix: live.inputPrefix,
        partitions,
        watermark: config.watermark,
        maxInFlight: config.maxInFlight,
        maxFetch: config.maxFetch,
        ...(ranges ? { ranges: owned.map((p): [number, number, number] => [p, ...ranges.get(p)!]) } : {}),
        ...(opts.registry ? { schemas: true } : {}),
      },
      ...(opts.workerEntry ? { entry: opts.workerEntry } : {}),
      ...(signal ? { signal } : {}),
      // Only apps with tables get a database connection in each worker.
      ...(opts.sink && app.tables ? { sinkUrl: opts.sink } : {}),
      ...(app.views?.length ? { viewBucket: names.views } : {}),
      ...(stuck.size > 0 ? { stuck: [...stuck] } : {}),
      // Live runs fence every write by the leases' epochs (replays run alone under their lock).
      ...(ownership ? { epochs: [...epochs], leaseClock: leaseClock! } : {}),
      effects: {
        outputPrefix: names.outputPrefix,
        sinkScope: names.sinkScope,
        tablePrefix: names.tablePrefix,
        ...(fence ? { fence: [...fence] } : {}),
      },
      onTelemetry: (i, t) => prom.absorb(i, t),
      onSnapshot: (ms, dlqCount) => {
        prom.snapshotTaken(ms);
        m.snapshots++;
        m.dlq += dlqCount;
        m.lastSnapshotMs = ms;
      },
      onRound: (r) => {
        transientFailures = 0;
        m.received += r.count;
        m.processed += r.result.processed;
        m.skipped += r.result.skipped;
        m.emitted += r.result.emitted;
        m.dlq += r.result.dlq;
        m.timersFired += r.result.fired ?? 0;
        // A worker may apply a round before the others are ready (and the pool is returned).
        if (up) m.actors = up.actors();
        progress.set(r.partition, { through: r.through, pending: r.pending, watermark: r.watermark });
        let low = Number.POSITIVE_INFINITY;
        for (const p of progress.values()) if (p.watermark > Number.NEGATIVE_INFINITY && p.watermark < low) low = p.watermark;
        if (low !== Number.POSITIVE_INFINITY) m.watermark = low;
        sumLag();
      },
      onEnded: () => resolveEndedHere(),
    }).catch((err) => {
      stopLeaseClock();
      throw err;
    });
    up = pool;
    for (const [p, seq] of pool.positions) startProgress(p, seq);
    void endedHere.then(resolveEnded);
    log.info(
      `app ${app.name}: input ${streams.input}${streams.filter ? ` (${streams.filter})` : ""}, ${shareOf(owned)} on ${pool.size} workers, ` +
        (range
          ? `replaying sequences ${range.from}..${range.to} of ${streams.input} into ${replay!.into}`
          : `resuming each partition from its snapshot in its own stream (${live.partitionStream(owned[0]!)}, ...)`),
    );
    let failPipeline!: (err: unknown) => void;
    const failed = new Promise<never>((_, rej) => (failPipeline = rej));
    failed.catch(() => {});
    pool.failed.catch(failPipeline);

    return {
      get owned() {
        return owned;
      },
      epochs,
      failed,
      abandon: () => void pool.abort(),
      async rebalance(want, wantEpochs) {
        const gone = owned.filter((p) => !want.includes(p));
        const added = want.filter((p) => !owned.includes(p));
        // A partition lost and taken again has a new epoch: its workers must start over with it.
        if (owned.some((p) => want.includes(p) && wantEpochs.get(p) !== epochs.get(p))) return false;
        // Taking partitions on where more workers should read them: a restart spreads them.
        if (added.length > 0 && pool.size < Math.min(workerCount, want.length)) return false;
        if (gone.length > 0) {
          await pool.drop(gone);
          // Only once their final snapshots are stored: until then their writes wait on the leases.
          owned = owned.filter((p) => !gone.includes(p));
          for (const p of gone) {
            epochs.delete(p);
            progress.delete(p);
          }
        }
        if (added.length > 0) {
          // The lease clock covers them before their workers claim them.
          owned = [...owned, ...added].sort((x, y) => x - y);
          for (const p of added) epochs.set(p, wantEpochs.get(p)!);
          await pool.add(added, epochs, new Map(added.map((p) => [p, streams.partitionStreams[p]!])));
          for (const p of added) startProgress(p, pool.positions.get(p) ?? 0);
        }
        m.owned = [...owned];
        log.info(
          `app ${app.name}: ${shareOf(owned)} on ${pool.size} workers, without a restart` +
            `${added.length ? `; took on ${compactList(added)}` : ""}${gone.length ? `; handed over ${compactList(gone)}` : ""}`,
        );
        return true;
      },
      async stop(final) {
        try {
          if (!final) {
            // A lost lease: whatever the workers hold is not ours to store any more.
            await pool.abort();
            return;
          }
          try {
            await pool.stop();
          } catch (err) {
            // A worker the watchdog ended: the others have stopped, its partitions resume from their snapshots.
            if (err instanceof StuckWorkerError) return;
            // The final snapshot was refused (the partitions moved on meanwhile), or a worker failed
            // on the broker before or during it: nothing more of it lands, and the next owner
            // resumes from the last snapshot, as after a crash (nothing lost, no effect repeated).
            if (!(err instanceof FencedError) && !(err instanceof TransientWorkerError)) throw err;
            log.warn(`${err.message}; handing the partitions over without a final snapshot (they resume from their last one)`);
            await pool.abort();
          }
        } finally {
          // After the final snapshot: its writes wait on this clock too.
          stopLeaseClock();
        }
      },
    };
  };

  /**
   * The repartition step, in one instance of the group at a time (under a lock): copies what
   * producers publish to the input stream into the partitions' streams. The other instances stand
   * by and take over when the lock's holder stops renewing it.
   */
  let repartitionLag = 0;
  let stopRepartition: () => Promise<void> = async () => {};
  const repartitionLoop = () => {
    let step: Repartition | undefined;
    let stepLock: InstanceLock | undefined;
    let stopped = false;
    // One signal for the whole life of the loop: a stop that comes while the step is starting
    // must still end the wait that follows.
    let wake = () => {};
    const stopSignal = new Promise<void>((r) => (wake = r));
    const loop = (async () => {
      let failures = 0;
      while (!stopped) {
        try {
          stepLock = await acquireInstanceLock(nc, { name: `${streams.bucket}_repartition`, what: `the repartition step of app ${app.name}`, ttlMs: config.lockTtlMs, scheduler });
        } catch (err) {
          if (!(err instanceof LockHeldError)) log.warn(`repartitioning: ${describeError(err)}; trying again`);
          // Another instance runs it: stand by.
          await Promise.race([scheduler.sleep(config.lockTtlMs), stopSignal]);
          continue;
        }
        try {
          if (stopped) break;
          step = await startRepartition(nc, jsm, {
            app,
            partitions,
            stream: streams.input,
            ...(streams.filter ? { filter: streams.filter } : {}),
            prefix: live.inputPrefix,
            partitionStreams: streams.partitionStreams,
            store,
            publisher,
            dlq,
            ...(checks ? { schemas: checks } : {}),
            maxInFlight: config.maxInFlight,
            maxFetch: config.maxFetch,
            scheduler,
            log,
            onProgress: (seq, pending) => {
              m.repartitioned = seq;
              repartitionLag = pending;
              sumLag();
            },
          });
          m.startSeq = step.startSeq;
          failures = 0;
          await Promise.race([step.failed, stepLock.lost, stopSignal]);
        } catch (err) {
          if (!stopped) {
            log.warn(`repartitioning ${streams.input} failed (${describeError(err)}); starting it again`);
            await Promise.race([scheduler.sleep(backoffMs(++failures, { baseMs: 200, maxMs: 5_000 })), stopSignal]);
          }
        } finally {
          await step?.stop().catch(() => {});
          step = undefined;
          await stepLock.release();
          stepLock = undefined;
        }
      }
    })();
    stopRepartition = async () => {
      stopped = true;
      wake();
      await loop;
    };
  };

  let pipeline: Pipeline | undefined;
  let stopping: Promise<void> | undefined;
  /** Failed or stopping: no pipeline starts any more. */
  let closing = false;
  const fail = (err: unknown) => {
    log.error(`app ${app.name} failed: ${describeError(err)}`);
    closing = true;
    const p = pipeline;
    pipeline = undefined;
    p?.stop(false).catch(() => {});
    void stopRepartition();
    publisher.close();
    void Promise.allSettled([lock?.release(), ownership?.stop()]).finally(() => nc.close().catch(() => {}));
    rejectDone(err);
  };
  /** Partitions being handed back to the group (a rebalance, or this instance stopping). */
  const giving = new Set<number>();
  let ownership: Ownership | undefined;
  /** The lease epoch of each of these partitions now (0 without leases: a replay). */
  const epochsOf = (ps: readonly number[]): Map<number, number> => {
    const held = ownership?.owned();
    return new Map(ps.map((p) => [p, held?.get(p) ?? 0]));
  };
  const owned = () => (ownership ? [...ownership.owned().keys()].filter((p) => !giving.has(p)).sort((x, y) => x - y) : Array.from({ length: partitions }, (_, p) => p));
  /**
   * Brings the pipeline in line with the partitions owned now: rebalanced in its running workers
   * where it can be, else stopped (with a final snapshot, unless a lease was lost) and started over
   * the new set. One change at a time, and a burst of changes (leases taken one by one) is one.
   */
  let changes: Promise<void> = Promise.resolve();
  /**
   * The step of a change under way: a pipeline rebalancing, stopping with a final snapshot, or
   * starting (its workers claim their partitions). Its writes wait while the leases are
   * unconfirmed: when one it covers is lost meanwhile (the cluster unreachable past the TTL) they
   * cannot land, and waiting for them would hold every change after it (and a clean stop) for
   * good, so the loss abandons it.
   */
  let underway: { covers: (p: number) => boolean; what: string; abandon: (p: number) => void; onStop?: () => void } | undefined;
  const during = async <T>(step: NonNullable<typeof underway>, work: () => Promise<T>): Promise<T> => {
    underway = step;
    try {
      return await work();
    } finally {
      underway = undefined;
    }
  };
  let queued = false;
  let lostSome = false;
  /** The pipeline must start again even over the same partitions (a worker was terminated). */
  let restart = false;
  /** Events whose handler the watchdog stopped (see `stuckKey`): every new pipeline skips them. */
  const stuck = new Set<string>();
  const reconcile = (): Promise<void> => {
    if (queued) return changes;
    queued = true;
    // A failed change does not stop the ones after it (each caller sees its own change fail).
    changes = changes.catch(() => {}).then(async () => {
      queued = false;
      const want = closing ? [] : owned();
      // A lease lost and taken again between two changes has a new epoch: the pipeline restarts with it.
      if (pipeline && same(pipeline.owned, want) && sameEpochs(pipeline.epochs, epochsOf(want)) && !restart) return;
      // Partitions handed over and taken on in the running workers; the others go on meanwhile.
      if (pipeline && want.length > 0 && !lostSome && !restart) {
        const current = pipeline;
        const step = { covers: (p: number) => current.owned.includes(p), what: "its workers were rebalancing", abandon: () => current.abandon() };
        try {
          if (await during(step, () => current.rebalance(want, epochsOf(want)))) return;
        } catch {
          // The workers failed (a fenced write, a lease lost and the workers abandoned): the
          // pipeline's failure handler, or the change a lost lease queued, takes it from here.
          return;
        }
      }
      const old = pipeline;
      pipeline = undefined;
      // No final snapshot after a lost lease or a terminated worker: the partitions resume from the last one.
      const final = !lostSome && !restart;
      lostSome = false;
      restart = false;
      if (old) await during({ covers: (p) => old.owned.includes(p), what: "its workers were stopping", abandon: () => old.abandon() }, () => old.stop(final));
      // Leases may have moved while the old pipeline stopped: start over what is held now.
      const held = closing ? [] : owned();
      if (held.length === 0) {
        m.owned = [];
        notReady = undefined;
        if (!closing) log.info(`app ${app.name}: owns no partitions now (other instances hold them)`);
        return;
      }
      const epochs = epochsOf(held);
      let current: Pipeline;
      const start = new AbortController();
      try {
        current = await during(
          {
            covers: (p) => held.includes(p),
            what: "its workers were starting",
            abandon: (p) => start.abort(`partition ${p} was lost`),
            // A start that waits on the broker (a node restarting) would hold a stop as long.
            onStop: () => start.abort("the app is stopping"),
          },
          () => startPipeline(held, epochs, start.signal),
        );
      } catch (err) {
        // A lease lost while starting: the change that loss queued starts over what is held then.
        if (err instanceof StartAbandonedError) return;
        if (err instanceof TransientWorkerError) {
          void startAgain(err);
          return;
        }
        // A lease that moved just before its claim: drop it and start over what is left.
        if (!(err instanceof FencedError) || !ownership) throw err;
        await fenced(ownership, err, epochs, false);
        void reconcile().catch(fail);
        return;
      }
      pipeline = current;
      notReady = undefined;
      current.failed.catch((err) => {
        if (pipeline !== current) return;
        if (err instanceof FencedError && ownership) fenced(ownership, err, current.epochs).catch(fail);
        else if (err instanceof StuckWorkerError && err.stuck.seq >= 0) unstick(err).catch(fail);
        else if (err instanceof TransientWorkerError) void startAgain(err);
        else fail(err);
      });
    });
    return changes;
  };

  /** Transient failures in a row (reset by a round applied): the backoff before the next start. */
  let transientFailures = 0;
  /**
   * A worker failed on the broker (a node restarting, a leader moving): the pipeline starts again
   * from the snapshots after a backoff, as often as it takes; what failed is logged each time.
   */
  const startAgain = async (err: TransientWorkerError) => {
    const wait = backoffMs(++transientFailures, { baseMs: 500, maxMs: 30_000 });
    notReady = `its workers start again from the snapshots after a failure (${err.message})`;
    log.warn(`${err.message}; the partitions start again from their snapshots in ${Math.round(wait)} ms`);
    await Promise.race([scheduler.sleep(wait), done.then(() => {}, () => {})]);
    if (closing) return;
    restart = true;
    await reconcile().catch(fail);
  };

  /**
   * The watchdog terminated a worker whose handler never returned: the pipeline starts again from
   * the snapshots, and that event is dead-lettered (reason: deadline, sync) instead of run again.
   */
  const unstick = async (err: StuckWorkerError) => {
    const { seq, partition, def } = err.stuck;
    log.error(`${err.message}; event ${seq} of actor ${app.actors[def]?.name} goes to the dead-letter subject and its partitions start again from their snapshots`);
    stuck.add(stuckKey(partition, seq, def));
    restart = true;
    await reconcile();
  };

  /**
   * A worker's write was refused: a newer owner holds some of our partitions, and we have not
   * noticed yet (paused past the lease, cut off from NATS). The renewals find the leases gone, the
   * pipeline restarts without those partitions (nothing more is stored for them), and this instance
   * stays in the group.
   */
  const fenced = async (group: Ownership, err: FencedError, writer: ReadonlyMap<number, number>, thenReconcile = true) => {
    log.warn(`${err.message}; dropping ${err.partitions.length > 1 ? "them" : "it"}`);
    lostSome = true;
    await group.tick();
    // Held still with the epoch the refused writer had: the store knows a newer one than the lease.
    const still = err.partitions.filter((p) => group.owned().get(p) === writer.get(p));
    if (still.length > 0) {
      throw new FencedError(
        `partition ${still[0]} is refused to this instance although its lease is held (epoch ${group.owned().get(still[0]!)}): its state was written under a newer epoch. Was the owner bucket ${names.owners} deleted while the app's state was kept?`,
        still,
      );
    }
    if (thenReconcile) await reconcile();
  };

  if (replay) {
    lock!.lost.catch(fail);
  } else {
    let joined = false;
    ownership = await joinOwnership(nc, {
      bucket: names.owners,
      partitions,
      capacity: workerCount,
      ttlMs: config.lockTtlMs,
      replicas,
      scheduler,
      log,
      events: {
        acquired: () => {
          if (joined) reconcile().catch(fail);
        },
        release: async (p) => {
          giving.add(p);
          try {
            await reconcile();
          } finally {
            giving.delete(p);
          }
        },
        lost: (p) => {
          if (underway?.covers(p)) {
            log.warn(`partition ${p} was lost while ${underway.what}: that is abandoned, and it resumes from its last snapshot`);
            underway.abandon(p);
          }
          lostSome = true;
          reconcile().catch(fail);
        },
      },
    });
    joined = true;
  }
  try {
    await reconcile();
    if (!replay) repartitionLoop();
  } catch (err) {
    // Nothing started: hand the partitions straight back rather than let their leases expire.
    closing = true;
    await ownership?.stop().catch(() => {});
    publisher.close();
    throw err;
  }

  const shutdown = async () => {
    closing = true;
    // A start under way is called off (its workers have applied nothing the next owner cannot apply again).
    underway?.onStop?.();
    await stopRepartition();
    if (ownership) await ownership.stop();
    await reconcile();
    publisher.close();
    await lock?.release();
    await nc.drain();
  };

  return {
    app,
    inputStream: streams.input,
    metrics: () => ({ ...m, watermarkAgeMs: scheduler.now() - m.watermark }),
    prometheus: () => prom.text(),
    summary: () => prom.summary(),
    prometheusContentType: prom.contentType,
    readiness: readinessNow,
    done,
    ended,
    ...(range ? { range } : {}),
    async drained() {
      if (!replay) {
        // The repartition step (here or in another instance) has copied what the input holds now.
        const target = await retrying(() => lastInputSeq(js, jsm, streams.input, streams.filter), { scheduler });
        while ((await retrying(() => store.loadPosition(streams.input), { scheduler })) < target) await Promise.race([scheduler.sleep(50), done]);
      }
      const ends = await Promise.all(streams.partitionStreams.map((s) => retrying(() => jsm.streams.info(s), { scheduler }).then((i) => i.state.last_seq)));
      const target = (p: number) => Math.min(ends[p]!, ranges?.get(p)?.[1] ?? Number.POSITIVE_INFINITY);
      // The partitions this instance reads, by what its workers report; the others (read by other
      // instances, moving between two, or all of them while this one restarts) by the position
      // their owner stored, checked less often.
      const all = Array.from({ length: partitions }, (_, p) => p);
      const stored = new Map<number, number>();
      let lastLook = Number.NEGATIVE_INFINITY;
      for (;;) {
        const mine = pipeline?.owned ?? [];
        // (A replay reads every partition itself: it waits for its pipeline while that restarts.)
        const others = replay ? [] : all.filter((p) => !mine.includes(p) && (stored.get(p) ?? 0) < target(p));
        if (others.length > 0 && scheduler.now() - lastLook >= 200) {
          lastLook = scheduler.now();
          const metas = await Promise.all(others.map((p) => retrying(() => store.loadMeta(p), { scheduler })));
          others.forEach((p, i) => stored.set(p, metas[i]?.lastSeq ?? 0));
        }
        const behind = (p: number) => (mine.includes(p) ? (progress.get(p)?.through ?? 0) : replay ? -1 : (stored.get(p) ?? 0)) < target(p);
        if (!all.some(behind)) return;
        await Promise.race([scheduler.sleep(20), done]);
      }
    },
    stop() {
      stopping ??= shutdown().then(resolveDone, (err) => {
        rejectDone(err);
        throw err;
      });
      return stopping;
    },
  };
}

/** The data path over one set of owned partitions. */
interface Pipeline {
  readonly owned: readonly number[];
  /** The epoch of each owned partition's lease as the pipeline started (0 without leases). */
  readonly epochs: ReadonlyMap<number, number>;
  /** Rejects when the source or a worker fails. */
  readonly failed: Promise<never>;
  /** Stops reading; `final`: finish what is in flight and snapshot; else drop it (a lost lease). */
  stop(final: boolean): Promise<void>;
  /** Terminates the workers now (a lease lost): a final snapshot under way is dropped, its `stop` resolves. */
  abandon(): void;
  /**
   * Brings the running workers to these partitions without a restart: those handed over are
   * snapshotted and let go, those taken on are claimed and read. False (nothing done) where a
   * restart is needed: a kept partition's epoch changed, or more workers should read the new set.
   * Throws when the workers fail meanwhile (the pipeline's `failed` says why).
   */
  rebalance(want: readonly number[], epochs: ReadonlyMap<number, number>): Promise<boolean>;
}

/** Start-up calls are retried while the broker is away (a cluster electing a leader), each retry said. */
const startUpRetries = (log: Logger, scheduler: Scheduler) => ({
  scheduler,
  onRetry: (err: unknown, attempt: number) => log.warn(`starting: ${describeError(err)}; trying again (attempt ${attempt + 1})`),
});

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const sameEpochs = (a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>) => a.size === b.size && [...b].every(([p, e]) => a.get(p) === e);

/** `0-3,7,9-10`: partition lists for log lines. */
function compactList(ps: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < ps.length; i++) {
    let j = i;
    while (j + 1 < ps.length && ps[j + 1] === ps[j]! + 1) j++;
    out.push(i === j ? `${ps[i]}` : `${ps[i]}-${ps[j]}`);
    i = j;
  }
  return out.join(",");
}

/** Sequence of the newest message the app would read: the stream's last, or the filter's last. */
async function lastInputSeq(js: JetStreamClient, jsm: JetStreamManager, stream: string, filter?: string): Promise<number> {
  if (!filter) return (await jsm.streams.info(stream)).state.last_seq;
  return (await peekSeq(js, stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.Last })) ?? 0;
}
