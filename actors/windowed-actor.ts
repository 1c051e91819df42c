import { z } from "zod";
import { subjectToken, type ActorDefinition, type KeySpec } from "../runtime/contract/mod.ts";
import { defineActor } from "./actor.ts";
import type { Aggregate } from "./aggregates.ts";
import { dedupOperator, type DedupState } from "./dedup.ts";
import { windowOperator, type WindowResult, type WindowSpec, type WindowState } from "./windows.ts";

export interface WindowedActorSpec<ES extends z.ZodType, V, A, R> {
  name: string;
  input: string | readonly string[];
  key: KeySpec<z.infer<ES>>;
  event: ES;
  /** Events for which this is false are ignored (after dedup). */
  filter?: (event: z.infer<ES>) => boolean;
  /** The value each event contributes to the aggregate. */
  value: (event: z.infer<ES>) => V;
  window: WindowSpec;
  aggregate: Aggregate<V, A, R>;
  allowedLatenessMs?: number;
  earlyEveryMs?: number;
  /** Emit `closed` results once a window's lateness has passed (see `windowOperator`). */
  closedResults?: boolean;
  /** Count each event id once within `withinMs` of event time (default: window size + lateness). */
  dedup?: { id: (event: z.infer<ES>) => string; withinMs?: number };
  /** Subject of a key's window results, given the key as a subject token (`subjectToken(key)`). */
  output: (keyToken: string) => string;
  /** Subject for events too late for their windows (`{ event, reason }`), given the key's token; default: dropped silently. */
  lateOutput?: (keyToken: string) => string;
  /** Further subjects the `onResult` hook emits to (wildcards allowed). */
  extraOutputs?: readonly string[];
  /**
   * Called for every window result after it is emitted: derive more events from it (e.g. alerts).
   * `memo` is per-key data kept in the snapshot with the window state.
   */
  onResult?: (r: WindowResult<R>, emit: (subject: string, value: unknown) => void, memo: Record<string, unknown>) => void;
  ttlMs?: number;
}

interface WindowedState {
  win: WindowState<unknown>;
  dedup?: DedupState;
  memo: Record<string, unknown>;
}

/** Longest span a window covers, for the default dedup horizon. */
function spanOf(w: WindowSpec): number {
  return w.kind === "session" ? w.gap : w.size;
}

/**
 * An actor made of building blocks: optional dedup by event id, then event-time windows with an
 * aggregate; results go to `output(token)`, too-late events to `lateOutput(token)`, where `token` is the
 * key made safe for a subject (`subjectToken`: a key holding dots, spaces or wildcards cannot reshape it).
 *
 * @example
 * export const revenue = windowedActor({
 *   name: "revenue", input: "sales.>", key: { field: "store_id" }, event: Sale,
 *   value: (e) => e.price_cents * e.quantity, window: tumbling(600_000), aggregate: sum(),
 *   allowedLatenessMs: 300_000, dedup: { id: (e) => e.event_id },
 *   output: (store) => `revenue.${store}`, lateOutput: (store) => `revenue.late.${store}`,
 * });
 */
export function windowedActor<ES extends z.ZodType, V, A, R>(spec: WindowedActorSpec<ES, V, A, R>): ActorDefinition<WindowedState, z.infer<ES>> {
  const op = windowOperator<V, A, R>({
    window: spec.window,
    aggregate: spec.aggregate,
    ...(spec.allowedLatenessMs !== undefined ? { allowedLatenessMs: spec.allowedLatenessMs } : {}),
    ...(spec.earlyEveryMs !== undefined ? { earlyEveryMs: spec.earlyEveryMs } : {}),
    ...(spec.closedResults ? { closedResults: true } : {}),
  });
  const dedup = spec.dedup
    ? dedupOperator({ withinMs: spec.dedup.withinMs ?? spanOf(spec.window) + (spec.allowedLatenessMs ?? 0) })
    : undefined;
  const sample = (key: string) => [spec.output(key), ...(spec.lateOutput ? [spec.lateOutput(key)] : [])];
  // Declared outputs: the subject shapes with the key replaced by a wildcard token.
  const outputs = [...new Set(sample("\u0000").map((s) => s.split(".").map((t) => (t.includes("\u0000") ? "*" : t)).join(".")))];

  const publish = (state: WindowedState, ctx: { key: string; emit(s: string, v: unknown): void }) => (r: WindowResult<R>) => {
    ctx.emit(spec.output(subjectToken(ctx.key)), r);
    spec.onResult?.(r, (s, v) => ctx.emit(s, v), state.memo);
  };

  return defineActor({
    name: spec.name,
    input: spec.input,
    key: spec.key,
    event: spec.event,
    state: z.custom<WindowedState>((v) => typeof v === "object" && v !== null && "win" in v),
    initial: () => ({ win: op.initial() as WindowState<unknown>, ...(dedup ? { dedup: dedup.initial() } : {}), memo: {} }),
    outputs: [...outputs, ...(spec.extraOutputs ?? [])],
    ...(spec.ttlMs !== undefined ? { ttlMs: spec.ttlMs } : {}),
    handle(state, event, ctx) {
      if (dedup && spec.dedup && dedup.seen(state.dedup!, spec.dedup.id(event), ctx)) return state;
      if (spec.filter && !spec.filter(event)) return state;
      const reason = op.add(state.win as WindowState<A, V>, spec.value(event), ctx, publish(state, ctx));
      if (reason && spec.lateOutput) ctx.emit(spec.lateOutput(subjectToken(ctx.key)), { event, reason });
      return state;
    },
    onTimer(state, timer, ctx) {
      if (dedup?.onTimer(state.dedup!, timer)) return state;
      op.onTimer(state.win as WindowState<A, V>, timer, ctx, publish(state, ctx));
      return state;
    },
  });
}
