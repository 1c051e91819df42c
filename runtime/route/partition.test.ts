import { describe, expect, test } from "bun:test";
import { partitionOf } from "./partition.ts";

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
