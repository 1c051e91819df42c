import { describe, expect, test } from "bun:test";
import { subjectCovers, subjectMatches } from "./subjects.ts";

describe("subjects", () => {
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
});
