import { z } from "zod";
import { defineApp, distinctCount, hopping, windowedActor } from "../../actors/mod.ts";

export const SIZE_MS = 60_000;
export const SLIDE_MS = 5_000;
export const WATERMARK_MS = 2 * 60_000;
export const LATENESS_MS = 60_000;

export const Click = z.object({
  event_id: z.string().min(1),
  user_id: z.string().min(1),
  site: z.string().min(1),
  url: z.string(),
  event_time: z.number().int(),
});
export type Click = z.infer<typeof Click>;

/**
 * Active users per minute, per site: distinct `user_id`s in 1-minute windows sliding every 5 s.
 * The watermark trails the newest click by 2 minutes; clicks up to 1 minute behind it still
 * correct their windows; each `event_id` counts once.
 */
export const activeUsers = windowedActor({
  name: "active-users",
  input: "clicks.>",
  key: { field: "site" },
  event: Click,
  value: (e) => e.user_id,
  window: hopping(SIZE_MS, SLIDE_MS),
  aggregate: distinctCount(),
  allowedLatenessMs: LATENESS_MS,
  dedup: { id: (e) => e.event_id },
  output: (site) => `active.window.${site}`,
  lateOutput: (site) => `active.late.${site}`,
});

export default defineApp({
  name: "clickstream",
  actors: [activeUsers],
  partitions: 8,
  eventTime: { field: "event_time" },
  watermark: { outOfOrdernessMs: WATERMARK_MS, idleMs: 60_000 },
  snapshot: { everyEvents: 2_000, everyMs: 200 },
});
