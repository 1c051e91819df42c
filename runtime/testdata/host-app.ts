import { z } from "zod";
import { defineActor, defineApp } from "../../actors/mod.ts";

// Test app for the actor host: a counter that can be told to fail (after spoiling its state in
// place, with "spoil"), to emit to an undeclared subject, or to grow a large state.
export default defineApp({
  name: "host",
  partitions: 4,
  evictAfterMs: 0,
  snapshot: { everyEvents: 1_000_000, everyMs: 1_000_000 },
  actors: [
    defineActor({
      name: "counter",
      input: "h.in",
      key: { field: "k" },
      event: z.object({ k: z.string(), op: z.enum(["add", "fail", "spoil", "stray", "grow"]), n: z.number() }),
      state: z.object({ sum: z.number(), blob: z.string() }),
      initial: { sum: 0, blob: "" },
      outputs: ["h.out.>"],
      handle(s, e, ctx) {
        if (e.op === "fail") throw new Error(`refusing ${e.n}`);
        if (e.op === "spoil") {
          const seen = s.sum;
          s.sum += e.n;
          s.blob = "spoiled";
          throw new Error(`spoiled a state whose sum was ${seen}`);
        }
        if (e.op === "stray") ctx.emit("elsewhere", {});
        if (e.op === "grow") return { sum: s.sum, blob: "x".repeat(e.n) };
        ctx.emit(`h.out.${ctx.key}`, { sum: s.sum + e.n });
        return { sum: s.sum + e.n, blob: s.blob };
      },
    }),
  ],
});
