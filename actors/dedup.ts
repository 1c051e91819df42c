import type { Timer } from "../runtime/contract/mod.ts";
import type { BlockContext } from "./windows.ts";

/** Ids seen, with the event time they were first seen at. Plain data inside the actor's state. */
export interface DedupState {
  seen: Record<string, number>;
}

export interface DedupOperator {
  initial(): DedupState;
  /**
   * True when `id` was already seen (within `withinMs` of event time): the event is a duplicate.
   * Otherwise records it and returns false.
   */
  seen(state: DedupState, id: string, ctx: BlockContext): boolean;
  /** Handles its own timers (forgets ids older than the window); false for other timers. */
  onTimer(state: DedupState, timer: Timer): boolean;
}

/**
 * Dedup by an event id within a window of event time, with bounded state: ids are forgotten once the
 * watermark is `withinMs` past them (one timer per `withinMs` bucket, not one per id).
 *
 * @example
 * const dedup = dedupOperator({ withinMs: 15 * 60_000 });
 * if (dedup.seen(state.dedup, e.event_id, ctx)) return state; // a duplicate: no effect
 */
export function dedupOperator(opts: { withinMs: number; name?: string }): DedupOperator {
  const within = opts.withinMs;
  const name = opts.name ?? "dedup";
  if (!Number.isInteger(within) || within <= 0) throw new TypeError(`withinMs must be a positive integer, got ${within}`);
  return {
    initial: () => ({ seen: {} }),
    seen(state, id, ctx) {
      const prev = state.seen[id];
      if (prev !== undefined && Math.abs(ctx.eventTime - prev) <= within) return true;
      state.seen[id] = ctx.eventTime;
      // Forget it once the watermark is `within` past the end of its bucket.
      const bucketEnd = (Math.floor(ctx.eventTime / within) + 1) * within;
      ctx.timer(bucketEnd + within, `${name}:${bucketEnd}`);
      return false;
    },
    onTimer(state, timer) {
      const [prefix, raw] = timer.tag.split(":");
      if (prefix !== name || raw === undefined) return false;
      const bucketEnd = Number(raw);
      for (const [id, t] of Object.entries(state.seen)) if (t < bucketEnd) delete state.seen[id];
      return true;
    },
  };
}
