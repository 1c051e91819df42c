import { describe, expect, test } from "bun:test";
import { avg, count, distinctCount, max, min, reduce, sum } from "./aggregates.ts";
import { virtualKey } from "./testdata/virtual.ts";
import { hopping, session, sliding, tumbling, windowOperator, type WindowOperatorSpec, type WindowResult } from "./windows.ts";

/** Drives one key through an operator: events `[time, value, watermarkBefore]`, then a final watermark. */
function run<V, A, R>(spec: WindowOperatorSpec<V, A, R>, events: [number, V, number][], finalWatermark?: number) {
  const op = windowOperator(spec);
  const state = op.initial();
  const out: WindowResult<R>[] = [];
  const late: string[] = [];
  const k = virtualKey();
  const onTimer = (timer: Parameters<typeof op.onTimer>[1], ctx: Parameters<typeof op.onTimer>[2]) => {
    expect(op.onTimer(state, timer, ctx, (r) => out.push(r))).toBe(true);
  };
  for (const [t, v, wm] of events) {
    k.event(t, wm, onTimer, (ctx) => {
      const reason = op.add(state, v, ctx, (r) => out.push(r));
      if (reason) late.push(reason);
    });
  }
  if (finalWatermark !== undefined) k.advance(finalWatermark, onTimer);
  const brief = out.map((r) => [r.kind, r.start, r.end, r.value]);
  return { out, brief, late, state, k, onTimer };
}

describe("window operator (virtual time, no broker)", () => {
  test("tumbling: boundaries are [start, end), windows close when the watermark passes end - 1, empty windows emit nothing", () => {
    const { brief, state } = run(
      { window: tumbling(10), aggregate: count() },
      [
        [0, 1, -Infinity],
        [9, 1, 0],
        [10, 1, 9], // the watermark reached 9: [0,10) closes before this event
        [35, 1, 10],
      ],
      100,
    );
    expect(brief).toEqual([
      ["final", 0, 10, 2],
      ["final", 10, 20, 1],
      ["final", 30, 40, 1], // [20,30) had no events: nothing is emitted for it
    ]);
    expect(state.w).toEqual({});
  });

  test("a window closes exactly when the watermark reaches its last instant, not before", () => {
    const r1 = run({ window: tumbling(10), aggregate: count() }, [[5, 1, -Infinity]], 8);
    expect(r1.brief).toEqual([]);
    const r2 = run({ window: tumbling(10), aggregate: count() }, [[5, 1, -Infinity]], 9);
    expect(r2.brief).toEqual([["final", 0, 10, 1]]);
  });

  test("hopping: an event is in size/slide windows; each closes on its own", () => {
    const { brief } = run({ window: hopping(10, 5), aggregate: sum() }, [[7, 3, -Infinity], [12, 4, 0]], 100);
    expect(brief).toEqual([
      ["final", 0, 10, 3],
      ["final", 5, 15, 7],
      ["final", 10, 20, 4],
    ]);
  });

  test("allowed lateness: a late event corrects its window; beyond the lateness it is refused with a reason", () => {
    const { brief, late, state } = run(
      { window: tumbling(10), aggregate: sum(), allowedLatenessMs: 20 },
      [
        [1, 5, -Infinity],
        [12, 1, 0],
        [3, 2, 12], // [0,10) was emitted at watermark 9; 12 < 9 + 20: correction
        [4, 100, 40], // watermark 40 >= 9 + 20: [0,10) is gone, refused
      ],
      60,
    );
    expect(brief).toEqual([
      ["final", 0, 10, 5],
      ["correction", 0, 10, 7],
      ["final", 10, 20, 1], // at watermark 40, before the refused event
    ]);
    expect(late).toHaveLength(1);
    expect(late[0]).toContain("event time 4 is too late: window [0, 10) closed (watermark 40, allowed lateness 20 ms)");
    expect(state.w).toEqual({}); // cleaned up once the lateness passed
  });

  test("a late event for a window that had no events yet is emitted at once as its final result", () => {
    const { brief } = run({ window: tumbling(10), aggregate: count(), allowedLatenessMs: 50 }, [[25, 1, -Infinity], [3, 1, 30]], 200);
    expect(brief).toEqual([
      ["final", 20, 30, 1],
      ["final", 0, 10, 1],
    ]);
  });

  test("early updates every N ms of processing time while a window is open", () => {
    const r = run({ window: tumbling(100), aggregate: count(), earlyEveryMs: 1_000 }, [[5, 1, -Infinity], [6, 1, 0]]);
    r.k.clock(999, r.onTimer);
    expect(r.brief).toEqual([]);
    r.k.clock(1_000, r.onTimer);
    r.k.clock(2_000, r.onTimer);
    r.k.advance(99, r.onTimer);
    r.k.clock(3_000, r.onTimer);
    expect(r.out.map((x) => [x.kind, x.value])).toEqual([
      ["early", 2],
      ["early", 2],
      ["final", 2],
    ]);
  });

  test("session: events closer than the gap merge; a late event bridging two sessions merges them and retracts the one it absorbed", () => {
    const gap = 10;
    const { brief } = run(
      { window: session(gap), aggregate: count(), allowedLatenessMs: 100 },
      [
        [0, 1, -Infinity],
        [5, 1, 0], // same session [0, 15)
        [22, 1, 5], // 17 after 5: a new session [22, 32)
        [100, 1, 40], // both sessions fired before this event (at 14 and 31)
        [13, 1, 60], // within the gap of 5 and of 22: bridges them into [0, 32)
      ],
      400,
    );
    expect(brief).toEqual([
      ["final", 0, 15, 2],
      ["final", 22, 32, 1],
      ["retract", 22, 32, 1],
      ["correction", 0, 32, 4],
      ["final", 100, 110, 1],
    ]);
  });

  test("sliding: one window per event time over (T - size, T], computed when the watermark passes T", () => {
    const { brief } = run({ window: sliding(10), aggregate: count() }, [[0, 1, -Infinity], [4, 1, 0], [9, 1, 4], [10, 1, 9], [25, 1, 10]], 100);
    expect(brief).toEqual([
      ["final", -10, 1, 1],
      ["final", -6, 5, 2],
      ["final", -1, 10, 3],
      ["final", 0, 11, 3], // 0 dropped out: (0, 10] holds 4, 9, 10
      ["final", 15, 26, 1],
    ]);
  });

  test("aggregates: min, max, avg, distinct count, custom reducer", () => {
    const values: [number, number, number][] = [[1, 4, -Infinity], [2, 9, 0], [3, 4, 0], [4, 1, 0]];
    const pick = (spec: WindowOperatorSpec<any, any, any>) => run(spec, values, 100).out[0]!.value;
    expect(pick({ window: tumbling(10), aggregate: min() })).toBe(1);
    expect(pick({ window: tumbling(10), aggregate: max() })).toBe(9);
    expect(pick({ window: tumbling(10), aggregate: avg() })).toBe(4.5);
    expect(pick({ window: tumbling(10), aggregate: distinctCount() })).toBe(3);
    expect(pick({ window: tumbling(10), aggregate: reduce((a: number, v: number) => a * v, 1, (a, b) => a * b) })).toBe(144);
  });

  test("bad window definitions are refused at definition time", () => {
    expect(() => tumbling(0)).toThrow(TypeError);
    expect(() => hopping(10, 20)).toThrow(/slide 20 is larger than size 10/);
    expect(() => session(1.5)).toThrow(TypeError);
  });
});
