import { fromSubjectToken } from "../contract/mod.ts";
import { msgpackCodec } from "../route/mod.ts";
import { viewKey, type ViewStore } from "./views.ts";

/**
 * Views in this process's memory, with the KV views' semantics: values stored encoded (copies),
 * the latest value per key, lists by key prefix in the order of the keys' {@link viewKey}s.
 *
 * @example
 * const views = memoryViews();
 * await views.write([["balances", "acct-1", { balance: 5 }]], [[0, 42]]);
 */
export function memoryViews(): ViewStore {
  const values = new Map<string, Uint8Array>();
  const offsets = new Map<number, number>();
  const at = (view: string, key: string) => `${view}.${viewKey(key)}`;
  return {
    offsets: async (partitions) => new Map(partitions.flatMap((p) => (offsets.has(p) ? [[p, offsets.get(p)!]] : []))),
    async write(entries, written) {
      for (const [view, key, value] of entries) values.set(at(view, key), msgpackCodec.encode(value));
      for (const [p, seq] of written) offsets.set(p, seq);
    },
    async get(view, key) {
      const bytes = values.get(at(view, key));
      return bytes && msgpackCodec.decode(bytes);
    },
    async list(view, prefix = "") {
      const head = `${view}.`;
      return [...values.keys()]
        .filter((k) => k.startsWith(head) && fromSubjectToken(k.slice(head.length)).startsWith(prefix))
        .sort()
        .map((k) => ({ key: fromSubjectToken(k.slice(head.length)), value: msgpackCodec.decode(values.get(k)!) }));
    },
  };
}
