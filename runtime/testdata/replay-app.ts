import { z } from "zod";
import { defineActor, defineApp } from "../../actors/mod.ts";

// Test app for replays: every kind of effect. Per key, a running total (rows in `totals`, the
// `totals` view, an output every 5th event), one row per event in `events`, sums over 10 s buckets
// of event time emitted by event-time timers, handler failures (n = 13) and invalid events
// (dead letters).
const BUCKET = 10_000;

export default defineApp({
  name: "replay",
  partitions: 4,
  snapshot: { everyEvents: 500, everyMs: 200 },
  eventTime: { field: "t" },
  watermark: { outOfOrdernessMs: 2_000 },
  retry: { attempts: 2, baseMs: 5, maxMs: 10 },
  tables: {
    events: { columns: { id: "text", k: "text", n: "integer" }, key: ["id"] },
    totals: { columns: { k: "text", total: "integer", count: "integer" }, key: ["k"] },
  },
  views: ["totals"],
  actors: [
    defineActor({
      name: "acc",
      input: "rp.in.>",
      key: { field: "k" },
      event: z.object({ id: z.string(), k: z.string(), n: z.number().int(), t: z.number() }),
      state: z.object({ total: z.number(), count: z.number(), buckets: z.record(z.string(), z.number()) }),
      initial: () => ({ total: 0, count: 0, buckets: {} }),
      outputs: ["rp.total.>", "rp.bucket.>"],
      handle(s, e, ctx) {
        if (e.n === 13) throw new Error(`unlucky ${e.id}`);
        const total = s.total + e.n;
        const count = s.count + 1;
        ctx.upsert("events", { id: e.id, k: e.k, n: e.n });
        ctx.upsert("totals", { k: e.k, total, count });
        ctx.view("totals", e.k, { total, count });
        if (count % 5 === 0) ctx.emit(`rp.total.${e.k}`, { total, count });
        const start = Math.floor(e.t / BUCKET) * BUCKET;
        ctx.timer(start + BUCKET - 1, String(start));
        return { total, count, buckets: { ...s.buckets, [start]: (s.buckets[start] ?? 0) + e.n } };
      },
      onTimer(s, timer, ctx) {
        const { [timer.tag]: sum, ...rest } = s.buckets;
        ctx.emit(`rp.bucket.${ctx.key}`, { start: Number(timer.tag), sum });
        return { ...s, buckets: rest };
      },
    }),
  ],
});
