/// <reference lib="dom" />
import type { NatsConnection } from "@nats-io/nats-core";
import { concatMap, map, Subject, type Subscription } from "rxjs";
import { fileURLToPath } from "node:url";
import { describeError, every, isWeirError, loadApp, systemScheduler, type AppDefinition, type FencedError, type Logger, type RoundResult, type SourceMsg } from "../contract/mod.ts";
import { createActorHost, type ActorHost } from "../host/mod.ts";
import { workerWatch } from "./watchdog.ts";
import { connectNats, transientNatsError } from "../nats/mod.ts";
import { createLogger, LATENCY_BOUNDS, newTelemetry, observe, takeTelemetry, type Telemetry } from "../observe/mod.ts";
import { pipelinedPublisher } from "../output/mod.ts";
import { CONTENT_TYPE_HEADER, createRouter, TRACE_HEADER, createWatermarks, schemaChecks, type Router, type SchemaChecks, type SchemaRegistryPort } from "../route/mod.ts";
import { openSink, type SqlSink } from "../sinks/mod.ts";
import { createCredit, pullSource, type Credit } from "../source/mod.ts";
import { kvSnapshotStore, kvViews } from "../state/mod.ts";
import { REPORT_EVERY_MS, type FromWorker, type RoundReport, type ToWorker, type WorkerInit, type WorkerInput } from "./protocol.ts";

// Worker entry, the composition root of its thread: picks the stores, the sink and the publisher
// for the actor host of the partitions it is given, and reads those partitions' streams itself (no
// event crosses the main thread). Chunks and messages are handled strictly one after another
// (concatMap), so the actors of a key never run concurrently and see stream order.

declare const self: Worker;
/** What this worker measured since its last report (sent with the round reports and snapshots); none with metrics off. */
let telemetry: Telemetry | undefined;
/** Round reports not posted yet, by partition (see `REPORT_EVERY_MS`). */
const unreported = new Map<number, RoundReport>();
let reportTimer: ReturnType<typeof setTimeout> | undefined;
const postReports = () => {
  if (reportTimer) clearTimeout(reportTimer);
  reportTimer = undefined;
  if (unreported.size === 0) return;
  self.postMessage({ type: "rounds", reports: [...unreported.values()], ...(telemetry ? { telemetry: takeTelemetry(telemetry) } : {}) } satisfies FromWorker);
  unreported.clear();
};
/** Posts a message to the main thread, after the round reports gathered so far (so it sees them first). */
const post = (m: FromWorker) => {
  postReports();
  self.postMessage(m);
};

let host: ActorHost | undefined;
let nc: NatsConnection | undefined;
let closePublisher: (() => void) | undefined;
let sink: SqlSink | undefined;
let stopTicks: (() => void) | undefined;
let log: Logger | undefined;
let app: AppDefinition;
/** The partitions being read, each its own subscription (partitions come and go with a rebalance). */
const reading = new Map<number, Subscription>();
let input: WorkerInput;
/** `read` is subscribing its sources: a replay's end is said by its caller, once. */
let subscribing = false;
let nextRound = 1;
type Chunk = { type: "chunk"; partition: number; msgs: SourceMsg[]; router: Router; credit: Credit };
type RegistryFactory = (nc: NatsConnection) => Promise<Pick<SchemaRegistryPort, "validator">>;
let registryFactory: RegistryFactory | undefined;
/** The worker's schema checks of messages published straight to its partitions (when the runtime has a registry and the entry installed one). */
let checks: SchemaChecks | undefined;

/**
 * Installs the schema registry workers check events against (called by a worker entry module at
 * its top level, before the worker is told to start; see `RuntimeOptions.workerEntry`).
 *
 * @example
 * useSchemaRegistry(async (nc) => registryPort(createRegistry({ store: await kvRegistryStore(nc) })));
 */
export function useSchemaRegistry(factory: RegistryFactory): void {
  registryFactory = factory;
}
const inbox = new Subject<ToWorker | Chunk | { type: "tick" } | { type: "ended" }>();

async function init(msg: WorkerInit): Promise<void> {
  app = await loadApp(fileURLToPath(msg.appUrl));
  if (msg.metrics) telemetry = newTelemetry();
  log = createLogger({ level: msg.logLevel, format: msg.logFormat, app: app.name, component: `worker ${msg.index}` });
  nc = await connectNats(msg.nats, `weir-worker-${msg.index}`);
  const publisher = pipelinedPublisher(nc, { scheduler: systemScheduler });
  closePublisher = publisher.close;
  const store = await kvSnapshotStore(nc, { bucket: msg.bucket, publisher });
  // Each worker has its own database connection; the sink is picked from its URL here, at the edge.
  const { effects } = msg;
  sink = msg.sinkUrl ? openSink(msg.sinkUrl, { scope: effects.sinkScope, tablePrefix: effects.tablePrefix }) : undefined;
  host = createActorHost({
    app,
    partitions: msg.partitions,
    store,
    publisher,
    dlqSubject: msg.dlqSubject,
    scheduler: systemScheduler,
    log,
    config: msg.config,
    ...(telemetry ? { telemetry } : {}),
    ...(sink ? { sink } : {}),
    ...(msg.viewBucket ? { views: await kvViews(nc, msg.viewBucket) } : {}),
    outputPrefix: effects.outputPrefix,
    ...(effects.fence ? { fence: new Map(effects.fence) } : {}),
    ...(msg.epochs ? { epochs: new Map(msg.epochs) } : {}),
    ...(msg.leaseClock ? { leaseHeld: leaseHeld(new Float64Array(msg.leaseClock)) } : {}),
    watch: workerWatch(msg.watch),
    ...(msg.stuck?.length ? { stuck: new Set(msg.stuck) } : {}),
    wake: () => inbox.next({ type: "tick" }),
  });
  await host.init();
  const positions = host.positions();
  post({ type: "ready", positions: positions.map((p) => [p.partition, p.lastSeq]) });
  if (msg.input.schemas && registryFactory) checks = schemaChecks(await registryFactory(nc));
  else if (msg.input.schemas) log.debug("no schema registry installed in this worker: events published straight to a partition are not checked against their Weir-Schema-Id");
  input = { ...msg.input, streams: [...msg.input.streams] };
  log.debug(`reading partitions ${positions.map((p) => `${p.partition} from ${p.lastSeq + 1}`).join(", ")}`);
  read(positions);
  // A replay whose ranges hold nothing more for these partitions has ended already.
  if (reading.size === 0) inbox.next({ type: "ended" });
  // Processing-time timers and time-based snapshots are checked between rounds, twice per snapshot period.
  const period = Math.max(50, Math.min(1000, Math.floor(msg.config.snapshot.everyMs / 2)));
  stopTicks = every(systemScheduler, period, () => inbox.next({ type: "tick" }));
}

/**
 * One source (a pull consumer of its own) per partition, from its stored position + 1 (to the end
 * of a replay's range), unfiltered: a partition's stream holds only its own events, so no start
 * pays a subject scan. Each partition has its own credit, so an idle one's open pull holds back no
 * other. Called at start, and for the partitions a rebalance adds.
 */
function read(positions: ReturnType<ActorHost["positions"]>): void {
  subscribing = true;
  const streams = new Map(input.streams);
  const ranges = new Map(input.ranges?.map(([p, from, to]) => [p, { from, to }]));
  const perPartition = Math.max(64, Math.floor(input.maxInFlight / Math.max(1, reading.size + positions.length)));
  for (const { partition, lastSeq, marks } of positions) {
    const range = ranges.get(partition);
    const startSeq = Math.max(lastSeq + 1, range?.from ?? 1);
    if (input.ranges && (!range || startSeq > range.to)) continue;
    const credit = createCredit(perPartition);
    const router = createRouter(app, input.partitions, 1, {
      input: { partition, prefix: input.prefix },
      watermarks: createWatermarks(input.partitions, input.watermark, marks),
      ...(checks ? { schemas: checks } : {}),
    });
    const stream = streams.get(partition)!;
    const source = pullSource(nc!, {
      stream,
      startSeq,
      credit,
      maxFetch: Math.min(input.maxFetch, perPartition),
      scheduler: systemScheduler,
      ...(range ? { stopSeq: range.to } : {}),
      onRetry: (err) => log?.warn(`reading ${stream} failed (${describeError(err)}); retrying`),
    });
    const sub = source.pipe(map((msgs): Chunk => ({ type: "chunk", partition, msgs, router, credit }))).subscribe({
      next: (c) => inbox.next(c),
      error: (err) => inbox.error(err),
      complete: () => {
        reading.delete(partition);
        // A replay's last partition has reached the end of its range (said by the caller when it
        // happens while the sources are still being subscribed).
        if (reading.size === 0 && !subscribing) inbox.next({ type: "ended" });
      },
    });
    if (!sub.closed) reading.set(partition, sub);
  }
  subscribing = false;
}

/** Stops reading these partitions (all when absent): nothing more of them reaches the inbox. */
function stopReading(partitions?: readonly number[]): void {
  for (const p of partitions ?? [...reading.keys()]) {
    reading.get(p)?.unsubscribe();
    reading.delete(p);
  }
}

/** Decodes and routes one partition's chunk, and applies it as one round. */
async function apply({ partition, msgs, router, credit }: Chunk): Promise<void> {
  if (checks) await checks.prepare(msgs);
  const batch = router.route(msgs);
  for (const { msg, subject, error, actor } of batch.rejected) {
    const contentType = msg.headers?.get(CONTENT_TYPE_HEADER);
    const trace = msg.headers?.get(TRACE_HEADER);
    host!.reject(partition, { subject, seq: msg.seq, data: msg.data, ...(contentType ? { contentType } : {}), ...(trace ? { trace } : {}) }, error, actor);
  }
  const result = await host!.process({ id: nextRound++, partition, through: batch.through, events: batch.perWorker[0]!, watermark: batch.watermark, marks: batch.marks });
  // End-to-end: from the event's store in the partition's stream to the end of its round.
  if (telemetry) {
    const nowNanos = Date.now() * 1e6;
    for (let i = 0; i < msgs.length; i++) observe(telemetry.latency, LATENCY_BOUNDS, Math.max(0, nowNanos - msgs[i]!.info.timestampNanos) / 1e9);
  }
  credit.release(msgs.length);
  result.dlq += batch.rejected.length;
  report(partition, result, msgs.length, { pending: msgs[msgs.length - 1]!.info.pending, watermark: batch.watermark });
}

/** Per partition, what was last reported: a held key let go moves `through` on without a chunk. */
const reported = new Map<number, { through: number; pending: number; watermark: number }>();

function report(partition: number, result: RoundResult, count: number, at: { pending: number; watermark: number }): void {
  const now = { through: host!.through(partition), pending: at.pending, watermark: at.watermark };
  reported.set(partition, now);
  const last = unreported.get(partition);
  if (last) {
    const r = last.result;
    r.id = result.id;
    r.processed += result.processed;
    r.skipped += result.skipped;
    r.emitted += result.emitted;
    r.dlq += result.dlq;
    if (result.fired) r.fired = (r.fired ?? 0) + result.fired;
    Object.assign(last, { actors: host!.size(), count: last.count + count, ...now });
  } else unreported.set(partition, { result: { ...result }, actors: host!.size(), partition, count, ...now });
  reportTimer ??= setTimeout(postReports, REPORT_EVERY_MS);
}

/** After a tick: what it did (told with the first partition), and the partitions whose held keys moved on. */
function reportTick(result: RoundResult): void {
  let untold = result.processed + result.dlq + result.emitted + (result.fired ?? 0) > 0;
  for (const [partition, last] of reported) {
    if (host!.through(partition) === last.through && !untold) continue;
    report(partition, untold ? result : { ...result, processed: 0, emitted: 0, dlq: 0, fired: 0 }, 0, last);
    untold = false;
  }
}

/** One tick when the earliest held key's retry is due. */
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let retryAt = Number.POSITIVE_INFINITY;
function scheduleRetry(): void {
  const at = host!.nextRetryAt();
  if (at >= retryAt) return;
  if (retryTimer) clearTimeout(retryTimer);
  retryAt = at;
  retryTimer = setTimeout(() => {
    retryTimer = undefined;
    retryAt = Number.POSITIVE_INFINITY;
    inbox.next({ type: "tick" });
  }, Math.max(0, at - systemScheduler.now()));
}

/** Waits while the main thread cannot vouch for the leases (a renewal moves the time on; a lost lease terminates this worker). */
const leaseHeld = (until: Float64Array) => async () => {
  if (Date.now() <= until[0]!) return;
  log?.warn(`the leases are unconfirmed since ${new Date(until[0]!).toISOString()} (paused, or cut off from NATS?): writes wait for a renewal`);
  while (Date.now() > until[0]!) await Bun.sleep(20);
};

async function handle(msg: ToWorker | Chunk | { type: "tick" } | { type: "ended" }): Promise<void> {
  switch (msg.type) {
    case "init":
      return init(msg);
    case "add": {
      await host!.add(msg.partitions, new Map(msg.epochs));
      input.streams.push(...msg.streams);
      const added = new Set(msg.partitions);
      const positions = host!.positions().filter((p) => added.has(p.partition));
      read(positions);
      post({ type: "added", positions: positions.map((p) => [p.partition, p.lastSeq]) });
      return;
    }
    case "drop":
      // Reading them stopped when the message arrived (onmessage, below); what was read before is applied.
      await snapshot();
      await host!.drop(msg.partitions);
      for (const p of msg.partitions) reported.delete(p);
      input.streams = input.streams.filter(([p]) => !msg.partitions.includes(p));
      post({ type: "dropped" });
      return;
    case "chunk":
      await apply(msg);
      if (host!.held() > 0) scheduleRetry();
      if (host!.snapshotDue()) await snapshot();
      return;
    case "ended":
      // A replay's range is read: its held keys are tried until each is applied or dead-lettered.
      if (host!.held() > 0) reportTick(await host!.drain());
      post({ type: "ended" });
      return;
    case "tick":
      if (!host) return;
      reportTick(await host.tick());
      if (host.held() > 0) scheduleRetry();
      if (host.snapshotDue()) await snapshot();
      return;
    case "stop":
      // Reading stopped when the stop arrived (onmessage, below). Held keys are not waited for:
      // the snapshot stops short of them, and their events are read again after a restart.
      stopTicks?.();
      if (retryTimer) clearTimeout(retryTimer);
      if (host) await snapshot();
      closePublisher?.();
      await sink?.close();
      await nc?.drain();
      post({ type: "stopped" });
      inbox.complete();
      return;
  }
}

async function snapshot(): Promise<void> {
  const t0 = performance.now();
  const dlq = await host!.snapshot();
  post({ type: "snapshot", ms: performance.now() - t0, dlq, ...(telemetry ? { telemetry: takeTelemetry(telemetry) } : {}) });
}

inbox.pipe(concatMap((m) => handle(m))).subscribe({
  error: (err) => {
    // The worker stops either way; a fenced write is the instance's to act on (drop, rejoin), not a crash.
    if (isWeirError(err) && err.name === "FencedError") {
      // Said here too: the main thread may already be dropping this worker and not hear it.
      log?.warn(`write refused: ${err.message}`);
      post({ type: "fenced", message: err.message, partitions: [...(err as FencedError).partitions] });
    } else post({ type: "fatal", message: describeError(err), transient: transientNatsError(err) || (isWeirError(err) && err.retryable) });
  },
});

self.onmessage = (e: MessageEvent<ToWorker>) => {
  // Nothing more is read once a stop is asked for (or of the partitions a drop names); what was
  // read before it is applied and snapshotted.
  if (e.data.type === "stop") stopReading();
  else if (e.data.type === "drop") stopReading(e.data.partitions);
  inbox.next(e.data);
};
