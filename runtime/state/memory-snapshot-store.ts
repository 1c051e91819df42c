import { msgpackCodec } from "../route/mod.ts";
import { checkVersion, fenced, type ActorRecord, type AppConfigRecord, type PartitionMeta, type SnapshotStore } from "./snapshot-store.ts";

/**
 * A snapshot store in this process's memory, with the KV store's semantics: records are stored
 * encoded (a saved state is a copy, never shared with the live actor), unknown format versions are
 * refused on load, deletes remove. For running the actor host without a broker (tests in virtual
 * time, the app test kit); state lives as long as the store object.
 *
 * @example
 * const store = memorySnapshotStore();
 * const host = createActorHost({ app, partitions: [0], store, ... });
 */
export function memorySnapshotStore(): SnapshotStore {
  const records = new Map<string, Uint8Array>();
  /** Stores a record encoded (a copy, as a real store keeps it); returns its size. */
  const put = (k: string, v: unknown): number => {
    const bytes = msgpackCodec.encode(v);
    records.set(k, bytes);
    return bytes.length;
  };
  const get = <T>(k: string): T | null => {
    const bytes = records.get(k);
    return bytes ? (msgpackCodec.decode(bytes) as T) : null;
  };
  const actorKey = (actor: string, key: string) => `a\u0000${actor}\u0000${key}`;
  return {
    loadConfig: async () => {
      const c = get<AppConfigRecord>("config");
      return c && checkVersion("app config", c);
    },
    saveConfig: async (c) => void put("config", c),
    loadMeta: async (p) => {
      const m = get<PartitionMeta>(`p\u0000${p}`);
      return m && checkVersion(`partition ${p}`, m);
    },
    loadPosition: async (name) => get<{ seq: number }>(`r\u0000${name}`)?.seq ?? 0,
    savePosition: async (name, seq) => void put(`r\u0000${name}`, { seq }),
    saveMeta: async (p, m) => {
      const stored = get<PartitionMeta>(`p\u0000${p}`)?.epoch ?? 0;
      if (m.epoch !== undefined && stored > m.epoch) throw fenced(p, m.epoch, stored);
      put(`p\u0000${p}`, m);
    },
    loadActor: async (actor, key) => {
      const r = get<ActorRecord>(actorKey(actor, key));
      return r && checkVersion(`actor ${actor}/${key}`, r);
    },
    saveActors: async (writes) => writes.map((w) => put(actorKey(w.actor, w.key), w.record)),
    deleteActors: async (ids) => {
      for (const { actor, key } of ids) records.delete(actorKey(actor, key));
    },
    async *listActors() {
      for (const k of [...records.keys()]) {
        if (!k.startsWith("a\u0000")) continue;
        // Actor names hold no NUL; keys may.
        const at = k.indexOf("\u0000", 2);
        const actor = k.slice(2, at);
        const key = k.slice(at + 1);
        const record = get<ActorRecord>(k);
        if (record) yield { actor, key, record: checkVersion(`actor ${actor}/${key}`, record) };
      }
    },
  };
}
