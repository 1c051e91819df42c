import { z } from "zod";
import { defineActor, defineApp, RetryableError, TerminalError } from "../../actors/mod.ts";

/** Attempts per event id, counted outside the state (a failed attempt leaves no trace in it). */
export const attempts = new Map<string, number>();

// Test app for retries: "transient" fails twice asking for a minute's delay, "terminal" cannot
// succeed, "boom" always throws a plain error, "hang" never finishes, "ok" succeeds. Each success
// emits the event's id.
export default defineApp({
  name: "retries",
  partitions: 4,
  actors: [
    defineActor({
      name: "flaky",
      input: "r.in",
      key: { field: "k" },
      event: z.object({ k: z.string(), op: z.enum(["transient", "terminal", "boom", "hang", "ok"]), id: z.string() }),
      state: z.object({ done: z.array(z.string()) }),
      initial: () => ({ done: [] }),
      outputs: ["r.out"],
      handle(s, e, ctx) {
        const n = (attempts.get(e.id) ?? 0) + 1;
        attempts.set(e.id, n);
        if (e.op === "transient" && n < 3) throw new RetryableError("price service away", { delayMs: 60_000 });
        if (e.op === "terminal") throw new TerminalError(`not a valid order: ${e.id}`);
        if (e.op === "boom") throw new Error(`boom ${e.id}`);
        if (e.op === "hang") return new Promise<never>(() => {});
        ctx.emit("r.out", { id: e.id });
        return { done: [...s.done, e.id] };
      },
    }),
  ],
});
