import { existsSync } from "node:fs";
import { z } from "zod";
import { defineActor, defineApp } from "../../actors/mod.ts";

// Test app for retries and dead-letter triage: per-key sums whose handler fails for n = 13 while
// the flag file `flakyFlag()` exists (a bug that a later deploy fixes), and hangs forever for n = 99.

/** While this file exists, the handler fails for n = 13 (a file: workers do not see env changes). */
export const flakyFlag = () => `${process.env.TMPDIR ?? "/tmp"}/weir-flaky-${process.pid}`;
export default defineApp({
  name: "flaky",
  partitions: 4,
  snapshot: { everyEvents: 1_000, everyMs: 100 },
  retry: { attempts: 3, baseMs: 20, maxMs: 100, deadlineMs: 300 },
  actors: [
    defineActor({
      name: "sum",
      input: "fl.in.>",
      key: { field: "k" },
      event: z.object({ k: z.string(), n: z.number() }),
      state: z.object({ sum: z.number() }),
      initial: { sum: 0 },
      async handle(s, e) {
        if (e.n === 99) await new Promise(() => {});
        if (e.n === 13 && existsSync(flakyFlag())) throw new Error(`unlucky ${e.n}`);
        return { sum: s.sum + e.n };
      },
    }),
  ],
});
