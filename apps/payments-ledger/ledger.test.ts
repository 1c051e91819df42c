import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { appNames, DLQ_HEADERS, startRuntime } from "../../runtime/mod.ts";
import { ensureAppStreams, kvViews, openSink } from "../../runtime/internal.ts";
import { client, publishAll, readStream, scratchSchema, startNats } from "../../runtime/testing/mod.ts";
import { generate, runWithCrashes, type Generated } from "../testing/mod.ts";
import ledgerApp, { type Payment } from "./main.ts";

const APP = new URL("./main.ts", import.meta.url).pathname;
const CURRENCIES = ["EUR", "USD", "GBP"];

function payments(seed: number, n: number): Generated<Payment>[] {
  return generate<Payment>(
    { seed, n, stepMs: 100, outOfOrdernessMs: 30_000, latenessMs: 0, tooLateMs: 1, tooLateRate: 0, lateRate: 0.1, dupRate: 0.1 },
    (i, time, rnd) => {
      const a = Math.floor(rnd() * 500);
      const value: Payment = {
        event_id: `pay-${i}`,
        account_id: `acct-${a}`,
        amount: Math.floor(rnd() * 25_000) - 5_000,
        currency: CURRENCIES[a % 3]!,
        event_time: time,
      };
      return { subject: `payments.${value.account_id}`, value, id: value.event_id };
    },
  );
}

/** Runs the ledger with 5 SIGKILLs on a sink, then checks the database and the view against brute force. */
async function ledgerWithCrashes(sinkUrl: string, seed: number) {
  const events = payments(seed, 100_000);
  const dups = events.filter((e) => e.cls === "dup").length;
  expect(dups).toBeGreaterThan(8_000);
  const distinct = new Map<string, Payment>();
  for (const e of events) if (!distinct.has(e.id)) distinct.set(e.id, e.value);
  const balances = new Map<string, number>();
  for (const p of distinct.values()) balances.set(p.account_id, (balances.get(p.account_id) ?? 0) + p.amount);

  await using nats = await startNats();
  const run = await runWithCrashes(nats, APP, events, 5, seed, { maxInFlight: 8192, args: ["--sink", sinkUrl] });
  expect(run.killedAt!.some((p) => p > 0 && p < run.lastSeq!)).toBe(true);

  const sink = openSink(sinkUrl, { scope: "ledger" });
  await sink.prepare(ledgerApp.tables!);
  const tx = await sink.rows("transactions");
  // Exactly one row per distinct event_id, each with its payment's values.
  expect(tx.length).toBe(distinct.size);
  for (const row of tx) {
    const p = distinct.get(row.event_id as string)!;
    expect(row).toEqual({ event_id: p.event_id, account_id: p.account_id, amount: p.amount, currency: p.currency, event_time: p.event_time });
  }
  const stored = await sink.rows("balances");
  expect(stored.length).toBe(balances.size);
  for (const row of stored) expect({ account: row.account_id, balance: row.balance }).toEqual({ account: row.account_id, balance: balances.get(row.account_id as string)! });
  await sink.close();

  // The KV view agrees.
  await using c = await client(nats.url);
  const view = await (await kvViews(c.nc, appNames("ledger").views)).list("balances");
  expect(view.length).toBe(balances.size);
  for (const { key, value } of view) expect({ key, balance: (value as { balance: number }).balance }).toEqual({ key, balance: balances.get(key)! });
}

test("a payment in the wrong currency is a dead letter at once (TerminalError), and leaves no trace: its corrected resend counts", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const dir = mkdtempSync(join(tmpdir(), "weir-ledger-"));
  const sinkUrl = `sqlite:${join(dir, "out.db")}`;
  const t = Date.UTC(2026, 0, 1);
  const pay = (event_id: string, amount: number, currency: string, dt: number): { subject: string; value: Payment } => ({
    subject: "payments.acct-1",
    value: { event_id, account_id: "acct-1", amount, currency, event_time: t + dt },
  });
  await ensureAppStreams(await jetstreamManager(c.nc), ledgerApp);
  await publishAll(c.js, [pay("p1", 100, "EUR", 0), pay("p2", 50, "USD", 1), pay("p3", 10, "EUR", 2), pay("p2", 50, "EUR", 3)]);
  const rt = await startRuntime({ app: APP, nats: nats.url, workers: 1, logLevel: "error", sink: sinkUrl });
  await rt.drained();
  await rt.stop();
  const dlq = await readStream(c.nc, appNames("ledger").dlq);
  expect(dlq.map((m) => [m.headers[DLQ_HEADERS.error], m.headers[DLQ_HEADERS.reason]])).toEqual([
    ["TerminalError", "account acct-1 is in EUR; payment p2 is in USD"],
  ]);
  const sink = openSink(sinkUrl, { scope: "ledger" });
  await sink.prepare(ledgerApp.tables!);
  expect((await sink.rows("balances")).map((r) => r.balance)).toEqual([160]);
  expect((await sink.rows("transactions")).map((r) => [r.event_id, r.currency])).toEqual([
    ["p1", "EUR"],
    ["p2", "EUR"],
    ["p3", "EUR"],
  ]);
  await sink.close();
});

describe("payments ledger: 100k payments, 10% duplicates, SIGKILLed 5 times (real nats-server and databases)", () => {
  test("on SQLite: one transactions row per distinct event_id, every balance equals the brute-force sum", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-ledger-"));
    await ledgerWithCrashes(`sqlite:${join(dir, "out.db")}`, 73);
  });

  test("on PostgreSQL: the same", async () => {
    await using schema = await scratchSchema();
    await ledgerWithCrashes(schema.url(), 73);
  });
});
