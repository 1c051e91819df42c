import { z } from "zod";
import { defineActor, defineApp, subjectToken } from "../../actors/mod.ts";
import { Purchase } from "../../apps/user-totals/main.ts";

// The bench's aggregation that emits rarely: per-user totals of the demo's purchases, published
// once per EMIT_EVERY counted events of a user (the state is the product, as in a rollup).
export const EMIT_EVERY = 1000;

export default defineApp({
  name: "quiet-totals",
  partitions: 32,
  actors: [
    defineActor({
      name: "quiet-totals",
      input: "purchases.>",
      key: { field: "user_id" },
      event: Purchase,
      state: z.object({ total: z.number(), count: z.number().int() }),
      initial: { total: 0, count: 0 },
      outputs: ["quiet.>"],
      handle(s, e, ctx) {
        const next = { total: Math.round((s.total + e.amount) * 100) / 100, count: s.count + 1 };
        if (next.count % EMIT_EVERY === 0) ctx.emit(`quiet.${subjectToken(ctx.key)}`, { user_id: ctx.key, ...next });
        return next;
      },
    }),
  ],
});
