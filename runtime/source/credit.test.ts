import { describe, expect, test } from "bun:test";
import { createCredit } from "./credit.ts";

describe("credit", () => {
  test("never grants past the limit; waits for a worthwhile amount; close wakes the waiter", async () => {
    const c = createCredit(100);
    expect(await c.acquire(80)).toBe(80);
    let granted = -1;
    const p = c.acquire(80, 50).then((n) => (granted = n));
    await Bun.sleep(1);
    expect(granted).toBe(-1); // only 20 free, wants at least 50
    c.release(40);
    await p;
    expect(granted).toBe(60);
    expect(c.inFlight).toBe(100);
    const q = c.acquire(10);
    c.close();
    expect(await q).toBe(0);
    expect(() => c.release(101)).toThrow();
  });
});
