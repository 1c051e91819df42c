import { z } from "zod";
import { defineActor, defineApp, subjectToken } from "../../actors/mod.ts";

// Test app for untrusted keys: both actors key events by a payload field and emit to a subject
// built from the key, one through subjectToken, one raw (as a careless app would).
const Event = z.object({ k: z.string(), pad: z.number().int().default(0) });

export default defineApp({
  name: "keys",
  partitions: 4,
  actors: [
    defineActor({
      name: "escaped",
      input: "k.in",
      key: { field: "k" },
      event: Event,
      state: z.object({ n: z.number() }),
      initial: { n: 0 },
      outputs: ["k.esc.>"],
      handle(s, e, ctx) {
        ctx.emit(`k.esc.${subjectToken(ctx.key)}`, { key: ctx.key, n: s.n + 1, pad: "x".repeat(e.pad) });
        return { n: s.n + 1 };
      },
    }),
    defineActor({
      name: "raw",
      input: "k.in",
      key: { field: "k" },
      event: Event,
      state: z.object({ n: z.number() }),
      initial: { n: 0 },
      outputs: ["k.raw.>"],
      handle(s, _e, ctx) {
        ctx.emit(`k.raw.${ctx.key}`, { key: ctx.key, n: s.n + 1 });
        return { n: s.n + 1 };
      },
    }),
  ],
});
