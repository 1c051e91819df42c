import { z } from "zod";
import { defineActor, defineApp } from "../../actors/mod.ts";

// Test app for timers: per-key sums over 10 s event-time buckets, emitted when the watermark passes
// a bucket's end; "ping" sets a processing-time timer; "bye" clears the key's state. "spoil" (and
// closing a bucket whose sum is 13) changes the state in place and then throws.
const BUCKET = 10_000;

export default defineApp({
  name: "timers",
  partitions: 4,
  evictAfterMs: 0,
  snapshot: { everyEvents: 1_000_000, everyMs: 1_000_000 },
  eventTime: { field: "t" },
  actors: [
    defineActor({
      name: "tally",
      input: "tm.in",
      key: { field: "k" },
      event: z.object({ k: z.string(), t: z.number(), n: z.number(), op: z.enum(["add", "ping", "bye", "spoil"]).default("add") }),
      state: z.object({ buckets: z.record(z.string(), z.number()), late: z.number() }),
      initial: () => ({ buckets: {}, late: 0 }),
      outputs: ["tm.out.>"],
      handle(s, e, ctx) {
        if (e.op === "bye") {
          ctx.clear();
          return s;
        }
        if (e.op === "spoil") {
          s.buckets = {};
          s.late = 99;
          throw new Error("spoiled");
        }
        if (e.op === "ping") {
          ctx.processingTimer(ctx.now + 5_000, "ping");
          return s;
        }
        if (ctx.eventTime <= ctx.watermark) {
          ctx.emit(`tm.out.late.${ctx.key}`, { t: e.t });
          return { ...s, late: s.late + 1 };
        }
        const start = Math.floor(ctx.eventTime / BUCKET) * BUCKET;
        ctx.timer(start + BUCKET - 1, String(start));
        return { ...s, buckets: { ...s.buckets, [start]: (s.buckets[start] ?? 0) + e.n } };
      },
      onTimer(s, timer, ctx) {
        if (timer.kind === "processing") {
          ctx.emit(`tm.out.ping.${ctx.key}`, { at: timer.time });
          return s;
        }
        if (s.buckets[timer.tag] === 13) {
          delete s.buckets[timer.tag];
          s.late = -1;
          throw new Error("unlucky bucket");
        }
        const { [timer.tag]: sum, ...rest } = s.buckets;
        ctx.emit(`tm.out.sum.${ctx.key}`, { start: Number(timer.tag), sum, watermark: ctx.watermark });
        return { ...s, buckets: rest };
      },
    }),
    // State TTL: a key is forgotten once the watermark is 1 s (event time) past its newest event.
    defineActor({
      name: "idle",
      input: "tm.ttl",
      key: { field: "k" },
      event: z.object({ k: z.string(), t: z.number(), spoil: z.boolean().optional() }),
      state: z.object({ n: z.number() }),
      initial: { n: 0 },
      ttlMs: 1_000,
      handle(s, e) {
        if (e.spoil) {
          s.n = -1;
          throw new Error("spoiled");
        }
        return { n: s.n + 1 };
      },
    }),
  ],
});
