import { z } from "zod";
import { defineActor, defineApp } from "../../actors/mod.ts";

// Test app with a deliberately slow handler: events with id below SLOW_UNTIL take SLOW_MS each.
const SLOW_UNTIL = Number(process.env.WEIR_TEST_SLOW_UNTIL ?? 4000);
const SLOW_MS = Number(process.env.WEIR_TEST_SLOW_MS ?? 1);

export default defineApp({
  name: "slow",
  partitions: 8,
  actors: [
    defineActor({
      name: "slow-sum",
      input: "s.in",
      key: { field: "k" },
      event: z.object({ id: z.number(), k: z.string(), n: z.number() }),
      state: z.object({ sum: z.number(), count: z.number() }),
      initial: { sum: 0, count: 0 },
      async handle(s, e) {
        if (e.id < SLOW_UNTIL) await Bun.sleep(SLOW_MS);
        return { sum: s.sum + e.n, count: s.count + 1 };
      },
    }),
  ],
});
