import { describe, expect, test } from "bun:test";
import { subjectCovers, subjectMatcher, subjectMatches } from "./subjects.ts";

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
  test("a compiled matcher agrees with subjectMatches", () => {
    const patterns = ["a", "a.b", "a.*", "a.>", "a.b.>", "*.b", "a.*.c", ">", "*", "a.*.>"];
    const subjects = ["a", "b", "a.b", "a.c", "a.b.c", "a.bc", "ab.c", "b.b", "a.x.c", "a.b.c.d", "aa.b"];
    for (const p of patterns) {
      const m = subjectMatcher(p);
      for (const s of subjects) expect([p, s, m(s)]).toEqual([p, s, subjectMatches(p, s)]);
    }
  });
});
