import { describe, expect, test } from "bun:test";
import type { ViewStore } from "./views.ts";

export type OpenViewStore = () => Promise<{ views: ViewStore } & AsyncDisposable>;

/** What every ViewStore must do, run against each implementation in one line. */
export function viewStoreContract(name: string, open: OpenViewStore): void {
  describe(`ViewStore contract (${name})`, () => {
    test("the latest value per key, and how far each partition's writes reach", async () => {
      await using s = await open();
      const { views } = s;
      expect(await views.offsets([0, 1, 3])).toEqual(new Map());
      expect(await views.get("balances", "a")).toBeUndefined();
      await views.write([["balances", "a", { n: 1 }], ["balances", "b", { n: 2 }], ["other", "a", "x"]], [[0, 10], [3, 7]]);
      await views.write([["balances", "a", { n: 3 }]], [[0, 12]]);
      expect(await views.get("balances", "a")).toEqual({ n: 3 });
      expect(await views.get("balances", "b")).toEqual({ n: 2 });
      expect(await views.get("other", "a")).toBe("x");
      expect(await views.offsets([0, 1, 3])).toEqual(new Map([[0, 12], [3, 7]]));
      expect(await views.offsets([3])).toEqual(new Map([[3, 7]]));
    });

    test("keys holding any character; a prefix lists its keys in key-token order, one view only", async () => {
      await using s = await open();
      const { views } = s;
      const keys = ["acct-1", "acct-12", "acct-2", "a.b c", "a.b", "é", "z"];
      await views.write(keys.map((k, i) => ["v", k, i] as [string, string, unknown]), []);
      await views.write([["w", "acct-9", "elsewhere"]], []);
      for (const [i, k] of keys.entries()) expect(await views.get("v", k)).toBe(i);
      expect((await views.list("v", "acct-")).map((e) => [e.key, e.value])).toEqual([
        ["acct-1", 0],
        ["acct-12", 1],
        ["acct-2", 2],
      ]);
      expect((await views.list("v", "a.b")).map((e) => e.key)).toEqual(["a.b", "a.b c"]);
      expect((await views.list("v")).map((e) => e.key).sort()).toEqual([...keys].sort());
      expect(await views.list("v", "nothing")).toEqual([]);
    });
  });
}
