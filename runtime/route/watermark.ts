import { DEFAULTS, type WatermarkPolicy } from "../contract/mod.ts";

/** Tracker state as stored with each partition's snapshot meta: `[watermark, ...maxEventTime per partition]`. */
export type WatermarkState = number[];

export interface Watermarks {
  /** Records an event time for a partition. */
  observe(partition: number, time: number): void;
  /** The current watermark: event time up to which the stream is taken to be complete. */
  current(): number;
  state(): WatermarkState;
}

const NONE = Number.NEGATIVE_INFINITY;

/**
 * Per-partition watermarks: each partition's is its newest event time minus the allowed
 * out-of-orderness; the watermark actors see is the minimum over the partitions that are not idle,
 * and it never goes back.
 *
 * Idleness is measured in event time (how far the partition trails the newest event of the
 * stream), not on the wall clock: the watermark is then a function of the stream's contents alone,
 * so a replay after a crash sees exactly the same watermark at every event, and window results and
 * late-event decisions come out the same.
 *
 * @example
 * const wm = createWatermarks(4, { outOfOrdernessMs: 2_000 });
 * wm.observe(0, 10_000); wm.current(); // 8000
 */
export function createWatermarks(partitions: number, policy: WatermarkPolicy = {}, from?: WatermarkState): Watermarks {
  const ooo = policy.outOfOrdernessMs ?? DEFAULTS.watermark.outOfOrdernessMs;
  const idle = policy.idleMs ?? DEFAULTS.watermark.idleMs;
  const newest = new Float64Array(partitions).fill(NONE);
  let mark = NONE;
  let streamNewest = NONE;
  if (from && from.length === partitions + 1) {
    mark = from[0]!;
    for (let p = 0; p < partitions; p++) {
      newest[p] = from[p + 1]!;
      if (newest[p]! > streamNewest) streamNewest = newest[p]!;
    }
  }
  let stale = false;

  const recompute = () => {
    let low = Number.POSITIVE_INFINITY;
    for (let p = 0; p < partitions; p++) {
      const t = newest[p]!;
      if (t === NONE || streamNewest - t > idle) continue;
      if (t < low) low = t;
    }
    if (low !== Number.POSITIVE_INFINITY && low - ooo > mark) mark = low - ooo;
    stale = false;
  };

  return {
    observe(partition, time) {
      if (time > newest[partition]!) {
        newest[partition] = time;
        if (time > streamNewest) streamNewest = time;
        stale = true;
      }
    },
    current() {
      if (stale) recompute();
      return mark;
    },
    state() {
      if (stale) recompute();
      return [mark, ...newest];
    },
  };
}
