import { describe, expect, test } from "bun:test";
import { SnapshotError } from "./errors.ts";
import { retrying } from "./retry.ts";

describe("retrying", () => {
  test("retries transient failures, rethrows terminal ones at once", async () => {
    let calls = 0;
    const value = await retrying(async () => {
      if (++calls < 3) throw new Error("timeout");
      return "ok";
    });
    expect({ value, calls }).toEqual({ value: "ok", calls: 3 });
    let terminalCalls = 0;
    await expect(
      retrying(async () => {
        terminalCalls++;
        throw new SnapshotError("bad version");
      }),
    ).rejects.toThrow(SnapshotError);
    expect(terminalCalls).toBe(1);
    await expect(retrying(() => Promise.reject(new Error("down")), { giveUpMs: 150 })).rejects.toThrow("down");
  });
});
