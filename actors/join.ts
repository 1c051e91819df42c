import type { Timer } from "../runtime/contract/mod.ts";
import type { BlockContext } from "./windows.ts";

/** Buffered events of both sides: `[time, value, matched]`. Plain data inside the actor's state. */
export interface JoinState<L, R> {
  left: [number, L, boolean][];
  right: [number, R, boolean][];
}

export interface JoinOperator<L, R> {
  initial(): JoinState<L, R>;
  /** A left event (time `ctx.eventTime`): its matches go to `pair`. */
  left(state: JoinState<L, R>, value: L, ctx: BlockContext, pair: (l: L, r: R) => void, unmatched: (side: "left" | "right", v: L | R) => void): void;
  right(state: JoinState<L, R>, value: R, ctx: BlockContext, pair: (l: L, r: R) => void, unmatched: (side: "left" | "right", v: L | R) => void): void;
  /** Expires buffered events no later event can match; the never-matched ones go to `unmatched`. */
  onTimer(state: JoinState<L, R>, timer: Timer, unmatched: (side: "left" | "right", v: L | R) => void): boolean;
}

/**
 * Interval join of two streams keyed the same: a left event `l` and a right event `r` match when
 * `l.time` is in `[r.time - lowerMs, r.time + upperMs]`. Each side is buffered only until the
 * watermark shows no match can still arrive (left: `time + lowerMs`, right: `time + upperMs`, each
 * plus `latenessMs` when late events are allowed), so
 * state is bounded by the watermark; events that never matched are handed to `unmatched` then.
 *
 * @example
 * // payments (left) within 30 min after their order (right)
 * const join = intervalJoin<Payment, Order>({ lowerMs: 0, upperMs: 30 * 60_000 });
 */
export function intervalJoin<L, R>(opts: { lowerMs: number; upperMs: number; latenessMs?: number; name?: string }): JoinOperator<L, R> {
  const { lowerMs: lo, upperMs: hi } = opts;
  // Buffers are kept `latenessMs` longer, so an allowed-late event still meets its match.
  const late = opts.latenessMs ?? 0;
  const name = opts.name ?? "join";
  if (lo < 0 || hi < 0) throw new TypeError(`interval join bounds must be >= 0, got lower ${lo}, upper ${hi}`);

  const insert = <T>(list: [number, T, boolean][], item: [number, T, boolean]) => {
    let i = list.length;
    while (i > 0 && list[i - 1]![0] > item[0]) i--;
    list.splice(i, 0, item);
  };

  return {
    initial: () => ({ left: [], right: [] }),
    left(state, value, ctx, pair, unmatched) {
      const t = ctx.eventTime;
      let matched = false;
      for (const r of state.right) {
        if (t >= r[0] - lo && t <= r[0] + hi) {
          pair(value, r[1]);
          r[2] = true;
          matched = true;
        }
      }
      const expires = t + lo + late;
      if (expires <= ctx.watermark) {
        // No right event can still come for it: decided now.
        if (!matched) unmatched("left", value);
        return;
      }
      insert(state.left, [t, value, matched]);
      ctx.timer(expires, `${name}:l`);
    },
    right(state, value, ctx, pair, unmatched) {
      const t = ctx.eventTime;
      let matched = false;
      for (const l of state.left) {
        if (l[0] >= t - lo && l[0] <= t + hi) {
          pair(l[1], value);
          l[2] = true;
          matched = true;
        }
      }
      const expires = t + hi + late;
      if (expires <= ctx.watermark) {
        if (!matched) unmatched("right", value);
        return;
      }
      insert(state.right, [t, value, matched]);
      ctx.timer(expires, `${name}:r`);
    },
    onTimer(state, timer, unmatched) {
      const [prefix, side] = timer.tag.split(":");
      if (prefix !== name) return false;
      const list = side === "l" ? state.left : state.right;
      const bound = (side === "l" ? lo : hi) + late;
      let drop = 0;
      while (drop < list.length && list[drop]![0] + bound <= timer.time) {
        const [, v, matched] = list[drop]!;
        if (!matched) unmatched(side === "l" ? "left" : "right", v);
        drop++;
      }
      list.splice(0, drop);
      return true;
    },
  };
}
