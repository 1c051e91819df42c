/// <reference lib="dom" />
import type { NatsConnection } from "@nats-io/nats-core";
import { concatMap, Subject } from "rxjs";
import { fileURLToPath } from "node:url";
import { describeError, every, isWeirError, loadApp, systemScheduler, type FencedError } from "../contract/mod.ts";
import { createActorHost, type ActorHost } from "../host/mod.ts";
import { workerWatch } from "./watchdog.ts";
import { connectNats } from "../nats/mod.ts";
import { consoleLogger } from "../observe/mod.ts";
import { pipelinedPublisher } from "../output/mod.ts";
import { openSink, type SqlSink } from "../sinks/mod.ts";
import { kvSnapshotStore, kvViews } from "../state/mod.ts";
import type { FromWorker, ToWorker, WorkerInit } from "./protocol.ts";

// Worker entry, the composition root of its thread: picks the stores, the sink and the publisher
// for the actor host of the partitions it is given. Messages are handled strictly one after another
// (concatMap), so the actors of a key never run concurrently and see stream order.

declare const self: Worker;
const post = (m: FromWorker) => self.postMessage(m);

let host: ActorHost | undefined;
let nc: NatsConnection | undefined;
let closePublisher: (() => void) | undefined;
let sink: SqlSink | undefined;
let stopTicks: (() => void) | undefined;
let log: ReturnType<typeof consoleLogger> | undefined;
const inbox = new Subject<ToWorker | { type: "tick" }>();

async function init(msg: WorkerInit): Promise<void> {
  log = consoleLogger(msg.logLevel, `weir worker ${msg.index}`);
  const app = await loadApp(fileURLToPath(msg.appUrl));
  nc = await connectNats(msg.natsUrl, `weir-worker-${msg.index}`);
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
    ...(sink ? { sink } : {}),
    ...(msg.viewBucket ? { views: await kvViews(nc, msg.viewBucket) } : {}),
    outputPrefix: effects.outputPrefix,
    ...(effects.fence ? { fence: new Map(effects.fence) } : {}),
    ...(msg.epochs ? { epochs: new Map(msg.epochs) } : {}),
    ...(msg.leaseClock ? { leaseHeld: leaseHeld(new Float64Array(msg.leaseClock)) } : {}),
    watch: workerWatch(msg.watch),
    ...(msg.stuck?.length ? { stuck: new Set(msg.stuck) } : {}),
  });
  await host.init();
  // Processing-time timers and time-based snapshots are checked between rounds, twice per snapshot period.
  const period = Math.max(50, Math.min(1000, Math.floor(msg.config.snapshot.everyMs / 2)));
  stopTicks = every(systemScheduler, period, () => inbox.next({ type: "tick" }));
  post({ type: "ready" });
}

/** Waits while the main thread cannot vouch for the leases (a renewal moves the time on; a lost lease terminates this worker). */
const leaseHeld = (until: Float64Array) => async () => {
  if (Date.now() <= until[0]!) return;
  log?.warn(`the leases are unconfirmed since ${new Date(until[0]!).toISOString()} (paused, or cut off from NATS?): writes wait for a renewal`);
  while (Date.now() > until[0]!) await Bun.sleep(20);
};

async function handle(msg: ToWorker | { type: "tick" }): Promise<void> {
  switch (msg.type) {
    case "init":
      return init(msg);
    case "round": {
      const result = await host!.process(msg.round);
      post({ type: "ack", result, actors: host!.size() });
      if (host!.snapshotDue()) await snapshot();
      return;
    }
    case "tick":
      await host?.tick();
      if (host?.snapshotDue()) await snapshot();
      return;
    case "stop":
      stopTicks?.();
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
  post({ type: "snapshot", ms: performance.now() - t0, dlq });
}

inbox.pipe(concatMap((m) => handle(m))).subscribe({
  error: (err) => {
    // The worker stops either way; a fenced write is the instance's to act on (drop, rejoin), not a crash.
    if (isWeirError(err) && err.name === "FencedError") {
      // Said here too: the main thread may already be dropping this worker and not hear it.
      log?.warn(`write refused: ${err.message}`);
      post({ type: "fenced", message: err.message, partitions: [...(err as FencedError).partitions] });
    } else post({ type: "fatal", message: describeError(err) });
  },
});

self.onmessage = (e: MessageEvent<ToWorker>) => inbox.next(e.data);
