import { z } from "zod";
import { defineActor, defineApp } from "../../actors/mod.ts";

// Test app: one subject per key (`cnt.<key>`, the README's `purchases.<user>` pattern), a count per
// key and no outputs, so a test measures how fast the source reads rather than how fast outputs store.
export default defineApp({
  name: "cnt",
  partitions: 16,
  actors: [
    defineActor({
      name: "count",
      input: "cnt.>",
      key: { token: 1 },
      event: z.object({ n: z.number() }),
      state: z.object({ count: z.number(), sum: z.number() }),
      initial: { count: 0, sum: 0 },
      handle: (s, e) => ({ count: s.count + 1, sum: s.sum + e.n }),
    }),
  ],
});
