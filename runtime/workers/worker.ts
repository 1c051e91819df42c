/// <reference lib="dom" />
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { concatMap, Subject } from "rxjs";
import { fileURLToPath } from "node:url";
import { createActorHost, type ActorHost } from "../host/host.ts";
import { loadApp } from "../contract/load-app.ts";
import { systemClock } from "../contract/clock.ts";
import { describeError } from "../contract/errors.ts";
import { consoleLogger } from "../observe/log.ts";
import { pipelinedPublisher } from "../output/publisher.ts";
import { kvSnapshotStore } from "../state/snapshot-store.ts";
import { openSink, type SqlSink } from "../sinks/mod.ts";
import { kvViews } from "../state/views.ts";
import type { FromWorker, ToWorker, WorkerInit } from "./protocol.ts";

// Worker entry: hosts the actors of the partitions it is given. Messages are handled strictly one
// after another (concatMap), so the actors of a key never run concurrently and see stream order.

declare const self: Worker;
const post = (m: FromWorker) => self.postMessage(m);

let host: ActorHost | undefined;
let nc: NatsConnection | undefined;
let closePublisher: (() => void) | undefined;
let sink: SqlSink | undefined;
let tick: ReturnType<typeof setInterval> | undefined;
const inbox = new Subject<ToWorker | { type: "tick" }>();

async function init(msg: WorkerInit): Promise<void> {
  const log = consoleLogger(msg.logLevel, `weir worker ${msg.index}`);
  const app = await loadApp(fileURLToPath(msg.appUrl));
  nc = await connect({ servers: msg.natsUrl, noAsyncTraces: true, maxReconnectAttempts: -1, reconnectTimeWait: 250, name: `weir-worker-${msg.index}` });
  const publisher = pipelinedPublisher(nc);
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
    clock: systemClock,
    log,
    ...(sink ? { sink } : {}),
    ...(msg.viewBucket ? { views: await kvViews(nc, msg.viewBucket) } : {}),
    outputPrefix: effects.outputPrefix,
    ...(effects.fence ? { fence: new Map(effects.fence) } : {}),
  });
  await host.init();
  const period = Math.max(50, Math.min(1000, Math.floor((app.snapshot?.everyMs ?? 1000) / 2)));
  tick = setInterval(() => inbox.next({ type: "tick" }), period);
  post({ type: "ready" });
}

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
      if (tick) clearInterval(tick);
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
  error: (err) => post({ type: "fatal", message: describeError(err) }),
});

self.onmessage = (e: MessageEvent<ToWorker>) => inbox.next(e.data);
