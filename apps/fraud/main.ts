import { z } from "zod";
import { count, defineApp, sliding, subjectToken, windowedActor } from "../../actors/mod.ts";

export const WINDOW_MS = 2 * 60_000;
export const FAILURES = 3;
export const LATENESS_MS = 60_000;
export const OUT_OF_ORDERNESS_MS = 30_000;

export const Login = z.object({
  event_id: z.string().min(1),
  user_id: z.string().min(1),
  success: z.boolean(),
  event_time: z.number().int(),
});
export type Login = z.infer<typeof Login>;

/**
 * Fraud rule: 3 failed logins within 2 minutes (a sliding window ending at each failure) raise one
 * alert on `fraud.alert.<user>`; further failures in the same burst (less than 2 minutes after the
 * alerted one) do not raise another. Decided when a window can no longer change (its allowed
 * lateness has passed), in event-time order, so late failures count and replays decide the same.
 */
export const failedLogins = windowedActor({
  name: "failed-logins",
  input: "logins.>",
  key: { field: "user_id" },
  event: Login,
  filter: (e) => !e.success,
  value: () => 1,
  window: sliding(WINDOW_MS),
  aggregate: count(),
  allowedLatenessMs: LATENESS_MS,
  closedResults: true,
  dedup: { id: (e) => e.event_id, withinMs: 2 * WINDOW_MS + LATENESS_MS },
  output: (user) => `fraud.window.${user}`,
  lateOutput: (user) => `fraud.late.${user}`,
  extraOutputs: ["fraud.alert.*"],
  onResult(r, emit, memo) {
    if (r.kind !== "closed" || r.count < FAILURES) return;
    const at = r.end - 1;
    const last = memo.lastAlert as number | undefined;
    if (last !== undefined && at - last < WINDOW_MS) return;
    memo.lastAlert = at;
    emit(`fraud.alert.${subjectToken(r.key)}`, { user: r.key, at, failures: r.count });
  },
});

export default defineApp({
  name: "fraud",
  actors: [failedLogins],
  partitions: 8,
  eventTime: { field: "event_time" },
  watermark: { outOfOrdernessMs: OUT_OF_ORDERNESS_MS, idleMs: 60_000 },
  snapshot: { everyEvents: 2_000, everyMs: 200 },
});
