import type { NatsConnection } from "@nats-io/nats-core";
import { Kvm, type KV } from "@nats-io/kv";
import { fromSubjectToken, retrying } from "../contract/mod.ts";
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
