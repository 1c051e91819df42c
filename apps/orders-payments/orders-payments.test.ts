import { expect } from "bun:test";
import { appSuite, counted, expectLate, generate, type AppRun, type Generated } from "../testing/mod.ts";
import { LATENESS_MS, OUT_OF_ORDERNESS_MS, PAY_WITHIN_MS, type Order, type Payment, type ShopEvent } from "./main.ts";

const APP = new URL("./main.ts", import.meta.url).pathname;
const IDLE_MS = 60_000;

function workload(seed: number, n: number): Generated<ShopEvent>[] {
  // Payments planned when their order is made: most within 30 minutes (a few with a wrong amount),
  // some too slow to match, some never.
  const planned: { at: number; order: Order; amount: number }[] = [];
  let payments = 0;
  return generate<ShopEvent>(
    { seed, n, stepMs: 3_000, outOfOrdernessMs: OUT_OF_ORDERNESS_MS, latenessMs: LATENESS_MS, tooLateMs: 10 * 60_000 },
    (i, time, rnd) => {
      const due = planned.findIndex((p) => p.at <= time);
      if (due >= 0) {
        const { order, amount } = planned.splice(due, 1)[0]!;
        const p: Payment = { type: "payment", event_id: `p${i}`, payment_id: `pay${payments++}`, order_id: order.order_id, amount_cents: amount, event_time: time };
        return { subject: `shop.payments.${p.order_id}`, value: p, id: p.event_id };
      }
      const order: Order = { type: "order", event_id: `o${i}`, order_id: `ord${i}`, amount_cents: 100 + Math.floor(rnd() * 10_000), event_time: time };
      const r = rnd();
      if (r < 0.8) planned.push({ at: time + Math.floor(rnd() * 25 * 60_000), order, amount: rnd() < 0.05 ? order.amount_cents + 1 : order.amount_cents });
      else if (r < 0.9) planned.push({ at: time + 36 * 60_000 + Math.floor(rnd() * 10 * 60_000), order, amount: order.amount_cents });
      return { subject: `shop.orders.${order.order_id}`, value: order, id: order.event_id };
    },
  );
}

/** Brute force over the events that count: paid / mismatched / unmatched orders and orphan payments. */
function expected(events: readonly Generated<ShopEvent>[], until: number) {
  const evs = counted(events).map((e) => e.value);
  const orders = evs.filter((e): e is Order => e.type === "order");
  const pays = evs.filter((e): e is Payment => e.type === "payment");
  const paid: string[] = [];
  const mismatch: string[] = [];
  const unmatched: string[] = [];
  const orphans: string[] = [];
  for (const o of orders) {
    const m = pays.filter((p) => p.order_id === o.order_id && p.event_time >= o.event_time && p.event_time <= o.event_time + PAY_WITHIN_MS);
    for (const p of m) (p.amount_cents === o.amount_cents ? paid : mismatch).push(`${o.order_id}/${p.payment_id}`);
    if (m.length === 0 && o.event_time + PAY_WITHIN_MS + LATENESS_MS <= until) unmatched.push(o.order_id);
  }
  for (const p of pays) {
    const has = orders.some((o) => o.order_id === p.order_id && p.event_time >= o.event_time && p.event_time <= o.event_time + PAY_WITHIN_MS);
    if (!has && p.event_time + LATENESS_MS <= until) orphans.push(p.payment_id);
  }
  return { paid: paid.sort(), mismatch: mismatch.sort(), unmatched: unmatched.sort(), orphans: orphans.sort() };
}

function check(run: AppRun, events: readonly Generated<ShopEvent>[]) {
  const newest = Math.max(...events.map((e) => e.time));
  const until = newest - OUT_OF_ORDERNESS_MS - IDLE_MS;
  const want = expected(events, until);
  const values = (prefix: string) => run.outputs.filter((m) => m.subject.startsWith(prefix)).map((m) => m.value as Record<string, unknown>);
  const got = {
    paid: values("shop.paid.").map((v) => `${v.order_id}/${v.payment_id}`).sort(),
    mismatch: values("shop.mismatch.").map((v) => `${v.order_id}/${v.payment_id}`).sort(),
    unmatched: values("shop.unmatched.")
      .filter((o) => (o as Order).event_time + PAY_WITHIN_MS + LATENESS_MS <= until)
      .map((o) => String(o.order_id))
      .sort(),
    orphans: values("shop.orphan-payment.")
      .filter((p) => (p as Payment).event_time + LATENESS_MS <= until)
      .map((p) => String(p.payment_id))
      .sort(),
  };
  expect(got).toEqual(want);
  expect(want.paid.length).toBeGreaterThan(1_000);
  expect(want.mismatch.length).toBeGreaterThan(20);
  expect(want.unmatched.length).toBeGreaterThan(100);
  expect(want.orphans.length).toBeGreaterThan(50);
  expectLate(run.outputs, "shop.late.", events, (e: ShopEvent) => e.event_id);
}

appSuite("orders ⋈ payments (real nats-server)", {
  app: APP,
  events: workload(61, 10_000),
  what: "order_paid within 30 minutes with amounts checked, unmatched orders after the TTL, equal to brute force",
  check,
  seed: 23,
});
