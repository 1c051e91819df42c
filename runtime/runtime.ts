import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { concatMap, type Subscription } from "rxjs";
import {
  appModuleUrl,
  ConfigError,
  describeError,
  loadApp,
  resolveConfig,
  retrying,
  type ConfigOverrides,
  systemScheduler,
  type AppDefinition,
  type Logger,
  type RoundResult,
  type RuntimeConfig,
  type Scheduler,
} from "./contract/mod.ts";
import { appNames, connectNats, ensureAppStreams, peekSeq } from "./nats/mod.ts";
import { consoleLogger } from "./observe/mod.ts";
import { checkNamespace, LIVE, livePositions, namespaceRange, resolveRange, type ReplayOptions, type ReplayRange } from "./ops/mod.ts";
import { deadLetters, pipelinedPublisher } from "./output/mod.ts";
import { acquireInstanceLock, type InstanceLock } from "./ownership/mod.ts";
import { CONTENT_TYPE_HEADER, createRouter, createWatermarks, registerInputSchemas, schemaChecks, type SchemaRegistryPort } from "./route/mod.ts";
import { openSink } from "./sinks/mod.ts";
import { createCredit, pullSource } from "./source/mod.ts";
import { deleteSnapshotStore, kvSnapshotStore, SNAPSHOT_VERSION } from "./state/mod.ts";
import { startWorkerPool } from "./workers/mod.ts";

/** What to run, where, and the options and flags over the app's own settings. */
export interface RuntimeOptions extends ConfigOverrides {
  /** Path of the app module (exports default `defineApp(...)`). */
  app: string;
  /** NATS server URL. */
  nats: string;
  /**
   * Schema registry: actors' input schemas are registered at start (a refusal stops the start) and
   * events carrying a `Weir-Schema-Id` header are validated against that schema.
   */
  registry?: SchemaRegistryPort;
  /** SQL sink URL for apps that declare tables: `sqlite:<path>` or `postgres://...[?schema=]`. */
  sink?: string;
  /**
   * Run as a replay: reprocess a range of the input stream into a namespace, then finish
   * (`ended` resolves). See {@link ReplayOptions}.
   */
  replay?: ReplayOptions;
  /** The main thread's time: the source's watchdog, lock renewals, waits. Default: the system's. */
  scheduler?: Scheduler;
}

export interface RuntimeMetrics {
  /** Messages delivered by the source. */
  received: number;
  /** Events applied by handlers. */
  processed: number;
  /** Events skipped because their effect was already stored before a restart. */
  skipped: number;
  emitted: number;
  /** Messages sent to the dead-letter subject (undecodable, key-less, invalid, failed). */
  dlq: number;
  /** Messages delivered by JetStream and not yet finished by the workers. */
  inFlight: number;
  /** Highest `inFlight` seen. */
  peakInFlight: number;
  /** Messages left in the stream after the last one delivered (consumer lag). */
  lag: number;
  /** Highest stream sequence whose round every worker has finished. */
  doneSeq: number;
  /** Sequence the source resumed from. */
  startSeq: number;
  snapshots: number;
  lastSnapshotMs: number;
  actors: number;
  workers: number;
  partitions: number;
  /** Watermark of the last finished round (event time, ms; -Infinity before any event). */
  watermark: number;
  /** Processing time minus the watermark, ms: how far behind real time the app's event time is. */
  watermarkAgeMs: number;
  /** Timers fired. */
  timersFired: number;
}

export interface Runtime {
  readonly app: AppDefinition;
  readonly inputStream: string;
  metrics(): RuntimeMetrics;
  /** Resolves when every message in the input stream (as of the call) has been processed. */
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
  const log: Logger = consoleLogger(config.logLevel);
  const scheduler = opts.scheduler ?? systemScheduler;
  if (opts.replay) checkNamespace(opts.replay.into);
  const nc = await connectNats(opts.nats, `weir-${app.name}`);
  // A replay into a namespace has its own names for everything; one into live writes to the live
  // app's subjects, tables and views, but keeps its own state.
  const ns = opts.replay && opts.replay.into !== LIVE ? opts.replay.into : undefined;
  let lock: InstanceLock | undefined;
  try {
    // One instance at a time runs an app's state; a replay into live excludes the live app too.
    lock = await acquireInstanceLock(nc, {
      name: appNames(app.name, ns).bucket,
      what: ns ? `the replay of app ${app.name} into ${ns}` : `app ${app.name}`,
      ttlMs: config.lockTtlMs,
      scheduler,
      onTakeOver: (previous) => log.warn(`took over the instance lock of ${previous}, which stopped renewing it (killed?)`),
    });
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
  lock: InstanceLock,
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
  const checks = opts.registry ? schemaChecks(opts.registry) : undefined;
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const streams = await ensureAppStreams(jsm, app, { ...(ns ? { namespace: ns } : {}), existingInput: replay !== undefined, dedupWindowMs: config.dedupWindowMs });
  // Into live: outputs and dead letters the live app has published are not sent again; its
  // position also bounds the replay, so the two never race over the same events.
  const fence = intoLive ? await livePositions(nc, jsm, app.name, partitions) : undefined;
  /** Where every partition of the live app is (replays into live only). */
  const livePos = fence ? Math.min(...fence.values()) : undefined;
  let range = replay && (await resolveRange(js, jsm, streams.input, replay, livePos));
  const bucket = intoLive ? appNames(app.name, LIVE).bucket : streams.bucket;
  // A replay into live starts from empty state every time: its effects are fenced, so an
  // interrupted one can simply run again.
  if (intoLive) await deleteSnapshotStore(jsm, bucket);
  const store = await kvSnapshotStore(nc, { bucket });

  const stored = await store.loadConfig();
  if (stored && stored.partitions !== partitions) {
    throw new ConfigError(
      `app ${app.name} keeps its state in ${stored.partitions} partitions; it cannot run with ${partitions} (drop --partitions or set partitions: ${stored.partitions})`,
    );
  }
  if (ns && range) range = namespaceRange(ns, stored, range, replay?.to !== undefined);
  if (!stored) await store.saveConfig({ v: SNAPSHOT_VERSION, partitions, ...(range ? { replay: range } : {}) });
  const metas = await Promise.all(Array.from({ length: partitions }, (_, p) => store.loadMeta(p)));
  const startSeq = Math.max(range?.from ?? 1, Math.min(...metas.map((m) => m?.lastSeq ?? 0)) + 1);

  const m: RuntimeMetrics = {
    received: 0,
    processed: 0,
    skipped: 0,
    emitted: 0,
    dlq: 0,
    inFlight: 0,
    peakInFlight: 0,
    lag: 0,
    doneSeq: startSeq - 1,
    startSeq,
    snapshots: 0,
    lastSnapshotMs: 0,
    actors: 0,
    workers: workerCount,
    partitions,
    watermark: Number.NEGATIVE_INFINITY,
    watermarkAgeMs: Number.POSITIVE_INFINITY,
    timersFired: 0,
  };

  const pool = await startWorkerPool({
    workers: workerCount,
    partitions,
    appUrl: appModuleUrl(opts.app),
    natsUrl: opts.nats,
    bucket,
    dlqSubject: streams.dlqSubject,
    logLevel: config.logLevel,
    config: { snapshot: config.snapshot, evictAfterMs: config.evictAfterMs, retry: config.retry },
    // Only apps with tables get a database connection in each worker.
    ...(opts.sink && app.tables ? { sinkUrl: opts.sink } : {}),
    ...(app.views?.length ? { viewBucket: names.views } : {}),
    effects: {
      outputPrefix: names.outputPrefix,
      sinkScope: names.sinkScope,
      tablePrefix: names.tablePrefix,
      ...(fence ? { fence: [...fence] } : {}),
    },
    onSnapshot: (ms, dlq) => {
      m.snapshots++;
      m.dlq += dlq;
      m.lastSnapshotMs = ms;
    },
  });
  log.info(
    `app ${app.name}: stream ${streams.input}${streams.filter ? ` (${streams.filter})` : streams.shared ? " (with subjects no actor reads: read and skipped)" : ""}, ${partitions} partitions on ${workerCount} workers, ` +
      (range ? `replaying sequences ${range.from}..${range.to} into ${replay!.into}, from ${startSeq}` : `resuming at sequence ${startSeq}`),
  );

  const credit = createCredit(config.maxInFlight);
  // The watermark resumes from the tracker state stored with the partition the run resumes from.
  const from = metas.find((meta) => (meta?.lastSeq ?? 0) === startSeq - 1)?.marks;
  const watermarks = createWatermarks(partitions, config.watermark, from);
  const router = createRouter(app, partitions, workerCount, { ...(checks ? { schemas: checks } : {}), watermarks });
  const publisher = pipelinedPublisher(nc, { scheduler });
  const dlq = deadLetters({ app: app.name, subject: streams.dlqSubject, publisher });
  let outstanding = 0;
  let finished = 0;
  let idle: (() => void) | undefined;
  /** The source has handed on a replay's whole range. */
  let sourceEnded = false;
  let resolveEnded!: () => void;
  const ended = new Promise<void>((res) => (resolveEnded = res));
  const endIfDone = () => {
    if (sourceEnded && outstanding === 0) resolveEnded();
  };
  // Main-thread dead letters (decode, key, schema) of positions the live app has passed were sent by it.
  const dlqFence = livePos ?? 0;

  let resolveDone!: () => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => {});

  const roundDone = (count: number, through: number, watermark: number) => (results: RoundResult[]) => {
    for (const r of results) {
      m.processed += r.processed;
      m.skipped += r.skipped;
      m.emitted += r.emitted;
      m.dlq += r.dlq;
      m.timersFired += r.fired ?? 0;
    }
    if (watermark > m.watermark) m.watermark = watermark;
    if (through > m.doneSeq) m.doneSeq = through;
    m.actors = pool.actors();
    credit.release(count);
    finished += count;
    m.inFlight = m.received - finished;
    if (--outstanding === 0) idle?.();
    endIfDone();
  };

  const subscription: Subscription = pullSource(js, {
    stream: streams.input,
    startSeq,
    ...(streams.filter ? { filter: streams.filter } : {}),
    credit,
    maxFetch: config.maxFetch,
    scheduler,
    ...(range ? { stopSeq: range.to } : {}),
    onPending: (p) => {
      m.lag = p;
    },
    onRetry: (err) => log.warn(`reading ${streams.input} failed (${describeError(err)}); retrying`),
  })
    .pipe(
      concatMap(async (msgs) => {
        m.received += msgs.length;
        m.inFlight = m.received - finished;
        if (m.inFlight > m.peakInFlight) m.peakInFlight = m.inFlight;
        if (checks) await checks.prepare(msgs);
        const batch = router.route(msgs);
        // Dead letters of the decode/route stage are stored before the round moves partition
        // progress past them.
        if (batch.rejected.length > 0) {
          await Promise.all(
            batch.rejected.map(async ({ msg, error, actor }) => {
              if (msg.seq <= dlqFence) return;
              const contentType = msg.headers?.get(CONTENT_TYPE_HEADER);
              return dlq.message({ subject: msg.subject, seq: msg.seq, data: msg.data, ...(contentType ? { contentType } : {}) }, error, actor);
            }),
          );
          m.dlq += batch.rejected.length;
        }
        return { batch, count: msgs.length };
      }),
    )
    .subscribe({
      next: ({ batch, count }) => {
        outstanding++;
        pool.dispatch(batch, roundDone(count, batch.through, batch.watermark));
      },
      error: (err) => fail(err),
      complete: () => {
        sourceEnded = true;
        endIfDone();
      },
    });

  let stopping: Promise<void> | undefined;
  const shutdown = async () => {
    subscription.unsubscribe();
    credit.close();
    if (outstanding > 0) await new Promise<void>((r) => (idle = r));
    await pool.stop();
    publisher.close();
    await lock.release();
    await nc.drain();
  };
  const fail = (err: unknown) => {
    log.error(`app ${app.name} failed: ${describeError(err)}`);
    subscription.unsubscribe();
    credit.close();
    pool.stop().catch(() => {});
    publisher.close();
    lock
      .release()
      .catch(() => {})
      .finally(() => nc.close().catch(() => {}));
    rejectDone(err);
  };
  pool.failed.catch(fail);
  lock.lost.catch(fail);

  return {
    app,
    inputStream: streams.input,
    metrics: () => ({ ...m, watermarkAgeMs: scheduler.now() - m.watermark }),
    done,
    ended,
    ...(range ? { range } : {}),
    async drained() {
      const target = await retrying(() => lastInputSeq(js, jsm, streams.input, streams.filter), { scheduler });
      while (m.doneSeq < target) await Promise.race([scheduler.sleep(20), done]);
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

/** Sequence of the newest message the app would read: the stream's last, or the filter's last. */
async function lastInputSeq(js: JetStreamClient, jsm: JetStreamManager, stream: string, filter?: string): Promise<number> {
  if (!filter) return (await jsm.streams.info(stream)).state.last_seq;
  return (await peekSeq(js, stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.Last })) ?? 0;
}
