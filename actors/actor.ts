import { z } from "zod";
import type { ActorDefinition, AppDefinition, Context, Handler, KeySpec, Timer } from "../runtime/contract/mod.ts";

export interface ActorSpec<ES extends z.ZodType, SS extends z.ZodType> {
  name: string;
  input: string | readonly string[];
  key: KeySpec<z.infer<ES>>;
  event: ES;
  state: SS;
  initial: z.infer<SS> | ((key: string) => z.infer<SS>);
  outputs?: readonly string[];
  handle: Handler<z.infer<SS>, z.infer<ES>>;
  /** Forget a key's state once the watermark is this far past its newest event (event time, ms). */
  ttlMs?: number;
  /** Runs when a timer set with `ctx.timer` / `ctx.processingTimer` comes due. */
  onTimer?: (state: z.infer<SS>, timer: Timer, ctx: Context) => z.infer<SS> | Promise<z.infer<SS>>;
}

const NAME = /^[A-Za-z0-9_-]+$/;

/**
 * Defines a keyed actor. The event and state types are inferred from the zod schemas.
 *
 * @example
 * export const counter = defineActor({
 *   name: "counter",
 *   input: "clicks.*",
 *   key: { token: 1 },
 *   event: z.object({ n: z.number() }),
 *   state: z.object({ total: z.number() }),
 *   initial: { total: 0 },
 *   outputs: ["totals.>"],
 *   handle(state, event, ctx) {
 *     const total = state.total + event.n;
 *     ctx.emit(`totals.${subjectToken(ctx.key)}`, { total });
 *     return { total };
 *   },
 * });
 */
export function defineActor<ES extends z.ZodType, SS extends z.ZodType>(
  spec: ActorSpec<ES, SS>,
): ActorDefinition<z.infer<SS>, z.infer<ES>> {
  if (!NAME.test(spec.name)) throw new TypeError(`actor name "${spec.name}" must match ${NAME}`);
  const input = typeof spec.input === "string" ? [spec.input] : [...spec.input];
  if (input.length === 0) throw new TypeError(`actor "${spec.name}" needs at least one input subject`);
  const init = spec.initial;
  const initial =
    typeof init === "function"
      ? (init as (key: string) => z.infer<SS>)
      : // Each key gets its own copy: handlers may mutate their state in place.
        () => structuredClone(init);
  return Object.freeze({
    kind: "weir.actor" as const,
    name: spec.name,
    input,
    key: spec.key,
    event: spec.event as z.ZodType<z.infer<ES>>,
    // The input side of the schema (what producers send), as draft-07 (the registry's default
    // draft); parts JSON Schema cannot express (transforms, custom checks) become `{}`.
    eventJsonSchema: z.toJSONSchema(spec.event, { io: "input", target: "draft-07", unrepresentable: "any" }),
    state: spec.state as z.ZodType<z.infer<SS>>,
    initial,
    outputs: [...(spec.outputs ?? [])],
    handle: spec.handle,
    ...(spec.onTimer ? { onTimer: spec.onTimer } : {}),
    ...(spec.ttlMs !== undefined ? { ttlMs: positive(spec.ttlMs, `actor "${spec.name}": ttlMs`) } : {}),
  });
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new TypeError(`${what} must be a positive number of ms, got ${n}`);
  return n;
}

/**
 * Groups actors into an app; an app module exports it as default.
 *
 * @example
 * export default defineApp({ name: "clicks", actors: [counter] });
 */
export function defineApp(spec: Omit<AppDefinition, "kind">): AppDefinition {
  if (!NAME.test(spec.name)) throw new TypeError(`app name "${spec.name}" must match ${NAME}`);
  const names = new Set<string>();
  for (const a of spec.actors) {
    if (names.has(a.name)) throw new TypeError(`app "${spec.name}" has two actors named "${a.name}"`);
    names.add(a.name);
  }
  return Object.freeze({ kind: "weir.app" as const, ...spec });
}
