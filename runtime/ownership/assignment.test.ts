import { expect, test } from "bun:test";
import { desiredPartitions, quotas } from "./assignment.ts";

const m = (id: string, capacity = 2) => ({ id, capacity });

test("quotas follow capacity and add up to the partitions", () => {
  expect(quotas([m("a"), m("b"), m("c")], 32)).toEqual(new Map([["a", 11], ["b", 11], ["c", 10]]));
  expect(quotas([m("a", 1), m("b", 3)], 8)).toEqual(new Map([["a", 2], ["b", 6]]));
  expect([...quotas([m("x", 4), m("y", 1), m("z", 2)], 4096).values()].reduce((a, b) => a + b)).toBe(4096);
});

test("members converge on a full, disjoint, sticky assignment from the same view", () => {
  const members = [m("a"), m("b"), m("c")];
  const owners = new Map<number, string>();
  // Each member in turn looks at the view and takes (or gives back) what it computes.
  const settle = () => {
    for (let round = 0; round < 10; round++) {
      for (const { id } of members) {
        const want = new Set(desiredPartitions(id, members, 32, owners));
        for (const [p, o] of [...owners]) if (o === id && !want.has(p)) owners.delete(p);
        for (const p of want) if (!owners.has(p) || !members.some((x) => x.id === owners.get(p))) owners.set(p, id);
      }
    }
  };
  settle();
  expect(owners.size).toBe(32);
  const count = (id: string) => [...owners.values()].filter((o) => o === id).length;
  expect([count("a"), count("b"), count("c")]).toEqual([11, 11, 10]);
  // A member joins: partitions move only to it, from the members over their new quota.
  const before = new Map(owners);
  members.push(m("d"));
  settle();
  for (const [p, o] of owners) if (o !== before.get(p)) expect(o).toBe("d");
  expect([count("a"), count("b"), count("c"), count("d")]).toEqual([8, 8, 8, 8]);
  // A member dies: only its partitions move.
  const before2 = new Map(owners);
  members.splice(members.findIndex((x) => x.id === "b"), 1);
  settle();
  for (const [p, o] of owners) if (before2.get(p) !== "b") expect(o).toBe(before2.get(p)!);
  expect(owners.size).toBe(32);
  expect([count("a"), count("c"), count("d")].sort()).toEqual([10, 11, 11]);
});
