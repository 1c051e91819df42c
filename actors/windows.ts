import type { Context, Timer } from "../runtime/contract/mod.ts";
import type { Aggregate } from "./aggregates.ts";

/** What a building block needs from the actor context (tests drive blocks with a virtual one). */
export type BlockContext = Pick<Context, "key" | "eventTime" | "watermark" | "now" | "timer" | "processingTimer" | "cancelTimer">;

export type WindowSpec =
  | { readonly kind: "tumbling"; readonly size: number }
  | { readonly kind: "hopping"; readonly size: number; readonly slide: number }
  | { readonly kind: "sliding"; readonly size: number }
  | { readonly kind: "session"; readonly gap: number };

/** Fixed windows `[k*size, (k+1)*size)`. */
export const tumbling = (sizeMs: number): WindowSpec => check({ kind: "tumbling", size: sizeMs });
/** Windows of `size` starting every `slide` (an event is in `size / slide` of them). */
export const hopping = (sizeMs: number, slideMs: number): WindowSpec => check({ kind: "hopping", size: sizeMs, slide: slideMs });
/** One window per event time T: the events in `(T - size, T]`, computed when the watermark passes T. */
export const sliding = (sizeMs: number): WindowSpec => check({ kind: "sliding", size: sizeMs });
/** Per key, events less than `gap` apart form one session `[first, last + gap)`. */
export const session = (gapMs: number): WindowSpec => check({ kind: "session", gap: gapMs });

function check(w: WindowSpec): WindowSpec {
  for (const [k, v] of Object.entries(w)) {
    if (k !== "kind" && (!Number.isInteger(v) || (v as number) <= 0)) throw new TypeError(`${w.kind} window: ${k} must be a positive integer (ms), got ${v}`);
  }
  if (w.kind === "hopping" && w.slide > w.size) throw new TypeError(`hopping window: slide ${w.slide} is larger than size ${w.size}`);
  return w;
}

/**
 * One emission of a window: `final` when the watermark passes its end, `correction` when an
 * allowed-late event changes a window already emitted, `early` for processing-time updates of an
 * open window, `retract` when a session merged into another (its last emission no longer holds),
 * `closed` (only with `closedResults`) once the allowed lateness has passed and the value is final.
 */
export interface WindowResult<R> {
  key: string;
  start: number;
  end: number;
  value: R;
  count: number;
  kind: "final" | "correction" | "early" | "retract" | "closed";
  revision: number;
}

interface Entry<A> {
  s: number;
  e: number;
  acc: A;
  n: number;
  /** The window's end has passed the watermark. */
  fired: boolean;
  /** Emissions so far (0 = never emitted). */
  rev: number;
}

/** A window operator's part of an actor's state: plain data, snapshotted with it. */
export interface WindowState<A, V = unknown> {
  w: Record<string, Entry<A>>;
  /** Sliding windows keep their events: `[time, value]`, by time. */
  items?: [number, V][];
}

export interface WindowOperatorSpec<V, A, R> {
  window: WindowSpec;
  aggregate: Aggregate<V, A, R>;
  /** How long after a window's end late events still update it (event time, ms). Default 0. */
  allowedLatenessMs?: number;
  /** Also emit `early` results of open windows every this many ms of processing time. */
  earlyEveryMs?: number;
  /** Also emit a `closed` result when a window's lateness has passed (its value can no longer change). */
  closedResults?: boolean;
  /** Prefix of this operator's timer tags, so several blocks can share one actor. Default "w". */
  name?: string;
}

export interface WindowOperator<V, A, R> {
  initial(): WindowState<A, V>;
  /**
   * Adds an event (time `ctx.eventTime`) to its windows. Results due at once (a late event
   * correcting an emitted window, or a window whose end had passed) go to `out`. Returns the reason
   * when the event was too late for its windows (it was not counted), else undefined.
   */
  add(state: WindowState<A, V>, value: V, ctx: BlockContext, out: (r: WindowResult<R>) => void): string | undefined;
  /** Handles one of this operator's timers (returns false for a timer that is not its own). */
  onTimer(state: WindowState<A, V>, timer: Timer, ctx: BlockContext, out: (r: WindowResult<R>) => void): boolean;
}

/**
 * Event-time windows with an aggregate, allowed lateness, corrections and early updates, as a
 * building block: its state is plain data inside the actor's state, its timers are the actor's.
 *
 * @example
 * const perMinute = windowOperator({ window: tumbling(60_000), aggregate: count(), allowedLatenessMs: 60_000 });
 * // in handle:  const late = perMinute.add(state.win, 1, ctx, (r) => ctx.emit(`counts.${subjectToken(r.key)}`, r));
 * // in onTimer: perMinute.onTimer(state.win, timer, ctx, (r) => ctx.emit(`counts.${subjectToken(r.key)}`, r));
 */
export function windowOperator<V, A, R>(spec: WindowOperatorSpec<V, A, R>): WindowOperator<V, A, R> {
  const { window: win, aggregate: agg } = spec;
  const lateness = spec.allowedLatenessMs ?? 0;
  const early = spec.earlyEveryMs;
  const name = spec.name ?? "w";
  if (lateness < 0 || !Number.isFinite(lateness)) throw new TypeError(`allowedLatenessMs must be >= 0, got ${lateness}`);
  const tag = (what: string, s: number) => `${name}:${what}:${s}`;

  const result = (key: string, x: Entry<A>, kind: WindowResult<R>["kind"]): WindowResult<R> => ({
    key,
    start: x.s,
    end: x.e,
    value: agg.result(x.acc),
    count: x.n,
    kind,
    revision: x.rev,
  });

  /** Emits an entry: the first time as final, later as a correction. */
  const emit = (key: string, x: Entry<A>, out: (r: WindowResult<R>) => void) => {
    const kind = x.rev === 0 ? "final" : "correction";
    x.rev++;
    out(result(key, x, kind));
  };

  /** Timers of a new (or re-shaped) window: fire at its last instant, clean up after the lateness. */
  const arm = (x: Entry<A>, ctx: BlockContext) => {
    const last = x.e - 1;
    if (last > ctx.watermark) ctx.timer(last, tag("f", x.s));
    if (lateness > 0) ctx.timer(last + lateness, tag("c", x.s));
    if (early !== undefined && last > ctx.watermark) ctx.processingTimer(ctx.now + early, tag("e", x.s));
  };
  const disarm = (x: Entry<A>, ctx: BlockContext) => {
    ctx.cancelTimer("event", x.e - 1, tag("f", x.s));
    if (lateness > 0) ctx.cancelTimer("event", x.e - 1 + lateness, tag("c", x.s));
  };

  const lateReason = (t: number, ctx: BlockContext, what: string) =>
    `event time ${t} is too late: ${what} closed (watermark ${ctx.watermark}, allowed lateness ${lateness} ms)`;

  function addFixed(state: WindowState<A, V>, value: V, ctx: BlockContext, out: (r: WindowResult<R>) => void): string | undefined {
    const t = ctx.eventTime;
    const size = win.kind === "hopping" ? win.size : (win as { size: number }).size;
    const slide = win.kind === "hopping" ? win.slide : size;
    const closed: string[] = [];
    for (let s = Math.floor(t / slide) * slide; s > t - size; s -= slide) {
      const e = s + size;
      if (e - 1 + lateness <= ctx.watermark) {
        closed.push(`[${s}, ${e})`);
        continue;
      }
      let x = state.w[s];
      if (!x) {
        x = state.w[s] = { s, e, acc: agg.init(), n: 0, fired: e - 1 <= ctx.watermark, rev: 0 };
        arm(x, ctx);
      }
      x.acc = agg.add(x.acc, value);
      x.n++;
      // The window's end has passed: this is an allowed-late event, its result goes out now.
      if (x.fired) {
        emit(ctx.key, x, out);
        if (lateness === 0) delete state.w[s];
      }
    }
    return closed.length ? lateReason(t, ctx, `window${closed.length > 1 ? "s" : ""} ${closed.join(", ")}`) : undefined;
  }

  function addSession(state: WindowState<A, V>, value: V, ctx: BlockContext, out: (r: WindowResult<R>) => void): string | undefined {
    const t = ctx.eventTime;
    const gap = (win as { gap: number }).gap;
    let s = t;
    let e = t + gap;
    const overlapping = Object.values(state.w).filter((x) => x.s < e && s < x.e);
    if (overlapping.length === 0 && e - 1 + lateness <= ctx.watermark) return lateReason(t, ctx, `its session [${s}, ${e})`);
    let acc = agg.add(agg.init(), value);
    let n = 1;
    let rev = 0;
    for (const x of overlapping) {
      s = Math.min(s, x.s);
      e = Math.max(e, x.e);
      acc = agg.merge(x.acc, acc);
      n += x.n;
      rev = Math.max(rev, x.rev);
      disarm(x, ctx);
      delete state.w[x.s];
    }
    // Sessions that were emitted under another start are withdrawn: the merged one replaces them.
    for (const x of overlapping) if (x.rev > 0 && x.s !== s) out(result(ctx.key, { ...x, rev: x.rev }, "retract"));
    const kept = overlapping.find((x) => x.s === s);
    const x: Entry<A> = { s, e, acc, n, fired: e - 1 <= ctx.watermark, rev: kept ? kept.rev : 0 };
    state.w[s] = x;
    arm(x, ctx);
    if (x.fired) {
      emit(ctx.key, x, out);
      if (lateness === 0) delete state.w[s];
    } else if (rev > 0 && !kept) {
      // Merged sessions had been emitted: the new one will be their correction when it fires.
      x.rev = rev;
    }
    return undefined;
  }

  /** Recomputes a sliding window (the events in `(end - size, end]`) from the kept events. */
  function slidingResult(state: WindowState<A, V>, end: number, x: Entry<A>): Entry<A> {
    const size = (win as { size: number }).size;
    let acc = agg.init();
    let n = 0;
    for (const [t, v] of state.items ?? []) {
      if (t > end) break;
      if (t > end - size) {
        acc = agg.add(acc, v);
        n++;
      }
    }
    x.acc = acc;
    x.n = n;
    return x;
  }

  function addSliding(state: WindowState<A, V>, value: V, ctx: BlockContext, out: (r: WindowResult<R>) => void): string | undefined {
    const t = ctx.eventTime;
    const size = (win as { size: number }).size;
    if (t + size - 1 + lateness <= ctx.watermark) return lateReason(t, ctx, `every window containing it`);
    const items = (state.items ??= []);
    let i = items.length;
    while (i > 0 && items[i - 1]![0] > t) i--;
    items.splice(i, 0, [t, value]);
    // The window ending at this event (unless even its lateness has passed), keyed by its start.
    const own = state.w[t - size];
    if (own) {
      if (own.fired) emit(ctx.key, slidingResult(state, t, own), out);
    } else if (t + lateness > ctx.watermark) {
      const x: Entry<A> = { s: t - size, e: t + 1, acc: agg.init(), n: 0, fired: t <= ctx.watermark, rev: 0 };
      state.w[x.s] = x;
      arm(x, ctx);
      if (x.fired) emit(ctx.key, slidingResult(state, t, x), out);
    }
    // Windows already emitted that now contain this event get corrections.
    for (const x of Object.values(state.w)) {
      const end = x.e - 1;
      if (end > t && end < t + size && x.fired) emit(ctx.key, slidingResult(state, end, x), out);
    }
    return undefined;
  }

  return {
    initial: () => ({ w: {} }),
    add(state, value, ctx, out) {
      switch (win.kind) {
        case "tumbling":
        case "hopping":
          return addFixed(state, value, ctx, out);
        case "session":
          return addSession(state, value, ctx, out);
        case "sliding":
          return addSliding(state, value, ctx, out);
      }
    },
    onTimer(state, timer, ctx, out) {
      const [prefix, what, raw] = timer.tag.split(":");
      if (prefix !== name || raw === undefined) return false;
      const x = state.w[raw];
      if (!x) return true;
      if (what === "f") {
        x.fired = true;
        if (win.kind === "sliding") slidingResult(state, x.e - 1, x);
        emit(ctx.key, x, out);
        if (lateness === 0) close(state, x, raw, ctx, out);
      } else if (what === "c") {
        close(state, x, raw, ctx, out);
      } else if (what === "e" && !x.fired) {
        out(result(ctx.key, win.kind === "sliding" ? slidingResult(state, x.e - 1, x) : x, "early"));
        ctx.processingTimer(ctx.now + early!, tag("e", x.s));
      }
      return true;
    },
  };

  function close(state: WindowState<A, V>, x: Entry<A>, raw: string, ctx: BlockContext, out: (r: WindowResult<R>) => void) {
    if (spec.closedResults && x.rev > 0) out(result(ctx.key, x, "closed"));
    remove(state, raw, ctx);
  }

  function remove(state: WindowState<A, V>, raw: string, ctx: BlockContext) {
    delete state.w[raw];
    if (win.kind === "sliding" && state.items) {
      // An event still accepted later has t > watermark - size - lateness, and its window reaches
      // back one more size: older events can never be in a window again.
      const keepAfter = ctx.watermark - 2 * win.size - lateness;
      let drop = 0;
      while (drop < state.items.length && state.items[drop]![0] <= keepAfter) drop++;
      if (drop > 0) state.items.splice(0, drop);
    }
  }
}
