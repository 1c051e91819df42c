import { z } from "zod";
import { defineActor, defineApp, subjectToken } from "../../actors/mod.ts";

/** How many recent event ids each user remembers for dedup. Duplicates further apart are counted. */
export const DEDUP_MEMORY = 512;

export const Purchase = z.object({
  event_id: z.string().min(1),
  user_id: z.string().min(1),
  amount: z.number().finite(),
  event_time: z.number().int(),
});
export type Purchase = z.infer<typeof Purchase>;

export const Totals = z.object({
  total: z.number(),
  count: z.number().int(),
  duplicates: z.number().int(),
  /** Latest event time seen; events arrive out of order, totals do not depend on it. */
  latest: z.number().int(),
  recent: z.array(z.string()),
});
export type Totals = z.infer<typeof Totals>;

/**
 * Per-user running totals of purchase amounts, counting each `event_id` once. Emits the new total
 * to `totals.<user>` after every counted purchase.
 */
export const userTotals = defineActor({
  name: "user-totals",
  input: "purchases.>",
  key: { field: "user_id" },
  event: Purchase,
  state: Totals,
  initial: { total: 0, count: 0, duplicates: 0, latest: 0, recent: [] },
  outputs: ["totals.>"],
  handle(state, e, ctx) {
    if (state.recent.includes(e.event_id)) {
      return { ...state, duplicates: state.duplicates + 1 };
    }
    const recent = state.recent.length >= DEDUP_MEMORY ? state.recent.slice(1) : state.recent.slice();
    recent.push(e.event_id);
    // Integer cents avoid floating-point drift in long-running sums.
    const total = Math.round((state.total + e.amount) * 100) / 100;
    const next = { total, count: state.count + 1, duplicates: state.duplicates, latest: Math.max(state.latest, e.event_time), recent };
    // The key comes from the payload: as a subject token it cannot add tokens or protocol text.
    ctx.emit(`totals.${subjectToken(ctx.key)}`, { user_id: ctx.key, total, count: next.count, event_id: e.event_id });
    return next;
  },
});

export default defineApp({ name: "user-totals", actors: [userTotals], partitions: 32 });
