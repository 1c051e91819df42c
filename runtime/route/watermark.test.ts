import { describe, expect, test } from "bun:test";
import { createWatermarks } from "./watermark.ts";

describe("watermarks (virtual time, no broker)", () => {
  test("newest event time minus the out-of-orderness, the minimum over partitions, never going back", () => {
    const wm = createWatermarks(3, { outOfOrdernessMs: 1_000, idleMs: 60_000 });
    expect(wm.current()).toBe(-Infinity);
    wm.observe(0, 10_000);
    expect(wm.current()).toBe(9_000);
    wm.observe(1, 5_000);
    // Partition 1 holds it back... but it was already at 9 000 and watermarks never go back.
    expect(wm.current()).toBe(9_000);
    wm.observe(0, 20_000);
    expect(wm.current()).toBe(9_000);
    wm.observe(1, 15_000);
    expect(wm.current()).toBe(14_000);
    // An out-of-order event does not move anything.
    wm.observe(0, 12_000);
    expect(wm.current()).toBe(14_000);
  });

  test("an idle partition stops holding the watermark back, and holds it again when it catches up", () => {
    const wm = createWatermarks(2, { outOfOrdernessMs: 0, idleMs: 30_000 });
    wm.observe(0, 100_000);
    wm.observe(1, 100_000);
    wm.observe(0, 125_000);
    expect(wm.current()).toBe(100_000); // partition 1 trails by 25 s: still active
    wm.observe(0, 131_000);
    expect(wm.current()).toBe(131_000); // trails by 31 s: idle, ignored
    wm.observe(1, 120_000);
    expect(wm.current()).toBe(131_000); // active again, but the watermark does not go back
    wm.observe(0, 140_000);
    expect(wm.current()).toBe(131_000); // held by partition 1 (120 s) below the current mark
    wm.observe(1, 139_000);
    expect(wm.current()).toBe(139_000);
  });

  test("restored state continues exactly where it was", () => {
    const a = createWatermarks(2, { outOfOrdernessMs: 500 });
    const b = createWatermarks(2, { outOfOrdernessMs: 500 });
    const events: [number, number][] = [[0, 1_000], [1, 3_000], [0, 4_000], [1, 2_000], [0, 9_000], [1, 8_000], [0, 12_000]];
    let restored = b;
    events.forEach(([p, t], i) => {
      a.observe(p, t);
      restored.observe(p, t);
      if (i === 3) restored = createWatermarks(2, { outOfOrdernessMs: 500 }, restored.state());
      expect(restored.current()).toBe(a.current());
    });
    expect(a.current()).toBe(7_500);
  });
});
