import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { appNames, hasBucket } from "../nats/mod.ts";
import { ownerView } from "../ownership/mod.ts";
import { kvSnapshotStore } from "../state/mod.ts";

/** One partition of a running (or stopped) app: who owns it and how far its stored state reaches. */
export interface PartitionStatus {
  partition: number;
  /** The instance holding its lease now; absent when nobody does. */
  owner?: string;
  /** The lease's fencing epoch (absent without an owner). */
  epoch?: number;
  /** Sequence of the partition's own stream up to which its state is stored (0: nothing yet). */
  storedSeq: number;
  /** Last sequence of the partition's stream (absent when the stream is not found). */
  streamSeq?: number;
  /** When that state was stored (ms since the epoch); absent before the first snapshot. */
  savedAt?: number;
  /** Messages of the partition's stream after `storedSeq`: what a new owner would read again (the lag of what is stored). */
  behind?: number;
  /** The partition's event-time watermark as stored (ms since the epoch); absent before it has one. */
  watermark?: number;
}

export interface AppStatus {
  app: string;
  partitions: number;
  /** Live instances: id, host, worker threads, when it joined. */
  members: { id: string; host: string; capacity: number; since: number }[];
  /** Last sequence of the input stream (absent when the stream is not found). */
  inputSeq?: number;
  /** Position in the input stream through which the repartition step has copied (0: not yet). */
  repartitioned: number;
  /** Messages in the app's output stream, and its last sequence (absent without one). */
  outputs?: { messages: number; lastSeq: number };
  /** Messages in the app's dead-letter stream. */
  deadLetters: number;
  /** The app's watermark as stored: the lowest of its partitions' (absent before any has one). */
  watermark?: number;
  /** Of every partition, the sum of `behind`. */
  behind: number;
  /** Stored positions summed over the partitions: what has been applied and stored. */
  stored: number;
  perPartition: PartitionStatus[];
}

/**
 * What `weir status` shows: an app's instances and, per partition, its owner, epoch and how far
 * its stored state trails the input. Read from the app's buckets and stream; nothing is changed.
 *
 * @example
 * const st = await appStatus(nc, "ledger");
 * st.perPartition.filter((p) => !p.owner) // partitions nobody runs now
 */
export async function appStatus(nc: NatsConnection, app: string, inputStream = appNames(app).input): Promise<AppStatus | undefined> {
  const names = appNames(app);
  const jsm = await jetstreamManager(nc);
  // Opened, never created: an app that never ran here has no state bucket.
  if (!(await hasBucket(jsm, names.bucket))) return undefined;
  const store = await kvSnapshotStore(nc, { bucket: names.bucket });
  const config = await store.loadConfig();
  const partitions = config?.partitions ?? 0;
  const state = (stream: string) =>
    jsm.streams.info(stream).then(
      (i) => i.state,
      () => undefined,
    );
  const [view, metas, input, streams, repartitioned, output, dlq] = await Promise.all([
    ownerView(nc, names.owners),
    Promise.all(Array.from({ length: partitions }, (_, p) => store.loadMeta(p))),
    state(inputStream),
    Promise.all(Array.from({ length: partitions }, (_, p) => state(names.partitionStream(p)))),
    store.loadPosition(inputStream),
    state(names.output),
    state(names.dlq),
  ]);
  const perPartition = metas.map((m, partition): PartitionStatus => {
    const lease = view?.leases.get(partition);
    const storedSeq = m?.lastSeq ?? 0;
    const streamSeq = streams[partition]?.last_seq;
    const watermark = m?.marks?.[0];
    return {
      partition,
      ...(lease ? { owner: lease.owner, epoch: lease.epoch } : {}),
      storedSeq,
      ...(m ? { savedAt: m.savedAt } : {}),
      ...(streamSeq !== undefined ? { streamSeq, behind: Math.max(0, streamSeq - storedSeq) } : {}),
      ...(watermark !== undefined && Number.isFinite(watermark) ? { watermark } : {}),
    };
  });
  const marks = perPartition.flatMap((p) => (p.watermark !== undefined ? [p.watermark] : []));
  return {
    app,
    partitions,
    members: (view?.members ?? []).map(({ id, host, capacity, since }) => ({ id, host, capacity, since })),
    ...(input ? { inputSeq: input.last_seq } : {}),
    repartitioned,
    ...(output ? { outputs: { messages: output.messages, lastSeq: output.last_seq } } : {}),
    deadLetters: dlq?.messages ?? 0,
    ...(marks.length ? { watermark: Math.min(...marks) } : {}),
    behind: perPartition.reduce((n, p) => n + (p.behind ?? 0), 0),
    stored: perPartition.reduce((n, p) => n + p.storedSeq, 0),
    perPartition,
  };
}
