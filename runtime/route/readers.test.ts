import { describe, expect, test } from "bun:test";
import { keyReader } from "./readers.ts";

describe("key readers", () => {
  test("key readers: token, field, function; empty or missing keys are undefined", () => {
    expect(keyReader({ token: 1 })(null, "clicks.u1")).toBe("u1");
    expect(keyReader({ token: 2 })(null, "clicks.u1")).toBeUndefined();
    expect(keyReader({ field: "id" })({ id: 7 }, "x")).toBe("7");
    expect(keyReader({ field: "id" })({ id: "" }, "x")).toBeUndefined();
    expect(keyReader({ field: "id" })({ id: { nested: 1 } }, "x")).toBeUndefined();
    expect(keyReader({ field: "id" })(42, "x")).toBeUndefined();
    const throwing = keyReader(() => {
      throw new Error("boom");
    });
    expect(throwing({}, "x")).toBeUndefined();
  });
});
