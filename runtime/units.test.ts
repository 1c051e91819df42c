import { describe, expect, test } from "bun:test";
import { codecFor, decodePayload, jsonCodec, msgpackCodec } from "./contract/codec.ts";
import { createCredit } from "./source/credit.ts";
import { DecodeError, SnapshotError } from "./contract/errors.ts";
import { retrying } from "./contract/retry.ts";
import { partitionOf } from "./route/partition.ts";
import { subjectCovers, subjectMatches } from "./contract/subjects.ts";
import { keyReader } from "./contract/load-app.ts";

describe("partitionOf", () => {
  test("is FNV-1a 32 (published test vectors), so any producer can compute it", () => {
    const full = 2 ** 32;
    expect(partitionOf("", full)).toBe(0x811c9dc5);
    expect(partitionOf("a", full)).toBe(0xe40c292c);
    expect(partitionOf("foobar", full)).toBe(0xbf9cf968);
  });
  test("hashes UTF-8 bytes for non-ASCII keys", () => {
    let h = 0x811c9dc5;
    for (const b of new TextEncoder().encode("ключ-é")) h = Math.imul(h ^ b, 0x01000193);
    expect(partitionOf("ключ-é", 2 ** 32)).toBe(h >>> 0);
  });
  test("spreads keys evenly and rejects a bad partition count", () => {
    const counts = new Array(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[partitionOf(`user-${i}`, 16)]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
    expect(() => partitionOf("k", 0)).toThrow(RangeError);
  });
});

describe("subjects and keys", () => {
  test("wildcards", () => {
    expect(subjectMatches("a.*", "a.b")).toBe(true);
    expect(subjectMatches("a.*", "a.b.c")).toBe(false);
    expect(subjectMatches("a.>", "a.b.c")).toBe(true);
    expect(subjectMatches("a.>", "a")).toBe(false);
    expect(subjectMatches("a.b", "a.c")).toBe(false);
  });
  test("one pattern covering another", () => {
    expect(subjectCovers("a.>", "a.*")).toBe(true);
    expect(subjectCovers("a.>", "a.b.>")).toBe(true);
    expect(subjectCovers("a.*", "a.b")).toBe(true);
    expect(subjectCovers("a.*", "a.*")).toBe(true);
    expect(subjectCovers("a.*", "a.>")).toBe(false);
    expect(subjectCovers("a.b", "a.*")).toBe(false);
    expect(subjectCovers("a.>", "a")).toBe(false);
    expect(subjectCovers("a.*.c", "a.b.c")).toBe(true);
    expect(subjectCovers("a.*.c", "a.b.d")).toBe(false);
    expect(subjectCovers(">", "x.y")).toBe(true);
  });
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

describe("codecs", () => {
  test("msgpack round trip; JSON by content type; unknown content type refused", () => {
    const v = { a: 1, b: ["x", null], c: { d: true } };
    expect(decodePayload(msgpackCodec.encode(v), undefined)).toEqual(v);
    expect(decodePayload(jsonCodec.encode(v), "application/json; charset=utf-8")).toEqual(v);
    expect(() => codecFor("text/csv")).toThrow(DecodeError);
    expect(() => decodePayload(new Uint8Array([0xc1]), undefined)).toThrow(DecodeError);
    expect(() => decodePayload(new TextEncoder().encode("{"), "application/json")).toThrow(DecodeError);
  });
});

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
