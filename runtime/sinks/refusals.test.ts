import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { SQL } from "bun";
import { jetstreamManager } from "@nats-io/jetstream";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ledgerApp, { type Payment } from "../../apps/payments-ledger/main.ts";
import { loadApp } from "../contract/mod.ts";
import { msgpackCodec } from "../route/mod.ts";
import { readDeadLetters, redrive } from "../ops/mod.ts";
import { startNats, ensureAppStreams } from "../nats/mod.ts";
import { DLQ_HEADERS } from "../output/mod.ts";
import { startRuntime } from "../mod.ts";
import { client, publishAll, rng, PG_URL, scratchSchema } from "../testing/mod.ts";
import { openSink } from "./mod.ts";

const LEDGER = new URL("../../apps/payments-ledger/main.ts", import.meta.url).pathname;
const FLOOR = -4_000;

/** A database whose `transactions` table refuses amounts at or below FLOOR (a rule the app does not know). */
type Db = { url: string; addRule: () => Promise<void> } & AsyncDisposable;
const kinds: [string, () => Promise<Db>][] = [
  [
    "sqlite",
    async () => {
      const path = join(mkdtempSync(join(tmpdir(), "weir-refusals-")), "out.db");
      return {
        url: `sqlite:${path}`,
        async addRule() {
          const db = new Database(path);
          db.exec(`CREATE TRIGGER amount_floor BEFORE INSERT ON transactions WHEN NEW.amount <= ${FLOOR} BEGIN SELECT RAISE(ABORT, 'amount at or below the floor'); END;`);
          db.close();
        },
        [Symbol.asyncDispose]: async () => {},
      };
    },
  ],
  [
    "postgres",
    async () => {
      const s = await scratchSchema();
      const url = s.url();
      return {
        url,
        async addRule() {
          const sql = new SQL(PG_URL);
          await sql.unsafe(`ALTER TABLE "${new URL(url).searchParams.get("schema")}".transactions ADD CONSTRAINT amount_floor CHECK (amount > ${FLOOR})`);
          await sql.close();
        },
        [Symbol.asyncDispose]: () => s[Symbol.asyncDispose](),
      };
    },
  ],
];

describe.each(kinds)("rows the database refuses (%s, real database, real nats-server)", (_kind, open) => {
  test("are dead-lettered with the database's reason, one per row; every other row and balance is written; redrive leaves them alone", async () => {
    await using db = await open();
    const prep = openSink(db.url, { scope: "ledger" });
    await prep.prepare(ledgerApp.tables!);
    await prep.close();
    await db.addRule();

    const random = rng(5);
    const payments: Payment[] = Array.from({ length: 2_000 }, (_, i) => {
      const a = Math.floor(random() * 50);
      return { event_id: `p${i}`, account_id: `acct-${a}`, amount: Math.floor(random() * 25_000) - 5_000, currency: ["EUR", "USD", "GBP"][a % 3]!, event_time: 1_700_000_000_000 + i * 100 };
    });
    const refused = payments.filter((p) => p.amount <= FLOOR);
    expect(refused.length).toBeGreaterThan(20);

    await using nats = await startNats();
    await using c = await client(nats.url);
    await ensureAppStreams(await jetstreamManager(c.nc), await loadApp(LEDGER));
    await publishAll(c.js, payments.map((p) => ({ subject: `payments.${p.account_id}`, value: p })));
    const rt = await startRuntime({ app: LEDGER, nats: nats.url, workers: 2, logLevel: "error", sink: db.url });
    await rt.drained();
    await rt.stop();
    // Rows are written (and refused) at snapshots; the count reaches the metrics with them.
    expect(rt.metrics().dlq).toBe(refused.length);

    const letters = await readDeadLetters(c.nc, "ledger");
    expect(letters.length).toBe(refused.length);
    const byId = new Map(refused.map((p) => [p.event_id, p]));
    for (const d of letters) {
      expect(d.headers[DLQ_HEADERS.error]).toBe("RowRejectedError");
      expect(d.headers[DLQ_HEADERS.table]).toBe("transactions");
      expect(d.headers[DLQ_HEADERS.reason]).toMatch(/^table transactions refused the row of ledger\/acct-\d+: .*(floor|amount_floor)/);
      const { table, row } = msgpackCodec.decode(d.data) as { table: string; row: Payment };
      expect(table).toBe("transactions");
      expect(row).toEqual(byId.get(row.event_id)!);
      byId.delete(row.event_id);
    }
    expect(byId.size).toBe(0);

    const sink = openSink(db.url, { scope: "ledger" });
    await sink.prepare(ledgerApp.tables!);
    const tx = await sink.rows("transactions");
    expect(tx.length).toBe(payments.length - refused.length);
    expect(tx.every((r) => (r.amount as number) > FLOOR)).toBe(true);
    // The handler succeeded: balances count every payment (only the transactions row was refused).
    const want = new Map<string, number>();
    for (const p of payments) want.set(p.account_id, (want.get(p.account_id) ?? 0) + p.amount);
    const balances = await sink.rows("balances");
    expect(new Map(balances.map((r) => [r.account_id as string, r.balance as number]))).toEqual(want);
    await sink.close();

    // A refused row is not an event: redrive does not send it to the input.
    expect(await redrive(c.nc, "ledger", letters)).toEqual({ redriven: 0, already: 0, skipped: refused.length });
  });
});
