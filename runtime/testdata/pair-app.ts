import { z } from "zod";
import { defineActor, defineApp } from "../../actors/mod.ts";

// Test app whose events reach two actors keyed by different fields, so one event can belong in two
// partitions. Each actor counts, sums and records the ids it saw, in order.
const Event = z.object({ id: z.number().int(), a: z.string(), b: z.string(), n: z.number().int() });
const State = z.object({ count: z.number(), sum: z.number(), ids: z.array(z.number()) });

const counter = (name: string, field: "a" | "b") =>
  defineActor({
    name,
    input: "pr.>",
    key: { field },
    event: Event,
    state: State,
    initial: { count: 0, sum: 0, ids: [] },
    handle: (s, e) => ({ count: s.count + 1, sum: s.sum + e.n, ids: [...s.ids, e.id] }),
  });

export default defineApp({
  name: "pair",
  partitions: 8,
  actors: [counter("byA", "a"), counter("byB", "b")],
  snapshot: { everyEvents: 1_000, everyMs: 200 },
});
