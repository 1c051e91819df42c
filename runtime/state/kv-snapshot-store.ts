import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { base64url, retrying, SnapshotError } from "../contract/mod.ts";
import { casConflict } from "../nats/mod.ts";
import type { Publisher } from "../output/mod.ts";
import { msgpackCodec } from "../route/mod.ts";
import { checkVersion, fenced, type ActorRecord, type ActorWrite, type AppConfigRecord, type PartitionMeta, type SnapshotStore } from "./snapshot-store.ts";

function actorKey(actor: string, key: string): string {
  return `a.${actor}.${base64url.encode(key)}`;
}

/** Object store of a snapshot bucket, for states too large for one KV entry. */
const blobsOf = (bucket: string) => `${bucket}-blobs`;

/** Deletes a snapshot store (its KV bucket and object store), if it exists. */
export async function deleteSnapshotStore(jsm: JetStreamManager, bucket: string): Promise<void> {
  for (const stream of [`KV_${bucket}`, `OBJ_${blobsOf(bucket)}`]) await jsm.streams.delete(stream).catch(() => false);
}

export interface KvSnapshotStoreOptions {
  /** KV bucket name; its object store (for large states) is `<bucket>-blobs`. */
  bucket: string;
  /** Concurrent writes in flight during a snapshot. */
  writeConcurrency?: number;
  /**
   * Writes actor records through this publisher (to the bucket's `$KV.<bucket>.<key>` subjects)
   * instead of one `kv.put` request each; the pipelined publisher is much cheaper per write.
   */
  publisher?: Publisher;
  /** Replicas of the bucket and its object store when they are created here (existing ones are kept). Default 1. */
  replicas?: number;
}

/**
 * Snapshot store on a JetStream KV bucket (one entry per actor, one per partition). A state whose
 * encoding would not fit the server's max payload goes to an Object Store, with a pointer in KV.
 *
 * @example
 * const store = await kvSnapshotStore(nc, { bucket: "weir_clicks_state" });
 */
export async function kvSnapshotStore(nc: NatsConnection, opts: KvSnapshotStoreOptions): Promise<SnapshotStore> {
  const js = jetstream(nc);
  const replicas = opts.replicas ?? 1;
  // Retried like every broker call: a cluster electing a new leader answers with timeouts for a while.
  const kv: KV = await retrying(() => new Kvm(js).create(opts.bucket, { history: 1, replicas }));
  const concurrency = opts.writeConcurrency ?? (opts.publisher ? 4096 : 256);
  // Leave room for headers and the record envelope.
  const maxInline = Math.max(1024, nc.info!.max_payload - 4096);
  let objects: ObjectStore | undefined;
  const blobs = async () => (objects ??= await new Objm(js).create(blobsOf(opts.bucket), { replicas }));

  const getRecord = async <T>(key: string): Promise<T | null> => {
    const e = await retrying(() => kv.get(key));
    if (!e || e.operation !== "PUT" || e.value.length === 0) return null;
    return msgpackCodec.decode(e.value) as T;
  };
  const put = async (key: string, value: unknown) => {
    const bytes = msgpackCodec.encode(value);
    await retrying(() => kv.put(key, bytes));
  };

  /** Each partition's meta as this store last read or wrote it: its revision (fenced writes compare-and-set on it) and epoch. */
  const metaSeen = new Map<number, { rev: number; epoch: number }>();
  /**
   * A fenced meta write: a compare-and-set on the revision last seen; when someone else wrote
   * since, their epoch is read and, if not newer than ours, the write tried again on the new
   * revision (a retried write of our own lands here too).
   */
  const putFencedMeta = async (p: number, m: PartitionMeta & { epoch: number }) => {
    const key = `p.${p}`;
    const bytes = msgpackCodec.encode(m);
    for (;;) {
      let seen = metaSeen.get(p);
      if (!seen) {
        const e = await retrying(() => kv.get(key));
        const live = e?.operation === "PUT" && e.value.length > 0;
        // No entry (or a deleted one): revision 0 creates it, which fails if another writer creates it first.
        seen = { rev: live ? e.revision : 0, epoch: live ? ((msgpackCodec.decode(e.value) as PartitionMeta).epoch ?? 0) : 0 };
      }
      if (seen.epoch > m.epoch) throw fenced(p, m.epoch, seen.epoch);
      const expected = seen.rev;
      const written = await retrying(() =>
        (expected === 0 ? kv.create(key, bytes) : kv.update(key, bytes, expected)).catch((err): undefined => {
          if (casConflict(err)) return undefined;
          throw err;
        }),
      );
      if (written === undefined) {
        metaSeen.delete(p);
        continue;
      }
      metaSeen.set(p, { rev: written, epoch: m.epoch });
      return;
    }
  };

  const writeActor = async (w: ActorWrite): Promise<number> => {
    const key = actorKey(w.actor, w.key);
    const bytes = msgpackCodec.encode(w.record);
    if (bytes.length <= maxInline) {
      if (opts.publisher) await opts.publisher.publish(`$KV.${opts.bucket}.${key}`, bytes, {});
      else await retrying(() => kv.put(key, bytes));
      return bytes.length;
    }
    const os = await retrying(blobs);
    await retrying(() => os.putBlob({ name: key }, bytes));
    await put(key, { v: w.record.v, seq: w.record.seq, blob: true });
    return bytes.length;
  };

  const readActor = async (key: string, what: string): Promise<ActorRecord | null> => {
    const rec = await getRecord<ActorRecord & { blob?: boolean }>(key);
    if (!rec) return null;
    checkVersion(what, rec);
    if (!rec.blob) return rec;
    const os = await retrying(blobs);
    const bytes = await retrying(() => os.getBlob(key));
    if (!bytes) throw new SnapshotError(`${what}: state blob is missing from the object store`);
    return checkVersion(what, msgpackCodec.decode(bytes) as ActorRecord);
  };

  return {
    loadConfig: async () => {
      const c = await getRecord<AppConfigRecord>("config");
      return c && checkVersion("app config", c);
    },
    saveConfig: (c) => put("config", c),
    loadMeta: async (p) => {
      const m = await getRecord<PartitionMeta>(`p.${p}`);
      return m && checkVersion(`partition ${p}`, m);
    },
    loadPosition: async (name) => (await getRecord<{ seq: number }>(`r.${name}`))?.seq ?? 0,
    savePosition: (name, seq) => put(`r.${name}`, { seq }),
    saveMeta: (p, m) => (m.epoch === undefined ? put(`p.${p}`, m) : putFencedMeta(p, m as PartitionMeta & { epoch: number })),
    loadActor: (actor, key) => readActor(actorKey(actor, key), `actor ${actor}/${key}`),
    saveActors: async (writes) => {
      const sizes: number[] = [];
      for (let i = 0; i < writes.length; i += concurrency) sizes.push(...(await Promise.all(writes.slice(i, i + concurrency).map(writeActor))));
      return sizes;
    },
    deleteActors: async (ids) => {
      for (let i = 0; i < ids.length; i += concurrency) {
        await Promise.all(ids.slice(i, i + concurrency).map(({ actor, key }) => retrying(() => kv.purge(actorKey(actor, key)))));
      }
    },
    async *listActors() {
      const keys: string[] = [];
      for await (const k of await kv.keys("a.>")) keys.push(k);
      for (let i = 0; i < keys.length; i += concurrency) {
        const chunk = keys.slice(i, i + concurrency);
        const records = await Promise.all(chunk.map((k) => readActor(k, k)));
        for (let j = 0; j < chunk.length; j++) {
          const [, actor, enc] = chunk[j]!.split(".");
          const record = records[j];
          if (record && actor && enc !== undefined) yield { actor, key: base64url.decode(enc), record };
        }
      }
    },
  };
}
