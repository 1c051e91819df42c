import { existsSync } from "node:fs";
import { z } from "zod";
import { defineActor, defineApp, RetryableError } from "../../actors/mod.ts";

// Test app for held keys: per-key sums, each event's id emitted on success; the event with n = 13
// fails (retryably, every 50 ms, for up to a minute) while the flag file `heldFlag()` exists: a
// downstream service away, then back.

/** While this file exists, the handler fails for n = 13 (a file: workers do not see env changes). */
export const heldFlag = () => `${process.env.TMPDIR ?? "/tmp"}/weir-held-${process.pid}`;
export default defineApp({
  name: "held",
  partitions: 4,
  snapshot: { everyEvents: 500, everyMs: 100 },
  retry: { attempts: 1_200 },
  actors: [
    defineActor({
      name: "sum",
      input: "hd.in.>",
      key: { field: "k" },
      event: z.object({ id: z.number().int(), k: z.string(), n: z.number() }),
      state: z.object({ sum: z.number(), last: z.number() }),
      initial: { sum: 0, last: -1 },
      outputs: ["hd.out"],
      handle(s, e, ctx) {
        if (e.n === 13 && existsSync(heldFlag())) throw new RetryableError("the price service is away", { delayMs: 50 });
        ctx.emit("hd.out", { id: e.id, k: e.k, after: s.last });
        return { sum: s.sum + e.n, last: e.id };
      },
    }),
  ],
});
