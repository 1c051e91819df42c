import { describe, expect, test } from "bun:test";
import { FencedError, SnapshotError } from "../contract/mod.ts";
import { SNAPSHOT_VERSION, type ActorRecord, type SnapshotStore } from "./snapshot-store.ts";

/** Opens a fresh, empty store of one implementation (and disposes what it needs). */
export type OpenSnapshotStore = () => Promise<{ store: SnapshotStore; other(): Promise<SnapshotStore> } & AsyncDisposable>;

const rec = (seq: number, state: unknown, timers?: ActorRecord["timers"]): ActorRecord => ({ v: SNAPSHOT_VERSION, seq, state, ...(timers ? { timers } : {}) });

/**
 * What every SnapshotStore must do, run against each implementation in one line
 * (`snapshotStoreContract("kv", open)`), in the manner of Hono's router `common.case.test.ts`.
 */
export function snapshotStoreContract(name: string, open: OpenSnapshotStore): void {
  describe(`SnapshotStore contract (${name})`, () => {
    test("app config and partition metas: absent until saved, then read back; partitions are independent", async () => {
      await using s = await open();
      const { store } = s;
      expect(await store.loadConfig()).toBeNull();
      await store.saveConfig({ v: SNAPSHOT_VERSION, partitions: 8, replay: { from: 3, to: 9 } });
      expect(await store.loadConfig()).toEqual({ v: SNAPSHOT_VERSION, partitions: 8, replay: { from: 3, to: 9 } });
      expect(await store.loadMeta(0)).toBeNull();
      await store.saveMeta(0, { v: SNAPSHOT_VERSION, lastSeq: 41, savedAt: 7, marks: [1, 2, 3], timers: [["a", "k"]] });
      await store.saveMeta(1, { v: SNAPSHOT_VERSION, lastSeq: 5, savedAt: 8 });
      await store.saveMeta(0, { v: SNAPSHOT_VERSION, lastSeq: 42, savedAt: 9, marks: [1, 2, 3], timers: [["a", "k"]] });
      expect(await store.loadMeta(0)).toEqual({ v: SNAPSHOT_VERSION, lastSeq: 42, savedAt: 9, marks: [1, 2, 3], timers: [["a", "k"]] });
      expect(await store.loadMeta(1)).toEqual({ v: SNAPSHOT_VERSION, lastSeq: 5, savedAt: 8 });
      expect(await store.loadMeta(2)).toBeNull();
    });

    test("named positions: 0 until saved, then the last one saved; names are independent", async () => {
      await using s = await open();
      const { store } = s;
      expect(await store.loadPosition("weir_shop_in")).toBe(0);
      await store.savePosition("weir_shop_in", 512);
      await store.savePosition("weir_shop_in", 1024);
      await store.savePosition("orders", 7);
      expect(await store.loadPosition("weir_shop_in")).toBe(1024);
      expect(await store.loadPosition("orders")).toBe(7);
    });

    test("actor records: saved, read back (timers too), listed with their keys, deleted; keys may hold anything", async () => {
      await using s = await open();
      const { store } = s;
      const keys = ["u1", "a.b c", "ü-🔑", "x\u0000y", "*", ">", "k".repeat(1024)];
      expect(await store.loadActor("acc", "u1")).toBeNull();
      await store.saveActors(keys.map((key, i) => ({ actor: "acc", key, record: rec(i + 1, { n: i }) })));
      await store.saveActors([{ actor: "other", key: "u1", record: rec(9, { s: "x" }, [[100, "e", "w0"], [200, "p", ""]]) }]);
      for (const [i, key] of keys.entries()) expect(await store.loadActor("acc", key)).toEqual(rec(i + 1, { n: i }));
      expect(await store.loadActor("other", "u1")).toEqual(rec(9, { s: "x" }, [[100, "e", "w0"], [200, "p", ""]]));
      const listed: string[] = [];
      for await (const { actor, key, record } of store.listActors()) {
        listed.push(`${actor}/${key}`);
        expect(record).toEqual(actor === "other" ? rec(9, { s: "x" }, [[100, "e", "w0"], [200, "p", ""]]) : rec(keys.indexOf(key) + 1, { n: keys.indexOf(key) }));
      }
      expect(listed.sort()).toEqual([...keys.map((k) => `acc/${k}`), "other/u1"].sort());
      await store.deleteActors([{ actor: "acc", key: "a.b c" }, { actor: "acc", key: "never-saved" }]);
      expect(await store.loadActor("acc", "a.b c")).toBeNull();
      expect(await store.loadActor("acc", "u1")).toEqual(rec(1, { n: 0 }));
    });

    test("a saved record is a copy: changing the object afterwards changes nothing stored", async () => {
      await using s = await open();
      const state = { list: [1, 2], nested: { x: 1 } };
      await s.store.saveActors([{ actor: "acc", key: "k", record: rec(1, state) }]);
      state.list.push(3);
      state.nested.x = 99;
      expect((await s.store.loadActor("acc", "k"))?.state).toEqual({ list: [1, 2], nested: { x: 1 } });
      const loaded = (await s.store.loadActor("acc", "k"))!.state as { list: number[] };
      loaded.list.push(4);
      expect((await s.store.loadActor("acc", "k"))?.state).toEqual({ list: [1, 2], nested: { x: 1 } });
    });

    test("a state of several MB is stored and read back", async () => {
      await using s = await open();
      const big = { blob: "x".repeat(3 * 1024 * 1024) };
      await s.store.saveActors([{ actor: "acc", key: "big", record: rec(1, big) }]);
      expect((await s.store.loadActor("acc", "big"))?.state).toEqual(big);
    });

    test("fenced meta writes: a lower epoch than the stored one is refused, whoever wrote last", async () => {
      await using s = await open();
      const old = s.store;
      const meta = (lastSeq: number, epoch?: number) => ({ v: SNAPSHOT_VERSION, lastSeq, savedAt: lastSeq, ...(epoch !== undefined ? { epoch } : {}) });
      await old.saveMeta(0, meta(10, 5));
      await old.saveMeta(0, meta(11, 5));
      // The partition moves to another owner (another handle on the same storage), which writes at once.
      const next = await s.other();
      await next.saveMeta(0, meta(11, 9));
      // The old owner wakes up: its write is refused, and what the new owner stored stays.
      const refused = await old.saveMeta(0, meta(20, 5)).then(
        () => undefined,
        (err) => err,
      );
      expect(refused).toBeInstanceOf(FencedError);
      expect((refused as FencedError).partitions).toEqual([0]);
      expect(refused.message).toContain("epoch 9");
      expect(await next.loadMeta(0)).toEqual(meta(11, 9));
      // The new owner keeps writing; a yet newer one takes over from it.
      await next.saveMeta(0, meta(30, 9));
      await old.saveMeta(0, meta(31, 12));
      await expect(next.saveMeta(0, meta(32, 9))).rejects.toThrow(FencedError);
      expect(await old.loadMeta(0)).toEqual(meta(31, 12));
      // Other partitions are independent; a first fenced write creates the meta.
      await old.saveMeta(1, meta(1, 2));
      expect(await next.loadMeta(1)).toEqual(meta(1, 2));
    });

    test("a record of an unknown format version is refused on load, not misread", async () => {
      await using s = await open();
      await s.store.saveMeta(3, { v: 99, lastSeq: 1, savedAt: 0 });
      await s.store.saveActors([{ actor: "acc", key: "k", record: { v: 99, seq: 1, state: {} } }]);
      await expect(s.store.loadMeta(3)).rejects.toThrow(SnapshotError);
      await expect(s.store.loadActor("acc", "k")).rejects.toThrow(SnapshotError);
    });
  });
}
