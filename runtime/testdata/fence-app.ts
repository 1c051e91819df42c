import { z } from "zod";
import { defineActor, defineApp } from "../../actors/mod.ts";

// Test app for fencing: per-key totals in actor state, in a table and in a view. Snapshots are
// rare on purpose (every 3 s), so an instance stopped mid-run holds processed, unstored work.

export default defineApp({
  name: "fence",
  partitions: 8,
  snapshot: { everyEvents: 1_000_000, everyMs: 3_000 },
  tables: { totals: { columns: { k: "text", total: "integer", count: "integer" }, key: ["k"] } },
  views: ["totals"],
  actors: [
    defineActor({
      name: "acc",
      input: "fz.in.>",
      key: { field: "k" },
      event: z.object({ id: z.number().int(), k: z.string(), n: z.number().int() }),
      state: z.object({ total: z.number(), count: z.number() }),
      initial: { total: 0, count: 0 },
      handle(s, e, ctx) {
        const total = s.total + e.n;
        const count = s.count + 1;
        ctx.upsert("totals", { k: e.k, total, count });
        ctx.view("totals", e.k, { total, count });
        return { total, count };
      },
    }),
  ],
});
