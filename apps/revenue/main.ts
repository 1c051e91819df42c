import { z } from "zod";
import { defineApp, sum, tumbling, windowedActor } from "../../actors/mod.ts";

export const WINDOW_MS = 10 * 60_000;
export const LATENESS_MS = 5 * 60_000;
export const OUT_OF_ORDERNESS_MS = 30_000;

export const Sale = z.object({
  event_id: z.string().min(1),
  store_id: z.string().min(1),
  /** Unit price in cents (integers keep sums exact). */
  price_cents: z.number().int().nonnegative(),
  quantity: z.number().int().positive(),
  event_time: z.number().int(),
});
export type Sale = z.infer<typeof Sale>;

/**
 * Revenue per store: `sum(price * quantity)` over 10-minute tumbling windows of event time. Each
 * `event_id` counts once; events up to 5 minutes late still update their window (a correction is
 * emitted), later ones go to `revenue.late.<store>` with the reason.
 */
export const revenue = windowedActor({
  name: "revenue",
  input: "sales.>",
  key: { field: "store_id" },
  event: Sale,
  value: (e) => e.price_cents * e.quantity,
  window: tumbling(WINDOW_MS),
  aggregate: sum(),
  allowedLatenessMs: LATENESS_MS,
  dedup: { id: (e) => e.event_id },
  output: (store) => `revenue.window.${store}`,
  lateOutput: (store) => `revenue.late.${store}`,
});

export default defineApp({
  name: "revenue",
  actors: [revenue],
  partitions: 8,
  eventTime: { field: "event_time" },
  watermark: { outOfOrdernessMs: OUT_OF_ORDERNESS_MS, idleMs: 60_000 },
  snapshot: { everyEvents: 2_000, everyMs: 200 },
});
