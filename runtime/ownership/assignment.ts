/** An instance of an app, as it announces itself in the membership. */
export interface Member {
  id: string;
  /** How many worker threads it runs: partitions are spread in proportion. */
  capacity: number;
}

/**
 * How many partitions each member should own: in proportion to capacity, the remainders going to
 * the members first in id order, so every member computes the same quotas.
 */
export function quotas(members: readonly Member[], partitions: number): Map<string, number> {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const total = sorted.reduce((n, m) => n + m.capacity, 0);
  const out = new Map<string, number>();
  if (total === 0) return out;
  let given = 0;
  const rest: [string, number][] = [];
  for (const m of sorted) {
    const exact = (partitions * m.capacity) / total;
    out.set(m.id, Math.floor(exact));
    given += Math.floor(exact);
    rest.push([m.id, exact - Math.floor(exact)]);
  }
  // Largest remainders first; ties in id order (the sort is stable).
  rest.sort((a, b) => b[1] - a[1]);
  for (let i = 0; given < partitions; i++, given++) {
    const id = rest[i % rest.length]![0];
    out.set(id, out.get(id)! + 1);
  }
  return out;
}

/**
 * The partitions `self` should own, sticky: it keeps what it owns up to its quota (the lowest
 * numbers when over it), then claims free partitions (no live owner) until it reaches its quota.
 * Every member runs the same function on the same view, so they converge without a coordinator:
 * an over-quota member releases, an under-quota member takes what was released.
 *
 * @example
 * desiredPartitions("b", [{ id: "a", capacity: 2 }, { id: "b", capacity: 2 }], 8, new Map([[0, "a"]]))
 * // => [4, 5, 6, 7]: b's 4, taken past the 3 free ones a still lacks, so the two do not collide
 */
export function desiredPartitions(self: string, members: readonly Member[], partitions: number, owners: ReadonlyMap<number, string>): number[] {
  const q = quotas(members, partitions);
  const quota = q.get(self) ?? 0;
  const live = new Set(members.map((m) => m.id));
  const mine: number[] = [];
  const free: number[] = [];
  for (let p = 0; p < partitions; p++) {
    const owner = owners.get(p);
    if (owner === self) mine.push(p);
    else if (owner === undefined || !live.has(owner)) free.push(p);
  }
  if (mine.length >= quota) return mine.slice(0, quota);
  // Free partitions are offered to the members under quota in turn, so two of them do not both
  // reach for the same ones first: member i of the under-quota list starts at its i-th share.
  const counts = new Map<string, number>();
  for (const [, o] of owners) counts.set(o, (counts.get(o) ?? 0) + 1);
  const hungry = [...q].filter(([id, n]) => (counts.get(id) ?? 0) < n).map(([id]) => id);
  const at = Math.max(0, hungry.indexOf(self));
  let skip = 0;
  for (let i = 0; i < at; i++) skip += q.get(hungry[i]!)! - (counts.get(hungry[i]!) ?? 0);
  const want = quota - mine.length;
  const start = free.length > 0 ? skip % free.length : 0;
  const rotated = [...free.slice(start), ...free.slice(0, start)];
  return [...mine, ...rotated.slice(0, want)].sort((a, b) => a - b);
}
