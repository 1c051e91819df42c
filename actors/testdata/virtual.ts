import type { Timer } from "../../runtime/mod.ts";
import type { BlockContext } from "../mod.ts";

/**
 * One key's timers and watermark in virtual time, with the runtime's firing rule: event-time timers
 * due at the watermark fire (in time order) before the key's next event and when the watermark
 * advances; processing-time timers fire when the clock is moved past them.
 */
export function virtualKey(key = "k") {
  const timers: [number, "e" | "p", string][] = [];
  let watermark = Number.NEGATIVE_INFINITY;
  let now = 0;
  const ctx = (eventTime: number): BlockContext => ({
    key,
    eventTime,
    watermark,
    now,
    timer(time, tag = "") {
      if (!timers.some((t) => t[0] === time && t[1] === "e" && t[2] === tag)) timers.push([time, "e", tag]);
    },
    processingTimer(time, tag = "") {
      if (!timers.some((t) => t[0] === time && t[1] === "p" && t[2] === tag)) timers.push([time, "p", tag]);
    },
    cancelTimer(kind, time, tag = "") {
      const i = timers.findIndex((t) => t[0] === time && t[1] === (kind === "event" ? "e" : "p") && t[2] === tag);
      if (i >= 0) timers.splice(i, 1);
    },
  });
  const fire = (kind: "e" | "p", upTo: number, onTimer: (timer: Timer, ctx: BlockContext) => void) => {
    for (;;) {
      const due = timers
        .filter((t) => t[1] === kind && t[0] <= upTo)
        .sort((a, b) => a[0] - b[0] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0))[0];
      if (!due) return;
      timers.splice(timers.indexOf(due), 1);
      onTimer({ time: due[0], kind: kind === "e" ? "event" : "processing", tag: due[2] }, ctx(due[0]));
    }
  };
  return {
    timers,
    /** An event at `time`, seen with watermark `wm` (timers due at `wm` fire first). */
    event(time: number, wm: number, onTimer: (timer: Timer, ctx: BlockContext) => void, handle: (ctx: BlockContext) => void) {
      if (wm > watermark) watermark = wm;
      fire("e", watermark, onTimer);
      handle(ctx(time));
    },
    /** The watermark moves on without an event of this key. */
    advance(wm: number, onTimer: (timer: Timer, ctx: BlockContext) => void) {
      if (wm > watermark) watermark = wm;
      fire("e", watermark, onTimer);
    },
    /** The processing-time clock moves to `t`. */
    clock(t: number, onTimer: (timer: Timer, ctx: BlockContext) => void) {
      now = t;
      fire("p", now, onTimer);
    },
  };
}
