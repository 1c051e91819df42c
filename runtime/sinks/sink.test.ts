import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FencedError } from "../contract/mod.ts";
import { openSink, RowsRejectedError, TableMismatchError, type SqlSink, type TableSpec } from "./mod.ts";
import { PG_URL, scratchSchema } from "../testing/mod.ts";
import { Database } from "bun:sqlite";
import { SQL } from "bun";

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

  test("fencing: a writer whose epoch is older than the one stored for a partition has its whole batch rolled back", async () => {
    await using db = await open();
    const zombie = db.open();
    await zombie.prepare(ledger);
    const row = (balance: number) => new Map([["balances", [{ account_id: "a", balance, frozen: false, rate: 0 }]]]);
    // The first owner of partitions 0 and 1 claims them, then writes.
    await zombie.write({ rows: new Map(), offsets: [], epochs: [[0, 4], [1, 4]] });
    await zombie.write({ rows: row(1), offsets: [[0, 10]], epochs: [[0, 4], [1, 4]] });
    // Partition 1 moves to a new owner (its own connection), which claims it with a newer epoch.
    const owner = db.open();
    await owner.prepare(ledger);
    await owner.write({ rows: new Map(), offsets: [], epochs: [[1, 7]] });
    // The old owner's next batch covers partition 1: nothing of it lands, its rows and offsets included.
    const err = await zombie.write({ rows: row(2), offsets: [[0, 11], [1, 5]], epochs: [[0, 4], [1, 4]] }).catch((e) => e);
    expect(err).toBeInstanceOf(FencedError);
    expect((err as FencedError).partitions).toEqual([1]);
    expect(err.message).toContain("epoch 7");
    expect(await owner.rows("balances")).toEqual([{ account_id: "a", balance: 1, frozen: false, rate: 0 }]);
    expect(await owner.offsets()).toEqual(new Map([[0, 10], [1, 0]]));
    // A write that covers only partition 0, which it still holds, goes through; the new owner writes on.
    await zombie.write({ rows: row(3), offsets: [[0, 12]], epochs: [[0, 4]] });
    await owner.write({ rows: row(4), offsets: [[1, 6]], epochs: [[1, 7]] });
    expect(await owner.rows("balances")).toEqual([{ account_id: "a", balance: 4, frozen: false, rate: 0 }]);
    expect(await owner.offsets()).toEqual(new Map([[0, 12], [1, 6]]));
    // A claim with an older epoch is refused too.
    await expect(zombie.write({ rows: new Map(), offsets: [], epochs: [[1, 5]] })).rejects.toThrow(FencedError);
    await Promise.all([zombie.close(), owner.close()]);
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

// Databases written by a weir from before fencing: weir_offsets without the epoch column.
test("an existing weir_offsets without epochs (sqlite and postgres) gains the column, keeps its offsets, and fences from then on", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "weir-sink-")), "out.db");
  const lite = new Database(path, { create: true });
  lite.exec("CREATE TABLE weir_offsets (scope TEXT NOT NULL, part INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (scope, part))");
  lite.exec("INSERT INTO weir_offsets VALUES ('app', 0, 41)");
  lite.close();
  await using pg = await scratchSchema();
  const schema = new URL(pg.url()).searchParams.get("schema")!;
  const raw = new SQL(PG_URL);
  await raw.unsafe(`CREATE SCHEMA "${schema}"`);
  await raw.unsafe(`CREATE TABLE "${schema}".weir_offsets (scope text NOT NULL, part integer NOT NULL, seq bigint NOT NULL, PRIMARY KEY (scope, part))`);
  await raw.unsafe(`INSERT INTO "${schema}".weir_offsets VALUES ('app', 0, 41)`);
  await raw.close();
  for (const url of [`sqlite:${path}`, pg.url()]) {
    const sink = openSink(url, { scope: "app" });
    await sink.prepare(ledger);
    expect(await sink.offsets()).toEqual(new Map([[0, 41]]));
    await sink.write({ rows: new Map(), offsets: [[0, 42]], epochs: [[0, 3]] });
    await expect(sink.write({ rows: new Map(), offsets: [[0, 43]], epochs: [[0, 2]] })).rejects.toThrow(FencedError);
    expect(await sink.offsets()).toEqual(new Map([[0, 42]]));
    await sink.close();
  }
});
