import { z } from "zod";
import { defineApp, reduce, session, windowedActor } from "../../actors/mod.ts";

export const GAP_MS = 30 * 60_000;
export const LATENESS_MS = 5 * 60_000;
export const OUT_OF_ORDERNESS_MS = 60_000;

export const Activity = z.object({
  event_id: z.string().min(1),
  user_id: z.string().min(1),
  action: z.string(),
  event_time: z.number().int(),
});
export type Activity = z.infer<typeof Activity>;

/** First and last event time of a session (merged when a late event bridges two). */
export const span = reduce(
  (a: { first: number; last: number }, t: number) => ({ first: Math.min(a.first, t), last: Math.max(a.last, t) }),
  { first: Number.POSITIVE_INFINITY, last: Number.NEGATIVE_INFINITY },
  (a, b) => ({ first: Math.min(a.first, b.first), last: Math.max(a.last, b.last) }),
);

/**
 * Per-user sessions: events less than 30 minutes apart form one session. When a session closes,
 * `sessions.window.<user>` gets its span (`value.first`, `value.last`: length = last - first) and
 * its event count. A late event that bridges two sessions merges them (the absorbed one is
 * retracted, the merged one emitted as a correction).
 */
export const sessions = windowedActor({
  name: "sessions",
  input: "activity.>",
  key: { field: "user_id" },
  event: Activity,
  value: (e) => e.event_time,
  window: session(GAP_MS),
  aggregate: span,
  allowedLatenessMs: LATENESS_MS,
  dedup: { id: (e) => e.event_id, withinMs: 2 * GAP_MS + LATENESS_MS },
  output: (user) => `sessions.window.${user}`,
  lateOutput: (user) => `sessions.late.${user}`,
  // A user gone for a day leaves nothing behind.
  ttlMs: 24 * 60 * 60_000,
});

export default defineApp({
  name: "sessions",
  actors: [sessions],
  partitions: 8,
  eventTime: { field: "event_time" },
  watermark: { outOfOrdernessMs: OUT_OF_ORDERNESS_MS, idleMs: 60_000 },
  snapshot: { everyEvents: 2_000, everyMs: 200 },
});
