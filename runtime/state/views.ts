import type { NatsConnection } from "@nats-io/nats-core";
import { Kvm, type KV } from "@nats-io/kv";
import { msgpackCodec } from "../contract/codec.ts";
import { retrying } from "../contract/retry.ts";
import { appNames } from "../nats/streams.ts";
import { fromSubjectToken, subjectToken } from "../contract/subjects.ts";

/**
 * KV keys keep the view's keys readable and prefix-ordered: a view key is one subject token (see
 * `subjectToken`), so a key prefix maps to a KV key prefix.
 */
export const viewKey = subjectToken;

/** Materialized views: the latest value per (view, key), in a JetStream KV bucket. */
export interface ViewStore {
  /** Per partition, the stream sequence up to which view writes are stored. */
  offsets(): Promise<Map<number, number>>;
  write(entries: readonly [string, string, unknown][], offsets: readonly [number, number][]): Promise<void>;
  get(view: string, key: string): Promise<unknown | undefined>;
  list(view: string, prefix?: string): Promise<{ key: string; value: unknown }[]>;
}

/** Bucket of an app's views (one per app and replay namespace). */
export const viewBucket = (app: string, namespace?: string) => appNames(app, namespace).views;

/**
 * Views on a KV bucket: keys `v.<view>.<key>`, offsets `o.<partition>` (written after the values they
 * cover, so a crash in between only means rewriting the same latest values).
 *
 * @example
 * const views = await kvViews(nc, viewBucket("ledger"));
 * await views.get("balances", "acct-1");
 */
export async function kvViews(nc: NatsConnection, bucket: string): Promise<ViewStore> {
  const kv: KV = await new Kvm(nc).create(bucket, { history: 1 });
  const read = async (k: string) => {
    const e = await retrying(() => kv.get(k));
    return e && e.operation === "PUT" && e.value.length > 0 ? msgpackCodec.decode(e.value) : undefined;
  };
  return {
    async offsets() {
      const out = new Map<number, number>();
      for await (const k of await kv.keys("o.>")) out.set(Number(k.slice(2)), (await read(k)) as number);
      return out;
    },
    async write(entries, offsets) {
      const CHUNK = 512;
      for (let i = 0; i < entries.length; i += CHUNK) {
        await Promise.all(
          entries.slice(i, i + CHUNK).map(([view, key, value]) => retrying(() => kv.put(`v.${view}.${viewKey(key)}`, msgpackCodec.encode(value)))),
        );
      }
      await Promise.all(offsets.map(([p, seq]) => retrying(() => kv.put(`o.${p}`, msgpackCodec.encode(seq)))));
    },
    get: (view, key) => read(`v.${view}.${viewKey(key)}`),
    async list(view, prefix = "") {
      // KV filters match whole tokens only: list the view, keep the keys with the prefix.
      const head = `v.${view}.`;
      const keys: string[] = [];
      for await (const k of await kv.keys(`${head}>`)) if (fromSubjectToken(k.slice(head.length)).startsWith(prefix)) keys.push(k);
      keys.sort();
      const values = await Promise.all(keys.map(read));
      return keys.map((k, i) => ({ key: fromSubjectToken(k.slice(head.length)), value: values[i] }));
    },
  };
}
