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
  const lastSeq = (stream: string) =>
    jsm.streams.info(stream).then(
      (i) => i.state.last_seq,
      () => undefined,
    );
  const [view, metas, inputSeq, streamSeqs, repartitioned] = await Promise.all([
    ownerView(nc, names.owners),
    Promise.all(Array.from({ length: partitions }, (_, p) => store.loadMeta(p))),
    lastSeq(inputStream),
    Promise.all(Array.from({ length: partitions }, (_, p) => lastSeq(names.partitionStream(p)))),
    store.loadPosition(inputStream),
  ]);
  return {
    app,
    partitions,
    members: (view?.members ?? []).map(({ id, host, capacity, since }) => ({ id, host, capacity, since })),
    ...(inputSeq !== undefined ? { inputSeq } : {}),
    repartitioned,
    perPartition: metas.map((m, partition) => {
      const lease = view?.leases.get(partition);
      const storedSeq = m?.lastSeq ?? 0;
      const streamSeq = streamSeqs[partition];
      return {
        partition,
        ...(lease ? { owner: lease.owner, epoch: lease.epoch } : {}),
        storedSeq,
        ...(m ? { savedAt: m.savedAt } : {}),
        ...(streamSeq !== undefined ? { streamSeq, behind: Math.max(0, streamSeq - storedSeq) } : {}),
      };
    }),
  };
}
