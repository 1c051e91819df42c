import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { fromSubjectToken, retrying } from "../contract/mod.ts";
import { kvKeys } from "../nats/mod.ts";
import { msgpackCodec } from "../route/mod.ts";
import { viewKey, type ViewStore } from "./views.ts";

/**
 * Views on a KV bucket: keys `v.<view>.<key>`, offsets `o.<partition>` (written after the values they
 * cover, so a crash in between only means rewriting the same latest values).
 *
 * @example
 * const views = await kvViews(nc, appNames("ledger").views);
 * await views.get("balances", "acct-1");
 */
export async function kvViews(nc: NatsConnection, bucket: string, opts: { replicas?: number } = {}): Promise<ViewStore> {
  // Replicas count when the bucket is created here; an existing one is kept as it is.
  const kv: KV = await retrying(() => new Kvm(nc).create(bucket, { history: 1, replicas: opts.replicas ?? 1 }));
  const jsm = await retrying(() => jetstreamManager(nc, { checkAPI: false }));
  const read = async (k: string) => {
    const e = await retrying(() => kv.get(k));
    return e && e.operation === "PUT" && e.value.length > 0 ? msgpackCodec.decode(e.value) : undefined;
  };
  return {
    async offsets(partitions) {
      // One read per partition asked for: no listing, which a worker starting would wait on.
      const seqs = await Promise.all(partitions.map((p) => read(`o.${p}`)));
      return new Map(partitions.flatMap((p, i) => (seqs[i] === undefined ? [] : [[p, seqs[i] as number]])));
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
      const keys = (await retrying(() => kvKeys(jsm, bucket, `${head}>`))).filter((k) => fromSubjectToken(k.slice(head.length)).startsWith(prefix)).sort();
      const values = await Promise.all(keys.map(read));
      return keys.flatMap((k, i) => (values[i] === undefined ? [] : [{ key: fromSubjectToken(k.slice(head.length)), value: values[i] }]));
    },
  };
}
