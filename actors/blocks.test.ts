import { describe, expect, test } from "bun:test";
import { dedupOperator } from "./dedup.ts";
import { intervalJoin } from "./join.ts";
import { virtualKey } from "./testdata/virtual.ts";

describe("dedup and interval join (virtual time, no broker)", () => {
  test("dedup drops an id seen within the window and forgets ids once the watermark is past them", () => {
    const dedup = dedupOperator({ withinMs: 100 });
    const state = dedup.initial();
    const k = virtualKey();
    const onTimer = (t: Parameters<typeof dedup.onTimer>[1]) => expect(dedup.onTimer(state, t)).toBe(true);
    const seen: boolean[] = [];
    const at = (id: string, t: number, wm: number) => k.event(t, wm, onTimer, (ctx) => seen.push(dedup.seen(state, id, ctx)));
    at("a", 10, -Infinity);
    at("b", 20, 0);
    at("a", 10, 5); // duplicate
    at("a", 60, 20); // still within 100 of 10: duplicate
    expect(seen).toEqual([false, false, true, true]);
    expect(Object.keys(state.seen).sort()).toEqual(["a", "b"]);
    // Bucket [0,100) is forgotten when the watermark passes 200.
    k.advance(199, onTimer);
    expect(Object.keys(state.seen)).toHaveLength(2);
    k.advance(200, onTimer);
    expect(state.seen).toEqual({});
    expect(k.timers).toHaveLength(0);
  });

  test("interval join: matches within [r - lower, r + upper], both arrival orders, unmatched after expiry", () => {
    const join = intervalJoin<string, string>({ lowerMs: 0, upperMs: 30 });
    const state = join.initial();
    const k = virtualKey();
    const pairs: string[] = [];
    const lonely: string[] = [];
    const pair = (l: string, r: string) => pairs.push(`${l}+${r}`);
    const unmatched = (side: string, v: string) => lonely.push(`${side}:${v}`);
    const onTimer = (t: Parameters<typeof join.onTimer>[1]) => expect(join.onTimer(state, t, unmatched)).toBe(true);
    k.event(100, -Infinity, onTimer, (ctx) => join.right(state, "order1", ctx, pair, unmatched));
    k.event(120, 90, onTimer, (ctx) => join.left(state, "pay1", ctx, pair, unmatched)); // 120 in [100, 130]
    k.event(95, 90, onTimer, (ctx) => join.left(state, "pay0", ctx, pair, unmatched)); // before the order: no match yet
    k.event(140, 94, onTimer, (ctx) => join.right(state, "order2", ctx, pair, unmatched)); // no left in [140, 170]
    k.event(131, 96, onTimer, (ctx) => join.left(state, "pay-late", ctx, pair, unmatched)); // 131 > 130: not order1's; in [140-0, ...]? no
    expect(pairs).toEqual(["pay1+order1"]);
    k.advance(200, onTimer);
    expect(lonely.sort()).toEqual(["left:pay-late", "left:pay0", "right:order2"]);
    expect(state).toEqual({ left: [], right: [] });
  });
});
