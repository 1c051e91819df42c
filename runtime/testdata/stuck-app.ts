import { z } from "zod";
import { defineActor, defineApp } from "../../actors/mod.ts";

// Test app for the watchdog: per-key sums, and an event with n = 666 whose handler loops forever
// without returning (synchronously: its worker's timers never run again).

export default defineApp({
  name: "stuck",
  partitions: 8,
  snapshot: { everyEvents: 500, everyMs: 200 },
  retry: { deadlineMs: 1_000 },
  actors: [
    defineActor({
      name: "acc",
      input: "st.in.>",
      key: { field: "k" },
      event: z.object({ id: z.number().int(), k: z.string(), n: z.number().int() }),
      state: z.object({ sum: z.number(), count: z.number() }),
      initial: { sum: 0, count: 0 },
      handle(s, e) {
        if (e.n === 666) for (;;);
        return { sum: s.sum + e.n, count: s.count + 1 };
      },
    }),
  ],
});
