import { z } from "zod";
import { defineActor, defineApp } from "../../actors/mod.ts";

// Test app: per-key sums that also record the stream sequences each key saw, so tests can check
// exact state and per-key order. Every applied event emits one output carrying the event id.

export const Event = z.object({ id: z.number().int(), k: z.string(), n: z.number().int() });

export const acc = defineActor({
  name: "acc",
  input: "t.in.>",
  key: { field: "k" },
  event: Event,
  state: z.object({ sum: z.number(), count: z.number(), seqs: z.array(z.number()), outOfOrder: z.number() }),
  initial: { sum: 0, count: 0, seqs: [], outOfOrder: 0 },
  outputs: ["t.out.>"],
  handle(s, e, ctx) {
    const last = s.seqs[s.seqs.length - 1] ?? 0;
    const seqs = [...s.seqs, ctx.seq];
    ctx.emit(`t.out.${ctx.key}`, { id: e.id, k: e.k, sum: s.sum + e.n });
    return { sum: s.sum + e.n, count: s.count + 1, seqs, outOfOrder: s.outOfOrder + (ctx.seq <= last ? 1 : 0) };
  },
});

export default defineApp({
  name: "order",
  actors: [acc],
  partitions: 16,
  snapshot: { everyEvents: 5_000, everyMs: 200 },
});
