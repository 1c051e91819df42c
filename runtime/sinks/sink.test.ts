import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSink, RowsRejectedError, TableMismatchError, type SqlSink, type TableSpec } from "./mod.ts";
import { scratchSchema } from "../testing/mod.ts";

const ledger: Record<string, TableSpec> = {
  balances: { columns: { account_id: "text", balance: "integer", frozen: "boolean", rate: "real" }, key: ["account_id"] },
  pairs: { columns: { a: "text", b: "integer", note: "text" }, key: ["a", "b"] },
};

type Open = () => Promise<{ open: (scope?: string) => SqlSink } & AsyncDisposable>;
const kinds: [string, Open][] = [
  [
    "sqlite",
    async () => {
      const path = join(mkdtempSync(join(tmpdir(), "weir-sink-")), "out.db");
      return { open: (scope = "app") => openSink(`sqlite:${path}`, { scope }), [Symbol.asyncDispose]: async () => {} };
    },
  ],
  [
    "postgres",
    async () => {
      const s = await scratchSchema();
      return { open: (scope = "app") => openSink(s.url(), { scope }), [Symbol.asyncDispose]: () => s[Symbol.asyncDispose]() };
    },
  ],
];

// One contract suite, run against every SQL sink (DESIGN.md habit 7).
describe.each(kinds)("SQL sink contract (%s, real database)", (_kind, open) => {
  test("creates tables, upserts on the key columns (the last row of a key wins), records offsets in the same transaction", async () => {
    await using db = await open();
    const sink = db.open();
    await sink.prepare(ledger);
    expect(await sink.offsets()).toEqual(new Map());
    await sink.write({
      rows: new Map([
        ["balances", [{ account_id: "a", balance: 5, frozen: false, rate: 0.5 }, { account_id: "b", balance: 1, frozen: null, rate: null }, { account_id: "a", balance: 7, frozen: true, rate: 1.25 }]],
        ["pairs", [{ a: "x", b: 1, note: "first" }, { a: "x", b: 2, note: null }]],
      ]),
      offsets: [[0, 10], [3, 12]],
    });
    await sink.write({ rows: new Map([["balances", [{ account_id: "b", balance: 9, frozen: false, rate: 2 }]]]), offsets: [[0, 15]] });
    expect(await sink.rows("balances")).toEqual([
      { account_id: "a", balance: 7, frozen: true, rate: 1.25 },
      { account_id: "b", balance: 9, frozen: false, rate: 2 },
    ]);
    expect(await sink.rows("pairs")).toEqual([
      { a: "x", b: 1, note: "first" },
      { a: "x", b: 2, note: null },
    ]);
    expect(await sink.offsets()).toEqual(new Map([[0, 15], [3, 12]]));
    // Offsets are per scope (app, or app + replay namespace).
    const other = db.open("other");
    await other.prepare(ledger);
    expect(await other.offsets()).toEqual(new Map());
    await Promise.all([sink.close(), other.close()]);
  });

  test("a batch with rows the database refuses changes nothing, and names exactly those rows", async () => {
    await using db = await open();
    const sink = db.open();
    await sink.prepare(ledger);
    await sink.write({ rows: new Map([["balances", [{ account_id: "a", balance: 1, frozen: false, rate: 0 }]]]), offsets: [[0, 1]] });
    // Rows the database refuses (NULL in a key column) among good ones in the same batch.
    const bad1 = { account_id: null, balance: 2, frozen: false, rate: 0 };
    const bad2 = { a: null, b: 3, note: "x" };
    const err = await sink
      .write({
        rows: new Map([
          ["balances", [{ account_id: "a", balance: 100, frozen: false, rate: 0 }, bad1, { account_id: "c", balance: 3, frozen: true, rate: 1 }]],
          ["pairs", [{ a: "x", b: 1, note: null }, bad2]],
        ]),
        offsets: [[0, 2]],
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(RowsRejectedError);
    expect((err as RowsRejectedError).rejected.map((r) => [r.table, r.row])).toEqual([
      ["balances", bad1],
      ["pairs", bad2],
    ]);
    expect((err as RowsRejectedError).rejected[0]!.reason).toMatch(/null/i);
    expect(await sink.rows("balances")).toEqual([{ account_id: "a", balance: 1, frozen: false, rate: 0 }]);
    expect(await sink.rows("pairs")).toEqual([]);
    expect(await sink.offsets()).toEqual(new Map([[0, 1]]));
    // Without them, the batch goes through.
    await sink.write({ rows: new Map([["balances", [{ account_id: "c", balance: 3, frozen: true, rate: 1 }]]]), offsets: [[0, 2]] });
    expect(await sink.offsets()).toEqual(new Map([[0, 2]]));
    await sink.close();
  });

  test("an existing table that does not match the declaration is refused with both column lists", async () => {
    await using db = await open();
    const first = db.open();
    await first.prepare(ledger);
    await first.close();
    const second = db.open();
    const changed = { ...ledger, balances: { columns: { account_id: "text", balance: "real" }, key: ["account_id"] } } as Record<string, TableSpec>;
    const err = await second.prepare(changed).catch((e) => e);
    expect(err).toBeInstanceOf(TableMismatchError);
    expect(err.message).toMatch(/balances.*has columns \(.*balance.*\) but the app declares \(.*balance.*\)/);
    await second.close();
  });
});
