import { expect, test } from "bun:test";
import { z } from "zod";
import { defineActor, defineApp } from "../../actors/mod.ts";
import { UndeclaredOutputError } from "../contract/mod.ts";
import { consoleLogger } from "../observe/mod.ts";
import { msgpackCodec } from "../route/mod.ts";
import type { Invocation, LiveActor } from "./actors.ts";
import { contextEnv, HandlerContext } from "./context.ts";

const app = defineApp({
  name: "ctx",
  actors: [
    defineActor({
      name: "a",
      input: "in.>",
      key: { field: "k" },
      event: z.object({ k: z.string() }),
      state: z.object({}),
      initial: {},
      outputs: ["out.>"],
      handle: (s) => s,
    }),
  ],
});
const env = contextEnv(app, consoleLogger("silent"), 1024 * 1024);
const actor: LiveActor = { def: 0, key: "k1", partition: 3, state: {}, seq: 0, dirty: false, lastActive: 0, stored: false, bytes: 0 };
const at: Invocation = { input: { k: "k1" }, pos: 7, seq: 7, time: 1000, subject: "in.k1", eventTime: 900, watermark: 800, now: 2000 };

test("a context's methods work detached from it, and each context keeps its own outputs and ops", () => {
  const ctx = new HandlerContext(env, actor, at);
  const other = new HandlerContext(env, actor, at);
  expect([ctx.key, ctx.partition, ctx.seq, ctx.time, ctx.subject, ctx.eventTime, ctx.watermark, ctx.now]).toEqual(["k1", 3, 7, 1000, "in.k1", 900, 800, 2000]);
  expect(ctx.outputs).toEqual([]);

  // Taken off the context first, as a handler passing them to a helper does.
  const { emit, timer, processingTimer, cancelTimer, clear } = ctx;
  expect(ctx.emit).toBe(emit); // the same function each time it is read
  emit("out.k1", { n: 1 });
  emit("out.k1", { n: 2 });
  timer(5000, "t");
  processingTimer(6000);
  cancelTimer("event", 4000, "old");
  clear();
  expect(ctx.outputs.map(([s, d]) => [s, msgpackCodec.decode(d)])).toEqual([
    ["out.k1", { n: 1 }],
    ["out.k1", { n: 2 }],
  ]);
  expect(ctx.timerOps).toEqual([
    [true, [5000, "e", "t"]],
    [true, [6000, "p", ""]],
    [false, [4000, "e", "old"]],
  ]);
  expect(ctx.cleared).toBe(true);

  // Nothing of it leaks into another context.
  expect(other.outputs).toEqual([]);
  expect(other.timerOps).toBeUndefined();
  expect(other.cleared).toBe(false);
  // A detached emit still checks what it emits to.
  expect(() => other.emit.call(undefined, "elsewhere.k1", {})).toThrow(UndeclaredOutputError);
  expect(other.outputs).toEqual([]);
});
